//! `mailctl alias add|del|list`: edits the aliases file as text (`aliases::edit`), under
//! its lock and atomically, keeping comments and every other entry as written. The new
//! file must parse before it replaces the old one. queue-runner reloads the file when it
//! changes; smtpd reads it per connection.

use std::io::Write;

use super::Error;
use crate::aliases::{edit, Aliases, Target};
use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum AliasCmd {
    /// Add targets to an alias, creating it if needed (`staff bob@example.test carol`).
    Add {
        /// `local` (every domain) or `local@domain`.
        name: String,
        /// Addresses, `\user`, `"|command"`, `:include:/path`, `/path/file`.
        #[arg(required = true)]
        targets: Vec<String>,
    },
    /// Remove an alias, or only the given targets of it.
    Del { name: String, targets: Vec<String> },
    /// List aliases as `name: targets`.
    List,
}

pub fn run(cfg: &Config, cmd: AliasCmd, out: &mut dyn Write) -> Result<(), Error> {
    let path = cfg
        .aliases_file
        .as_deref()
        .ok_or_else(|| Error::Input("no aliases_file in the config".into()))?;
    let say = |out: &mut dyn Write, t: String| {
        writeln!(out, "{t}").map_err(|e| Error::System(format!("stdout: {e}")))
    };
    match cmd {
        AliasCmd::Add { name, targets } => {
            check_name(cfg, &name)?;
            edit::modify(path, |t| edit::add(t, &name, &targets))?;
            say(
                out,
                format!(
                    "alias {}: added {}",
                    name.to_lowercase(),
                    targets.join(", ")
                ),
            )
        }
        AliasCmd::Del { name, targets } => {
            edit::modify(path, |t| edit::del(t, &name, &targets))?;
            say(out, format!("alias {}: removed", name.to_lowercase()))
        }
        AliasCmd::List => {
            for e in Aliases::load(path)?.entries() {
                let targets: Vec<String> = e.targets.iter().map(show).collect();
                say(out, format!("{}: {}", e.name, targets.join(", ")))?;
            }
            Ok(())
        }
    }
}

/// An alias `local@domain` must be in one of our non-alias domains (aliases of a domain
/// alias are looked up under its target).
fn check_name(cfg: &Config, name: &str) -> Result<(), Error> {
    let Some((_, domain)) = name.rsplit_once('@') else {
        return Ok(());
    };
    if !cfg.is_local_domain(domain) {
        return Err(Error::Input(format!("{domain} is not one of our domains")));
    }
    if cfg.is_alias_domain(domain) {
        return Err(Error::Input(format!(
            "{domain} is a domain alias; add the alias in {}",
            cfg.canonical_domain(domain).unwrap_or("its target")
        )));
    }
    Ok(())
}

fn show(t: &Target) -> String {
    match t {
        Target::Address(a) => a.clone(),
        Target::Mailbox(m) => format!("\\{m}"),
        Target::Pipe(c) => format!("\"|{c}\""),
        Target::Include(p) => format!(":include:{}", p.display()),
        Target::File(p) => p.display().to_string(),
    }
}
