//! Test harness: gives each test its own server directory (config, users, spool, Maildirs)
//! made by the real `mailctl init`, free loopback ports, and the real binaries. `Server::start`
//! runs the whole stack under `mailctl run`; every process started is stopped by PID on drop.

#![allow(dead_code)]

pub mod dns;
pub mod peer;
pub mod smtp;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const DEMO: &str = "demo@example.test";
pub const DEMO_PASSWORD: &str = "demo";
/// How long a test waits for something that normally takes milliseconds.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    // target/debug/deps/main-xxxx → target/debug/<name>
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join(name)
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A loopback TCP port nobody listens on right now, never handed out before in this run.
pub fn free_port() -> u16 {
    unique_port(|| {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port")
    })
}

/// A port from `probe` that no other test of this process got: all tests run as threads of
/// one binary, and the kernel may offer a just-released port again before its first taker
/// has bound it.
pub fn unique_port(probe: impl Fn() -> u16) -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = probe();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

pub struct Ports {
    pub smtp: u16,
    pub submission: u16,
    pub submissions: u16,
    pub imap: u16,
    pub imaps: u16,
    pub pop3: u16,
    pub pop3s: u16,
}

impl Ports {
    fn free() -> Ports {
        Ports {
            smtp: free_port(),
            submission: free_port(),
            submissions: free_port(),
            imap: free_port(),
            imaps: free_port(),
            pop3: free_port(),
            pop3s: free_port(),
        }
    }

    /// The shipped config's ports paired with this test's.
    fn rewrites(&self) -> [(u16, u16); 7] {
        [
            (2525, self.smtp),
            (2587, self.submission),
            (2465, self.submissions),
            (2143, self.imap),
            (2993, self.imaps),
            (2110, self.pop3),
            (2995, self.pop3s),
        ]
    }
}

pub struct Server {
    pub dir: tempfile::TempDir,
    pub ports: Ports,
    run: Option<Child>,
    /// The default DNS server (NXDOMAIN for every name) when the test set no `[dns]`.
    _dns: Option<dns::Dns>,
}

impl Server {
    /// A fresh server directory from `mailctl init`, ports rewritten to free ones. Not running.
    pub fn setup() -> Server {
        Server::setup_with(|t| t)
    }

    /// Like `setup`, with a chance to edit the config text first.
    pub fn setup_with(edit: impl FnOnce(String) -> String) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new(bin("mailctl"))
            .arg("init")
            .arg(dir.path())
            .arg("--from")
            .arg(repo().join("etc"))
            .output()
            .expect("run mailctl init");
        assert!(out.status.success(), "mailctl init: {}", text(&out.stderr));
        let ports = Ports::free();
        let cfg = dir.path().join("mail.toml");
        let mut t = std::fs::read_to_string(&cfg).expect("config");
        for (shipped, ours) in ports.rewrites() {
            t = t.replace(
                &format!("127.0.0.1:{shipped}"),
                &format!("127.0.0.1:{ours}"),
            );
        }
        // Scanning is event driven; a short safety-net interval keeps retries quick in tests.
        t = t.replace("scan_interval_secs = 60", "scan_interval_secs = 2");
        let mut t = edit(t);
        let mut default_dns = None;
        if !t.lines().any(|l| l.trim() == "[dns]") {
            // The machine's resolver is off limits to tests: lookups go to a local dnsmasq
            // that answers NXDOMAIN for every name at once (no timeouts, nothing leaves).
            let d = dns::Dns::nxdomain_for_all();
            t.push_str(&format!("\n[dns]\n{}\ntimeout_secs = 2\n", d.config_line()));
            default_dns = Some(d);
        }
        std::fs::write(&cfg, t).expect("write config");
        Server {
            dir,
            ports,
            run: None,
            _dns: default_dns,
        }
    }

    /// `setup` and `run`.
    pub fn start() -> Server {
        let mut s = Server::setup();
        s.run();
        s
    }

    /// Starts `mailctl run` and waits until the SMTP ports answer.
    pub fn run(&mut self) {
        let child = Command::new(bin("mailctl"))
            .arg("--config")
            .arg(self.config())
            .arg("run")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.log_path()).expect("log file"))
            .spawn()
            .expect("spawn mailctl run");
        self.run = Some(child);
        for port in [
            self.ports.smtp,
            self.ports.submission,
            self.ports.submissions,
        ] {
            wait_for_port(port);
        }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("mail.toml")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Everything the stack logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn spool(&self) -> PathBuf {
        self.dir.path().join("spool")
    }

    /// The Maildir of `user@domain` per the layout `mail/<domain>/<user>`.
    pub fn maildir(&self, address: &str) -> PathBuf {
        let (local, domain) = address.split_once('@').expect("address");
        self.dir.path().join("mail").join(domain).join(local)
    }

    /// Files in `new/` of a Maildir (or of its folder, e.g. `.Junk`).
    pub fn new_messages(&self, address: &str) -> Vec<PathBuf> {
        list_files(&self.maildir(address).join("new"))
    }

    /// Waits until `new/` of `address` holds at least `n` messages, and returns them.
    pub fn wait_for_messages(&self, address: &str, n: usize) -> Vec<PathBuf> {
        let start = Instant::now();
        loop {
            let found = self.new_messages(address);
            if found.len() >= n {
                return found;
            }
            if start.elapsed() > PATIENCE {
                panic!(
                    "{address}: {} of {n} messages arrived\n--- server log ---\n{}",
                    found.len(),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Adds a user with `mailctl user add`, password on stdin.
    pub fn add_user(&self, address: &str, password: &str) {
        let out = self.mailctl(&["user", "add", address], &format!("{password}\n"));
        assert!(out.status.success(), "user add: {}", text(&out.stderr));
    }

    /// Runs mailctl against this server's config with `input` on stdin.
    pub fn mailctl(&self, args: &[&str], input: &str) -> Output {
        run_with_input(
            Command::new(bin("mailctl"))
                .arg("--config")
                .arg(self.config())
                .args(args),
            input,
        )
    }

    /// PIDs of the stack's processes whose command line names `program`.
    pub fn pids_of(&self, program: &str) -> Vec<i32> {
        let Some(root) = self.run.as_ref().map(|c| c.id() as i32) else {
            return Vec::new();
        };
        descendants(root)
            .into_iter()
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|c| {
                        c.split(|b| *b == 0)
                            .next()
                            .is_some_and(|a0| a0.ends_with(program.as_bytes()))
                    })
                    .unwrap_or(false)
            })
            .collect()
    }

    /// Stops `mailctl run` with SIGTERM (it stops its children), SIGKILL if it lingers.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.run.take() {
            let pid = child.id() as i32;
            let all = descendants(pid);
            signal(pid, libc::SIGTERM);
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if child.try_wait().ok().flatten().is_none() {
                signal(pid, libc::SIGKILL);
                let _ = child.wait();
            }
            // Anything the supervisor failed to stop is killed by PID too.
            for p in all {
                if Path::new(&format!("/proc/{p}")).exists() {
                    signal(p, libc::SIGKILL);
                }
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn signal(pid: i32, sig: i32) {
    // SAFETY: plain kill(2) on a PID this test started.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Every live descendant of `root`, found through /proc (children of children too).
pub fn descendants(root: i32) -> Vec<i32> {
    let mut parents = std::collections::HashMap::<i32, Vec<i32>>::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the last ')' : state ppid ...
        let rest = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
        if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
            parents.entry(ppid).or_default().push(pid);
        }
    }
    let mut out = Vec::new();
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        for c in parents.get(&p).cloned().unwrap_or_default() {
            out.push(c);
            todo.push(c);
        }
    }
    out
}

pub fn wait_for_port(port: u16) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < PATIENCE, "port {port} never opened");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn list_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn run_with_input(cmd: &mut Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.as_bytes().to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait");
    let _ = writer.join();
    out
}

/// Runs a Python 3 script (the real smtplib/imaplib/poplib clients) with arguments.
pub fn python(script: &str, args: &[&str]) -> Output {
    Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("python3 must be installed")
}

/// Runs a client tool (swaks, mlist, …) and returns its output; panics if it is missing.
pub fn tool(name: &str, args: &[&str]) -> Output {
    Command::new(name)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{name} must be installed (.ci/run installs it): {e}"))
}

/// Reads the whole of a delivered message as text.
pub fn read(path: &Path) -> String {
    text(&std::fs::read(path).expect("read message"))
}

/// Sets `lines` (`key = value` each) in config section `[name]`: under its header, replacing
/// the same keys already there, or in a new section at the end.
pub fn with_section(text: &str, name: &str, lines: &str) -> String {
    let header = format!("\n[{name}]\n");
    let Some(at) = text.find(&header) else {
        return format!("{text}\n[{name}]\n{lines}\n");
    };
    let split = at + header.len();
    let (head, rest) = text.split_at(split);
    let body_end = rest.find("\n[").map_or(rest.len(), |i| i + 1);
    let (body, tail) = rest.split_at(body_end);
    let key = |l: &str| l.split('=').next().unwrap_or("").trim().to_string();
    let new_keys: Vec<String> = lines.lines().map(key).collect();
    let kept: String = body
        .lines()
        .filter(|l| !new_keys.contains(&key(l)))
        .map(|l| format!("{l}\n"))
        .collect();
    format!("{head}{lines}\n{kept}{tail}")
}

/// Waits for `what` to become true, showing the log of `s` on failure.
pub fn wait_logged(s: &Server, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        if start.elapsed() > PATIENCE * 2 {
            panic!("never happened: {what}\n--- log ---\n{}", s.log());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
