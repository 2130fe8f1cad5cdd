//! Forwards, lists, SRS and domain aliases in lookup and expansion.

use super::*;
use crate::forward::Forward;
use crate::mlist::{List, Policy};
use std::path::Path;

const CONFIG: &str = r#"
hostname = "mx.example.test"
spool_dir = "spool"
mail_root = "mail"
users_file = "users"
recipient_delimiter = "+"
[domains."example.test"]
[domains."example.org"]
alias_of = "example.test"
"#;

const NOW: u64 = 1_795_000_000;

fn cfg() -> Config {
    Config::parse(Path::new("/x/mail.toml"), CONFIG).unwrap()
}

fn dir() -> Directory {
    let users = UserDb::parse(
        Path::new("/x/users"),
        "demo@example.test:{PLAIN}x::::::\nbob@example.test:{PLAIN}x::::::\n",
    )
    .unwrap();
    let mut forwards = Forwards::default();
    let fwd = |t: &[&str], keep_copy| Forward {
        targets: t.iter().map(|s| s.to_string()).collect(),
        keep_copy,
    };
    forwards
        .map
        .insert("demo@example.test".into(), fwd(&["x@remote.test"], true));
    forwards.map.insert(
        "away@example.test".into(),
        fwd(&["bob@example.test"], false),
    );
    forwards.map.insert(
        "ping@example.test".into(),
        fwd(&["pong@example.test"], false),
    );
    forwards.map.insert(
        "pong@example.test".into(),
        fwd(&["ping@example.test"], false),
    );
    let mut lists = Lists::default();
    lists.map.insert(
        "team@example.test".into(),
        List {
            policy: Policy::MembersOnly,
            owner: None,
            members: vec!["bob@example.test".into()],
        },
    );
    lists.map.insert(
        "club@example.test".into(),
        List {
            policy: Policy::Open,
            owner: Some("bob@example.test".into()),
            members: vec![],
        },
    );
    Directory::new(
        users,
        crate::aliases::Aliases::parse(Path::new("/x/a"), "").unwrap(),
    )
    .with_tables(forwards, lists, Some(Srs::new(b"0123456789abcdef0123")))
}

#[test]
fn forwards_are_aliases_with_optional_copy() {
    let (c, d) = (cfg(), dir());
    assert_eq!(d.lookup(&c, "away@example.test"), Lookup::Alias);
    assert_eq!(d.lookup(&c, "Demo+x@example.test"), Lookup::Alias);
    assert_eq!(
        d.expand(&c, "demo@example.test").unwrap(),
        vec![
            Target::Remote("x@remote.test".into()),
            Target::Local("demo@example.test".into())
        ]
    );
    assert_eq!(
        d.expand(&c, "away@example.test").unwrap(),
        vec![Target::Local("bob@example.test".into())]
    );
    let looped = d.expand(&c, "ping@example.test").unwrap();
    assert!(
        matches!(&looped[..], [Target::Failed { reply, .. }] if reply.contains("5.4.6")),
        "{looped:?}"
    );
}

#[test]
fn lists_and_their_robot_addresses() {
    let (c, d) = (cfg(), dir());
    assert_eq!(d.lookup(&c, "Team@example.test"), Lookup::Alias);
    assert_eq!(
        d.expand(&c, "team@example.test").unwrap(),
        vec![Target::List("team@example.test".into())]
    );
    assert!(matches!(
        &d.expand(&c, "team-bounces@example.test").unwrap()[..],
        [Target::Discard { .. }]
    ));
    assert!(matches!(
        &d.expand(&c, "team-request@example.test").unwrap()[..],
        [Target::Failed { reply, .. }] if reply.starts_with("550")
    ));
    assert_eq!(
        d.expand(&c, "club-bounces@example.test").unwrap(),
        vec![Target::Local("bob@example.test".into())]
    );
    assert!(d.may_post("bob@example.test", "team@example.test").is_ok());
    let e = d
        .may_post("eve@remote.test", "TEAM@example.test")
        .unwrap_err();
    assert!(e.starts_with("550 5.7.1"), "{e}");
    assert!(d.may_post("eve@remote.test", "club@example.test").is_ok());
    assert!(d.may_post("eve@remote.test", "bob@example.test").is_ok());
}

#[test]
fn srs_addresses_reverse_or_are_unknown() {
    let (c, d) = (cfg(), dir());
    let srs = d.srs().unwrap().clone();
    let a = srs.forward(
        "alice@remote.test",
        "example.test",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    );
    assert_eq!(d.lookup(&c, &a), Lookup::Alias);
    assert_eq!(
        d.expand(&c, &a).unwrap(),
        vec![Target::Remote("alice@remote.test".into())]
    );
    let old = srs.forward("alice@remote.test", "example.test", NOW - 40 * 86_400);
    assert_eq!(d.lookup(&c, &old), Lookup::Unknown);
    let forged = a.replacen("SRS0=", "SRS0=x", 1);
    assert_eq!(d.lookup(&c, &forged), Lookup::Unknown);
    let no_key = Directory::default();
    assert_eq!(no_key.lookup(&c, &a), Lookup::Unknown);
}

#[test]
fn domain_alias_maps_to_its_target() {
    let (c, d) = (cfg(), dir());
    assert_eq!(
        d.lookup(&c, "Bob@Example.ORG"),
        Lookup::Local("bob@example.test".into())
    );
    assert_eq!(d.lookup(&c, "nobody@example.org"), Lookup::Unknown);
    assert_eq!(d.lookup(&c, "away@example.org"), Lookup::Alias);
    assert_eq!(
        d.expand(&c, "bob+tag@example.org").unwrap(),
        vec![Target::Local("bob@example.test".into())]
    );
}
