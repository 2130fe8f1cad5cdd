//! DMARC at SMTP time (`[policy] dmarc_reject = "smtp"`): after DATA, before queueing,
//! verify SPF, DKIM and DMARC (`authres`) and refuse with 550 5.7.1 when DMARC fails and the
//! From domain publishes `p=reject`. Authenticated submissions are never checked. The
//! Authentication-Results header itself is spam-scan's to add (it checks again, so a
//! header a client forged cannot slip through as ours). DNS trouble never refuses.

use crate::authres;
use crate::config::policy::DmarcReject;
use crate::config::Config;
use crate::mlog;
use crate::smtp::reply::Reply;
use crate::smtp::Message;
use crate::spool::{Envelope, Recipient};

use super::refusals;

/// `Some(550 …)` when the message must be refused.
pub fn check(
    cfg: &Config,
    ip: &str,
    helo: Option<&str>,
    auth_user: Option<&str>,
    m: &Message,
) -> Option<Reply> {
    if cfg.policy.dmarc_reject != DmarcReject::Smtp || auth_user.is_some() {
        return None;
    }
    let env = Envelope {
        sender: m.sender.clone(),
        recipients: m.recipients.iter().map(|r| Recipient::new(r)).collect(),
        client_ip: Some(ip.to_string()),
        client_helo: helo.map(str::to_string),
        ..Envelope::default()
    };
    let v = authres::verify(cfg, &env, &m.body);
    if !v.dmarc_reject {
        return None;
    }
    mlog!(
        "reject: DATA from={ip} sender=<{}>: DMARC {} for {} (p=reject) spf={} dkim={}",
        m.sender,
        v.dmarc,
        v.dmarc_domain,
        v.spf,
        v.dkim
    );
    Some(refusals::dmarc_reject(&v.dmarc_domain))
}
