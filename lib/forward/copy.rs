//! A derived message: a copy of a queued message (possibly with headers changed) under a new
//! envelope sender, committed to `spool/queue` as a message of its own. Forwarded copies
//! (SRS sender), list posts (the list's bounce address) and auto-replies go this way, since
//! one envelope has one sender. The copy keeps the original's 8BITMIME/SMTPUTF8 flags.
//! Errors: the spool's, as a `451 4.3.0` reply (the caller defers and tries again).

use crate::spool::{Envelope, Recipient, Spool, Stage};

/// Commits `message` to the queue for `recipients` from `sender`. `expanded` says whether
/// the recipients are final already (remote forward targets) or still to be expanded (list
/// members). Returns the new queue id.
pub fn commit(
    spool: &Spool,
    original: &Envelope,
    sender: &str,
    recipients: &[String],
    expanded: bool,
    message: &[u8],
    now: u64,
) -> Result<String, String> {
    let env = Envelope {
        sender: sender.to_string(),
        recipients: recipients
            .iter()
            .map(|a| Recipient {
                expanded,
                ..Recipient::new(a)
            })
            .collect(),
        received_at: now,
        eight_bit: original.eight_bit,
        smtputf8: original.smtputf8,
        ..Envelope::default()
    };
    spool
        .enqueue(Stage::Queue, &env, message)
        .map_err(|e| format!("451 4.3.0 cannot queue forwarded copy: {e}"))
}
