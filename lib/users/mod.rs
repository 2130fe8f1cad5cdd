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
//! Hashing and checking live in `users::password` (re-exported here).
//! Knows nothing of Maildirs or SMTP. Errors: `users::Error`; parse errors name file and line;
//! only I/O errors are temporary.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::config::Config;

mod password;
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
}

/// A line that holds no user.
fn is_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

impl UserDb {
    /// Reads the file; a missing file is an empty database.
    pub fn load(path: &Path) -> Result<UserDb, Error> {
        match fs::read_to_string(path) {
            Ok(text) => UserDb::parse(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(UserDb::default()),
            Err(e) => Err(io_err(path)(e)),
        }
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

    /// Checks a password in constant-ish time against the stored hash. An unknown user
    /// spends the time of one SHA512-CRYPT so timing does not reveal who exists.
    pub fn verify(&self, address: &str, password: &str) -> bool {
        match self.get(address) {
            Some(u) => verify_hash(&u.password, password),
            None => {
                let _ = verify_hash(DUMMY_HASH, password);
                false
            }
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

    /// Rewrites the file keeping its comments and unchanged lines verbatim: tmp, fsync,
    /// rename, fsync the directory. Keeps the old file's mode and (when allowed) owner.
    fn write_locked(&self, path: &Path) -> Result<(), Error> {
        let old = match fs::read_to_string(path) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(path)(e)),
        };
        let text = self.render(old.as_deref().unwrap_or(""));
        let meta = fs::metadata(path).ok();
        let mode = meta.as_ref().map_or(0o640, |m| m.mode() & 0o7777);
        let tmp = sibling(path, ".tmp");
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .map_err(io_err(&tmp))?;
        if let Some(m) = &meta {
            // Only root can give the file away; as anyone else it is ours already.
            let _ = std::os::unix::fs::fchown(&f, Some(m.uid()), Some(m.gid()));
        }
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(io_err(&tmp))?;
        fs::rename(&tmp, path).map_err(io_err(path))?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir))
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

/// An exclusive flock on `<path>.lock`, released on drop.
pub struct Lock {
    _file: File,
}

/// Takes the users file's lock (blocking), so read-modify-write runs one at a time.
pub fn lock(path: &Path) -> Result<Lock, Error> {
    let lock_path = sibling(path, ".lock");
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)
        .map_err(io_err(&lock_path))?;
    loop {
        // SAFETY: flock on a descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX) };
        if rc == 0 {
            return Ok(Lock { _file: file });
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(io_err(&lock_path)(e));
        }
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
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
