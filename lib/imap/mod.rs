//! IMAP protocol (RFC 3501, with IDLE, LITERAL+, SASL-IR, UIDPLUS, MOVE, UNSELECT, ID,
//! ENABLE, NAMESPACE, QUOTA, ESEARCH, CONDSTORE, LIST-EXTENDED, LIST-STATUS, and IMAP4rev2
//! when ENABLEd), sans-I/O: bytes in, events and response bytes out. The session remembers
//! what ENABLE turned on (CONDSTORE, IMAP4rev2) for the caller to ask.
//!
//! Commands are framed and parsed by imap-codec (`Fragmentizer` + `CommandCodec`): it splits
//! lines from literals and caps the size of one command before parsing. This module adds the
//! connection state machine (RFC 3501 section 3), the `+` continuation for synchronising
//! literals, AUTHENTICATE PLAIN (with SASL-IR), IDLE/DONE, and the commands that need no
//! mailbox (CAPABILITY, NOOP, LOGOUT, ID, ENABLE, STARTTLS's reply). Everything that touches a
//! mailbox comes out as an `Event` for the caller (`lib/imapd`) to answer with `reply`.
//! SEARCH's ESEARCH `RETURN (…)` options, which imap-codec does not parse, are taken off
//! by `esearch` first and travel in the event; extended LISTs (LIST-EXTENDED, LIST-STATUS)
//! are parsed by `list_ext` and come out as their own event.
//!
//! Never touches sockets, files, the clock or config; the caller passes `Settings`.
//! Bad input is answered with a tagged (or untagged) BAD and the session goes on; too many
//! bad commands in a row end it with BYE.

pub mod esearch;
pub mod list_ext;
pub mod reply;
pub mod session;
pub mod utf7;

pub use session::{Event, Session, Settings, State};

/// imap-types' command type, re-exported so callers need not name the crate.
pub use imap_codec::imap_types;

#[cfg(test)]
mod tests;
