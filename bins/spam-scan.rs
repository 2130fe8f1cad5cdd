//! spam-scan: moves scanned mail from spool/incoming to spool/queue, or works as a filter.
//! See `mail::spam_scan` for the contract.

use clap::Parser;
use mail::cli;
use std::path::PathBuf;
use std::process::ExitCode;

/// Scan incoming mail and pass it to the queue; with --filter, judge one message on stdin.
#[derive(Parser)]
#[command(name = "spam-scan", version)]
struct Args {
    /// Config file (default: $MAIL_CONFIG, else /etc/mail/mail.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Process what is in spool/incoming now, then exit.
    #[arg(long)]
    once: bool,
    /// Read a message on stdin, print the verdict and the header line, exit 0.
    #[arg(long, conflicts_with = "once")]
    filter: bool,
}

fn main() -> ExitCode {
    cli::main("spam-scan", |args: Args| {
        let cfg = cli::config(args.config.as_deref())?;
        let opts = mail::spam_scan::Options {
            once: args.once,
            filter: args.filter,
        };
        cli::finish(mail::spam_scan::run(&cfg, &opts), |e| e.exit())
    })
}
