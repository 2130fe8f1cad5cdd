//! Users: the Dovecot-compatible passwd-file, password hashing and checking, and the
//! locked, atomic rewrite of that file for `mailctl`.
//!
//! Format, one user a line (Dovecot `passwd-file`):
//! `user@domain:{SCHEME}hash:uid:gid:gecos:home:shell:extra fields` — every field after the
//! password is optional; extra fields are space-separated `key=value` and may contain `:`.
//! `#` comments and blank lines are ignored on read and kept on rewrite. We write
//! `addr:{SHA512-CRYPT}$6$…::::::`, which Dovecot reads as is.
//!
//! Schemes checked: `{SHA512-CRYPT}`, `{SHA256-CRYPT}`, `{CRYPT}` or none (`$6$`/`$5$`),
//! `{PLAIN}`/`{CLEARTEXT}` (tests, migration). An unknown user costs a dummy hash, so timing
//! does not tell which users exist.
//!
//! Hashing and checking live in `users::password` (re-exported here); app passwords (extra
//! per-client passwords) in `users::app`, in a file beside this one; the locked atomic
//! rewrite in `users::file`. `verify` is the one login check smtpd, imapd and pop3d use: the
//! main password or any unrevoked app password, refused for a disabled user (Dovecot's
//! `nologin` extra field, which `mailctl user disable` writes; mail is still accepted).
//! Knows nothing of Maildirs or SMTP. Errors: `users::Error`; parse errors name file and line;
//! only I/O errors are temporary.

use std::fs;
use std::path::Path;

use crate::config::Config;

pub mod app;
pub mod file;
mod password;
pub mod quota;
pub use app::{AppPassword, AppPasswords};
pub use password::{hash_password, verify_hash, DUMMY_HASH};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}:{line}: {message}")]
    Parse {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{address}: {message}")]
    Invalid { address: String, message: String },
    #[error("{0}: user already exists")]
    Exists(String),
    #[error("{0}: no such user")]
    NotFound(String),
}

impl Error {
    /// Only I/O can get better by itself.
    pub fn is_temporary(&self) -> bool {
        matches!(self, Error::Io { .. })
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct User {
    /// `local@domain`, lower case.
    pub address: String,
    /// `{SHA512-CRYPT}$6$…` as stored.
    pub password: String,
    /// Extra fields (`key=value`) after the standard ones, kept verbatim.
    pub extra: Vec<String>,
    /// Dovecot's uid, gid, gecos, home and shell fields, verbatim (empty when unset).
    pub uid: String,
    pub gid: String,
    pub gecos: String,
    pub home: String,
    pub shell: String,
}

impl User {
    /// A new user with a freshly hashed password.
    pub fn new(address: &str, password: &str) -> User {
        User {
            address: address.to_lowercase(),
            password: hash_password(password),
            ..User::default()
        }
    }

    /// Parses one non-comment line.
    pub fn parse_line(line: &str) -> Result<User, String> {
        let mut f = line.splitn(8, ':');
        let address = f.next().unwrap_or_default().trim().to_lowercase();
        if address.is_empty() {
            return Err("empty user name".into());
        }
        if address.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("bad user name {address:?}"));
        }
        let password = f
            .next()
            .ok_or_else(|| format!("{address}: missing password field"))?
            .to_string();
        let mut next = || f.next().unwrap_or_default().to_string();
        let (uid, gid, gecos, home, shell) = (next(), next(), next(), next(), next());
        let extra = next().split_whitespace().map(str::to_string).collect();
        Ok(User {
            address,
            password,
            extra,
            uid,
            gid,
            gecos,
            home,
            shell,
        })
    }

    /// True when logins are refused: a Dovecot `nologin` extra field (any value but
    /// `n`/`no`/`0`/`false`). Mail is still delivered.
    pub fn disabled(&self) -> bool {
        self.extra.iter().any(|f| match f.split_once('=') {
            None => f == "nologin",
            Some((k, v)) => k == "nologin" && !matches!(v, "n" | "no" | "0" | "false"),
        })
    }

    /// Sets or clears the `nologin` extra field.
    pub fn set_disabled(&mut self, disabled: bool) {
        self.extra
            .retain(|f| f != "nologin" && !f.starts_with("nologin="));
        if disabled {
            self.extra.push("nologin=y".into());
        }
    }

    /// The line as written to the file (no newline).
    pub fn to_line(&self) -> String {
        format!(
            "{}:{}:{}:{}:{}:{}:{}:{}",
            self.address,
            self.password,
            self.uid,
            self.gid,
            self.gecos,
            self.home,
            self.shell,
            self.extra.join(" ")
        )
    }
}

#[derive(Debug, Clone, Default)]
pub struct UserDb {
    pub users: Vec<User>,
    /// App passwords from the file beside the users file (`load` reads it; `parse` does not).
    pub app: AppPasswords,
}

/// A line that holds no user.
fn is_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

impl UserDb {
    /// Reads the file and its app passwords; a missing file is an empty database. An
    /// unreadable or damaged app-password file is logged and leaves only the main passwords.
    pub fn load(path: &Path) -> Result<UserDb, Error> {
        let mut db = match fs::read_to_string(path) {
            Ok(text) => UserDb::parse(path, &text)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => UserDb::default(),
            Err(e) => return Err(io_err(path)(e)),
        };
        // App passwords only ever add logins: a damaged or unreadable file must not stop
        // deliveries (which load users too), so it costs the app passwords, not the users.
        db.app = AppPasswords::load(path).unwrap_or_else(|e| {
            crate::mlog!("warning: app passwords ignored: {e}");
            AppPasswords::default()
        });
        Ok(db)
    }

    /// Parses file text as if read from `path` (named in errors).
    pub fn parse(path: &Path, text: &str) -> Result<UserDb, Error> {
        let mut db = UserDb::default();
        for (n, line) in text.lines().enumerate() {
            if is_comment(line) {
                continue;
            }
            let parse_err = |message: String| Error::Parse {
                path: path.display().to_string(),
                line: n + 1,
                message,
            };
            let user = User::parse_line(line).map_err(parse_err)?;
            if db.get(&user.address).is_some() {
                return Err(parse_err(format!("{}: duplicate user", user.address)));
            }
            db.users.push(user);
        }
        Ok(db)
    }

    /// Looks a user up by address (case-insensitive).
    pub fn get(&self, address: &str) -> Option<&User> {
        let a = address.to_lowercase();
        self.users.iter().find(|u| u.address == a)
    }

    /// Checks a login: the main password, else each of the user's app passwords. A
    /// disabled user is refused (after the same work, so timing does not tell), and an
    /// unknown user spends one SHA512-CRYPT so timing does not reveal who exists.
    pub fn verify(&self, address: &str, password: &str) -> bool {
        let Some(u) = self.get(address) else {
            let _ = verify_hash(DUMMY_HASH, password);
            return false;
        };
        let ok = verify_hash(&u.password, password)
            || self
                .app
                .of(&u.address)
                .any(|a| verify_hash(&a.hash, password));
        ok && !u.disabled()
    }

    /// Disables or enables logins for a user.
    pub fn set_disabled(&mut self, address: &str, disabled: bool) -> Result<(), Error> {
        let a = address.to_lowercase();
        match self.users.iter_mut().find(|u| u.address == a) {
            Some(u) => {
                u.set_disabled(disabled);
                Ok(())
            }
            None => Err(Error::NotFound(a)),
        }
    }

    /// Adds a user; the address must already be checked (`check_new_address`).
    pub fn add(&mut self, address: &str, password: &str) -> Result<(), Error> {
        if self.get(address).is_some() {
            return Err(Error::Exists(address.to_lowercase()));
        }
        self.users.push(User::new(address, password));
        Ok(())
    }

    /// Removes a user.
    pub fn remove(&mut self, address: &str) -> Result<User, Error> {
        let a = address.to_lowercase();
        match self.users.iter().position(|u| u.address == a) {
            Some(i) => Ok(self.users.remove(i)),
            None => Err(Error::NotFound(a)),
        }
    }

    /// Replaces a user's password with a fresh hash.
    pub fn set_password(&mut self, address: &str, password: &str) -> Result<(), Error> {
        let a = address.to_lowercase();
        match self.users.iter_mut().find(|u| u.address == a) {
            Some(u) => {
                u.password = hash_password(password);
                Ok(())
            }
            None => Err(Error::NotFound(a)),
        }
    }

    /// Writes the database to `path` atomically under the file's lock. Prefer `modify`,
    /// which also holds the lock while reading, so concurrent changes are not lost.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let _lock = lock(path)?;
        self.write_locked(path)
    }

    /// Locks the file, loads it, applies `change`, and writes it back atomically.
    /// Nothing is written when `change` fails.
    pub fn modify<T>(
        path: &Path,
        change: impl FnOnce(&mut UserDb) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let _lock = lock(path)?;
        let mut db = UserDb::load(path)?;
        let out = change(&mut db)?;
        db.write_locked(path)?;
        Ok(out)
    }

    /// Rewrites the file keeping its comments and unchanged lines verbatim (`file::replace`:
    /// tmp, fsync, rename, fsync the directory; mode and owner kept).
    fn write_locked(&self, path: &Path) -> Result<(), Error> {
        let old = file::read_optional(path).map_err(io_err(path))?;
        let text = self.render(old.as_deref().unwrap_or(""));
        file::replace(path, &text, 0o640).map_err(io_err(path))
    }

    /// The new file text: `old`'s comments kept, its user lines replaced by ours (verbatim
    /// when unchanged, dropped when removed), new users appended.
    pub fn render(&self, old: &str) -> String {
        let mut out = String::new();
        let mut written = vec![false; self.users.len()];
        for line in old.lines() {
            if is_comment(line) {
                out.push_str(line);
                out.push('\n');
                continue;
            }
            let Ok(parsed) = User::parse_line(line) else {
                continue;
            };
            let Some(i) = self.users.iter().position(|u| u.address == parsed.address) else {
                continue;
            };
            if written[i] {
                continue;
            }
            written[i] = true;
            if parsed == self.users[i] {
                out.push_str(line);
            } else {
                out.push_str(&self.users[i].to_line());
            }
            out.push('\n');
        }
        for (u, done) in self.users.iter().zip(written) {
            if !done {
                out.push_str(&u.to_line());
                out.push('\n');
            }
        }
        out
    }
}

pub use file::Lock;

/// Takes the users file's lock (blocking), so read-modify-write runs one at a time.
pub fn lock(path: &Path) -> Result<Lock, Error> {
    file::lock(path).map_err(io_err(&file::sibling(path, ".lock")))
}

/// Checks and normalises the address of a new user: `local@domain`, local part of
/// `[a-z0-9._+-]` (lower-cased first), no leading, trailing or double dot, and the domain
/// one of `cfg.domains`.
pub fn check_new_address(cfg: &Config, address: &str) -> Result<String, Error> {
    let a = address.trim().to_lowercase();
    let bad = |message: &str| Error::Invalid {
        address: address.to_string(),
        message: message.to_string(),
    };
    let (local, domain) = a
        .rsplit_once('@')
        .ok_or_else(|| bad("expected local@domain"))?;
    if local.is_empty() || local.len() > 64 {
        return Err(bad("local part must be 1 to 64 characters"));
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._+-".contains(c);
    if !local.chars().all(allowed) {
        return Err(bad("local part may only hold a-z 0-9 . _ + -"));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(bad(
            "local part may not start or end with a dot, or hold two",
        ));
    }
    if !cfg.is_local_domain(domain) {
        return Err(bad("domain is not one of the configured [domains]"));
    }
    if cfg.is_alias_domain(domain) {
        return Err(bad(
            "domain is an alias (alias_of); add the user in its target domain",
        ));
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# users
demo@example.test:{PLAIN}demo::::::
Bob@Example.test:{SHA512-CRYPT}$6$abc$x:1000:1000:Bob B:/home/bob:/bin/false:userdb_quota_rule=*:storage=1G nopassword=n

short@example.test:{PLAIN}pw
";

    fn db() -> UserDb {
        UserDb::parse(Path::new("users"), FILE).unwrap()
    }

    #[test]
    fn parses_dovecot_lines() {
        let d = db();
        assert_eq!(d.users.len(), 3);
        let bob = d.get("BOB@example.test").unwrap();
        assert_eq!(bob.address, "bob@example.test");
        assert_eq!(bob.uid, "1000");
        assert_eq!(bob.gecos, "Bob B");
        assert_eq!(bob.home, "/home/bob");
        assert_eq!(
            bob.extra,
            vec!["userdb_quota_rule=*:storage=1G", "nopassword=n"]
        );
        assert_eq!(d.get("short@example.test").unwrap().password, "{PLAIN}pw");
    }

    #[test]
    fn round_trip_keeps_comments_and_lines() {
        let d = db();
        assert_eq!(d.render(FILE), FILE);
        let again = UserDb::parse(Path::new("u"), &d.render("")).unwrap();
        assert_eq!(again.users, d.users);
    }

    #[test]
    fn render_replaces_drops_and_appends() {
        let mut d = db();
        d.remove("short@example.test").unwrap();
        d.users[0].password = "{PLAIN}new".into();
        d.users.push(User {
            address: "new@example.test".into(),
            password: "{PLAIN}x".into(),
            ..User::default()
        });
        let out = d.render(FILE);
        assert!(out.starts_with("# users\ndemo@example.test:{PLAIN}new::::::\n"));
        assert!(!out.contains("short@"));
        assert!(out.ends_with("new@example.test:{PLAIN}x::::::\n"), "{out}");
    }

    #[test]
    fn parse_errors_name_file_and_line() {
        let e = UserDb::parse(Path::new("/etc/users"), "# c\n\nnopassword\n").unwrap_err();
        assert!(e.to_string().starts_with("/etc/users:3:"), "{e}");
        let e = UserDb::parse(Path::new("u"), "a@b:x\nA@B:y\n").unwrap_err();
        assert!(e.to_string().contains("u:2:") && e.to_string().contains("duplicate"));
    }

    #[test]
    fn verify_good_bad_unknown() {
        let mut d = db();
        d.add("new@example.test", "pw1").unwrap();
        assert!(d.verify("NEW@example.test", "pw1"));
        assert!(!d.verify("new@example.test", "pw2"));
        assert!(!d.verify("nobody@example.test", "pw1"));
        assert!(d.verify("demo@example.test", "demo"));
        assert!(!d.verify("demo@example.test", "dem"));
        assert!(!d.verify("demo@example.test", ""));
        assert!(matches!(
            d.add("demo@example.test", "x"),
            Err(Error::Exists(_))
        ));
    }

    #[test]
    fn disabled_users_and_app_passwords() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        UserDb::modify(&path, |db| db.add("a@example.test", "main")).unwrap();
        AppPasswords::modify(&path, |a| {
            a.add("a@example.test", "phone", "app1", 1)?;
            a.add("a@example.test", "laptop", "app2", 2)
        })
        .unwrap();
        let db = UserDb::load(&path).unwrap();
        for pw in ["main", "app1", "app2"] {
            assert!(db.verify("a@example.test", pw), "{pw}");
        }
        assert!(!db.verify("a@example.test", "app3"));
        AppPasswords::modify(&path, |a| a.revoke("a@example.test", "phone")).unwrap();
        let db = UserDb::load(&path).unwrap();
        assert!(!db.verify("a@example.test", "app1"), "revoked still works");
        assert!(db.verify("a@example.test", "app2") && db.verify("a@example.test", "main"));

        UserDb::modify(&path, |db| db.set_disabled("a@example.test", true)).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.trim_end().ends_with(":nologin=y"), "{text}");
        let db = UserDb::load(&path).unwrap();
        assert!(db.get("a@example.test").unwrap().disabled());
        assert!(!db.verify("a@example.test", "main") && !db.verify("a@example.test", "app2"));
        UserDb::modify(&path, |db| db.set_disabled("a@example.test", false)).unwrap();
        assert!(UserDb::load(&path)
            .unwrap()
            .verify("a@example.test", "main"));
        let u = User::parse_line("x@y:{PLAIN}p:::::: nologin=n").unwrap();
        assert!(!u.disabled());
        // A damaged app-password file costs only the app passwords.
        fs::write(app::path_for(&path), "garbage\n").unwrap();
        let db = UserDb::load(&path).unwrap();
        assert!(db.verify("a@example.test", "main") && !db.verify("a@example.test", "app2"));
    }

    #[test]
    fn modify_is_atomic_and_keeps_comments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        fs::write(&path, "# keep me\n").unwrap();
        UserDb::modify(&path, |db| db.add("a@example.test", "pw")).unwrap();
        UserDb::modify(&path, |db| db.set_password("a@example.test", "pw2")).unwrap();
        let r = UserDb::modify(&path, |db| db.remove("zz@example.test").map(drop));
        assert!(matches!(r, Err(Error::NotFound(_))));
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# keep me\na@example.test:{SHA512-CRYPT}$6$"));
        assert!(UserDb::load(&path).unwrap().verify("a@example.test", "pw2"));
        assert!(!dir.path().join("users.tmp").exists());
        assert!(UserDb::load(&dir.path().join("absent"))
            .unwrap()
            .users
            .is_empty());
    }

    #[test]
    fn concurrent_modifies_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        let threads: Vec<_> = (0..6)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    UserDb::modify(&path, |db| {
                        db.users.push(User {
                            address: format!("u{i}@example.test"),
                            password: "{PLAIN}x".into(),
                            ..User::default()
                        });
                        Ok(())
                    })
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
        assert_eq!(UserDb::load(&path).unwrap().users.len(), 6);
    }

    #[test]
    fn new_addresses_are_checked() {
        let cfg = Config::parse(
            Path::new("/x/mail.toml"),
            "hostname='h'\nspool_dir='s'\nmail_root='m'\nusers_file='u'\n[domains.'example.test']\n",
        )
        .unwrap();
        let ok = check_new_address(&cfg, "John.Doe+x@Example.TEST").unwrap();
        assert_eq!(ok, "john.doe+x@example.test");
        for bad in [
            "noat",
            ".a@example.test",
            "a.@example.test",
            "a..b@example.test",
            "a b@example.test",
            "a/b@example.test",
            "@example.test",
            "a@other.test",
            "a:b@example.test",
        ] {
            assert!(check_new_address(&cfg, bad).is_err(), "{bad}");
        }
    }
}
