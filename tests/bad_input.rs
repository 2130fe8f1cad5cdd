//! Hostile and broken clients: each gets the right reply code, and nothing half-written
//! remains visible in the spool or any Maildir.

use crate::harness::smtp::Raw;
use crate::harness::*;
use std::time::{Duration, Instant};

/// Waits until the spool holds no message in any stage or draft, then checks no Maildir grew.
fn assert_nothing_stored(server: &Server) {
    let start = Instant::now();
    loop {
        let busy: Vec<String> = ["tmp", "incoming", "queue", "bounce"]
            .iter()
            .filter(|s| {
                std::fs::read_dir(server.spool().join(s))
                    .map(|r| r.count())
                    .unwrap_or(0)
                    > 0
            })
            .map(|s| s.to_string())
            .collect();
        if busy.is_empty() {
            break;
        }
        assert!(start.elapsed() < PATIENCE, "spool not empty: {busy:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        server.new_messages(DEMO).is_empty(),
        "a message was delivered"
    );
}

#[test]
fn relay_attempt_is_refused() {
    let server = Server::start();
    let mut c = Raw::connect(server.ports.smtp);
    c.cmd("EHLO spammer.test");
    assert!(c.cmd("MAIL FROM:<spam@spammer.test>").starts_with("250"));
    let r = c.cmd("RCPT TO:<victim@elsewhere.test>");
    assert!(r.starts_with("554 5.7.1"), "{r}");
    // Percent hacks and source routes are no way around it either.
    let r = c.cmd("RCPT TO:<victim%elsewhere.test@example.test>");
    assert!(r.starts_with('5'), "{r}");
    let r = c.cmd("RCPT TO:<@example.test:victim@elsewhere.test>");
    assert!(r.starts_with('5'), "{r}");
    let r = c.cmd("DATA");
    assert!(
        r.starts_with("554") || r.starts_with("503"),
        "DATA without recipients: {r}"
    );
    assert_nothing_stored(&server);
}

#[test]
fn unknown_user_gets_550_5_1_1() {
    let server = Server::start();
    let mut c = Raw::connect(server.ports.smtp);
    c.cmd("EHLO x.test");
    c.cmd("MAIL FROM:<a@remote.test>");
    let r = c.cmd("RCPT TO:<nobody@example.test>");
    assert!(r.starts_with("550 5.1.1"), "{r}");
    let r = c.cmd("DATA");
    assert!(
        r.starts_with("554") || r.starts_with("503"),
        "DATA without recipients: {r}"
    );
    c.cmd("QUIT");
    let log = server.log();
    assert!(
        log.contains("reject") && log.contains("nobody@example.test"),
        "{log}"
    );
}

#[test]
fn bare_lf_in_data_is_rejected_and_nothing_kept() {
    let server = Server::start();
    let mut c = Raw::connect(server.ports.smtp);
    c.start_mail("a@remote.test", DEMO);
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(b"Subject: smuggle\r\n\r\nline one\nMAIL FROM:<x@y>\n.\nstill data\r\n.\r\n");
    let r = c.reply();
    assert!(r.starts_with("5"), "bare LF accepted: {r}");
    // The session is still in step: the smuggled commands were never executed.
    let r = c.cmd("NOOP");
    assert!(r.starts_with("250"), "{r}");
    assert_nothing_stored(&server);
}

#[test]
fn smuggled_end_of_data_does_not_end_the_message() {
    let server = Server::start();
    let mut c = Raw::connect(server.ports.smtp);
    c.start_mail("a@remote.test", DEMO);
    assert!(c.cmd("DATA").starts_with("354"));
    // `\n.\r\n` must not end DATA: a second message hidden in the first is never queued.
    c.send(b"Subject: one\r\n\r\nbody\n.\r\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<demo@example.test>\r\nDATA\r\nSubject: two\r\n\r\n.\r\n");
    let r = c.reply();
    assert!(r.starts_with("5"), "{r}");
    assert!(c.cmd("QUIT").starts_with("221"));
    assert_nothing_stored(&server);
}

#[test]
fn overlong_line_in_data_is_rejected() {
    let server = Server::start();
    let mut c = Raw::connect(server.ports.smtp);
    c.start_mail("a@remote.test", DEMO);
    assert!(c.cmd("DATA").starts_with("354"));
    let long = "y".repeat(2000);
    c.send(format!("Subject: long\r\n\r\n{long}\r\n.\r\n").as_bytes());
    let r = c.reply();
    assert!(r.starts_with("5"), "2000-octet line accepted: {r}");
    assert_nothing_stored(&server);
}

#[test]
fn overlong_command_line_is_refused() {
    let server = Server::start();
    let mut c = Raw::connect(server.ports.smtp);
    let r = c.cmd(&format!("EHLO {}", "h".repeat(2000)));
    assert!(r.starts_with("500"), "{r}");
    assert!(c.cmd("NOOP").starts_with("250"));
}

#[test]
fn two_hundred_recipients_hit_the_limit() {
    let server = Server::start();
    let mut c = Raw::connect(server.ports.smtp);
    c.cmd("EHLO x.test");
    c.cmd("MAIL FROM:<a@remote.test>");
    let mut accepted = 0;
    let mut limited = 0;
    for _ in 0..200 {
        let r = c.cmd(&format!("RCPT TO:<{DEMO}>"));
        if r.starts_with("250") {
            accepted += 1;
        } else {
            assert!(r.starts_with("452 4.5.3"), "{r}");
            limited += 1;
        }
    }
    assert_eq!(accepted, 100, "max_recipients from the config");
    assert_eq!(limited, 100);
    assert!(c.cmd("DATA").starts_with("354"));
    let r = c.cmd("Subject: many\r\n\r\nhi\r\n.");
    assert!(r.starts_with("250"), "{r}");
}

#[test]
fn garbage_commands_get_500_then_the_session_ends() {
    let server = Server::start();
    let mut c = Raw::connect(server.ports.smtp);
    let r = c.cmd("XYZZY plugh");
    assert!(
        r.starts_with("500 5.5.2") || r.starts_with("502 5.5.2"),
        "{r}"
    );
    let r = c.cmd("MAIL FROM:<a@remote.test>");
    assert!(r.starts_with("503 5.5.1"), "MAIL before EHLO: {r}");
    c.send(b"\x00\xff\xfe binary junk\r\n");
    assert!(c.reply().starts_with('5'));
    // After too many errors the server hangs up with 421.
    let mut last = String::new();
    for _ in 0..20 {
        last = c.cmd("BOGUS");
        if last.is_empty() || last.starts_with("421") {
            break;
        }
    }
    assert!(last.starts_with("421") || last.is_empty(), "{last}");
    assert!(c.reply().is_empty(), "connection closed after 421");
}

#[test]
fn client_vanishing_mid_data_leaves_nothing() {
    let server = Server::start();
    let mut c = Raw::connect(server.ports.smtp);
    c.start_mail("a@remote.test", DEMO);
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(b"Subject: cut off\r\n\r\nhalf a message");
    c.vanish();
    assert_nothing_stored(&server);
    std::thread::sleep(Duration::from_millis(300));
    assert!(server.new_messages(DEMO).is_empty());
}

#[test]
fn silent_client_is_dropped_with_421_after_the_command_timeout() {
    let mut server =
        Server::setup_with(|t| t.replace("command_timeout_secs = 300", "command_timeout_secs = 1"));
    server.run();
    let mut c = Raw::connect(server.ports.smtp);
    // Say nothing: the server must not wait forever.
    let r = c.reply();
    assert!(r.starts_with("421 4.4.2"), "{r}");
    assert!(c.reply().is_empty(), "connection closed after 421");
}
