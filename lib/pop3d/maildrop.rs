//! The maildrop of one POP3 session: the exclusive per-mailbox lock, the snapshot taken at
//! login (UIDs from `maildir::uidlist`, messages moved new/ → cur/), reading a message, and
//! the UPDATE-state deletions.
//!
//! The lock is a non-blocking `flock` on `mailserver-pop3.lock` in the Maildir root, held
//! until the process ends (so a killed pop3d frees it at once); IMAP sessions and deliveries
//! do not take it and go on meanwhile. Messages delivered after login are not in the
//! snapshot; messages another session removed are reported gone. Nothing is deleted before
//! `delete_marked`. Errors: `maildir::Error` (temporary); a held lock is `Open::InUse`.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::maildir::uidlist::{UidEntry, UidList};
use crate::maildir::{self, name, store, Maildir};
use crate::pop3::{wire, MsgInfo};

/// The lock file in the Maildir root.
pub const LOCK_FILE: &str = "mailserver-pop3.lock";

/// An open, locked maildrop.
pub struct Maildrop {
    root: PathBuf,
    entries: Vec<UidEntry>,
    pub infos: Vec<MsgInfo>,
    _lock: Flock<File>,
}

/// Why `open` gave no maildrop.
pub enum Open {
    InUse,
    Failed(maildir::Error),
}

impl From<maildir::Error> for Open {
    fn from(e: maildir::Error) -> Open {
        Open::Failed(e)
    }
}

impl Maildrop {
    /// Locks the Maildir at `root` (creating it if the user has no mail yet), assigns UIDs,
    /// moves new messages to cur/ and lists them with their CRLF sizes and UIDLs.
    pub fn open(root: &Path) -> Result<Maildrop, Open> {
        Maildir::create(root)?;
        let lock = lock(root)?;
        let list = UidList::sync(root)?;
        let mut entries = Vec::with_capacity(list.entries.len());
        let mut infos = Vec::with_capacity(list.entries.len());
        for mut e in list.entries {
            if e.in_new {
                match store::mark_seen_moved(root, &e) {
                    Ok(file_name) => {
                        e.file_name = file_name;
                        e.in_new = false;
                    }
                    // Gone or moved by someone else: `store::open` finds it by base later.
                    Err(err) => crate::mlog!("warning: {err}"),
                }
            }
            let Some(size) = wire_size(root, &e)? else {
                continue; // removed since the listing
            };
            infos.push(MsgInfo {
                size,
                uidl: format!("{:08X}{:08X}", e.uid, list.uidvalidity),
            });
            entries.push(e);
        }
        Ok(Maildrop {
            root: root.to_path_buf(),
            entries,
            infos,
            _lock: lock,
        })
    }

    /// The message as stored; `Ok(None)` when another session removed it.
    pub fn read(&self, index: usize) -> maildir::Result<Option<Vec<u8>>> {
        let Some(e) = self.entries.get(index) else {
            return Ok(None);
        };
        let Some(mut f) = store::open(&self.root, e)? else {
            return Ok(None);
        };
        let mut buf = Vec::with_capacity(usize::try_from(e.size).unwrap_or(0) + 1);
        let path = self.root.join(&e.file_name);
        f.read_to_end(&mut buf).map_err(|err| maildir::Error::Io {
            op: "read",
            path,
            source: err,
        })?;
        Ok(Some(buf))
    }

    /// Deletes the marked messages; returns how many could not be deleted.
    pub fn delete_marked(&self, indexes: &[usize]) -> usize {
        let mut failed = 0;
        for &i in indexes {
            let Some(e) = self.entries.get(i) else {
                continue;
            };
            if let Err(err) = store::delete(&self.root, e) {
                crate::mlog!("error: delete uid={}: {err}", e.uid);
                failed += 1;
            }
        }
        failed
    }
}

/// The CRLF size: `,W=` from the name, else counted from the file. `None` if it is gone.
fn wire_size(root: &Path, e: &UidEntry) -> maildir::Result<Option<u64>> {
    if let Some(w) = name::vsize(&e.file_name) {
        return Ok(Some(w));
    }
    let Some(mut f) = store::open(root, e)? else {
        return Ok(None);
    };
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).map_err(|err| maildir::Error::Io {
        op: "read",
        path: root.join(&e.file_name),
        source: err,
    })?;
    Ok(Some(wire::crlf_size(&buf)))
}

fn lock(root: &Path) -> Result<Flock<File>, Open> {
    let path = root.join(LOCK_FILE);
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|source| maildir::Error::Io {
            op: "open",
            path: path.clone(),
            source,
        })?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(l) => Ok(l),
        Err((_, Errno::EWOULDBLOCK)) => Err(Open::InUse),
        Err((_, errno)) => Err(Open::Failed(maildir::Error::Io {
            op: "flock",
            path,
            source: errno.into(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn snapshot_lock_sizes_and_deletion() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("md");
        let md = Maildir::create(&root).unwrap();
        md.deliver(None, b"Subject: a\n\nbody\n", &Default::default())
            .unwrap();
        fs::write(root.join("new/1.M1P1.other"), b"S: b\n\n.\n").unwrap();
        let drop = match Maildrop::open(&root) {
            Ok(d) => d,
            Err(_) => panic!("open"),
        };
        assert!(matches!(Maildrop::open(&root), Err(Open::InUse)));
        assert_eq!(drop.infos.len(), 2);
        // The foreign file (older name) comes first; its size is counted from the content.
        assert_eq!(drop.infos[0].size, 11);
        assert_eq!(drop.infos[1].size, 20);
        assert_eq!(drop.infos[0].uidl.len(), 16);
        assert!(fs::read_dir(root.join("new")).unwrap().next().is_none());
        assert_eq!(drop.read(0).unwrap().unwrap(), b"S: b\n\n.\n");
        assert_eq!(drop.delete_marked(&[0]), 0);
        assert_eq!(drop.read(0).unwrap(), None);
        drop_lock(drop);
        let again = match Maildrop::open(&root) {
            Ok(d) => d,
            Err(_) => panic!("lock not released"),
        };
        assert_eq!(again.infos.len(), 1);
        assert!(again.infos[0].uidl.starts_with("00000002"));
    }

    fn drop_lock(m: Maildrop) {
        drop(m);
    }
}
