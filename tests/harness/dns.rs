//! A real DNS server for tests: dnsmasq on 127.0.0.1 at a free port, answering only the
//! records a test gives it (everything under the `--local` zones is authoritative: unknown
//! names are NXDOMAIN, known names without the asked type are NODATA). Stopped by PID on drop.
//! Point a server at it with `[dns] servers = ["127.0.0.1:PORT"]`.

use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One record dnsmasq should serve.
pub enum Record<'a> {
    /// `MX pref target`; target "." makes a null MX (RFC 7505).
    Mx(&'a str, &'a str, u16),
    /// A or AAAA, by the address's family.
    Addr(&'a str, &'a str),
    /// TXT, one text (dnsmasq splits it into strings of at most 255 octets).
    Txt(&'a str, &'a str),
}

pub struct Dns {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Dns {
    /// Starts dnsmasq serving `records`; `zones` (e.g. `["test"]`) are answered locally only.
    /// The records go into a config file: there dnsmasq strips the quotes around a TXT text
    /// (on the command line it would keep them), so texts may hold commas and spaces.
    pub fn start(zones: &[&str], records: &[Record]) -> Dns {
        let mut lines = String::new();
        for z in zones {
            lines.push_str(&format!("local=/{z}/\n"));
        }
        for r in records {
            lines.push_str(&match r {
                Record::Mx(name, target, pref) => format!("mx-host={name},{target},{pref}\n"),
                Record::Addr(name, ip) => format!("host-record={name},{ip}\n"),
                Record::Txt(name, text) => format!("txt-record={name},\"{text}\"\n"),
            });
        }
        Dns::with_config(&lines)
    }

    /// A server that knows no name: NXDOMAIN for every query, at once.
    pub fn nxdomain_for_all() -> Dns {
        Dns::with_config("address=/#/\n")
    }

    /// Starts dnsmasq with `lines` as its config file. The free port is only free when
    /// probed: if another process takes it first, dnsmasq exits, and a new port is tried.
    fn with_config(lines: &str) -> Dns {
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("dnsmasq.conf");
        std::fs::write(&conf, lines).expect("dnsmasq.conf");
        for _ in 0..5 {
            let port = free_udp_port();
            let mut child = spawn(&conf, port);
            if wait_ready(&mut child, port) {
                return Dns {
                    port,
                    child,
                    _dir: dir,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("dnsmasq did not start on a free port after 5 tries");
    }

    /// The `[dns]` config line pointing at this server.
    pub fn config_line(&self) -> String {
        format!("servers = [\"127.0.0.1:{}\"]", self.port)
    }
}

fn spawn(conf: &std::path::Path, port: u16) -> Child {
    let mut cmd = Command::new("dnsmasq");
    cmd.args([
        "--keep-in-foreground",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        "--listen-address=127.0.0.1",
        "--pid-file=",
    ])
    .arg(format!("--conf-file={}", conf.display()))
    .arg(format!("--port={port}"))
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    if is_root() {
        // dnsmasq cannot drop to `nobody` in some containers; as root, stay root.
        cmd.arg("--user=root");
    }
    cmd.spawn().expect("dnsmasq (apt-get install dnsmasq-base)")
}

/// True once a query gets any answer; false when dnsmasq exited (its port was taken) or
/// stayed silent past the harness's patience.
fn wait_ready(child: &mut Child, port: u16) -> bool {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("udp");
    sock.set_read_timeout(Some(Duration::from_millis(200))).ok();
    // A query for "ready.invalid" type A.
    let query =
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05ready\x07invalid\x00\x00\x01\x00\x01";
    let deadline = Instant::now() + super::PATIENCE;
    let mut buf = [0u8; 512];
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return false;
        }
        let _ = sock.send_to(query, ("127.0.0.1", port));
        if sock.recv(&mut buf).is_ok() {
            return true;
        }
    }
    false
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback UDP port nobody listens on right now.
pub fn free_udp_port() -> u16 {
    super::unique_port(|| {
        UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .map(|a| a.port())
            .expect("free udp port")
    })
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
