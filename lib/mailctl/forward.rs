//! `mailctl forward set|del|list`: the forwarding table (`forward`), changed under its lock.
//! Setting a forward to a remote target also creates the SRS secret when missing, so the
//! first forwarded message does not need a writable config directory.

use std::io::Write;

use super::Error;
use crate::config::Config;
use crate::forward::{self, Forwards};

#[derive(Debug, clap::Subcommand)]
pub enum ForwardCmd {
    /// Forward ADDRESS to TARGET (several: comma-separated or repeated).
    Set {
        address: String,
        #[arg(required = true, num_args = 1.., value_delimiter = ',')]
        targets: Vec<String>,
        /// Also keep a copy in ADDRESS's own mailbox.
        #[arg(long)]
        keep_copy: bool,
    },
    /// Stop forwarding ADDRESS.
    Del { address: String },
    /// Every forward.
    List,
}

pub fn run(cfg: &Config, cmd: ForwardCmd, out: &mut dyn Write) -> Result<(), Error> {
    let say = |out: &mut dyn Write, text: String| {
        writeln!(out, "{text}").map_err(|e| Error::System(format!("stdout: {e}")))
    };
    match cmd {
        ForwardCmd::Set {
            address,
            targets,
            keep_copy,
        } => {
            let targets: Vec<String> = targets
                .iter()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect();
            forward::set(cfg, &address, &targets, keep_copy).map_err(Error::Input)?;
            let remote = targets.iter().any(|t| {
                t.rsplit_once('@')
                    .is_some_and(|(_, d)| !cfg.is_local_domain(d))
            });
            if remote {
                let p = crate::srs::secret_path(&cfg.path);
                crate::srs::Srs::load_or_create(&p).map_err(super::io_err(&p))?;
            }
            let copy = if keep_copy { " (keeping a copy)" } else { "" };
            say(
                out,
                format!(
                    "{} -> {}{copy}",
                    address.trim().to_lowercase(),
                    targets.join(", ")
                ),
            )
        }
        ForwardCmd::Del { address } => {
            forward::del(cfg, &address).map_err(Error::Input)?;
            say(
                out,
                format!("removed forward of {}", address.trim().to_lowercase()),
            )
        }
        ForwardCmd::List => {
            for (a, f) in Forwards::load(cfg).map_err(Error::Input)?.map {
                let copy = if f.keep_copy { " +copy" } else { "" };
                say(out, format!("{a} -> {}{copy}", f.targets.join(", ")))?;
            }
            Ok(())
        }
    }
}
