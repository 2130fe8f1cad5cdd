//! The per-folder UID index `mailserver-uidlist`: IMAP UIDs and UIDVALIDITY, and the POP3 UIDL
//! derived from them, shared by imapd and pop3d.
//!
//! The file sits in the folder directory (the Maildir root for the INBOX, `.Name/` for a
//! folder). Line 1 is `1 V<uidvalidity> N<nextuid>`, then one `<uid> <base>` per message in UID
//! order, where `<base>` is the file name without its `:2,flags` info part (stable across flag
//! changes and the new/ → cur/ move). Other Maildir tools ignore the file. `sync` is the only
//! writer: it runs under an exclusive `flock` on `<FILE>.lock`, so concurrent sessions never
//! hand out one UID twice, and replaces the file atomically (tmp, fsync, rename, fsync dir).
//!
//! A missing index starts from Dovecot's `dovecot-uidlist` (v3) when present, keeping its
//! UIDVALIDITY and UIDs, so clients migrating from Dovecot see no change. A corrupt index is
//! rebuilt with a new UIDVALIDITY (clients then refetch, as the IMAP RFC intends).
//!
//! Does not rename, delete or read message files (see `store`). Errors: `maildir::Error::Io`
//! (temporary).

use super::error::{Error, Result};
use super::name;
use nix::fcntl::{Flock, FlockArg};
use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The index file name in a folder directory.
pub const FILE: &str = "mailserver-uidlist";
/// Dovecot's index, imported when ours is missing.
const DOVECOT_FILE: &str = "dovecot-uidlist";

/// One message with its UID.
#[derive(Debug, Clone, PartialEq)]
pub struct UidEntry {
    pub uid: u32,
    /// File name without the `:2,flags` info part: stable across flag changes and new/→cur/ moves.
    pub base: String,
    /// Current file name (with info part, if any) and whether it sits in new/.
    pub file_name: String,
    pub in_new: bool,
    /// Flags letters from the `:2,` info part (e.g. "FS"), sorted.
    pub flags: String,
    /// Message size: from `,S=` in the name when present, else file metadata.
    pub size: u64,
}

/// The messages of one folder by UID, with the folder's UIDVALIDITY and next UID.
#[derive(Debug, Clone, PartialEq)]
pub struct UidList {
    pub uidvalidity: u32,
    pub next_uid: u32,
    /// Sorted by uid.
    pub entries: Vec<UidEntry>,
}

/// The index as read from disk: validity, next uid, and base → uid.
#[derive(Debug, Default)]
struct Index {
    uidvalidity: u32,
    next_uid: u32,
    uids: Vec<(u32, String)>,
}

/// What reading the index found.
enum Loaded {
    Ok(Index),
    Missing,
    /// Unparseable; carries the old UIDVALIDITY if the header was readable.
    Corrupt(Option<u32>),
}

impl UidList {
    /// Lists new/ and cur/ of `folder_dir`, reads the index, gives files without a UID the next
    /// UIDs (in delivery order: the name's leading seconds/microseconds, then name), drops
    /// entries whose files are gone, and writes the index back atomically only when it changed.
    /// Holds an exclusive flock on `<FILE>.lock` while doing so.
    pub fn sync(folder_dir: &Path) -> Result<UidList> {
        let _lock = lock(folder_dir)?;
        let mut files = scan(folder_dir)?;
        let (mut index, mut changed) = match load(&folder_dir.join(FILE))? {
            Loaded::Ok(ix) => (ix, false),
            Loaded::Missing => (import_dovecot(folder_dir).unwrap_or_else(fresh), true),
            Loaded::Corrupt(old) => (fresh_unlike(old), true),
        };
        if index.uids.iter().any(|(_, b)| !files.contains_key(b)) {
            // A flag rename racing our readdir may hide a file once; look again before
            // dropping its UID for good.
            for (base, f) in scan(folder_dir)? {
                files.entry(base).or_insert(f);
            }
        }
        let mut entries = Vec::with_capacity(files.len());
        let mut kept = Vec::with_capacity(index.uids.len());
        for (uid, base) in std::mem::take(&mut index.uids) {
            match files.remove(&base) {
                Some(f) => {
                    entries.push(f.into_entry(uid, base.clone()));
                    kept.push((uid, base));
                }
                None => changed = true,
            }
        }
        let mut fresh: Vec<(String, ScannedFile)> = files.into_iter().collect();
        fresh.sort_by(|a, b| delivery_key(&a.0).cmp(&delivery_key(&b.0)));
        for (base, f) in fresh {
            let uid = index.next_uid;
            index.next_uid = index.next_uid.saturating_add(1);
            entries.push(f.into_entry(uid, base.clone()));
            kept.push((uid, base));
            changed = true;
        }
        index.uids = kept;
        if changed {
            store(folder_dir, &index)?;
        }
        Ok(UidList {
            uidvalidity: index.uidvalidity,
            next_uid: index.next_uid,
            entries,
        })
    }

    /// The entry with this UID, if the message exists.
    pub fn get(&self, uid: u32) -> Option<&UidEntry> {
        self.entries
            .binary_search_by_key(&uid, |e| e.uid)
            .ok()
            .map(|i| &self.entries[i])
    }

    /// Path of the message file now.
    pub fn path(&self, folder_dir: &Path, e: &UidEntry) -> PathBuf {
        let sub = if e.in_new { "new" } else { "cur" };
        folder_dir.join(sub).join(&e.file_name)
    }
}

/// A message file found by `scan`.
struct ScannedFile {
    file_name: String,
    in_new: bool,
    size: u64,
}

impl ScannedFile {
    fn into_entry(self, uid: u32, base: String) -> UidEntry {
        let mut flags: Vec<char> = name::flags(&self.file_name).chars().collect();
        flags.sort_unstable();
        flags.dedup();
        UidEntry {
            uid,
            base,
            flags: flags.into_iter().collect(),
            file_name: self.file_name,
            in_new: self.in_new,
            size: self.size,
        }
    }
}

/// The base name of a message file name (everything before the `:` info part).
pub fn base_of(file_name: &str) -> &str {
    file_name.split_once(':').map_or(file_name, |(b, _)| b)
}

/// Files in new/ then cur/, by base name. A base present in both (a move seen half-way) keeps
/// the cur/ one. Names with dots in front or line breaks are not messages.
fn scan(folder_dir: &Path) -> Result<HashMap<String, ScannedFile>> {
    let mut out = HashMap::new();
    for (sub, in_new) in [("new", true), ("cur", false)] {
        let d = folder_dir.join(sub);
        let rd = match fs::read_dir(&d) {
            Ok(r) => r,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("read", &d)(e)),
        };
        for entry in rd {
            let entry = entry.map_err(Error::io("read", &d))?;
            let Some(fname) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if fname.starts_with('.') || fname.contains(['\n', '\r']) {
                continue;
            }
            let size = match name::size(&fname) {
                Some(s) => s,
                None => match entry.metadata() {
                    Ok(m) => m.len(),
                    Err(_) => continue, // gone meanwhile
                },
            };
            let base = base_of(&fname).to_string();
            let f = ScannedFile {
                file_name: fname,
                in_new,
                size,
            };
            out.insert(base, f);
        }
    }
    Ok(out)
}

/// Delivery order: leading seconds, then the `M<usec>` part, then the name.
fn delivery_key(base: &str) -> (u64, u64, &str) {
    let (secs, rest) = split_digits(base);
    let usec = rest
        .strip_prefix('.')
        .and_then(|r| r.strip_prefix('M'))
        .map_or(0, |r| split_digits(r).0);
    (secs, usec, base)
}

fn split_digits(s: &str) -> (u64, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    (s[..end].parse().unwrap_or(u64::MAX), &s[end..])
}

fn now_secs() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_secs());
    u32::try_from(secs).unwrap_or(u32::MAX).max(1)
}

fn fresh() -> Index {
    Index {
        uidvalidity: now_secs(),
        next_uid: 1,
        uids: Vec::new(),
    }
}

/// A fresh index whose UIDVALIDITY differs from `old`.
fn fresh_unlike(old: Option<u32>) -> Index {
    let mut ix = fresh();
    if let Some(old) = old {
        if ix.uidvalidity <= old {
            ix.uidvalidity = old.wrapping_add(1).max(1);
        }
    }
    ix
}

/// Reads the index. An unreadable file (permissions, I/O) is an error, not corruption, so a
/// passing problem never costs the folder its UIDs.
fn load(path: &Path) -> Result<Loaded> {
    match fs::read(path) {
        Ok(bytes) => Ok(match String::from_utf8(bytes) {
            Ok(text) => parse(&text),
            Err(_) => Loaded::Corrupt(None),
        }),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Loaded::Missing),
        Err(e) => Err(Error::io("read", path)(e)),
    }
}

/// Parses our format; anything off (bad header, non-increasing or out-of-range UIDs,
/// duplicate bases) makes it corrupt.
fn parse(text: &str) -> Loaded {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let Some((uidvalidity, next_uid)) = parse_header(header, "1") else {
        return Loaded::Corrupt(None);
    };
    let corrupt = Loaded::Corrupt(Some(uidvalidity));
    if !text.ends_with('\n') {
        return corrupt;
    }
    let mut ix = Index {
        uidvalidity,
        next_uid,
        uids: Vec::new(),
    };
    let mut seen = HashSet::new();
    let mut last = 0;
    for line in lines {
        let Some((uid, base)) = line.split_once(' ') else {
            return corrupt;
        };
        let Ok(uid) = uid.parse::<u32>() else {
            return corrupt;
        };
        if uid <= last || uid >= next_uid || base.is_empty() || !seen.insert(base) {
            return corrupt;
        }
        last = uid;
        ix.uids.push((uid, base.to_string()));
    }
    Loaded::Ok(ix)
}

/// `<version> V<uidvalidity> N<nextuid> [more fields]`.
fn parse_header(line: &str, version: &str) -> Option<(u32, u32)> {
    let mut fields = line.split_ascii_whitespace();
    if fields.next()? != version {
        return None;
    }
    let (mut v, mut n) = (None, None);
    for f in fields {
        if let Some(x) = f.strip_prefix('V') {
            v = x.parse::<u32>().ok();
        } else if let Some(x) = f.strip_prefix('N') {
            n = x.parse::<u32>().ok();
        }
    }
    match (v?, n?) {
        (0, _) | (_, 0) => None,
        (v, n) => Some((v, n)),
    }
}

/// Reads a Dovecot v3 `dovecot-uidlist`: header `3 V<uidvalidity> N<nextuid> ...`, lines
/// `<uid> [ext fields] :<base>`. Lines it cannot read are skipped (those messages get new
/// UIDs above Dovecot's); an unreadable header means no import.
fn import_dovecot(folder_dir: &Path) -> Option<Index> {
    let text = fs::read_to_string(folder_dir.join(DOVECOT_FILE)).ok()?;
    let mut lines = text.lines();
    let (uidvalidity, mut next_uid) = parse_header(lines.next()?, "3")?;
    let mut ix = Index::default();
    let mut seen = HashSet::new();
    let mut last = 0;
    for line in lines {
        let Some((uid, rest)) = line.split_once(' ') else {
            continue;
        };
        let Ok(uid) = uid.parse::<u32>() else {
            continue;
        };
        let Some((_, base)) = rest.split_once(':') else {
            continue;
        };
        if uid <= last || base.is_empty() || !seen.insert(base.to_string()) {
            continue;
        }
        last = uid;
        ix.uids.push((uid, base.to_string()));
    }
    next_uid = next_uid.max(last.saturating_add(1));
    ix.uidvalidity = uidvalidity;
    ix.next_uid = next_uid;
    Some(ix)
}

/// Writes the index to `<FILE>.tmp`, fsyncs it, renames it over `FILE`, fsyncs the directory.
fn store(folder_dir: &Path, ix: &Index) -> Result<()> {
    let mut text = format!("1 V{} N{}\n", ix.uidvalidity, ix.next_uid);
    for (uid, base) in &ix.uids {
        text.push_str(&format!("{uid} {base}\n"));
    }
    let tmp = folder_dir.join(format!("{FILE}.tmp"));
    let path = folder_dir.join(FILE);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(Error::io("create", &tmp))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(Error::io("write", &tmp))?;
    fs::rename(&tmp, &path).map_err(Error::io("rename", &path))?;
    File::open(folder_dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("fsync", folder_dir))
}

/// The exclusive lock serializing `sync` across processes and threads (flock locks belong to
/// the open file, so two opens in one process exclude each other too).
fn lock(folder_dir: &Path) -> Result<Flock<File>> {
    let path = folder_dir.join(format!("{FILE}.lock"));
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(Error::io("open", &path))?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, errno)| Error::io("flock", &path)(errno.into()))
}

#[cfg(test)]
mod tests {
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
}
