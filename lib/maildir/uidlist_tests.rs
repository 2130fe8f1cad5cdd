//! Tests of the UID index (`uidlist.rs`): stability, assignment, Dovecot import, locking.
use super::*;

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
        d.join(DOVECOT_FILE),
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
    let lock_file = d.join(format!("{FILE}.lock"));
    fs::remove_file(&lock_file).unwrap();
    let ino = fs::metadata(d.join(FILE)).unwrap().ino();
    fs::rename(d.join("new/1.M1P1.h"), d.join("cur/1.M1P1.h:2,S")).unwrap();
    let b = UidList::sync(d).unwrap();
    assert_eq!(uids(&b), uids(&a));
    assert_eq!(b.get(1).unwrap().flags, "S");
    assert!(!lock_file.exists(), "took the lock with nothing to change");
    assert_eq!(fs::metadata(d.join(FILE)).unwrap().ino(), ino);
    put(d, "new", "2.M1P1.h");
    assert_eq!(UidList::sync(d).unwrap().next_uid, 3);
    assert!(lock_file.exists());
    assert_ne!(fs::metadata(d.join(FILE)).unwrap().ino(), ino);
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
    let files = scan(d).unwrap();
    let t1 = std::time::Instant::now();
    let text = load(&d.join(FILE)).unwrap().unwrap();
    let Loaded::Ok(ix) = parse(&text) else {
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
