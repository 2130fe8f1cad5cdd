//! Tests of the UID index (`uidlist.rs`): stability, assignment, Dovecot import, locking.
use super::*;
use std::collections::HashMap;
use std::fs::File;

fn folder() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    for s in ["cur", "new", "tmp"] {
        fs::create_dir(t.path().join(s)).unwrap();
    }
    t
}

fn put(dir: &Path, sub: &str, name: &str) {
    fs::write(dir.join(sub).join(name), b"Subject: x\n\nbody\n").unwrap();
}

fn uids(l: &UidList) -> Vec<(u32, &str)> {
    l.entries.iter().map(|e| (e.uid, e.base.as_str())).collect()
}

#[test]
fn stable_across_syncs_and_flag_renames() {
    let t = folder();
    let d = t.path();
    put(d, "new", "200.M5P1.h,S=17");
    put(d, "new", "100.M9P1.h,S=17");
    put(d, "cur", "100.M10P1.h:2,S");
    let a = UidList::sync(d).unwrap();
    assert_eq!(
        uids(&a),
        [
            (1, "100.M9P1.h,S=17"),
            (2, "100.M10P1.h"),
            (3, "200.M5P1.h,S=17")
        ]
    );
    assert_eq!(a.next_uid, 4);
    assert_eq!(a.get(2).unwrap().flags, "S");
    assert_eq!(a.get(1).unwrap().size, 17);
    assert!(a.get(1).unwrap().in_new);
    fs::rename(
        d.join("new/100.M9P1.h,S=17"),
        d.join("cur/100.M9P1.h,S=17:2,TS"),
    )
    .unwrap();
    let b = UidList::sync(d).unwrap();
    assert_eq!(b.uidvalidity, a.uidvalidity);
    assert_eq!(uids(&b), uids(&a));
    let e = b.get(1).unwrap();
    assert_eq!(e.flags, "ST");
    assert!(!e.in_new);
    assert!(b.path(d, e).exists());
    assert_eq!(UidList::sync(d).unwrap(), b);
}

#[test]
fn new_files_increase_and_removed_uids_are_not_reused() {
    let t = folder();
    let d = t.path();
    put(d, "new", "1.M1P1.h");
    put(d, "new", "2.M1P1.h");
    let a = UidList::sync(d).unwrap();
    fs::remove_file(d.join("new/2.M1P1.h")).unwrap();
    put(d, "new", "0.M1P1.h"); // older name still gets a higher UID
    let b = UidList::sync(d).unwrap();
    assert_eq!(uids(&b), [(1, "1.M1P1.h"), (3, "0.M1P1.h")]);
    assert_eq!(b.uidvalidity, a.uidvalidity);
    assert!(b.get(2).is_none());
    fs::remove_file(d.join("new/0.M1P1.h")).unwrap();
    let c = UidList::sync(d).unwrap();
    assert_eq!(c.next_uid, 4);
    put(d, "new", "5.M1P1.h");
    assert_eq!(
        uids(&UidList::sync(d).unwrap()),
        [(1, "1.M1P1.h"), (4, "5.M1P1.h")]
    );
}

#[test]
fn imports_dovecot_uidlist() {
    let t = folder();
    let d = t.path();
    put(d, "cur", "10.M1P1.h,S=17:2,S");
    put(d, "new", "11.M1P1.h");
    put(d, "new", "12.M1P1.h");
    fs::write(
        d.join(file::DOVECOT_FILE),
        "3 V1700000000 N42 Gabc\n7 W20 :10.M1P1.h,S=17\n40 :11.M1P1.h\n",
    )
    .unwrap();
    let l = UidList::sync(d).unwrap();
    assert_eq!(l.uidvalidity, 1_700_000_000);
    assert_eq!(
        uids(&l),
        [(7, "10.M1P1.h,S=17"), (40, "11.M1P1.h"), (42, "12.M1P1.h")]
    );
    assert!(d.join(FILE).exists());
}

#[test]
fn corrupt_index_gets_new_uidvalidity() {
    let t = folder();
    let d = t.path();
    put(d, "new", "1.M1P1.h");
    let far = u32::MAX - 5;
    fs::write(d.join(FILE), format!("1 V{far} N3\n2 1.M1P1.h\n1 x\n")).unwrap();
    let l = UidList::sync(d).unwrap();
    assert_ne!(l.uidvalidity, far);
    assert_eq!(uids(&l), [(1, "1.M1P1.h")]);
    fs::write(d.join(FILE), "garbage").unwrap();
    let m = UidList::sync(d).unwrap();
    assert_eq!(uids(&m), [(1, "1.M1P1.h")]);
}

#[test]
fn unchanged_folder_syncs_without_lock_or_write() {
    use std::os::unix::fs::MetadataExt;
    let t = folder();
    let d = t.path();
    put(d, "new", "1.M1P1.h");
    let a = UidList::sync(d).unwrap();
    fs::rename(d.join("new/1.M1P1.h"), d.join("cur/1.M1P1.h:2,S")).unwrap();
    // The move is recorded once (the index holds file names)...
    let b = UidList::sync(d).unwrap();
    assert_eq!(uids(&b), uids(&a));
    assert_eq!(b.get(1).unwrap().flags, "S");
    // ...and then nothing more is written or locked.
    let lock_file = d.join(format!("{FILE}.lock"));
    fs::remove_file(&lock_file).unwrap();
    let ino = fs::metadata(d.join(FILE)).unwrap().ino();
    assert_eq!(UidList::sync(d).unwrap(), b);
    assert!(!lock_file.exists(), "took the lock with nothing to change");
    assert_eq!(fs::metadata(d.join(FILE)).unwrap().ino(), ino);
    put(d, "new", "2.M1P1.h");
    assert_eq!(UidList::sync(d).unwrap().next_uid, 3);
    assert!(lock_file.exists());
    assert_ne!(fs::metadata(d.join(FILE)).unwrap().ino(), ino);
}

/// Sets new/ and cur/ mtimes to `secs` since the epoch.
fn age_dirs(d: &Path, secs: u64) {
    let when = UNIX_EPOCH + std::time::Duration::from_secs(secs);
    for sub in ["new", "cur"] {
        File::open(d.join(sub)).unwrap().set_modified(when).unwrap();
    }
}

#[test]
fn folder_with_old_trusted_mtimes_is_not_scanned() {
    let t = folder();
    let d = t.path();
    put(d, "new", "1.M1P1.h");
    put(d, "cur", "2.M1P1.h:2,S");
    age_dirs(d, 1_600_000_000);
    let a = UidList::sync(d).unwrap();
    assert!(fs::read_to_string(d.join(FILE))
        .unwrap()
        .contains(" T1600000000000000000.1600000000000000000."));
    // A file slipped in behind an unchanged mtime (impossible in real life) is not seen:
    // proof that the folder was not read.
    put(d, "new", "3.M1P1.h");
    age_dirs(d, 1_600_000_000);
    assert_eq!(UidList::sync(d).unwrap(), a);
    // Any real change moves the mtime, and the folder is read again.
    age_dirs(d, 1_600_000_001);
    let b = UidList::sync(d).unwrap();
    assert_eq!(b.entries.len(), 3);
    assert_eq!(b.get(3).unwrap().base, "3.M1P1.h");
}

#[test]
fn fresh_mtimes_are_not_trusted() {
    let t = folder();
    let d = t.path();
    put(d, "new", "1.M1P1.h");
    UidList::sync(d).unwrap();
    // The directories changed just now: a same-tick change could hide behind the mtime.
    put(d, "new", "2.M1P1.h");
    assert_eq!(UidList::sync(d).unwrap().entries.len(), 2);
    put(d, "new", "3.M1P1.h");
    assert_eq!(UidList::sync(d).unwrap().entries.len(), 3);
}

#[test]
fn modseqs_rise_with_arrivals_flag_changes_and_expunges() {
    let t = folder();
    let d = t.path();
    put(d, "new", "1.M1P1.h");
    put(d, "new", "2.M1P1.h");
    let a = UidList::sync(d).unwrap();
    let m: Vec<u64> = a.entries.iter().map(|e| e.modseq).collect();
    assert_eq!(m, [2, 3]);
    assert_eq!(a.highest_modseq, 3);
    // new/ -> cur/ without a flag change: same modseq.
    fs::rename(d.join("new/1.M1P1.h"), d.join("cur/1.M1P1.h:2,")).unwrap();
    let b = UidList::sync(d).unwrap();
    assert_eq!((b.get(1).unwrap().modseq, b.highest_modseq), (2, 3));
    // A flag change by anyone (here a plain rename) gets a new modseq.
    fs::rename(d.join("cur/1.M1P1.h:2,"), d.join("cur/1.M1P1.h:2,FS")).unwrap();
    let c = UidList::sync(d).unwrap();
    assert_eq!((c.get(1).unwrap().modseq, c.highest_modseq), (4, 4));
    assert_eq!(c.get(2).unwrap().modseq, 3);
    assert_eq!(UidList::sync(d).unwrap(), c, "stable without changes");
    fs::remove_file(d.join("new/2.M1P1.h")).unwrap();
    assert_eq!(UidList::sync(d).unwrap().highest_modseq, 5);
    put(d, "new", "3.M1P1.h");
    let e = UidList::sync(d).unwrap();
    assert_eq!((e.get(3).unwrap().modseq, e.highest_modseq), (6, 6));
}

#[test]
fn reads_and_upgrades_the_older_format() {
    let t = folder();
    let d = t.path();
    put(d, "cur", "10.M1P1.h:2,S");
    put(d, "new", "11.M1P1.h");
    fs::write(
        d.join(FILE),
        "1 V1234 N9
5 10.M1P1.h
8 11.M1P1.h
",
    )
    .unwrap();
    let l = UidList::sync(d).unwrap();
    assert_eq!(l.uidvalidity, 1234);
    assert_eq!(uids(&l), [(5, "10.M1P1.h"), (8, "11.M1P1.h")]);
    assert_eq!(l.next_uid, 9);
    assert!(l.entries.iter().all(|e| e.modseq == 1));
    let text = fs::read_to_string(d.join(FILE)).unwrap();
    assert!(text.starts_with("2 V1234 N9 M1"), "{text}");
    assert!(text.contains("\n5 1 c 17 10.M1P1.h:2,S\n"), "{text}");
    assert_eq!(UidList::sync(d).unwrap(), l);
}

#[test]
fn concurrent_syncs_never_share_a_uid() {
    let t = folder();
    let d = t.path().to_path_buf();
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let d = d.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                for j in 0..20 {
                    put(&d, "new", &format!("{}.M{j}P{i}.h", 1000 + j));
                    let l = UidList::sync(&d).unwrap();
                    seen.extend(l.entries.into_iter().map(|e| (e.uid, e.base)));
                }
                seen
            })
        })
        .collect();
    let mut by_uid: HashMap<u32, String> = HashMap::new();
    for h in handles {
        for (uid, base) in h.join().unwrap() {
            let prev = by_uid.entry(uid).or_insert_with(|| base.clone());
            assert_eq!(*prev, base, "uid {uid} given twice");
        }
    }
    assert_eq!(by_uid.len(), 160);
    assert_eq!(UidList::sync(&d).unwrap().entries.len(), 160);
}

/// Timing harness, not a check: `cargo test --release --lib uidlist::tests::bench_sync --
/// --ignored --nocapture` (BENCH_N sets the message count, default 20000).
#[test]
#[ignore]
fn bench_sync() {
    let n: usize = std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let t = folder();
    let d = t.path();
    for i in 0..n {
        let base = format!(
            "{}.M{i}P4242.bench.test,S={}",
            1_600_000_000 + i * 600,
            2000 + i % 7000
        );
        if i >= n - n / 10 {
            File::create(d.join("new").join(base)).unwrap();
        } else {
            File::create(d.join("cur").join(base + ":2,S")).unwrap();
        }
    }
    age_dirs(d, 1_600_000_000); // as a folder left alone for a while
    let t0 = std::time::Instant::now();
    UidList::sync(d).unwrap();
    eprintln!("first sync of {n}: {:?}", t0.elapsed());
    let runs: u32 = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let t0 = std::time::Instant::now();
    for _ in 0..runs {
        UidList::sync(d).unwrap();
    }
    eprintln!("warm sync of {n}: {:?}", t0.elapsed() / runs);
    let t0 = std::time::Instant::now();
    for i in 0..runs {
        age_dirs(d, 1_600_000_001 + u64::from(i)); // a change: scan, and new stamps written
        UidList::sync(d).unwrap();
    }
    eprintln!(
        "sync after a directory change, {n}: {:?}",
        t0.elapsed() / runs
    );
    let t0 = std::time::Instant::now();
    let files = scan(d).unwrap();
    let t1 = std::time::Instant::now();
    let text = file::load(&d.join(FILE)).unwrap().unwrap();
    let Loaded::Ok(ix) = file::parse(&text) else {
        panic!()
    };
    let t2 = std::time::Instant::now();
    let m = merge(&ix, files);
    let t3 = std::time::Instant::now();
    drop(m);
    eprintln!(
        "scan {:?} load+parse {:?} merge {:?} drop {:?}",
        t1 - t0,
        t2 - t1,
        t3 - t2,
        t3.elapsed()
    );
    let t0 = std::time::Instant::now();
    for i in 0..runs {
        put(d, "new", &format!("1900000000.M{i}P1.h,S=17"));
        UidList::sync(d).unwrap();
    }
    eprintln!("sync after one delivery, {n}: {:?}", t0.elapsed() / runs);
}
