//! local-deliver: the MDA. Reads one message on stdin and delivers it to one Maildir.
//! See `mail::local_deliver` for the contract (arguments, exit codes, log lines).

use clap::Parser;
use mail::config::Config;
use std::path::PathBuf;

/// Deliver one message from stdin to a user's Maildir (like dovecot-lda).
#[derive(Parser)]
#[command(version)]
#[command(group = clap::ArgGroup::new("target").required(true).multiple(true).args(["address", "maildir"]))]
struct Args {
    /// Config file (default: $MAIL_CONFIG, else /etc/mail/mail.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Recipient address; must be a user in the users file unless --maildir is given.
    #[arg(short = 'd', value_name = "ADDRESS")]
    address: Option<String>,
    /// Deliver into this Maildir (no user lookup).
    #[arg(long, value_name = "PATH")]
    maildir: Option<PathBuf>,
    /// Envelope sender for Return-Path ("" for the null sender).
    #[arg(short = 'f', value_name = "SENDER")]
    sender: Option<String>,
    /// Maildir++ folder, e.g. Junk or .Junk (default INBOX).
    #[arg(short = 'm', value_name = "FOLDER")]
    folder: Option<String>,
    /// Quota override: a size like 1G, or a Maildir++ definition like 1073741824S,1000C.
    #[arg(long, value_name = "SIZE")]
    quota: Option<String>,
}

fn main() -> std::process::ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return std::process::ExitCode::SUCCESS;
        }
        Err(e) => {
            let _ = e.print();
            return mail::exit::Exit::Usage.into();
        }
    };
    mail::log::init("local-deliver");
    let cfg = Config::load(&Config::locate(args.config.as_deref()));
    let opts = mail::local_deliver::Options {
        config_given: args.config.is_some(),
        address: args.address,
        maildir: args.maildir,
        sender: args.sender,
        folder: args.folder,
        quota: args.quota,
    };
    let queue_id = std::env::var("QUEUE_ID").ok().filter(|s| !s.is_empty());
    let mut stdin = std::io::stdin().lock();
    mail::local_deliver::run(cfg, &opts, &mut stdin, queue_id.as_deref()).into()
}
