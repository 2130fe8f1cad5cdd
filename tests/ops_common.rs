//! Shared by the `ops_*` tests: sending numbered messages over SMTP and trying logins over
//! SMTP AUTH, IMAP and POP3 with Python's standard clients.

#![allow(dead_code)]

use crate::harness::*;

/// Sends messages `first..first+count` to `rcpt` over one SMTP session each, each with an
/// `X-Seq:` header; prints `sent N` after each 250.
pub const SEND_SEQ: &str = r#"
import smtplib, sys
port, rcpt, first, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
for n in range(first, first + count):
    body = "From: seq@remote.test\r\nTo: %s\r\nSubject: seq %d\r\nX-Seq: %d\r\n\r\nmessage %d\r\n" % (rcpt, n, n, n)
    with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test") as s:
        s.sendmail("seq@remote.test", [rcpt], body)
    print("sent", n, flush=True)
"#;

/// Tries one login; prints `OK` or `DENIED`. Args: proto port user password.
pub const LOGIN: &str = r#"
import sys, smtplib, imaplib, poplib
proto, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
try:
    if proto == "smtp":
        s = smtplib.SMTP("127.0.0.1", port); s.ehlo("x.test"); s.login(user, pw); s.quit()
    elif proto == "imap":
        i = imaplib.IMAP4("127.0.0.1", port); i.login(user, pw); i.logout()
    else:
        p = poplib.POP3("127.0.0.1", port); p.user(user); p.pass_(pw); p.quit()
    print("OK")
except (smtplib.SMTPAuthenticationError, imaplib.IMAP4.error, poplib.error_proto) as e:
    print("DENIED", e)
"#;

/// Sends `count` numbered messages starting at `first`.
pub fn send_seq(server: &Server, rcpt: &str, first: usize, count: usize) {
    let out = python(
        SEND_SEQ,
        &[
            &server.ports.smtp.to_string(),
            rcpt,
            &first.to_string(),
            &count.to_string(),
        ],
    );
    assert!(out.status.success(), "send: {}", text(&out.stderr));
}

/// `OK` or `DENIED …` for a login over `proto` (`smtp` = submission port, `imap`, `pop3`).
pub fn login(server: &Server, proto: &str, user: &str, pw: &str) -> String {
    let port = match proto {
        "smtp" => server.ports.submission,
        "imap" => server.ports.imap,
        _ => server.ports.pop3,
    };
    let out = python(LOGIN, &[proto, &port.to_string(), user, pw]);
    assert!(out.status.success(), "login script: {}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

/// The `X-Seq:` values of every message in a Maildir's new/ and cur/ (one per file).
pub fn seqs(maildir: &std::path::Path) -> Vec<u64> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        for f in list_files(&maildir.join(sub)) {
            let t = read(&f);
            if let Some(v) = t.lines().find_map(|l| l.strip_prefix("X-Seq: ")) {
                out.push(v.trim().parse().expect("X-Seq number"));
            }
        }
    }
    out.sort();
    out
}

/// Asserts a mailctl call succeeded and returns its stdout.
pub fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "mailctl failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Waits until `cond` holds; panics after the harness's patience.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
