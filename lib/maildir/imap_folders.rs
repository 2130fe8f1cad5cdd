//! Folder operations IMAP needs beyond creation: deleting a Maildir++ folder and renaming
//! one together with its subfolders (`A` → `B` also moves `A.x` → `B.x`), plus the IMAP
//! subscription list in the Maildir root's `subscriptions` file (one UTF-8 folder name a
//! line, as older Dovecot and Courier keep it).
//!
//! A folder is deleted by first renaming it to a name no `FolderName` can have
//! (`..deleted-<pid>-<name>`), so readers never see it half-deleted, then removing that tree.
//! The deleted folder's messages are taken off the Maildir++ `maildirsize` usage.
//! Renames are `rename(2)` on directories and fsynced. The subscription file is replaced
//! atomically (tmp, fsync, rename). Never touches the INBOX (the root itself).
//! Errors: `maildir::Error::Io` (temporary).

use super::error::{Error, Result};
use super::{sync_dir, FolderName, Maildir};
use std::fs;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;

/// The subscription list file in the Maildir root.
pub const SUBSCRIPTIONS: &str = "subscriptions";

/// Deletes a folder and its messages (not its subfolders, which are separate directories).
pub fn delete_folder(md: &Maildir, folder: &FolderName) -> Result<()> {
    let dir = md.folder_path(Some(folder));
    let grave = md.root().join(format!(
        "..deleted-{}-{}",
        std::process::id(),
        folder.as_str()
    ));
    fs::rename(&dir, &grave).map_err(Error::io("rename", &dir))?;
    sync_dir(md.root())?;
    let (bytes, count) = usage(&grave);
    fs::remove_dir_all(&grave).map_err(Error::io("remove", &grave))?;
    // Keeps QUOTA right; a failure costs accuracy only (the next recount repairs it).
    let _ = super::quota::record_removed(md.root(), bytes, count);
    Ok(())
}

/// Bytes and messages in a folder's new/ and cur/ (sizes from `,S=` when present).
fn usage(folder_dir: &std::path::Path) -> (u64, u64) {
    let (mut bytes, mut count) = (0, 0);
    for sub in ["new", "cur"] {
        let Ok(rd) = fs::read_dir(folder_dir.join(sub)) else {
            continue;
        };
        for entry in rd.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            let size = super::name::size(&name)
                .or_else(|| entry.metadata().ok().map(|m| m.len()))
                .unwrap_or(0);
            bytes += size;
            count += 1;
        }
    }
    (bytes, count)
}

/// Renames `from` to `to`, with every `from.*` subfolder to the matching `to.*`.
/// The caller checks that `to` does not exist.
pub fn rename_folder(md: &Maildir, from: &FolderName, to: &FolderName) -> Result<()> {
    let prefix = format!("{}.", from.as_str());
    let mut moves = vec![(from.clone(), to.clone())];
    for f in md.folders()? {
        if let Some(rest) = f.as_str().strip_prefix(&prefix) {
            if let Ok(target) = FolderName::parse(&format!("{}.{rest}", to.as_str())) {
                moves.push((f, target));
            }
        }
    }
    for (a, b) in moves {
        let (src, dst) = (md.folder_path(Some(&a)), md.folder_path(Some(&b)));
        if dst.exists() {
            return Err(Error::io("rename", &dst)(ErrorKind::AlreadyExists.into()));
        }
        fs::rename(&src, &dst).map_err(Error::io("rename", &src))?;
    }
    sync_dir(md.root())
}

/// IMAP's RENAME of INBOX: every message of the INBOX moves (rename, keeping its name) into
/// the new folder `to`, which must not exist yet; the INBOX stays, empty. A message that
/// disappears meanwhile (another session expunged it) is skipped.
pub fn move_inbox(md: &Maildir, to: &FolderName) -> Result<()> {
    let dest = md.create_folder(to)?;
    for sub in ["new", "cur"] {
        let from = md.root().join(sub);
        let entries = match fs::read_dir(&from) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("read", &from)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(Error::io("read", &from))?;
            let target = dest.join(sub).join(entry.file_name());
            match fs::rename(entry.path(), &target) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("rename", entry.path())(e)),
            }
        }
        sync_dir(&dest.join(sub))?;
        sync_dir(&from)?;
    }
    Ok(())
}

/// The subscribed folder names, in file order; a missing file is an empty list.
pub fn subscriptions(md: &Maildir) -> Result<Vec<String>> {
    let path = md.root().join(SUBSCRIPTIONS);
    match fs::read_to_string(&path) {
        Ok(t) => Ok(t
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io("read", &path)(e)),
    }
}

/// Adds (`on`) or removes a name (`INBOX` or a folder name) from the subscription list.
pub fn set_subscribed(md: &Maildir, name: &str, on: bool) -> Result<()> {
    let mut names = subscriptions(md)?;
    let had = names.iter().any(|n| n == name);
    if had == on {
        return Ok(());
    }
    if on {
        names.push(name.to_string());
    } else {
        names.retain(|n| n != name);
    }
    let path = md.root().join(SUBSCRIPTIONS);
    let tmp = md
        .root()
        .join(format!("{SUBSCRIPTIONS}.tmp.{}", std::process::id()));
    let mut text = names.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    let written = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io("write", &tmp)(e));
    }
    fs::rename(&tmp, &path).map_err(Error::io("rename", &tmp))?;
    sync_dir(md.root())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_moves_children_and_delete_hides_first() {
        let t = tempfile::tempdir().unwrap();
        let md = Maildir::create(t.path().join("m")).unwrap();
        let a = FolderName::parse("A").unwrap();
        md.create_folder(&a).unwrap();
        md.create_folder(&FolderName::parse("A.x").unwrap())
            .unwrap();
        let b = FolderName::parse("B").unwrap();
        rename_folder(&md, &a, &b).unwrap();
        let names: Vec<String> = md
            .folders()
            .unwrap()
            .iter()
            .map(|f| f.to_string())
            .collect();
        assert_eq!(names, ["B", "B.x"]);
        delete_folder(&md, &b).unwrap();
        let names: Vec<String> = md
            .folders()
            .unwrap()
            .iter()
            .map(|f| f.to_string())
            .collect();
        assert_eq!(names, ["B.x"]);
    }

    #[test]
    fn inbox_rename_moves_messages_and_keeps_inbox() {
        let t = tempfile::tempdir().unwrap();
        let md = Maildir::create(t.path().join("m")).unwrap();
        md.deliver(None, b"Subject: a\n\nx\n", &Default::default())
            .unwrap();
        let old = FolderName::parse("Old").unwrap();
        move_inbox(&md, &old).unwrap();
        assert!(md.list(None).unwrap().is_empty());
        assert_eq!(md.list(Some(&old)).unwrap().len(), 1);
    }

    #[test]
    fn subscriptions_round_trip() {
        let t = tempfile::tempdir().unwrap();
        let md = Maildir::create(t.path().join("m")).unwrap();
        assert!(subscriptions(&md).unwrap().is_empty());
        set_subscribed(&md, "Sent", true).unwrap();
        set_subscribed(&md, "INBOX", true).unwrap();
        set_subscribed(&md, "Sent", true).unwrap();
        assert_eq!(subscriptions(&md).unwrap(), ["Sent", "INBOX"]);
        set_subscribed(&md, "Sent", false).unwrap();
        assert_eq!(subscriptions(&md).unwrap(), ["INBOX"]);
    }
}
