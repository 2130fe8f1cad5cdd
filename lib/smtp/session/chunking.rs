//! BDAT (RFC 3030 CHUNKING) for the session: exact octet counts, binary, no unstuffing.
//! A refused chunk is still consumed in full before its reply, so the byte stream never
//! desynchronises; a transaction that grows past the size limit is ended with 552.

use super::{Session, State};
use crate::smtp::reply;

impl Session {
    pub(super) fn bdat(&mut self, size: u64, last: bool) {
        let max = self.settings.max_message_size;
        let refuse = match (&self.state, self.txn.as_ref()) {
            (_, None) if self.helo.is_none() => Some(reply::need_helo()),
            (_, None) => Some(reply::need_mail()),
            (State::Mail, Some(_)) => Some(reply::no_valid_recipients()),
            (_, Some(t)) if (t.chunks.len() as u64).saturating_add(size) > max => {
                Some(reply::message_too_big())
            }
            _ => None,
        };
        if refuse.is_none() {
            if let Some(t) = self.txn.as_mut() {
                t.chunking = true;
            }
        }
        self.state = State::Chunk {
            remaining: size,
            last,
            refuse,
        };
    }

    pub(super) fn store_chunk(&mut self, bytes: &[u8]) {
        if let (State::Chunk { refuse: None, .. }, Some(t)) = (&self.state, self.txn.as_mut()) {
            t.chunks.extend_from_slice(bytes);
        }
    }

    pub(super) fn finish_chunk(&mut self) {
        let State::Chunk { last, refuse, .. } = std::mem::replace(&mut self.state, State::Rcpt)
        else {
            return;
        };
        if let Some(r) = refuse {
            // A transaction that overflowed is over; a sequence error leaves state as it was.
            if r == reply::message_too_big() {
                self.end_transaction();
            } else {
                self.state = match &self.txn {
                    _ if self.helo.is_none() => State::Greeting,
                    Some(t) if !t.recipients.is_empty() => State::Rcpt,
                    Some(_) => State::Mail,
                    None => State::Ready,
                };
            }
            return self.reply(r);
        }
        let size = self.txn.as_ref().map_or(0, |t| t.chunks.len() as u64);
        if !last {
            return self.reply(reply::chunk_ok(size));
        }
        let body = self
            .txn
            .as_mut()
            .map(|t| std::mem::take(&mut t.chunks))
            .unwrap_or_default();
        self.deliver(body);
    }
}
