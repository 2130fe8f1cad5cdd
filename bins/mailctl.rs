//! mailctl: admin CLI (users, queue, init, run); see lib/mailctl.

use clap::Parser;
use mail::cli;
use std::path::PathBuf;
use std::process::ExitCode;

/// Administer the mail server: users, queue, init, and running the whole stack.
#[derive(Parser)]
#[command(name = "mailctl", version)]
struct Args {
    /// Config file (default: $MAIL_CONFIG, else /etc/mail/mail.toml).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    cmd: mail::mailctl::Command,
}

fn main() -> ExitCode {
    cli::main("mailctl", |args: Args| {
        // An admin at a terminal reads these, so errors go out plainly, not as log lines.
        mail::mailctl::run(args.config.as_deref(), args.cmd)
            .map(|()| mail::exit::Exit::Ok.into())
            .map_err(|e| {
                eprintln!("mailctl: {e}");
                e.exit().into()
            })
    })
}
