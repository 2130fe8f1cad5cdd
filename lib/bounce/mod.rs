//! Bounces: turns what failed into delivery status notifications (RFC 3464) for senders.
//!
//! - `process`: every entry in `spool/bounce/` (an envelope whose recipients are all final,
//!   some Failed, with their last replies) becomes one DSN per message listing every failed
//!   recipient whose NOTIFY asks for failures (the default), committed into `spool/queue`
//!   with the null sender, to the original sender; queue-runner delivers it (locally or
//!   outbound). Then the entry is removed. Order: DSN committed (fsynced) first, entry
//!   removed after, so a crash in between sends the DSN twice, never loses it.
//!   A message from the null sender is never bounced (dropped with a log line); NOTIFY=NEVER
//!   recipients are left out; with `[bounce] bounce_notice_recipient`, the postmaster gets a
//!   headers-only copy of each bounce.
//! - `warn_if_delayed` / `delay_warnings`: one "delayed" DSN per message still deferred after
//!   `[bounce] delay_warning_secs` (counted from its release time when it was held), for
//!   recipients whose NOTIFY includes DELAY (or who gave none); remembered in the envelope
//!   (`delay_warned`) so it goes out once.
//! - `success_notice`: a "delivered" DSN for recipients that asked for NOTIFY=SUCCESS.
//!
//! RET decides the third part: HDRS (and every delay or success notice) returns the header;
//! FULL or nothing returns the message, unless it is larger than `max_returned_size`.
//! Leaves alone: delivery (queue-runner), the network, message parsing beyond finding the
//! end of the header. Errors: `String` with the queue id, all temporary (the entry stays
//! and is tried again on the next call), except a corrupt envelope, which is moved to
//! `spool/hold` for the admin.

mod report;

pub use report::{build, header_of, status_of, Kind, Report, Returned};

use crate::config::Config;
use crate::mlog;
use crate::smtp::dsn::Notify;
use crate::smtpd::enqueue::rfc5322_date;
use crate::spool::{self, Envelope, RcptState, Recipient, Spool, Stage};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the epoch.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The NOTIFY a recipient gave (looked up by the address it was accepted under).
pub fn notify_of(env: &Envelope, r: &Recipient) -> Notify {
    dsn_value(&env.dsn_notify, r)
        .and_then(|v| Notify::parse(v).ok())
        .unwrap_or_default()
}

/// The Original-Recipient for a recipient: its ORCPT, else the address it was accepted
/// under when alias expansion changed it.
pub fn orcpt_of(env: &Envelope, r: &Recipient) -> Option<String> {
    dsn_value(&env.dsn_orcpt, r)
        .map(str::to_string)
        .or_else(|| r.original.as_ref().map(|o| format!("rfc822;{o}")))
}

/// NOTIFY and ORCPT to pass on to a DSN-capable peer for one recipient (RFC 3461 5.2):
/// as the client gave them (ORCPT re-encoded as xtext); `None` where it gave none.
pub fn rcpt_params(env: &Envelope, r: &Recipient) -> (Option<String>, Option<String>) {
    (
        dsn_value(&env.dsn_notify, r).map(str::to_string),
        dsn_value(&env.dsn_orcpt, r).map(crate::smtp::dsn::orcpt_param),
    )
}

/// RET and ENVID to pass on (ENVID re-encoded as xtext).
pub fn mail_params(env: &Envelope) -> (Option<String>, Option<String>) {
    (
        env.ret.clone(),
        env.envid.as_deref().map(crate::smtp::dsn::xtext_encode),
    )
}

fn dsn_value<'a>(
    map: &'a std::collections::BTreeMap<String, String>,
    r: &Recipient,
) -> Option<&'a str> {
    r.original
        .as_deref()
        .and_then(|o| map.get(o))
        .or_else(|| map.get(&r.address))
        .map(String::as_str)
}

/// Handles every entry in `spool/bounce`; returns how many DSNs were committed.
pub fn process(cfg: &Config, spool: &Spool) -> Result<usize, String> {
    let ids = spool
        .list(Stage::Bounce)
        .map_err(|e| format!("cannot list bounce: {e}"))?;
    let mut sent = 0;
    for id in ids {
        match bounce_one(cfg, spool, &id, now()) {
            Ok(n) => sent += n,
            Err(e) if e.is_temporary() => mlog!("{id}: bounce not written, will retry: {e}"),
            // A corrupt envelope will not mend itself: park it for the admin, once.
            Err(e) => match spool.move_to(&id, Stage::Bounce, Stage::Hold) {
                Ok(()) => mlog!("{id}: bounce impossible, moved to hold: {e}"),
                Err(m) => mlog!("{id}: bounce impossible ({e}), not moved to hold: {m}"),
            },
        }
    }
    Ok(sent)
}

/// One bounce entry: DSN(s) committed, then the entry removed. Returns DSNs committed.
fn bounce_one(cfg: &Config, spool: &Spool, id: &str, now: u64) -> spool::Result<usize> {
    let env = match spool.read_envelope(Stage::Bounce, id) {
        Ok(e) => e,
        Err(spool::Error::NotFound { .. }) => return Ok(0),
        Err(e) => return Err(e),
    };
    let failed: Vec<&Recipient> = env
        .recipients
        .iter()
        .filter(|r| r.state == RcptState::Failed)
        .collect();
    let wanted: Vec<&Recipient> = failed
        .iter()
        .copied()
        .filter(|r| notify_of(&env, r).failure)
        .collect();
    let mut sent = 0;
    if env.sender.is_empty() {
        mlog!(
            "{id}: not bouncing a message from the null sender (nrcpt={} failed)",
            failed.len()
        );
    } else if wanted.is_empty() {
        mlog!("{id}: no bounce: NOTIFY=NEVER for every failed recipient");
    } else {
        let message = spool.read_message(Stage::Bounce, id)?;
        let returned = match env.ret.as_deref() {
            Some("HDRS") => Returned::Headers,
            _ if message.len() as u64 > cfg.bounce.max_returned_size => Returned::Headers,
            _ => Returned::Full,
        };
        let dsn = commit(
            cfg,
            spool,
            &env,
            Kind::Failed,
            &wanted,
            &message,
            returned,
            &env.sender,
            now,
        )?;
        mlog!("{id}: sender non-delivery notification: {dsn}");
        sent += 1;
        if let Some(pm) = &cfg.bounce.notice_recipient {
            let copy = commit(
                cfg,
                spool,
                &env,
                Kind::Failed,
                &wanted,
                &message,
                Returned::Headers,
                pm,
                now,
            )?;
            mlog!("{id}: postmaster non-delivery notification: {copy} to=<{pm}>");
            sent += 1;
        }
    }
    spool.remove(Stage::Bounce, id)?;
    mlog!("{id}: removed");
    Ok(sent)
}

/// Builds a report and commits it into `spool/queue`, from `<>` to `to`; returns its id.
#[allow(clippy::too_many_arguments)]
fn commit(
    cfg: &Config,
    spool: &Spool,
    env: &Envelope,
    kind: Kind,
    recipients: &[&Recipient],
    message: &[u8],
    returned: Returned,
    to: &str,
    now: u64,
) -> spool::Result<String> {
    let at = |secs: u64| rfc5322_date(UNIX_EPOCH + Duration::from_secs(secs));
    let tag = rand::random::<u64>();
    let mut boundary = format!("{}.{tag:016x}/{}", env.id, cfg.hostname);
    while !report::boundary_ok(&boundary, message) {
        boundary = format!("{}.{:016x}/{}", env.id, rand::random::<u64>(), cfg.hostname);
    }
    let message_id = format!(
        "<{}.{}.{tag:016x}@{}>",
        env.id,
        kind_tag(kind),
        cfg.hostname
    );
    let r = Report {
        kind,
        hostname: &cfg.hostname,
        to,
        env,
        recipients: recipients.iter().map(|r| (*r, orcpt_of(env, r))).collect(),
        date: &at(now),
        arrival_date: &at(env.received_at),
        message_id: &message_id,
        boundary: &boundary,
        returned,
    };
    let bytes = build(&r, message);
    let dsn_env = Envelope {
        sender: String::new(),
        recipients: vec![Recipient::new(to)],
        received_at: now,
        eight_bit: !bytes.is_ascii(),
        smtputf8: !to.is_ascii(),
        // RFC 8689 5: a report on a REQUIRETLS message travels under the same condition.
        require_tls: env.require_tls,
        ..Envelope::default()
    };
    spool.enqueue(Stage::Queue, &dsn_env, &bytes)
}

fn kind_tag(kind: Kind) -> &'static str {
    match kind {
        Kind::Failed => "bounce",
        Kind::Delayed => "delay",
        Kind::Delivered => "success",
    }
}

/// Sends the delay warning for one queued message if it is due, and marks it sent in `env`
/// (the caller writes the envelope). For queue-runner's worker, on a message it holds,
/// before it writes the envelope of a retry. Returns whether a warning was committed.
pub fn warn_if_delayed(
    cfg: &Config,
    spool: &Spool,
    env: &mut Envelope,
    now: u64,
) -> Result<bool, String> {
    let after = cfg.bounce.delay_warning.as_secs();
    let since = env.received_at.max(env.hold_until);
    if after == 0
        || env.delay_warned
        || env.sender.is_empty()
        || env.received_at == 0
        || now.saturating_sub(since) < after
    {
        return Ok(false);
    }
    let waiting: Vec<&Recipient> = env
        .recipients
        .iter()
        .filter(|r| r.state == RcptState::Deferred && notify_of(env, r).delay)
        .collect();
    if waiting.is_empty() {
        return Ok(false);
    }
    let message = spool
        .read_message(Stage::Queue, &env.id)
        .map_err(|e| format!("{}: {e}", env.id))?;
    let dsn = commit(
        cfg,
        spool,
        env,
        Kind::Delayed,
        &waiting,
        &message,
        Returned::Headers,
        &env.sender,
        now,
    )
    .map_err(|e| format!("{}: {e}", env.id))?;
    mlog!("{}: sender delay notification: {dsn}", env.id);
    env.delay_warned = true;
    Ok(true)
}

/// `warn_if_delayed` over all of `spool/queue`, writing the envelopes it marks.
/// Only safe where no other process writes queued envelopes at the same time; queue-runner
/// passes `busy` to skip the messages its workers hold.
pub fn delay_warnings_except(
    cfg: &Config,
    spool: &Spool,
    now: u64,
    busy: impl Fn(&str) -> bool,
) -> Result<usize, String> {
    if cfg.bounce.delay_warning.is_zero() {
        return Ok(0);
    }
    let ids = spool
        .list(Stage::Queue)
        .map_err(|e| format!("cannot list queue: {e}"))?;
    let mut sent = 0;
    for id in ids.iter().filter(|id| !busy(id)) {
        let mut env = match spool.read_envelope(Stage::Queue, id) {
            Ok(e) => e,
            Err(_) => continue,
        };
        match warn_if_delayed(cfg, spool, &mut env, now) {
            Ok(true) => {
                sent += 1;
                if let Err(e) = spool.write_envelope(Stage::Queue, id, &env) {
                    mlog!("{id}: delay warning sent but not recorded (may repeat): {e}");
                }
            }
            Ok(false) => {}
            Err(e) => mlog!("delay warning not written, will retry: {e}"),
        }
    }
    Ok(sent)
}

/// `delay_warnings_except` with nothing busy.
pub fn delay_warnings(cfg: &Config, spool: &Spool, now: u64) -> Result<usize, String> {
    delay_warnings_except(cfg, spool, now, |_| false)
}

/// A "delivered" DSN to the sender for those of `delivered` that asked for NOTIFY=SUCCESS
/// (nothing for the null sender). For queue-runner after it recorded the deliveries; the
/// message must still be in `spool/queue`. Returns the DSN's id when one was committed.
pub fn success_notice(
    cfg: &Config,
    spool: &Spool,
    env: &Envelope,
    delivered: &[Recipient],
    now: u64,
) -> Result<Option<String>, String> {
    let wanted: Vec<&Recipient> = delivered
        .iter()
        .filter(|r| r.state == RcptState::Delivered && notify_of(env, r).success)
        .collect();
    if env.sender.is_empty() || wanted.is_empty() {
        return Ok(None);
    }
    let message = spool
        .read_message(Stage::Queue, &env.id)
        .map_err(|e| format!("{}: {e}", env.id))?;
    let dsn = commit(
        cfg,
        spool,
        env,
        Kind::Delivered,
        &wanted,
        &message,
        Returned::Headers,
        &env.sender,
        now,
    )
    .map_err(|e| format!("{}: {e}", env.id))?;
    mlog!("{}: sender delivery status notification: {dsn}", env.id);
    Ok(Some(dsn))
}

#[cfg(test)]
mod tests;
