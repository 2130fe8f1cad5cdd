//! SMTP server protocol (RFC 5321 with PIPELINING, SIZE, 8BITMIME, SMTPUTF8,
//! ENHANCEDSTATUSCODES, CHUNKING, STARTTLS, AUTH PLAIN/LOGIN, DSN, FUTURERELEASE and
//! REQUIRETLS), sans-I/O.
//!
//! Owns: command parsing (`command`), address syntax (`address`), DSN parameters and xtext
//! (`dsn`), FUTURERELEASE holds (`release`), DATA/BDAT framing and the
//! smuggling-safe end-of-data rule (`data`), the session state machine (`session`) and every
//! reply text (`reply`). Leaves alone: sockets, TLS, files, the clock, config and lookups –
//! the caller feeds bytes in, takes events out, and answers the session's questions.
//! Never fails and never panics on input: every problem becomes an SMTP reply.
//!
//! ```text
//!   let mut s = Session::new(settings);
//!   loop { match s.next_event() {
//!       Event::Reply(r)      => write r.to_bytes(),
//!       Event::NeedInput     => flush, read, s.feed(bytes),
//!       Event::Recipient(a)  => s.recipient_result(lookup(a)),
//!       Event::Message(m)    => s.message_result(enqueue(m)),
//!       Event::Close         => break, …
//!   } }
//! ```
//!
//! State diagram: see `session::State`.

pub mod address;
pub mod command;
pub mod data;
pub mod dsn;
pub mod release;
pub mod reply;
pub mod session;

pub use reply::Reply;
pub use session::{Event, Message, Session, Settings};

#[cfg(test)]
mod tests;
