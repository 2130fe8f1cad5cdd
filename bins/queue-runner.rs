//! queue-runner: delivers queued mail (local recipients through local-deliver, remote ones
//! over SMTP, retries, failures handed to the bounce stage). See `mail::queue_runner` for
//! the contract.

use clap::Parser;
use mail::cli;
use std::path::PathBuf;
use std::process::ExitCode;

/// Deliver the messages in spool/queue; one instance per spool.
#[derive(Parser)]
#[command(name = "queue-runner", version)]
struct Args {
    /// Config file (default: $MAIL_CONFIG, else /etc/mail/mail.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Process everything due now, then exit.
    #[arg(long)]
    once: bool,
}

fn main() -> ExitCode {
    cli::main("queue-runner", |args: Args| {
        let cfg = cli::config(args.config.as_deref())?;
        let opts = mail::queue_runner::Options { once: args.once };
        cli::finish(mail::queue_runner::run(&cfg, &opts), |e| e.exit())
    })
}
