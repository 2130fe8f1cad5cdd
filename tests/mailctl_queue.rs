//! `mailctl queue show|flush|hold|release|delete|recall` against a running server. Messages
//! for a remote domain stay deferred (its transport is a closed loopback port, and the retry
//! interval is an hour), so they sit in the queue while the admin works on them.

use crate::harness::*;
use mail::spool::Envelope;
use std::path::PathBuf;
use std::time::Instant;

const SEND: &str = r#"
import smtplib, sys
port, subject = int(sys.argv[1]), sys.argv[2]
with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test") as s:
    s.login("demo@example.test", "demo")
    s.sendmail("demo@example.test", ["friend@far.test"],
        "From: demo@example.test\r\nTo: friend@far.test\r\nSubject: %s\r\n\r\nhello\r\n" % subject)
print("SENT")
"#;

fn send(server: &Server, subject: &str) {
    let port = server.ports.submission.to_string();
    let out = python(SEND, &[&port, subject]);
    assert!(text(&out.stdout).contains("SENT"), "{}", text(&out.stderr));
}

fn stage_dir(server: &Server, stage: &str, id: &str) -> PathBuf {
    server.spool().join(stage).join(id)
}

fn envelope(server: &Server, stage: &str, id: &str) -> Option<Envelope> {
    let text = std::fs::read_to_string(stage_dir(server, stage, id).join("envelope")).ok()?;
    Envelope::from_toml(&text).ok()
}

/// Waits until the queued message with `subject` has had `attempts` delivery attempts.
fn wait_attempts(server: &Server, subject: &str, attempts: u32) -> String {
    let start = Instant::now();
    loop {
        let queue = server.spool().join("queue");
        for dir in std::fs::read_dir(&queue).into_iter().flatten().flatten() {
            let id = dir.file_name().to_string_lossy().to_string();
            let msg = std::fs::read_to_string(dir.path().join("message")).unwrap_or_default();
            let env = envelope(server, "queue", &id);
            if msg.contains(&format!("Subject: {subject}\r\n"))
                && env.is_some_and(|e| e.attempts >= attempts)
            {
                return id;
            }
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{subject}: never reached {attempts} attempts; log:\n{}",
            server.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn ctl(server: &Server, args: &[&str]) -> (bool, String) {
    let out = server.mailctl(args, "");
    (
        out.status.success(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

#[test]
fn show_hold_flush_release_delete_recall() {
    // far.test goes to a loopback port nobody listens on: every attempt is deferred at
    // once. No DNS server answers either, should routing ever ask one.
    let closed = free_port();
    let mut server = Server::setup_with(|t| {
        let t = t.replace("retry_base_secs = 300", "retry_base_secs = 3600");
        let t = with_section(&t, "dns", "servers = [\"127.0.0.1:9\"]\ntimeout_secs = 1");
        let route = format!("transports = {{ \"far.test\" = \"127.0.0.1:{closed}\" }}");
        with_section(&t, "outbound", &route)
    });
    server.run();
    send(&server, "first");
    send(&server, "second");
    let a = wait_attempts(&server, "first", 1);
    let b = wait_attempts(&server, "second", 1);

    let (ok, shown) = ctl(&server, &["queue", "show", &a]);
    assert!(ok, "{shown}");
    for want in [
        "<demo@example.test>",
        "<friend@far.test>",
        "Subject: first",
        "deferred",
    ] {
        assert!(shown.contains(want), "show lacks {want}: {shown}");
    }

    let (ok, out) = ctl(&server, &["queue", "hold", &a]);
    assert!(ok, "{out}");
    assert!(stage_dir(&server, "hold", &a).is_dir() && !stage_dir(&server, "queue", &a).exists());

    // Flush: the queued message is retried at once; the held one is not touched.
    let (ok, out) = ctl(&server, &["queue", "flush"]);
    assert!(ok && out.contains("flushed: 1"), "{out}");
    wait_attempts(&server, "second", 2);
    assert_eq!(envelope(&server, "hold", &a).expect("held").attempts, 1);

    let (ok, out) = ctl(&server, &["queue", "release", &a]);
    assert!(ok, "{out}");
    assert!(stage_dir(&server, "queue", &a).is_dir() && !stage_dir(&server, "hold", &a).exists());
    let (ok, out) = ctl(&server, &["queue", "flush"]);
    assert!(ok, "{out}");
    wait_attempts(&server, "first", 2);

    let (ok, out) = ctl(&server, &["queue", "delete", &b]);
    assert!(ok, "{out}");
    let (ok, out) = ctl(&server, &["queue", "show", &b]);
    assert!(!ok && out.contains("no such message"), "{out}");
    let (ok, list) = ctl(&server, &["queue", "list"]);
    assert!(ok && !list.contains(&b) && list.contains(&a), "{list}");

    // Recall only works for a scheduled (FUTURERELEASE) message.
    let (ok, out) = ctl(&server, &["queue", "recall", &a]);
    assert!(!ok && out.contains("not a scheduled"), "{out}");
    schedule(&server, &a, 3600);
    let (ok, out) = ctl(&server, &["queue", "recall", &a]);
    assert!(ok, "{out}");
    let (ok, out) = ctl(&server, &["queue", "recall", &a]);
    assert!(!ok && out.contains("cannot recall"), "{out}");
    assert!(!stage_dir(&server, "queue", &a).exists());

    let (ok, out) = ctl(&server, &["queue", "hold", "../../etc"]);
    assert!(!ok && out.contains("not a queue id"), "{out}");
}

/// Gives a queued message a FUTURERELEASE time `secs` from now, as smtpd would (the field
/// goes first: after the `[[recipients]]` tables a bare key would belong to the last one).
fn schedule(server: &Server, id: &str, secs: u64) {
    let path = stage_dir(server, "queue", id).join("envelope");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let old = std::fs::read_to_string(&path).unwrap();
    let new = if old.contains("hold_until") {
        old.lines()
            .map(|l| match l.starts_with("hold_until") {
                true => format!("hold_until = {}\n", now + secs),
                false => format!("{l}\n"),
            })
            .collect()
    } else {
        format!("hold_until = {}\n{old}", now + secs)
    };
    let tmp = path.with_extension("test");
    std::fs::write(&tmp, new).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
}
