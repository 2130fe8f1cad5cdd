//! Maildir++ quota: the `maildirsize` file at the Maildir root, shared with Courier and Dovecot.
//!
//! Format: the first line defines the quota (`1073741824S,1000C`, either part optional); each
//! later line is a `<bytes> <count>` delta, appended by whoever adds or removes messages. Usage
//! is the sum of the deltas. The file is rebuilt (written to `tmp/`, renamed over) by summing
//! cur/ and new/ of the INBOX and every folder when it is missing, unreadable, larger than
//! 5120 bytes, defines a different quota than the one in force, or says "over quota" while
//! older than 15 minutes (so a stale count never bounces mail for long).
//!
//! Quota is advisory as in Maildir++: two deliveries racing may both fit. Errors: `Io`
//! (temporary) and `OverQuota` (temporary, 4.2.2).

use super::error::{Error, Result};
use super::name;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// The file name at the Maildir root.
pub const FILE: &str = "maildirsize";
/// Past this size the file is rebuilt (Maildir++ spec).
const MAX_FILE_LEN: u64 = 5120;
/// An over-quota verdict from a file older than this is checked by recounting.
const STALE_AFTER: Duration = Duration::from_secs(15 * 60);

/// A quota definition; `None` parts are unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limit {
    pub bytes: Option<u64>,
    pub messages: Option<u64>,
}

/// Which quota applies: `explicit` (command line) wins, then the definition already in
/// `maildirsize`, then `default` (config `delivery.default_quota`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Policy {
    pub explicit: Option<Limit>,
    pub default: Option<Limit>,
}

/// Bytes and messages in use, as the deltas sum up (may be off until the next recount).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub bytes: i64,
    pub messages: i64,
}

impl Limit {
    /// A byte limit; 0 means unlimited (as in Dovecot).
    pub fn bytes(n: u64) -> Limit {
        Limit {
            bytes: (n > 0).then_some(n),
            messages: None,
        }
    }

    /// Parses a command-line or config quota: a size (`1G`, `500M`, `1048576`) or a Maildir++
    /// definition (`1073741824S,1000C`).
    pub fn parse(arg: &str) -> Option<Limit> {
        let arg = arg.trim();
        if arg.contains(',') || arg.ends_with('S') || arg.ends_with('C') {
            return Limit::parse_definition(arg);
        }
        crate::config::parse_size(arg).map(Limit::bytes)
    }

    /// Parses a `maildirsize` first line: comma-separated `<n>S` and `<n>C`; 0 is unlimited.
    pub fn parse_definition(line: &str) -> Option<Limit> {
        let mut limit = Limit::default();
        for part in line.trim().split(',').filter(|p| !p.is_empty()) {
            let (num, kind) = part.split_at(part.len() - 1);
            let n: u64 = num.parse().ok()?;
            let v = (n > 0).then_some(n);
            match kind {
                "S" => limit.bytes = v,
                "C" => limit.messages = v,
                _ => return None,
            }
        }
        Some(limit)
    }

    /// The `maildirsize` first line for this limit.
    pub fn definition(&self) -> String {
        let mut parts = Vec::new();
        if let Some(b) = self.bytes {
            parts.push(format!("{b}S"));
        }
        if let Some(c) = self.messages {
            parts.push(format!("{c}C"));
        }
        parts.join(",")
    }

    pub fn is_unlimited(&self) -> bool {
        self.bytes.is_none() && self.messages.is_none()
    }

    /// Why `usage` plus one message of `size` bytes does not fit, if it does not.
    fn exceeded(&self, usage: Usage, size: u64) -> Option<String> {
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        if let Some(max) = self.bytes {
            let want = usage.bytes.saturating_add(size);
            if want > i64::try_from(max).unwrap_or(i64::MAX) {
                return Some(format!("would use {want} of {max} bytes"));
            }
        }
        if let Some(max) = self.messages {
            let want = usage.messages.saturating_add(1);
            if want > i64::try_from(max).unwrap_or(i64::MAX) {
                return Some(format!("would hold {want} of {max} messages"));
            }
        }
        None
    }
}

/// What the current `maildirsize` says.
struct Current {
    /// The first line, if it parses.
    definition: Option<Limit>,
    /// The summed deltas; `None` when a line is malformed or torn (then: recount).
    usage: Option<Usage>,
    len: u64,
    modified: SystemTime,
}

/// Reads `maildirsize`; `None` when there is none.
fn read_current(root: &Path) -> Result<Option<Current>> {
    let path = root.join(FILE);
    let bytes = match fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", &path)(e)),
    };
    let meta = fs::metadata(&path).map_err(Error::io("stat", &path))?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines = text.split_inclusive('\n');
    let definition = lines
        .next()
        .and_then(|l| l.strip_suffix('\n'))
        .and_then(Limit::parse_definition);
    Ok(Some(Current {
        definition,
        usage: sum_deltas(lines),
        len: meta.len(),
        modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
    }))
}

/// Sums `<bytes> <count>` lines; `None` if any is malformed or lacks its newline (a write in
/// progress or a torn one).
fn sum_deltas<'a>(lines: impl Iterator<Item = &'a str>) -> Option<Usage> {
    let mut usage = Usage::default();
    for line in lines {
        let mut f = line.strip_suffix('\n')?.split_ascii_whitespace();
        let (Some(b), Some(c), None) = (f.next(), f.next(), f.next()) else {
            return None;
        };
        usage.bytes = usage.bytes.saturating_add(b.parse::<i64>().ok()?);
        usage.messages = usage.messages.saturating_add(c.parse::<i64>().ok()?);
    }
    Some(usage)
}

/// Checks that one more message of `size` bytes fits in the Maildir at `root`, rebuilding
/// `maildirsize` when the spec says so. Call before writing the message.
pub fn check(root: &Path, policy: &Policy, size: u64) -> Result<()> {
    let current = read_current(root)?;
    let from_file = current
        .as_ref()
        .and_then(|c| c.definition)
        .filter(|d| !d.is_unlimited());
    let Some(limit) = policy.explicit.or(from_file).or(policy.default) else {
        return Ok(());
    };
    if limit.is_unlimited() {
        return Ok(());
    }
    let trusted = current.and_then(|c| trusted_usage(&c, &limit, size));
    let usage = match trusted {
        Some(u) => u,
        None => recount(root, &limit)?,
    };
    match limit.exceeded(usage, size) {
        Some(detail) => Err(Error::OverQuota { detail }),
        None => Ok(()),
    }
}

/// The file's usage unless the spec says to recount: malformed, over 5120 bytes, another
/// definition, or an over-quota verdict older than 15 minutes.
fn trusted_usage(c: &Current, limit: &Limit, size: u64) -> Option<Usage> {
    let usage = c.usage?;
    let stale = c.modified.elapsed().map_or(true, |age| age > STALE_AFTER);
    let recount = c.len > MAX_FILE_LEN
        || c.definition != Some(*limit)
        || (stale && limit.exceeded(usage, size).is_some());
    (!recount).then_some(usage)
}

/// Appends the delta for a delivered message, in one `write` with O_APPEND, if the Maildir
/// keeps a `maildirsize`. A failure here loses only accuracy, never mail: the caller reports
/// it and the next recount repairs the file.
pub fn record(root: &Path, bytes: u64, messages: i64) -> Result<()> {
    let path = root.join(FILE);
    let mut file = match OpenOptions::new().append(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("open", &path)(e)),
    };
    let line = format!("{bytes} {messages}\n");
    match file.write(line.as_bytes()) {
        Ok(n) if n == line.len() => Ok(()),
        Ok(_) => Err(Error::io("append", &path)(ErrorKind::WriteZero.into())),
        Err(e) => Err(Error::io("append", &path)(e)),
    }
}

/// Appends the delta for `messages` messages of `bytes` in all that were removed (a deleted
/// folder), like `record`: one O_APPEND write, nothing when there is no `maildirsize`.
pub fn record_removed(root: &Path, bytes: u64, messages: u64) -> Result<()> {
    if messages == 0 {
        return Ok(());
    }
    let path = root.join(FILE);
    let mut file = match OpenOptions::new().append(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("open", &path)(e)),
    };
    let line = format!("-{bytes} -{messages}\n");
    match file.write(line.as_bytes()) {
        Ok(n) if n == line.len() => Ok(()),
        Ok(_) => Err(Error::io("append", &path)(ErrorKind::WriteZero.into())),
        Err(e) => Err(Error::io("append", &path)(e)),
    }
}

/// Sums cur/ and new/ of the INBOX and every folder, and writes a fresh `maildirsize`
/// (tmp file, fsync, rename over). Returns the usage counted.
pub fn recount(root: &Path, limit: &Limit) -> Result<Usage> {
    let mut usage = Usage::default();
    count_dir(root, &mut usage)?;
    let entries = fs::read_dir(root).map_err(Error::io("read", root))?;
    for entry in entries {
        let entry = entry.map_err(Error::io("read", root))?;
        let fname = entry.file_name();
        let fname = fname.to_string_lossy();
        if fname.starts_with('.') && fname != "." && fname != ".." && entry.path().is_dir() {
            count_dir(&entry.path(), &mut usage)?;
        }
    }
    let text = format!(
        "{}\n{} {}\n",
        limit.definition(),
        usage.bytes,
        usage.messages
    );
    let tmp = root
        .join("tmp")
        .join(format!("{}.{FILE}", name::unique("quota", 0, 0)));
    let written = write_synced(&tmp, text.as_bytes())
        .and_then(|()| fs::rename(&tmp, root.join(FILE)).map_err(Error::io("rename", &tmp)));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.map(|()| usage)
}

fn count_dir(mailbox: &Path, usage: &mut Usage) -> Result<()> {
    for sub in ["cur", "new"] {
        let dir = mailbox.join(sub);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("read", &dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(Error::io("read", &dir))?;
            let fname = entry.file_name();
            let fname = fname.to_string_lossy();
            if fname.starts_with('.') {
                continue;
            }
            let size = match name::size(&fname) {
                Some(s) => s,
                // Expunged while we looked: not in use any more.
                None => match entry.metadata() {
                    Ok(m) => m.len(),
                    Err(_) => continue,
                },
            };
            usage.bytes = usage
                .bytes
                .saturating_add(i64::try_from(size).unwrap_or(i64::MAX));
            usage.messages += 1;
        }
    }
    Ok(())
}

fn write_synced(path: &Path, data: &[u8]) -> Result<()> {
    let mut f: File = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(Error::io("create", path))?;
    f.write_all(data).map_err(Error::io("write", path))?;
    f.sync_all().map_err(Error::io("fsync", path))
}
