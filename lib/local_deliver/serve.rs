//! The LMTP driver of `local-deliver --lmtp`: runs `lmtp::Session` over a reader and a
//! writer (stdin/stdout in the bin), delivers each message to each recipient with the same
//! code as the one-shot mode, and logs the same lines. One process serves many deliveries:
//! `queue-runner` keeps one per worker, and Postfix can use it from its `lmtp` transport
//! (`lmtp:unix:…` through a `spawn`/`local-deliver --lmtp` wrapper, or `pipe`-less setups).
//!
//! The config is read once; the users file is re-read only when its modification time,
//! size or inode changes. An unreadable config or users file fails each recipient
//! temporarily (`4.3.5`), as the one-shot mode exits 75. Ends on QUIT, end of input, or a
//! write error (the client went away).

use super::lmtp::{self, Event, Session, Transaction};
use super::{deliver_with, load_users, log_outcome, Failure, Input, Options};
use crate::config::{self, Config};
use crate::exit::Exit;
use crate::users::UserDb;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::rc::Rc;
use std::time::SystemTime;

/// Message size limit without a config.
const DEFAULT_MAX: u64 = 64 * 1024 * 1024;

/// Serves one LMTP connection; returns 0 after QUIT or end of input, 75 on an I/O error.
pub fn serve(
    cfg: Result<Config, config::Error>,
    input: &mut dyn Read,
    output: &mut dyn Write,
) -> Exit {
    let cfg = cfg.map_err(|e| e.to_string());
    let (host, max) = match &cfg {
        // Room for the headers spam-scan and smtpd add to a message at the limit.
        Ok(c) => (
            c.hostname.clone(),
            c.smtpd.max_message_size.saturating_mul(2).max(DEFAULT_MAX),
        ),
        Err(_) => ("localhost".to_string(), DEFAULT_MAX),
    };
    let mut session = Session::new(&host, max);
    let mut users = UserCache::default();
    let mut out = std::io::BufWriter::new(output);
    if out
        .write_all(&session.greeting())
        .and_then(|_| out.flush())
        .is_err()
    {
        return Exit::TempFail;
    }
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Exit::Ok,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                crate::mlog!("lmtp: reading: {e}");
                return Exit::TempFail;
            }
        };
        for ev in session.feed(&buf[..n]) {
            let sent = match ev {
                Event::Send(b) => out.write_all(&b),
                Event::Deliver(t) => deliver_all(cfg.as_ref(), &t, &mut users, &mut out),
                Event::Close => return flushed(&mut out),
            };
            if sent.is_err() {
                return Exit::TempFail;
            }
        }
        if out.flush().is_err() {
            return Exit::TempFail;
        }
    }
}

fn flushed(out: &mut dyn Write) -> Exit {
    match out.flush() {
        Ok(()) => Exit::Ok,
        Err(_) => Exit::TempFail,
    }
}

/// Delivers `t` to each recipient in order, logging and replying for each (the reply is
/// flushed at once so the client can record it while the next delivery runs).
fn deliver_all(
    cfg: Result<&Config, &String>,
    t: &Transaction,
    users: &mut UserCache,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let prefix = t
        .envid
        .as_ref()
        .map(|id| format!("{id}: "))
        .unwrap_or_default();
    for rcpt in &t.recipients {
        let opts = Options {
            address: Some(rcpt.clone()),
            sender: Some(t.sender.clone()),
            config_given: true,
            ..Options::default()
        };
        let result = match cfg {
            Ok(c) => deliver_with(Some(c), &opts, Input::Bytes(&t.data), &prefix, &mut |p| {
                users.get(p)
            }),
            Err(e) => Err(Failure::new(Exit::TempFail, "4.3.5", e.clone())),
        };
        log_outcome(&prefix, &opts, &result);
        out.write_all(&lmtp::reply_for(rcpt, &result))?;
        out.flush()?;
    }
    Ok(())
}

/// The users file, re-read when its (mtime, size, inode) changes.
#[derive(Default)]
struct UserCache {
    stamp: Option<(SystemTime, u64, u64)>,
    db: Option<Rc<UserDb>>,
}

impl UserCache {
    fn get(&mut self, path: &Path) -> Result<Rc<UserDb>, Failure> {
        let stamp = std::fs::metadata(path).ok().map(|m| {
            (
                m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                m.len(),
                m.ino(),
            )
        });
        if let (Some(db), true) = (&self.db, stamp.is_some() && stamp == self.stamp) {
            return Ok(db.clone());
        }
        let db = load_users(path)?;
        self.stamp = stamp;
        self.db = Some(db.clone());
        Ok(db)
    }
}
