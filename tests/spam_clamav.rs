//! spam-scan with a real clamd (Debian's clamav-daemon, started by the test on a unix socket
//! with a one-signature database the test writes: freshclam cannot download here). The EICAR
//! test file is quarantined with its virus name, clean mail is delivered, and while clamd is
//! down mail waits in incoming until clamd is back.

use crate::harness::*;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

/// The EICAR anti-virus test file (68 bytes).
pub const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// A clamd of our own: config, database and socket in a temporary directory.
pub struct Clamd {
    pub dir: tempfile::TempDir,
    /// clamd's TCP port on 127.0.0.1 (it listens on both).
    pub port: u16,
    child: Option<Child>,
}

impl Clamd {
    /// Writes the database (an `.ndb` body signature of EICAR named `Test-EICAR`) and the
    /// config, starts clamd, and waits until it answers PING.
    pub fn start() -> Clamd {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("db");
        std::fs::create_dir(&db).expect("db dir");
        let hex: String = EICAR.bytes().map(|b| format!("{b:02x}")).collect();
        std::fs::write(db.join("test.ndb"), format!("Test-EICAR:0:*:{hex}\n")).expect("ndb");
        let port = free_port();
        let conf = format!(
            "LocalSocket {sock}\nTCPSocket {port}\nTCPAddr 127.0.0.1\nDatabaseDirectory {db}\n\
             Foreground yes\nPidFile {dir}/clamd.pid\nLogFile {dir}/clamd.log\nUser root\n",
            sock = dir.path().join("clamd.sock").display(),
            db = db.display(),
            dir = dir.path().display(),
        );
        std::fs::write(dir.path().join("clamd.conf"), conf).expect("conf");
        let mut c = Clamd {
            dir,
            port,
            child: None,
        };
        c.resume();
        c
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("clamd.sock")
    }

    /// Starts clamd (again) and waits for PONG.
    pub fn resume(&mut self) {
        let _ = std::fs::remove_file(self.socket());
        let clamd = ["/usr/sbin/clamd", "/usr/bin/clamd"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("clamd not installed: apt-get install clamav-daemon (see .ci/run)");
        let child = Command::new(clamd)
            .arg("--foreground")
            .arg(format!(
                "--config-file={}",
                self.dir.path().join("clamd.conf").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn clamd");
        self.child = Some(child);
        let start = Instant::now();
        while !self.pong() {
            assert!(
                start.elapsed() < PATIENCE,
                "clamd never answered: {}",
                read(&self.dir.path().join("clamd.log"))
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    fn pong(&self) -> bool {
        let Ok(mut s) = UnixStream::connect(self.socket()) else {
            return false;
        };
        let mut reply = Vec::new();
        s.write_all(b"zPING\0").is_ok() && s.read_to_end(&mut reply).is_ok() && reply == b"PONG\0"
    }

    /// Stops clamd by PID and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id() as i32, libc::SIGTERM);
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(self.socket());
    }
}

impl Drop for Clamd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends one message (From, To, Subject, Date, Message-ID; body; optional attachment).
pub const SEND: &str = r#"
import smtplib, sys, email.utils
from email.message import EmailMessage
port, rcpt, subject, body, attach = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
m = EmailMessage()
m["From"] = "Alice <alice@remote.test>"
m["To"] = rcpt
m["Subject"] = subject
m["Date"] = email.utils.formatdate()
m["Message-ID"] = email.utils.make_msgid(domain="client.test")
m.set_content(body + "\n")
if attach:
    m.add_attachment(attach.encode(), maintype="application", subtype="octet-stream", filename="test.bin")
with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test") as s:
    s.send_message(m)
"#;

pub fn send(server: &Server, subject: &str, body: &str, attach: &str) {
    let out = python(
        SEND,
        &[&server.ports.smtp.to_string(), DEMO, subject, body, attach],
    );
    assert!(out.status.success(), "smtplib: {}", text(&out.stderr));
}

fn with_clamd(clamd: &Clamd) -> Server {
    let sock = clamd.socket();
    let mut s = Server::setup_with(|t| {
        format!(
            "{t}\n[scan]\nclamd_socket = \"{}\"\nclamd_timeout_secs = 10\n",
            sock.display()
        )
    });
    s.run();
    s
}

/// The message directories of a spool stage (`<stage>/<ID>/`).
pub fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

/// Waits until the spool stage `dir` holds `n` messages.
pub fn wait_for_entries(server: &Server, dir: &Path, n: usize) -> Vec<PathBuf> {
    let start = Instant::now();
    loop {
        let found = entries(dir);
        if found.len() >= n {
            return found;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{}: {} of {n} entries\n--- log ---\n{}",
            dir.display(),
            found.len(),
            server.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn eicar_is_quarantined_clean_mail_delivered_and_release_delivers() {
    let clamd = Clamd::start();
    let server = with_clamd(&clamd);
    send(&server, "virus", "see attachment", EICAR);
    send(&server, "clean", "just words", "");
    let inbox = server.wait_for_messages(DEMO, 1);
    let held = wait_for_entries(&server, &server.spool().join("quarantine"), 1);
    let msg = read(&inbox[0]);
    assert!(msg.contains("Subject: clean"), "{msg}");
    assert!(
        msg.contains("X-Spam-Scan: mail.example.test; parts="),
        "{msg}"
    );
    assert!(msg.contains("verdict=pass"), "{msg}");
    let env = read(&held[0].join("envelope"));
    assert!(
        env.contains("quarantine_reason = \"virus Test-EICAR"),
        "{env}"
    );
    let id = held[0].file_name().unwrap().to_string_lossy().into_owned();
    let list = server.mailctl(&["quarantine", "list"], "");
    assert!(text(&list.stdout).contains(&id), "{}", text(&list.stdout));
    assert!(text(&list.stdout).contains("virus Test-EICAR"));
    let show = server.mailctl(&["quarantine", "show", &id], "");
    assert!(
        text(&show.stdout).contains("Subject: virus"),
        "{}",
        text(&show.stdout)
    );
    // Still only the clean message: a quarantined message is never delivered on its own.
    assert_eq!(server.new_messages(DEMO).len(), 1);
    let rel = server.mailctl(&["quarantine", "release", &id], "");
    assert!(rel.status.success(), "{}", text(&rel.stderr));
    let inbox = server.wait_for_messages(DEMO, 2);
    let released = inbox
        .iter()
        .map(|p| read(p))
        .find(|m| m.contains("Subject: virus"))
        .expect("released message in the inbox");
    assert!(released.contains("verdict=released"), "{released}");
    assert!(entries(&server.spool().join("quarantine")).is_empty());
}

#[test]
fn clamd_down_holds_mail_until_it_returns() {
    let mut clamd = Clamd::start();
    let server = with_clamd(&clamd);
    clamd.stop();
    send(&server, "waiting", "patience", "");
    let start = Instant::now();
    while !server.log().contains("virus scanner unavailable") {
        assert!(
            start.elapsed() < PATIENCE,
            "no deferral logged:\n{}",
            server.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(entries(&server.spool().join("incoming")).len(), 1);
    assert!(server.new_messages(DEMO).is_empty(), "passed unscanned");
    clamd.resume();
    let inbox = server.wait_for_messages(DEMO, 1);
    assert!(read(&inbox[0]).contains("verdict=pass"));
}

#[test]
fn filter_over_tcp_names_the_virus() {
    let clamd = Clamd::start();
    let port = clamd.port;
    let server =
        Server::setup_with(|t| format!("{t}\n[scan]\nclamd_address = \"127.0.0.1:{port}\"\n"));
    let filter = |msg: &str| {
        run_with_input(
            Command::new(bin("spam-scan"))
                .arg("--config")
                .arg(server.config())
                .arg("--filter"),
            msg,
        )
    };
    let out = filter(&format!(
        "From: a@remote.test\r\nSubject: v\r\n\r\n{EICAR}\r\n"
    ));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("virus\n"),
        "{stdout}{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("virus=Test-EICAR.UNOFFICIAL"), "{stdout}");
    let out = filter("From: a@remote.test\r\nSubject: fine\r\n\r\nhello\r\n");
    assert!(
        text(&out.stdout).starts_with("pass\n"),
        "{}",
        text(&out.stdout)
    );
}
