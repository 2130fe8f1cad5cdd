//! Turning authentication results into a score contribution, with `[policy.weights]`.
//! Pure arithmetic; no lookups.

use mail_auth::dmarc::Policy;

use crate::config::policy::Weights;

/// One method's result, as RFC 8601 names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    None,
    TempError,
    PermError,
}

impl Outcome {
    /// The RFC 8601 result keyword (`pass`, `softfail`, `temperror` …).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::SoftFail => "softfail",
            Outcome::Neutral => "neutral",
            Outcome::None => "none",
            Outcome::TempError => "temperror",
            Outcome::PermError => "permerror",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The sum of each method's weight; errors and `none` count nothing, a DMARC failure
/// counts by the domain's policy, a DKIM `neutral` (body changed) as a DKIM failure.
pub fn score(w: &Weights, spf: Outcome, dkim: Outcome, dmarc: Outcome, policy: Policy) -> f64 {
    let spf = match spf {
        Outcome::Pass => w.spf_pass,
        Outcome::Fail => w.spf_fail,
        Outcome::SoftFail => w.spf_softfail,
        _ => 0.0,
    };
    // mail-auth calls a signature whose body hash does not match "neutral"; RFC 6376 6.1.3
    // calls it failed, and so does the score.
    let dkim = match dkim {
        Outcome::Pass => w.dkim_pass,
        Outcome::Fail | Outcome::Neutral => w.dkim_fail,
        _ => 0.0,
    };
    let dmarc = match (dmarc, policy) {
        (Outcome::Pass, _) => w.dmarc_pass,
        (Outcome::Fail, Policy::Reject) => w.dmarc_reject,
        (Outcome::Fail, Policy::Quarantine) => w.dmarc_quarantine,
        (Outcome::Fail, _) => w.dmarc_fail,
        _ => 0.0,
    };
    spf + dkim + dmarc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_add_up() {
        let w = Weights::default();
        let all_fail = score(
            &w,
            Outcome::Fail,
            Outcome::Fail,
            Outcome::Fail,
            Policy::Reject,
        );
        assert_eq!(all_fail, w.spf_fail + w.dkim_fail + w.dmarc_reject);
        let pass = score(
            &w,
            Outcome::Pass,
            Outcome::Pass,
            Outcome::Pass,
            Policy::Reject,
        );
        assert_eq!(pass, w.spf_pass + w.dkim_pass + w.dmarc_pass);
        let unknown = score(
            &w,
            Outcome::TempError,
            Outcome::None,
            Outcome::None,
            Policy::None,
        );
        assert_eq!(unknown, 0.0);
        let soft = score(
            &w,
            Outcome::SoftFail,
            Outcome::None,
            Outcome::Fail,
            Policy::Quarantine,
        );
        assert_eq!(soft, w.spf_softfail + w.dmarc_quarantine);
    }
}
