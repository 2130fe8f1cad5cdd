//! The per-folder UID index `mailserver-uidlist`: IMAP UIDs and UIDVALIDITY, and the POP3 UIDL
//! derived from them, shared by imapd and pop3d.
//!
//! The file sits in the folder directory (the Maildir root for the INBOX, `.Name/` for a
//! folder). Line 1 is `1 V<uidvalidity> N<nextuid>`, then one `<uid> <base>` per message in UID
//! order, where `<base>` is the file name without its `:2,flags` info part (stable across flag
//! changes and the new/ → cur/ move). Other Maildir tools ignore the file. `sync` is the only
//! writer: it writes under an exclusive `flock` on `<FILE>.lock`, so concurrent sessions never
//! hand out one UID twice, and replaces the file atomically (tmp, fsync, rename, fsync dir).
//! A sync that finds nothing to change (the usual SELECT) takes no lock at all, so sessions
//! opening one folder do not queue behind each other.
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
use std::hash::{BuildHasherDefault, Hasher};
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

/// The index as read from disk: validity, next uid, and (uid, base) in UID order, the bases
/// borrowed from the file's text.
#[derive(Debug, Default)]
struct Index<'a> {
    uidvalidity: u32,
    next_uid: u32,
    uids: Vec<(u32, &'a str)>,
}

/// What reading the index found.
enum Loaded<'a> {
    Ok(Index<'a>),
    /// Unparseable; carries the old UIDVALIDITY if the header was readable.
    Corrupt(Option<u32>),
}

/// Index entries matched against the scanned files.
struct Merged {
    /// Messages that have a UID, in UID order.
    entries: Vec<UidEntry>,
    /// Files without a UID yet.
    fresh: Vec<ScannedFile>,
    /// Some index entry has no file any more.
    vanished: bool,
}

impl UidList {
    /// Lists new/ and cur/ of `folder_dir`, reads the index, gives files without a UID the next
    /// UIDs (in delivery order: the name's leading seconds/microseconds, then name), drops
    /// entries whose files are gone, and writes the index back atomically only when it changed.
    ///
    /// When nothing changed (the usual SELECT) no lock is taken: the index is replaced only by
    /// rename, so reading it unlocked sees a whole version. Any change is made under an
    /// exclusive flock on `<FILE>.lock`, after reading and scanning again under it.
    pub fn sync(folder_dir: &Path) -> Result<UidList> {
        let text = load(&folder_dir.join(FILE))?;
        let mut seen = None;
        if let Some(Loaded::Ok(ix)) = text.as_deref().map(parse) {
            let m = merge(&ix, scan(folder_dir)?);
            if m.fresh.is_empty() && !m.vanished {
                return Ok(UidList {
                    uidvalidity: ix.uidvalidity,
                    next_uid: ix.next_uid,
                    entries: m.entries,
                });
            }
            seen = Some(m);
        }
        let _lock = lock(folder_dir)?;
        sync_locked(folder_dir, text.zip(seen))
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

/// The writing half of `sync`, run under the exclusive lock: reads and scans afresh, assigns
/// UIDs, drops vanished entries and stores the index if anything changed.
///
/// `earlier` is the unlocked pass's index bytes and match. When the index still holds exactly
/// those bytes, no other session has written it since (every write moves `N` up or drops
/// entries, so contents never repeat), and the match is reused instead of scanning again.
fn sync_locked(folder_dir: &Path, earlier: Option<(Vec<u8>, Merged)>) -> Result<UidList> {
    let text = load(&folder_dir.join(FILE))?;
    let reuse = match (earlier, &text) {
        (Some((old, m)), Some(now)) if old == *now => Some(m),
        _ => None,
    };
    let dovecot;
    let (index, mut changed) = match text.as_deref().map(parse) {
        Some(Loaded::Ok(ix)) => (ix, false),
        Some(Loaded::Corrupt(old)) => (fresh_unlike(old), true),
        None => {
            dovecot = fs::read_to_string(folder_dir.join(DOVECOT_FILE)).ok();
            let ix = dovecot.as_deref().and_then(parse_dovecot);
            (ix.unwrap_or_else(fresh), true)
        }
    };
    let mut m = match reuse {
        Some(m) => m,
        None => merge(&index, scan(folder_dir)?),
    };
    if m.vanished {
        // A flag rename racing our readdir may hide a file once; look again before
        // dropping its UID for good.
        let mut files: Vec<ScannedFile> = m.entries.into_iter().map(ScannedFile::from).collect();
        files.append(&mut m.fresh);
        let seen: HashSet<String> = files.iter().map(|f| f.base().to_string()).collect();
        files.extend(
            scan(folder_dir)?
                .into_iter()
                .filter(|f| !seen.contains(f.base())),
        );
        m = merge(&index, files);
    }
    changed |= m.vanished || !m.fresh.is_empty();
    let mut next_uid = index.next_uid;
    m.fresh
        .sort_by(|a, b| delivery_key(a.base()).cmp(&delivery_key(b.base())));
    for f in m.fresh {
        m.entries.push(f.into_entry(next_uid));
        next_uid = next_uid.saturating_add(1);
    }
    if changed {
        store(folder_dir, index.uidvalidity, next_uid, &m.entries)?;
    }
    Ok(UidList {
        uidvalidity: index.uidvalidity,
        next_uid,
        entries: m.entries,
    })
}

/// Matches index entries to files by base name. A base scanned twice (new/ and cur/, a move
/// seen half-way) keeps the later one, which `scan` puts in cur/.
fn merge(index: &Index, files: Vec<ScannedFile>) -> Merged {
    let mut by_base = name_map(files.len());
    for (i, f) in files.iter().enumerate() {
        by_base.insert(f.base(), i);
    }
    let mut vanished = false;
    let mut order = Vec::with_capacity(index.uids.len().min(files.len()));
    for &(uid, base) in &index.uids {
        match by_base.get(base) {
            Some(&i) => order.push((uid, i)),
            None => vanished = true,
        }
    }
    let mut winner = vec![false; files.len()];
    for &i in by_base.values() {
        winner[i] = true;
    }
    drop(by_base);
    let mut files: Vec<Option<ScannedFile>> = files.into_iter().map(Some).collect();
    let mut entries = Vec::with_capacity(files.len());
    for (uid, i) in order {
        if let Some(f) = files[i].take() {
            entries.push(f.into_entry(uid));
        }
    }
    let fresh = files
        .into_iter()
        .zip(winner)
        .filter_map(|(f, win)| f.filter(|_| win))
        .collect();
    Merged {
        entries,
        fresh,
        vanished,
    }
}

/// A map keyed by base names, with the fast `NameHasher`.
fn name_map<'a, V>(capacity: usize) -> HashMap<&'a str, V, BuildHasherDefault<NameHasher>> {
    HashMap::with_capacity_and_hasher(capacity, BuildHasherDefault::default())
}

/// FxHash-style hasher for base names in `merge`: several times faster than SipHash on short
/// keys. Not flood-resistant, which is fine: the keys are file names in the user's own folder.
#[derive(Default)]
struct NameHasher(u64);

impl Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0xf135_7aea_2e62_a9c5;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
}

/// A message file found by `scan`.
struct ScannedFile {
    file_name: String,
    /// Length of the base name (the part before `:`).
    base_len: usize,
    in_new: bool,
    size: u64,
}

impl ScannedFile {
    fn base(&self) -> &str {
        &self.file_name[..self.base_len]
    }

    fn into_entry(self, uid: u32) -> UidEntry {
        UidEntry {
            uid,
            base: self.base().to_string(),
            flags: sorted_flags(name::flags(&self.file_name)),
            file_name: self.file_name,
            in_new: self.in_new,
            size: self.size,
        }
    }
}

impl From<UidEntry> for ScannedFile {
    fn from(e: UidEntry) -> ScannedFile {
        ScannedFile {
            base_len: e.base.len(),
            file_name: e.file_name,
            in_new: e.in_new,
            size: e.size,
        }
    }
}

/// Flag letters sorted and without repeats (already so in nearly every name).
fn sorted_flags(flags: &str) -> String {
    if flags.as_bytes().windows(2).all(|w| w[0] < w[1]) {
        return flags.to_string();
    }
    let mut v: Vec<char> = flags.chars().collect();
    v.sort_unstable();
    v.dedup();
    v.into_iter().collect()
}

/// The base name of a message file name (everything before the `:` info part).
pub fn base_of(file_name: &str) -> &str {
    file_name.split_once(':').map_or(file_name, |(b, _)| b)
}

/// Files in new/ then cur/. Names with dots in front or line breaks are not messages.
fn scan(folder_dir: &Path) -> Result<Vec<ScannedFile>> {
    let mut out = Vec::new();
    for (sub, in_new) in [("new", true), ("cur", false)] {
        let d = folder_dir.join(sub);
        let rd = match fs::read_dir(&d) {
            Ok(r) => r,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("read", &d)(e)),
        };
        for entry in rd {
            let entry = entry.map_err(Error::io("read", &d))?;
            let Ok(fname) = entry.file_name().into_string() else {
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
            out.push(ScannedFile {
                base_len: base_of(&fname).len(),
                file_name: fname,
                in_new,
                size,
            });
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

fn fresh<'a>() -> Index<'a> {
    Index {
        uidvalidity: now_secs(),
        next_uid: 1,
        uids: Vec::new(),
    }
}

/// A fresh index whose UIDVALIDITY differs from `old`.
fn fresh_unlike<'a>(old: Option<u32>) -> Index<'a> {
    let mut ix = fresh();
    if let Some(old) = old {
        if ix.uidvalidity <= old {
            ix.uidvalidity = old.wrapping_add(1).max(1);
        }
    }
    ix
}

/// Reads the index's bytes; `None` when it does not exist. An unreadable file (permissions,
/// I/O) is an error, not corruption, so a passing problem never costs the folder its UIDs.
fn load(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path)(e)),
    }
}

/// Parses our format; anything off (bad header, non-increasing or out-of-range UIDs,
/// duplicate bases) makes it corrupt.
fn parse(bytes: &[u8]) -> Loaded<'_> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Loaded::Corrupt(None);
    };
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
    let mut seen = name_map(text.len() / 32);
    let mut last = 0;
    for line in lines {
        let Some((uid, base)) = line.split_once(' ') else {
            return corrupt;
        };
        let Ok(uid) = uid.parse::<u32>() else {
            return corrupt;
        };
        if uid <= last || uid >= next_uid || base.is_empty() || seen.insert(base, ()).is_some() {
            return corrupt;
        }
        last = uid;
        ix.uids.push((uid, base));
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
fn parse_dovecot(text: &str) -> Option<Index<'_>> {
    let mut lines = text.lines();
    let (uidvalidity, mut next_uid) = parse_header(lines.next()?, "3")?;
    let mut ix = Index::default();
    let mut seen = name_map(text.len() / 32);
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
        if uid <= last || base.is_empty() || seen.insert(base, ()).is_some() {
            continue;
        }
        last = uid;
        ix.uids.push((uid, base));
    }
    next_uid = next_uid.max(last.saturating_add(1));
    ix.uidvalidity = uidvalidity;
    ix.next_uid = next_uid;
    Some(ix)
}

/// Writes the index to `<FILE>.tmp`, fsyncs it, renames it over `FILE`, fsyncs the directory.
fn store(folder_dir: &Path, uidvalidity: u32, next_uid: u32, entries: &[UidEntry]) -> Result<()> {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(32 + entries.len() * 48);
    let _ = writeln!(text, "1 V{uidvalidity} N{next_uid}");
    for e in entries {
        let _ = writeln!(text, "{} {}", e.uid, e.base);
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
#[path = "uidlist_tests.rs"]
mod tests;
