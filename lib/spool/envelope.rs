//! The envelope: who a message is from and for, and what has happened to each recipient.
//! Stored as TOML beside the message (`<stage>/<id>/envelope`) so an admin can read it.
//! Unknown fields are kept out of `deny_unknown_fields` on purpose: a newer program may add
//! fields while an older stage still runs.

use serde::{Deserialize, Serialize};

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
