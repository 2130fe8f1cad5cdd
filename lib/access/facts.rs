//! What spam-scan needs from the SMTP-time policy for one queued message: is it on an allow
//! list (skip scoring), which DNS lists name its client, and the score they add.
//!
//! smtpd records these in the envelope (`allowlisted`, `dnsbl_hits`, `dnswl_hits`); for an
//! envelope that has none of them (written by an older smtpd, or by a path that does not
//! record them) they are worked out again here from `sender` and `client_ip`, so the answer
//! does not depend on who queued the message. Authenticated submissions are never listed.

use std::net::IpAddr;

use super::{dnsbl, Lists};
use crate::config::Config;
use crate::mlog;
use crate::spool::Envelope;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// Sender or client on the global allow list: do not score (still virus-scan).
    pub allowlisted: bool,
    pub dnsbl_hits: Vec<String>,
    pub dnswl_hits: Vec<String>,
    /// `dnsbl_score` per block list hit plus `dnswl_score` per allow list hit.
    pub score: f64,
}

/// The facts for `env` (see the module header). Never fails: unreadable lists or DNS
/// trouble are logged and count as "not listed".
pub fn facts(cfg: &Config, env: &Envelope) -> Facts {
    if env.auth_user.is_some() {
        return Facts::default();
    }
    let ip: Option<IpAddr> = env.client_ip.as_deref().and_then(|s| s.parse().ok());
    let allowlisted = env.allowlisted
        || match Lists::load(&cfg.policy.access_file) {
            Ok(l) => l.allowlisted(&env.sender, ip),
            Err(e) => {
                mlog!("warning: {}: access lists ignored: {e}", env.id);
                false
            }
        };
    let (mut bl, mut wl) = (env.dnsbl_hits.clone(), env.dnswl_hits.clone());
    let p = &cfg.policy;
    let recorded = !bl.is_empty() || !wl.is_empty();
    if let Some(ip) = ip.filter(|ip| !recorded && (p.dnsbl_loopback || !ip.is_loopback())) {
        let mut zones = p.dnsbl.clone();
        zones.extend(p.dnswl.iter().cloned());
        let hits = dnsbl::check(cfg, &zones, ip).unwrap_or_default();
        bl = hits
            .iter()
            .filter(|z| p.dnsbl.contains(z))
            .cloned()
            .collect();
        wl = hits
            .iter()
            .filter(|z| p.dnswl.contains(z))
            .cloned()
            .collect();
    }
    Facts {
        allowlisted,
        score: p.list_score(&bl, &wl),
        dnsbl_hits: bl,
        dnswl_hits: wl,
    }
}
