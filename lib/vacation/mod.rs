//! Vacation (auto-reply): per user, a subject, a body and an optional last day, set with
//! `mailctl vacation`, stored as `vacation.toml` in the user's Maildir directory (beside
//! `cur/ new/ tmp/`, like Dovecot's own files; Maildir readers ignore it). queue-runner calls
//! `respond` when it expands a local recipient: RFC 3834 rules (`rules`), once per sender per
//! `days` (`seen`), then the reply (`reply`) is committed to `spool/queue` with the null
//! envelope sender, like any message.
//!
//! Best effort by design: any failure is returned for a log line and never delays the
//! original message. A crash between committing the reply and recording the sender can
//! send a second reply, never lose mail.

pub mod reply;
pub mod rules;
pub mod seen;

use crate::config::Config;
use crate::spool::{Envelope, Recipient, Spool, Stage};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// File name inside the Maildir directory.
pub const FILE: &str = "vacation.toml";
/// Default: one reply per sender per this many days (RFC 3834 suggests 7).
pub const DEFAULT_DAYS: u32 = 7;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vacation {
    pub subject: String,
    pub body: String,
    /// Last day (UTC, `YYYY-MM-DD`, inclusive) replies are sent; none means until removed.
    #[serde(default)]
    pub until: Option<String>,
    #[serde(default = "default_days")]
    pub days: u32,
}

fn default_days() -> u32 {
    DEFAULT_DAYS
}

/// The settings file of `user` (canonical address).
pub fn path(cfg: &Config, user: &str) -> Option<PathBuf> {
    cfg.maildir_path(user).map(|d| d.join(FILE))
}

/// `YYYY-MM-DD` of Unix seconds (UTC).
pub fn day_of(now: u64) -> String {
    let (y, m, d) = crate::date::civil_from_days((now / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Checks a `YYYY-MM-DD` date (a real calendar day).
pub fn check_date(s: &str) -> Result<String, String> {
    let bad = || format!("{s:?}: expected a date YYYY-MM-DD");
    let p: Vec<&str> = s.trim().split('-').collect();
    let [y, m, d] = p.as_slice() else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let (y, m, d): (i64, u32, u32) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let len = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&m) || d == 0 || d > len[(m - 1) as usize] {
        return Err(bad());
    }
    Ok(format!("{y:04}-{m:02}-{d:02}"))
}

impl Vacation {
    /// Reads the settings of `user`; `Ok(None)` when none are set.
    pub fn load(cfg: &Config, user: &str) -> Result<Option<Vacation>, String> {
        let Some(p) = path(cfg, user) else {
            return Ok(None);
        };
        match std::fs::read_to_string(&p) {
            Ok(t) => toml::from_str(&t)
                .map(Some)
                .map_err(|e| format!("{}: {}", p.display(), e.to_string().trim_end())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", p.display())),
        }
    }

    /// Writes the settings of `user`, creating the Maildir directory when missing.
    pub fn save(&self, cfg: &Config, user: &str) -> Result<PathBuf, String> {
        let p = path(cfg, user).ok_or_else(|| format!("{user}: no usable Maildir path"))?;
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let text = toml::to_string(self).map_err(|e| e.to_string())?;
        crate::forward::table::write_atomic(&p, text.as_bytes(), 0o644)?;
        Ok(p)
    }

    /// True on or before the last day.
    pub fn active(&self, now: u64) -> bool {
        self.until
            .as_deref()
            .is_none_or(|u| day_of(now).as_str() <= u)
    }
}

/// Removes the settings of `user`; an error when none were set.
pub fn remove(cfg: &Config, user: &str) -> Result<(), String> {
    let p = path(cfg, user).ok_or_else(|| format!("{user}: no usable Maildir path"))?;
    std::fs::remove_file(&p).map_err(|e| format!("{}: {e}", p.display()))
}

/// What the expansion knows about one delivery to a local user.
pub struct Delivery<'a> {
    /// Canonical address of the user.
    pub user: &'a str,
    /// Addresses the message may name the user by (canonical, the RCPT address, aliases).
    pub names: &'a [&'a str],
    pub sender: &'a str,
    /// The original message header (and possibly more).
    pub header: &'a [u8],
}

/// Sends the auto-reply `v` of `d.user` for one delivery when it is active and the rules
/// allow it. `Ok(Ok(id))`: reply queued; `Ok(Err(why))`: none due, `why` for a log line;
/// `Err`: it failed (state file or spool).
pub fn respond(
    cfg: &Config,
    spool: &Spool,
    v: &Vacation,
    d: &Delivery,
    now: u64,
) -> Result<Result<String, String>, String> {
    if !v.active(now) {
        return Ok(Err("vacation ended".into()));
    }
    if let Err(why) = rules::may_reply(d.sender, d.header, d.names) {
        return Ok(Err(why));
    }
    let seen = cfg
        .maildir_path(d.user)
        .map(|m| m.join(seen::FILE))
        .ok_or_else(|| format!("{}: no usable Maildir path", d.user))?;
    if let Some(dir) = seen.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    if !seen::claim(&seen, d.sender, now, v.days.max(1))? {
        return Ok(Err(format!("already replied to {} recently", d.sender)));
    }
    let date = crate::smtpd::enqueue::rfc5322_date(std::time::SystemTime::now());
    let unique = format!("{now}.{}", rand::random::<u64>());
    let message = reply::build(&reply::Reply {
        from: d.user,
        to: d.sender,
        subject: &v.subject,
        body: &v.body,
        original: d.header,
        hostname: &cfg.hostname,
        date: &date,
        unique: &unique,
    });
    let env = Envelope {
        sender: String::new(),
        recipients: vec![Recipient::new(d.sender)],
        received_at: now,
        ..Envelope::default()
    };
    let id = spool
        .enqueue(Stage::Queue, &env, &message)
        .map_err(|e| e.to_string())?;
    Ok(Ok(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(check_date("2026-02-28").unwrap(), "2026-02-28");
        assert!(check_date("2026-02-29").is_err());
        assert!(check_date("2024-02-29").is_ok());
        assert!(check_date("2026-13-01").is_err());
        assert!(check_date("26-1-1").is_err());
        assert_eq!(day_of(0), "1970-01-01");
        let v = Vacation {
            subject: "s".into(),
            body: "b".into(),
            until: Some("1970-01-02".into()),
            days: 7,
        };
        assert!(v.active(86_400 + 5));
        assert!(!v.active(2 * 86_400));
    }
}
