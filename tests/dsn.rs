//! Delivery status notifications (RFC 3461/3464): smtpd advertises DSN and records RET,
//! ENVID, NOTIFY and ORCPT in the envelope; bad parameters get clear replies; REQUIRETLS
//! only over TLS; a bounce entry in the spool reaches the sender's Maildir as one
//! multipart/report.

use crate::futurerelease::{queued_envelope, queued_id, send};
use crate::harness::smtp::Raw;
use crate::harness::*;
use mail::spool::{Envelope, RcptState, Recipient, Spool, Stage};

#[test]
fn dsn_parameters_are_recorded_in_the_envelope() {
    let server = Server::start();
    // Held, so it stays in spool/queue where its envelope can be read.
    let r = send(
        server.ports.submission,
        "far@remote.test",
        "dsn",
        "RET=HDRS ENVID=QQ+2B314 HOLDFOR=300",
        "NOTIFY=SUCCESS,DELAY ORCPT=rfc822;Far+40remote.test",
    );
    let id = queued_id(&r);
    let env = queued_envelope(&server, &id);
    let s = |k: &str| {
        env.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(s("ret"), "HDRS", "{env:?}");
    assert_eq!(s("envid"), "QQ+314", "{env:?}");
    let notify = env["dsn_notify"]["far@remote.test"].as_str();
    assert_eq!(notify, Some("SUCCESS,DELAY"), "{env:?}");
    let orcpt = env["dsn_orcpt"]["far@remote.test"].as_str();
    assert_eq!(orcpt, Some("rfc822;Far@remote.test"), "{env:?}");
    assert_eq!(
        env.get("require_tls").and_then(|v| v.as_bool()),
        Some(false)
    );
}

#[test]
fn port_25_advertises_dsn_and_refuses_bad_parameters() {
    let server = Server::start();
    let mut c = Raw::connect(server.ports.smtp);
    let ehlo = c.cmd("EHLO peer.test");
    assert!(ehlo.contains("250-DSN\r\n"), "{ehlo}");
    assert!(!ehlo.contains("REQUIRETLS"), "not before TLS: {ehlo}");
    for (mail, code) in [
        ("MAIL FROM:<a@peer.test> RET=EVERYTHING", "501 "),
        ("MAIL FROM:<a@peer.test> ENVID=bad=xtext", "501 "),
        ("MAIL FROM:<a@peer.test> RET=FULL RET=HDRS", "501 "),
        ("MAIL FROM:<a@peer.test> XSHOUT=1", "555 "),
        ("MAIL FROM:<a@peer.test> REQUIRETLS", "530 "),
    ] {
        let r = c.cmd(mail);
        assert!(r.starts_with(code), "{mail}: {r}");
    }
    // A fresh session: the refusals above count towards the error limit.
    let mut c = Raw::connect(server.ports.smtp);
    assert!(c.cmd("EHLO peer.test").starts_with("250"));
    let r = c.cmd("MAIL FROM:<a@peer.test> RET=FULL ENVID=x1");
    assert!(r.starts_with("250"), "{r}");
    for (rcpt, code) in [
        (format!("RCPT TO:<{DEMO}> NOTIFY=SOMETIMES"), "501 "),
        (format!("RCPT TO:<{DEMO}> NOTIFY=NEVER,SUCCESS"), "501 "),
        (format!("RCPT TO:<{DEMO}> ORCPT=no-semicolon"), "501 "),
        (format!("RCPT TO:<{DEMO}> ORCPT=rfc822;a+0D+0Ab"), "501 "),
        (
            format!("RCPT TO:<{DEMO}> NOTIFY=NEVER NOTIFY=NEVER"),
            "501 ",
        ),
        (
            format!("RCPT TO:<{DEMO}> NOTIFY=NEVER ORCPT=rfc822;demo+40example.test"),
            "250",
        ),
    ] {
        let r = c.cmd(&rcpt);
        assert!(r.starts_with(code), "{rcpt}: {r}");
    }
}

#[test]
fn requiretls_is_taken_over_tls() {
    let server = Server::start();
    let script = r#"
import smtplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="peer.test")
s.starttls(context=ctx)
s.ehlo()
print("ADVERTISED" if s.has_extn("requiretls") else "MISSING")
print(s.mail("a@peer.test", options=["REQUIRETLS"])[0])
s.quit()
"#;
    let out = python(script, &[&server.ports.smtp.to_string()]);
    let o = text(&out.stdout);
    assert_eq!(
        o.split_whitespace().collect::<Vec<_>>(),
        ["ADVERTISED", "250"],
        "{o}{}",
        text(&out.stderr)
    );
}

/// A bounce entry as queue-runner leaves it: DEMO's message failed for one recipient.
fn place_bounce_entry(server: &Server) -> Spool {
    let spool = Spool::open(&server.spool()).expect("spool");
    let env = Envelope {
        sender: DEMO.into(),
        recipients: vec![Recipient {
            state: RcptState::Failed,
            reply: Some("550 5.1.1 <gone@remote.test>: no such user".into()),
            ..Recipient::new("gone@remote.test")
        }],
        received_at: 1_700_000_000,
        ..Envelope::default()
    };
    let msg = b"From: demo@example.test\r\nSubject: lost letter\r\n\r\nhello\r\n";
    spool
        .enqueue(Stage::Bounce, &env, msg)
        .expect("bounce entry");
    spool
}

/// The DSN in DEMO's Maildir is one RFC 3464 report naming the failed recipient.
fn check_bounce_arrives(server: &Server, spool: &Spool) {
    let files = server.wait_for_messages(DEMO, 1);
    let dsn = read(&files[0]);
    for want in [
        "From: Mail Delivery System <MAILER-DAEMON@",
        "multipart/report; report-type=delivery-status",
        "Final-Recipient: rfc822;gone@remote.test",
        "Action: failed",
        "Status: 5.1.1",
        "Content-Type: message/rfc822",
        "Subject: lost letter",
    ] {
        assert!(dsn.contains(want), "missing {want:?} in\n{dsn}");
    }
    assert!(spool.list(Stage::Bounce).unwrap().is_empty());
}

/// A failed message in spool/bounce becomes a DSN that queue-runner delivers to the local
/// sender.
#[test]
fn bounce_entry_reaches_the_local_sender() {
    let server = Server::start();
    let spool = place_bounce_entry(&server);
    check_bounce_arrives(&server, &spool);
}
