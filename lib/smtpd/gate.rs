//! smtpd's access checks around the session: at connect the global block list and the DNS
//! block/allow lists (`[policy] dnsbl`, `dnswl`), at MAIL the global sender block list, at
//! RCPT the recipient's own lists. The lists are read once per connection (an edit applies
//! from the next connection). A list file that cannot be read or parsed is logged and
//! ignored, and a DNSBL that does not answer lists nobody: policy trouble must not stop mail.
//!
//! Exemptions: a globally allowed client IP skips the DNSBL; a DNSWL listing outweighs a
//! DNSBL listing; loopback clients are not looked up unless `dnsbl_loopback`; the submission
//! ports never refuse at connect for a DNSBL (their clients must authenticate anyway);
//! authenticated clients skip the sender block list.

use std::net::IpAddr;

use super::refusals;
use super::Role;
use crate::access::{dnsbl, Lists};
use crate::config::policy::DnsblAction;
use crate::config::Config;
use crate::directory::{Directory, Lookup};
use crate::mlog;
use crate::smtp::reply::Reply;

/// What the connect-time checks found; consulted again at MAIL and RCPT.
#[derive(Debug, Default)]
pub struct Gate {
    pub lists: Lists,
    pub ip: Option<IpAddr>,
    /// DNSBL zones listing the client (recorded for spam-scan when not refused).
    pub dnsbl_hits: Vec<String>,
    pub dnswl_hits: Vec<String>,
}

impl Gate {
    /// The connect-time checks; `Err` is the 554 to greet the client with instead of 220.
    pub fn connect(
        cfg: &Config,
        role: Role,
        ip: Option<IpAddr>,
        shown_ip: &str,
    ) -> Result<Gate, Reply> {
        let lists = match Lists::load(&cfg.policy.access_file) {
            Ok(l) => l,
            Err(e) => {
                mlog!("error: access lists ignored: {e}");
                Lists::default()
            }
        };
        let mut gate = Gate {
            lists,
            ip,
            ..Gate::default()
        };
        let Some(ip) = ip else { return Ok(gate) };
        if gate.lists.client_blocked(ip).is_some() {
            return Err(refusals::client_blocked(&cfg.hostname, shown_ip));
        }
        let p = &cfg.policy;
        let skip = gate.lists.ip(crate::access::Kind::Allow, ip).is_some()
            || (ip.is_loopback() && !p.dnsbl_loopback)
            || (p.dnsbl.is_empty() && p.dnswl.is_empty());
        if skip {
            return Ok(gate);
        }
        let mut zones = p.dnsbl.clone();
        zones.extend(p.dnswl.iter().cloned());
        let hits = dnsbl::check(cfg, &zones, ip).unwrap_or_else(|e| {
            mlog!("warning: DNSBL not checked: {e}");
            Vec::new()
        });
        gate.dnsbl_hits = hits
            .iter()
            .filter(|z| p.dnsbl.contains(z))
            .cloned()
            .collect();
        gate.dnswl_hits = hits
            .iter()
            .filter(|z| p.dnswl.contains(z))
            .cloned()
            .collect();
        if !gate.dnsbl_hits.is_empty() || !gate.dnswl_hits.is_empty() {
            mlog!(
                "dnsbl client={shown_ip} listed={} allowed={}",
                join(&gate.dnsbl_hits),
                join(&gate.dnswl_hits)
            );
        }
        let refuse =
            p.dnsbl_action == DnsblAction::Reject && role == Role::Mx && gate.dnswl_hits.is_empty();
        match gate.dnsbl_hits.first() {
            Some(zone) if refuse => Err(refusals::client_dnsbl(&cfg.hostname, shown_ip, zone)),
            _ => Ok(gate),
        }
    }

    /// MAIL FROM: the global sender block list (not for authenticated users).
    pub fn sender(&self, sender: &str, authenticated: bool) -> Result<(), Reply> {
        if authenticated {
            return Ok(());
        }
        match self.lists.sender_blocked(sender, self.ip) {
            Some(_) => Err(refusals::sender_blocked(sender)),
            None => Ok(()),
        }
    }

    /// RCPT TO (already accepted by `policy::recipient`): the recipient's own block list,
    /// under its address as given and as the directory resolves it.
    pub fn recipient(
        &self,
        cfg: &Config,
        dir: Option<&Directory>,
        rcpt: &str,
        sender: &str,
    ) -> Result<(), Reply> {
        if !self.lists.rules.iter().any(|r| r.user.is_some()) {
            return Ok(());
        }
        let given = super::policy::canonical_recipient(cfg, rcpt).to_lowercase();
        let mut users = vec![given.clone()];
        if let Some(Lookup::Local(canonical)) = dir.map(|d| d.lookup(cfg, &given)) {
            users.push(canonical.to_lowercase());
        }
        match users
            .iter()
            .find(|u| self.lists.user_blocks(u, sender, self.ip).is_some())
        {
            Some(_) => Err(refusals::recipient_blocks(rcpt)),
            None => Ok(()),
        }
    }

    /// The sender or client is globally allowed: spam-scan skips scoring.
    pub fn allowlisted(&self, sender: &str) -> bool {
        self.lists.allowlisted(sender, self.ip)
    }
}

fn join(v: &[String]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        v.join(",")
    }
}
