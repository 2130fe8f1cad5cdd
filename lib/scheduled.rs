//! Scheduled sending, the sender's side: the copy of a held (FUTURERELEASE, RFC 4865)
//! message in the sender's `.Scheduled` Maildir++ folder (the IMAP mailbox `Scheduled`).
//!
//! smtpd stores the copy when an authenticated local user submits a held message
//! (`store_copy`) and records its unique file-name base in the envelope
//! (`Envelope::scheduled_copy`). Deleting the copy before the release time (IMAP STORE
//! \Deleted + EXPUNGE, or moving it to another folder) recalls the message: at release
//! queue-runner looks for it (`find`); gone means recalled, present means the message is
//! sent and the copy removed (`remove`).
//!
//! Owns only the files of the `.Scheduled` folder; the decision and the envelope writes are
//! queue-runner's (`queue_runner::message`), the Maildir write protocol is `maildir`'s.
//! Errors: `scheduled::Error`. Callers log them and never fail or lose a message over them:
//! a copy that cannot be written leaves the message not recallable; a copy that cannot be
//! looked for counts as present (the message is sent).

use crate::config::Config;
use crate::maildir::{self, quota, FolderName, Maildir};
use std::fs::{self, File};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// The Maildir++ folder (`.Scheduled`) and IMAP mailbox name of the copies.
pub const FOLDER: &str = "Scheduled";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The owner is not an address in one of our domains with a safe mailbox path.
    #[error("{0}: no local mailbox")]
    NoMailbox(String),
    /// The recorded copy name could name a path outside the folder (a hand-edited envelope).
    #[error("bad scheduled copy name {0:?}")]
    BadName(String),
    #[error(transparent)]
    Maildir(#[from] maildir::Error),
}

/// Writes `message` (the spooled bytes, CRLF line ends) as a new message into the owner's
/// `.Scheduled` folder, creating it when missing and honouring the quota like a delivery.
/// Returns the copy's unique file-name base.
pub fn store_copy(cfg: &Config, owner: &str, message: &[u8]) -> Result<String, Error> {
    let md = Maildir::open(mailbox(cfg, owner)?);
    let policy = quota::Policy {
        explicit: None,
        default: cfg.delivery.default_quota.map(quota::Limit::bytes),
    };
    let folder = FolderName::parse(FOLDER)?;
    let done = md.deliver(
        Some(&folder),
        &crate::local_deliver::message::crlf_to_lf(message),
        &policy,
    )?;
    Ok(base_of(&done.name).to_string())
}

/// Where the copy with this base name is now (`new/<base>` or `cur/<base>:2,<flags>`);
/// `None` when the owner deleted it (or the folder).
pub fn find(cfg: &Config, owner: &str, base: &str) -> Result<Option<PathBuf>, Error> {
    if !is_safe_base(base) {
        return Err(Error::BadName(base.to_string()));
    }
    let dir = folder_dir(cfg, owner)?;
    Ok(maildir::store::locate(&dir, base)?)
}

/// Removes the copy (the message is being sent); returns whether it was there. The
/// directory is fsynced so the removal survives a crash; the `maildirsize` delta is best
/// effort (its next recount repairs it).
pub fn remove(cfg: &Config, owner: &str, base: &str) -> Result<bool, Error> {
    let Some(path) = find(cfg, owner, base)? else {
        return Ok(false);
    };
    let io = |op: &'static str, source| maildir::Error::Io {
        op,
        path: path.clone(),
        source,
    };
    let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    match fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io("unlink", e).into()),
    }
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io("fsync", e))?;
    }
    let _ = quota::record_removed(&mailbox(cfg, owner)?, size, 1);
    Ok(true)
}

/// The owner's Maildir root, for an address in one of our domains.
fn mailbox(cfg: &Config, owner: &str) -> Result<PathBuf, Error> {
    let domain = owner.rsplit_once('@').map_or("", |(_, d)| d);
    if !cfg.is_local_domain(domain) {
        return Err(Error::NoMailbox(owner.to_string()));
    }
    cfg.maildir_path(owner)
        .ok_or_else(|| Error::NoMailbox(owner.to_string()))
}

fn folder_dir(cfg: &Config, owner: &str) -> Result<PathBuf, Error> {
    let md = Maildir::open(mailbox(cfg, owner)?);
    Ok(md.folder_path(Some(&FolderName::parse(FOLDER)?)))
}

/// The unique part of a Maildir file name, before the `:2,flags` info.
fn base_of(name: &str) -> &str {
    name.split_once(':').map_or(name, |(b, _)| b)
}

/// A plain file name: not empty, no path separator, no info part, no leading dot.
fn is_safe_base(base: &str) -> bool {
    !base.is_empty()
        && !base.starts_with('.')
        && !base.chars().any(|c| c == '/' || c == ':' || c.is_control())
        && Path::new(base).file_name().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &Path) -> Config {
        let text = format!(
            "hostname='h'\nspool_dir='s'\nmail_root='{}'\nusers_file='u'\n[domains.'example.test']\n",
            dir.join("mail").display()
        );
        Config::parse(&dir.join("mail.toml"), &text).unwrap()
    }

    #[test]
    fn copy_is_stored_found_and_removed() {
        let t = tempfile::tempdir().unwrap();
        let cfg = cfg(t.path());
        let owner = "Demo@example.test";
        let base = store_copy(&cfg, owner, b"Subject: x\r\n\r\nbody\r\n").unwrap();
        let folder = t.path().join("mail/example.test/demo/.Scheduled");
        assert!(folder.join("maildirfolder").exists());
        let path = find(&cfg, owner, &base).unwrap().unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"Subject: x\n\nbody\n");
        // A client that read it moved it to cur/ with flags: still found by its base.
        let moved = folder.join("cur").join(format!("{base}:2,S"));
        fs::rename(&path, &moved).unwrap();
        assert_eq!(find(&cfg, owner, &base).unwrap(), Some(moved.clone()));
        assert!(remove(&cfg, owner, &base).unwrap());
        assert!(!moved.exists());
        assert_eq!(find(&cfg, owner, &base).unwrap(), None);
        assert!(!remove(&cfg, owner, &base).unwrap());
    }

    #[test]
    fn refuses_foreign_owners_and_unsafe_names() {
        let t = tempfile::tempdir().unwrap();
        let cfg = cfg(t.path());
        assert!(matches!(
            store_copy(&cfg, "a@elsewhere.test", b"x"),
            Err(Error::NoMailbox(_))
        ));
        assert!(matches!(
            find(&cfg, "../x@example.test", "1.2.h"),
            Err(Error::NoMailbox(_))
        ));
        for bad in ["", "../../etc", "a/b", ".hidden", "a:2,S"] {
            assert!(
                matches!(find(&cfg, "demo@example.test", bad), Err(Error::BadName(_))),
                "{bad}"
            );
        }
        // No folder yet: the copy is simply not there.
        assert_eq!(find(&cfg, "demo@example.test", "1.2.h").unwrap(), None);
    }

    #[test]
    fn line_ends() {
        assert_eq!(
            crate::local_deliver::message::crlf_to_lf(b"a\r\nb\rc\n\r\n"),
            b"a\nb\rc\n\n"
        );
        assert_eq!(base_of("1.2.h,S=3:2,S"), "1.2.h,S=3");
    }
}
