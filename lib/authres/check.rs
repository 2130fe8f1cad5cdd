//! The lookups themselves: SPF (HELO, then MAIL FROM), every DKIM signature, then DMARC over
//! both, each through mail-auth; and the header they add up to.

use std::net::IpAddr;
use std::time::Duration;

use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::dmarc::Policy;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimOutput, DkimResult, DmarcOutput, DmarcResult,
    MessageAuthenticator, SpfOutput, SpfResult,
};

use super::score::{score, Outcome};
use super::{Verdict, HEADER};
use crate::config::policy::Weights;
use crate::spool::Envelope;

/// All lookups of one message together may take this many per-query timeouts: an SPF
/// record may need ten lookups (RFC 7208 4.6.4) and each may be retried, but a message
/// must not hold smtpd or spam-scan for minutes.
pub fn overall_limit(per_query: Duration) -> Duration {
    per_query.saturating_mul(4).max(Duration::from_secs(1))
}

/// What the checks found, owned (mail-auth's outputs borrow the message).
pub struct Found {
    header: String,
    spf: Outcome,
    dkim: Outcome,
    dmarc: Outcome,
    policy: Policy,
    domain: String,
}

impl Found {
    /// Every check ended in a temporary error (timeout, no resolver).
    pub fn temperror(hostname: &str) -> Found {
        Found {
            header: format!(
                "{HEADER}: {hostname};\r\n\tspf=temperror;\r\n\tdkim=temperror;\r\n\tdmarc=temperror\r\n"
            ),
            spf: Outcome::TempError,
            dkim: Outcome::TempError,
            dmarc: Outcome::TempError,
            policy: Policy::Unspecified,
            domain: String::new(),
        }
    }

    pub fn verdict(self, weights: &Weights) -> Verdict {
        let dmarc_reject = self.dmarc == Outcome::Fail && self.policy == Policy::Reject;
        Verdict {
            score: score(weights, self.spf, self.dkim, self.dmarc, self.policy),
            header: self.header,
            dmarc_reject,
            spf: self.spf,
            dkim: self.dkim,
            dmarc: self.dmarc,
            dmarc_domain: self.domain,
            submission: false,
        }
    }
}

pub async fn run(
    auth: &MessageAuthenticator,
    hostname: &str,
    env: &Envelope,
    message: &[u8],
) -> Found {
    let helo = env
        .client_helo
        .as_deref()
        .unwrap_or("")
        .trim_start_matches('[')
        .trim_end_matches(']');
    let ip: Option<IpAddr> = env.client_ip.as_deref().and_then(|s| s.parse().ok());
    let sender = env.sender.as_str();
    let mail_from_domain = match sender.rsplit_once('@') {
        Some((_, d)) => d,
        None => helo,
    };

    let spf = match ip {
        Some(ip) => {
            auth.verify_spf(SpfParameters::verify(ip, helo, hostname, sender))
                .await
        }
        None => SpfOutput::new(mail_from_domain.to_string()),
    };
    let parsed = AuthenticatedMessage::parse(message);
    let dkim: Vec<DkimOutput> = match &parsed {
        Some(m) => auth.verify_dkim(m).await,
        None => Vec::new(),
    };
    let dmarc = match &parsed {
        Some(m) if !m.from.is_empty() => {
            let params = DmarcParameters::new(m, &dkim, mail_from_domain, &spf);
            auth.verify_dmarc(params).await
        }
        _ => DmarcOutput::default(),
    };
    let header_from = parsed
        .as_ref()
        .and_then(|m| m.from.first().cloned())
        .unwrap_or_default();
    Found {
        header: header(
            hostname,
            ip,
            helo,
            sender,
            &spf,
            &dkim,
            &dmarc,
            &header_from,
        ),
        spf: spf_outcome(spf.result()),
        dkim: dkim_outcome(&dkim),
        dmarc: dmarc_outcome(&dmarc.result()),
        policy: dmarc.policy(),
        domain: dmarc.domain().to_string(),
    }
}

#[allow(clippy::too_many_arguments)]
fn header(
    hostname: &str,
    ip: Option<IpAddr>,
    helo: &str,
    sender: &str,
    spf: &SpfOutput,
    dkim: &[DkimOutput],
    dmarc: &DmarcOutput,
    header_from: &str,
) -> String {
    // mail-auth writes the host name, then each method as ";\r\n\tmethod=result …" (and
    // the host name again in SPF comments), so pieces built one method at a time and cut
    // after the host name concatenate into one field.
    let piece = |ar: AuthenticationResults| {
        let text = ar.to_string();
        text.strip_prefix(hostname).unwrap_or(&text).to_string()
    };
    let ar = || AuthenticationResults::new(hostname);
    let mut h = format!("{HEADER}: {hostname}");
    match ip {
        Some(ip) if sender.is_empty() => {
            h.push_str(&piece(ar().with_spf_ehlo_result(spf, ip, helo)))
        }
        Some(ip) => h.push_str(&piece(ar().with_spf_mailfrom_result(spf, ip, sender, helo))),
        None => h.push_str(";\r\n\tspf=none"),
    }
    if dkim.is_empty() {
        h.push_str(";\r\n\tdkim=none");
    } else {
        h.push_str(&piece(ar().with_dkim_results(dkim, header_from)));
    }
    if dmarc.domain().is_empty() {
        h.push_str(";\r\n\tdmarc=none");
    } else {
        h.push_str(&piece(ar().with_dmarc_result(dmarc)));
    }
    h.push_str("\r\n");
    h
}

/// An RFC 8601 pvalue: a token as it is, anything else quoted.
pub fn pvalue(s: &str) -> String {
    let token = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.@".contains(&b));
    if token {
        s.to_string()
    } else {
        let clean: String = s.chars().filter(|c| !c.is_control()).collect();
        format!("\"{}\"", clean.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn spf_outcome(r: SpfResult) -> Outcome {
    match r {
        SpfResult::Pass => Outcome::Pass,
        SpfResult::Fail => Outcome::Fail,
        SpfResult::SoftFail => Outcome::SoftFail,
        SpfResult::Neutral => Outcome::Neutral,
        SpfResult::TempError => Outcome::TempError,
        SpfResult::PermError => Outcome::PermError,
        SpfResult::None => Outcome::None,
    }
}

/// Pass if any signature passes, else the first signature's result.
fn dkim_outcome(all: &[DkimOutput]) -> Outcome {
    if all.iter().any(|o| *o.result() == DkimResult::Pass) {
        return Outcome::Pass;
    }
    match all.first().map(|o| o.result()) {
        None | Some(DkimResult::None) | Some(DkimResult::Pass) => Outcome::None,
        Some(DkimResult::Fail(_)) => Outcome::Fail,
        Some(DkimResult::Neutral(_)) => Outcome::Neutral,
        Some(DkimResult::PermError(_)) => Outcome::PermError,
        Some(DkimResult::TempError(_)) => Outcome::TempError,
    }
}

fn dmarc_outcome(r: &DmarcResult) -> Outcome {
    match r {
        DmarcResult::Pass => Outcome::Pass,
        DmarcResult::Fail(_) => Outcome::Fail,
        DmarcResult::TempError(_) => Outcome::TempError,
        DmarcResult::PermError(_) => Outcome::PermError,
        DmarcResult::None => Outcome::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pvalues_quote_what_is_not_a_token() {
        assert_eq!(pvalue("a@b.test"), "a@b.test");
        assert_eq!(pvalue("a b\"c"), "\"a b\\\"c\"");
        assert_eq!(pvalue("x\r\ny"), "\"xy\"");
        assert_eq!(pvalue(""), "\"\"");
    }

    #[test]
    fn timeouts_are_bounded() {
        assert_eq!(
            overall_limit(Duration::from_secs(5)),
            Duration::from_secs(20)
        );
        assert_eq!(overall_limit(Duration::ZERO), Duration::from_secs(1));
    }
}
