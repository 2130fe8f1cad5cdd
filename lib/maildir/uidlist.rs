//! The per-folder UID index `mailserver-uidlist`: IMAP UIDs and UIDVALIDITY, CONDSTORE
//! modification sequences (RFC 7162), and the POP3 UIDL derived from the UIDs, shared by
//! imapd and pop3d.
//!
//! The file sits in the folder directory (the Maildir root for the INBOX, `.Name/` for a
//! folder); its format is in `imap_uidfile.rs`. Each message is recorded with its UID, its
//! modseq, and its current file name (the base name before `:2,` is stable across flag
//! changes and the new/ → cur/ move, and identifies the message). Other Maildir tools ignore
//! the file. Writers hold an exclusive `flock` on `<FILE>.lock`, so concurrent sessions never
//! hand out one UID twice, and replace the file atomically (tmp, fsync, rename, fsync dir).
//!
//! Modseqs: a message's modseq is raised (to a new HIGHESTMODSEQ) when it arrives and when a
//! sync finds its flags differ from the recorded name (whoever renamed it: imapd, pop3d,
//! mblaze); an expunge raises HIGHESTMODSEQ too. Flag changes are thus noticed by the next
//! sync after them, not at the rename itself.
//!
//! Speed: a sync whose recorded new/ and cur/ mtimes still match (and are old enough to be
//! trusted, see `Stamps::trusted`) reads only the index: no directory scan, no lock. Otherwise
//! the folder is scanned without the lock, and the lock is taken only when something must be
//! written (then the index is re-read and, if another process wrote it meanwhile, the folder
//! re-scanned under the lock).
//!
//! A missing index starts from Dovecot's `dovecot-uidlist` (v3) when present, keeping its
//! UIDVALIDITY and UIDs, so clients migrating from Dovecot see no change. A corrupt index is
//! rebuilt with a new UIDVALIDITY (clients then refetch, as the IMAP RFC intends). An index in
//! the older format 1 keeps its UIDs and is upgraded on the next write.
//!
//! Does not rename, delete or read message files (see `store`). Errors: `maildir::Error::Io`
//! (temporary).

use super::error::{Error, Result};
use super::name;
use std::collections::HashSet;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

#[path = "imap_uidfile.rs"]
mod file;

pub use file::FILE;
use file::{Index, IxEntry, Loaded, Stamps};

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
    /// CONDSTORE modification sequence (RFC 7162): raised on arrival and on flag changes.
    pub modseq: u64,
}

/// The messages of one folder by UID, with the folder's UIDVALIDITY and next UID.
#[derive(Debug, Clone, PartialEq)]
pub struct UidList {
    pub uidvalidity: u32,
    pub next_uid: u32,
    /// HIGHESTMODSEQ: at least every entry's modseq; raised by arrivals, flag changes and
    /// expunges.
    pub highest_modseq: u64,
    /// Sorted by uid.
    pub entries: Vec<UidEntry>,
}

/// Index entries matched against the scanned files.
struct Merged {
    /// Messages that have a UID, in UID order.
    entries: Vec<UidEntry>,
    /// Files without a UID yet.
    fresh: Vec<ScannedFile>,
    /// Some index entry has no file any more.
    vanished: bool,
    /// Some recorded name, location or size differs from the file's (or the index is old).
    changed: bool,
    /// HIGHESTMODSEQ after the flag changes found (fresh files not yet counted).
    highest: u64,
}

impl UidList {
    /// The folder's messages with UIDs: files without a UID get the next UIDs (in delivery
    /// order: the name's leading seconds/microseconds, then name), entries whose files are
    /// gone are dropped, and the index is written back atomically when anything changed.
    ///
    /// Reading is unlocked (the index is replaced only by rename, so a read sees a whole
    /// version); the folder is not even scanned when its directories' mtimes are the recorded
    /// ones. Changes are written under an exclusive flock on `<FILE>.lock`, after reading
    /// (and, if the index changed meanwhile, scanning) again under it.
    pub fn sync(folder_dir: &Path) -> Result<UidList> {
        let text = file::load(&folder_dir.join(FILE))?;
        let mut seen = None;
        if let Some(Loaded::Ok(ix)) = text.as_deref().map(file::parse) {
            if ix.full {
                if let (Some(old), Some(now)) = (ix.stamps, Stamps::take(folder_dir)) {
                    if old.trusted() && old.same_dirs(&now) {
                        return Ok(from_index(&ix));
                    }
                }
            }
            let stamps = Stamps::take(folder_dir);
            let m = merge(&ix, scan(folder_dir)?);
            if !m.vanished && m.fresh.is_empty() && !m.changed && !improves(&ix, stamps) {
                return Ok(UidList {
                    uidvalidity: ix.uidvalidity,
                    next_uid: ix.next_uid,
                    highest_modseq: m.highest,
                    entries: m.entries,
                });
            }
            seen = Some((m, stamps));
        }
        let _lock = file::lock(folder_dir)?;
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

/// Whether writing `stamps` would let later syncs skip the scan where `ix`'s do not.
fn improves(ix: &Index, stamps: Option<Stamps>) -> bool {
    let Some(s) = stamps.filter(Stamps::trusted) else {
        return false;
    };
    !ix.stamps
        .is_some_and(|old| old.trusted() && old.same_dirs(&s))
}

/// The list as the index records it (its stamps say the folder did not change).
fn from_index(ix: &Index) -> UidList {
    let entries = ix
        .entries
        .iter()
        .map(|e| UidEntry {
            uid: e.uid,
            base: base_of(e.name).to_string(),
            file_name: e.name.to_string(),
            in_new: e.in_new,
            flags: sorted_flags(name::flags(e.name)),
            size: e.size,
            modseq: e.modseq,
        })
        .collect();
    UidList {
        uidvalidity: ix.uidvalidity,
        next_uid: ix.next_uid,
        highest_modseq: ix.highest_modseq,
        entries,
    }
}

/// The unlocked pass's index bytes, match, and the stamps taken before its scan.
type Earlier = (Vec<u8>, (Merged, Option<Stamps>));

/// The writing half of `sync`, run under the exclusive lock: reads and scans afresh, assigns
/// UIDs and modseqs, drops vanished entries and stores the index if anything changed.
///
/// `earlier` is the unlocked pass's index bytes, match and stamps. When the index still holds
/// exactly those bytes, no other session has written it since (every write moves `N` or `M`
/// up or changes entries), and the match is reused instead of scanning again.
fn sync_locked(folder_dir: &Path, earlier: Option<Earlier>) -> Result<UidList> {
    let text = file::load(&folder_dir.join(FILE))?;
    let reuse = match (earlier, &text) {
        (Some((old, m)), Some(now)) if old == *now => Some(m),
        _ => None,
    };
    let dovecot;
    let (index, mut changed) = match text.as_deref().map(file::parse) {
        Some(Loaded::Ok(ix)) => {
            let old = !ix.full;
            (ix, old)
        }
        Some(Loaded::Corrupt(old)) => (fresh_unlike(old), true),
        None => {
            dovecot = fs::read_to_string(folder_dir.join(file::DOVECOT_FILE)).ok();
            let ix = dovecot.as_deref().and_then(file::parse_dovecot);
            (ix.unwrap_or_else(fresh), true)
        }
    };
    let (mut m, stamps) = match reuse {
        Some(m) => m,
        None => {
            let stamps = Stamps::take(folder_dir);
            (merge(&index, scan(folder_dir)?), stamps)
        }
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
    changed |= m.vanished || !m.fresh.is_empty() || m.changed || improves(&index, stamps);
    let mut next_uid = index.next_uid;
    let mut highest = m.highest;
    m.fresh
        .sort_by(|a, b| delivery_key(a.base()).cmp(&delivery_key(b.base())));
    for f in m.fresh {
        highest += 1;
        m.entries.push(f.into_entry(next_uid, highest));
        next_uid = next_uid.saturating_add(1);
    }
    if changed {
        file::store(
            folder_dir,
            &file::Snapshot {
                uidvalidity: index.uidvalidity,
                next_uid,
                highest_modseq: highest,
                stamps,
                entries: &m.entries,
            },
        )?;
    }
    Ok(UidList {
        uidvalidity: index.uidvalidity,
        next_uid,
        highest_modseq: highest,
        entries: m.entries,
    })
}

/// Matches index entries to files by base name. A base scanned twice (new/ and cur/, a move
/// seen half-way) keeps the later one, which `scan` puts in cur/. A message whose flags differ
/// from the recorded name gets a new modseq; vanished messages raise HIGHESTMODSEQ once.
fn merge(index: &Index, files: Vec<ScannedFile>) -> Merged {
    let mut by_base = file::name_map(files.len());
    for (i, f) in files.iter().enumerate() {
        by_base.insert(f.base(), i);
    }
    let mut vanished = false;
    let mut order: Vec<(&IxEntry, usize)> =
        Vec::with_capacity(index.entries.len().min(files.len()));
    for e in &index.entries {
        match by_base.get(base_of(e.name)) {
            Some(&i) => order.push((e, i)),
            None => vanished = true,
        }
    }
    let mut winner = vec![false; files.len()];
    for &i in by_base.values() {
        winner[i] = true;
    }
    drop(by_base);
    let mut highest = index.highest_modseq.max(1);
    let mut changed = !index.full;
    let mut files: Vec<Option<ScannedFile>> = files.into_iter().map(Some).collect();
    let mut entries = Vec::with_capacity(files.len());
    for (ix, i) in order {
        let Some(f) = files[i].take() else { continue };
        let mut e = f.into_entry(ix.uid, ix.modseq);
        if index.full && (e.file_name != ix.name || e.in_new != ix.in_new || e.size != ix.size) {
            changed = true;
            if e.flags != sorted_flags(name::flags(ix.name)) {
                highest += 1;
                e.modseq = highest;
            }
        }
        entries.push(e);
    }
    if vanished {
        highest += 1;
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
        changed,
        highest,
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

    fn into_entry(self, uid: u32, modseq: u64) -> UidEntry {
        UidEntry {
            uid,
            base: self.base().to_string(),
            flags: sorted_flags(name::flags(&self.file_name)),
            file_name: self.file_name,
            in_new: self.in_new,
            size: self.size,
            modseq,
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
        highest_modseq: 1,
        full: true,
        stamps: None,
        entries: Vec::new(),
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

#[cfg(test)]
#[path = "uidlist_tests.rs"]
mod tests;
