//! `mailctl spam learn|unlearn|status`: trains a user's Bayes classifier (`crate::bayes`)
//! from message files, as moving mail into or out of `.Junk` over IMAP does.
//!
//! `learn --spam|--ham ADDRESS FILE...` (`-` is stdin): each message is counted as that
//! class (learning it again is a no-op; the other class moves it). `unlearn ADDRESS FILE...`
//! forgets them. `status ADDRESS`: messages trained per class and whether the classifier
//! speaks yet. The user must exist; the statistics live in the user's Maildir.
//! Errors: `mailctl::Error`; an unreadable file or unknown user is `Input` (exit 65), a
//! statistics file that cannot be written is `System` (exit 75). Files before a failing one
//! stay learned.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::Error;
use crate::config::Config;
use crate::users::UserDb;

#[derive(Debug, clap::Subcommand)]
pub enum SpamCmd {
    /// Train messages as spam (--spam) or ham (--ham) for a user.
    Learn {
        #[command(flatten)]
        class: Class,
        address: String,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Forget trained messages (the class flag is accepted and not needed).
    Unlearn {
        #[command(flatten)]
        class: OptionalClass,
        address: String,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// How many messages a user has trained.
    Status { address: String },
}

#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct Class {
    /// The messages are spam.
    #[arg(long)]
    spam: bool,
    /// The messages are ham (wanted mail).
    #[arg(long)]
    ham: bool,
}

#[derive(Debug, clap::Args)]
#[group(required = false, multiple = false)]
pub struct OptionalClass {
    #[arg(long)]
    spam: bool,
    #[arg(long)]
    ham: bool,
}

/// Runs one `mailctl spam` command.
pub fn run(cfg: &Config, cmd: SpamCmd, out: &mut dyn Write) -> Result<(), Error> {
    let text = match cmd {
        SpamCmd::Learn {
            class,
            address,
            files,
        } => {
            let md = maildir(cfg, &address)?;
            for f in &files {
                crate::bayes::learn(&md, &read(f)?, class.spam).map_err(Error::System)?;
            }
            let what = if class.spam { "spam" } else { "ham" };
            format!("{address}: learned {} message(s) as {what}\n", files.len())
        }
        SpamCmd::Unlearn { address, files, .. } => {
            let md = maildir(cfg, &address)?;
            let mut n = 0;
            for f in &files {
                n += usize::from(crate::bayes::unlearn(&md, &read(f)?).map_err(Error::System)?);
            }
            format!("{address}: forgot {n} of {} message(s)\n", files.len())
        }
        SpamCmd::Status { address } => {
            let md = maildir(cfg, &address)?;
            let (spam, ham) = crate::bayes::trained(&md).map_err(Error::System)?;
            let min = crate::bayes::MIN_TRAINED;
            let ready = if spam >= min && ham >= min {
                "active".to_string()
            } else {
                format!("inactive until {min} of each")
            };
            format!("{address}: spam={spam} ham={ham} ({ready})\n")
        }
    };
    out.write_all(text.as_bytes())
        .map_err(|e| Error::System(format!("stdout: {e}")))
}

/// The user's Maildir; the user must exist.
fn maildir(cfg: &Config, address: &str) -> Result<PathBuf, Error> {
    let users = UserDb::load(&cfg.users_file)?;
    if users.get(address).is_none() {
        return Err(Error::Input(format!("{address}: no such user")));
    }
    cfg.maildir_path(address)
        .ok_or_else(|| Error::Input(format!("{address}: not a safe mailbox name")))
}

/// A message file, or stdin for `-`.
fn read(path: &Path) -> Result<Vec<u8>, Error> {
    let mut buf = Vec::new();
    let r = match path == Path::new("-") {
        true => std::io::stdin().lock().read_to_end(&mut buf).map(|_| ()),
        false => std::fs::read(path).map(|b| buf = b),
    };
    r.map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
    if buf.is_empty() {
        return Err(Error::Input(format!("{}: empty message", path.display())));
    }
    Ok(buf)
}
