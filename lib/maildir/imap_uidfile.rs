//! The on-disk form of the UID index (`uidlist::FILE`): reading and writing it, Dovecot's
//! `dovecot-uidlist` import, and the lock that serializes writers. Used only by `uidlist`.
//!
//! Format 2 (written now):
//!
//! ```text
//! 2 V<uidvalidity> N<nextuid> M<highestmodseq> [T<new-mtime>.<cur-mtime>.<scan-start>]
//! <uid> <modseq> <n|c> <size> <file name with its :2,flags info part>
//! ```
//!
//! The `T` stamps (nanoseconds since the epoch) are new/'s and cur/'s mtimes taken before the
//! scan whose result the file holds, and when that scan began: while both directories still
//! have those mtimes and both are more than a second older than the scan, nothing can have
//! changed in them since (see `Stamps::trusted`), and `sync` answers from the file alone.
//!
//! Format 1 (written by earlier versions, still read): `1 V<uidvalidity> N<nextuid>`, then
//! `<uid> <base>`; it has no file names, sizes or modseqs, so it is always checked against a
//! scan, every message gets modseq 1, and the next write upgrades it.
//! Errors: `maildir::Error::Io`; an unparseable file is `Loaded::Corrupt`, not an error.

use super::super::error::{Error, Result};
use nix::fcntl::{Flock, FlockArg};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// The index file name in a folder directory.
pub const FILE: &str = "mailserver-uidlist";
/// Dovecot's index, imported when ours is missing.
pub const DOVECOT_FILE: &str = "dovecot-uidlist";

/// How far a directory's mtime must be behind the scan for the stamps to be trusted:
/// changes within one timestamp tick of the scan could leave the mtime unchanged.
const MTIME_MARGIN_NS: i64 = 1_000_000_000;

/// One index line. For format 1 and Dovecot lines (`Index::full` false) `name` is only the
/// base name, and location, size and modseq are placeholders.
#[derive(Debug, Clone, Copy)]
pub struct IxEntry<'a> {
    pub uid: u32,
    pub modseq: u64,
    pub name: &'a str,
    pub in_new: bool,
    pub size: u64,
}

/// The index as read from disk, borrowing names from the file's text.
#[derive(Debug, Default)]
pub struct Index<'a> {
    pub uidvalidity: u32,
    pub next_uid: u32,
    pub highest_modseq: u64,
    /// Lines carry full file names, locations, sizes and modseqs (format 2).
    pub full: bool,
    pub stamps: Option<Stamps>,
    pub entries: Vec<IxEntry<'a>>,
}

/// What reading the index found.
pub enum Loaded<'a> {
    Ok(Index<'a>),
    /// Unparseable; carries the old UIDVALIDITY if the header was readable.
    Corrupt(Option<u32>),
}

/// new/ and cur/ mtimes before a scan, and when the scan began (ns since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamps {
    pub new: i64,
    pub cur: i64,
    pub scanned: i64,
}

impl Stamps {
    /// The folder's stamps now; `None` if a directory cannot be looked at.
    pub fn take(folder_dir: &Path) -> Option<Stamps> {
        let mtime = |sub: &str| {
            let m = fs::metadata(folder_dir.join(sub)).ok()?;
            m.mtime()
                .checked_mul(1_000_000_000)?
                .checked_add(m.mtime_nsec())
        };
        let scanned = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_nanos()).ok())?;
        Some(Stamps {
            new: mtime("new")?,
            cur: mtime("cur")?,
            scanned,
        })
    }

    /// Both mtimes are far enough behind the scan that a later change must move them.
    pub fn trusted(&self) -> bool {
        self.new.max(self.cur).saturating_add(MTIME_MARGIN_NS) < self.scanned
    }

    /// Same directory mtimes (the scan times may differ).
    pub fn same_dirs(&self, other: &Stamps) -> bool {
        self.new == other.new && self.cur == other.cur
    }
}

/// Reads the index's bytes; `None` when it does not exist. An unreadable file (permissions,
/// I/O) is an error, not corruption, so a passing problem never costs the folder its UIDs.
pub fn load(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path)(e)),
    }
}

/// Parses format 2 or 1; anything off (bad header, non-increasing or out-of-range UIDs,
/// duplicate bases, modseqs above the highest) makes it corrupt.
pub fn parse(bytes: &[u8]) -> Loaded<'_> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Loaded::Corrupt(None);
    };
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let full = header.starts_with("2 ");
    let version = if full { "2" } else { "1" };
    let Some(h) = parse_header(header, version) else {
        return Loaded::Corrupt(None);
    };
    let corrupt = Loaded::Corrupt(Some(h.uidvalidity));
    if !text.ends_with('\n') || (full && h.highest_modseq == 0) {
        return corrupt;
    }
    let mut ix = Index {
        uidvalidity: h.uidvalidity,
        next_uid: h.next_uid,
        highest_modseq: h.highest_modseq.max(1),
        full,
        stamps: h.stamps,
        entries: Vec::with_capacity(text.len() / 64),
    };
    let mut seen = name_map(text.len() / 64);
    let mut last = 0;
    for line in lines {
        let Some(e) = (if full { line_v2(line) } else { line_v1(line) }) else {
            return corrupt;
        };
        let base = super::base_of(e.name);
        if e.uid <= last
            || e.uid >= ix.next_uid
            || base.is_empty()
            || e.modseq > ix.highest_modseq
            || seen.insert(base, ()).is_some()
        {
            return corrupt;
        }
        last = e.uid;
        ix.entries.push(e);
    }
    Loaded::Ok(ix)
}

fn line_v1(line: &str) -> Option<IxEntry<'_>> {
    let (uid, base) = line.split_once(' ')?;
    Some(IxEntry {
        uid: uid.parse().ok()?,
        modseq: 1,
        name: base,
        in_new: false,
        size: 0,
    })
}

fn line_v2(line: &str) -> Option<IxEntry<'_>> {
    let mut f = line.splitn(5, ' ');
    let uid = f.next()?.parse().ok()?;
    let modseq = f.next()?.parse().ok().filter(|&m| m > 0)?;
    let in_new = match f.next()? {
        "n" => true,
        "c" => false,
        _ => return None,
    };
    let size = f.next()?.parse().ok()?;
    Some(IxEntry {
        uid,
        modseq,
        name: f.next()?,
        in_new,
        size,
    })
}

/// A parsed header line.
struct Header {
    uidvalidity: u32,
    next_uid: u32,
    highest_modseq: u64,
    stamps: Option<Stamps>,
}

/// `<version> V<uidvalidity> N<nextuid> [M<modseq>] [T<n>.<c>.<s>] [more fields]`.
fn parse_header(line: &str, version: &str) -> Option<Header> {
    let mut fields = line.split_ascii_whitespace();
    if fields.next()? != version {
        return None;
    }
    let (mut v, mut n, mut m, mut t) = (None, None, 0, None);
    for f in fields {
        if let Some(x) = f.strip_prefix('V') {
            v = x.parse::<u32>().ok();
        } else if let Some(x) = f.strip_prefix('N') {
            n = x.parse::<u32>().ok();
        } else if let Some(x) = f.strip_prefix('M') {
            m = x.parse::<u64>().unwrap_or(0);
        } else if let Some(x) = f.strip_prefix('T') {
            let mut p = x.split('.').map(|s| s.parse::<i64>().ok());
            if let (Some(Some(new)), Some(Some(cur)), Some(Some(scanned))) =
                (p.next(), p.next(), p.next())
            {
                t = Some(Stamps { new, cur, scanned });
            }
        }
    }
    match (v?, n?) {
        (0, _) | (_, 0) => None,
        (uidvalidity, next_uid) => Some(Header {
            uidvalidity,
            next_uid,
            highest_modseq: m,
            stamps: t,
        }),
    }
}

/// Reads a Dovecot v3 `dovecot-uidlist`: header `3 V<uidvalidity> N<nextuid> ...`, lines
/// `<uid> [ext fields] :<base>`. Lines it cannot read are skipped (those messages get new
/// UIDs above Dovecot's); an unreadable header means no import.
pub fn parse_dovecot(text: &str) -> Option<Index<'_>> {
    let mut lines = text.lines();
    let h = parse_header(lines.next()?, "3")?;
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
        ix.entries.push(IxEntry {
            uid,
            modseq: 1,
            name: base,
            in_new: false,
            size: 0,
        });
    }
    ix.uidvalidity = h.uidvalidity;
    ix.next_uid = h.next_uid.max(last.saturating_add(1));
    ix.highest_modseq = 1;
    Some(ix)
}

/// What `store` writes.
pub struct Snapshot<'a> {
    pub uidvalidity: u32,
    pub next_uid: u32,
    pub highest_modseq: u64,
    pub stamps: Option<Stamps>,
    pub entries: &'a [super::UidEntry],
}

/// Writes the index (format 2) to `<FILE>.tmp`, fsyncs it, renames it over `FILE`, fsyncs
/// the directory. Always durable: a torn or empty index after a power loss would cost the
/// folder its UIDVALIDITY, and every client a full download.
pub fn store(folder_dir: &Path, s: &Snapshot) -> Result<()> {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(64 + s.entries.len() * 80);
    let _ = write!(
        text,
        "2 V{} N{} M{}",
        s.uidvalidity, s.next_uid, s.highest_modseq
    );
    if let Some(t) = s.stamps {
        let _ = write!(text, " T{}.{}.{}", t.new, t.cur, t.scanned);
    }
    text.push('\n');
    for e in s.entries {
        let loc = if e.in_new { 'n' } else { 'c' };
        let _ = writeln!(
            text,
            "{} {} {loc} {} {}",
            e.uid, e.modseq, e.size, e.file_name
        );
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

/// The exclusive lock serializing writers across processes and threads (flock locks belong
/// to the open file, so two opens in one process exclude each other too).
pub fn lock(folder_dir: &Path) -> Result<Flock<File>> {
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

/// A map keyed by base names, with the fast `NameHasher`.
pub fn name_map<'a, V>(capacity: usize) -> HashMap<&'a str, V, BuildHasherDefault<NameHasher>> {
    HashMap::with_capacity_and_hasher(capacity, BuildHasherDefault::default())
}

/// FxHash-style hasher for base names: several times faster than SipHash on short keys. Not
/// flood-resistant, which is fine: the keys are file names in the user's own folder.
#[derive(Default)]
pub struct NameHasher(u64);

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
