//! pop3d: the POP3 server for one connection on stdin/stdout (see `mail::pop3d` for the
//! contract: STLS and implicit TLS, login rules, log lines, when messages are deleted).

use clap::Parser;
use mail::cli;
use mail::exit::Exit;
use std::path::PathBuf;
use std::process::ExitCode;

/// POP3 server (RFC 1939, 2449, 2595, 5034) for one connection on stdin/stdout, inetd style.
#[derive(Parser)]
#[command(name = "pop3d", version)]
struct Args {
    /// Config file (default: $MAIL_CONFIG, else /etc/mail/mail.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Implicit TLS from the first byte (port 995) instead of STLS (port 110).
    #[arg(long)]
    tls: bool,
}

fn main() -> ExitCode {
    cli::main("pop3d", |args: Args| {
        let cfg = cli::config(args.config.as_deref())?;
        cli::finish(mail::pop3d::run(&cfg, args.tls), |_| Exit::Config)
    })
}
