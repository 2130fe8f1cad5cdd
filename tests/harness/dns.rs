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
    /// TXT, one string (dnsmasq splits over 255 octets itself).
    Txt(&'a str, &'a str),
}

pub struct Dns {
    pub port: u16,
    child: Child,
}

impl Dns {
    /// Starts dnsmasq serving `records`; `zones` (e.g. `["test"]`) are answered locally only.
    pub fn start(zones: &[&str], records: &[Record]) -> Dns {
        let port = free_udp_port();
        let mut cmd = Command::new("dnsmasq");
        cmd.args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            "--pid-file=",
            "--log-facility=-",
            "--log-queries",
        ])
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        if nix_is_root() {
            cmd.arg("--user=root");
        }
        for z in zones {
            cmd.arg(format!("--local=/{z}/"));
        }
        for r in records {
            cmd.arg(match r {
                Record::Mx(name, target, pref) => format!("--mx-host={name},{target},{pref}"),
                Record::Addr(name, ip) => format!("--host-record={name},{ip}"),
                // Passed without shell quoting: dnsmasq would keep literal quotes; a comma
                // would split the text into several strings.
                Record::Txt(name, text) => format!("--txt-record={name},{text}"),
            });
        }
        let child = cmd.spawn().expect("dnsmasq (apt-get install dnsmasq-base)");
        let dns = Dns { port, child };
        dns.wait_ready();
        dns
    }

    /// The `[dns]` config line pointing at this server.
    pub fn config_line(&self) -> String {
        format!("servers = [\"127.0.0.1:{}\"]", self.port)
    }

    /// Waits until a query gets any answer.
    fn wait_ready(&self) {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("udp");
        sock.set_read_timeout(Some(Duration::from_millis(200))).ok();
        // A query for "ready.invalid" type A.
        let query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05ready\x07invalid\x00\x00\x01\x00\x01";
        let deadline = Instant::now() + super::PATIENCE;
        let mut buf = [0u8; 512];
        while Instant::now() < deadline {
            let _ = sock.send_to(query, ("127.0.0.1", self.port));
            if sock.recv(&mut buf).is_ok() {
                return;
            }
        }
        panic!("dnsmasq did not answer on port {}", self.port);
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback UDP port nobody listens on right now.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free udp port")
}

fn nix_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
