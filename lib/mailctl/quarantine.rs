//! `mailctl quarantine list|show|release|delete`: what spam-scan held back in
//! `spool/quarantine/` (a virus, or a score at or above `[scan] quarantine_score`).
//!
//! `list`: one line per message (id, age, size, sender, recipients, reason). `show ID`: the
//! envelope's facts, then the whole message. `release ID`: marks our `X-Spam-Scan` block
//! `verdict=released` (so local-deliver uses the inbox), clears the reason, and moves the
//! message to `queue/`, where queue-runner delivers it as usual without scanning it again.
//! `delete ID`: removes it.
//!
//! Every change is one spool operation (atomic rewrite or rename); a crash in the middle of a
//! release leaves the message in quarantine, and releasing again finishes it. Errors:
//! `mailctl::Error`; unknown or invalid ids are `Input` (exit 65).

use std::io::Write;

use super::Error;
use crate::config::Config;
use crate::spool::{self, Envelope, Spool, Stage};

#[derive(Debug, clap::Subcommand)]
pub enum QuarantineCmd {
    /// Every quarantined message, with why it was held.
    List,
    /// One message: envelope facts and the full message.
    Show { id: String },
    /// Deliver a quarantined message as normal (into the inbox; not scanned again).
    Release { id: String },
    /// Remove a quarantined message for good.
    Delete { id: String },
}

/// Runs one `mailctl quarantine` command.
pub fn run(cfg: &Config, cmd: QuarantineCmd, out: &mut dyn Write) -> Result<(), Error> {
    let spool = Spool::open(&cfg.spool_dir)?;
    let text = match cmd {
        QuarantineCmd::List => list(&spool, unix_now())?,
        QuarantineCmd::Show { id } => {
            let mut t = show(&spool, &id)?.into_bytes();
            t.extend_from_slice(&spool.read_message(Stage::Quarantine, &checked(&id)?)?);
            return write(out, &t);
        }
        QuarantineCmd::Release { id } => release(cfg, &spool, &id)?,
        QuarantineCmd::Delete { id } => {
            let id = present(&spool, &id)?;
            spool.remove(Stage::Quarantine, &id)?;
            crate::mlog!("{id}: deleted from quarantine by the admin");
            format!("{id}: deleted\n")
        }
    };
    write(out, text.as_bytes())
}

fn write(out: &mut dyn Write, bytes: &[u8]) -> Result<(), Error> {
    out.write_all(bytes)
        .map_err(|e| Error::System(format!("stdout: {e}")))
}

fn checked(id: &str) -> Result<String, Error> {
    match spool::id::is_valid(id) {
        true => Ok(id.to_string()),
        false => Err(Error::Input(format!("{id:?} is not a queue id"))),
    }
}

/// The id, when it is in quarantine.
fn present(spool: &Spool, id: &str) -> Result<String, Error> {
    let id = checked(id)?;
    match spool.read_envelope(Stage::Quarantine, &id) {
        Ok(_) => Ok(id),
        Err(spool::Error::NotFound { .. }) => Err(Error::Input(format!("{id}: not in quarantine"))),
        Err(e) => Err(e.into()),
    }
}

/// One line per message: `ID  AGE  SIZE  <sender> -> rcpt,rcpt  reason`.
fn list(spool: &Spool, now: u64) -> Result<String, Error> {
    let mut out = String::new();
    for id in spool.list(Stage::Quarantine)? {
        let env = match spool.read_envelope(Stage::Quarantine, &id) {
            Ok(e) => e,
            Err(spool::Error::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        let size = spool
            .message_path(Stage::Quarantine, &id)
            .ok()
            .and_then(|p| std::fs::metadata(p).ok())
            .map_or(0, |m| m.len());
        out.push_str(&format!(
            "{id}  {}  {size}  <{}> -> {}  {}\n",
            age(now.saturating_sub(env.received_at)),
            env.sender,
            recipients(&env),
            env.quarantine_reason.as_deref().unwrap_or("-")
        ));
    }
    if out.is_empty() {
        out.push_str("quarantine is empty\n");
    }
    Ok(out)
}

fn recipients(env: &Envelope) -> String {
    let r: Vec<&str> = env.recipients.iter().map(|r| r.address.as_str()).collect();
    r.join(",")
}

fn age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// The envelope's facts, then a blank line (the message follows).
fn show(spool: &Spool, id: &str) -> Result<String, Error> {
    let id = present(spool, id)?;
    let env = spool.read_envelope(Stage::Quarantine, &id)?;
    let mut s = format!("id: {id}\nsender: <{}>\n", env.sender);
    for r in &env.recipients {
        s.push_str(&format!("recipient: {}\n", r.address));
    }
    if let Some(ip) = &env.client_ip {
        s.push_str(&format!("client: {ip}\n"));
    }
    s.push_str(&format!(
        "reason: {}\n\n",
        env.quarantine_reason.as_deref().unwrap_or("-")
    ));
    Ok(s)
}

/// Marks the message released, clears the reason, moves it to the queue.
fn release(cfg: &Config, spool: &Spool, id: &str) -> Result<String, Error> {
    let id = present(spool, id)?;
    let msg = spool.read_message(Stage::Quarantine, &id)?;
    if let Some(new) = crate::spam_scan::mark_released(&msg, &cfg.hostname) {
        spool.replace_message(Stage::Quarantine, &id, &new)?;
    }
    let mut env = spool.read_envelope(Stage::Quarantine, &id)?;
    let reason = env.quarantine_reason.take();
    spool.write_envelope(Stage::Quarantine, &id, &env)?;
    spool.move_to(&id, Stage::Quarantine, Stage::Queue)?;
    crate::mlog!(
        "{id}: released from quarantine by the admin (was: {})",
        reason.as_deref().unwrap_or("-")
    );
    Ok(format!("{id}: released to the queue\n"))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
