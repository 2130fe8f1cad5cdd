//! Round trips through a real archive on disk: backup, verify, restore (all, one user,
//! spool), restore again, incremental.

use super::restore::{restore, Options};
use super::*;
use std::fs;
use std::path::Path;

fn setup(dir: &Path) -> Config {
    let text = "hostname='h'\nspool_dir='spool'\nmail_root='mail'\nusers_file='users'\naliases_file='aliases'\n[domains.'example.test']\n";
    fs::write(dir.join("mail.toml"), text).unwrap();
    Config::load(&dir.join("mail.toml")).unwrap()
}

fn put(path: &Path, data: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, data).unwrap();
}

fn tree(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    walk(root, root, &mut out);
    out.sort();
    out
}

#[test]
fn round_trip_all_one_user_spool_and_incremental() {
    let src = tempfile::tempdir().unwrap();
    let cfg = setup(src.path());
    let u = cfg.mail_root.join("example.test/u");
    put(&u.join("new/1.a.h"), "one");
    put(&u.join("cur/2.b.h:2,S"), "two");
    put(&u.join("tmp/9.draft.h"), "half written");
    put(&u.join(".Sent/cur/3.c.h:2,S"), "three");
    put(&u.join(".Sent/maildirfolder"), "");
    put(&u.join("maildirsize"), "1000S\n3 1\n");
    put(&cfg.mail_root.join("example.test/v/new/4.d.h"), "four");
    put(&cfg.spool_dir.join("queue/0123456789ABCDEF/message"), "m");
    put(&cfg.spool_dir.join("queue/0123456789ABCDEF/envelope"), "e");
    // Seen half-way through a move from incoming/ (only its message was listed there).
    put(
        &cfg.spool_dir.join("incoming/0123456789ABCDEF/message"),
        "m",
    );
    put(
        &cfg.users_file,
        "u@example.test:{PLAIN}x::::::\nv@example.test:{PLAIN}y::::::\n",
    );
    put(cfg.aliases_file.as_ref().unwrap(), "a: u@example.test\n");
    let bar = ProgressBar::hidden();
    let file = src.path().join("b.tar.gz");
    let s = create(&cfg, &file, None, &bar).unwrap();
    assert_eq!(s.messages, 4);
    let v = verify(&file, &bar).unwrap();
    assert_eq!(v.messages, 4);
    let m = read_manifest(&file).unwrap();
    assert!(
        !m.stored.keys().any(|k| k.contains("/tmp/")),
        "{:?}",
        m.stored.keys()
    );

    let dst = tempfile::tempdir().unwrap();
    let cfg2 = setup(dst.path());
    let one = Options {
        user: Some("V@example.test".into()),
        spool: false,
    };
    let r = restore(&cfg2, &file, &one, &bar).unwrap();
    assert_eq!((r.messages, r.users), (1, 1));
    assert!(!cfg2.mail_root.join("example.test/u").exists());

    let all = Options {
        user: None,
        spool: true,
    };
    let r = restore(&cfg2, &file, &all, &bar).unwrap();
    assert_eq!((r.messages, r.present, r.spool, r.users), (3, 1, 1, 1));
    assert_eq!(
        tree(&cfg2.mail_root),
        tree(&cfg.mail_root)
            .into_iter()
            .filter(|p| !p.contains("/tmp/"))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        fs::read_to_string(cfg2.spool_dir.join("queue/0123456789ABCDEF/envelope")).unwrap(),
        "e"
    );
    assert_eq!(tree(&cfg2.spool_dir.join("tmp")), Vec::<String>::new());
    assert!(
        !cfg2.spool_dir.join("incoming/0123456789ABCDEF").exists(),
        "restored twice"
    );
    // Usage recounted after the restore, the quota kept.
    assert_eq!(
        fs::read_to_string(cfg2.mail_root.join("example.test/u/maildirsize")).unwrap(),
        "1000S\n11 3\n"
    );
    let r = restore(&cfg2, &file, &all, &bar).unwrap();
    assert_eq!((r.messages, r.spool, r.users), (0, 0, 0));

    // Flags change and a new message arrives: the incremental holds only the new one.
    fs::rename(u.join("new/1.a.h"), u.join("cur/1.a.h:2,RS")).unwrap();
    put(&u.join("new/5.e.h"), "five");
    let incr = src.path().join("i.tar.gz");
    let s = create(&cfg, &incr, Some(&file), &bar).unwrap();
    assert_eq!((s.messages, s.unchanged), (1, 4));
    let r = restore(&cfg2, &incr, &all, &bar).unwrap();
    assert_eq!(r.messages, 1);
    assert_eq!(
        fs::read_to_string(cfg2.mail_root.join("example.test/u/new/5.e.h")).unwrap(),
        "five"
    );
    let again = src.path().join("j.tar.gz");
    assert_eq!(
        create(&cfg, &again, Some(&incr), &bar).unwrap().unchanged,
        5,
        "chain"
    );
}

#[test]
fn foreign_files_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("x.tar.gz");
    fs::write(&f, b"not gzip").unwrap();
    assert!(verify(&f, &ProgressBar::hidden()).is_err());
    assert!(matches!(
        read_manifest(&d.path().join("none")),
        Err(Error::Io { .. })
    ));
}
