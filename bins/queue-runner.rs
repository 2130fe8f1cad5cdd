//! queue-runner: delivers queued mail (local-deliver per local recipient, retries, bounces
//! handed to the bounce stage). See `mail::queue_runner` for the contract.

use clap::Parser;
use mail::config::Config;
use mail::exit::Exit;
use std::path::PathBuf;

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

fn main() -> std::process::ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return match e.use_stderr() {
                true => Exit::Usage.into(),
                false => Exit::Ok.into(),
            };
        }
    };
    mail::log::init("queue-runner");
    let cfg = match Config::load(&Config::locate(args.config.as_deref())) {
        Ok(c) => c,
        Err(e) => {
            mail::mlog!("fatal: {e}");
            return Exit::Config.into();
        }
    };
    let opts = mail::queue_runner::Options { once: args.once };
    match mail::queue_runner::run(&cfg, &opts) {
        Ok(()) => Exit::Ok.into(),
        Err(e) => {
            mail::mlog!("fatal: {e}");
            e.exit().into()
        }
    }
}
