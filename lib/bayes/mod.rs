//! Bayes: a per-user Bayesian spam classifier (Graham/Robinson style, Fisher chi-square
//! combining). Owns one file per user, `<Maildir>/mailserver-bayes` (beside the folders, like
//! `mailserver-keywords`; IMAP lists only `.Folder` directories), with its lock file
//! `mailserver-bayes.lock`.
//!
//! - `learn(maildir, message, spam)` counts the message's tokens as spam or ham. The file
//!   remembers a digest of each learned message, so learning it again is a no-op and learning
//!   it as the other class moves its counts (what imapd does when a user moves mail into or
//!   out of `.Junk`). `unlearn` forgets a message.
//! - `probability(maildir, message)` is the spam probability in 0..=1, or `None` while fewer
//!   than `MIN_TRAINED` spam or ham messages have been learned (or the file is unreadable).
//!
//! `Cache` keeps parsed statistics for a long-running reader (spam-scan) and reloads a
//! user's file when it was replaced.
//!
//! Writes happen under an exclusive flock on the lock file, by tmp + fsync + rename + dir
//! fsync, so a reader never sees half a file and a crash leaves the old or the new version.
//! Does not read Maildir folders or touch messages. Errors are one line of text: the caller
//! logs them; a broken statistics file is an error for `learn` and silence for `probability`.

mod cache;
mod classify;
mod store;
mod tokens;

pub use cache::Cache;
pub use classify::MIN_TRAINED;

use std::path::Path;
use store::{Class, Stats};

/// The statistics file's name inside the user's Maildir.
pub const FILE: &str = "mailserver-bayes";

/// Learns `message` as spam (`true`) or ham. Idempotent per message; a message learned as
/// the other class is moved to this one.
pub fn learn(user_maildir: &Path, message: &[u8], spam: bool) -> Result<(), String> {
    let class = if spam { Class::Spam } else { Class::Ham };
    update(user_maildir, message, Some(class)).map(|_| ())
}

/// Forgets a learned message; `Ok(false)` when it had not been learned.
pub fn unlearn(user_maildir: &Path, message: &[u8]) -> Result<bool, String> {
    update(user_maildir, message, None)
}

/// The spam probability of `message` for this user, once enough mail has been learned.
pub fn probability(user_maildir: &Path, message: &[u8]) -> Option<f64> {
    let stats = Stats::load(&user_maildir.join(FILE)).ok()?;
    classify::probability(&stats, &tokens::tokens(message))
}

/// How many spam and ham messages this user has trained (0, 0 without a file).
pub fn trained(user_maildir: &Path) -> Result<(u64, u64), String> {
    let stats = Stats::load(&user_maildir.join(FILE))?;
    Ok((stats.spam_messages, stats.ham_messages))
}

/// Loads, changes and replaces the file under its lock. `Ok(true)` when something changed.
fn update(user_maildir: &Path, message: &[u8], to: Option<Class>) -> Result<bool, String> {
    let path = user_maildir.join(FILE);
    let _lock = store::lock(&path)?;
    let mut stats = Stats::load(&path)?;
    let digest = tokens::digest(message);
    let before = stats.seen.get(&digest).copied();
    if before == to {
        return Ok(false);
    }
    let toks = tokens::tokens(message);
    if let Some(old) = before {
        stats.remove(&digest, old, &toks);
    }
    if let Some(new) = to {
        stats.add(digest, new, &toks);
    }
    stats.save(&path)?;
    Ok(true)
}

#[cfg(test)]
mod tests;
