//! smtpd: the SMTP server for one connection on stdin/stdout (see `mail::smtpd` for the
//! contract: roles, log lines, when 250 is said).

use clap::Parser;
use mail::cli;
use mail::exit::Exit;
use mail::smtpd::Role;
use std::path::PathBuf;
use std::process::ExitCode;

/// SMTP server (RFC 5321) for one connection on stdin/stdout, inetd style.
#[derive(Parser)]
#[command(name = "smtpd", version)]
struct Args {
    /// Config file (default: $MAIL_CONFIG, else /etc/mail/mail.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Port role: mx (25), submission (587, STARTTLS + AUTH), submissions (465, implicit TLS).
    #[arg(long, value_enum, default_value_t = Role::Mx)]
    role: Role,
}

fn main() -> ExitCode {
    cli::main("smtpd", |args: Args| {
        let cfg = cli::config(args.config.as_deref())?;
        cli::finish(mail::smtpd::run(&cfg, args.role), |_| Exit::Config)
    })
}
