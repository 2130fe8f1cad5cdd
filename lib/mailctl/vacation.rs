//! `mailctl vacation set|del|show`: a user's auto-reply (`vacation`). The body comes from a
//! file (`-` for stdin); the user must exist.

use std::io::{Read, Write};

use super::Error;
use crate::config::Config;
use crate::users::UserDb;
use crate::vacation::{self, Vacation};

/// Longest body accepted.
const MAX_BODY: u64 = 64 * 1024;

#[derive(Debug, clap::Subcommand)]
pub enum VacationCmd {
    /// Turn on the auto-reply of ADDRESS.
    Set {
        address: String,
        #[arg(long)]
        subject: String,
        /// The reply text (`-` reads stdin).
        #[arg(long)]
        body_file: std::path::PathBuf,
        /// Last day replies are sent (YYYY-MM-DD, UTC, inclusive).
        #[arg(long)]
        until: Option<String>,
        /// One reply per sender per this many days.
        #[arg(long, default_value_t = vacation::DEFAULT_DAYS)]
        days: u32,
    },
    /// Turn it off.
    Del { address: String },
    /// Show it.
    Show { address: String },
}

pub fn run(cfg: &Config, cmd: VacationCmd, out: &mut dyn Write) -> Result<(), Error> {
    let say = |out: &mut dyn Write, text: String| {
        writeln!(out, "{text}").map_err(|e| Error::System(format!("stdout: {e}")))
    };
    match cmd {
        VacationCmd::Set {
            address,
            subject,
            body_file,
            until,
            days,
        } => {
            let user = user(cfg, &address)?;
            let until = until
                .map(|u| vacation::check_date(&u))
                .transpose()
                .map_err(Error::Input)?;
            if subject.contains(['\r', '\n']) || subject.trim().is_empty() {
                return Err(Error::Input("subject must be one non-empty line".into()));
            }
            if days == 0 {
                return Err(Error::Input("--days must be at least 1".into()));
            }
            let body = read_body(&body_file)?;
            let v = Vacation {
                subject,
                body,
                until,
                days,
            };
            let p = v.save(cfg, &user).map_err(Error::System)?;
            say(out, format!("vacation set for {user} ({})", p.display()))
        }
        VacationCmd::Del { address } => {
            let user = user(cfg, &address)?;
            vacation::remove(cfg, &user).map_err(Error::Input)?;
            say(out, format!("vacation removed for {user}"))
        }
        VacationCmd::Show { address } => {
            let user = user(cfg, &address)?;
            match Vacation::load(cfg, &user).map_err(Error::System)? {
                None => say(out, format!("{user}: no vacation set")),
                Some(v) => say(
                    out,
                    format!(
                        "{user}: until {} every {} days\nSubject: {}\n\n{}",
                        v.until.as_deref().unwrap_or("removed"),
                        v.days,
                        v.subject,
                        v.body
                    ),
                ),
            }
        }
    }
}

/// The canonical address of an existing user.
fn user(cfg: &Config, address: &str) -> Result<String, Error> {
    let db = UserDb::load(&cfg.users_file)?;
    let a = address.trim();
    let a = cfg.canonical_address(a).unwrap_or_else(|| a.to_string());
    match db.get(&a) {
        Some(u) => Ok(u.address.clone()),
        None => Err(Error::Input(format!("{}: no such user", address.trim()))),
    }
}

fn read_body(path: &std::path::Path) -> Result<String, Error> {
    let mut buf = Vec::new();
    let r = if path.as_os_str() == "-" {
        std::io::stdin().take(MAX_BODY + 1).read_to_end(&mut buf)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_BODY + 1).read_to_end(&mut buf))
    };
    r.map_err(super::io_err(path))?;
    if buf.len() as u64 > MAX_BODY {
        return Err(Error::Input(format!("body longer than {MAX_BODY} bytes")));
    }
    String::from_utf8(buf).map_err(|_| Error::Input("body is not UTF-8".into()))
}
