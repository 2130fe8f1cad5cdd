//! AUTH (RFC 4954) for the session: PLAIN (RFC 4616) and LOGIN, with or without an
//! initial response, `*` to cancel. Only decodes; the caller checks the password.
//! The TLS rule (no AUTH in plain text unless allowed) is enforced here.

use base64::Engine;

use super::{Event, Pending, Session, State};
use crate::smtp::command::Mechanism;
use crate::smtp::reply;

impl Session {
    pub(super) fn auth(&mut self, mechanism: Mechanism, initial: Option<String>) {
        if !self.settings.auth {
            return self.reply(reply::auth_not_available());
        }
        if self.helo.is_none() {
            return self.reply(reply::need_helo());
        }
        if self.auth_user.is_some() {
            return self.reply(reply::auth_already());
        }
        if self.txn.is_some() {
            return self.reply(reply::auth_in_transaction());
        }
        if !self.auth_allowed_now() {
            return self.reply(reply::encryption_required());
        }
        match (mechanism, initial) {
            (Mechanism::Plain, None) => {
                self.state = State::AuthPlain;
                self.reply(reply::auth_challenge(""));
            }
            (Mechanism::Login, None) => {
                self.state = State::AuthLoginUser;
                self.reply(reply::auth_challenge("VXNlcm5hbWU6"));
            }
            (_, Some(ir)) => {
                self.state = match mechanism {
                    Mechanism::Plain => State::AuthPlain,
                    Mechanism::Login => State::AuthLoginUser,
                };
                // RFC 4954 4: "=" is an empty initial response.
                let ir = if ir == "=" { String::new() } else { ir };
                self.auth_response(ir.as_bytes());
            }
        }
    }

    /// One client response line while in an AUTH sub-state.
    pub(super) fn auth_response(&mut self, line: &[u8]) {
        let state = std::mem::replace(&mut self.state, State::Ready);
        if line == b"*" {
            return self.reply(reply::auth_cancelled());
        }
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(line) else {
            return self.reply(reply::auth_bad_base64());
        };
        match state {
            State::AuthPlain => match crate::sasl::decode_plain(&decoded).ok() {
                Some((user, password)) => {
                    self.ask(Pending::Auth(user.clone()), Event::Auth { user, password })
                }
                None => self.reply(reply::auth_failed()),
            },
            State::AuthLoginUser => match String::from_utf8(decoded) {
                Ok(user) => {
                    self.state = State::AuthLoginPass(user);
                    self.reply(reply::auth_challenge("UGFzc3dvcmQ6"));
                }
                Err(_) => self.reply(reply::auth_bad_base64()),
            },
            State::AuthLoginPass(user) => match String::from_utf8(decoded) {
                Ok(password) => {
                    self.ask(Pending::Auth(user.clone()), Event::Auth { user, password })
                }
                Err(_) => self.reply(reply::auth_bad_base64()),
            },
            _ => {}
        }
    }
}
