//! The envelope: who a message is from and for, and what has happened to each recipient.
//! Stored as TOML beside the message (`<stage>/<id>/envelope`) so an admin can read it.
//! Unknown fields are kept out of `deny_unknown_fields` on purpose: a newer program may add
//! fields while an older stage still runs.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    /// Queue id, set by the spool when the message is committed.
    #[serde(default)]
    pub id: String,
    /// Envelope sender without angle brackets; empty for the null sender `<>`.
    pub sender: String,
    pub recipients: Vec<Recipient>,
    #[serde(default)]
    pub client_ip: Option<String>,
    #[serde(default)]
    pub client_helo: Option<String>,
    /// The SMTP AUTH identity, when the client authenticated.
    #[serde(default)]
    pub auth_user: Option<String>,
    /// Unix seconds when smtpd committed the message.
    #[serde(default)]
    pub received_at: u64,
    /// Delivery attempts so far (queue-runner).
    #[serde(default)]
    pub attempts: u32,
    /// Unix seconds before which queue-runner leaves the message alone.
    #[serde(default)]
    pub next_attempt: u64,
    /// The message was sent with BODY=8BITMIME.
    #[serde(default)]
    pub eight_bit: bool,
    /// The transaction used SMTPUTF8.
    #[serde(default)]
    pub smtputf8: bool,
    /// Set by earlier spam-scans once they had added their header; still honoured (no second
    /// header), no longer written: spam-scan now recognises its header at the top instead,
    /// which spares an envelope rewrite per message.
    #[serde(default)]
    pub scanned: bool,
    /// Why spam-scan put the message in `quarantine/` (`virus Eicar-Signature`, or
    /// `score 16.2 >= 15.0`); `None` outside quarantine. Read by `mailctl quarantine`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine_reason: Option<String>,
    /// DSN RET of MAIL (RFC 3461 4.3): `FULL` or `HDRS`; `None` when the client gave none
    /// (a bounce then returns the full message up to `[bounce] max_returned_size`).
    #[serde(default)]
    pub ret: Option<String>,
    /// DSN ENVID of MAIL (RFC 3461 4.4), xtext-decoded; copied into DSNs.
    #[serde(default)]
    pub envid: Option<String>,
    /// DSN NOTIFY per RCPT (RFC 3461 4.1), keyed by the RCPT address as recorded (a
    /// recipient's `original`, else its `address`): `NEVER` or a comma list of `SUCCESS`,
    /// `FAILURE`, `DELAY`. A recipient missing here gave none (failure and delay notices).
    /// Kept beside the recipients, not in them, so alias expansion carries it unchanged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dsn_notify: BTreeMap<String, String>,
    /// DSN ORCPT per RCPT (RFC 3461 4.2), keyed like `dsn_notify`: `addr-type;address`,
    /// xtext-decoded, e.g. `rfc822;user@example.org`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dsn_orcpt: BTreeMap<String, String>,
    /// FUTURERELEASE (RFC 4865): unix seconds before which the message must not be
    /// delivered; 0 for none. smtpd also sets `next_attempt` to it, so queue-runner waits.
    #[serde(default)]
    pub hold_until: u64,
    /// The sender's copy of a held (FUTURERELEASE) message in their `.Scheduled` Maildir++
    /// folder: the copy's unique file-name base (no `:2,` suffix), written by smtpd for an
    /// authenticated local user. Deleting the copy recalls the message; at release time
    /// queue-runner checks for it (see `mail::scheduled`). `None`: no copy, not recallable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_copy: Option<String>,
    /// queue-runner found the `.Scheduled` copy at release time and decided to send: from
    /// then on the copy's absence no longer recalls the message (crash safety).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub released: bool,
    /// REQUIRETLS (RFC 8689) was given on MAIL: relay only over verified TLS.
    #[serde(default)]
    pub require_tls: bool,
    /// A delay warning DSN has been sent for this message (sent once).
    #[serde(default)]
    pub delay_warned: bool,
    /// DNS block list zones that listed the client when smtpd accepted it with
    /// `[policy] dnsbl_action = "score"` (spam-scan adds `dnsbl_score` per zone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dnsbl_hits: Vec<String>,
    /// DNS allow list zones that listed the client (spam-scan adds `dnswl_score` per zone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dnswl_hits: Vec<String>,
    /// The sender or client is on an allow list (`mailctl allow`): spam-scan skips scoring
    /// (virus scanning still applies).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allowlisted: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Recipient {
    /// The address to deliver to (after alias expansion, a final address).
    pub address: String,
    /// The address as the client gave it in RCPT TO, when expansion changed it.
    #[serde(default)]
    pub original: Option<String>,
    #[serde(default)]
    pub state: RcptState,
    /// The last reply or reason, e.g. `451 4.2.2 mailbox full`.
    #[serde(default)]
    pub reply: Option<String>,
    /// True once aliases have been applied to this recipient (expansion happens once).
    #[serde(default)]
    pub expanded: bool,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RcptState {
    /// Not yet tried.
    #[default]
    Pending,
    /// Tried, failed temporarily; retried later.
    Deferred,
    /// Delivered; never tried again.
    Delivered,
    /// Failed permanently; needs a bounce.
    Failed,
}

impl RcptState {
    /// Delivered or Failed: nothing more will be tried for this recipient.
    pub fn is_final(self) -> bool {
        matches!(self, RcptState::Delivered | RcptState::Failed)
    }
}

impl Recipient {
    pub fn new(address: &str) -> Recipient {
        Recipient {
            address: address.to_string(),
            ..Recipient::default()
        }
    }
}

impl Envelope {
    /// True when every recipient is Delivered or Failed.
    pub fn is_done(&self) -> bool {
        self.recipients.iter().all(|r| r.state.is_final())
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("envelope always serialises")
    }

    pub fn from_toml(text: &str) -> Result<Envelope, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_odd_addresses() {
        let env = Envelope {
            sender: String::new(),
            recipients: vec![
                Recipient::new("\"a b\\\"c\"@example.test"),
                Recipient::new("ü@ex.test"),
            ],
            ..Envelope::default()
        };
        assert_eq!(Envelope::from_toml(&env.to_toml()).unwrap(), env);
    }
}
