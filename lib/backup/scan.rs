//! What a backup holds, listed while the server runs: the config, users, app passwords and
//! aliases files, every file under `mail_root`, and the spool (except `tmp/`).
//!
//! Maildir consistency: a message is one file in `new/` or `cur/` under a unique name that
//! only changes by rename (new/ → cur/, flags after `:`). Each mailbox is listed cur/, then
//! new/, then cur/ again: a message moved from new/ to cur/ while we look shows up in the
//! second cur/ listing if it left new/ before we listed new/, so none is missed; entries are
//! keyed by the unique part of the name, so none is taken twice. A message that vanishes
//! before it is read is looked for again by key (`locate`), else it was expunged.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::manifest::base;
use crate::config::Config;

/// One file to put in the archive.
#[derive(Debug, Clone)]
pub struct Item {
    /// The path inside the archive (`config/users`, `mail/d/u/cur/…`, `spool/queue/ID/…`).
    pub name: String,
    pub source: PathBuf,
    /// A Maildir message: found again by `locate` if renamed before it is read.
    pub message: bool,
}

/// Lists everything, config files first.
pub fn list(cfg: &Config) -> io::Result<Vec<Item>> {
    let mut items = Vec::new();
    let mut config_file = |name: &str, source: &Path| {
        if source.is_file() {
            items.push(Item {
                name: format!("config/{name}"),
                source: source.to_path_buf(),
                message: false,
            });
        }
    };
    config_file("mail.toml", &cfg.path);
    config_file("users", &cfg.users_file);
    config_file("users.app", &crate::users::app::path_for(&cfg.users_file));
    if let Some(a) = &cfg.aliases_file {
        config_file("aliases", a);
    }
    if cfg.mail_root.is_dir() {
        walk_mail(&cfg.mail_root, "mail", &mut items)?;
    }
    if cfg.spool_dir.is_dir() {
        walk_spool(&cfg.spool_dir, "spool", &mut items)?;
    }
    Ok(items)
}

/// Lists the mail tree under `dir` (archive prefix `prefix`).
fn walk_mail(dir: &Path, prefix: &str, items: &mut Vec<Item>) -> io::Result<()> {
    let is_mailbox = dir.join("cur").is_dir() || dir.join("new").is_dir();
    if is_mailbox {
        for (name, source) in mailbox_messages(dir)? {
            items.push(Item {
                name: format!("{prefix}/{name}"),
                source,
                message: true,
            });
        }
    }
    for (name, path, is_dir) in entries(dir)? {
        if is_mailbox && matches!(name.as_str(), "cur" | "new" | "tmp") {
            continue;
        }
        let child = format!("{prefix}/{name}");
        if is_dir {
            walk_mail(&path, &child, items)?;
        } else {
            items.push(Item {
                name: child,
                source: path,
                message: false,
            });
        }
    }
    Ok(())
}

/// The messages of one mailbox as (`cur/name` or `new/name`, path), one per unique name:
/// cur/, new/, cur/ again; a later listing wins (it is the newer place).
pub fn mailbox_messages(mailbox: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let mut by_base: BTreeMap<String, (String, PathBuf)> = BTreeMap::new();
    for sub in ["cur", "new", "cur"] {
        for (name, path, is_dir) in entries(&mailbox.join(sub))? {
            if is_dir {
                continue;
            }
            by_base.insert(base(&name).to_string(), (format!("{sub}/{name}"), path));
        }
    }
    Ok(by_base.into_values().collect())
}

/// Where the message with `name`'s unique part is now in `mailbox` (after a rename).
pub fn locate(mailbox: &Path, name: &str) -> Option<(String, PathBuf)> {
    let want = base(name);
    for sub in ["cur", "new"] {
        let found = entries(&mailbox.join(sub))
            .ok()?
            .into_iter()
            .find(|(n, _, d)| !d && base(n) == want);
        if let Some((n, p, _)) = found {
            return Some((format!("{sub}/{n}"), p));
        }
    }
    None
}

fn walk_spool(dir: &Path, prefix: &str, items: &mut Vec<Item>) -> io::Result<()> {
    for (name, path, is_dir) in entries(dir)? {
        if prefix == "spool" && name == "tmp" {
            continue; // drafts not yet committed
        }
        let child = format!("{prefix}/{name}");
        if is_dir {
            walk_spool(&path, &child, items)?;
        } else {
            items.push(Item {
                name: child,
                source: path,
                message: false,
            });
        }
    }
    Ok(())
}

/// (name, path, is_dir) of a directory's entries, sorted; a missing directory is empty.
/// Names that are not UTF-8, and lock files, are left out.
fn entries(dir: &Path) -> io::Result<Vec<(String, PathBuf, bool)>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for e in rd {
        let e = match e {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        if name.ends_with(".lock") || name.contains('\n') {
            continue;
        }
        let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
        out.push((name, e.path(), is_dir));
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_listing_dedupes_by_unique_name() {
        let d = tempfile::tempdir().unwrap();
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir(d.path().join(sub)).unwrap();
        }
        fs::write(d.path().join("new/1.a.h"), "x").unwrap();
        fs::write(d.path().join("cur/2.b.h:2,S"), "y").unwrap();
        // The same message in both places, as during a rename seen half-way.
        fs::write(d.path().join("cur/1.a.h:2,"), "x").unwrap();
        let m = mailbox_messages(d.path()).unwrap();
        let names: Vec<&str> = m.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["cur/1.a.h:2,", "cur/2.b.h:2,S"]);
        fs::rename(
            d.path().join("cur/2.b.h:2,S"),
            d.path().join("cur/2.b.h:2,RS"),
        )
        .unwrap();
        assert_eq!(locate(d.path(), "2.b.h:2,S").unwrap().0, "cur/2.b.h:2,RS");
        assert!(locate(d.path(), "9.z.h").is_none());
    }
}
