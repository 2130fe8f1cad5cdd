//! Changing messages already in a mailbox: flags (a rename into cur/ with `:2,<flags>`), the
//! new/ → cur/ move readers do when they first list a message, opening a message whose flags
//! another session may have changed meanwhile, and deletion (with the Maildir++ `maildirsize`
//! delta).
//!
//! A rename never overwrites (RENAME_NOREPLACE, else link + unlink, where a crash in between
//! leaves two names with one base, which `uidlist` reads as one message). A message
//! whose name changed under us (another session set flags) is found again by its base name;
//! a message already gone is not an error for `delete`. Does not assign UIDs (see `uidlist`).
//! Errors: `maildir::Error::Io` (temporary).

use super::error::{Error, Result};
use super::quota;
use super::uidlist::{base_of, UidEntry};
use nix::errno::Errno;
use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

/// Gives the message exactly `flags` (Maildir letters, any order): it ends in
/// `cur/<base>:2,<sorted flags>`. Returns the new file name.
pub fn set_flags(folder_dir: &Path, e: &UidEntry, flags: &str) -> Result<String> {
    let mut letters: Vec<char> = flags.chars().filter(char::is_ascii_alphabetic).collect();
    letters.sort_unstable();
    letters.dedup();
    let target = format!("{}:2,{}", e.base, letters.into_iter().collect::<String>());
    move_to_cur(folder_dir, e, &target)
}

/// Moves a message from new/ to cur/ keeping its flags (what POP3 and IMAP do when they first
/// list it); a message already in cur/ stays as it is. Returns its file name now.
pub fn mark_seen_moved(folder_dir: &Path, e: &UidEntry) -> Result<String> {
    if !e.in_new {
        return Ok(e.file_name.clone());
    }
    let target = format!("{}:2,{}", e.base, e.flags);
    move_to_cur(folder_dir, e, &target)
}

/// Opens the message for reading, finding it by base name when another session renamed it.
/// `Ok(None)` when it is gone.
pub fn open(folder_dir: &Path, e: &UidEntry) -> Result<Option<File>> {
    let path = entry_path(folder_dir, e);
    match File::open(&path) {
        Ok(f) => return Ok(Some(f)),
        Err(err) if err.kind() != ErrorKind::NotFound => return Err(Error::io("open", &path)(err)),
        Err(_) => {}
    }
    let Some(found) = locate(folder_dir, &e.base)? else {
        return Ok(None);
    };
    match File::open(&found) {
        Ok(f) => Ok(Some(f)),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
        Err(err) => Err(Error::io("open", &found)(err)),
    }
}

/// Deletes the message (unlink; already gone is fine) and appends `-<size> -1` to the
/// Maildir++ `maildirsize` when the Maildir keeps one. Returns whether this call removed it.
pub fn delete(folder_dir: &Path, e: &UidEntry) -> Result<bool> {
    let mut path = entry_path(folder_dir, e);
    let mut removed = unlink(&path)?;
    if !removed {
        if let Some(found) = locate(folder_dir, &e.base)? {
            path = found;
            removed = unlink(&path)?;
        }
    }
    if removed {
        record_removal(&quota_root(folder_dir), e.size)?;
    }
    Ok(removed)
}

/// Where a message with this base name is now: new/<base> or cur/<base>[:...], if anywhere.
pub fn locate(folder_dir: &Path, base: &str) -> Result<Option<PathBuf>> {
    let in_new = folder_dir.join("new").join(base);
    if in_new.exists() {
        return Ok(Some(in_new));
    }
    let cur = folder_dir.join("cur");
    let rd = match fs::read_dir(&cur) {
        Ok(r) => r,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(Error::io("read", &cur)(err)),
    };
    for entry in rd {
        let entry = entry.map_err(Error::io("read", &cur))?;
        if entry.file_name().to_str().map(base_of) == Some(base) {
            return Ok(Some(entry.path()));
        }
    }
    Ok(None)
}

fn entry_path(folder_dir: &Path, e: &UidEntry) -> PathBuf {
    let sub = if e.in_new { "new" } else { "cur" };
    folder_dir.join(sub).join(&e.file_name)
}

/// Renames the message to `cur/<target>` without replacing anything. If the target exists it
/// is the same message (same base), so only the old name goes.
fn move_to_cur(folder_dir: &Path, e: &UidEntry, target: &str) -> Result<String> {
    let dst = folder_dir.join("cur").join(target);
    let mut src = entry_path(folder_dir, e);
    if src == dst {
        return Ok(target.to_string());
    }
    for attempt in 0..2 {
        match rename_noreplace(&src, &dst) {
            Ok(()) => return Ok(target.to_string()),
            Err(err) if err.kind() == ErrorKind::AlreadyExists => {
                unlink(&src)?;
                return Ok(target.to_string());
            }
            Err(err) if err.kind() == ErrorKind::NotFound && attempt == 0 => {
                match locate(folder_dir, &e.base)? {
                    Some(p) if p == dst => return Ok(target.to_string()),
                    Some(p) => src = p,
                    None => return Err(Error::io("rename", &src)(err)),
                }
            }
            Err(err) => return Err(Error::io("rename", &dst)(err)),
        }
    }
    Err(Error::io("rename", &src)(ErrorKind::NotFound.into()))
}

/// rename(2) that fails with EEXIST instead of replacing `dst`; where the file system lacks
/// RENAME_NOREPLACE, link(2) + unlink(2) (which never replaces either).
fn rename_noreplace(src: &Path, dst: &Path) -> std::io::Result<()> {
    match renameat2(AT_FDCWD, src, AT_FDCWD, dst, RenameFlags::RENAME_NOREPLACE) {
        Ok(()) => Ok(()),
        Err(Errno::EINVAL | Errno::ENOSYS) => {
            fs::hard_link(src, dst)?;
            match fs::remove_file(src) {
                Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Unlinks `path`; `Ok(false)` when it was already gone.
fn unlink(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(false),
        Err(err) => Err(Error::io("unlink", path)(err)),
    }
}

/// The Maildir root holding `maildirsize`: the folder itself for the INBOX, its parent for a
/// Maildir++ folder (marked by the `maildirfolder` file).
fn quota_root(folder_dir: &Path) -> PathBuf {
    match folder_dir.parent() {
        Some(p) if folder_dir.join("maildirfolder").exists() => p.to_path_buf(),
        _ => folder_dir.to_path_buf(),
    }
}

/// Appends `-<size> -1` in one O_APPEND write, if `maildirsize` exists. (`quota::record`
/// takes an unsigned byte count, so removals are written here.)
fn record_removal(root: &Path, size: u64) -> Result<()> {
    let path = root.join(quota::FILE);
    let mut file = match OpenOptions::new().append(true).open(&path) {
        Ok(f) => f,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(Error::io("open", &path)(err)),
    };
    let line = format!("-{size} -1\n");
    match file.write(line.as_bytes()) {
        Ok(n) if n == line.len() => Ok(()),
        Ok(_) => Err(Error::io("append", &path)(ErrorKind::WriteZero.into())),
        Err(err) => Err(Error::io("append", &path)(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::uidlist::UidList;
    use super::*;

    fn folder() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for s in ["cur", "new", "tmp"] {
            fs::create_dir(t.path().join(s)).unwrap();
        }
        t
    }

    #[test]
    fn flags_move_and_delete() {
        let t = folder();
        let d = t.path();
        fs::write(d.join("new/1.M1P1.h,S=5"), b"hello").unwrap();
        fs::write(d.join("maildirsize"), "0S\n5 1\n").unwrap();
        let l = UidList::sync(d).unwrap();
        let e = l.get(1).unwrap().clone();
        assert_eq!(mark_seen_moved(d, &e).unwrap(), "1.M1P1.h,S=5:2,");
        assert!(d.join("cur/1.M1P1.h,S=5:2,").exists());
        assert!(!d.join("new/1.M1P1.h,S=5").exists());
        // The stale entry still finds the message by base.
        assert!(open(d, &e).unwrap().is_some());
        assert_eq!(set_flags(d, &e, "SFS").unwrap(), "1.M1P1.h,S=5:2,FS");
        let l2 = UidList::sync(d).unwrap();
        let e2 = l2.get(1).unwrap().clone();
        assert_eq!(e2.flags, "FS");
        assert_eq!(set_flags(d, &e2, "").unwrap(), "1.M1P1.h,S=5:2,");
        assert!(delete(d, &e2).unwrap());
        assert!(!delete(d, &e2).unwrap());
        assert_eq!(
            fs::read_to_string(d.join("maildirsize")).unwrap(),
            "0S\n5 1\n-5 -1\n"
        );
        assert!(UidList::sync(d).unwrap().entries.is_empty());
        assert!(open(d, &e2).unwrap().is_none());
    }

    #[test]
    fn never_overwrites_an_existing_name() {
        let t = folder();
        let d = t.path();
        fs::write(d.join("new/2.M1P1.h"), b"in new").unwrap();
        let e = UidList::sync(d).unwrap().get(1).unwrap().clone();
        // Another session already made the same move (a crash left both names).
        fs::write(d.join("cur/2.M1P1.h:2,S"), b"in cur").unwrap();
        assert_eq!(set_flags(d, &e, "S").unwrap(), "2.M1P1.h:2,S");
        assert_eq!(fs::read(d.join("cur/2.M1P1.h:2,S")).unwrap(), b"in cur");
        assert!(!d.join("new/2.M1P1.h").exists());
    }

    #[test]
    fn folder_quota_goes_to_root() {
        let t = folder();
        let sub = t.path().join(".Junk");
        for s in ["cur", "new", "tmp"] {
            fs::create_dir_all(sub.join(s)).unwrap();
        }
        fs::write(sub.join("maildirfolder"), b"").unwrap();
        assert_eq!(quota_root(&sub), t.path());
        assert_eq!(quota_root(t.path()), t.path());
    }
}
