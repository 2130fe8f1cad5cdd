//! mailctl: admin CLI (users, queue, init, run); see lib/mailctl.

use clap::Parser;
use std::path::PathBuf;

/// Administer the mail server: users, queue, init, and running the whole stack.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Config file (default: $MAIL_CONFIG, else /etc/mail/mail.toml).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    cmd: mail::mailctl::Command,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    mail::log::init("mailctl");
    match mail::mailctl::run(args.config.as_deref(), args.cmd) {
        Ok(()) => mail::exit::Exit::Ok.into(),
        Err(e) => {
            eprintln!("mailctl: {e}");
            e.exit().into()
        }
    }
}
