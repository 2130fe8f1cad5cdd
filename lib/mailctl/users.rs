//! `mailctl user …`: add, passwd, del, list over the passwd-file. Every change runs under
//! the file's lock (`UserDb::modify`), so two admins never lose each other's edit.
//! Passwords are read from stdin: one line, or on a tty prompted twice without echo.

use std::io::{BufRead, Write};

use super::{Error, UserCmd};
use crate::config::Config;
use crate::users::{self as db, UserDb};

/// Longest password accepted; longer input is more likely a pasted file than a password.
const MAX_PASSWORD: usize = 1024;

pub fn run(cfg: &Config, cmd: UserCmd, out: &mut dyn Write) -> Result<(), Error> {
    let path = &cfg.users_file;
    let say = |out: &mut dyn Write, text: String| {
        writeln!(out, "{text}").map_err(|e| Error::System(format!("stdout: {e}")))
    };
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
            for u in UserDb::load(path)?.users {
                say(out, u.address)?;
            }
            Ok(())
        }
    }
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
        assert_eq!(
            String::from_utf8_lossy(&out),
            "a@example.test\nb@example.test\n"
        );
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
