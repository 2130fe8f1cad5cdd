//! `[scan]`: what spam-scan checks (clamd, scoring, thresholds, spamd, Bayes).
//! The raw section as written and its checked form; checked by `check`, which fails with
//! `Error::Invalid` naming the key.
//!
//! ```toml
//! [scan]
//! clamd_socket = "/run/clamav/clamd.ctl"   # or clamd_address = "127.0.0.1:3310"; neither: no virus scan
//! clamd_timeout_secs = 60                  # connect/read/write limit per message
//! clamd_max_size = 26214400                # larger messages are not sent (clamd's StreamMaxLength)
//! on_scanner_failure = "defer"             # "defer" (wait in incoming, retry) or "accept"
//! junk_score = 5.0                         # at or above: filed into the user's .Junk folder
//! quarantine_score = 15.0                  # at or above: spool/quarantine, not delivered
//! bayes = true                             # per-user Bayes probability adds to the score
//! spamd_address = "127.0.0.1:783"          # optional SpamAssassin spamd; its score is added
//! spamd_timeout_secs = 30
//! ```

use super::{Checker, Error};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawScan {
    pub clamd_socket: Option<String>,
    pub clamd_address: Option<String>,
    pub clamd_timeout_secs: Option<u64>,
    pub clamd_max_size: Option<u64>,
    pub on_scanner_failure: Option<String>,
    pub junk_score: Option<f64>,
    pub quarantine_score: Option<f64>,
    pub bayes: Option<bool>,
    pub spamd_address: Option<String>,
    pub spamd_timeout_secs: Option<u64>,
}

/// Where clamd listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clamd {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

#[derive(Debug, Clone)]
pub struct Scan {
    /// clamd to stream messages to; `None`: no virus scanning.
    pub clamd: Option<Clamd>,
    pub clamd_timeout: Duration,
    /// Messages larger than this are passed without a virus scan (logged): clamd refuses
    /// streams over its `StreamMaxLength`, and waiting would hold them forever.
    pub clamd_max_size: u64,
    /// When clamd cannot be asked: true passes the message on unscanned (logged), false
    /// leaves it in incoming for the next pass.
    pub accept_on_scanner_failure: bool,
    pub junk_score: f64,
    pub quarantine_score: f64,
    pub bayes: bool,
    /// SpamAssassin spamd (TCP); `None`: not asked.
    pub spamd: Option<SocketAddr>,
    pub spamd_timeout: Duration,
}

impl Default for Scan {
    fn default() -> Scan {
        Scan {
            clamd: None,
            clamd_timeout: Duration::from_secs(60),
            clamd_max_size: 25 << 20,
            accept_on_scanner_failure: false,
            junk_score: 5.0,
            quarantine_score: 15.0,
            bayes: true,
            spamd: None,
            spamd_timeout: Duration::from_secs(30),
        }
    }
}

pub fn check(raw: RawScan, c: &Checker) -> Result<Scan, Error> {
    let d = Scan::default();
    let clamd = match (raw.clamd_socket, raw.clamd_address) {
        (Some(_), Some(_)) => {
            return Err(c.invalid(
                "scan.clamd_address",
                "give clamd_socket or clamd_address, not both",
            ))
        }
        (Some(p), None) => Some(Clamd::Unix(c.path(&p))),
        (None, Some(a)) => Some(Clamd::Tcp(addr(&a, "scan.clamd_address", c)?)),
        (None, None) => None,
    };
    let accept_on_scanner_failure = match raw.on_scanner_failure.as_deref() {
        None | Some("defer") => false,
        Some("accept") => true,
        Some(_) => return Err(c.invalid("scan.on_scanner_failure", "\"defer\" or \"accept\"")),
    };
    let junk_score = score(raw.junk_score, d.junk_score, "scan.junk_score", c)?;
    let quarantine_score = score(
        raw.quarantine_score,
        d.quarantine_score,
        "scan.quarantine_score",
        c,
    )?;
    if quarantine_score < junk_score {
        return Err(c.invalid("scan.quarantine_score", "must not be below junk_score"));
    }
    let spamd = match raw.spamd_address {
        Some(a) => Some(addr(&a, "scan.spamd_address", c)?),
        None => None,
    };
    Ok(Scan {
        clamd,
        clamd_timeout: timeout(
            raw.clamd_timeout_secs,
            d.clamd_timeout,
            "scan.clamd_timeout_secs",
            c,
        )?,
        clamd_max_size: match raw.clamd_max_size {
            Some(0) => return Err(c.invalid("scan.clamd_max_size", "must be at least 1")),
            Some(n) => n,
            None => d.clamd_max_size,
        },
        accept_on_scanner_failure,
        junk_score,
        quarantine_score,
        bayes: raw.bayes.unwrap_or(true),
        spamd,
        spamd_timeout: timeout(
            raw.spamd_timeout_secs,
            d.spamd_timeout,
            "scan.spamd_timeout_secs",
            c,
        )?,
    })
}

fn addr(a: &str, key: &str, c: &Checker) -> Result<SocketAddr, Error> {
    a.parse()
        .map_err(|_| c.invalid(key, "an IP address and port, e.g. \"127.0.0.1:3310\""))
}

fn score(v: Option<f64>, default: f64, key: &str, c: &Checker) -> Result<f64, Error> {
    match v {
        None => Ok(default),
        Some(s) if s.is_finite() && s > 0.0 => Ok(s),
        Some(_) => Err(c.invalid(key, "a positive number")),
    }
}

fn timeout(v: Option<u64>, default: Duration, key: &str, c: &Checker) -> Result<Duration, Error> {
    match v {
        None => Ok(default),
        Some(0) => Err(c.invalid(key, "must be at least 1")),
        Some(s) => Ok(Duration::from_secs(s)),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, Error};
    use std::path::Path;

    fn parse(scan: &str) -> Result<Config, Error> {
        let text = format!("hostname = \"mx.test\"\nspool_dir = \"s\"\nmail_root = \"m\"\nusers_file = \"u\"\n[scan]\n{scan}");
        Config::parse(Path::new("/etc/mail/mail.toml"), &text)
    }

    #[test]
    fn defaults_and_values() {
        let s = parse("").unwrap().scan;
        assert_eq!(
            (s.clamd, s.junk_score, s.quarantine_score),
            (None, 5.0, 15.0)
        );
        assert!(!s.accept_on_scanner_failure);
        let s = parse(
            "clamd_socket = \"clamd.sock\"\non_scanner_failure = \"accept\"\njunk_score = 4.5\n",
        )
        .unwrap()
        .scan;
        assert_eq!(
            s.clamd,
            Some(super::Clamd::Unix("/etc/mail/clamd.sock".into()))
        );
        assert!(s.accept_on_scanner_failure);
        assert_eq!(s.junk_score, 4.5);
    }

    #[test]
    fn bad_values_name_the_key() {
        for (text, key) in [
            ("clamd_address = \"nohost\"", "scan.clamd_address"),
            ("on_scanner_failure = \"maybe\"", "scan.on_scanner_failure"),
            ("junk_score = 20.0", "scan.quarantine_score"),
            ("junk_score = -1.0", "scan.junk_score"),
            (
                "clamd_socket = \"a\"\nclamd_address = \"127.0.0.1:1\"",
                "scan.clamd_address",
            ),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }
}
