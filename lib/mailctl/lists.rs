//! `mailctl list create|add|remove|members|del`: mailing lists (`mlist`), changed under the
//! lists file's lock.

use std::io::Write;

use super::Error;
use crate::config::Config;
use crate::mlist::{self, Lists, Policy};

#[derive(Debug, clap::Subcommand)]
pub enum ListCmd {
    /// Create LIST@DOMAIN (members-only unless --open).
    Create {
        list: String,
        /// Anyone may post.
        #[arg(long, conflicts_with = "members_only")]
        open: bool,
        /// Only members (and the owner) may post (the default).
        #[arg(long)]
        members_only: bool,
        /// Gets LIST-bounces and LIST-request mail.
        #[arg(long)]
        owner: Option<String>,
    },
    /// Add MEMBER to LIST.
    Add { list: String, member: String },
    /// Remove MEMBER from LIST.
    Remove { list: String, member: String },
    /// Members of LIST, one a line.
    Members { list: String },
    /// Delete LIST.
    Del { list: String },
}

pub fn run(cfg: &Config, cmd: ListCmd, out: &mut dyn Write) -> Result<(), Error> {
    let say = |out: &mut dyn Write, text: String| {
        writeln!(out, "{text}").map_err(|e| Error::System(format!("stdout: {e}")))
    };
    match cmd {
        ListCmd::Create {
            list, open, owner, ..
        } => {
            let policy = if open {
                Policy::Open
            } else {
                Policy::MembersOnly
            };
            let key = mlist::create(cfg, &list, policy, owner.as_deref()).map_err(Error::Input)?;
            say(out, format!("created {key}"))
        }
        ListCmd::Add { list, member } => {
            mlist::add(cfg, &list, &member).map_err(Error::Input)?;
            say(
                out,
                format!("added {} to {}", member.trim(), list.trim().to_lowercase()),
            )
        }
        ListCmd::Remove { list, member } => {
            mlist::remove(cfg, &list, &member).map_err(Error::Input)?;
            say(
                out,
                format!(
                    "removed {} from {}",
                    member.trim(),
                    list.trim().to_lowercase()
                ),
            )
        }
        ListCmd::Members { list } => {
            let lists = Lists::load(cfg).map_err(Error::Input)?;
            let key = list.trim().to_lowercase();
            let key = cfg.canonical_address(&key).unwrap_or(key);
            let Some(l) = lists.map.get(&key) else {
                return Err(Error::Input(format!("{key}: no such list")));
            };
            for m in &l.members {
                say(out, m.clone())?;
            }
            Ok(())
        }
        ListCmd::Del { list } => {
            mlist::del(cfg, &list).map_err(Error::Input)?;
            say(out, format!("deleted {}", list.trim().to_lowercase()))
        }
    }
}
