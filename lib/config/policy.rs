//! `[policy]`: SMTP-time policy in smtpd (sender authentication checks, DNSBL, allow/block lists, rate limits).
//! The raw section as written and its checked form; checked by `check`.
//!
//! ```toml
//! [policy]
//! dmarc_reject = "score"        # "smtp": 550 after DATA on DMARC fail with p=reject; "score"; "off"
//! dnsbl = ["zen.spamhaus.org"]  # DNS block lists asked at connect time (client IP)
//! dnswl = ["list.dnswl.org"]    # DNS allow lists: a listed client scores lower
//! dnsbl_action = "reject"       # "reject" (554 at connect) or "score"
//! dnsbl_score = 3.0             # per block list naming the client (dnsbl_action = "score")
//! dnswl_score = -2.0            # per allow list naming the client
//! dnsbl_loopback = false        # look loopback clients up too (tests)
//! access_file = "access"        # allow/block lists (`mailctl allow|block`), beside this file
//! rate_limit_messages_per_hour_ip = 0     # 0: no limit
//! rate_limit_messages_per_hour_user = 0
//! rate_limit_recipients_per_hour_ip = 0
//! rate_limit_recipients_per_hour_user = 0
//! rate_limit_loopback = false   # loopback clients are exempt unless true
//! [policy.weights]              # score contributions of authentication results
//! spf_fail = 2.0
//! ```
//!
//! The default asks no DNS at SMTP time: no lists, and DMARC is only scored (by spam-scan).

use super::{Checker, Error};
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub dmarc_reject: Option<String>,
    #[serde(default)]
    pub dnsbl: Vec<String>,
    #[serde(default)]
    pub dnswl: Vec<String>,
    pub dnsbl_action: Option<String>,
    pub dnsbl_score: Option<f64>,
    pub dnswl_score: Option<f64>,
    pub dnsbl_loopback: Option<bool>,
    pub access_file: Option<String>,
    pub rate_limit_messages_per_hour_ip: Option<u32>,
    pub rate_limit_messages_per_hour_user: Option<u32>,
    pub rate_limit_recipients_per_hour_ip: Option<u32>,
    pub rate_limit_recipients_per_hour_user: Option<u32>,
    pub rate_limit_loopback: Option<bool>,
    #[serde(default)]
    pub weights: RawWeights,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawWeights {
    pub spf_fail: Option<f64>,
    pub spf_softfail: Option<f64>,
    pub spf_pass: Option<f64>,
    pub dkim_fail: Option<f64>,
    pub dkim_pass: Option<f64>,
    pub dmarc_fail: Option<f64>,
    pub dmarc_quarantine: Option<f64>,
    pub dmarc_reject: Option<f64>,
    pub dmarc_pass: Option<f64>,
}

/// What smtpd does with a DMARC failure whose domain publishes `p=reject`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DmarcReject {
    /// Verify after DATA and answer 550 5.7.1.
    Smtp,
    /// Leave it to spam-scan's score (weight `dmarc_reject`).
    #[default]
    Score,
    /// Neither: the result is only recorded.
    Off,
}

/// What a DNSBL listing of the client does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DnsblAction {
    /// 554 5.7.1 at connect on the MX port (the submission ports never refuse for it).
    #[default]
    Reject,
    /// Record the zones in the envelope; spam-scan adds `dnsbl_score` per zone.
    Score,
}

/// Score contributions of SPF, DKIM and DMARC results (positive: more spammy).
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    pub spf_fail: f64,
    pub spf_softfail: f64,
    pub spf_pass: f64,
    pub dkim_fail: f64,
    pub dkim_pass: f64,
    /// DMARC fail under `p=none` (or no policy).
    pub dmarc_fail: f64,
    pub dmarc_quarantine: f64,
    pub dmarc_reject: f64,
    pub dmarc_pass: f64,
}

impl Default for Weights {
    fn default() -> Weights {
        Weights {
            spf_fail: 2.0,
            spf_softfail: 1.0,
            spf_pass: 0.0,
            dkim_fail: 1.5,
            dkim_pass: 0.0,
            dmarc_fail: 1.0,
            dmarc_quarantine: 4.0,
            dmarc_reject: 8.0,
            dmarc_pass: -1.0,
        }
    }
}

/// Messages and recipients per hour; 0 means no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimits {
    pub messages_per_hour_ip: u32,
    pub messages_per_hour_user: u32,
    pub recipients_per_hour_ip: u32,
    pub recipients_per_hour_user: u32,
    /// Apply the per-IP limits to loopback clients too.
    pub loopback: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub dmarc_reject: DmarcReject,
    /// DNS block list zones (lower case, no trailing dot).
    pub dnsbl: Vec<String>,
    pub dnswl: Vec<String>,
    pub dnsbl_action: DnsblAction,
    pub dnsbl_score: f64,
    pub dnswl_score: f64,
    /// Look up loopback clients in the DNS lists too (they are skipped by default).
    pub dnsbl_loopback: bool,
    /// The allow/block list file; a missing file means empty lists.
    pub access_file: PathBuf,
    pub rate: RateLimits,
    pub weights: Weights,
}

impl Policy {
    /// The score of the DNSBL/DNSWL zones smtpd recorded in an envelope.
    pub fn list_score(&self, dnsbl_hits: &[String], dnswl_hits: &[String]) -> f64 {
        self.dnsbl_score * dnsbl_hits.len() as f64 + self.dnswl_score * dnswl_hits.len() as f64
    }
}

pub fn check(raw: RawPolicy, c: &Checker) -> Result<Policy, Error> {
    let dmarc_reject = match raw.dmarc_reject.as_deref() {
        None | Some("score") => DmarcReject::Score,
        Some("smtp") => DmarcReject::Smtp,
        Some("off") => DmarcReject::Off,
        Some(_) => {
            return Err(c.invalid(
                "policy.dmarc_reject",
                "expected \"smtp\", \"score\" or \"off\"",
            ))
        }
    };
    let dnsbl_action = match raw.dnsbl_action.as_deref() {
        None | Some("reject") => DnsblAction::Reject,
        Some("score") => DnsblAction::Score,
        Some(_) => return Err(c.invalid("policy.dnsbl_action", "expected \"reject\" or \"score\"")),
    };
    Ok(Policy {
        dmarc_reject,
        dnsbl: zones(raw.dnsbl, "policy.dnsbl", c)?,
        dnswl: zones(raw.dnswl, "policy.dnswl", c)?,
        dnsbl_action,
        dnsbl_score: raw.dnsbl_score.unwrap_or(3.0),
        dnswl_score: raw.dnswl_score.unwrap_or(-2.0),
        dnsbl_loopback: raw.dnsbl_loopback.unwrap_or(false),
        access_file: c.path(raw.access_file.as_deref().unwrap_or("access")),
        rate: RateLimits {
            messages_per_hour_ip: raw.rate_limit_messages_per_hour_ip.unwrap_or(0),
            messages_per_hour_user: raw.rate_limit_messages_per_hour_user.unwrap_or(0),
            recipients_per_hour_ip: raw.rate_limit_recipients_per_hour_ip.unwrap_or(0),
            recipients_per_hour_user: raw.rate_limit_recipients_per_hour_user.unwrap_or(0),
            loopback: raw.rate_limit_loopback.unwrap_or(false),
        },
        weights: weights(raw.weights),
    })
}

fn weights(w: RawWeights) -> Weights {
    let d = Weights::default();
    Weights {
        spf_fail: w.spf_fail.unwrap_or(d.spf_fail),
        spf_softfail: w.spf_softfail.unwrap_or(d.spf_softfail),
        spf_pass: w.spf_pass.unwrap_or(d.spf_pass),
        dkim_fail: w.dkim_fail.unwrap_or(d.dkim_fail),
        dkim_pass: w.dkim_pass.unwrap_or(d.dkim_pass),
        dmarc_fail: w.dmarc_fail.unwrap_or(d.dmarc_fail),
        dmarc_quarantine: w.dmarc_quarantine.unwrap_or(d.dmarc_quarantine),
        dmarc_reject: w.dmarc_reject.unwrap_or(d.dmarc_reject),
        dmarc_pass: w.dmarc_pass.unwrap_or(d.dmarc_pass),
    }
}

/// Zone names: lower case, no trailing dot, DNS label syntax.
fn zones(raw: Vec<String>, key: &str, c: &Checker) -> Result<Vec<String>, Error> {
    raw.into_iter()
        .map(|z| {
            let z = z.trim().trim_end_matches('.').to_ascii_lowercase();
            let ok = !z.is_empty()
                && z.len() <= 200
                && z.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                });
            if ok {
                Ok(z)
            } else {
                Err(c.invalid(key, &format!("{z:?} is not a DNS zone name")))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::config::{policy::*, Config};
    use std::path::Path;

    const BASE: &str =
        "hostname = \"mx.test\"\nspool_dir = \"s\"\nmail_root = \"m\"\nusers_file = \"u\"\n";

    fn parse(policy: &str) -> Result<Policy, String> {
        let text = format!("{BASE}[policy]\n{policy}\n");
        Config::parse(Path::new("/etc/mail/mail.toml"), &text)
            .map(|c| c.policy)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_ask_no_dns() {
        let p = parse("").unwrap();
        assert_eq!(p.dmarc_reject, DmarcReject::Score);
        assert!(p.dnsbl.is_empty() && p.dnswl.is_empty());
        assert_eq!(p.access_file, Path::new("/etc/mail/access"));
        assert_eq!(p.rate, RateLimits::default());
        assert_eq!(p.weights, Weights::default());
    }

    #[test]
    fn values_are_checked() {
        let p = parse(
            "dmarc_reject = \"smtp\"\ndnsbl = [\"Zen.Example.\"]\ndnsbl_action = \"score\"\n\
             rate_limit_messages_per_hour_user = 5\n[policy.weights]\nspf_fail = 3.5",
        )
        .unwrap();
        assert_eq!(p.dmarc_reject, DmarcReject::Smtp);
        assert_eq!(p.dnsbl, vec!["zen.example".to_string()]);
        assert_eq!(p.dnsbl_action, DnsblAction::Score);
        assert_eq!(p.rate.messages_per_hour_user, 5);
        assert_eq!(p.weights.spf_fail, 3.5);
        assert_eq!(p.list_score(&["a".into(), "b".into()], &["c".into()]), 4.0);
        for bad in [
            "dmarc_reject = \"yes\"",
            "dnsbl_action = \"drop\"",
            "dnsbl = [\"bad zone\"]",
            "dnsbl = [\"\"]",
            "[policy.weights]\nspf_neutral = 1.0",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(
                e.contains("policy") || e.contains("spf_neutral"),
                "{bad}: {e}"
            );
        }
    }
}
