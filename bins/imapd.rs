//! imapd: the IMAP server for one connection on stdin/stdout (see `mail::imapd` for the
//! contract: TLS, login rules, log lines, timeouts).

use clap::Parser;
use mail::cli;
use mail::exit::Exit;
use std::path::PathBuf;
use std::process::ExitCode;

/// IMAP4rev1 server (RFC 3501) over Maildir for one connection on stdin/stdout, inetd style.
#[derive(Parser)]
#[command(name = "imapd", version)]
struct Args {
    /// Config file (default: $MAIL_CONFIG, else /etc/mail/mail.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// TLS from the first byte (port 993) instead of STARTTLS.
    #[arg(long)]
    tls: bool,
}

fn main() -> ExitCode {
    cli::main("imapd", |args: Args| {
        let cfg = cli::config(args.config.as_deref())?;
        cli::finish(mail::imapd::run(&cfg, args.tls), |_| Exit::Config)
    })
}
