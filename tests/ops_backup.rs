//! Backup and restore while mail streams in: a backup taken during SMTP deliveries, with a
//! client renaming messages new/ → cur/ meanwhile, restores to exactly the messages it saw
//! (none missed, none doubled); an incremental one completes the set; restoring twice adds
//! nothing; `--user` restores one user only; `verify` catches a damaged archive.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::harness::*;
use crate::ops_common::*;

const OTHER: &str = "other@example.test";

/// Unique names (before `:`) of the messages in new/ and cur/.
fn bases(maildir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for sub in ["new", "cur"] {
        for f in list_files(&maildir.join(sub)) {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            out.insert(name.split(':').next().unwrap().to_string());
        }
    }
    out
}

fn count_files(maildir: &Path) -> usize {
    list_files(&maildir.join("new")).len() + list_files(&maildir.join("cur")).len()
}

/// Marks messages seen the way an IMAP client does (rename new/x → cur/x:2,S) until told
/// to stop; each rename holds `gate`, so a test can look at the Maildir between renames.
fn renamer(
    maildir: std::path::PathBuf,
    stop: Arc<AtomicBool>,
    gate: Arc<Mutex<()>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            for f in list_files(&maildir.join("new")) {
                let _g = gate.lock().unwrap();
                let name = f.file_name().unwrap().to_string_lossy().into_owned();
                let _ = std::fs::rename(&f, maildir.join("cur").join(format!("{name}:2,S")));
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    })
}

#[test]
fn backup_during_deliveries_restores_exactly_what_it_saw() {
    let server = Server::start();
    server.add_user(OTHER, "pw");
    send_seq(&server, OTHER, 1000, 3);
    send_seq(&server, DEMO, 0, 10);
    server.wait_for_messages(OTHER, 3);
    server.wait_for_messages(DEMO, 10);
    let md = server.maildir(DEMO);

    let stop = Arc::new(AtomicBool::new(false));
    let gate = Arc::new(Mutex::new(()));
    let ren = renamer(md.clone(), stop.clone(), gate.clone());
    let port = server.ports.smtp.to_string();
    let stream = std::thread::spawn(move || python(SEND_SEQ, &[&port, DEMO, "10", "30"]));
    wait_until("15 messages", || count_files(&md) >= 15);
    let before = {
        let _g = gate.lock().unwrap();
        bases(&md)
    };
    let full = server.dir.path().join("full.tar.gz");
    ok(server.mailctl(&["backup", "--to", full.to_str().unwrap()], ""));
    let after = {
        let _g = gate.lock().unwrap();
        bases(&md)
    };
    let sent = stream.join().unwrap();
    assert!(sent.status.success(), "{}", text(&sent.stderr));
    wait_until("40 messages", || count_files(&md) >= 40);
    stop.store(true, Ordering::Relaxed);
    ren.join().unwrap();

    let verified = ok(server.mailctl(&["backup", "verify", full.to_str().unwrap()], ""));
    assert!(verified.contains(": OK,"), "{verified}");

    // Restore into a fresh installation.
    let fresh = Server::setup();
    let out = ok(fresh.mailctl(&["restore", full.to_str().unwrap()], ""));
    let rmd = fresh.maildir(DEMO);
    let restored = bases(&rmd);
    assert!(
        before.is_subset(&restored),
        "missed: {:?}\n{out}",
        before.difference(&restored).collect::<Vec<_>>()
    );
    assert!(
        restored.is_subset(&after),
        "invented: {:?}",
        restored.difference(&after).collect::<Vec<_>>()
    );
    let seq = seqs(&rmd);
    let distinct: BTreeSet<u64> = seq.iter().copied().collect();
    assert_eq!(
        seq.len(),
        distinct.len(),
        "a message restored twice: {seq:?}"
    );
    assert_eq!(count_files(&rmd), restored.len());
    assert!(
        ok(fresh.mailctl(&["user", "list"], "")).contains(OTHER),
        "users merged"
    );

    // Restoring again adds nothing.
    let again = ok(fresh.mailctl(&["restore", full.to_str().unwrap()], ""));
    assert!(again.starts_with("restored 0 messages"), "{again}");
    assert_eq!(count_files(&rmd), restored.len());

    // An incremental backup holds the rest; full + incremental is exactly what was delivered.
    let incr = server.dir.path().join("incr.tar.gz");
    let out = ok(server.mailctl(
        &[
            "backup",
            "--to",
            incr.to_str().unwrap(),
            "--since",
            full.to_str().unwrap(),
        ],
        "",
    ));
    assert!(
        out.contains(&format!("{} unchanged", restored.len() + 3)),
        "{out}"
    );
    ok(fresh.mailctl(&["restore", incr.to_str().unwrap()], ""));
    let all: Vec<u64> = seqs(&rmd);
    assert_eq!(all, (0..40).collect::<Vec<u64>>());
    assert_eq!(seqs(&fresh.maildir(OTHER)), vec![1000, 1001, 1002]);
}

#[test]
fn restore_one_user_and_verify_catches_damage() {
    let server = Server::start();
    server.add_user(OTHER, "pw");
    send_seq(&server, DEMO, 0, 2);
    send_seq(&server, OTHER, 100, 2);
    server.wait_for_messages(DEMO, 2);
    server.wait_for_messages(OTHER, 2);
    let file = server.dir.path().join("b.tar.gz");
    ok(server.mailctl(&["backup", "--to", file.to_str().unwrap()], ""));

    let fresh = Server::setup();
    ok(fresh.mailctl(&["restore", file.to_str().unwrap(), "--user", OTHER], ""));
    assert_eq!(seqs(&fresh.maildir(OTHER)), vec![100, 101]);
    assert!(seqs(&fresh.maildir(DEMO)).is_empty(), "only the one user");
    // The restored user can log in with their old password.
    let users = std::fs::read_to_string(fresh.dir.path().join("users")).unwrap();
    assert!(
        users.contains(&format!("{OTHER}:{{SHA512-CRYPT}}")),
        "{users}"
    );

    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    let bad = server.dir.path().join("bad.tar.gz");
    std::fs::write(&bad, bytes).unwrap();
    let out = server.mailctl(&["backup", "verify", bad.to_str().unwrap()], "");
    assert!(
        !out.status.success(),
        "damage not noticed: {}",
        text(&out.stdout)
    );
    let out = fresh.mailctl(&["restore", bad.to_str().unwrap()], "");
    assert!(!out.status.success(), "restored from a damaged archive");
}
