//! Submission: STARTTLS then AUTH on 587, implicit TLS on 465, sender ownership, RFC 6409
//! header fixes, and AUTH refused in plaintext where the config says so.

use crate::harness::smtp::Raw;
use crate::harness::*;

const SUBMIT: &str = r#"
import smtplib, ssl, sys
mode, port, user, password, sender, rcpt = sys.argv[1], int(sys.argv[2]), *sys.argv[3:7]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
body = "From: %s\r\nTo: %s\r\nSubject: submitted\r\n\r\nsent through submission\r\n" % (sender, rcpt)
try:
    if mode == "implicit":
        s = smtplib.SMTP_SSL("127.0.0.1", port, context=ctx, local_hostname="laptop.test")
    else:
        s = smtplib.SMTP("127.0.0.1", port, local_hostname="laptop.test")
        s.starttls(context=ctx)
    s.login(user, password)
    s.sendmail(sender, [rcpt], body)
    s.quit()
    print("OK")
except smtplib.SMTPException as e:
    print("ERR", e)
"#;

fn submit(mode: &str, port: u16, user: &str, pw: &str, from: &str, to: &str) -> String {
    let out = python(SUBMIT, &[mode, &port.to_string(), user, pw, from, to]);
    assert!(out.status.success(), "python: {}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn starttls_auth_submission_delivers_with_message_id_and_date() {
    let server = Server::start();
    server.add_user("bob@example.test", "bobpw");
    let port = server.ports.submission;
    let r = submit(
        "starttls",
        port,
        DEMO,
        DEMO_PASSWORD,
        DEMO,
        "bob@example.test",
    );
    assert!(r.starts_with("OK"), "{r}");
    let files = server.wait_for_messages("bob@example.test", 1);
    let msg = read(&files[0]);
    assert!(
        msg.contains("\nMessage-ID: <") || msg.contains("\nMessage-Id: <"),
        "{msg}"
    );
    assert!(msg.contains("\nDate: "), "{msg}");
    assert!(
        msg.contains("with ESMTPSA"),
        "Received: names TLS + AUTH: {msg}"
    );
    assert!(msg.contains("sent through submission"));
}

#[test]
fn implicit_tls_submission_delivers() {
    let server = Server::start();
    let port = server.ports.submissions;
    let r = submit("implicit", port, DEMO, DEMO_PASSWORD, DEMO, DEMO);
    assert!(r.starts_with("OK"), "{r}");
    server.wait_for_messages(DEMO, 1);
}

#[test]
fn wrong_password_is_refused_with_535() {
    let server = Server::start();
    let r = submit(
        "starttls",
        server.ports.submission,
        DEMO,
        "wrong",
        DEMO,
        DEMO,
    );
    assert!(r.starts_with("ERR") && r.contains("535"), "{r}");
    assert!(server.log().contains("auth failed"), "{}", server.log());
    assert!(
        !server.log().contains("wrong"),
        "password leaked into the log"
    );
}

#[test]
fn authenticated_user_cannot_forge_sender() {
    let server = Server::start();
    server.add_user("bob@example.test", "bobpw");
    let r = submit(
        "starttls",
        server.ports.submission,
        DEMO,
        DEMO_PASSWORD,
        "bob@example.test",
        DEMO,
    );
    assert!(r.starts_with("ERR") && r.contains("553"), "{r}");
}

#[test]
fn submission_requires_auth_before_mail() {
    let server = Server::start();
    let mut c = Raw::connect(server.ports.submission);
    assert!(c.cmd("EHLO x.test").starts_with("250"));
    let r = c.cmd(&format!("MAIL FROM:<{DEMO}>"));
    assert!(r.starts_with("530 5.7.0"), "{r}");
}

#[test]
fn plaintext_auth_refused_when_loopback_exception_is_off() {
    let mut server = Server::setup_with(|t| {
        t.replace(
            "allow_plaintext_auth_on_loopback = true",
            "allow_plaintext_auth_on_loopback = false",
        )
    });
    server.run();
    let mut c = Raw::connect(server.ports.submission);
    let ehlo = c.cmd("EHLO x.test");
    assert!(ehlo.contains("STARTTLS"), "{ehlo}");
    assert!(!ehlo.contains("AUTH"), "AUTH offered before TLS: {ehlo}");
    let r = c.cmd("AUTH PLAIN AGRlbW9AZXhhbXBsZS50ZXN0AGRlbW8=");
    assert!(r.starts_with("538 5.7.11"), "{r}");
    // Through TLS the same user gets in.
    let ok = submit(
        "starttls",
        server.ports.submission,
        DEMO,
        DEMO_PASSWORD,
        DEMO,
        DEMO,
    );
    assert!(ok.starts_with("OK"), "{ok}");
}

#[test]
fn authenticated_user_may_relay_and_remote_mail_stays_queued() {
    // elsewhere.test's server is down (a loopback port nobody listens on): the relayed
    // message waits in the queue, deferred, instead of being refused or lost.
    let closed = free_port();
    let mut server = Server::setup_with(|t| {
        let route = format!("transports = {{ \"elsewhere.test\" = \"127.0.0.1:{closed}\" }}");
        with_section(&t, "outbound", &route)
    });
    server.run();
    let r = submit(
        "starttls",
        server.ports.submission,
        DEMO,
        DEMO_PASSWORD,
        DEMO,
        "friend@elsewhere.test",
    );
    assert!(r.starts_with("OK"), "{r}");
    let start = std::time::Instant::now();
    loop {
        let out = server.mailctl(&["queue", "list"], "");
        let listing = text(&out.stdout);
        if listing.contains("friend@elsewhere.test") && listing.contains("deferred") {
            break;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "queue list: {listing}\n{}",
            server.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
