//! local-deliver: the MDA. Reads one message on stdin and delivers it to one Maildir, or
//! with `--lmtp` serves LMTP on stdin/stdout (many messages and recipients per process).
//! See `mail::local_deliver` for the contract (arguments, exit codes, log lines).

use clap::Parser;
use mail::cli;
use mail::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

/// Deliver one message from stdin to a user's Maildir (like dovecot-lda), or serve LMTP.
#[derive(Parser)]
#[command(name = "local-deliver", version)]
#[command(group = clap::ArgGroup::new("target").multiple(true).args(["address", "maildir"]))]
struct Args {
    /// Config file (default: $MAIL_CONFIG, else /etc/mail/mail.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Serve LMTP (RFC 2033) on stdin/stdout instead of delivering one message.
    #[arg(long, conflicts_with_all = ["address", "maildir", "sender", "folder", "quota"])]
    lmtp: bool,
    /// Recipient address; must be a user in the users file unless --maildir is given.
    #[arg(short = 'd', value_name = "ADDRESS", required_unless_present_any = ["maildir", "lmtp"])]
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

fn main() -> ExitCode {
    cli::main("local-deliver", |args: Args| {
        // The config is optional here (`--maildir` alone needs none): run() judges it.
        let cfg = Config::load(&Config::locate(args.config.as_deref()));
        if args.lmtp {
            let (mut stdin, mut stdout) = (std::io::stdin().lock(), std::io::stdout().lock());
            return Ok(mail::local_deliver::serve(cfg, &mut stdin, &mut stdout).into());
        }
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
        Ok(mail::local_deliver::run(cfg, &opts, &mut stdin, queue_id.as_deref()).into())
    })
}
