//! Scheduled sending (RFC 4865 FUTURERELEASE) over submission: a held message waits in the
//! queue until its time while others are delivered, then is delivered; port 25 refuses holds.

use crate::harness::smtp::Raw;
use crate::harness::*;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Sends one message over submission (AUTH in plaintext on loopback) with MAIL options;
/// prints `OK <queue id>` or `ERR <code> <text>`.
pub const SEND: &str = r#"
import smtplib, sys
port, user, password, sender, rcpt, subject = int(sys.argv[1]), *sys.argv[2:7]
mail_opts = [o for o in sys.argv[7].split(" ") if o]
rcpt_opts = [o for o in sys.argv[8].split(" ") if o]
body = "From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nscheduled\r\n" % (sender, rcpt, subject)
s = smtplib.SMTP("127.0.0.1", port, local_hostname="laptop.test")
s.ehlo()
s.login(user, password)
code, msg = s.mail(sender, options=mail_opts)
if code != 250:
    print("ERR", code, msg.decode()); sys.exit(0)
code, msg = s.rcpt(rcpt, options=rcpt_opts)
if code != 250:
    print("ERR", code, msg.decode()); sys.exit(0)
code, msg = s.data(body)
print("OK" if code == 250 else "ERR", msg.decode().split()[-1] if code == 250 else msg.decode())
s.quit()
"#;

pub fn send(port: u16, to: &str, subject: &str, mail_opts: &str, rcpt_opts: &str) -> String {
    let out = python(
        SEND,
        &[
            &port.to_string(),
            DEMO,
            DEMO_PASSWORD,
            DEMO,
            to,
            subject,
            mail_opts,
            rcpt_opts,
        ],
    );
    assert!(out.status.success(), "python: {}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

/// The queue id from `OK <id>`.
pub fn queued_id(result: &str) -> String {
    result
        .strip_prefix("OK ")
        .unwrap_or_else(|| panic!("not queued: {result}"))
        .to_string()
}

/// Waits until the message `id` sits in `spool/queue` (spam-scan moved it) and returns its
/// envelope as TOML.
pub fn queued_envelope(server: &Server, id: &str) -> toml::Table {
    let path = server.spool().join("queue").join(id).join("envelope");
    let start = Instant::now();
    loop {
        if let Ok(t) = std::fs::read_to_string(&path) {
            return t.parse().expect("envelope is TOML");
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{id} never reached the queue\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn int(env: &toml::Table, key: &str) -> i64 {
    env.get(key).and_then(|v| v.as_integer()).unwrap_or(0)
}

#[test]
fn held_message_waits_while_unheld_mail_is_delivered() {
    let server = Server::start();
    server.add_user("bob@example.test", "bobpw");
    let port = server.ports.submission;
    let before = now();
    let held = queued_id(&send(port, "bob@example.test", "held", "HOLDFOR=120", ""));
    let env = queued_envelope(&server, &held);
    let hold = int(&env, "hold_until");
    assert!(hold >= before + 120, "hold_until={hold} {env:?}");
    assert_eq!(int(&env, "next_attempt"), hold, "{env:?}");
    // Mail sent after the held message is delivered before it.
    let r = send(port, "bob@example.test", "now", "", "");
    assert!(r.starts_with("OK"), "{r}");
    let files = server.wait_for_messages("bob@example.test", 1);
    assert!(read(&files[0]).contains("Subject: now"));
    assert_eq!(server.new_messages("bob@example.test").len(), 1);
    assert!(
        server
            .spool()
            .join("queue")
            .join(&held)
            .join("message")
            .exists(),
        "held message still queued"
    );
}

#[test]
fn held_message_is_delivered_once_its_time_comes() {
    let server = Server::start();
    server.add_user("bob@example.test", "bobpw");
    let until = now() + 3;
    let when = mail::smtp::release::rfc3339(until as u64);
    let r = send(
        server.ports.submission,
        "bob@example.test",
        "later",
        &format!("HOLDUNTIL={when}"),
        "",
    );
    let id = queued_id(&r);
    assert_eq!(int(&queued_envelope(&server, &id), "hold_until"), until);
    let files = server.wait_for_messages("bob@example.test", 1);
    let delivered_at = std::fs::metadata(&files[0])
        .and_then(|m| m.modified())
        .unwrap()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        delivered_at >= until,
        "delivered at {delivered_at}, hold until {until}"
    );
    assert!(read(&files[0]).contains("Subject: later"));
}

#[test]
fn ehlo_and_refusals() {
    let server = Server::start();
    let mut sub = Raw::connect(server.ports.submission);
    let ehlo = sub.cmd("EHLO laptop.test");
    assert!(ehlo.contains("250-FUTURERELEASE 604800 "), "{ehlo}");
    let mut mx = Raw::connect(server.ports.smtp);
    let ehlo = mx.cmd("EHLO peer.test");
    assert!(!ehlo.contains("FUTURERELEASE"), "{ehlo}");
    let r = mx.cmd(&format!("MAIL FROM:<{DEMO}> HOLDFOR=60"));
    assert!(r.starts_with("555 "), "HOLDFOR on port 25: {r}");
    let r = mx.cmd("MAIL FROM:<a@peer.test> HOLDUNTIL=2030-01-01T00:00:00Z");
    assert!(r.starts_with("555 "), "HOLDUNTIL on port 25: {r}");
    // On submission: beyond the advertised maximum, or malformed.
    let too_long = send(
        server.ports.submission,
        "demo@example.test",
        "x",
        "HOLDFOR=999999",
        "",
    );
    assert!(too_long.starts_with("ERR 501"), "{too_long}");
    let bad = send(
        server.ports.submission,
        "demo@example.test",
        "x",
        "HOLDUNTIL=next-week",
        "",
    );
    assert!(bad.starts_with("ERR 501"), "{bad}");
}

/// Over IMAP as the sender: SELECT "Scheduled" (Maildir++ `.Scheduled`), print how many
/// messages it holds, delete the one with the given subject (STORE \Deleted + EXPUNGE), and
/// print how many are left.
const DELETE_SCHEDULED: &str = r#"
import imaplib, sys
port, user, password, subject = int(sys.argv[1]), *sys.argv[2:5]
i = imaplib.IMAP4("127.0.0.1", port)
i.login(user, password)
typ, data = i.select("Scheduled")
assert typ == "OK", data
print("EXISTS", int(data[0]))
typ, data = i.search(None, "SUBJECT", subject)
nums = data[0].split()
assert typ == "OK" and len(nums) == 1, (typ, data)
typ, data = i.store(nums[0], "+FLAGS", "(\\Deleted)")
assert typ == "OK", data
typ, data = i.expunge()
assert typ == "OK", data
typ, data = i.select("Scheduled")
print("LEFT", int(data[0]))
i.logout()
"#;

/// The envelope's `scheduled_copy` (the copy's unique file-name base).
fn copy_name(env: &toml::Table) -> String {
    env.get("scheduled_copy")
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("no scheduled_copy in {env:?}"))
        .to_string()
}

/// Whether `.Scheduled/{new,cur}` holds a file with this base name (any `:2,` flags).
fn has_copy(scheduled: &std::path::Path, base: &str) -> bool {
    ["new", "cur"].iter().any(|sub| {
        list_files(&scheduled.join(sub)).iter().any(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.split(':').next() == Some(base)
        })
    })
}

#[test]
fn sender_recalls_by_deleting_the_scheduled_copy() {
    let server = Server::start();
    server.add_user("bob@example.test", "bobpw");
    let port = server.ports.submission;
    let kept = queued_id(&send(port, "bob@example.test", "keepme", "HOLDFOR=3", ""));
    // Longer hold: time for the IMAP deletion below before its release.
    let recalled = queued_id(&send(
        port,
        "bob@example.test",
        "recallme",
        "HOLDFOR=12",
        "",
    ));
    let kept_copy = copy_name(&queued_envelope(&server, &kept));
    let recalled_copy = copy_name(&queued_envelope(&server, &recalled));
    let scheduled = server.maildir(DEMO).join(".Scheduled");
    assert!(has_copy(&scheduled, &kept_copy), "{kept_copy}");
    assert!(has_copy(&scheduled, &recalled_copy), "{recalled_copy}");
    assert!(read(&scheduled.join("new").join(&recalled_copy)).contains("Subject: recallme"));

    let out = python(
        DELETE_SCHEDULED,
        &[
            &server.ports.imap.to_string(),
            DEMO,
            DEMO_PASSWORD,
            "recallme",
        ],
    );
    assert!(out.status.success(), "imap: {}", text(&out.stderr));
    let seen = text(&out.stdout);
    assert!(seen.contains("EXISTS 2"), "{seen}");
    assert!(seen.contains("LEFT 1"), "{seen}");
    assert!(!has_copy(&scheduled, &recalled_copy));
    // The deletion came before the release: the message is still queued, not yet released.
    let env = queued_envelope(&server, &recalled);
    assert!(env.get("released").is_none(), "released too early: {env:?}");

    // (a) Left alone: delivered after its time, its Scheduled copy gone.
    let files = server.wait_for_messages("bob@example.test", 1);
    assert!(read(&files[0]).contains("Subject: keepme"));
    assert!(!has_copy(&scheduled, &kept_copy), "copy kept after sending");

    // (b) Deleted: leaves the queue at its time, never delivered.
    let entry = server.spool().join("queue").join(&recalled);
    let start = Instant::now();
    while entry.exists() {
        assert!(
            start.elapsed() < PATIENCE,
            "{recalled} still queued\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = server.log();
    assert!(
        log.contains(&format!("{recalled}: recalled by sender")),
        "{log}"
    );
    let bob = server.new_messages("bob@example.test");
    assert_eq!(bob.len(), 1, "{bob:?}");
    assert!(bob.iter().all(|f| !read(f).contains("recallme")));
}
