//! imapd: the IMAP server for one connection on stdin/stdout (see `mail::imapd` for the
//! contract: TLS, login rules, log lines, timeouts).

use clap::Parser;
use mail::config::Config;
use mail::exit::Exit;
use std::path::PathBuf;

/// IMAP4rev1 server (RFC 3501) over Maildir for one connection on stdin/stdout, inetd style.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Config file (default: $MAIL_CONFIG, else /etc/mail/mail.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// TLS from the first byte (port 993) instead of STARTTLS.
    #[arg(long)]
    tls: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    mail::log::init("imapd");
    let cfg = match Config::load(&Config::locate(args.config.as_deref())) {
        Ok(c) => c,
        Err(e) => {
            mail::mlog!("fatal: {e} (#4.3.5)");
            return Exit::Config.into();
        }
    };
    match mail::imapd::run(&cfg, args.tls) {
        Ok(()) => Exit::Ok.into(),
        Err(e) => {
            mail::mlog!("fatal: {e}");
            Exit::Config.into()
        }
    }
}
