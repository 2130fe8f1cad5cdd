use super::*;
use crate::spool::{Envelope, Recipient};
use std::path::Path;

fn cfg_with(root: &Path, extra: &str) -> Config {
    let text = format!(
        "hostname = \"mx.test\"\nspool_dir = \"spool\"\nmail_root = \"m\"\nusers_file = \"u\"\n{extra}"
    );
    Config::parse(&root.join("mail.toml"), &text).unwrap()
}

fn cfg(root: &Path) -> Config {
    cfg_with(root, "")
}

fn env() -> Envelope {
    Envelope {
        sender: "a@x.test".into(),
        recipients: vec![Recipient::new("b@y.test")],
        ..Envelope::default()
    }
}

const CLEAN: &[u8] = b"From: a@x.test\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <1@x.test>\r\nSubject: hi\r\n\r\nhello\r\n";

#[test]
fn once_moves_incoming_to_queue_with_one_block() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = cfg(dir.path());
    let spool = Spool::open(&cfg.spool_dir).unwrap();
    let body = b"From: a@x.test\r\nSubject: hi\r\n\r\nhello\r\n";
    let id = spool.enqueue(Stage::Incoming, &env(), body).unwrap();
    let opts = Options {
        once: true,
        filter: false,
    };
    run(&cfg, &opts).unwrap();
    assert!(spool.list(Stage::Incoming).unwrap().is_empty());
    assert_eq!(spool.list(Stage::Queue).unwrap(), vec![id.clone()]);
    let text = String::from_utf8(spool.read_message(Stage::Queue, &id).unwrap()).unwrap();
    assert!(
        text.starts_with(
            "X-Spam-Scan: mx.test; parts=1; verdict=pass; problems=no-date\r\n\
             X-Spam-Score: 1.5\r\n\
             X-Spam-Status: No, score=1.5 required=5.0 tests=MISSING_DATE,MISSING_MID\r\n\
             Authentication-Results: mx.test;\r\n\t"
        ),
        "{text}"
    );
    assert!(text.ends_with("hello\r\n"));
    let e = spool.read_envelope(Stage::Queue, &id).unwrap();
    assert_eq!((e.recipients.len(), e.quarantine_reason), (1, None));
}

#[test]
fn rescan_after_crash_adds_no_second_block_and_keeps_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = cfg(dir.path());
    let spool = Spool::open(&cfg.spool_dir).unwrap();
    // As if a crash hit after the block was written but before the move.
    let msg = b"X-Spam-Scan: mx.test; parts=1; verdict=pass\r\nSubject: x\r\n\r\n.\r\n";
    let id = spool.enqueue(Stage::Incoming, &env(), msg).unwrap();
    assert!(scan_one(&cfg, &Context::new(&cfg), &spool, &id)
        .unwrap()
        .is_some());
    assert_eq!(spool.read_message(Stage::Queue, &id).unwrap(), msg);
    assert!(
        scan_one(&cfg, &Context::new(&cfg), &spool, &id)
            .unwrap()
            .is_none(),
        "gone"
    );
    let held = b"X-Spam-Scan: mx.test; parts=1; verdict=virus; virus=Eicar\r\n\r\nx\r\n";
    let id = spool.enqueue(Stage::Incoming, &env(), held).unwrap();
    let r = scan_one(&cfg, &Context::new(&cfg), &spool, &id)
        .unwrap()
        .unwrap();
    assert_eq!(r.verdict, Verdict::Virus);
    let e = spool.read_envelope(Stage::Quarantine, &id).unwrap();
    assert_eq!(e.quarantine_reason.as_deref(), Some("virus Eicar"));
}

#[test]
fn forged_status_is_replaced_and_gtube_is_junk() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = cfg(dir.path());
    let spool = Spool::open(&cfg.spool_dir).unwrap();
    let mut msg = b"X-Spam-Status: No, score=-100\r\n".to_vec();
    msg.extend_from_slice(CLEAN);
    msg.extend_from_slice(rules::GTUBE.as_bytes());
    msg.extend_from_slice(b"\r\n");
    let id = spool.enqueue(Stage::Incoming, &env(), &msg).unwrap();
    let r = scan_one(&cfg, &Context::new(&cfg), &spool, &id)
        .unwrap()
        .unwrap();
    assert_eq!(r.verdict, Verdict::Junk);
    let stored = spool.read_message(Stage::Queue, &id).unwrap();
    let text = String::from_utf8_lossy(&stored);
    assert_eq!(text.matches("X-Spam-Status:").count(), 1, "{text}");
    let ours = read_ours(&stored, "mx.test").unwrap();
    assert!(ours.spam && ours.score == Some(10.0), "{ours:?}");
}

#[test]
fn high_score_is_quarantined_with_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = cfg_with(
        dir.path(),
        "[scan]\njunk_score = 2.0\nquarantine_score = 3.0\n",
    );
    let spool = Spool::open(&cfg.spool_dir).unwrap();
    let id = spool
        .enqueue(Stage::Incoming, &env(), b"Subject: x\r\n\r\nbody\r\n")
        .unwrap();
    let r = scan_one(&cfg, &Context::new(&cfg), &spool, &id)
        .unwrap()
        .unwrap();
    assert_eq!(r.verdict, Verdict::Quarantine);
    let e = spool.read_envelope(Stage::Quarantine, &id).unwrap();
    assert_eq!(e.quarantine_reason.as_deref(), Some("score 3.0 >= 3.0"));
}

#[test]
fn clamd_down_leaves_mail_in_incoming_unless_accepting() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("none.sock");
    let extra = format!(
        "[scan]\nclamd_socket = \"{}\"\nclamd_timeout_secs = 1\n",
        sock.display()
    );
    let cfg = cfg_with(dir.path(), &extra);
    let spool = Spool::open(&cfg.spool_dir).unwrap();
    let a = spool.enqueue(Stage::Incoming, &env(), CLEAN).unwrap();
    let b = spool.enqueue(Stage::Incoming, &env(), CLEAN).unwrap();
    let mut failing = HashSet::new();
    assert_eq!(
        scan_incoming(&cfg, &Context::new(&cfg), &spool, &mut failing),
        0
    );
    assert_eq!(spool.list(Stage::Incoming).unwrap().len(), 2);
    assert!(failing.contains(&a) && failing.contains(&b));
    let cfg = cfg_with(
        dir.path(),
        &format!("{extra}on_scanner_failure = \"accept\"\n"),
    );
    assert_eq!(
        scan_incoming(&cfg, &Context::new(&cfg), &spool, &mut failing),
        2
    );
    let text = String::from_utf8(spool.read_message(Stage::Queue, &a).unwrap()).unwrap();
    assert!(text.contains("problems=not-virus-scanned"), "{text}");
}

#[test]
fn filter_prints_verdict_and_headers() {
    let dir = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    filter(&cfg(dir.path()), b"Subject: x\n\nbody\n", &mut out).unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.starts_with(
            "pass\nX-Spam-Scan: mx.test; parts=1; verdict=pass; problems=no-from,no-date\n\
             X-Spam-Score: 3.0\n\
             X-Spam-Status: No, score=3.0 required=5.0 tests=MISSING_FROM,MISSING_DATE,MISSING_MID\n\
             Authentication-Results: mx.test;\n\t"
        ),
        "{out}"
    );
    assert!(!out.contains('\r'), "{out}");
}

#[test]
fn allowlisted_skips_scoring_and_dnsbl_adds_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = cfg(dir.path());
    let ctx = Context::new(&cfg);
    let gtube = [CLEAN, rules::GTUBE.as_bytes()].concat();
    let mut e = env();
    e.allowlisted = true;
    let j = judge(&cfg, &ctx, "t", &e, &gtube).unwrap();
    assert_eq!(j.report.verdict, Verdict::Pass);
    assert_eq!(
        j.report.status(),
        "No, score=0.0 required=5.0 tests=ALLOWLISTED"
    );
    let mut e = env();
    e.dnsbl_hits = vec!["bl.test".into(), "bl2.test".into()];
    let j = judge(&cfg, &ctx, "t", &e, CLEAN).unwrap();
    assert_eq!(j.report.verdict, Verdict::Junk, "{:?}", j.report.hits);
    assert!(j
        .report
        .status()
        .contains("tests=DNSBL_bl.test,DNSBL_bl2.test"));
}

#[test]
fn oversized_message_passes_unscanned_instead_of_waiting_forever() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("none.sock");
    let extra = format!(
        "[scan]\nclamd_socket = \"{}\"\nclamd_max_size = 10\n",
        sock.display()
    );
    let cfg = cfg_with(dir.path(), &extra);
    let j = judge(&cfg, &Context::new(&cfg), "t", &env(), CLEAN).unwrap();
    assert!(j.report.problems.contains(&"not-virus-scanned"));
    assert_eq!(j.report.verdict, Verdict::Pass);
}
