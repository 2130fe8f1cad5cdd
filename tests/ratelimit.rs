//! Rate limits (`[policy] rate_limit_*`) in the real smtpd, counted across its
//! per-connection processes: the N+1th message (or recipient) within the hour gets
//! 451 4.7.1, per client IP and per authenticated user; loopback is exempt unless configured.

use crate::harness::smtp::Raw;
use crate::harness::{python, text, Server, DEMO, DEMO_PASSWORD};

fn server(policy: &str) -> Server {
    let mut s = Server::setup_with(|t| format!("{t}\n[policy]\n{policy}\n"));
    s.run();
    s
}

/// One message to `rcpts` over a new connection; the replies to MAIL, each RCPT and the data.
fn send(port: u16, rcpts: &[&str]) -> Vec<String> {
    let mut c = Raw::connect(port);
    c.cmd("EHLO client.test");
    let mut replies = vec![c.cmd("MAIL FROM:<alice@remote.test>")];
    for r in rcpts {
        replies.push(c.cmd(&format!("RCPT TO:<{r}>")));
    }
    if replies.iter().skip(1).any(|r| r.starts_with("250")) {
        assert!(c.cmd("DATA").starts_with("354"));
        c.send(b"Subject: rate\r\n\r\ncounted\r\n");
        replies.push(c.cmd("."));
    }
    c.cmd("QUIT");
    replies
}

#[test]
fn third_message_from_an_ip_waits() {
    let s = server("rate_limit_messages_per_hour_ip = 2\nrate_limit_loopback = true");
    for _ in 0..2 {
        let r = send(s.ports.smtp, &[DEMO]);
        assert!(r.last().is_some_and(|r| r.starts_with("250")), "{r:?}");
    }
    let r = send(s.ports.smtp, &[DEMO]);
    assert!(r[0].starts_with("451 4.7.1"), "{r:?}");
    assert!(r[0].contains("2 messages per hour"), "{r:?}");
    assert_eq!(s.wait_for_messages(DEMO, 2).len(), 2);
}

#[test]
fn loopback_is_exempt_by_default() {
    let s = server("rate_limit_messages_per_hour_ip = 1");
    for _ in 0..3 {
        let r = send(s.ports.smtp, &[DEMO]);
        assert!(r.last().is_some_and(|r| r.starts_with("250")), "{r:?}");
    }
}

#[test]
fn recipients_per_hour_count_within_and_across_messages() {
    let s = server("rate_limit_recipients_per_hour_ip = 3\nrate_limit_loopback = true");
    s.add_user("bob@example.test", "bobpw");
    let r = send(s.ports.smtp, &[DEMO, "bob@example.test"]);
    assert!(r.iter().all(|r| r.starts_with("250")), "{r:?}");
    let r = send(s.ports.smtp, &[DEMO, "bob@example.test"]);
    assert!(r[1].starts_with("250"), "{r:?}");
    assert!(r[2].starts_with("451 4.7.1"), "{r:?}");
    assert!(
        r[3].starts_with("250"),
        "the accepted one is delivered: {r:?}"
    );
    assert!(send(s.ports.smtp, &[DEMO])[1].starts_with("451 4.7.1"));
}

const SUBMIT: &str = r#"
import smtplib, ssl, sys
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", port, local_hostname="laptop.test")
s.starttls(context=ctx)
s.login(user, password)
try:
    s.sendmail(user, [user], "Subject: mine\r\n\r\nfrom a user\r\n")
    print("OK")
except smtplib.SMTPSenderRefused as e:
    print("REFUSED", e.smtp_code, e.smtp_error.decode())
s.quit()
"#;

#[test]
fn authenticated_user_is_limited_wherever_they_connect_from() {
    let s = server("rate_limit_messages_per_hour_user = 1");
    let port = s.ports.submission.to_string();
    let first = python(SUBMIT, &[&port, DEMO, DEMO_PASSWORD]);
    assert!(
        text(&first.stdout).starts_with("OK"),
        "{}",
        text(&first.stderr)
    );
    let second = python(SUBMIT, &[&port, DEMO, DEMO_PASSWORD]);
    let out = text(&second.stdout);
    assert!(
        out.starts_with("REFUSED 451 4.7.1"),
        "{out}{}",
        text(&second.stderr)
    );
    assert!(out.contains(&format!("user {DEMO}")), "{out}");
}
