//! Expansion: aliases once, hops, SRS copies, list posts.

use super::*;
use crate::aliases::Aliases;
use crate::srs::Srs;
use crate::users::UserDb;
use std::path::Path;

fn setup() -> (Config, Directory) {
    let cfg = Config::parse(
        Path::new("/x/mail.toml"),
        "hostname = \"h\"\nspool_dir = \"s\"\nmail_root = \"m\"\nusers_file = \"u\"\n\
         recipient_delimiter = \"+\"\n[domains.\"example.test\"]\n",
    )
    .unwrap();
    let users = UserDb::parse(
        Path::new("/x/u"),
        "demo@example.test:x::::::\nbob@example.test:x::::::\n",
    )
    .unwrap();
    let aliases =
        Aliases::parse(Path::new("/x/a"), "team: demo, bob, x@remote.test, |cat\n").unwrap();
    (cfg, Directory::new(users, aliases))
}

#[test]
fn replaces_recipients_once_and_keeps_original() {
    let (cfg, dir) = setup();
    let mut env = Envelope {
        recipients: vec![
            Recipient::new("Team@example.test"),
            Recipient::new("demo+news@example.test"),
            Recipient::new("ghost@example.test"),
        ],
        ..Envelope::default()
    };
    let failed = expand_envelope(&dir, &cfg, &mut env, 3);
    let got: Vec<(&str, Option<&str>, RcptState)> = env
        .recipients
        .iter()
        .map(|r| (r.address.as_str(), r.original.as_deref(), r.state))
        .collect();
    use RcptState::*;
    assert_eq!(
        got,
        vec![
            ("demo@example.test", Some("Team@example.test"), Pending),
            ("bob@example.test", Some("Team@example.test"), Pending),
            ("x@remote.test", Some("Team@example.test"), Pending),
            ("team@example.test", Some("Team@example.test"), Failed),
            ("ghost@example.test", None, Failed),
        ]
    );
    assert_eq!(failed.len(), 2);
    assert!(env.recipients.iter().all(|r| r.expanded));
    let before = env.clone();
    expand_envelope(&dir, &cfg, &mut env, 3);
    assert_eq!(env, before, "expansion happens once");
}

#[test]
fn too_many_hops_fail() {
    let (cfg, dir) = setup();
    let mut env = Envelope {
        recipients: vec![Recipient::new("demo@example.test")],
        ..Envelope::default()
    };
    let failed = expand_envelope(&dir, &cfg, &mut env, MAX_HOPS + 1);
    assert_eq!(failed.len(), 1);
    assert!(env.recipients[0]
        .reply
        .as_deref()
        .unwrap()
        .starts_with("554 5.4.6 too many hops"));
}

/// A config in a temporary directory (spool inside), users demo and bob, demo forwarded
/// to a remote address with a copy kept, a members-only list `team` of bob and x@remote.
fn with_spool() -> (tempfile::TempDir, Config, Directory, Spool) {
    use crate::forward::{Forward, Forwards};
    use crate::mlist::{List, Lists, Policy};
    let tmp = tempfile::tempdir().unwrap();
    let cfg = Config::parse(
        &tmp.path().join("mail.toml"),
        "hostname = \"h\"\nspool_dir = \"spool\"\nmail_root = \"m\"\nusers_file = \"u\"\n\
         [domains.\"example.test\"]\n",
    )
    .unwrap();
    let users = UserDb::parse(
        Path::new("/x/u"),
        "demo@example.test:x::::::\nbob@example.test:x::::::\n",
    )
    .unwrap();
    let mut f = Forwards::default();
    f.map.insert(
        "demo@example.test".into(),
        Forward {
            targets: vec!["x@remote.test".into()],
            keep_copy: true,
        },
    );
    let mut l = Lists::default();
    l.map.insert(
        "team@example.test".into(),
        List {
            policy: Policy::MembersOnly,
            owner: None,
            members: vec!["bob@example.test".into(), "x@remote.test".into()],
        },
    );
    let dir = Directory::new(users, Aliases::parse(Path::new("/x/a"), "").unwrap()).with_tables(
        f,
        l,
        Some(Srs::new(b"0123456789abcdef0123")),
    );
    let spool = Spool::open(&cfg.spool_dir).unwrap();
    (tmp, cfg, dir, spool)
}

fn queued(spool: &Spool, sender: &str, to: &str, msg: &str) -> Envelope {
    let env = Envelope {
        sender: sender.into(),
        recipients: vec![Recipient::new(to)],
        ..Envelope::default()
    };
    let id = spool.enqueue(Stage::Queue, &env, msg.as_bytes()).unwrap();
    spool.read_envelope(Stage::Queue, &id).unwrap()
}

fn others(spool: &Spool, id: &str) -> Vec<(Envelope, String)> {
    spool
        .list(Stage::Queue)
        .unwrap()
        .into_iter()
        .filter(|i| i != id)
        .map(|i| {
            let m = spool.read_message(Stage::Queue, &i).unwrap();
            (
                spool.read_envelope(Stage::Queue, &i).unwrap(),
                String::from_utf8(m).unwrap(),
            )
        })
        .collect()
}

#[test]
fn remote_forward_is_a_copy_with_an_srs_sender_committed_first() {
    let (_t, cfg, dir, spool) = with_spool();
    let mut env = queued(
        &spool,
        "alice@origin.test",
        "demo@example.test",
        "Subject: x\r\n\r\nhi\r\n",
    );
    expand_envelope(&dir, &cfg, &mut env, 1);
    let copies = others(&spool, &env.id);
    assert_eq!(copies.len(), 1);
    let (c, text) = &copies[0];
    assert!(c.sender.starts_with("SRS0="), "{}", c.sender);
    assert!(
        c.sender.ends_with("=origin.test=alice@example.test"),
        "{}",
        c.sender
    );
    assert_eq!(c.recipients.len(), 1);
    assert_eq!(c.recipients[0].address, "x@remote.test");
    assert!(c.recipients[0].expanded);
    assert_eq!(
        c.recipients[0].original.as_deref(),
        Some("demo@example.test")
    );
    assert_eq!(text, "Subject: x\r\n\r\nhi\r\n");
    let states: Vec<(&str, RcptState)> = env
        .recipients
        .iter()
        .map(|r| (r.address.as_str(), r.state))
        .collect();
    assert_eq!(
        states,
        vec![
            ("demo@example.test", RcptState::Pending),
            ("x@remote.test", RcptState::Delivered)
        ]
    );
    assert!(env.recipients[1].reply.as_deref().unwrap().contains(&c.id));
    // Recorded on disk before returning: a second pass makes no second copy.
    assert_eq!(spool.read_envelope(Stage::Queue, &env.id).unwrap(), env);
    let mut again = spool.read_envelope(Stage::Queue, &env.id).unwrap();
    expand_envelope(&dir, &cfg, &mut again, 1);
    assert_eq!(others(&spool, &env.id).len(), 1);
}

#[test]
fn null_sender_and_local_senders_are_not_rewritten() {
    let (_t, cfg, dir, spool) = with_spool();
    let mut env = queued(&spool, "", "demo@example.test", "Subject: x\r\n\r\n");
    expand_envelope(&dir, &cfg, &mut env, 1);
    assert!(others(&spool, &env.id).is_empty());
    assert_eq!(env.recipients[0].address, "x@remote.test");
    assert_eq!(env.recipients[0].state, RcptState::Pending);
}

#[test]
fn list_post_is_one_copy_with_list_headers_and_no_loop() {
    let (_t, cfg, dir, spool) = with_spool();
    let mut env = queued(
        &spool,
        "bob@example.test",
        "team@example.test",
        "Subject: x\r\n\r\nhi\r\n",
    );
    expand_envelope(&dir, &cfg, &mut env, 1);
    let copies = others(&spool, &env.id);
    assert_eq!(copies.len(), 1);
    let (c, text) = &copies[0];
    assert_eq!(c.sender, "team-bounces@example.test");
    let to: Vec<&str> = c.recipients.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(to, vec!["bob@example.test", "x@remote.test"]);
    assert!(c.recipients.iter().all(|r| !r.expanded));
    assert!(
        text.starts_with("List-Id: <team.example.test>\r\n"),
        "{text}"
    );
    assert_eq!(env.recipients[0].state, RcptState::Delivered);
    // The copy, posted back to the list, is not exploded again.
    let mut back = queued(&spool, "bob@example.test", "team@example.test", text);
    expand_envelope(&dir, &cfg, &mut back, 1);
    assert_eq!(back.recipients[0].state, RcptState::Delivered);
    assert_eq!(spool.list(Stage::Queue).unwrap().len(), 3);
}

#[test]
fn strangers_may_not_post_to_a_members_only_list() {
    let (_t, cfg, dir, spool) = with_spool();
    let mut env = queued(
        &spool,
        "eve@remote.test",
        "team@example.test",
        "Subject: x\r\n\r\n",
    );
    let failed = expand_envelope(&dir, &cfg, &mut env, 1);
    assert_eq!(failed.len(), 1);
    assert!(env.recipients[0]
        .reply
        .as_deref()
        .unwrap()
        .starts_with("550 5.7.1"));
    assert!(others(&spool, &env.id).is_empty());
}

#[test]
fn counts_received_in_the_header_only() {
    let msg = "Received: a\r\nreceived: b\r\n\tcont\r\nSubject: x\r\n\r\nReceived: body\r\n";
    assert_eq!(count_received(msg.as_bytes()).unwrap(), 2);
}
