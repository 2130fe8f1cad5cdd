//! smtpd: the SMTP server for one connection on stdin/stdout (see `mail::smtpd` for the
//! contract: roles, log lines, when 250 is said).

use clap::Parser;
use mail::config::Config;
use mail::exit::Exit;
use mail::smtpd::Role;
use std::path::PathBuf;

/// SMTP server (RFC 5321) for one connection on stdin/stdout, inetd style.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Config file (default: $MAIL_CONFIG, else /etc/mail/mail.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Port role: mx (25), submission (587, STARTTLS + AUTH), submissions (465, implicit TLS).
    #[arg(long, value_enum, default_value_t = Role::Mx)]
    role: Role,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    mail::log::init("smtpd");
    let cfg = match Config::load(&Config::locate(args.config.as_deref())) {
        Ok(c) => c,
        Err(e) => {
            mail::mlog!("fatal: {e} (#4.3.5)");
            return Exit::Config.into();
        }
    };
    match mail::smtpd::run(&cfg, args.role) {
        Ok(()) => Exit::Ok.into(),
        Err(e) => {
            mail::mlog!("fatal: {e}");
            Exit::Config.into()
        }
    }
}
