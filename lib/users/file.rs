//! Locked, atomic replacement of the small text files an admin edits with `mailctl`: the
//! users file, the app-password file, the aliases file and `mail.toml`.
//!
//! A change takes `<file>.lock` (flock, exclusive, blocking), reads the file, writes the new
//! text to `<file>.tmp`, fsyncs it, renames it over the file and fsyncs the directory, so a
//! reader sees the old file or the new one, never half of one. The old file's mode and (when
//! allowed) owner are kept. Errors: `std::io::Error`, all temporary to the caller.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// An exclusive flock on `<path>.lock`, released on drop.
pub struct Lock {
    _file: File,
}

/// Takes the lock of `path` (blocking), so read-modify-write runs one at a time.
pub fn lock(path: &Path) -> io::Result<Lock> {
    let lock_path = sibling(path, ".lock");
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)?;
    loop {
        // SAFETY: flock on a descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX) };
        if rc == 0 {
            return Ok(Lock { _file: file });
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// The file's text, or `None` when it does not exist.
pub fn read_optional(path: &Path) -> io::Result<Option<String>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(String::from_utf8_lossy(&b).into_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces `path` with `text` atomically (tmp, fsync, rename, fsync dir). The caller holds
/// the lock. A new file gets mode `new_mode`; an existing one keeps its mode and owner.
pub fn replace(path: &Path, text: &str, new_mode: u32) -> io::Result<()> {
    let meta = fs::metadata(path).ok();
    let mode = meta.as_ref().map_or(new_mode, |m| m.mode() & 0o7777);
    let tmp = sibling(path, ".tmp");
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    if let Some(m) = &meta {
        // Only root can give the file away; as anyone else it is ours already.
        let _ = std::os::unix::fs::fchown(&f, Some(m.uid()), Some(m.gid()));
        // The old mode exactly, whatever the umask (which applied at open).
        f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
    }
    let written = f
        .write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .and_then(|_| fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir).and_then(|d| d.sync_all())
}

/// `path` with `suffix` appended to its file name.
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_keeps_mode_and_leaves_no_tmp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        replace(&p, "one\n", 0o640).unwrap();
        // A new file: 0o640 less the umask (other tests may change the process's umask).
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o777 & !0o640, 0);
        fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let _l = lock(&p).unwrap();
        replace(&p, "two\n", 0o644).unwrap();
        assert_eq!(read_optional(&p).unwrap().as_deref(), Some("two\n"));
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        assert!(!sibling(&p, ".tmp").exists());
        assert_eq!(read_optional(&dir.path().join("no")).unwrap(), None);
    }
}
