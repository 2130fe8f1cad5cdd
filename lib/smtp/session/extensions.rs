//! The session's MAIL/RCPT extensions beyond the base protocol: DSN (RFC 3461, offered to
//! everyone), FUTURERELEASE (RFC 4865, offered where MAIL needs AUTH, i.e. submission) and
//! REQUIRETLS (RFC 8689, offered only once the connection is TLS). Decides what the EHLO
//! reply lists and refuses parameters the session did not offer.
//!
//! The clock: FUTURERELEASE needs "now" to advertise its latest date and to turn a hold
//! into a release time. The session reads it through `clock` (a plain function, the system
//! clock unless `set_clock` replaced it), once per EHLO and once per MAIL with a hold.

use super::Session;
use crate::smtp::command::MailFrom;
use crate::smtp::dsn::Notify;
use crate::smtp::release::{self, MAX_HOLD_SECS};
use crate::smtp::reply::{self, Reply};
use std::time::{SystemTime, UNIX_EPOCH};

/// DSN parameters of one accepted recipient.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RcptDsn {
    pub notify: Option<Notify>,
    /// `addr-type;address`, xtext-decoded.
    pub orcpt: Option<String>,
}

/// Unix seconds from the system clock.
pub(super) fn system_clock() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Session {
    /// Replaces the clock (tests; a driver with its own notion of time).
    pub fn set_clock(&mut self, clock: fn() -> u64) {
        self.clock = clock;
    }

    /// FUTURERELEASE is offered: the submission roles (MAIL needs AUTH there).
    fn future_release(&self) -> bool {
        self.settings.auth_required
    }

    pub(super) fn extension_keywords(&self) -> Vec<String> {
        let mut kw = vec!["DSN".to_string()];
        if self.future_release() {
            kw.push(release::keyword((self.clock)(), MAX_HOLD_SECS));
        }
        if self.tls_active {
            kw.push("REQUIRETLS".into());
        }
        kw
    }

    /// Refuses extension parameters not offered here; returns the release time of a hold
    /// (0 for none).
    pub(super) fn check_mail_extensions(&self, m: &MailFrom) -> Result<u64, Reply> {
        if m.require_tls && !self.tls_active {
            return Err(reply::requiretls_needs_tls());
        }
        let Some(hold) = m.hold else {
            return Ok(0);
        };
        if !self.future_release() {
            let name = match hold {
                release::Hold::For(_) => "HOLDFOR",
                release::Hold::Until(_) => "HOLDUNTIL",
            };
            return Err(reply::unsupported_parameter(name));
        }
        hold.release_at((self.clock)(), MAX_HOLD_SECS)
    }
}
