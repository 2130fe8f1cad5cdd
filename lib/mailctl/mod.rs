//! mailctl: the admin CLI. `user add|passwd|del|list` edit the passwd-file through
//! `users::UserDb::modify` (locked, atomic); `queue list` reads the spool; `init` builds a
//! runnable directory from `etc/`; `run` supervises the whole stack.
//!
//! Passwords come from stdin (prompted without echo on a tty), never from argv.
//! Output for people goes to stdout; errors are one stderr line and an exit code
//! (`Exit::TempFail` for I/O, `Exit::Config` for a bad config, `Exit::DataErr` for bad input).

pub mod access;
pub mod aliases;
pub mod backup;
pub mod checkauth;
pub mod dkim;
pub mod domains;
pub mod forward;
pub mod init;
pub mod lists;
pub mod logsearch;
pub mod man;
pub mod quarantine;
pub mod queue;
pub mod restore;
pub mod run;
pub mod spam;
pub mod users;
pub mod vacation;

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
    /// Inspect and manage the spool: list, show, flush, hold, release, delete, recall.
    Queue {
        #[command(subcommand)]
        cmd: QueueCmd,
    },
    /// DKIM signing keys: generate one, show its DNS record.
    Dkim {
        #[command(subcommand)]
        cmd: dkim::DkimCmd,
    },
    /// Forward an address's mail elsewhere (remote targets get an SRS sender).
    Forward {
        #[command(subcommand)]
        cmd: forward::ForwardCmd,
    },
    /// Mailing lists: create, add, remove, members, del.
    List {
        #[command(subcommand)]
        cmd: lists::ListCmd,
    },
    /// A user's auto-reply (RFC 3834).
    Vacation {
        #[command(subcommand)]
        cmd: vacation::VacationCmd,
    },
    /// Manage local domains and domain aliases in mail.toml.
    Domain {
        #[command(subcommand)]
        cmd: domains::DomainCmd,
    },
    /// Manage the aliases file.
    Alias {
        #[command(subcommand)]
        cmd: aliases::AliasCmd,
    },
    /// Back up mailboxes, config, users, aliases and spool while the server runs.
    #[command(args_conflicts_with_subcommands = true)]
    Backup {
        #[command(subcommand)]
        cmd: Option<backup::BackupCmd>,
        /// Write the backup (gzip'd tar) here.
        #[arg(long, value_name = "FILE")]
        to: Option<PathBuf>,
        /// Incremental: leave out messages held by this earlier backup (or its chain).
        #[arg(long, value_name = "PREVIOUS")]
        since: Option<PathBuf>,
    },
    /// Restore messages (all, or one user's) without duplicating those present.
    Restore {
        file: PathBuf,
        /// Only this user's mailbox.
        #[arg(long, value_name = "ADDRESS")]
        user: Option<String>,
        /// Also restore spool messages whose id is in no stage now.
        #[arg(long)]
        spool: bool,
    },
    /// Search the log: a message's path by queue id, a user's mail by address.
    Log {
        #[command(subcommand)]
        cmd: logsearch::LogCmd,
    },
    /// Write man pages (section 8) for every program into DIR.
    Man {
        #[arg(long)]
        dir: PathBuf,
        /// Where the other programs are (default: beside mailctl).
        #[arg(long)]
        bin_dir: Option<PathBuf>,
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
    /// Messages spam-scan held back: list, show, release, delete.
    Quarantine {
        #[command(subcommand)]
        cmd: quarantine::QuarantineCmd,
    },
    /// Train a user's Bayes spam classifier: learn, unlearn, status.
    Spam {
        #[command(subcommand)]
        cmd: spam::SpamCmd,
    },
    /// Allow list (global or per user): senders, domains, IPs, CIDR ranges that skip checks.
    Allow {
        #[command(subcommand)]
        cmd: access::AccessCmd,
    },
    /// Block list (global or per user): refused at connect, MAIL or RCPT time.
    Block {
        #[command(subcommand)]
        cmd: access::AccessCmd,
    },
    /// Print the Authentication-Results (SPF, DKIM, DMARC) a message file would get.
    CheckAuth(checkauth::CheckAuthArgs),
}

pub use users::UserCmd;

pub use queue::QueueCmd;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] config::Error),
    #[error(transparent)]
    Users(#[from] crate::users::Error),
    #[error(transparent)]
    Aliases(#[from] crate::aliases::Error),
    #[error(transparent)]
    Backup(#[from] crate::backup::Error),
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
            Error::Aliases(e) if e.is_temporary() => Exit::TempFail,
            Error::Aliases(_) => Exit::DataErr,
            Error::Backup(e) if e.is_temporary() => Exit::TempFail,
            Error::Backup(_) => Exit::DataErr,
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
    if let Command::Log { cmd } = cmd {
        return logsearch::run(cmd, stdout);
    }
    if let Command::Man { dir, bin_dir } = &cmd {
        return man::run(dir, bin_dir.as_deref(), stdout);
    }
    if let Command::Backup {
        cmd: cmd @ Some(_), ..
    } = cmd
    {
        return backup::run(None, cmd, None, None, stdout);
    }
    let cfg = Config::load(&Config::locate(config))?;
    match cmd {
        Command::User { cmd } => users::run(&cfg, cmd, stdout),
        Command::Domain { cmd } => domains::run(&cfg, cmd, stdout),
        Command::Alias { cmd } => aliases::run(&cfg, cmd, stdout),
        Command::Backup { cmd, to, since } => {
            backup::run(Some(&cfg), cmd, to.as_deref(), since.as_deref(), stdout)
        }
        Command::Restore { file, user, spool } => restore::run(
            &cfg,
            &file,
            &crate::backup::restore::Options { user, spool },
            stdout,
        ),
        Command::Queue { cmd } => queue::run(&cfg, cmd, stdout),
        Command::Dkim { cmd } => dkim::run(&cfg, cmd, stdout),
        Command::Forward { cmd } => forward::run(&cfg, cmd, stdout),
        Command::List { cmd } => lists::run(&cfg, cmd, stdout),
        Command::Vacation { cmd } => vacation::run(&cfg, cmd, stdout),
        Command::Run => run::run(&cfg),
        Command::Quarantine { cmd } => quarantine::run(&cfg, cmd, stdout),
        Command::Spam { cmd } => spam::run(&cfg, cmd, stdout),
        Command::Allow { cmd } => access::run(&cfg, crate::access::Kind::Allow, cmd, stdout),
        Command::Block { cmd } => access::run(&cfg, crate::access::Kind::Block, cmd, stdout),
        Command::CheckAuth(args) => checkauth::run(&cfg, args, stdout),
        Command::Init { .. } | Command::Log { .. } | Command::Man { .. } => Ok(()),
    }
}
