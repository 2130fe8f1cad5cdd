//! `mailctl allow|block add|del|list [--user ADDRESS] [ENTRY]`: edits the allow and block
//! lists in `[policy] access_file` (see `access` for the format and matching rules) under
//! the file's lock. smtpd reads the file per connection, so a change applies to the next one.

use std::io::Write;

use super::Error;
use crate::access::{self, file, Entry, Kind, Lists, Rule};
use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum AccessCmd {
    /// Add an IP, CIDR range, address or domain (a domain covers its subdomains).
    Add {
        /// A user's own list instead of the global one.
        #[arg(long, value_name = "ADDRESS")]
        user: Option<String>,
        entry: String,
    },
    /// Remove an entry.
    Del {
        #[arg(long, value_name = "ADDRESS")]
        user: Option<String>,
        entry: String,
    },
    /// List the entries (global ones, or one user's with --user).
    List {
        #[arg(long, value_name = "ADDRESS")]
        user: Option<String>,
    },
}

pub fn run(cfg: &Config, kind: Kind, cmd: AccessCmd, out: &mut dyn Write) -> Result<(), Error> {
    let path = &cfg.policy.access_file;
    let say = |out: &mut dyn Write, text: String| {
        writeln!(out, "{text}").map_err(|e| Error::System(format!("stdout: {e}")))
    };
    match cmd {
        AccessCmd::Add { user, entry } => {
            let rule = rule(kind, user, &entry)?;
            let changed = file::add(path, &rule).map_err(access_err)?;
            let what = if changed { "added" } else { "already there:" };
            say(out, format!("{what} {}", rule.line()))
        }
        AccessCmd::Del { user, entry } => {
            let rule = rule(kind, user, &entry)?;
            if !file::del(path, &rule).map_err(access_err)? {
                return Err(Error::Input(format!("not found: {}", rule.line())));
            }
            say(out, format!("removed {}", rule.line()))
        }
        AccessCmd::List { user } => {
            let user = user.map(|u| u.to_lowercase());
            let lists = Lists::load(path).map_err(access_err)?;
            for r in lists
                .rules
                .iter()
                .filter(|r| r.kind == kind && r.user == user)
            {
                say(out, r.entry.to_string())?;
            }
            Ok(())
        }
    }
}

fn rule(kind: Kind, user: Option<String>, entry: &str) -> Result<Rule, Error> {
    let user = match user {
        Some(u) if u.contains('@') && !u.starts_with('@') && !u.contains(char::is_whitespace) => {
            Some(u.to_lowercase())
        }
        Some(u) => return Err(Error::Input(format!("{u:?}: expected a user's address"))),
        None => None,
    };
    Ok(Rule {
        kind,
        entry: Entry::parse(entry).map_err(Error::Input)?,
        user,
    })
}

fn access_err(e: access::Error) -> Error {
    if e.is_temporary() {
        Error::System(e.to_string())
    } else {
        Error::Input(e.to_string())
    }
}
