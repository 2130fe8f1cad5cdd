//! One delivery attempt end to end, with a stand-in `local-deliver --lmtp` script in
//! `bin_dir`.

use super::*;
use crate::aliases::Aliases;
use crate::spool::{Envelope, RcptState, Recipient};
use crate::users::UserDb;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const SCRIPT: &str = r#"#!/bin/sh
# LMTP stand-in: --config F --lmtp; replies like local-deliver --lmtp.
[ "$1" = --config ] && [ "$3" = --lmtp ] || exit 64
d="$(dirname "$0")/.."
printf '220 fake\r\n'
while IFS= read -r l; do
  l=$(printf '%s' "$l" | tr -d '\r')
  case "$l" in
    LHLO*) printf '250 fake\r\n' ;;
    "MAIL FROM:<"*) s=${l#MAIL FROM:<}; s=${s%%>*}; id=${l##*ENVID=}; rcpts=""; printf '250 2.1.0 ok\r\n' ;;
    "RCPT TO:<"*) r=${l#RCPT TO:<}; r=${r%>}; rcpts="$rcpts $r"; printf '250 2.1.5 ok\r\n' ;;
    DATA) printf '354 go\r\n'; : > "$d/msg"
      while IFS= read -r m; do
        [ "$(printf '%s' "$m" | tr -d '\r')" = . ] && break
        printf '%s\n' "$m" >> "$d/msg"
      done
      for r in $rcpts; do case "$r" in
        demo@example.test) cat "$d/msg" >> "$d/got-$id-$s"; printf '250 2.0.0 delivered to=<%s>\r\n' "$r" ;;
        snap@example.test) cp "$d/spool/queue/$id/envelope" "$d/snap-$id"; printf '250 2.0.0 ok\r\n' ;;
        full@example.test) printf '451 4.2.2 mailbox full (#4.2.2)\r\n' ;;
        *) printf '550 5.1.1 unknown user %s (#5.1.1)\r\n' "$r" ;;
      esac; done ;;
    QUIT) printf '221 bye\r\n'; exit 0 ;;
    *) printf '250 ok\r\n' ;;
  esac
done
"#;

struct Setup {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    cfg: Config,
    spool: Spool,
    dir: Directory,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    std::fs::create_dir(root.join("bin")).unwrap();
    let script = root.join("bin/local-deliver");
    std::fs::write(&script, SCRIPT).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let text = "hostname = \"h\"\nspool_dir = \"spool\"\nmail_root = \"m\"\nusers_file = \"u\"\n\
                bin_dir = \"bin\"\nrecipient_delimiter = \"+\"\n[domains.\"example.test\"]\n\
                [outbound]\ntransports = { \"remote.test\" = \"127.0.0.1:1\" }\n";
    let cfg = Config::parse(&root.join("mail.toml"), text).unwrap();
    let users = "demo@example.test:x::::::\nfull@example.test:x::::::\nbob@example.test:x::::::\n\
                 snap@example.test:x::::::\n";
    let users = UserDb::parse(Path::new("u"), users).unwrap();
    let aliases = Aliases::parse(Path::new("a"), "list: demo, full\n").unwrap();
    let spool = Spool::open(&cfg.spool_dir).unwrap();
    Setup {
        _dir: tmp,
        root,
        cfg,
        spool,
        dir: Directory::new(users, aliases),
    }
}

fn enqueue(s: &Setup, rcpts: &[&str]) -> String {
    let env = Envelope {
        sender: "a@remote.test".into(),
        recipients: rcpts.iter().map(|r| Recipient::new(r)).collect(),
        received_at: message::now(),
        ..Envelope::default()
    };
    s.spool
        .enqueue(Stage::Queue, &env, b"Subject: t\r\n\r\nhi\r\n")
        .unwrap()
}

#[test]
fn delivered_message_is_removed() {
    let s = setup();
    let id = enqueue(&s, &["Demo+x@example.test"]);
    process(&s.cfg, &s.spool, &s.dir, &id).unwrap();
    assert!(s.spool.list(Stage::Queue).unwrap().is_empty());
    assert!(s.spool.list(Stage::Bounce).unwrap().is_empty());
    let got = std::fs::read(s.root.join(format!("got-{id}-a@remote.test"))).unwrap();
    assert_eq!(got, b"Subject: t\r\n\r\nhi\r\n");
}

#[test]
fn deferred_recipient_is_retried_later_and_delivered_one_is_not_repeated() {
    let s = setup();
    let id = enqueue(&s, &["list@example.test", "x@remote.test"]);
    process(&s.cfg, &s.spool, &s.dir, &id).unwrap();
    let env = s.spool.read_envelope(Stage::Queue, &id).unwrap();
    let states: Vec<(&str, RcptState)> = env
        .recipients
        .iter()
        .map(|r| (r.address.as_str(), r.state))
        .collect();
    assert_eq!(
        states,
        vec![
            ("demo@example.test", RcptState::Delivered),
            ("full@example.test", RcptState::Deferred),
            ("x@remote.test", RcptState::Deferred),
        ]
    );
    assert_eq!(
        env.recipients[1].reply.as_deref(),
        Some("451 4.2.2 mailbox full")
    );
    // Nothing listens on the remote domain's transport port: deferred, to be retried.
    let remote = env.recipients[2].reply.as_deref().unwrap();
    assert!(
        remote.starts_with("451 4.4.1 connect to 127.0.0.1"),
        "{remote}"
    );
    assert_eq!(env.attempts, 1);
    assert!(env.next_attempt > message::now());
    // Not due yet: a second pass changes nothing.
    process(&s.cfg, &s.spool, &s.dir, &id).unwrap();
    assert_eq!(s.spool.read_envelope(Stage::Queue, &id).unwrap(), env);
}

#[test]
fn permanent_failure_goes_to_bounce() {
    let s = setup();
    let id = enqueue(&s, &["demo@example.test", "bob@example.test"]);
    process(&s.cfg, &s.spool, &s.dir, &id).unwrap();
    assert!(s.spool.list(Stage::Queue).unwrap().is_empty());
    let env = s.spool.read_envelope(Stage::Bounce, &id).unwrap();
    assert_eq!(env.recipients[1].state, RcptState::Failed);
    assert_eq!(
        env.recipients[1].reply.as_deref(),
        Some("550 5.1.1 unknown user bob@example.test")
    );
}

#[test]
fn missing_local_deliver_defers() {
    let mut s = setup();
    s.cfg.bin_dir = Some(s.root.join("nowhere"));
    let id = enqueue(&s, &["demo@example.test"]);
    process(&s.cfg, &s.spool, &s.dir, &id).unwrap();
    let env = s.spool.read_envelope(Stage::Queue, &id).unwrap();
    assert_eq!(env.recipients[0].state, RcptState::Deferred);
    assert!(env.recipients[0]
        .reply
        .as_deref()
        .unwrap()
        .starts_with("451 4.3.0 cannot run local-deliver"));
}

#[test]
fn all_local_recipients_share_one_transaction() {
    let s = setup();
    let id = enqueue(&s, &["demo@example.test", "snap@example.test"]);
    process(&s.cfg, &s.spool, &s.dir, &id).unwrap();
    // One transaction: during it nothing is recorded yet (a crash repeats both, loses none).
    let snap = std::fs::read_to_string(s.root.join(format!("snap-{id}"))).unwrap();
    let env = Envelope::from_toml(&snap).unwrap();
    assert_eq!(env.recipients[0].state, RcptState::Pending);
    assert_eq!(env.recipients[1].state, RcptState::Pending);
    assert!(s.spool.list(Stage::Queue).unwrap().is_empty());
}

#[test]
fn crash_before_removal_duplicates_never_loses() {
    let s = setup();
    let id = enqueue(&s, &["demo@example.test"]);
    let entry = s.spool.stage_dir(Stage::Queue).join(&id);
    let saved = s.root.join("saved");
    std::fs::create_dir(&saved).unwrap();
    for f in ["message", "envelope"] {
        std::fs::copy(entry.join(f), saved.join(f)).unwrap();
    }
    process(&s.cfg, &s.spool, &s.dir, &id).unwrap();
    assert!(s.spool.list(Stage::Queue).unwrap().is_empty());
    // The removal is not fsynced: a crash may bring the entry back as it was before the
    // attempt (no envelope was written). Running again delivers it again and removes it.
    std::fs::rename(&saved, &entry).unwrap();
    process(&s.cfg, &s.spool, &s.dir, &id).unwrap();
    assert!(s.spool.list(Stage::Queue).unwrap().is_empty());
    let got = std::fs::read(s.root.join(format!("got-{id}-a@remote.test"))).unwrap();
    assert_eq!(got, b"Subject: t\r\n\r\nhi\r\nSubject: t\r\n\r\nhi\r\n");
}

#[test]
fn scanner_reads_a_waiting_envelope_once() {
    let s = setup();
    let due = enqueue(&s, &["demo@example.test"]);
    let later = enqueue(&s, &["demo@example.test"]);
    let mut env = s.spool.read_envelope(Stage::Queue, &later).unwrap();
    env.next_attempt = message::now() + 3600;
    s.spool.write_envelope(Stage::Queue, &later, &env).unwrap();
    let shared = std::sync::Arc::new(Shared {
        cfg: s.cfg.clone(),
        spool: s.spool.clone(),
        dir: std::sync::RwLock::new(std::sync::Arc::new(Directory::new(
            UserDb::parse(Path::new("u"), "").unwrap(),
            Aliases::parse(Path::new("a"), "").unwrap(),
        ))),
        limits: crate::outbound::limits::Limits::new(1, 1),
    });
    let pool = pool::Pool::start(shared, 1);
    let mut scanner = Scanner::default();
    let (ids, earliest) = scanner.scan(&s.spool, &pool, &s.cfg);
    assert_eq!(ids, vec![due.clone()]);
    assert_eq!(earliest, Some(env.next_attempt));
    // Remembered as waiting: the next wake-up does not read (or choke on) its envelope.
    let path = s
        .spool
        .stage_dir(Stage::Queue)
        .join(&later)
        .join("envelope");
    std::fs::write(&path, "not toml [").unwrap();
    let (ids, earliest) = scanner.scan(&s.spool, &pool, &s.cfg);
    assert_eq!(ids, vec![due]);
    assert_eq!(earliest, Some(env.next_attempt));
    pool.shutdown();
}
