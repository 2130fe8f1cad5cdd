//! Maildir: the only code that creates, writes or renames files inside users' mailboxes.
//!
//! A `Maildir` is one user's mailbox root (cur/ new/ tmp/ of the INBOX) with its Maildir++
//! folders beside them (`.Junk/`, `.Archive.2026/`, each with cur/ new/ tmp/ and an empty
//! `maildirfolder` file) and the Maildir++ quota file `maildirsize`. Directories are 0700,
//! message files 0600.
//!
//! Delivery follows the Maildir spec: write to `tmp/<unique>`, fsync, `link()` into
//! `new/<unique>` (never overwriting: on EEXIST a new name is picked), fsync `new/`, then
//! unlink the tmp name. A crash before the fsync of `new/` may leave a tmp file (readers
//! clean those after 36 hours) but never a half-written file in `new/`. The caller learns
//! of success only after the fsync, so a crash can duplicate mail, never lose it.
//!
//! Does not parse or change message content (the caller hands final bytes, LF line ends)
//! and does not know about addresses or config. Errors: `maildir::Error`; all temporary
//! except `BadFolder`; `Error::status()` gives the enhanced status code.

mod deliver;
mod error;
mod folder;
pub mod imap_folders;
pub mod imap_keywords;
pub mod imap_quota;
pub mod imap_watch;
pub mod name;
pub mod quota;
mod read;
pub mod store;
pub mod uidlist;

pub use deliver::Delivered;
pub use error::{Error, Result};
pub use folder::{FolderName, MAX_FOLDER_LEN};
pub use read::Entry;

use std::fs::{self, DirBuilder, File};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// The three directories of every Maildir and folder.
const SUBDIRS: [&str; 3] = ["cur", "new", "tmp"];

/// One user's Maildir root. Cheap to make; no I/O until a method is called.
#[derive(Debug, Clone)]
pub struct Maildir {
    root: PathBuf,
}

impl Maildir {
    /// A handle on an existing (or yet to be created) Maildir at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Maildir {
        Maildir { root: root.into() }
    }

    /// Creates the Maildir (and missing parents) with mode 0700; fine if it already exists.
    pub fn create(root: impl Into<PathBuf>) -> Result<Maildir> {
        let md = Maildir::open(root);
        make_mailbox(&md.root)?;
        Ok(md)
    }

    /// The root directory (holding the INBOX's cur/ new/ tmp/).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of a folder (`None` is the INBOX, the root itself).
    pub fn folder_path(&self, folder: Option<&FolderName>) -> PathBuf {
        match folder {
            None => self.root.clone(),
            Some(f) => self.root.join(f.dir_name()),
        }
    }

    /// Creates a Maildir++ folder (and the Maildir itself if needed); fine if it exists.
    pub fn create_folder(&self, folder: &FolderName) -> Result<PathBuf> {
        make_mailbox(&self.root)?;
        let dir = self.folder_path(Some(folder));
        make_mailbox(&dir)?;
        let marker = dir.join("maildirfolder");
        if !marker.exists() {
            File::create(&marker).map_err(Error::io("create", &marker))?;
            sync_dir(&dir)?;
        }
        Ok(dir)
    }

    /// The Maildir++ folders present, sorted by name. Entries that are not valid folder
    /// names or not directories are skipped.
    pub fn folders(&self) -> Result<Vec<FolderName>> {
        let entries = fs::read_dir(&self.root).map_err(Error::io("read", &self.root))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(Error::io("read", &self.root))?;
            let fname = entry.file_name();
            let Some(fname) = fname.to_str() else {
                continue;
            };
            if !fname.starts_with('.') || !entry.path().join("cur").is_dir() {
                continue;
            }
            if let Ok(f) = FolderName::parse(fname) {
                out.push(f);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Delivers one message (final bytes, LF line ends) into `new/` of a folder (`None` is the
    /// INBOX), creating the Maildir and folder if needed and enforcing the quota `policy`.
    pub fn deliver(
        &self,
        folder: Option<&FolderName>,
        message: &[u8],
        policy: &quota::Policy,
    ) -> Result<Delivered> {
        match folder {
            None => make_mailbox(&self.root)?,
            Some(f) => {
                self.create_folder(f)?;
            }
        }
        quota::check(&self.root, policy, message.len() as u64)?;
        let mut done = deliver::write(&self.folder_path(folder), message)?;
        if let Err(e) = quota::record(&self.root, done.size, 1) {
            done.warning = Some(format!("quota not updated: {e}"));
        }
        Ok(done)
    }

    /// The messages in new/ and cur/ of a folder, with the flags from their names.
    pub fn list(&self, folder: Option<&FolderName>) -> Result<Vec<Entry>> {
        read::list(&self.folder_path(folder))
    }
}

/// Creates `dir` with cur/ new/ tmp/ (mode 0700, missing parents too), fsyncing every
/// directory that gained an entry so the new mailbox survives a crash.
fn make_mailbox(dir: &Path) -> Result<()> {
    if SUBDIRS.iter().all(|s| dir.join(s).is_dir()) {
        return Ok(());
    }
    let existing = dir.ancestors().find(|a| a.is_dir()).map(Path::to_path_buf);
    let mut builder = DirBuilder::new();
    builder.recursive(true).mode(0o700);
    for sub in SUBDIRS {
        let path = dir.join(sub);
        builder.create(&path).map_err(Error::io("mkdir", &path))?;
    }
    for d in dir.ancestors() {
        if d.as_os_str().is_empty() {
            break;
        }
        sync_dir(d)?;
        if Some(d) == existing.as_deref() {
            break;
        }
    }
    Ok(())
}

/// fsyncs a directory so the names created in it survive a crash.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("fsync", dir))
}

#[cfg(test)]
mod tests;
