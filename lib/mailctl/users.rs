//! `mailctl user …`: add, passwd, del, list (with Maildir++ usage), quota, disable|enable,
//! app-password add|list|revoke. Every change runs under the users file's lock
//! (`UserDb::modify`, `AppPasswords::modify`), so two admins never lose each other's edit.
//! Passwords are read from stdin: one line, or on a tty prompted twice without echo; an app
//! password is generated and printed once. Quota is the Maildir++ `maildirsize` definition,
//! written by `maildir::quota::recount` (definition plus a fresh count, so usage is kept).

use std::io::{BufRead, Write};

use super::Error;
use crate::config::Config;
use crate::maildir::quota::{self, Limit};
use crate::users::{self as db, AppPasswords, UserDb};

#[derive(Debug, clap::Subcommand)]
pub enum UserCmd {
    /// Add a user; the password is read from stdin.
    Add { address: String },
    /// Change a user's password, read from stdin.
    Passwd { address: String },
    /// Remove a user and their app passwords (their Maildir is left in place).
    Del { address: String },
    /// List users with Maildir usage and quota (from maildirsize), and who is disabled.
    List,
    /// Set a user's quota: a size (2G, 500M, 0 = unlimited) or a Maildir++ definition
    /// (1073741824S,1000C). Written to the Maildir's maildirsize; usage is recounted.
    Quota { address: String, size: String },
    /// Refuse logins (SMTP AUTH, IMAP, POP3); mail is still accepted and delivered.
    Disable { address: String },
    /// Allow logins again.
    Enable { address: String },
    /// Per-client passwords that can be revoked one by one.
    #[command(subcommand, name = "app-password")]
    AppPassword(AppCmd),
}

#[derive(Debug, clap::Subcommand)]
pub enum AppCmd {
    /// Generate an app password NAME for ADDRESS and print it (shown only this once).
    Add { address: String, name: String },
    /// List a user's app passwords (names and creation dates, never the passwords).
    List { address: String },
    /// Revoke one app password; the user's others keep working.
    Revoke { address: String, name: String },
}

/// Longest password accepted; longer input is more likely a pasted file than a password.
const MAX_PASSWORD: usize = 1024;

pub fn run(cfg: &Config, cmd: UserCmd, out: &mut dyn Write) -> Result<(), Error> {
    let path = &cfg.users_file;
    match cmd {
        UserCmd::Add { address } => {
            let address = db::check_new_address(cfg, &address)?;
            if UserDb::load(path)?.get(&address).is_some() {
                return Err(db::Error::Exists(address).into());
            }
            let password = read_password(true)?;
            UserDb::modify(path, |d| d.add(&address, &password))?;
            say(out, format!("added {address}"))
        }
        UserCmd::Passwd { address } => {
            if UserDb::load(path)?.get(&address).is_none() {
                return Err(db::Error::NotFound(address.to_lowercase()).into());
            }
            let password = read_password(true)?;
            UserDb::modify(path, |d| d.set_password(&address, &password))?;
            say(
                out,
                format!("password changed for {}", address.to_lowercase()),
            )
        }
        UserCmd::Del { address } => {
            let user = UserDb::modify(path, |d| d.remove(&address))?;
            AppPasswords::modify(path, |a| {
                a.remove_user(&user.address);
                Ok(())
            })?;
            let maildir = cfg
                .maildir_path(&user.address)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "(none)".into());
            say(
                out,
                format!(
                    "removed {}; its Maildir {maildir} was left in place",
                    user.address
                ),
            )
        }
        UserCmd::List => {
            let users = UserDb::load(path)?;
            for u in &users.users {
                say(out, list_line(cfg, &users, u))?;
            }
            Ok(())
        }
        UserCmd::Quota { address, size } => set_quota(cfg, &address, &size, out),
        UserCmd::Disable { address } => {
            UserDb::modify(path, |d| d.set_disabled(&address, true))?;
            say(
                out,
                format!(
                    "disabled logins for {}; mail is still accepted",
                    address.to_lowercase()
                ),
            )
        }
        UserCmd::Enable { address } => {
            UserDb::modify(path, |d| d.set_disabled(&address, false))?;
            say(
                out,
                format!("enabled logins for {}", address.to_lowercase()),
            )
        }
        UserCmd::AppPassword(cmd) => app(cfg, cmd, out),
    }
}

fn say(out: &mut dyn Write, text: String) -> Result<(), Error> {
    writeln!(out, "{text}").map_err(|e| Error::System(format!("stdout: {e}")))
}

/// `address  used  of quota  messages  [disabled]  [apps=N]`.
fn list_line(cfg: &Config, db: &UserDb, u: &db::User) -> String {
    let (limit, usage) = cfg
        .maildir_path(&u.address)
        .and_then(|root| crate::users::quota::read(&root))
        .unwrap_or_default();
    let quota = match limit.bytes {
        Some(b) => human(b),
        None if limit.messages.is_some() => "-".into(),
        None => "unlimited".into(),
    };
    let mut line = format!(
        "{:<32} {:>8} of {:<9} {:>6} msgs",
        u.address,
        human(u64::try_from(usage.bytes).unwrap_or(0)),
        quota,
        usage.messages
    );
    if let Some(m) = limit.messages {
        line.push_str(&format!(" (max {m})"));
    }
    if u.disabled() {
        line.push_str("  disabled");
    }
    let apps = db.app.of(&u.address).count();
    if apps > 0 {
        line.push_str(&format!("  app-passwords={apps}"));
    }
    line
}

/// 1536 → `1.5K`; powers of 1024, as quotas are given.
pub fn human(bytes: u64) -> String {
    let units = ["B", "K", "M", "G", "T"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes}B")
    } else if v.fract() < 0.05 {
        format!("{v:.0}{}", units[i])
    } else {
        format!("{v:.1}{}", units[i])
    }
}

fn set_quota(cfg: &Config, address: &str, size: &str, out: &mut dyn Write) -> Result<(), Error> {
    let address = address.to_lowercase();
    if UserDb::load(&cfg.users_file)?.get(&address).is_none() {
        return Err(db::Error::NotFound(address).into());
    }
    let limit = Limit::parse(size).ok_or_else(|| {
        Error::Input(format!(
            "{size:?}: expected a size like 2G or 500M, or 1000S,10C"
        ))
    })?;
    let root = cfg
        .maildir_path(&address)
        .ok_or_else(|| Error::Input(format!("{address}: no Maildir path")))?;
    let md = crate::maildir::Maildir::create(&root)
        .map_err(|e| Error::System(format!("{}: {e}", root.display())))?;
    let usage = quota::recount(md.root(), &limit)
        .map_err(|e| Error::System(format!("{}: {e}", root.display())))?;
    let shown = if limit.is_unlimited() {
        "unlimited".into()
    } else {
        limit.definition()
    };
    say(
        out,
        format!(
            "quota for {address}: {shown}; in use {} in {} messages",
            human(u64::try_from(usage.bytes).unwrap_or(0)),
            usage.messages
        ),
    )
}

fn app(cfg: &Config, cmd: AppCmd, out: &mut dyn Write) -> Result<(), Error> {
    let path = &cfg.users_file;
    let known = |address: &str| -> Result<String, Error> {
        let a = address.to_lowercase();
        match UserDb::load(path)?.get(&a) {
            Some(_) => Ok(a),
            None => Err(db::Error::NotFound(a).into()),
        }
    };
    match cmd {
        AppCmd::Add { address, name } => {
            let address = known(&address)?;
            let password = generate_password();
            AppPasswords::modify(path, |a| a.add(&address, &name, &password, now()))?;
            say(
                out,
                format!("app password {name} for {address}: {password}"),
            )?;
            say(
                out,
                "(shown only now; revoke it with `mailctl user app-password revoke`)".into(),
            )
        }
        AppCmd::List { address } => {
            let address = known(&address)?;
            for e in AppPasswords::load(path)?.of(&address) {
                say(out, format!("{}  created {}", e.name, day(e.created)))?;
            }
            Ok(())
        }
        AppCmd::Revoke { address, name } => {
            let address = address.to_lowercase();
            AppPasswords::modify(path, |a| a.revoke(&address, &name))?;
            say(out, format!("revoked app password {name} of {address}"))
        }
    }
}

/// Four groups of four from a 31-letter alphabet without look-alikes (about 79 random bits).
fn generate_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    let groups: Vec<String> = (0..4)
        .map(|_| {
            (0..4)
                .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
                .collect()
        })
        .collect();
    groups.join("-")
}

/// `2026-11-28` for seconds since the epoch.
fn day(secs: u64) -> String {
    let (y, m, d) = crate::date::civil_from_days((secs / 86400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Reads a new password: prompted twice without echo on a tty, else one line of stdin.
pub fn read_password(confirm: bool) -> Result<String, Error> {
    let stdin = std::io::stdin();
    if !nix::unistd::isatty(&stdin).unwrap_or(false) {
        return password_line(&mut stdin.lock());
    }
    let first = prompt("Password: ")?;
    if confirm && prompt("Again: ")? != first {
        return Err(Error::Input("passwords do not match".into()));
    }
    Ok(first)
}

/// One password line from `r`, without its line ending; empty or overlong is refused.
pub fn password_line(r: &mut dyn BufRead) -> Result<String, Error> {
    let mut line = String::new();
    std::io::Read::take(r, MAX_PASSWORD as u64 + 2)
        .read_line(&mut line)
        .map_err(|e| Error::Input(format!("reading password from stdin: {e}")))?;
    let pw = line.strip_suffix('\n').unwrap_or(&line);
    let pw = pw.strip_suffix('\r').unwrap_or(pw);
    if pw.is_empty() {
        return Err(Error::Input("empty password (give it on stdin)".into()));
    }
    if pw.len() > MAX_PASSWORD || (!line.ends_with('\n') && line.len() > MAX_PASSWORD) {
        return Err(Error::Input(format!(
            "password longer than {MAX_PASSWORD} bytes"
        )));
    }
    Ok(pw.to_string())
}

/// Prompts on stderr and reads one line from the tty with echo off.
fn prompt(text: &str) -> Result<String, Error> {
    let mut err = std::io::stderr();
    let _ = err.write_all(text.as_bytes()).and_then(|_| err.flush());
    let line = {
        let _quiet = EchoOff::new();
        password_line(&mut std::io::stdin().lock())
    };
    let _ = err.write_all(b"\n");
    line
}

/// Terminal echo off on fd 0 while alive; restored on drop.
struct EchoOff(Option<libc::termios>);

impl EchoOff {
    fn new() -> EchoOff {
        // SAFETY: tcgetattr/tcsetattr on fd 0 with a zeroed struct they fill in.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return EchoOff(None);
            }
            let saved = t;
            t.c_lflag &= !libc::ECHO;
            t.c_lflag |= libc::ECHONL;
            if libc::tcsetattr(0, libc::TCSAFLUSH, &t) != 0 {
                return EchoOff(None);
            }
            EchoOff(Some(saved))
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            // SAFETY: restores the settings read in `new`.
            unsafe {
                libc::tcsetattr(0, libc::TCSAFLUSH, t);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &std::path::Path) -> Config {
        let text = "hostname='h'\nspool_dir='s'\nmail_root='m'\nusers_file='users'\n[domains.'example.test']\n";
        Config::parse(&dir.join("mail.toml"), text).unwrap()
    }

    #[test]
    fn password_lines() {
        let mut r: &[u8] = b"secret\r\nnext\n";
        assert_eq!(password_line(&mut r).unwrap(), "secret");
        let mut r: &[u8] = b"no newline";
        assert_eq!(password_line(&mut r).unwrap(), "no newline");
        let mut r: &[u8] = b"\n";
        assert!(password_line(&mut r).is_err());
        let mut r: &[u8] = b"";
        assert!(password_line(&mut r).is_err());
        let long = vec![b'x'; MAX_PASSWORD + 5];
        assert!(password_line(&mut &long[..]).is_err());
    }

    #[test]
    fn del_list_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path());
        UserDb::modify(&c.users_file, |d| {
            d.add("a@example.test", "x")?;
            d.add("b@example.test", "y")
        })
        .unwrap();
        let mut out = Vec::new();
        run(&c, UserCmd::List, &mut out).unwrap();
        let listed = String::from_utf8_lossy(&out).into_owned();
        let first: Vec<&str> = listed.lines().filter_map(|l| l.split(' ').next()).collect();
        assert_eq!(first, ["a@example.test", "b@example.test"], "{listed}");
        assert!(listed.contains("0B of unlimited"), "{listed}");
        out.clear();
        run(
            &c,
            UserCmd::Del {
                address: "A@example.test".into(),
            },
            &mut out,
        )
        .unwrap();
        assert!(String::from_utf8_lossy(&out).contains("left in place"));
        let e = run(
            &c,
            UserCmd::Del {
                address: "a@example.test".into(),
            },
            &mut out,
        );
        assert!(matches!(e, Err(Error::Users(db::Error::NotFound(_)))));
        let e = run(
            &c,
            UserCmd::Add {
                address: "x@nowhere.test".into(),
            },
            &mut out,
        );
        assert!(matches!(e, Err(Error::Users(db::Error::Invalid { .. }))));
        let e = run(
            &c,
            UserCmd::Add {
                address: "b@example.test".into(),
            },
            &mut out,
        );
        assert!(matches!(e, Err(Error::Users(db::Error::Exists(_)))));
    }
}
