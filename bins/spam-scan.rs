//! spam-scan: moves scanned mail from spool/incoming to spool/queue, or works as a filter.
//! See `mail::spam_scan` for the contract.

use clap::Parser;
use mail::config::Config;
use mail::exit::Exit;
use std::path::PathBuf;

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
    mail::log::init("spam-scan");
    let cfg = match Config::load(&Config::locate(args.config.as_deref())) {
        Ok(c) => c,
        Err(e) => {
            mail::mlog!("fatal: {e}");
            return Exit::Config.into();
        }
    };
    let opts = mail::spam_scan::Options {
        once: args.once,
        filter: args.filter,
    };
    match mail::spam_scan::run(&cfg, &opts) {
        Ok(()) => Exit::Ok.into(),
        Err(e) => {
            mail::mlog!("fatal: {e}");
            e.exit().into()
        }
    }
}
