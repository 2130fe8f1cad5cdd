//! ratelimit: how many messages and recipients a client IP or an authenticated user sent in
//! the last hour (a sliding window), shared by every smtpd process. One small text file per
//! key under `<spool_dir>/ratelimit/{ip,user}/`, each line `unix_secs recipients` for one
//! accepted message; read and rewritten under an exclusive flock on the file itself, lines
//! older than the window dropped on the way. Owns those files only; the limits and replies
//! are smtpd's (`smtpd::limits`).
//!
//! Not durable on purpose (no fsync): after a crash a client may get a few extra messages,
//! which is better than an fsync per message. Errors are `io::Error`; smtpd lets mail through
//! when the state cannot be read (a full disk must not stop all mail) and logs it.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// The sliding window: one hour.
pub const WINDOW_SECS: u64 = 3600;

/// Whose sending is counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Ip(IpAddr),
    User(String),
}

impl Key {
    fn relative(&self) -> PathBuf {
        match self {
            Key::Ip(ip) => Path::new("ip").join(ip.to_string()),
            Key::User(u) => Path::new("user").join(file_name(u)),
        }
    }
}

/// What a key sent within the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub messages: u64,
    pub recipients: u64,
}

/// The state directory, `<spool_dir>/ratelimit`.
#[derive(Debug, Clone)]
pub struct Limiter {
    dir: PathBuf,
}

impl Limiter {
    pub fn new(spool_dir: &Path) -> Limiter {
        Limiter {
            dir: spool_dir.join("ratelimit"),
        }
    }

    /// What `key` sent in the window ending at `now` (unix seconds). No file: nothing.
    pub fn usage(&self, key: &Key, now: u64) -> io::Result<Usage> {
        let path = self.dir.join(key.relative());
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Usage::default()),
            Err(e) => return Err(e),
        };
        let mut file =
            Flock::lock(file, FlockArg::LockShared).map_err(|(_, e)| io::Error::from(e))?;
        let mut text = String::new();
        file.read_to_string(&mut text)?;
        Ok(sum(&live(&text, now)))
    }

    /// Counts one accepted message with `recipients` recipients for `key` at `now`.
    pub fn record(&self, key: &Key, now: u64, recipients: u64) -> io::Result<()> {
        let path = self.dir.join(key.relative());
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let mut file =
            Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| io::Error::from(e))?;
        let mut text = String::new();
        file.read_to_string(&mut text)?;
        let mut lines = live(&text, now);
        lines.push((now, recipients));
        let mut out = String::new();
        for (t, n) in lines {
            out.push_str(&format!("{t} {n}\n"));
        }
        file.seek(SeekFrom::Start(0))?;
        file.set_len(0)?;
        file.write_all(out.as_bytes())
    }
}

/// The entries still inside the window; malformed lines are dropped.
fn live(text: &str, now: u64) -> Vec<(u64, u64)> {
    text.lines()
        .filter_map(|l| {
            let (t, n) = l.split_once(' ')?;
            Some((t.parse().ok()?, n.trim().parse().ok()?))
        })
        .filter(|(t, _)| now.saturating_sub(*t) < WINDOW_SECS && *t <= now + WINDOW_SECS)
        .collect()
}

fn sum(lines: &[(u64, u64)]) -> Usage {
    Usage {
        messages: lines.len() as u64,
        recipients: lines.iter().map(|(_, n)| n).sum(),
    }
}

/// A user's address as a file name: safe bytes as they are, others `%XX`.
fn file_name(user: &str) -> String {
    let mut out = String::new();
    for b in user.to_lowercase().bytes() {
        if b.is_ascii_alphanumeric() || b"@.-_+".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.starts_with('.') {
        out.replace_range(0..1, "%2E");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_slides() {
        let dir = tempfile::tempdir().unwrap();
        let l = Limiter::new(dir.path());
        let k = Key::Ip("192.0.2.7".parse().unwrap());
        assert_eq!(l.usage(&k, 1000).unwrap(), Usage::default());
        l.record(&k, 1000, 2).unwrap();
        l.record(&k, 2000, 3).unwrap();
        let u = l.usage(&k, 2000).unwrap();
        assert_eq!((u.messages, u.recipients), (2, 5));
        let later = l.usage(&k, 1000 + WINDOW_SECS).unwrap();
        assert_eq!((later.messages, later.recipients), (1, 3));
        l.record(&k, 1000 + WINDOW_SECS, 1).unwrap();
        let text = std::fs::read_to_string(dir.path().join("ratelimit/ip/192.0.2.7")).unwrap();
        assert_eq!(text, "2000 3\n4600 1\n");
    }

    #[test]
    fn users_are_separate_and_names_safe() {
        let dir = tempfile::tempdir().unwrap();
        let l = Limiter::new(dir.path());
        l.record(&Key::User("Demo@Example.test".into()), 10, 1)
            .unwrap();
        let u = l.usage(&Key::User("demo@example.test".into()), 10).unwrap();
        assert_eq!(u.messages, 1);
        assert_eq!(file_name("../x/y@z"), "%2E.%2Fx%2Fy@z");
        assert_eq!(live("garbage\n5 x\n7 2\n", 10), vec![(7, 2)]);
    }
}
