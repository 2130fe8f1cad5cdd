//! Maildir tests: the write protocol, folders, quota and concurrent delivery.

use super::*;
use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn no_quota() -> quota::Policy {
    quota::Policy::default()
}

fn limit(bytes: u64) -> quota::Policy {
    quota::Policy {
        explicit: Some(quota::Limit::bytes(bytes)),
        default: None,
    }
}

#[test]
fn create_is_idempotent_and_private() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("example.test/demo");
    Maildir::create(&root).unwrap();
    Maildir::create(&root).unwrap();
    for sub in SUBDIRS {
        let mode = fs::metadata(root.join(sub)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{sub}");
    }
}

#[test]
fn delivery_leaves_exactly_one_file_in_new_and_nothing_in_tmp() {
    let t = tempfile::tempdir().unwrap();
    let md = Maildir::open(t.path().join("demo"));
    let msg = b"Subject: hi\n\nline one\nline two\n";
    let d = md.deliver(None, msg, &no_quota()).unwrap();
    assert_eq!(names(&md.root().join("new")), vec![d.name.clone()]);
    assert!(names(&md.root().join("tmp")).is_empty());
    assert!(names(&md.root().join("cur")).is_empty());
    assert_eq!(fs::read(&d.path).unwrap(), msg);
    assert_eq!(d.size, msg.len() as u64);
    assert_eq!(name::size(&d.name), Some(msg.len() as u64));
    assert_eq!(name::vsize(&d.name), Some(msg.len() as u64 + 4));
    let mode = fs::metadata(&d.path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // No maildirsize appears when no quota is configured.
    assert!(!md.root().join(quota::FILE).exists());
}

#[test]
fn folders_are_maildirpp() {
    let t = tempfile::tempdir().unwrap();
    let md = Maildir::create(t.path().join("demo")).unwrap();
    let junk = FolderName::parse(".Junk").unwrap();
    let d = md
        .deliver(Some(&junk), b"S: x\n\nx\n", &no_quota())
        .unwrap();
    let dir = md.root().join(".Junk");
    assert!(dir.join("maildirfolder").is_file());
    assert_eq!(d.path.parent().unwrap(), dir.join("new"));
    let archive = FolderName::parse("Archive.2026").unwrap();
    md.create_folder(&archive).unwrap();
    assert!(md.root().join(".Archive.2026/cur").is_dir());
    assert_eq!(md.folders().unwrap(), vec![archive, junk.clone()]);
    let listed = md.list(Some(&junk)).unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].is_new);
    assert!(md.list(None).unwrap().is_empty());
}

#[test]
fn list_reads_flags_from_cur() {
    let t = tempfile::tempdir().unwrap();
    let md = Maildir::create(t.path().join("demo")).unwrap();
    fs::write(md.root().join("cur/1.M1P1.h,S=3:2,FS"), b"abc").unwrap();
    fs::write(md.root().join("new/2.M1P1.h"), b"abcd").unwrap();
    let l = md.list(None).unwrap();
    assert_eq!(l.len(), 2);
    assert!(l[0].is_new && l[0].flags.is_empty() && l[0].size == 4);
    assert!(!l[1].is_new && l[1].flags == "FS" && l[1].size == 3);
}

#[test]
fn over_quota_is_temporary_and_writes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let md = Maildir::open(t.path().join("demo"));
    let msg = vec![b'x'; 600];
    md.deliver(None, &msg, &limit(1000)).unwrap();
    let e = md.deliver(None, &msg, &limit(1000)).unwrap_err();
    assert!(matches!(e, Error::OverQuota { .. }), "{e}");
    assert!(e.is_temporary());
    assert_eq!(e.status(), "4.2.2");
    assert_eq!(names(&md.root().join("new")).len(), 1);
    assert!(names(&md.root().join("tmp")).is_empty());
}

#[test]
fn maildirsize_gets_definition_and_deltas() {
    let t = tempfile::tempdir().unwrap();
    let md = Maildir::open(t.path().join("demo"));
    md.deliver(None, b"12345", &limit(1 << 20)).unwrap();
    md.deliver(None, b"1234567", &limit(1 << 20)).unwrap();
    let text = fs::read_to_string(md.root().join(quota::FILE)).unwrap();
    // Created by a recount before the first message, then one delta per delivery.
    assert_eq!(text, "1048576S\n0 0\n5 1\n7 1\n");
}

#[test]
fn file_definition_beats_default_and_explicit_beats_file() {
    let t = tempfile::tempdir().unwrap();
    let md = Maildir::create(t.path().join("demo")).unwrap();
    fs::write(md.root().join(quota::FILE), "100S,2C\n0 0\n").unwrap();
    let policy = quota::Policy {
        explicit: None,
        default: Some(quota::Limit::bytes(1 << 30)),
    };
    md.deliver(None, b"a", &policy).unwrap();
    md.deliver(None, b"b", &policy).unwrap();
    let e = md.deliver(None, b"c", &policy).unwrap_err();
    assert!(
        matches!(e, Error::OverQuota { .. }),
        "count limit from the file: {e}"
    );
    // An explicit quota replaces the definition (and recounts).
    md.deliver(None, b"c", &limit(1000)).unwrap();
    let text = fs::read_to_string(md.root().join(quota::FILE)).unwrap();
    assert!(text.starts_with("1000S\n2 2\n"), "{text:?}");
}

#[test]
fn default_quota_applies_when_there_is_no_file() {
    let t = tempfile::tempdir().unwrap();
    let md = Maildir::open(t.path().join("demo"));
    let policy = quota::Policy {
        explicit: None,
        default: Some(quota::Limit::bytes(10)),
    };
    let e = md.deliver(None, b"eleven bytes", &policy).unwrap_err();
    assert!(matches!(e, Error::OverQuota { .. }));
    assert!(md.root().join(quota::FILE).exists());
}

#[test]
fn big_or_corrupt_maildirsize_is_recounted() {
    let t = tempfile::tempdir().unwrap();
    let md = Maildir::create(t.path().join("demo")).unwrap();
    let junk = FolderName::parse("Junk").unwrap();
    md.deliver(Some(&junk), b"123", &no_quota()).unwrap();
    fs::write(md.root().join("cur/1.M1P1.h,S=10:2,S"), b"0123456789").unwrap();
    // Lies about usage, and is over 5120 bytes: must be recounted, not believed.
    let mut lies = String::from("1000S\n");
    for _ in 0..800 {
        lies.push_str("1000 1\n");
    }
    fs::write(md.root().join(quota::FILE), &lies).unwrap();
    md.deliver(None, b"ok", &no_quota()).unwrap();
    let text = fs::read_to_string(md.root().join(quota::FILE)).unwrap();
    assert_eq!(text, "1000S\n13 2\n2 1\n");
    // Garbage is recounted too.
    fs::write(md.root().join(quota::FILE), "1000S\nnot numbers\n").unwrap();
    md.deliver(None, b"ok", &no_quota()).unwrap();
    let text = fs::read_to_string(md.root().join(quota::FILE)).unwrap();
    assert_eq!(text, "1000S\n15 3\n2 1\n");
}

#[test]
fn stale_over_quota_verdict_is_rechecked() {
    let t = tempfile::tempdir().unwrap();
    let md = Maildir::create(t.path().join("demo")).unwrap();
    let path = md.root().join(quota::FILE);
    fs::write(&path, "1000S\n5000 1\n").unwrap();
    let e = md.deliver(None, b"x", &no_quota()).unwrap_err();
    assert!(matches!(e, Error::OverQuota { .. }));
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(16 * 60);
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(old)
        .unwrap();
    md.deliver(None, b"x", &no_quota()).unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "1000S\n0 0\n1 1\n");
}

#[test]
fn quota_limit_parsing() {
    use quota::Limit;
    assert_eq!(Limit::parse("1G"), Some(Limit::bytes(1 << 30)));
    let both = Limit::parse("1073741824S,1000C").unwrap();
    assert_eq!(both.bytes, Some(1 << 30));
    assert_eq!(both.messages, Some(1000));
    assert_eq!(both.definition(), "1073741824S,1000C");
    assert_eq!(Limit::parse("50C").unwrap().messages, Some(50));
    assert!(Limit::parse("0").unwrap().is_unlimited());
    assert!(Limit::parse("12X").is_none());
    assert!(Limit::parse("S").is_none());
    assert!(Limit::parse_definition("").unwrap().is_unlimited());
}

#[test]
fn concurrent_deliveries_all_land_with_unique_names() {
    let t = tempfile::tempdir().unwrap();
    let md = Maildir::create(t.path().join("demo")).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let md = md.clone();
            std::thread::spawn(move || {
                (0..25)
                    .map(|j| {
                        let body = format!("Subject: {i}-{j}\n\nx\n");
                        md.deliver(None, body.as_bytes(), &limit(1 << 30))
                            .unwrap()
                            .name
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all = HashSet::new();
    for t in threads {
        for n in t.join().unwrap() {
            assert!(all.insert(n));
        }
    }
    assert_eq!(all.len(), 200);
    assert_eq!(names(&md.root().join("new")).len(), 200);
    assert!(names(&md.root().join("tmp")).is_empty());
}
