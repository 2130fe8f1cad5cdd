//! Restore: puts a backup's messages back into the Maildirs named by the *current* config,
//! all of them or one user's, never duplicating a message already there (same mailbox and
//! unique name, whatever its flags or new/cur place). Users and app passwords missing from
//! the current files are added; an existing config or aliases file is never overwritten
//! (a missing one is restored). The spool is restored only on request, and only messages
//! whose id is in no stage now. Run it on the full backup first, then each incremental.
//!
//! A message is written like a delivery: `tmp/`, fsync, rename into `new/` or `cur/` under
//! its original name, fsync the directory, mtime kept (IMAP's INTERNALDATE). Maildir++
//! usage (`maildirsize`) of a mailbox that got messages is recounted. Archive paths are
//! checked: an absolute path or `..` is refused, never followed.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use indicatif::ProgressBar;

use super::{format_err, io_err, manifest, Error};
use crate::config::Config;
use crate::users::{AppPasswords, UserDb};

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only this user's Maildir (and their users-file line and app passwords).
    pub user: Option<String>,
    /// Also put back spool messages whose id is in no stage now (each moved into its stage
    /// whole, message and envelope together).
    pub spool: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Restored {
    pub messages: usize,
    /// Messages already present (same unique name), left alone.
    pub present: usize,
    pub files: usize,
    pub users: usize,
    /// Spool messages put back.
    pub spool: usize,
    /// Files in the backup not restored because a current one exists (config, aliases).
    pub kept: Vec<String>,
}

pub fn restore(
    cfg: &Config,
    from: &Path,
    opts: &Options,
    bar: &ProgressBar,
) -> Result<Restored, Error> {
    // Reading the manifest checks every member's checksum first: nothing from a damaged
    // archive is written.
    let m = super::read_manifest(from)?;
    bar.set_length(m.stored.len() as u64);
    let prefix = match &opts.user {
        Some(u) => {
            let root = cfg
                .maildir_path(&cfg.canonical_address(u).unwrap_or_else(|| u.clone()))
                .ok_or_else(|| format_err(from, format!("{u}: not a local address")))?;
            let rel = root
                .strip_prefix(&cfg.mail_root)
                .map_err(|_| format_err(from, "maildir outside mail_root"))?;
            Some(format!("mail/{}/", rel.display()))
        }
        None => None,
    };
    let mut out = Restored::default();
    let mut touched: BTreeSet<PathBuf> = BTreeSet::new();
    let mut backup_users = None;
    let mut backup_apps = None;
    let spool_present = if opts.spool {
        spool_ids(&cfg.spool_dir)
    } else {
        BTreeSet::new()
    };
    let mut staged: std::collections::BTreeMap<(String, String), PathBuf> = Default::default();
    let mut archive = super::open(from)?;
    for entry in archive.entries().map_err(io_err(from))? {
        let mut e = entry.map_err(io_err(from))?;
        let name = e
            .path()
            .map_err(io_err(from))?
            .to_string_lossy()
            .into_owned();
        bar.inc(1);
        if name == manifest::NAME {
            continue;
        }
        let rel = safe_relative(&name)
            .ok_or_else(|| format_err(from, format!("{name}: unsafe path in archive")))?;
        let mtime = e.header().mtime().unwrap_or(0);
        if let Some(rest) = name.strip_prefix("mail/") {
            if prefix.as_deref().is_some_and(|p| !name.starts_with(p)) {
                continue;
            }
            let target = cfg.mail_root.join(rest);
            if manifest::message_key(&name).is_some() {
                let mailbox = parent2(&target);
                if restore_message(&mut e, &target, mtime).map_err(io_err(&target))? {
                    out.messages += 1;
                    touched.insert(mailbox);
                } else {
                    out.present += 1;
                }
            } else if !target.exists() {
                write_new(&mut e, &target, mtime).map_err(io_err(&target))?;
                out.files += 1;
            }
            continue;
        }
        let _ = rel;
        match name.as_str() {
            "config/users" => backup_users = Some(read_text(&mut e).map_err(io_err(from))?),
            "config/users.app" => backup_apps = Some(read_text(&mut e).map_err(io_err(from))?),
            "config/aliases" if opts.user.is_none() => match &cfg.aliases_file {
                Some(a) if !a.exists() => {
                    write_new(&mut e, a, mtime).map_err(io_err(a))?;
                    out.files += 1;
                }
                Some(a) => out.kept.push(a.display().to_string()),
                None => {}
            },
            "config/mail.toml" if opts.user.is_none() => {
                out.kept.push(cfg.path.display().to_string())
            }
            _ => {}
        }
        if let Some(rest) = name
            .strip_prefix("spool/")
            .filter(|_| opts.spool && opts.user.is_none())
        {
            let mut parts = rest.splitn(3, '/');
            let (stage, id, file) = (parts.next(), parts.next(), parts.next());
            if let (Some(stage), Some(id), Some(file)) = (stage, id, file) {
                if crate::spool::id::is_valid(id) && !spool_present.contains(id) {
                    // Staged under the spool's tmp/ and moved into its stage whole at the
                    // end: the envelope must never show up before its message.
                    let dir = cfg
                        .spool_dir
                        .join("tmp")
                        .join(format!("restore.{stage}.{id}"));
                    let target = dir.join(file);
                    write_new(&mut e, &target, mtime).map_err(io_err(&target))?;
                    staged.insert((stage.to_string(), id.to_string()), dir);
                }
            }
        }
    }
    for ((stage, id), dir) in pick_spool_copies(staged) {
        let target = cfg.spool_dir.join(&stage).join(&id);
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&dir))?;
        mkdirs(target.parent().unwrap_or(&cfg.spool_dir)).map_err(io_err(&target))?;
        fs::rename(&dir, &target).map_err(io_err(&target))?;
        if let Some(parent) = target.parent() {
            File::open(parent)
                .and_then(|d| d.sync_all())
                .map_err(io_err(parent))?;
        }
        out.spool += 1;
    }
    out.users = merge_users(cfg, backup_users, backup_apps, opts.user.as_deref())?;
    for mailbox in touched {
        recount(&mailbox);
    }
    bar.finish_and_clear();
    Ok(out)
}

/// A message that moved between stages while the backup ran may be in it twice: keep the
/// complete copy (message and envelope) from the latest stage, drop the other staged dirs.
fn pick_spool_copies(
    staged: std::collections::BTreeMap<(String, String), PathBuf>,
) -> Vec<((String, String), PathBuf)> {
    const LATER_FIRST: [&str; 5] = ["bounce", "quarantine", "hold", "queue", "incoming"];
    let rank = |stage: &str| {
        LATER_FIRST
            .iter()
            .position(|s| *s == stage)
            .unwrap_or(LATER_FIRST.len())
    };
    let complete = |dir: &Path| dir.join("message").is_file() && dir.join("envelope").is_file();
    let mut by_id: std::collections::BTreeMap<String, Vec<(String, PathBuf)>> = Default::default();
    for ((stage, id), dir) in staged {
        by_id.entry(id).or_default().push((stage, dir));
    }
    let mut out = Vec::new();
    for (id, mut copies) in by_id {
        copies.sort_by_key(|(stage, _)| rank(stage));
        let chosen = copies.iter().position(|(_, dir)| complete(dir));
        for (i, (stage, dir)) in copies.into_iter().enumerate() {
            if Some(i) == chosen {
                out.push(((stage, id.clone()), dir));
            } else {
                let _ = fs::remove_dir_all(&dir);
            }
        }
    }
    out
}

/// `a/b/cur/name` → `a/b`.
fn parent2(p: &Path) -> PathBuf {
    p.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A relative path of plain components only.
fn safe_relative(name: &str) -> Option<&Path> {
    let p = Path::new(name);
    p.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then_some(p)
}

/// Writes one message unless its mailbox already has one with the same unique name.
/// `Ok(false)`: already present.
fn restore_message(r: &mut dyn Read, target: &Path, mtime: u64) -> io::Result<bool> {
    let mailbox = parent2(target);
    let fname = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if super::scan::locate(&mailbox, fname).is_some() {
        return Ok(false);
    }
    for sub in ["cur", "new", "tmp"] {
        mkdirs(&mailbox.join(sub))?;
    }
    let tmp = mailbox.join("tmp").join(fname);
    write_synced(r, &tmp, mtime)?;
    fs::rename(&tmp, target)?;
    File::open(target.parent().unwrap_or(&mailbox))?.sync_all()?;
    Ok(true)
}

/// Writes a file that does not exist yet (tmp name, fsync, rename).
fn write_new(r: &mut dyn Read, target: &Path, mtime: u64) -> io::Result<()> {
    let dir = target.parent().unwrap_or(Path::new("."));
    mkdirs(dir)?;
    let tmp = crate::users::file::sibling(target, ".restore-tmp");
    write_synced(r, &tmp, mtime)?;
    fs::rename(&tmp, target)
}

fn write_synced(r: &mut dyn Read, path: &Path, mtime: u64) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    io::copy(r, &mut f)?;
    f.flush()?;
    let t = nix::sys::time::TimeSpec::new(mtime as i64, 0);
    let _ = nix::sys::stat::futimens(&f, &t, &t);
    f.sync_all()
}

fn mkdirs(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn read_text(r: &mut dyn Read) -> io::Result<String> {
    let mut s = String::new();
    r.read_to_string(&mut s)?;
    Ok(s)
}

/// Queue ids present in any spool stage now.
fn spool_ids(spool: &Path) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for stage in fs::read_dir(spool).into_iter().flatten().flatten() {
        for id in fs::read_dir(stage.path()).into_iter().flatten().flatten() {
            ids.insert(id.file_name().to_string_lossy().into_owned());
        }
    }
    ids
}

/// Recounts a mailbox's Maildir++ usage if it keeps a `maildirsize` (keeping its quota).
fn recount(mailbox: &Path) {
    let Some((limit, _)) = crate::users::quota::read(mailbox) else {
        return;
    };
    if let Err(e) = crate::maildir::quota::recount(mailbox, &limit) {
        crate::mlog!("warning: {}: quota recount: {e}", mailbox.display());
    }
}

/// Adds users (and their app passwords) from the backup that the current files lack.
fn merge_users(
    cfg: &Config,
    users: Option<String>,
    apps: Option<String>,
    only: Option<&str>,
) -> Result<usize, Error> {
    let path = &cfg.users_file;
    let uerr = |e: crate::users::Error| format_err(path, e.to_string());
    let wanted = |a: &str| only.is_none_or(|o| o.eq_ignore_ascii_case(a));
    let mut added = 0;
    if let Some(text) = users {
        let backup = UserDb::parse(Path::new("config/users"), &text).map_err(uerr)?;
        added = UserDb::modify(path, |db| {
            let mut n = 0;
            for u in backup.users.into_iter().filter(|u| wanted(&u.address)) {
                if db.get(&u.address).is_none() {
                    db.users.push(u);
                    n += 1;
                }
            }
            Ok(n)
        })
        .map_err(uerr)?;
    }
    if let Some(text) = apps {
        let backup = AppPasswords::parse(Path::new("config/users.app"), &text).map_err(uerr)?;
        AppPasswords::modify(path, |a| {
            for e in backup.entries.into_iter().filter(|e| wanted(&e.address)) {
                if !a
                    .entries
                    .iter()
                    .any(|x| x.address == e.address && x.name == e.name)
                {
                    a.entries.push(e);
                }
            }
            Ok(())
        })
        .map_err(uerr)?;
    }
    Ok(added)
}
