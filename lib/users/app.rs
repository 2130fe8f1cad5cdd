//! App passwords: extra per-user passwords, one per client, so a leaked client password can
//! be revoked alone. They live in `<users_file>.app` beside the passwd-file, which stays
//! exactly Dovecot's format (Dovecot ignores this file; see README for a second passdb).
//!
//! Format, one a line: `user@domain:NAME:{SHA512-CRYPT}$6$…:CREATED` (CREATED in seconds
//! since the epoch); `#` comments and blank lines kept on rewrite. A revoked password is
//! removed from the file. Errors: the users module's (`Parse` names file and line).

use std::path::{Path, PathBuf};

use super::{file, hash_password, Error};

/// One app password as stored.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AppPassword {
    /// `local@domain`, lower case.
    pub address: String,
    /// What the admin called it (`phone`, `laptop-thunderbird`).
    pub name: String,
    /// `{SHA512-CRYPT}$6$…`.
    pub hash: String,
    /// Seconds since the epoch.
    pub created: u64,
}

/// All app passwords of all users.
#[derive(Debug, Clone, Default)]
pub struct AppPasswords {
    pub entries: Vec<AppPassword>,
}

/// The app-password file that belongs to the users file `users`.
pub fn path_for(users: &Path) -> PathBuf {
    file::sibling(users, ".app")
}

/// A name an admin may give: 1 to 64 of `A-Za-z0-9._-`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

impl AppPasswords {
    /// Reads the file beside `users`; a missing file holds none.
    pub fn load(users: &Path) -> Result<AppPasswords, Error> {
        let path = path_for(users);
        match file::read_optional(&path) {
            Ok(Some(text)) => AppPasswords::parse(&path, &text),
            Ok(None) => Ok(AppPasswords::default()),
            Err(source) => Err(Error::Io {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    pub fn parse(path: &Path, text: &str) -> Result<AppPasswords, Error> {
        let mut out = AppPasswords::default();
        for (n, line) in text.lines().enumerate() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let e = parse_line(t).ok_or_else(|| Error::Parse {
                path: path.display().to_string(),
                line: n + 1,
                message: "expected address:name:hash:created".into(),
            })?;
            out.entries.push(e);
        }
        Ok(out)
    }

    /// The app passwords of one user.
    pub fn of<'a>(&'a self, address: &str) -> impl Iterator<Item = &'a AppPassword> + 'a {
        let a = address.to_lowercase();
        self.entries.iter().filter(move |e| e.address == a)
    }

    /// Adds a new one; a name already used by this user is refused.
    pub fn add(
        &mut self,
        address: &str,
        name: &str,
        password: &str,
        now: u64,
    ) -> Result<(), Error> {
        let invalid = |message: &str| Error::Invalid {
            address: address.to_string(),
            message: message.to_string(),
        };
        if !valid_name(name) {
            return Err(invalid("app password names are 1-64 of A-Z a-z 0-9 . _ -"));
        }
        if self.of(address).any(|e| e.name == name) {
            return Err(invalid(&format!(
                "app password {name:?} exists; revoke it first"
            )));
        }
        self.entries.push(AppPassword {
            address: address.to_lowercase(),
            name: name.to_string(),
            hash: hash_password(password),
            created: now,
        });
        Ok(())
    }

    /// Removes one by name.
    pub fn revoke(&mut self, address: &str, name: &str) -> Result<(), Error> {
        let a = address.to_lowercase();
        let before = self.entries.len();
        self.entries.retain(|e| !(e.address == a && e.name == name));
        if self.entries.len() == before {
            return Err(Error::Invalid {
                address: a,
                message: format!("no app password named {name:?}"),
            });
        }
        Ok(())
    }

    /// Removes every one of a user (when the user is deleted).
    pub fn remove_user(&mut self, address: &str) {
        let a = address.to_lowercase();
        self.entries.retain(|e| e.address != a);
    }

    /// Locks the users file, loads, changes and writes this file back atomically.
    pub fn modify<T>(
        users: &Path,
        change: impl FnOnce(&mut AppPasswords) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let path = path_for(users);
        let io = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        let _lock = file::lock(users).map_err(io)?;
        let old = file::read_optional(&path).map_err(io)?.unwrap_or_default();
        let mut db = AppPasswords::parse(&path, &old)?;
        let out = change(&mut db)?;
        let created = !path.exists();
        file::replace(&path, &db.render(&old), 0o640).map_err(io)?;
        if created {
            same_access_as(&path, users);
        }
        Ok(out)
    }

    /// The file text: `old`'s comments kept, then one line per entry.
    fn render(&self, old: &str) -> String {
        let mut out: String = old
            .lines()
            .filter(|l| l.trim().is_empty() || l.trim().starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        for e in &self.entries {
            out.push_str(&format!(
                "{}:{}:{}:{}\n",
                e.address, e.name, e.hash, e.created
            ));
        }
        out
    }
}

/// Gives a new app-password file the users file's owner, group and mode, so every program
/// that can read the users file can read this one (best effort: only root can chown).
fn same_access_as(path: &Path, users: &Path) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Ok(m) = std::fs::metadata(users) else {
        return;
    };
    let _ = std::os::unix::fs::chown(path, Some(m.uid()), Some(m.gid()));
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(m.mode() & 0o7777));
}

fn parse_line(line: &str) -> Option<AppPassword> {
    let mut f = line.splitn(3, ':');
    let address = f.next()?.trim().to_lowercase();
    let name = f.next()?.to_string();
    let (hash, created) = f.next()?.rsplit_once(':')?;
    if address.is_empty() || !valid_name(&name) {
        return None;
    }
    Some(AppPassword {
        address,
        name,
        hash: hash.to_string(),
        created: created.trim().parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::verify_hash;

    #[test]
    fn add_list_revoke_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("users");
        std::fs::write(path_for(&users), "# app passwords\n").unwrap();
        AppPasswords::modify(&users, |a| a.add("A@x.test", "phone", "p1", 10)).unwrap();
        AppPasswords::modify(&users, |a| a.add("a@x.test", "laptop", "p2", 11)).unwrap();
        let dup = AppPasswords::modify(&users, |a| a.add("a@x.test", "phone", "p3", 12));
        assert!(dup.is_err());
        let bad = AppPasswords::modify(&users, |a| a.add("a@x.test", "no:colons", "p", 1));
        assert!(bad.is_err());
        let db = AppPasswords::load(&users).unwrap();
        let names: Vec<_> = db.of("a@x.test").map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["phone", "laptop"]);
        assert!(verify_hash(&db.entries[0].hash, "p1"));
        AppPasswords::modify(&users, |a| a.revoke("a@x.test", "phone")).unwrap();
        assert!(AppPasswords::modify(&users, |a| a.revoke("a@x.test", "phone")).is_err());
        let text = std::fs::read_to_string(path_for(&users)).unwrap();
        assert!(
            text.starts_with("# app passwords\na@x.test:laptop:{SHA512-CRYPT}$6$"),
            "{text}"
        );
        assert!(text.ends_with(":11\n"));
    }

    #[test]
    fn malformed_lines_name_the_line() {
        let e = AppPasswords::parse(Path::new("/u.app"), "# c\na@b:n:h\n").unwrap_err();
        assert!(e.to_string().starts_with("/u.app:2:"), "{e}");
    }
}
