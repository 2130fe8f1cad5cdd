//! One delivery attempt for one queued message: expand, deliver all open local recipients
//! in one LMTP transaction to the worker's `local-deliver --lmtp` (see `lmtp_client`), then
//! each pipe recipient, then the remote recipients, one SMTP transaction per domain (see
//! `remote`), recording deliveries in the envelope before the next delivery starts, so a
//! crash repeats at most one transaction; then remove, bounce or reschedule it. Logs one
//! line per recipient, Postfix style.
//!
//! Envelope writes are the expensive part (file fsync, rename, directory fsync), so there is
//! one only where a crash would otherwise cost more than a repeated delivery: after a
//! delivery that more deliveries follow, before a retry is scheduled, before a bounce. The
//! common case, every recipient delivered in one attempt, writes none: the message is removed.
//!
//! A held (FUTURERELEASE) message with a copy in its sender's `.Scheduled` folder
//! (`Envelope::scheduled_copy`, see `mail::scheduled`) is checked first, before expansion:
//! copy gone means recalled by the sender (removed from the queue, nothing delivered);
//! copy present means send: `released` is written to the envelope first, then the copy is
//! removed, so a crash can neither recall a message it decided to send nor send one that
//! was recalled. A copy that cannot be looked for counts as present (logged, sent).

use super::deliver;
use super::expand::{count_received, expand_envelope};
use super::lmtp_client::LocalAgent;
use super::remote::{self, Remote};
use super::schedule::{settle, Next};
use super::wake::stop_requested;
use crate::config::Config;
use crate::directory::Directory;
use crate::mlog;
use crate::spool::{self, Envelope, RcptState, Recipient, Spool, Stage};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `process_with` a local delivery agent and an SMTP agent of its own, stopped afterwards.
pub fn process(cfg: &Config, spool: &Spool, dir: &Directory, id: &str) -> spool::Result<()> {
    let mut agent = new_agent(cfg);
    let limits = crate::outbound::limits::Limits::new(
        cfg.outbound.max_connections,
        cfg.outbound.max_per_destination,
    );
    let mut remote = Remote::new(cfg, limits);
    let r = process_with(cfg, spool, dir, id, &mut agent, &mut remote);
    agent.stop();
    remote.agent.close_all();
    r
}

/// A worker's `local-deliver --lmtp` agent for this config.
pub fn new_agent(cfg: &Config) -> LocalAgent {
    LocalAgent::new(cfg.program_path("local-deliver"), cfg.path.clone())
}

/// Processes the message `id` in the queue if it is due. A message gone from the queue
/// (moved by an admin, finished by an earlier run) is not an error. Local recipients go to
/// `agent` in one LMTP transaction; pipes run one child each; remote recipients go
/// through `remote`, one SMTP transaction per domain.
pub fn process_with(
    cfg: &Config,
    spool: &Spool,
    dir: &Directory,
    id: &str,
    agent: &mut LocalAgent,
    remote: &mut Remote,
) -> spool::Result<()> {
    let mut env = match spool.read_envelope(Stage::Queue, id) {
        Ok(e) => e,
        Err(spool::Error::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    if env.next_attempt > now() {
        return Ok(());
    }
    if !release_scheduled(cfg, spool, id, &mut env)? {
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
        // Expansion writes the envelope itself only when it committed copies (forwards,
        // list posts); otherwise a crash simply repeats it, and the first envelope write
        // below (after a delivery, or in `finish`) stores the expanded list.
    }
    if stop_requested() {
        return Ok(());
    }
    // True while a delivery is done but not yet in the envelope on disk.
    let done_before: Vec<bool> = env
        .recipients
        .iter()
        .map(|r| r.state == RcptState::Delivered)
        .collect();
    let mut unrecorded = deliver_local(cfg, spool, id, &mut env, agent);
    let mut remote_open = Vec::new();
    for i in 0..env.recipients.len() {
        let r = &env.recipients[i];
        if r.state.is_final() || !r.expanded || is_local(cfg, r) {
            continue;
        }
        if !r.address.starts_with('|') {
            remote_open.push(i);
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
        let (state, reply) = deliver_pipe(cfg, spool, id, &env, r);
        let r = &mut env.recipients[i];
        r.state = state;
        r.reply = Some(reply);
        unrecorded = state == RcptState::Delivered;
        log_result(id, &env.recipients[i]);
    }
    remote::deliver(
        cfg,
        spool,
        id,
        &mut env,
        &remote_open,
        remote,
        &mut unrecorded,
    )?;
    if stop_requested() {
        return write_progress(spool, id, &env, unrecorded);
    }
    // NOTIFY=SUCCESS notices, while the message is still in the queue to quote from.
    let newly: Vec<Recipient> = env
        .recipients
        .iter()
        .zip(&done_before)
        .filter(|(r, was)| !**was && r.state == RcptState::Delivered)
        .map(|(r, _)| r.clone())
        .collect();
    if let Err(e) = crate::bounce::success_notice(cfg, spool, &env, &newly, now()) {
        mlog!("{id}: success notice not written: {e}");
    }
    finish(cfg, spool, id, &mut env)
}

/// The release-time check of the sender's `.Scheduled` copy. Returns false when the sender
/// recalled the message (it is removed from the queue), true to go on delivering.
fn release_scheduled(
    cfg: &Config,
    spool: &Spool,
    id: &str,
    env: &mut Envelope,
) -> spool::Result<bool> {
    let Some(base) = env.scheduled_copy.clone() else {
        return Ok(true);
    };
    let owner = env.auth_user.clone().unwrap_or_default();
    if !env.released {
        let untouched = env.recipients.iter().all(|r| r.state == RcptState::Pending);
        match crate::scheduled::find(cfg, &owner, &base) {
            Ok(None) if untouched => {
                spool.remove(Stage::Queue, id)?;
                mlog!("{id}: recalled by sender {owner} (scheduled copy deleted), removed");
                return Ok(false);
            }
            Ok(_) => {}
            Err(e) => mlog!("{id}: scheduled copy {base} not checked, sending: {e}"),
        }
        // The decision is durable before the copy goes: a crash from here on sends.
        env.released = true;
        spool.write_envelope(Stage::Queue, id, env)?;
        mlog!("{id}: released (scheduled copy present)");
    }
    if let Err(e) = crate::scheduled::remove(cfg, &owner, &base) {
        mlog!("{id}: scheduled copy {base} not removed: {e}");
    }
    // Written with the next envelope write, if any; until then a rerun removes again.
    env.scheduled_copy = None;
    Ok(true)
}

/// True for a recipient that `local-deliver` handles (not a pipe, a local domain).
fn is_local(cfg: &Config, r: &Recipient) -> bool {
    let domain = r.address.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    !r.address.starts_with('|') && cfg.is_local_domain(domain)
}

/// Delivers to every open local recipient in one LMTP transaction; returns true when any
/// was delivered (the envelope must be written before the next delivery).
fn deliver_local(
    cfg: &Config,
    spool: &Spool,
    id: &str,
    env: &mut Envelope,
    agent: &mut LocalAgent,
) -> bool {
    let open: Vec<usize> = (0..env.recipients.len())
        .filter(|&i| {
            let r = &env.recipients[i];
            r.expanded && !r.state.is_final() && is_local(cfg, r)
        })
        .collect();
    if open.is_empty() {
        return false;
    }
    let results = match spool.open_message(Stage::Queue, id) {
        Ok(f) => {
            let rcpts: Vec<&str> = open
                .iter()
                .map(|&i| env.recipients[i].address.as_str())
                .collect();
            agent.deliver(id, &env.sender, &rcpts, f)
        }
        Err(e) => {
            let reply = format!("451 4.3.0 cannot open queued message: {e}");
            vec![(RcptState::Deferred, reply); open.len()]
        }
    };
    let mut delivered = false;
    for (&i, (state, reply)) in open.iter().zip(results) {
        let r = &mut env.recipients[i];
        r.state = state;
        r.reply = Some(reply);
        delivered |= state == RcptState::Delivered;
        log_result(id, r);
    }
    delivered
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
            if let Err(e) = crate::bounce::warn_if_delayed(cfg, spool, env, now()) {
                mlog!("{id}: delay warning not written: {e}");
            }
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

/// Delivers to one `|command` recipient; returns its new state and reply.
fn deliver_pipe(
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
    let cmd = r.address.strip_prefix('|').unwrap_or(&r.address);
    if !cfg.queue.allow_pipe_aliases {
        return (RcptState::Failed, "550 5.7.1 pipe aliases disabled".into());
    }
    let mut c = Command::new("/bin/sh");
    c.arg("-c")
        .arg(cmd)
        .env("SENDER", &env.sender)
        .env("RECIPIENT", r.original.as_deref().unwrap_or(""));
    let (ended, last) = deliver::run(c, stdin, id, "pipe", false);
    deliver::outcome(&ended, last.as_deref(), "pipe command")
}

/// `<ID>: to=<addr> orig_to=<orig> status=sent (reply)`.
pub(super) fn log_result(id: &str, r: &Recipient) {
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

#[cfg(test)]
mod scheduled_tests {
    use super::*;
    use std::path::Path;

    fn setup(dir: &Path) -> (Config, Spool) {
        let text = format!(
            "hostname='h'\nspool_dir='{}'\nmail_root='{}'\nusers_file='u'\n[domains.'example.test']\n",
            dir.join("spool").display(),
            dir.join("mail").display()
        );
        let cfg = Config::parse(&dir.join("mail.toml"), &text).unwrap();
        let spool = Spool::open(&cfg.spool_dir).unwrap();
        (cfg, spool)
    }

    fn held(cfg: &Config, spool: &Spool) -> (String, Envelope) {
        let owner = "demo@example.test";
        let base = crate::scheduled::store_copy(cfg, owner, b"Subject: s\r\n\r\nx\r\n").unwrap();
        let env = Envelope {
            sender: owner.into(),
            recipients: vec![Recipient::new("bob@example.org")],
            auth_user: Some(owner.into()),
            hold_until: 1,
            scheduled_copy: Some(base),
            ..Envelope::default()
        };
        let id = spool
            .enqueue(Stage::Queue, &env, b"Subject: s\r\n\r\nx\r\n")
            .unwrap();
        let env = spool.read_envelope(Stage::Queue, &id).unwrap();
        (id, env)
    }

    #[test]
    fn deleted_copy_recalls() {
        let t = tempfile::tempdir().unwrap();
        let (cfg, spool) = setup(t.path());
        let (id, mut env) = held(&cfg, &spool);
        let base = env.scheduled_copy.clone().unwrap();
        assert!(crate::scheduled::remove(&cfg, "demo@example.test", &base).unwrap());
        assert!(!release_scheduled(&cfg, &spool, &id, &mut env).unwrap());
        assert!(spool.list(Stage::Queue).unwrap().is_empty());
    }

    #[test]
    fn present_copy_is_released_then_removed() {
        let t = tempfile::tempdir().unwrap();
        let (cfg, spool) = setup(t.path());
        let (id, mut env) = held(&cfg, &spool);
        let base = env.scheduled_copy.clone().unwrap();
        assert!(release_scheduled(&cfg, &spool, &id, &mut env).unwrap());
        assert_eq!(env.scheduled_copy, None);
        let owner = "demo@example.test";
        assert_eq!(crate::scheduled::find(&cfg, owner, &base).unwrap(), None);
        // On disk the decision is recorded; a rerun after a crash sends, never recalls.
        let mut disk = spool.read_envelope(Stage::Queue, &id).unwrap();
        assert!(disk.released);
        assert_eq!(disk.scheduled_copy.as_deref(), Some(base.as_str()));
        assert!(release_scheduled(&cfg, &spool, &id, &mut disk).unwrap());
        assert_eq!(spool.list(Stage::Queue).unwrap(), vec![id]);
    }
}
