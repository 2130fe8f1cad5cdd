//! Dialogues with a scripted peer: what the client sends, what it concludes.

use super::*;
use crate::outbound::reply::ReplyReader;

fn reply(text: &str) -> Reply {
    let mut r = ReplyReader::default();
    r.feed(text.as_bytes());
    if !text.ends_with('\n') {
        r.feed(b"\r\n");
    }
    r.next_reply().unwrap().unwrap()
}

fn settings() -> Settings {
    Settings {
        helo: "a.test".into(),
        starttls: true,
        ..Settings::default()
    }
}

/// Feeds `replies` in turn, collecting every command sent; stops at the first step that
/// is not Send/Read and returns it.
fn drive(c: &mut Client, mut step: Step, replies: &[&str], sent: &mut String) -> Step {
    let mut replies = replies.iter();
    loop {
        match step {
            Step::Send(b) => {
                sent.push_str(&String::from_utf8(b).unwrap());
                let Some(r) = replies.next() else {
                    return Step::Read;
                };
                step = c.on_reply(reply(r));
            }
            Step::Read => {
                let Some(r) = replies.next() else {
                    return Step::Read;
                };
                step = c.on_reply(reply(r));
            }
            other => return other,
        }
    }
}

const EHLO_ALL: &str = "250-b.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250-STARTTLS\r\n250-DSN\r\n250 SMTPUTF8\r\n";
const EHLO_TLS: &str = "250-b.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250-DSN\r\n250-AUTH LOGIN PLAIN\r\n250 SMTPUTF8\r\n";

fn txn(rcpts: &[&str]) -> Transaction {
    Transaction {
        sender: "s@a.test".into(),
        rcpts: rcpts
            .iter()
            .map(|r| RcptSpec {
                address: r.to_string(),
                ..RcptSpec::default()
            })
            .collect(),
        size: 100,
        ..Transaction::default()
    }
}

fn ready_with_tls(s: Settings, verify: Result<(), String>) -> (Client, String) {
    let (mut c, step) = Client::new(s);
    let mut sent = String::new();
    let step = drive(&mut c, step, &["220 hi", EHLO_ALL, "220 go"], &mut sent);
    assert!(matches!(step, Step::StartTls), "{step:?}");
    let step = c.tls_started(verify);
    let step = drive(&mut c, step, &[EHLO_TLS], &mut sent);
    if c.settings.auth.is_some() {
        let step = drive(&mut c, step, &["235 ok"], &mut sent);
        assert!(matches!(step, Step::Ready), "{step:?}");
    } else {
        assert!(matches!(step, Step::Ready), "{step:?}");
    }
    (c, sent)
}

#[test]
fn pipelined_session_with_starttls_and_one_refused_recipient() {
    let (mut c, sent) = ready_with_tls(settings(), Err("self-signed".into()));
    assert_eq!(sent, "EHLO a.test\r\nSTARTTLS\r\nEHLO a.test\r\n");
    assert!(c.tls_active() && !c.verified);
    let mut sent = String::new();
    let step = c.start(&txn(&["x@b.test", "y@b.test", "z@b.test"]));
    let step = drive(
        &mut c,
        step,
        &[
            "250 ok",
            "250 ok",
            "550 5.1.1 no such user",
            "250 ok",
            "354 go",
        ],
        &mut sent,
    );
    assert!(matches!(step, Step::SendBody));
    assert_eq!(
        sent,
        "MAIL FROM:<s@a.test> SIZE=100\r\nRCPT TO:<x@b.test>\r\nRCPT TO:<y@b.test>\r\n\
         RCPT TO:<z@b.test>\r\nDATA\r\n"
    );
    assert_eq!(c.phase(), Phase::DataEnd);
    let Step::Done(r) = c.on_reply(reply("250 2.0.0 queued as X")) else {
        panic!()
    };
    assert_eq!(
        r[0],
        (
            RcptState::Delivered,
            "250 2.0.0 queued as X (end of DATA)".into()
        )
    );
    assert_eq!(
        r[1],
        (RcptState::Failed, "550 5.1.1 no such user (RCPT TO)".into())
    );
    assert_eq!(r[2].0, RcptState::Delivered);
    assert!(c.is_ready());
    // Reuse: RSET probe, then QUIT.
    let mut sent = String::new();
    let step = c.reset();
    assert!(matches!(
        drive(&mut c, step, &["250 ok"], &mut sent),
        Step::Ready
    ));
    let step = c.quit();
    assert!(matches!(
        drive(&mut c, step, &["221 bye"], &mut sent),
        Step::Closed
    ));
    assert_eq!(sent, "RSET\r\nQUIT\r\n");
}

#[test]
fn without_pipelining_one_command_at_a_time_and_helo_fallback() {
    let (mut c, step) = Client::new(settings());
    let mut sent = String::new();
    let step = drive(
        &mut c,
        step,
        &["220 hi", "502 what", "250 hello"],
        &mut sent,
    );
    assert!(matches!(step, Step::Ready));
    assert_eq!(sent, "EHLO a.test\r\nHELO a.test\r\n");
    let mut sent = String::new();
    let step = c.start(&txn(&["x@b.test", "y@b.test"]));
    let step = drive(
        &mut c,
        step,
        &["250 ok", "450 busy", "250 ok", "354 go"],
        &mut sent,
    );
    assert!(matches!(step, Step::SendBody));
    assert_eq!(
        sent,
        "MAIL FROM:<s@a.test>\r\nRCPT TO:<x@b.test>\r\nRCPT TO:<y@b.test>\r\nDATA\r\n"
    );
    let Step::Done(r) = c.on_reply(reply("451 later")) else {
        panic!()
    };
    assert_eq!(
        r[0],
        (RcptState::Deferred, "450 4.0.0 busy (RCPT TO)".into())
    );
    assert_eq!(
        r[1],
        (RcptState::Deferred, "451 4.0.0 later (end of DATA)".into())
    );
}

#[test]
fn refused_sender_and_all_refused_recipients_reset_without_data() {
    let (mut c, step) = Client::new(settings());
    let mut sent = String::new();
    drive(
        &mut c,
        step,
        &["220 hi", "250-b\r\n250 PIPELINING"],
        &mut sent,
    );
    let mut sent = String::new();
    let step = c.start(&txn(&["x@b.test", "y@b.test"]));
    let step = drive(
        &mut c,
        step,
        &["553 5.7.1 sender refused", "503 no", "503 no", "250 reset"],
        &mut sent,
    );
    let Step::Done(r) = step else {
        panic!("{step:?}")
    };
    assert!(r
        .iter()
        .all(|(s, t)| *s == RcptState::Failed && t.contains("sender refused")));
    assert!(
        sent.ends_with("RSET\r\n") && !sent.contains("DATA"),
        "{sent}"
    );
    assert!(c.is_ready());
    let mut sent = String::new();
    let step = c.start(&txn(&["x@b.test"]));
    let step = drive(&mut c, step, &["250 ok", "550 no", "250 reset"], &mut sent);
    let Step::Done(r) = step else { panic!() };
    assert_eq!(r[0].0, RcptState::Failed);
    assert!(!sent.contains("DATA"));
}

#[test]
fn data_refused_and_421_defer_or_fail() {
    let (mut c, step) = Client::new(settings());
    drive(
        &mut c,
        step,
        &["220 hi", "250-b\r\n250 PIPELINING"],
        &mut String::new(),
    );
    let step = c.start(&txn(&["x@b.test"]));
    let step = drive(
        &mut c,
        step,
        &["250 ok", "250 ok", "554 no data", "250 ok"],
        &mut String::new(),
    );
    let Step::Done(r) = step else { panic!() };
    assert_eq!(r[0], (RcptState::Failed, "554 5.0.0 no data (DATA)".into()));
    let step = c.start(&txn(&["x@b.test", "y@b.test"]));
    let step = drive(
        &mut c,
        step,
        &["250 ok", "421 4.3.2 shutting down"],
        &mut String::new(),
    );
    let Step::Done(r) = step else { panic!() };
    assert!(r.iter().all(|(s, _)| *s == RcptState::Deferred));
    assert!(!c.is_ready());
}

#[test]
fn peer_limits_refuse_before_sending() {
    let (mut c, step) = Client::new(settings());
    drive(
        &mut c,
        step,
        &["220 hi", "250-b\r\n250 SIZE 50"],
        &mut String::new(),
    );
    let check = |c: &mut Client, t: Transaction, code: &str| {
        let Step::Done(r) = c.start(&t) else { panic!() };
        assert_eq!(r[0].0, RcptState::Failed);
        assert!(r[0].1.contains(code), "{r:?}");
    };
    check(&mut c, txn(&["x@b.test"]), "5.3.4");
    let mut t = txn(&["x@b.test"]);
    t.size = 10;
    t.eight_bit = true;
    check(&mut c, t.clone(), "5.6.3");
    t.eight_bit = false;
    t.smtputf8 = true;
    check(&mut c, t.clone(), "5.6.7");
    t.smtputf8 = false;
    t.requiretls = true;
    check(&mut c, t.clone(), "5.7.10");
    t.requiretls = false;
    t.sender = "a>\r\nRCPT TO:<evil@x".into();
    check(&mut c, t, "5.1.3");
}

#[test]
fn required_tls_fails_the_session_when_missing_or_unverified() {
    let s = Settings {
        require_tls: true,
        ..settings()
    };
    let (mut c, step) = Client::new(s.clone());
    let step = drive(&mut c, step, &["220 hi", "250 b"], &mut String::new());
    let Step::Fail(f) = step else {
        panic!("{step:?}")
    };
    assert_eq!(f.state, RcptState::Deferred);
    assert!(f.reply.contains("4.7.4"));
    let (mut c, step) = Client::new(s);
    let step = drive(
        &mut c,
        step,
        &["220 hi", EHLO_ALL, "220 go"],
        &mut String::new(),
    );
    assert!(matches!(step, Step::StartTls));
    let Step::Fail(f) = c.tls_started(Err("unknown issuer".into())) else {
        panic!()
    };
    assert!(f.reply.contains("4.7.5") && f.reply.contains("unknown issuer"));
}

#[test]
fn auth_plain_and_dsn_parameters() {
    let s = Settings {
        auth: Some(("me".into(), "pw".into())),
        require_tls: true,
        ..settings()
    };
    let (mut c, sent) = ready_with_tls(s, Ok(()));
    assert!(sent.ends_with("AUTH PLAIN AG1lAHB3\r\n"), "{sent}");
    let mut t = txn(&["x@b.test"]);
    t.eight_bit = true;
    t.ret = Some("HDRS".into());
    t.envid = Some(xtext("id 1+"));
    t.rcpts[0].notify = Some("FAILURE,DELAY".into());
    t.rcpts[0].orcpt = Some(format!("rfc822;{}", xtext("x@b.test")));
    let mut sent = String::new();
    let step = c.start(&t);
    drive(&mut c, step, &[], &mut sent);
    assert_eq!(
        sent,
        "MAIL FROM:<s@a.test> SIZE=100 BODY=8BITMIME RET=HDRS ENVID=id+201+2B\r\n\
         RCPT TO:<x@b.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;x@b.test\r\n"
    );
}

#[test]
fn bad_greeting_is_a_session_failure() {
    let (mut c, step) = Client::new(settings());
    let Step::Fail(f) = drive(&mut c, step, &["554 go away"], &mut String::new()) else {
        panic!()
    };
    assert_eq!(f.state, RcptState::Failed);
    assert_eq!(f.reply, "554 5.0.0 go away (greeting)");
    let broken = c.broken("x");
    assert!(broken.is_empty());
}
