//! One delivery attempt for one queued message: expand, deliver each open recipient
//! (recording each delivery in the envelope before the next one starts, so a crash repeats
//! at most one delivery), then remove, bounce or reschedule it. Logs one line per recipient,
//! Postfix style.
//!
//! Envelope writes are the expensive part (file fsync, rename, directory fsync), so there is
//! one only where a crash would otherwise cost more than a repeated delivery: after a
//! delivery that more deliveries follow, before a retry is scheduled, before a bounce. The
//! common case, every recipient delivered in one attempt, writes none: the message is removed.

use super::deliver::{self, Ended};
use super::expand::{count_received, expand_envelope};
use super::schedule::{settle, Next};
use super::wake::stop_requested;
use crate::config::Config;
use crate::directory::Directory;
use crate::mlog;
use crate::spool::{self, Envelope, RcptState, Recipient, Spool, Stage};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// Reply for remote recipients until outbound SMTP exists.
pub const REMOTE_NOT_YET: &str = "451 4.4.0 remote delivery not available yet";

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Processes the message `id` in the queue if it is due. A message gone from the queue
/// (moved by an admin, finished by an earlier run) is not an error.
pub fn process(cfg: &Config, spool: &Spool, dir: &Directory, id: &str) -> spool::Result<()> {
    let mut env = match spool.read_envelope(Stage::Queue, id) {
        Ok(e) => e,
        Err(spool::Error::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    if env.next_attempt > now() {
        return Ok(());
    }
    if env
        .recipients
        .iter()
        .any(|r| !r.expanded && !r.state.is_final())
    {
        let hops = count_received(spool.open_message(Stage::Queue, id)?).map_err(|source| {
            spool::Error::Io {
                path: spool.message_path(Stage::Queue, id).unwrap_or_default(),
                source,
            }
        })?;
        for f in expand_envelope(dir, cfg, &mut env, hops) {
            log_result(id, &f);
        }
        for r in env.recipients.iter().filter(|r| !r.expanded) {
            log_result(id, r);
        }
        // Not written here: expansion only reads the directory and the message, so after a
        // crash it is simply done again. The first envelope write below (after a delivery,
        // or in `finish`) stores the expanded list, and from then on it happens once.
    }
    // True while a delivery is done but not yet in the envelope on disk.
    let mut unrecorded = false;
    for i in 0..env.recipients.len() {
        let r = &env.recipients[i];
        if r.state.is_final() || !r.expanded {
            continue;
        }
        if stop_requested() {
            return write_progress(spool, id, &env, unrecorded);
        }
        // Recorded before the next delivery starts, so a crash repeats at most one. After
        // the last one `finish` writes (or removes) once.
        if unrecorded {
            spool.write_envelope(Stage::Queue, id, &env)?;
        }
        let (state, reply) = deliver_one(cfg, spool, id, &env, r);
        let r = &mut env.recipients[i];
        r.state = state;
        r.reply = Some(reply);
        unrecorded = state == RcptState::Delivered;
        log_result(id, &env.recipients[i]);
    }
    finish(cfg, spool, id, &mut env)
}

/// Writes the envelope when a stop interrupts an attempt that delivered something.
fn write_progress(spool: &Spool, id: &str, env: &Envelope, unrecorded: bool) -> spool::Result<()> {
    if unrecorded {
        spool.write_envelope(Stage::Queue, id, env)?;
    }
    Ok(())
}

/// Removes, bounces or reschedules after the attempt.
fn finish(cfg: &Config, spool: &Spool, id: &str, env: &mut Envelope) -> spool::Result<()> {
    let expired_before: Vec<bool> = env.recipients.iter().map(|r| r.state.is_final()).collect();
    let next = settle(env, &cfg.queue, now());
    for (r, was_final) in env.recipients.iter().zip(expired_before) {
        if !was_final && r.state.is_final() {
            log_result(id, r);
        }
    }
    match next {
        Next::Remove => {
            // Every recipient is delivered durably: no envelope write, just remove. A crash
            // before the removal delivers again from the old envelope (a duplicate, never a
            // loss); see `Spool::remove` for why the removal itself needs no fsync.
            spool.remove(Stage::Queue, id)?;
            mlog!("{id}: removed");
        }
        Next::Bounce => {
            spool.write_envelope(Stage::Queue, id, env)?;
            spool.move_to(id, Stage::Queue, Stage::Bounce)?;
            mlog!("{id}: moved to bounce");
        }
        Next::Retry(at) => {
            spool.write_envelope(Stage::Queue, id, env)?;
            mlog!(
                "{id}: deferred attempts={} next_attempt_in={}s",
                env.attempts,
                at.saturating_sub(now())
            );
        }
    }
    Ok(())
}

/// Delivers to one expanded recipient; returns its new state and reply.
fn deliver_one(
    cfg: &Config,
    spool: &Spool,
    id: &str,
    env: &Envelope,
    r: &Recipient,
) -> (RcptState, String) {
    let stdin = match spool.open_message(Stage::Queue, id) {
        Ok(f) => f,
        Err(e) => {
            return (
                RcptState::Deferred,
                format!("451 4.3.0 cannot open queued message: {e}"),
            )
        }
    };
    if let Some(cmd) = r.address.strip_prefix('|') {
        if !cfg.queue.allow_pipe_aliases {
            return (RcptState::Failed, "550 5.7.1 pipe aliases disabled".into());
        }
        let mut c = Command::new("/bin/sh");
        c.arg("-c")
            .arg(cmd)
            .env("SENDER", &env.sender)
            .env("RECIPIENT", r.original.as_deref().unwrap_or(""));
        let (ended, last) = deliver::run(c, stdin, id, "pipe", false);
        return deliver::outcome(&ended, last.as_deref(), "pipe command");
    }
    let domain = r.address.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    if !cfg.is_local_domain(domain) {
        return (RcptState::Deferred, REMOTE_NOT_YET.into());
    }
    let program = cfg.program_path("local-deliver");
    let mut c = Command::new(&program);
    c.arg("--config").arg(&cfg.path);
    option(&mut c, "-d", &r.address);
    option(&mut c, "-f", &env.sender);
    let (ended, last) = deliver::run(c, stdin, id, "local-deliver", true);
    if let Ended::SpawnFailed(e) = &ended {
        mlog!("{id}: cannot run {}: {e}", program.display());
    }
    deliver::outcome(&ended, last.as_deref(), "local-deliver")
}

/// Adds `flag value`, or `flag=value` when the value starts with `-` (so a sender like
/// `-x@example.test` is not read as an option).
fn option(c: &mut Command, flag: &str, value: &str) {
    if value.starts_with('-') {
        c.arg(format!("{flag}={value}"));
    } else {
        c.arg(flag).arg(value);
    }
}

/// `<ID>: to=<addr> orig_to=<orig> status=sent (reply)`.
fn log_result(id: &str, r: &Recipient) {
    let status = match r.state {
        RcptState::Delivered => "sent",
        RcptState::Failed => "bounced",
        RcptState::Deferred | RcptState::Pending => "deferred",
    };
    let orig = match &r.original {
        Some(o) => format!(" orig_to=<{o}>"),
        None => String::new(),
    };
    mlog!(
        "{id}: to=<{}>{orig} status={status} ({})",
        r.address,
        r.reply.as_deref().unwrap_or("")
    );
}
