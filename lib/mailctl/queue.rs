//! `mailctl queue list|show|flush|hold|release|delete|recall`, like `postqueue -p` and
//! `postsuper -h/-H/-d`.
//!
//! `list` shows every message in every spool stage: id, stage, age, size, sender, then each
//! recipient with its state and last reply. `show ID` adds the envelope's details and the
//! message headers. `flush` makes every queued message due now (envelope `next_attempt`)
//! and wakes queue-runner by creating and removing `queue/.flush` (its inotify watch sees
//! IN_CREATE). `hold ID` renames a message from `queue/` to `hold/`, `release ID` back;
//! `delete ID` removes it from whatever stage holds it; `recall ID` deletes a FUTURERELEASE
//! message (envelope `hold_until` still in the future) and refuses anything else.
//!
//! Safety while queue-runner runs: there is no per-message lock (queue-runner keeps its
//! in-flight set in memory), so every change is one atomic rename done by the spool
//! (`Spool::move_to`, `Spool::remove`) and a message is never half moved. A delivery already
//! under way when a message is held or deleted still completes: the worker keeps its open
//! file, then fails to record the result (the directory has left `queue/`), so the message
//! may be delivered again after a release: a duplicate, never a loss. Flush only rewrites
//! envelopes that are not due (`next_attempt` in the future), which no worker is touching.
//! Errors: `mailctl::Error`; unknown ids are `Input` (exit 65).

use std::io::Write;

use super::Error;
use crate::config::Config;
use crate::mlog;
use crate::spool::{Envelope, RcptState, Spool, Stage};

#[derive(Debug, clap::Subcommand)]
pub enum QueueCmd {
    /// Every message in every stage, with its recipients' states.
    List,
    /// One message: envelope details and headers.
    Show { id: String },
    /// Make every queued message due now and wake queue-runner.
    Flush,
    /// Move a queued message to hold/: never delivered until released.
    Hold { id: String },
    /// Move a held message back to the queue.
    Release { id: String },
    /// Remove a message from whatever stage holds it (no bounce is sent).
    Delete { id: String },
    /// Remove a scheduled (FUTURERELEASE) message before its release time.
    Recall { id: String },
}

/// Runs one `mailctl queue` command.
pub fn run(cfg: &Config, cmd: QueueCmd, out: &mut dyn Write) -> Result<(), Error> {
    if let QueueCmd::List = cmd {
        return list(cfg, out);
    }
    let spool = Spool::open(&cfg.spool_dir)?;
    let line = match cmd {
        QueueCmd::List => String::new(),
        QueueCmd::Show { id } => show(&spool, &id, unix_now())?,
        QueueCmd::Flush => flush(&spool, unix_now())?,
        QueueCmd::Hold { id } => hold(&spool, &id, unix_now())?,
        QueueCmd::Release { id } => release(&spool, &id)?,
        QueueCmd::Delete { id } => {
            let copy = scheduled_copy(&spool, &id);
            let line = delete(&spool, &id)?;
            drop_scheduled_copy(cfg, &id, copy);
            line
        }
        QueueCmd::Recall { id } => {
            let copy = scheduled_copy(&spool, &id);
            let line = recall(&spool, &id, unix_now())?;
            drop_scheduled_copy(cfg, &id, copy);
            line
        }
    };
    out.write_all(line.as_bytes())
        .map_err(|e| Error::System(format!("stdout: {e}")))
}

/// The sender and the name of the `Scheduled` folder copy of a held message (see
/// `crate::scheduled`), read before the message goes.
fn scheduled_copy(spool: &Spool, id: &str) -> Option<(String, String)> {
    let stage = locate(spool, id).ok()?;
    let env = spool.read_envelope(stage, id).ok()?;
    Some((env.auth_user?, env.scheduled_copy?))
}

/// Removes the sender's `Scheduled` copy of a message that will now never be sent; a
/// failure only leaves a stale copy, so it is reported, not fatal.
fn drop_scheduled_copy(cfg: &Config, id: &str, copy: Option<(String, String)>) {
    let Some((owner, base)) = copy else { return };
    if let Err(e) = crate::scheduled::remove(cfg, &owner, &base) {
        mlog!("{id}: Scheduled copy {base} of {owner} not removed: {e}");
    }
}

/// The stage holding `id`, searched in every stage.
pub fn locate(spool: &Spool, id: &str) -> Result<Stage, Error> {
    if !crate::spool::id::is_valid(id) {
        return Err(Error::Input(format!("{id:?} is not a queue id")));
    }
    for stage in Stage::ALL {
        if spool
            .message_path(stage, id)?
            .parent()
            .is_some_and(|d| d.is_dir())
        {
            return Ok(stage);
        }
    }
    Err(Error::Input(format!("{id}: no such message in the spool")))
}

/// Envelope details and message headers of one message.
pub fn show(spool: &Spool, id: &str, now: u64) -> Result<String, Error> {
    let stage = locate(spool, id)?;
    let env = spool.read_envelope(stage, id)?;
    let message = spool.read_message(stage, id)?;
    let mut s = format_entry(&Entry {
        id: id.to_string(),
        stage,
        age: now.saturating_sub(env.received_at),
        size: message.len() as u64,
        envelope: Some(env.clone()),
        problem: None,
    });
    let mut field = |k: &str, v: String| s.push_str(&format!("{k:<13} {v}\n"));
    field("sender:", format!("<{}>", env.sender));
    field("received:", at(env.received_at, now));
    if let Some(ip) = &env.client_ip {
        field(
            "client:",
            format!("{ip} helo={}", env.client_helo.as_deref().unwrap_or("-")),
        );
    }
    if let Some(u) = &env.auth_user {
        field("auth user:", u.clone());
    }
    field("attempts:", env.attempts.to_string());
    field("next attempt:", at(env.next_attempt, now));
    if let Some(h) = hold_until(spool, stage, id)? {
        field("hold until:", at(h, now));
    }
    s.push_str("-- headers --\n");
    s.push_str(&String::from_utf8_lossy(header_block(&message)));
    Ok(s)
}

/// `1700000000 (12m ago)` / `(in 3h)` / `now`.
fn at(t: u64, now: u64) -> String {
    match t {
        0 => "-".into(),
        t if t > now => format!("{t} (in {})", fmt_age(t - now)),
        t => format!("{t} ({} ago)", fmt_age(now - t)),
    }
}

/// The header block, up to and including the blank line (or the whole text without one).
fn header_block(message: &[u8]) -> &[u8] {
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .or_else(|| message.windows(2).position(|w| w == b"\n\n").map(|p| p + 2))
        .unwrap_or(message.len());
    &message[..end]
}

/// The envelope's `hold_until` (FUTURERELEASE), read from the TOML text so this works
/// whichever program version wrote the envelope.
pub fn hold_until(spool: &Spool, stage: Stage, id: &str) -> Result<Option<u64>, Error> {
    let path = spool.message_path(stage, id)?.with_file_name("envelope");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(super::io_err(&path)(e)),
    };
    let table: toml::Table = text
        .parse()
        .map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
    Ok(table
        .get("hold_until")
        .and_then(|v| v.as_integer())
        .and_then(|v| u64::try_from(v).ok())
        .filter(|&v| v > 0))
}

/// Makes every queued message due now and wakes queue-runner.
pub fn flush(spool: &Spool, now: u64) -> Result<String, Error> {
    let mut n = 0;
    for id in spool.list(Stage::Queue)? {
        let mut env = match spool.read_envelope(Stage::Queue, &id) {
            Ok(e) => e,
            Err(crate::spool::Error::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        if env.next_attempt <= now {
            continue; // already due (possibly in delivery right now): leave it alone
        }
        if hold_until(spool, Stage::Queue, &id)?.is_some_and(|h| h > now) {
            continue; // scheduled (FUTURERELEASE): flush must not send it early
        }
        env.next_attempt = now;
        match spool.write_envelope(Stage::Queue, &id, &env) {
            Ok(()) => n += 1,
            Err(e) if !dir_exists(spool, &id) => mlog!("{id}: left the queue during flush: {e}"),
            Err(e) => return Err(e.into()),
        }
    }
    wake(spool)?;
    mlog!("flush: {n} messages made due by mailctl");
    Ok(format!("flushed: {n} messages made due now\n"))
}

fn dir_exists(spool: &Spool, id: &str) -> bool {
    spool.stage_dir(Stage::Queue).join(id).is_dir()
}

/// Creates and removes `queue/.flush`: an IN_CREATE event for queue-runner's watch. The
/// name is not a queue id, so no spool reader ever takes it for a message.
fn wake(spool: &Spool) -> Result<(), Error> {
    let path = spool
        .stage_dir(Stage::Queue)
        .join(crate::queue_runner::wake::FLUSH);
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(super::io_err(&path))?;
    std::fs::remove_file(&path).map_err(super::io_err(&path))
}

/// Moves a queued message to hold/.
pub fn hold(spool: &Spool, id: &str, now: u64) -> Result<String, Error> {
    let stage = locate(spool, id)?;
    if stage == Stage::Hold {
        return Ok(format!("{id}: already on hold\n"));
    }
    if stage != Stage::Queue {
        return Err(Error::Input(format!(
            "{id} is in {}, not in the queue",
            stage.name()
        )));
    }
    let due = spool
        .read_envelope(Stage::Queue, id)
        .map(|e| e.next_attempt <= now)
        .unwrap_or(false);
    spool.move_to(id, Stage::Queue, Stage::Hold)?;
    mlog!("{id}: put on hold by mailctl");
    let mut s = format!("{id}: on hold\n");
    if due {
        s.push_str(&format!(
            "{id}: note: it was due, so a delivery attempt may already have started; \
             recipients reached by it may get the message again after release\n"
        ));
    }
    Ok(s)
}

/// Moves a held message back to the queue.
pub fn release(spool: &Spool, id: &str) -> Result<String, Error> {
    match locate(spool, id)? {
        Stage::Hold => {}
        Stage::Queue => return Ok(format!("{id}: not on hold (already queued)\n")),
        other => {
            return Err(Error::Input(format!(
                "{id} is in {}, not on hold",
                other.name()
            )))
        }
    }
    spool.move_to(id, Stage::Hold, Stage::Queue)?;
    mlog!("{id}: released from hold by mailctl");
    Ok(format!("{id}: released\n"))
}

/// Removes a message from any stage.
pub fn delete(spool: &Spool, id: &str) -> Result<String, Error> {
    let stage = locate(spool, id)?;
    spool.remove(stage, id)?;
    mlog!("{id}: removed from {} by mailctl", stage.name());
    Ok(format!("{id}: deleted from {}\n", stage.name()))
}

/// Deletes a FUTURERELEASE message that is still waiting for its release time.
pub fn recall(spool: &Spool, id: &str, now: u64) -> Result<String, Error> {
    let stage = match locate(spool, id) {
        Ok(s) => s,
        Err(_) => {
            return Err(Error::Input(format!(
                "{id}: not in the spool: already delivered, bounced or deleted; cannot recall"
            )))
        }
    };
    if !matches!(stage, Stage::Queue | Stage::Hold) {
        return Err(Error::Input(format!(
            "{id} is in {}; cannot recall",
            stage.name()
        )));
    }
    let until = match hold_until(spool, stage, id)? {
        Some(t) if t > now => t,
        Some(_) => {
            return Err(Error::Input(format!(
                "{id}: its release time has passed; it may be in delivery; cannot recall"
            )))
        }
        None => {
            return Err(Error::Input(format!(
                "{id}: not a scheduled (FUTURERELEASE) message; use `mailctl queue delete`"
            )))
        }
    };
    let env = spool.read_envelope(stage, id)?;
    if env
        .recipients
        .iter()
        .any(|r| r.state == RcptState::Delivered)
    {
        return Err(Error::Input(format!(
            "{id}: already delivered to some recipients; cannot recall"
        )));
    }
    spool.remove(stage, id)?;
    mlog!("{id}: recalled by mailctl (was held until {until})");
    Ok(format!("{id}: recalled\n"))
}

/// One listed message.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    pub stage: Stage,
    /// Seconds since it was received.
    pub age: u64,
    pub size: u64,
    /// `None` when the envelope could not be read (the reason is in `problem`).
    pub envelope: Option<Envelope>,
    pub problem: Option<String>,
}

/// `mailctl queue list`.
pub fn list(cfg: &Config, out: &mut dyn Write) -> Result<(), Error> {
    let spool = Spool::open(&cfg.spool_dir)?;
    let entries = collect(&spool, unix_now())?;
    let w = |out: &mut dyn Write, s: &str| {
        out.write_all(s.as_bytes())
            .map_err(|e| Error::System(format!("stdout: {e}")))
    };
    if entries.is_empty() {
        return w(out, "Mail queue is empty\n");
    }
    w(
        out,
        &format!(
            "{:<20} {:<10} {:>5} {:>9}  Sender\n",
            "ID", "Stage", "Age", "Size"
        ),
    )?;
    for e in &entries {
        w(out, &format_entry(e))?;
    }
    let total: u64 = entries.iter().map(|e| e.size).sum();
    w(
        out,
        &format!("-- {} messages, {} bytes\n", entries.len(), total),
    )
}

/// Reads every stage, oldest first within a stage.
pub fn collect(spool: &Spool, now: u64) -> Result<Vec<Entry>, Error> {
    let mut all = Vec::new();
    for stage in Stage::ALL {
        for id in spool.list(stage)? {
            let size = spool
                .message_path(stage, &id)
                .ok()
                .and_then(|p| std::fs::metadata(p).ok())
                .map_or(0, |m| m.len());
            let (envelope, problem) = match spool.read_envelope(stage, &id) {
                Ok(env) => (Some(env), None),
                Err(crate::spool::Error::NotFound { .. }) => continue,
                Err(e) => (None, Some(e.to_string())),
            };
            let received = envelope.as_ref().map_or(now, |e| e.received_at);
            all.push(Entry {
                id,
                stage,
                age: now.saturating_sub(received),
                size,
                envelope,
                problem,
            });
        }
    }
    Ok(all)
}

/// The lines for one message: a summary, then one indented line per recipient.
pub fn format_entry(e: &Entry) -> String {
    let sender = match &e.envelope {
        Some(env) if env.sender.is_empty() => "<>".to_string(),
        Some(env) => format!("<{}>", env.sender),
        None => "?".to_string(),
    };
    let mut s = format!(
        "{:<20} {:<10} {:>5} {:>9}  {}\n",
        e.id,
        e.stage.name(),
        fmt_age(e.age),
        e.size,
        sender
    );
    if let Some(p) = &e.problem {
        s.push_str(&format!("    unreadable envelope: {p}\n"));
    }
    if let Some(env) = &e.envelope {
        if env.attempts > 0 {
            s.push_str(&format!("    attempts={}\n", env.attempts));
        }
        for r in &env.recipients {
            s.push_str(&format!("    <{}> {}", r.address, state_name(r.state)));
            if let Some(o) = &r.original {
                s.push_str(&format!(" (for <{o}>)"));
            }
            if let Some(reply) = &r.reply {
                s.push_str(&format!(" {reply}"));
            }
            s.push('\n');
        }
    }
    s
}

fn state_name(s: RcptState) -> &'static str {
    match s {
        RcptState::Pending => "pending",
        RcptState::Deferred => "deferred",
        RcptState::Delivered => "delivered",
        RcptState::Failed => "failed",
    }
}

/// `45s`, `12m`, `3h`, `2d`.
pub fn fmt_age(secs: u64) -> String {
    match secs {
        0..=119 => format!("{secs}s"),
        120..=7199 => format!("{}m", secs / 60),
        7200..=172_799 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::Recipient;

    #[test]
    fn ages() {
        assert_eq!(fmt_age(5), "5s");
        assert_eq!(fmt_age(600), "10m");
        assert_eq!(fmt_age(3 * 3600), "3h");
        assert_eq!(fmt_age(3 * 86400), "3d");
    }

    #[test]
    fn lists_every_stage_with_recipients() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let mut r2 = Recipient::new("b@example.test");
        r2.state = RcptState::Deferred;
        r2.reply = Some("451 4.2.2 mailbox full".into());
        let env = Envelope {
            sender: "s@x.test".into(),
            recipients: vec![Recipient::new("a@example.test"), r2],
            received_at: 1000,
            ..Envelope::default()
        };
        spool
            .enqueue(Stage::Queue, &env, b"Subject: x\r\n\r\nhi\r\n")
            .unwrap();
        let bounce = Envelope {
            received_at: 1000,
            recipients: vec![Recipient::new("s@x.test")],
            ..Envelope::default()
        };
        spool.enqueue(Stage::Bounce, &bounce, b"x").unwrap();
        let entries = collect(&spool, 1600).unwrap();
        assert_eq!(entries.len(), 2);
        let q = &entries[0];
        assert_eq!((q.stage, q.size, q.age), (Stage::Queue, 18, 600));
        let text = format_entry(q);
        assert!(text.contains("queue") && text.contains("10m") && text.contains("<s@x.test>"));
        assert!(text.contains("    <a@example.test> pending\n"), "{text}");
        assert!(text.contains("<b@example.test> deferred 451 4.2.2 mailbox full"));
        assert!(format_entry(&entries[1]).contains("bounce"));
        assert!(format_entry(&entries[1]).contains(" <>\n"));
    }

    fn queued(spool: &Spool, next_attempt: u64) -> String {
        let env = Envelope {
            sender: "s@x.test".into(),
            recipients: vec![Recipient::new("a@far.test")],
            received_at: 1000,
            next_attempt,
            ..Envelope::default()
        };
        spool
            .enqueue(
                Stage::Queue,
                &env,
                b"Subject: hi\r\nFrom: s@x.test\r\n\r\nbody\r\n",
            )
            .unwrap()
    }

    #[test]
    fn hold_release_delete_and_show() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let id = queued(&spool, 5000);
        assert!(hold(&spool, &id, 2000).unwrap().contains("on hold"));
        assert_eq!(locate(&spool, &id).unwrap(), Stage::Hold);
        assert!(hold(&spool, &id, 2000).unwrap().contains("already"));
        let shown = show(&spool, &id, 2000).unwrap();
        assert!(
            shown.contains("hold") && shown.contains("<s@x.test>"),
            "{shown}"
        );
        assert!(shown.ends_with("-- headers --\nSubject: hi\r\nFrom: s@x.test\r\n\r\n"));
        assert!(!shown.contains("body"));
        release(&spool, &id).unwrap();
        assert_eq!(locate(&spool, &id).unwrap(), Stage::Queue);
        let due = queued(&spool, 1000);
        assert!(hold(&spool, &due, 2000)
            .unwrap()
            .contains("may already have started"));
        delete(&spool, &id).unwrap();
        assert!(matches!(locate(&spool, &id), Err(Error::Input(_))));
        assert!(matches!(locate(&spool, "../x"), Err(Error::Input(_))));
    }

    #[test]
    fn flush_makes_waiting_messages_due_but_not_scheduled_ones() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let waiting = queued(&spool, 9000);
        let scheduled = queued(&spool, 9000);
        set_hold_until(&spool, Stage::Queue, &scheduled, 9000);
        assert!(flush(&spool, 2000).unwrap().contains("flushed: 1"));
        let env = spool.read_envelope(Stage::Queue, &waiting).unwrap();
        assert_eq!(env.next_attempt, 2000);
        let env = spool.read_envelope(Stage::Queue, &scheduled).unwrap();
        assert_eq!(env.next_attempt, 9000);
        assert!(!spool.stage_dir(Stage::Queue).join(".flush").exists());
    }

    #[test]
    fn recall_only_before_release_time() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let plain = queued(&spool, 0);
        assert!(recall(&spool, &plain, 2000).is_err());
        let id = queued(&spool, 0);
        set_hold_until(&spool, Stage::Queue, &id, 1500);
        assert!(recall(&spool, &id, 2000).is_err(), "release time passed");
        set_hold_until(&spool, Stage::Queue, &id, 3000);
        assert!(recall(&spool, &id, 2000).unwrap().contains("recalled"));
        assert!(recall(&spool, &id, 2000).is_err(), "already gone");
    }

    fn set_hold_until(spool: &Spool, stage: Stage, id: &str, at: u64) {
        let path = spool
            .message_path(stage, id)
            .unwrap()
            .with_file_name("envelope");
        let text = std::fs::read_to_string(&path).unwrap();
        let text: String = text
            .lines()
            .filter(|l| !l.starts_with("hold_until"))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&path, format!("hold_until = {at}\n{text}")).unwrap();
    }
}
