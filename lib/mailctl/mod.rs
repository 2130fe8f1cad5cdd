//! mailctl: the admin CLI. `user add|passwd|del|list` edit the passwd-file through
//! `users::UserDb::modify` (locked, atomic); `queue list` reads the spool; `init` builds a
//! runnable directory from `etc/`; `run` supervises the whole stack.
//!
//! Passwords come from stdin (prompted without echo on a tty), never from argv.
//! Output for people goes to stdout; errors are one stderr line and an exit code
//! (`Exit::TempFail` for I/O, `Exit::Config` for a bad config, `Exit::DataErr` for bad input).

pub mod init;
pub mod queue;
pub mod run;
pub mod users;

use std::path::{Path, PathBuf};

use crate::config::{self, Config};
use crate::exit::Exit;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Manage users in the passwd-file.
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
    /// Inspect the spool.
    Queue {
        #[command(subcommand)]
        cmd: QueueCmd,
    },
    /// Create a runnable directory: config, aliases, users, TLS certificate, spool, mail root.
    Init {
        /// Directory to create or complete.
        dir: PathBuf,
        /// Where the example mail.toml and aliases are copied from.
        #[arg(long, default_value = "etc")]
        from: PathBuf,
    },
    /// Start and supervise the whole stack from the config, in the foreground.
    Run,
}

#[derive(Debug, clap::Subcommand)]
pub enum UserCmd {
    /// Add a user; the password is read from stdin.
    Add { address: String },
    /// Change a user's password, read from stdin.
    Passwd { address: String },
    /// Remove a user (their Maildir is left in place).
    Del { address: String },
    /// List users.
    List,
}

#[derive(Debug, clap::Subcommand)]
pub enum QueueCmd {
    /// Every message in every stage, with its recipients' states.
    List,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] config::Error),
    #[error(transparent)]
    Users(#[from] crate::users::Error),
    #[error(transparent)]
    Spool(#[from] crate::spool::Error),
    #[error(transparent)]
    Tls(#[from] crate::tls::Error),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// Bad input from the admin (password, arguments).
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    System(String),
}

impl Error {
    pub fn exit(&self) -> Exit {
        match self {
            Error::Config(_) => Exit::Config,
            Error::Users(e) if e.is_temporary() => Exit::TempFail,
            Error::Spool(e) if e.is_temporary() => Exit::TempFail,
            Error::Users(_) | Error::Spool(_) | Error::Input(_) => Exit::DataErr,
            Error::Tls(_) | Error::Io { .. } | Error::System(_) => Exit::TempFail,
        }
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Runs one command. `config` is `--config`; `init` does not read a config first.
pub fn run(config: Option<&Path>, cmd: Command) -> Result<(), Error> {
    let stdout = &mut std::io::stdout().lock();
    if let Command::Init { dir, from } = &cmd {
        return init::run(dir, from, stdout);
    }
    let cfg = Config::load(&Config::locate(config))?;
    match cmd {
        Command::User { cmd } => users::run(&cfg, cmd, stdout),
        Command::Queue {
            cmd: QueueCmd::List,
        } => queue::list(&cfg, stdout),
        Command::Run => run::run(&cfg),
        Command::Init { .. } => Ok(()),
    }
}
