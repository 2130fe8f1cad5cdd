//! authres: SPF (RFC 7208), DKIM (RFC 6376) and DMARC (RFC 7489) verification of one
//! received message with mail-auth, summed up as an RFC 8601 `Authentication-Results`
//! header field and a score contribution (weights from `[policy.weights]`).
//!
//! Used by spam-scan (header + score) and by smtpd when `[policy] dmarc_reject = "smtp"`
//! (the `dmarc_reject` flag), and by `mailctl check-auth`. Owns the lookups (through
//! `mail::dns`, so `[dns] servers` applies) and the verdict; leaves alone the message, the
//! spool and what is done with the verdict (adding the header, filing, rejecting).
//!
//! API for callers:
//! - long-running programs (spam-scan): `let v = Verifier::new(cfg)?;` once, then
//!   `v.verify(&envelope, &message)` per message (the resolver cache and runtime are kept);
//! - one-shot callers (smtpd, mailctl): `authres::verify(cfg, &envelope, &message)`.
//!
//! The envelope gives the client IP (`client_ip`), HELO (`client_helo`), MAIL FROM
//! (`sender`) and `auth_user`: an authenticated submission is not checked (no DNS at all)
//! and gets `auth=pass smtp.auth=USER` and score 0.
//!
//! The allow list and DNS list findings are not here: `mail::access::facts(cfg, &envelope)`
//! gives `allowlisted`, the DNSBL/DNSWL zones and their score, from the envelope fields smtpd
//! records or, where they are missing, by checking again.
//!
//! Never fails: a DNS failure or timeout is recorded as `temperror` (score 0, no reject);
//! a message mail-auth cannot parse gets `dkim=none`/`dmarc=none`.

mod check;
mod score;

pub use score::{score, Outcome};

use crate::config::Config;
use crate::spool::Envelope;

/// Name of the header field this module writes (spam-scan strips forged copies of it).
pub const HEADER: &str = "Authentication-Results";

/// The result of verifying one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The whole header field, `Authentication-Results: <hostname>; spf=… smtp.mailfrom=…;
    /// dkim=… header.d=… header.s=…; dmarc=… header.from=…` folded with CRLF TAB and ending
    /// in CRLF: prepend it to the message as it is.
    pub header: String,
    /// Score contribution (positive: spammier), from `[policy.weights]`.
    pub score: f64,
    /// DMARC failed and the From domain publishes `p=reject` (after `t=y`/`pct` handling).
    pub dmarc_reject: bool,
    pub spf: Outcome,
    /// Best DKIM result over all signatures (`Pass` if any passes).
    pub dkim: Outcome,
    pub dmarc: Outcome,
    /// The DMARC policy domain (RFC5322.From domain), empty when there was none.
    pub dmarc_domain: String,
    /// Authentication was skipped for an authenticated submission.
    pub submission: bool,
}

/// SPF/DKIM/DMARC checks with one resolver and runtime, for callers that verify many messages.
pub struct Verifier {
    hostname: String,
    weights: crate::config::policy::Weights,
    limit: std::time::Duration,
    runtime: tokio::runtime::Runtime,
    auth: mail_auth::MessageAuthenticator,
}

impl Verifier {
    /// Builds the resolver from `[dns]`. Errors: the runtime or resolver could not be set up
    /// (e.g. `/etc/resolv.conf` unreadable with no `[dns] servers`).
    pub fn new(cfg: &Config) -> Result<Verifier, String> {
        let runtime = crate::dns::runtime().map_err(|e| format!("tokio runtime: {e}"))?;
        let auth = {
            let _guard = runtime.enter();
            crate::dns::authenticator(&cfg.dns)?
        };
        Ok(Verifier {
            hostname: cfg.hostname.clone(),
            weights: cfg.policy.weights.clone(),
            limit: check::overall_limit(cfg.dns.timeout),
            runtime,
            auth,
        })
    }

    /// Verifies `message` (the bytes as received, headers first) as sent by `env`'s client.
    pub fn verify(&self, env: &Envelope, message: &[u8]) -> Verdict {
        if let Some(user) = env.auth_user.as_deref() {
            return submission(&self.hostname, user);
        }
        let found = self.runtime.block_on(async {
            let checks = check::run(&self.auth, &self.hostname, env, message);
            tokio::time::timeout(self.limit, checks).await
        });
        let found = found.unwrap_or_else(|_| check::Found::temperror(&self.hostname));
        found.verdict(&self.weights)
    }
}

/// One-shot verification: builds a `Verifier` for this message only. A resolver that cannot
/// be built gives a `temperror` verdict (score 0, no reject), logged by the caller's header.
pub fn verify(cfg: &Config, env: &Envelope, message: &[u8]) -> Verdict {
    if let Some(user) = env.auth_user.as_deref() {
        return submission(&cfg.hostname, user);
    }
    match Verifier::new(cfg) {
        Ok(v) => v.verify(env, message),
        Err(e) => {
            crate::mlog!("warning: authentication checks unavailable: {e}");
            check::Found::temperror(&cfg.hostname).verdict(&cfg.policy.weights)
        }
    }
}

fn submission(hostname: &str, user: &str) -> Verdict {
    Verdict {
        header: format!(
            "{HEADER}: {hostname};\r\n\tauth=pass smtp.auth={}\r\n",
            check::pvalue(user)
        ),
        score: 0.0,
        dmarc_reject: false,
        spf: Outcome::None,
        dkim: Outcome::None,
        dmarc: Outcome::None,
        dmarc_domain: String::new(),
        submission: true,
    }
}
