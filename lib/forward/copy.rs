//! A derived message: a copy of a queued message (possibly with headers changed) under a new
//! envelope sender, committed to `spool/queue` as a message of its own. Forwarded copies
//! (SRS sender), list posts (the list's bounce address) and auto-replies go this way, since
//! one envelope has one sender. The copy keeps the original's 8BITMIME, SMTPUTF8 and
//! REQUIRETLS flags; a forwarded copy also its DSN requests (see `Kind`).
//! Errors: the spool's, as a `451 4.3.0` reply (the caller defers and tries again).

use crate::spool::{Envelope, Recipient, Spool, Stage};

/// How the copy relates to the original message.
pub enum Kind<'a> {
    /// A forwarded copy for the recipient the client named `rcpt`: the targets are final
    /// (already expanded), keep `rcpt` as their `original`, and the DSN requests made for
    /// `rcpt` (NOTIFY, ORCPT, RET, ENVID) travel with them.
    Forward { rcpt: &'a str },
    /// A new message (a list post): its recipients are still to be expanded; no DSN
    /// requests carry over (RFC 3461 6.2.7.1: a list expansion is the end of the road).
    New,
}

/// Commits `message` to the queue for `recipients` from `sender`; REQUIRETLS and the
/// 8BITMIME/SMTPUTF8 flags always carry over. Returns the new queue id.
pub fn commit(
    spool: &Spool,
    original: &Envelope,
    sender: &str,
    recipients: &[String],
    kind: Kind,
    message: &[u8],
    now: u64,
) -> Result<String, String> {
    let mut env = Envelope {
        sender: sender.to_string(),
        received_at: now,
        eight_bit: original.eight_bit,
        smtputf8: original.smtputf8,
        require_tls: original.require_tls,
        ..Envelope::default()
    };
    for a in recipients {
        let mut r = Recipient::new(a);
        if let Kind::Forward { rcpt } = kind {
            r.expanded = true;
            r.original = (a != rcpt).then(|| rcpt.to_string());
        }
        env.recipients.push(r);
    }
    if let Kind::Forward { rcpt } = kind {
        env.ret = original.ret.clone();
        env.envid = original.envid.clone();
        if let Some(n) = original.dsn_notify.get(rcpt) {
            env.dsn_notify.insert(rcpt.to_string(), n.clone());
        }
        if let Some(o) = original.dsn_orcpt.get(rcpt) {
            env.dsn_orcpt.insert(rcpt.to_string(), o.clone());
        }
    }
    spool
        .enqueue(Stage::Queue, &env, message)
        .map_err(|e| format!("451 4.3.0 cannot queue forwarded copy: {e}"))
}
