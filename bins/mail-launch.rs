//! mail-launch: listen on ADDRESS, run PROGRAM ARGS per connection (see lib/mail_launch).

use clap::Parser;
use mail::exit::Exit;
use mail::mail_launch::{self, Options};
use std::net::SocketAddr;
use std::path::PathBuf;

/// inetd/tcpserver-style launcher: one PROGRAM per TCP connection, on stdin/stdout.
#[derive(Parser)]
#[command(name = "mail-launch", version)]
struct Args {
    /// Config file (for run_as); without it, $MAIL_CONFIG or /etc/mail/mail.toml if present.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Most connections served at once.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Most connections served at once for one client IP (0: no limit).
    #[arg(long, default_value_t = 10)]
    max_per_ip: u32,
    /// User to become after binding when started as root (default: config run_as).
    #[arg(long)]
    user: Option<String>,
    /// Address to listen on: 127.0.0.1:2525, [::1]:2525, [::]:25 (dual-stack).
    address: SocketAddr,
    /// PROGRAM (found in PATH unless it holds a '/') and its arguments; options end at PROGRAM.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "PROGRAM [ARGS]..."
    )]
    command: Vec<String>,
}

fn main() -> std::process::ExitCode {
    mail::cli::main("mail-launch", |a: Args| Ok(launch(a).into()))
}

fn launch(a: Args) -> Exit {
    let cfg = match mail_launch::load_config(a.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            mail::mlog!("{e}");
            return Exit::Config;
        }
    };
    let opts = Options {
        address: a.address,
        program: a.command[0].clone(),
        args: a.command[1..].to_vec(),
        max_connections: a.max_connections as usize,
        max_per_ip: a.max_per_ip as usize,
        user: a.user.or(cfg.and_then(|c| c.run_as)),
    };
    match mail_launch::run(&opts) {
        Ok(()) => Exit::Ok,
        Err(e) => {
            mail::mlog!("{e}");
            Exit::TempFail
        }
    }
}
