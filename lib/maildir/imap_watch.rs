//! Change detection for one open folder, so an IMAP session re-reads the folder only when
//! something in it changed rather than before every command.
//!
//! `FolderWatch::new` must be made *before* the first read of the folder; after that
//! `changes()` says what changed since the previous call (or since `new`): nothing, only flag
//! renames in cur/ by others (`Changes::Renamed`, with the new names, so the caller can update
//! its view without reading the folder), or something else (`Unknown`: read the folder).
//! It watches the folder directory (index and keyword files are replaced by rename there) and
//! its new/ and cur/ (deliveries link into new/, flag changes rename in cur/, expunges
//! unlink): every Maildir change is a directory-entry change in one of the three.
//!
//! A session's own renames and unlinks are announced, once done and before the next
//! `changes()`, with `expect_rename` / `expect_removal`; with inotify, events that match an
//! announcement exactly (directory, name, created or removed) are not changes, so a STORE
//! does not cost the next command a re-read. An announcement lasts until the next `changes()`
//! (the kernel queues a finished rename's events before the call returns, so they are in that
//! read); whatever another session did shows up under other names or as an unmatched event.
//! Events for the UID index's own files (`uidlist::FILE` and its `.tmp`/`.lock`) are not
//! changes either: the index is rewritten only after message files changed, and those changes
//! are events in new/ or cur/ (a rebuild of a lost or corrupt index by another session is
//! seen at the next real change).
//!
//! Two ways: inotify (preferred; events queue in the kernel, so nothing between two calls is
//! missed, and a queue overflow is itself an event), else — when inotify is unavailable, e.g.
//! the per-user instance limit is reached — the three directories' (inode, mtime with
//! nanoseconds, ctime) are compared. Directory timestamps are coarse (a clock tick), so a
//! stamp taken less than `RACY` after the directory's mtime is not trusted: the next call
//! reports a change again; this way never gives `Renamed`. Errors are never hidden as
//! "unchanged": any failure to read the events or stat a directory answers `Unknown` (re-read),
//! so the worst case is the cost of reading the folder before every command.
//! Does not read the folder itself (see `uidlist`).

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, InotifyEvent, WatchDescriptor};

use super::uidlist::{self, UidEntry};

/// How long after a directory's last change its mtime is not trusted to reflect the next one.
const RACY: Duration = Duration::from_secs(2);

/// Watches one folder (its directory, new/ and cur/) for changes.
pub struct FolderWatch {
    kind: Kind,
}

enum Kind {
    Inotify {
        ino: Inotify,
        /// Watch descriptors of the folder directory, new/ and cur/.
        wds: [WatchDescriptor; 3],
        /// Announced own changes: (directory index into `wds`, name, created).
        expected: HashSet<(usize, OsString, bool)>,
    },
    Stamps {
        dir: PathBuf,
        /// The stamps at the last call; `None` forces a "changed" answer.
        last: Option<[Stamp; 3]>,
    },
}

/// What `changes` found.
#[derive(Debug, PartialEq)]
pub enum Changes {
    None,
    /// Only renames within cur/ of messages by others (flag changes): the new file names, one
    /// per message (base), each the name the file has after the last event seen.
    Renamed(Vec<String>),
    /// Anything else (deliveries, expunges, index or keyword files, overflow): re-read.
    Unknown,
}

/// More renamed messages than this in one go are read the ordinary way.
const MAX_RENAMES: usize = 256;

/// What identifies a directory's state: (inode, mtime ns, ctime ns).
type Stamp = (u64, i128, i128);

impl FolderWatch {
    /// Starts watching `folder_dir`; call before reading the folder.
    pub fn new(folder_dir: &Path) -> FolderWatch {
        match inotify(folder_dir) {
            Some((ino, wds)) => FolderWatch {
                kind: Kind::Inotify {
                    ino,
                    wds,
                    expected: HashSet::new(),
                },
            },
            None => FolderWatch::by_stamps(folder_dir),
        }
    }

    /// The mtime fallback only (for tests, and when inotify is unavailable).
    pub fn by_stamps(folder_dir: &Path) -> FolderWatch {
        FolderWatch {
            kind: Kind::Stamps {
                dir: folder_dir.to_path_buf(),
                last: trusted(stamps(folder_dir)),
            },
        }
    }

    /// Whether the folder may have changed since the previous call (or since `new`).
    pub fn changed(&mut self) -> bool {
        !matches!(self.changes(), Changes::None)
    }

    /// What changed since the previous call (or since `new`), as precisely as known.
    pub fn changes(&mut self) -> Changes {
        match &mut self.kind {
            Kind::Inotify { ino, wds, expected } => {
                let changes = drain(ino, wds, expected);
                expected.clear();
                changes
            }
            Kind::Stamps { dir, last } => {
                let now = stamps(dir);
                let same = now.is_some() && now == *last;
                *last = trusted(now);
                if same {
                    Changes::None
                } else {
                    Changes::Unknown
                }
            }
        }
    }

    /// Announces that this session renamed the message `e` to `cur/<new_name>`.
    pub fn expect_rename(&mut self, e: &UidEntry, new_name: &str) {
        self.expect_removal(e);
        if let Kind::Inotify { expected, .. } = &mut self.kind {
            expected.insert((2, OsString::from(new_name), true));
        }
    }

    /// Announces that this session unlinked the message `e`.
    pub fn expect_removal(&mut self, e: &UidEntry) {
        if let Kind::Inotify { expected, .. } = &mut self.kind {
            let sub = if e.in_new { 1 } else { 2 };
            expected.insert((sub, OsString::from(&e.file_name), false));
        }
    }

    /// The inotify descriptor, readable when a change is pending (for poll(2) in IDLE);
    /// `None` in the mtime fallback. Reading it is left to `changed`.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.kind {
            Kind::Inotify { ino, .. } => Some(ino.as_fd()),
            Kind::Stamps { .. } => None,
        }
    }
}

/// inotify on the folder directory, new/ and cur/; `None` if it cannot be set up.
fn inotify(dir: &Path) -> Option<(Inotify, [WatchDescriptor; 3])> {
    let ino = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok()?;
    let mask = AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_DELETE_SELF
        | AddWatchFlags::IN_MOVE_SELF;
    let wds = [
        ino.add_watch(dir, mask).ok()?,
        ino.add_watch(&dir.join("new"), mask).ok()?,
        ino.add_watch(&dir.join("cur"), mask).ok()?,
    ];
    Some((ino, wds))
}

/// Reads every queued event and sums up those not announced (`Unknown` if reading failed).
fn drain(
    ino: &Inotify,
    wds: &[WatchDescriptor; 3],
    expected: &mut HashSet<(usize, OsString, bool)>,
) -> Changes {
    // base -> the name it has after the events so far (`None`: removed).
    let mut renamed: HashMap<String, Option<String>> = HashMap::new();
    let mut unknown = false;
    loop {
        match ino.read_events() {
            Ok(events) if events.is_empty() => break,
            Ok(events) => {
                for ev in events {
                    if !explained(&ev, wds, expected) {
                        unknown |= !rename_step(&ev, wds, &mut renamed);
                    }
                }
            }
            Err(nix::errno::Errno::EAGAIN) => break,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return Changes::Unknown,
        }
    }
    if unknown || renamed.len() > MAX_RENAMES || renamed.values().any(Option::is_none) {
        Changes::Unknown
    } else if renamed.is_empty() {
        Changes::None
    } else {
        Changes::Renamed(renamed.into_values().flatten().collect())
    }
}

/// Folds an event into `renamed` if it is a file appearing or vanishing in cur/; false for
/// any other event. A rename shows as vanish + appear (in either order for link + unlink).
fn rename_step(
    ev: &InotifyEvent,
    wds: &[WatchDescriptor; 3],
    renamed: &mut HashMap<String, Option<String>>,
) -> bool {
    let Some(name) = ev.name.as_ref().and_then(|n| n.to_str()) else {
        return false;
    };
    if ev.wd != wds[2] || ev.mask.contains(AddWatchFlags::IN_ISDIR) || name.starts_with('.') {
        return false;
    }
    let base = uidlist::base_of(name).to_string();
    if ev
        .mask
        .intersects(AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO)
    {
        renamed.insert(base, Some(name.to_string()));
    } else {
        // Only the current name vanishing removes the message; an older one is the tail of
        // a link + unlink.
        let slot = renamed.entry(base).or_insert(None);
        if slot.as_deref() == Some(name) {
            *slot = None;
        }
    }
    true
}

/// Whether an event is one this session announced, or about the UID index's own files.
fn explained(
    ev: &InotifyEvent,
    wds: &[WatchDescriptor; 3],
    expected: &mut HashSet<(usize, OsString, bool)>,
) -> bool {
    let (Some(sub), Some(name)) = (wds.iter().position(|w| *w == ev.wd), ev.name.as_ref()) else {
        return false; // overflow, a watched directory itself gone, ...
    };
    if sub == 0 {
        let index = name.to_str().is_some_and(|n| {
            n.strip_prefix(uidlist::FILE)
                .is_some_and(|rest| ["", ".tmp", ".lock"].contains(&rest))
        });
        return index && !ev.mask.contains(AddWatchFlags::IN_ISDIR);
    }
    let created = ev
        .mask
        .intersects(AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO);
    let removed = ev
        .mask
        .intersects(AddWatchFlags::IN_DELETE | AddWatchFlags::IN_MOVED_FROM);
    if created == removed {
        return false;
    }
    expected.remove(&(sub, name.clone(), created))
}

fn stamps(dir: &Path) -> Option<[Stamp; 3]> {
    let one = |p: &Path| -> Option<Stamp> {
        let m = std::fs::metadata(p).ok()?;
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Some((
            m.ino(),
            ns(m.mtime(), m.mtime_nsec()),
            ns(m.ctime(), m.ctime_nsec()),
        ))
    };
    Some([one(dir)?, one(&dir.join("new"))?, one(&dir.join("cur"))?])
}

/// The stamps, unless one is too close to the clock: it may hide a change made in the same
/// tick, so it must not be compared against.
fn trusted(s: Option<[Stamp; 3]>) -> Option<[Stamp; 3]> {
    let clock = now_ns();
    s.filter(|s| !s.iter().any(|s| racy(s, clock)))
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// Whether a stamp's change time is so close to `now` that a further change could share it.
fn racy(s: &Stamp, now: i128) -> bool {
    now - s.1.max(s.2) < RACY.as_nanos() as i128
}

#[cfg(test)]
mod tests {
    use super::super::uidlist::UidList;
    use super::*;
    use std::fs;

    fn folder() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for s in ["cur", "new", "tmp"] {
            fs::create_dir(t.path().join(s)).unwrap();
        }
        t
    }

    fn exercise(make: fn(&Path) -> FolderWatch, settle: bool) {
        let t = folder();
        let d = t.path();
        let mut w = make(d);
        fs::write(d.join("new/1.M1P1.h"), b"x").unwrap();
        assert!(w.changed(), "delivery");
        fs::rename(d.join("new/1.M1P1.h"), d.join("cur/1.M1P1.h:2,S")).unwrap();
        assert!(w.changed(), "move to cur");
        fs::rename(d.join("cur/1.M1P1.h:2,S"), d.join("cur/1.M1P1.h:2,FS")).unwrap();
        assert!(w.changed(), "flag change");
        fs::write(d.join("tmp-index"), b"1").unwrap();
        assert!(w.changed(), "index replaced");
        fs::remove_file(d.join("cur/1.M1P1.h:2,FS")).unwrap();
        assert!(w.changed(), "expunge");
        if settle {
            assert!(!w.changed(), "quiet folder");
            fs::write(d.join("tmp/scratch"), b"x").unwrap();
            assert!(!w.changed(), "tmp/ is not watched");
        }
    }

    #[test]
    fn inotify_sees_every_kind_of_change() {
        exercise(FolderWatch::new, true);
        assert!(FolderWatch::new(folder().path()).fd().is_some());
    }

    #[test]
    fn stamps_see_every_kind_of_change() {
        // Fresh directories are racy, so the fallback keeps answering "changed": safe.
        exercise(FolderWatch::by_stamps, false);
        let t = folder();
        let mut w = FolderWatch::by_stamps(t.path());
        assert!(w.changed());
        assert!(w.fd().is_none());
    }

    #[test]
    fn own_announced_changes_are_not_changes() {
        let t = folder();
        let d = t.path();
        fs::write(d.join("new/1.M1P1.h"), b"x").unwrap();
        fs::write(d.join("new/2.M1P1.h"), b"x").unwrap();
        let mut w = FolderWatch::new(d);
        let e = UidList::sync(d).unwrap().entries;
        assert!(!w.changed(), "writing the index is not a change");
        let moved = super::super::store::mark_seen_moved(d, &e[0]).unwrap();
        w.expect_rename(&e[0], &moved);
        assert!(!w.changed(), "announced move");
        fs::rename(d.join("new/2.M1P1.h"), d.join("cur/2.M1P1.h:2,S")).unwrap();
        w.expect_rename(&e[1], "2.M1P1.h:2,FS"); // a different name than what happened
        assert!(w.changed(), "another session's move");
        w.expect_removal(&e[1]);
        assert!(!w.changed(), "nothing happened");
        fs::remove_file(d.join("cur").join(&moved)).unwrap();
        assert!(w.changed(), "unannounced expunge");
    }

    #[test]
    fn only_recent_stamps_are_racy() {
        let sec = 1_000_000_000i128;
        let now = 1_000 * sec;
        assert!(racy(&(1, now - sec, now - 3 * sec), now));
        assert!(
            racy(&(1, now - 3 * sec, now - sec), now),
            "ctime counts too"
        );
        assert!(!racy(&(1, now - 3 * sec, now - 3 * sec), now));
    }
}
