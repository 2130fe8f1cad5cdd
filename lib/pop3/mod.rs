//! POP3 server protocol (RFC 1939 with RFC 2449 CAPA and response codes, RFC 2595 STLS,
//! RFC 5034 SASL PLAIN), sans-I/O.
//!
//! Owns: command parsing (`command`), the session state machine with the maildrop view and
//! deletion marks (`session`), message framing and octet counts (`wire`) and every reply
//! text (`reply`). Leaves alone: sockets, TLS, files, the clock, passwords and config – the
//! caller feeds bytes in, takes output and events out, and answers the session's questions.
//! Never fails and never panics on input: every problem becomes a `-ERR` line.
//!
//! ```text
//!   let mut s = Session::new(settings);
//!   loop { match s.next_event() {
//!       Event::NeedInput            => write s.take_output(), read, s.feed(bytes),
//!       Event::Login { .. }         => s.login_result(check_and_lock()),
//!       Event::Retrieve { index, .. } => s.retrieve_result(read(index)),
//!       Event::Update { deletions } => s.update_result(delete(deletions)),
//!       Event::StartTls             => write output, handshake, s.tls_started(),
//!       Event::Flush                => write s.take_output(),
//!       Event::Close | Event::Awaiting => write output, break,
//!   } }
//! ```
//!
//! State diagram: see `session`.

pub mod command;
pub mod reply;
pub mod session;
pub mod wire;

pub use session::{Event, LoginError, MsgInfo, RetrieveError, Session, Settings};

#[cfg(test)]
mod tests;
