//! Bounce tests over a real temporary spool: entries in `bounce/` become DSNs in `queue/`.

use super::*;
use std::path::Path;

fn cfg(dir: &Path, extra: &str) -> Config {
    let text = format!(
        "hostname = \"mx.example.test\"\nspool_dir = \"{}\"\nmail_root = \"m\"\nusers_file = \"u\"\n[domains.\"example.test\"]\n{extra}",
        dir.join("spool").display()
    );
    Config::parse(&dir.join("mail.toml"), &text).unwrap()
}

const MESSAGE: &[u8] = b"Subject: report\r\nFrom: a@example.test\r\n\r\nthe body\r\n";

fn failed(addr: &str, reply: &str) -> Recipient {
    Recipient {
        state: RcptState::Failed,
        reply: Some(reply.into()),
        ..Recipient::new(addr)
    }
}

fn entry(sender: &str, recipients: Vec<Recipient>) -> Envelope {
    Envelope {
        sender: sender.into(),
        recipients,
        received_at: 1_700_000_000,
        ..Envelope::default()
    }
}

/// The DSNs now in the queue: (envelope, text).
fn dsns(spool: &Spool) -> Vec<(Envelope, String)> {
    spool
        .list(Stage::Queue)
        .unwrap()
        .iter()
        .map(|id| {
            let env = spool.read_envelope(Stage::Queue, id).unwrap();
            let text = String::from_utf8(spool.read_message(Stage::Queue, id).unwrap()).unwrap();
            (env, text)
        })
        .collect()
}

#[test]
fn one_bounce_lists_every_failed_recipient() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = cfg(dir.path(), "");
    let spool = Spool::open(&cfg.spool_dir).unwrap();
    let mut env = entry(
        "a@example.test",
        vec![
            failed("x@remote.test", "550 5.1.1 <x@remote.test>: no such user"),
            Recipient {
                state: RcptState::Delivered,
                ..Recipient::new("ok@example.test")
            },
            failed("y@remote.test", "554 5.4.7 delivery time expired"),
        ],
    );
    env.envid = Some("ENV-1".into());
    env.dsn_orcpt
        .insert("x@remote.test".into(), "rfc822;X@remote.test".into());
    let id = spool.enqueue(Stage::Bounce, &env, MESSAGE).unwrap();
    assert_eq!(process(&cfg, &spool).unwrap(), 1);
    assert!(
        spool.list(Stage::Bounce).unwrap().is_empty(),
        "entry removed"
    );
    let all = dsns(&spool);
    assert_eq!(all.len(), 1);
    let (denv, text) = &all[0];
    assert_eq!(denv.sender, "", "null envelope sender");
    assert_eq!(denv.recipients[0].address, "a@example.test");
    for want in [
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.test>\r\n",
        "To: <a@example.test>\r\n",
        "Content-Type: multipart/report; report-type=delivery-status;",
        "Auto-Submitted: auto-replied\r\n",
        "Content-Type: message/delivery-status\r\n",
        "Reporting-MTA: dns; mx.example.test\r\n",
        &format!("X-Queue-ID: {id}\r\n"),
        "Original-Envelope-Id: ENV-1\r\n",
        "Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n",
        "Final-Recipient: rfc822;x@remote.test\r\nOriginal-Recipient: rfc822;X@remote.test\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 <x@remote.test>: no such user\r\n",
        "Final-Recipient: rfc822;y@remote.test\r\nAction: failed\r\nStatus: 5.4.7\r\n",
        "Content-Type: message/rfc822\r\n\r\nSubject: report\r\n",
        "the body\r\n",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert!(!text.contains("ok@example.test"), "{text}");
    let (notify, orcpt) = rcpt_params(&env, &env.recipients[0]);
    assert_eq!(
        (notify, orcpt.as_deref()),
        (None, Some("rfc822;X@remote.test"))
    );
    assert_eq!(mail_params(&env), (None, Some("ENV-1".into())));
    // Parses as MIME with three parts.
    let parsed = mail_parser::MessageParser::default()
        .parse(text.as_bytes())
        .unwrap();
    assert_eq!(parsed.parts.len(), 4, "root + 3 parts");
}

#[test]
fn hdrs_and_size_limit_return_headers_only() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = cfg(dir.path(), "[bounce]\nmax_returned_size = 20\n");
    let spool = Spool::open(&cfg.spool_dir).unwrap();
    let env = entry("a@example.test", vec![failed("x@remote.test", "550 no")]);
    spool.enqueue(Stage::Bounce, &env, MESSAGE).unwrap();
    process(&cfg, &spool).unwrap();
    let text = &dsns(&spool)[0].1;
    assert!(
        text.contains("Content-Type: text/rfc822-headers\r\n\r\nSubject: report\r\n"),
        "{text}"
    );
    assert!(!text.contains("the body"), "{text}");
    assert!(text.contains("Status: 5.0.0\r\nDiagnostic-Code: smtp; 550 no\r\n"));
}

#[test]
fn never_bounce_a_bounce_or_notify_never() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = cfg(dir.path(), "");
    let spool = Spool::open(&cfg.spool_dir).unwrap();
    spool
        .enqueue(
            Stage::Bounce,
            &entry("", vec![failed("x@r.test", "550 no")]),
            MESSAGE,
        )
        .unwrap();
    let mut never = entry("a@example.test", vec![failed("x@r.test", "550 no")]);
    never.dsn_notify.insert("x@r.test".into(), "NEVER".into());
    spool.enqueue(Stage::Bounce, &never, MESSAGE).unwrap();
    assert_eq!(process(&cfg, &spool).unwrap(), 0);
    assert!(spool.list(Stage::Bounce).unwrap().is_empty());
    assert!(spool.list(Stage::Queue).unwrap().is_empty());
}

#[test]
fn notify_follows_alias_expansion_and_postmaster_gets_headers() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = cfg(
        dir.path(),
        "[bounce]\nbounce_notice_recipient = \"postmaster@example.test\"\n",
    );
    let spool = Spool::open(&cfg.spool_dir).unwrap();
    let mut env = entry(
        "a@example.test",
        vec![
            Recipient {
                original: Some("team@example.test".into()),
                ..failed("far@remote.test", "550 5.7.1 refused")
            },
            Recipient {
                original: Some("quiet@example.test".into()),
                ..failed("other@remote.test", "550 5.7.1 refused")
            },
        ],
    );
    env.dsn_notify
        .insert("quiet@example.test".into(), "SUCCESS".into());
    spool.enqueue(Stage::Bounce, &env, MESSAGE).unwrap();
    assert_eq!(process(&cfg, &spool).unwrap(), 2);
    let all = dsns(&spool);
    let to_sender = all
        .iter()
        .find(|(e, _)| e.recipients[0].address == "a@example.test")
        .unwrap();
    let text = &to_sender.1;
    assert!(
        text.contains("Final-Recipient: rfc822;far@remote.test\r\nOriginal-Recipient: rfc822;team@example.test\r\n"),
        "{text}"
    );
    assert!(
        !text.contains("other@remote.test"),
        "NOTIFY=SUCCESS only: {text}"
    );
    let to_pm = all
        .iter()
        .find(|(e, _)| e.recipients[0].address == "postmaster@example.test")
        .unwrap();
    assert!(to_pm.1.contains("text/rfc822-headers"), "{}", to_pm.1);
    assert!(!to_pm.1.contains("the body"));
}

#[test]
fn delay_warning_once_and_only_when_due() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = cfg(dir.path(), "[bounce]\ndelay_warning_secs = 3600\n");
    let spool = Spool::open(&cfg.spool_dir).unwrap();
    let t0 = 1_700_000_000;
    let deferred = |a: &str| Recipient {
        state: RcptState::Deferred,
        reply: Some("451 4.4.1 connection refused".into()),
        ..Recipient::new(a)
    };
    let mut env = entry(
        "a@example.test",
        vec![deferred("x@r.test"), deferred("n@r.test")],
    );
    env.dsn_notify.insert("n@r.test".into(), "FAILURE".into());
    let id = spool.enqueue(Stage::Queue, &env, MESSAGE).unwrap();
    assert_eq!(delay_warnings(&cfg, &spool, t0 + 3599).unwrap(), 0);
    assert_eq!(delay_warnings(&cfg, &spool, t0 + 3600).unwrap(), 1);
    assert_eq!(
        delay_warnings(&cfg, &spool, t0 + 7200).unwrap(),
        0,
        "sent once"
    );
    assert!(spool.read_envelope(Stage::Queue, &id).unwrap().delay_warned);
    let all = dsns(&spool);
    let (denv, text) = all.iter().find(|(e, _)| e.sender.is_empty()).unwrap();
    assert_eq!(denv.recipients[0].address, "a@example.test");
    assert!(
        text.contains("Action: delayed\r\nStatus: 4.4.1\r\n"),
        "{text}"
    );
    assert!(text.contains("Subject: Delayed Mail"), "{text}");
    assert!(
        !text.contains("n@r.test"),
        "NOTIFY=FAILURE: no delay notice: {text}"
    );
    assert!(!text.contains("the body"), "headers only: {text}");
}

#[test]
fn delay_counts_from_release_and_skips_busy_and_null_sender() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = cfg(dir.path(), "[bounce]\ndelay_warning_secs = 60\n");
    let spool = Spool::open(&cfg.spool_dir).unwrap();
    let r = Recipient {
        state: RcptState::Deferred,
        ..Recipient::new("x@r.test")
    };
    let mut held = entry("a@example.test", vec![r.clone()]);
    held.hold_until = 1_700_000_000 + 1000;
    spool.enqueue(Stage::Queue, &held, MESSAGE).unwrap();
    spool
        .enqueue(Stage::Queue, &entry("", vec![r.clone()]), MESSAGE)
        .unwrap();
    let busy = spool
        .enqueue(Stage::Queue, &entry("b@example.test", vec![r]), MESSAGE)
        .unwrap();
    let now = 1_700_000_000 + 1059;
    assert_eq!(
        delay_warnings_except(&cfg, &spool, now, |id| id == busy).unwrap(),
        0
    );
    assert_eq!(
        delay_warnings_except(&cfg, &spool, now + 1, |id| id == busy).unwrap(),
        1
    );
}

#[test]
fn success_notice_for_notify_success_only() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = cfg(dir.path(), "");
    let spool = Spool::open(&cfg.spool_dir).unwrap();
    let ok = |a: &str| Recipient {
        state: RcptState::Delivered,
        reply: Some("250 2.0.0 delivered".into()),
        ..Recipient::new(a)
    };
    let mut env = entry(
        "a@example.test",
        vec![ok("s@example.test"), ok("q@example.test")],
    );
    env.dsn_notify
        .insert("s@example.test".into(), "SUCCESS,FAILURE".into());
    let id = spool.enqueue(Stage::Queue, &env, MESSAGE).unwrap();
    let env = spool.read_envelope(Stage::Queue, &id).unwrap();
    let dsn = success_notice(&cfg, &spool, &env, &env.recipients, 1_700_000_100)
        .unwrap()
        .unwrap();
    let text = String::from_utf8(spool.read_message(Stage::Queue, &dsn).unwrap()).unwrap();
    assert!(
        text.contains(
            "Final-Recipient: rfc822;s@example.test\r\nAction: delivered\r\nStatus: 2.0.0\r\n"
        ),
        "{text}"
    );
    assert!(!text.contains("q@example.test"), "{text}");
    let quiet = Envelope {
        dsn_notify: Default::default(),
        ..env.clone()
    };
    assert_eq!(
        success_notice(&cfg, &spool, &quiet, &quiet.recipients, 1).unwrap(),
        None
    );
}

#[test]
fn report_pieces() {
    assert_eq!(status_of("550 5.1.1 <a@b>: no"), Some("5.1.1"));
    assert_eq!(status_of("451 4.4.0 x"), Some("4.4.0"));
    assert_eq!(status_of("550 no such user 1.2.3"), None);
    assert_eq!(header_of(b"A: b\r\n\r\nbody"), b"A: b\r\n\r\n");
    assert_eq!(header_of(b"A: b\n\nbody"), b"A: b\n\n");
    assert_eq!(header_of(b"A: b\r\n"), b"A: b\r\n");
    // A reply with CR LF in it cannot add fields to the report.
    let env = entry(
        "a@example.test",
        vec![failed("x@r.test", "550 bad\r\nAction: delivered")],
    );
    let r = Report {
        kind: Kind::Failed,
        hostname: "mx.example.test",
        to: "a@example.test",
        env: &env,
        recipients: vec![(&env.recipients[0], None)],
        date: "d",
        arrival_date: "d",
        message_id: "<m@x>",
        boundary: "B",
        returned: Returned::Headers,
    };
    let text = String::from_utf8(build(&r, MESSAGE)).unwrap();
    assert_eq!(text.matches("\r\nAction:").count(), 1, "{text}");
}

#[test]
fn corrupt_entry_is_parked_in_hold() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = cfg(dir.path(), "");
    let spool = Spool::open(&cfg.spool_dir).unwrap();
    let env = entry("a@example.test", vec![failed("x@r.test", "550 no")]);
    let id = spool.enqueue(Stage::Bounce, &env, MESSAGE).unwrap();
    let path = spool.stage_dir(Stage::Bounce).join(&id).join("envelope");
    std::fs::write(&path, "this is = not [toml").unwrap();
    assert_eq!(process(&cfg, &spool).unwrap(), 0);
    assert_eq!(spool.list(Stage::Hold).unwrap(), vec![id]);
    assert!(spool.list(Stage::Queue).unwrap().is_empty());
}
