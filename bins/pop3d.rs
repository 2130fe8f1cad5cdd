//! pop3d: the POP3 server for one connection on stdin/stdout (see `mail::pop3d` for the
//! contract: STLS and implicit TLS, login rules, log lines, when messages are deleted).

use clap::Parser;
use mail::config::Config;
use mail::exit::Exit;
use std::path::PathBuf;

/// POP3 server (RFC 1939, 2449, 2595, 5034) for one connection on stdin/stdout, inetd style.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Config file (default: $MAIL_CONFIG, else /etc/mail/mail.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Implicit TLS from the first byte (port 995) instead of STLS (port 110).
    #[arg(long)]
    tls: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    mail::log::init("pop3d");
    let cfg = match Config::load(&Config::locate(args.config.as_deref())) {
        Ok(c) => c,
        Err(e) => {
            mail::mlog!("fatal: {e}");
            return Exit::Config.into();
        }
    };
    match mail::pop3d::run(&cfg, args.tls) {
        Ok(()) => Exit::Ok.into(),
        Err(e) => {
            mail::mlog!("fatal: {e}");
            Exit::Config.into()
        }
    }
}
