//! local-deliver tests: the message as stored, exit codes and status codes for each failure.

use super::*;
use std::fs;
use std::io::Cursor;
use std::path::Path;

const MSG: &[u8] = b"From: a@example.org\r\nSubject: hi\r\n\r\nbody line\r\n..dot\r\n";

fn cfg(dir: &Path, users: &str) -> Config {
    fs::write(dir.join("users"), users).unwrap();
    let text = "hostname = \"mx.example.test\"\nspool_dir = \"spool\"\nmail_root = \"mail\"\n\
                users_file = \"users\"\n[domains.\"example.test\"]\n";
    Config::parse(&dir.join("mail.toml"), text).unwrap()
}

fn no_cfg() -> Result<Config, config::Error> {
    Err(config::Error::Parse {
        path: "/nonexistent".into(),
        message: "absent".into(),
    })
}

fn to_maildir(dir: &Path) -> Options {
    Options {
        address: Some("demo@example.test".into()),
        maildir: Some(dir.join("md")),
        sender: Some("a@example.org".into()),
        ..Options::default()
    }
}

fn new_files(root: &Path) -> Vec<std::path::PathBuf> {
    fs::read_dir(root.join("new"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

#[test]
fn stores_lf_message_with_return_path_and_delivered_to() {
    let t = tempfile::tempdir().unwrap();
    let opts = to_maildir(t.path());
    let r = deliver(no_cfg(), &opts, &mut Cursor::new(MSG), "").unwrap();
    assert_eq!(r.folder, "INBOX");
    let files = new_files(&t.path().join("md"));
    assert_eq!(files.len(), 1);
    assert!(fs::read_dir(t.path().join("md/tmp"))
        .unwrap()
        .next()
        .is_none());
    let stored = fs::read(&files[0]).unwrap();
    assert_eq!(
        stored,
        b"Return-Path: <a@example.org>\nDelivered-To: demo@example.test\n\
          From: a@example.org\nSubject: hi\n\nbody line\n..dot\n"
    );
    assert_eq!(r.size, stored.len() as u64);
}

#[test]
fn null_sender_and_lf_input() {
    let t = tempfile::tempdir().unwrap();
    let mut opts = to_maildir(t.path());
    opts.sender = Some(String::new());
    deliver(no_cfg(), &opts, &mut Cursor::new(b"S: x\n\ny\n"), "").unwrap();
    let stored = fs::read(&new_files(&t.path().join("md"))[0]).unwrap();
    assert!(stored.starts_with(b"Return-Path: <>\nDelivered-To: demo@example.test\nS: x\n"));
}

#[test]
fn loop_is_refused_permanently() {
    let t = tempfile::tempdir().unwrap();
    let opts = to_maildir(t.path());
    let msg = b"Delivered-To: DEMO@example.test\r\nSubject: x\r\n\r\nx\r\n";
    let f = deliver(no_cfg(), &opts, &mut Cursor::new(msg), "").unwrap_err();
    assert_eq!((f.exit, f.status), (Exit::NoPerm, "5.4.6"));
    assert!(f.text.contains("loop for demo@example.test"), "{}", f.text);
    assert!(!t.path().join("md/new").exists() || new_files(&t.path().join("md")).is_empty());
    assert_eq!(
        run(no_cfg(), &opts, &mut Cursor::new(msg), Some("ID1")),
        Exit::NoPerm
    );
}

#[test]
fn over_quota_is_temporary_mailbox_full() {
    let t = tempfile::tempdir().unwrap();
    let mut opts = to_maildir(t.path());
    opts.quota = Some("50".into());
    let f = deliver(no_cfg(), &opts, &mut Cursor::new(MSG), "").unwrap_err();
    assert_eq!((f.exit, f.status), (Exit::TempFail, "4.2.2"));
    assert!(f.text.starts_with("mailbox full"), "{}", f.text);
    opts.quota = Some("1M".into());
    deliver(no_cfg(), &opts, &mut Cursor::new(MSG), "").unwrap();
    opts.quota = Some("lots".into());
    let f = deliver(no_cfg(), &opts, &mut Cursor::new(MSG), "").unwrap_err();
    assert_eq!(f.exit, Exit::Usage);
}

#[test]
fn folder_delivery_and_hostile_folder_falls_back_to_inbox() {
    let t = tempfile::tempdir().unwrap();
    let mut opts = to_maildir(t.path());
    opts.folder = Some(".Junk".into());
    let r = deliver(no_cfg(), &opts, &mut Cursor::new(MSG), "").unwrap();
    assert_eq!(r.folder, "Junk");
    assert_eq!(new_files(&t.path().join("md/.Junk")).len(), 1);
    for hostile in ["../../etc", "..", "a/b", ".x..y", "a\nb"] {
        opts.folder = Some(hostile.into());
        let r = deliver(no_cfg(), &opts, &mut Cursor::new(MSG), "").unwrap();
        assert_eq!(r.folder, "INBOX", "{hostile:?}");
    }
    assert_eq!(new_files(&t.path().join("md")).len(), 5);
    let mut dirs: Vec<_> = fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    dirs.sort();
    assert_eq!(dirs, vec!["md"], "nothing written outside the Maildir");
}

#[test]
fn unknown_user_is_permanent() {
    let t = tempfile::tempdir().unwrap();
    let c = cfg(t.path(), "demo@example.test:{PLAIN}x::::::\n");
    let opts = Options {
        address: Some("nobody@example.test".into()),
        ..Options::default()
    };
    let f = deliver(Ok(c), &opts, &mut Cursor::new(MSG), "").unwrap_err();
    assert_eq!((f.exit, f.status), (Exit::NoPerm, "5.1.1"));
    assert!(!t.path().join("mail").exists());
}

#[test]
fn known_user_gets_a_maildir_from_the_config() {
    let t = tempfile::tempdir().unwrap();
    let c = cfg(t.path(), "demo@example.test:{PLAIN}x::::::\n");
    let opts = Options {
        address: Some("Demo@Example.test".into()),
        sender: Some("a@example.org".into()),
        ..Options::default()
    };
    deliver(Ok(c), &opts, &mut Cursor::new(MSG), "").unwrap();
    assert_eq!(new_files(&t.path().join("mail/example.test/demo")).len(), 1);
}

#[test]
fn default_quota_from_config() {
    let t = tempfile::tempdir().unwrap();
    let mut c = cfg(t.path(), "demo@example.test:{PLAIN}x::::::\n");
    c.delivery.default_quota = Some(10);
    let opts = Options {
        address: Some("demo@example.test".into()),
        ..Options::default()
    };
    let f = deliver(Ok(c), &opts, &mut Cursor::new(MSG), "").unwrap_err();
    assert_eq!(f.status, "4.2.2");
}

#[test]
fn bad_input_and_arguments() {
    let t = tempfile::tempdir().unwrap();
    let opts = to_maildir(t.path());
    let f = deliver(no_cfg(), &opts, &mut Cursor::new(b""), "").unwrap_err();
    assert_eq!((f.exit, f.status), (Exit::DataErr, "5.6.0"));
    let mut forged = to_maildir(t.path());
    forged.sender = Some("a@b>\r\nBcc: x".into());
    let f = deliver(no_cfg(), &forged, &mut Cursor::new(MSG), "").unwrap_err();
    assert_eq!(f.exit, Exit::Usage);
    let mut bad_rcpt = to_maildir(t.path());
    bad_rcpt.address = Some("demo\n@example.test".into());
    assert_eq!(
        deliver(no_cfg(), &bad_rcpt, &mut Cursor::new(MSG), "")
            .unwrap_err()
            .exit,
        Exit::Usage
    );
    // -d without a usable config: try later, the admin will fix it.
    let opts = Options {
        address: Some("demo@example.test".into()),
        ..Options::default()
    };
    let f = deliver(no_cfg(), &opts, &mut Cursor::new(MSG), "").unwrap_err();
    assert_eq!(f.exit, Exit::TempFail);
    // An explicit --config that cannot be read is an error even with --maildir.
    let mut explicit = to_maildir(t.path());
    explicit.config_given = true;
    let f = deliver(no_cfg(), &explicit, &mut Cursor::new(MSG), "").unwrap_err();
    assert_eq!(f.exit, Exit::TempFail);
}

#[test]
fn unwritable_maildir_is_temporary() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("file"), b"x").unwrap();
    let mut opts = to_maildir(t.path());
    opts.maildir = Some(t.path().join("file/md"));
    let f = deliver(no_cfg(), &opts, &mut Cursor::new(MSG), "").unwrap_err();
    assert_eq!((f.exit, f.status), (Exit::TempFail, "4.3.0"));
}

#[test]
fn failure_line_reads_back() {
    let err = "local-deliver[12]: note\nlocal-deliver[12]: 4F2A: demo@example.test: \
               mailbox full (would use 9 of 1 bytes) (#4.2.2)\n";
    let (status, text) = parse_failure(err, Some("4F2A")).unwrap();
    assert_eq!(status, "4.2.2");
    assert_eq!(
        text,
        "demo@example.test: mailbox full (would use 9 of 1 bytes)"
    );
    let (status, text) = parse_failure("x[1]: a@b: unknown user (#5.1.1)", None).unwrap();
    assert_eq!(
        (status.as_str(), text.as_str()),
        ("5.1.1", "a@b: unknown user")
    );
    assert!(parse_failure("thread panicked (at lib.rs)", None).is_none());
    assert!(parse_failure("", None).is_none());
}

#[test]
fn our_spam_verdict_files_into_junk_and_forgeries_do_not() {
    let t = tempfile::tempdir().unwrap();
    let c = cfg(t.path(), "");
    let opts = to_maildir(t.path());
    let block = "X-Spam-Scan: mx.example.test; parts=1; verdict=junk\r\nX-Spam-Score: 10.0\r\n\
                 X-Spam-Status: Yes, score=10.0 required=5.0 tests=GTUBE\r\n";
    let junk = [block.as_bytes(), MSG].concat();
    let r = deliver(Ok(c.clone()), &opts, &mut Cursor::new(&junk), "").unwrap();
    assert_eq!(r.folder, "Junk");
    assert_eq!(new_files(&t.path().join("md/.Junk")).len(), 1);
    let other_host =
        String::from_utf8(junk.clone())
            .unwrap()
            .replacen("mx.example.test", "evil.test", 1);
    let r = deliver(
        Ok(c.clone()),
        &opts,
        &mut Cursor::new(other_host.as_bytes()),
        "",
    )
    .unwrap();
    assert_eq!(r.folder, "INBOX", "another host's verdict is not ours");
    let below = [b"Received: x\r\n".as_slice(), &junk].concat();
    let r = deliver(Ok(c.clone()), &opts, &mut Cursor::new(&below), "").unwrap();
    assert_eq!(r.folder, "INBOX", "only a block at the top counts");
    let mut explicit = to_maildir(t.path());
    explicit.folder = Some("Work".into());
    let r = deliver(Ok(c), &explicit, &mut Cursor::new(&junk), "").unwrap();
    assert_eq!(r.folder, "Work", "-m wins");
}
