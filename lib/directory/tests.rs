use super::*;
use std::path::Path;

const CONFIG: &str = r#"
hostname = "mx.example.test"
spool_dir = "spool"
mail_root = "mail"
users_file = "users"
recipient_delimiter = "+"
[domains."example.test"]
[domains."Catch.TEST"]
catch_all = "demo@example.test"
[queue]
allow_pipe_aliases = false
allow_include_aliases = false
"#;

const USERS: &str = "demo@example.test:{PLAIN}x::::::\nbob@example.test:{PLAIN}x::::::\n\
bob+special@example.test:{PLAIN}x::::::\ncarol@catch.test:{PLAIN}x::::::\n";

fn cfg() -> Config {
    Config::parse(Path::new("/x/mail.toml"), CONFIG).unwrap()
}

fn dir(aliases: &str) -> Directory {
    let users = UserDb::parse(Path::new("/x/users"), USERS).unwrap();
    Directory::new(
        users,
        Aliases::parse(Path::new("/x/aliases"), aliases).unwrap(),
    )
}

fn local(a: &str) -> Target {
    Target::Local(a.into())
}

fn failed_with(t: &[Target], code: &str) -> bool {
    t.iter()
        .any(|t| matches!(t, Target::Failed { reply, .. } if reply.contains(code)))
}

#[test]
fn lookup_users_case_and_plus() {
    let (c, d) = (cfg(), dir("postmaster: demo\n"));
    let l = |a: &str| d.lookup(&c, a);
    assert_eq!(
        l("demo@example.test"),
        Lookup::Local("demo@example.test".into())
    );
    assert_eq!(
        l("DEMO@Example.TEST"),
        Lookup::Local("demo@example.test".into())
    );
    assert_eq!(
        l("demo+tag@example.test"),
        Lookup::Local("demo@example.test".into())
    );
    assert_eq!(
        l("bob+special@example.test"),
        Lookup::Local("bob+special@example.test".into())
    );
    assert_eq!(l("nobody+demo@example.test"), Lookup::Unknown);
    assert_eq!(l("+tag@example.test"), Lookup::Unknown);
    assert_eq!(l("postmaster@example.test"), Lookup::Alias);
    assert_eq!(l("postmaster+x@example.test"), Lookup::Alias);
    assert_eq!(l("demo@elsewhere.test"), Lookup::Remote);
    assert_eq!(l("no-at-sign"), Lookup::Unknown);
}

#[test]
fn lookup_catch_all_and_plus_off() {
    let (mut c, d) = (cfg(), dir(""));
    assert_eq!(d.lookup(&c, "anyone@catch.test"), Lookup::Alias);
    assert_eq!(
        d.lookup(&c, "carol@CATCH.test"),
        Lookup::Local("carol@catch.test".into())
    );
    c.recipient_delimiter = None;
    assert_eq!(d.lookup(&c, "demo+tag@example.test"), Lookup::Unknown);
}

#[test]
fn expands_lists_nested_and_dedupes() {
    let (c, d) = (
        cfg(),
        dir("staff: demo, bob@example.test, team\nteam: demo, x@remote.TEST\n"),
    );
    let t = d.expand(&c, "Staff+x@example.test").unwrap();
    assert_eq!(
        t,
        vec![
            local("demo@example.test"),
            local("bob@example.test"),
            Target::Remote("x@remote.test".into())
        ]
    );
    assert_eq!(
        d.expand(&c, "demo+tag@example.test").unwrap(),
        vec![local("demo@example.test")]
    );
    assert_eq!(
        d.expand(&c, "a@catch.test").unwrap(),
        vec![local("demo@example.test")]
    );
    assert!(failed_with(
        &d.expand(&c, "ghost@example.test").unwrap(),
        "5.1.1"
    ));
}

#[test]
fn self_reference_delivers_to_the_mailbox() {
    let (c, d) = (cfg(), dir("demo: demo, bob\nghost: ghost\n"));
    let t = d.expand(&c, "demo@example.test").unwrap();
    assert_eq!(
        t,
        vec![local("demo@example.test"), local("bob@example.test")]
    );
    assert!(failed_with(
        &d.expand(&c, "ghost@example.test").unwrap(),
        "5.1.1"
    ));
}

#[test]
fn cycles_and_depth_are_caught() {
    let (c, d) = (cfg(), dir("a: b\nb: c, demo\nc: a\n"));
    let t = d.expand(&c, "a@example.test").unwrap();
    assert!(t.contains(&local("demo@example.test")), "{t:?}");
    assert!(failed_with(&t, "5.4.6 alias loop"), "{t:?}");
    let mut chain = String::new();
    for i in 0..30 {
        chain.push_str(&format!("l{i}: l{}\n", i + 1));
    }
    let t = dir(&chain).expand(&c, "l0@example.test").unwrap();
    assert!(failed_with(&t, "too deep"), "{t:?}");
}

#[test]
fn catch_all_loop_is_caught() {
    let mut c = cfg();
    c.domains.get_mut("catch.test").unwrap().catch_all = Some("nobody@catch.test".into());
    let t = dir("").expand(&c, "x@catch.test").unwrap();
    assert!(failed_with(&t, "5.4.6"), "{t:?}");
}

#[test]
fn pipes_files_and_includes_are_policed() {
    let tmp = tempfile::tempdir().unwrap();
    let list = tmp.path().join("list");
    std::fs::write(&list, "bob\n# c\nx@remote.test, |/bin/true\n").unwrap();
    let text = format!(
        "p: |/bin/cat, demo\nf: /tmp/f\ni: :include:{}\nmissing: :include:/nonexistent/x\n",
        list.display()
    );
    let (mut c, d) = (cfg(), dir(&text));
    let t = d.expand(&c, "p@example.test").unwrap();
    assert!(failed_with(&t, "550 5.7.1 pipe aliases disabled"));
    assert!(t.contains(&local("demo@example.test")));
    assert!(failed_with(
        &d.expand(&c, "f@example.test").unwrap(),
        "5.7.1"
    ));
    assert!(failed_with(
        &d.expand(&c, "i@example.test").unwrap(),
        "include aliases disabled"
    ));
    c.queue.allow_pipe_aliases = true;
    c.queue.allow_include_aliases = true;
    assert!(d
        .expand(&c, "p@example.test")
        .unwrap()
        .contains(&Target::Pipe("/bin/cat".into())));
    let t = d.expand(&c, "i@example.test").unwrap();
    assert_eq!(
        t,
        vec![
            local("bob@example.test"),
            Target::Remote("x@remote.test".into()),
            Target::Pipe("/bin/true".into())
        ]
    );
    let e = d.expand(&c, "missing@example.test").unwrap_err();
    assert!(e.starts_with("451 4.3.0"), "{e}");
}

#[test]
fn never_empty_and_odd_addresses_fail_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("empty"), "# nobody\n").unwrap();
    let text = format!("e: :include:{}/empty\n", tmp.path().display());
    let (mut c, d) = (cfg(), dir(&text));
    c.queue.allow_include_aliases = true;
    assert!(failed_with(
        &d.expand(&c, "e@example.test").unwrap(),
        "5.4.6"
    ));
    assert!(failed_with(
        &d.expand(&c, "|cmd@remote.test").unwrap(),
        "5.1.3"
    ));
    assert!(failed_with(&d.expand(&c, "noat").unwrap(), "5.1.3"));
}
