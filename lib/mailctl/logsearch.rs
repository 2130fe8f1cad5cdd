//! `mailctl log search ADDRESS|QUEUEID [--since WHEN] [--file LOG]…`: a message's whole
//! path, or a user's sent and received messages, from our log lines (`lib/logsearch`).
//! Reads the given files, else stdin when it is not a terminal, e.g.
//! `journalctl -o short-iso -t smtpd -t spam-scan -t queue-runner -t local-deliver | mailctl log search ID`.
//! Under `mailctl run` the log is its stderr (the test harness keeps it in `server.log`).

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use super::{io_err, Error};

#[derive(Debug, clap::Subcommand)]
pub enum LogCmd {
    /// Show a message's path (by queue id) or a user's sent/received mail (by address).
    Search {
        /// A queue id (16 hex digits) or an address.
        query: String,
        /// Only lines from then on: 2026-11-28, 2026-11-28T06:00, or an age: 30m, 2h, 7d.
        #[arg(long)]
        since: Option<String>,
        /// Log files to read (default: stdin).
        #[arg(long = "file", value_name = "LOG")]
        files: Vec<PathBuf>,
    },
}

pub fn run(cmd: LogCmd, out: &mut dyn Write) -> Result<(), Error> {
    let LogCmd::Search {
        query,
        since,
        files,
    } = cmd;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let since = match since.as_deref() {
        None => None,
        Some(s) => Some(crate::logsearch::parse_since(s, now).ok_or_else(|| {
            Error::Input(format!(
                "--since {s:?}: expected 2026-11-28[T06:00] or 30m, 2h, 7d"
            ))
        })?),
    };
    let mut text = String::new();
    if files.is_empty() {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            return Err(Error::Input(
                "give --file LOG, or pipe the log in (journalctl -o short-iso | mailctl log search …)".into(),
            ));
        }
        let mut buf = Vec::new();
        stdin
            .lock()
            .read_to_end(&mut buf)
            .map_err(io_err(std::path::Path::new("stdin")))?;
        text.push_str(&String::from_utf8_lossy(&buf));
    }
    for f in &files {
        let buf = std::fs::read(f).map_err(io_err(f))?;
        text.push_str(&String::from_utf8_lossy(&buf));
        text.push('\n');
    }
    let (year, _, _) = crate::date::civil_from_days(now.div_euclid(86400));
    match crate::logsearch::search(&text, &query, year, since) {
        Some(report) => out
            .write_all(report.as_bytes())
            .map_err(|e| Error::System(format!("stdout: {e}"))),
        None => Err(Error::Input(format!("no log lines about {query}"))),
    }
}
