//! The DATA receiver: consumes the bytes after `354` until the one true end of data,
//! `CRLF . CRLF` (the CRLF before the dot may be the one that ended the DATA command),
//! removes dot-stuffing, and judges the message as it goes. Never ends on `\n.\n`,
//! `\n.\r\n` or `\r.\r` (SMTP smuggling): a bare CR or bare LF marks the whole message bad,
//! and it is refused once the real end arrives. Also flags lines over 1000 octets (CRLF
//! included) and stops storing (but keeps consuming) past the size limit.
//! Byte-at-a-time state machine, so any split of the input gives the same result.

use super::reply::{self, Reply};

/// RFC 5321 4.5.3.1.6: a text line is at most 1000 octets including CRLF.
pub const MAX_LINE: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// At the start of a line that followed a CRLF (or the start of data).
    LineStart,
    /// Saw `.` at a line start.
    Dot,
    /// Saw `.` CR at a line start.
    DotCr,
    /// Inside a line.
    Mid,
    /// Saw CR inside a line.
    Cr,
}

/// What is wrong with a received message, in order of precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    BareCrLf,
    LongLine,
    TooBig,
}

impl Flaw {
    pub fn reply(self) -> Reply {
        match self {
            Flaw::BareCrLf => reply::bare_cr_or_lf(),
            Flaw::LongLine => reply::data_line_too_long(),
            Flaw::TooBig => reply::message_too_big(),
        }
    }
}

#[derive(Debug)]
pub struct DataReceiver {
    at: At,
    line_len: usize,
    max_size: u64,
    /// Octets of message content seen (after unstuffing), stored or not.
    pub seen: u64,
    pub body: Vec<u8>,
    bare: bool,
    long_line: bool,
    too_big: bool,
}

impl DataReceiver {
    pub fn new(max_size: u64) -> DataReceiver {
        DataReceiver {
            at: At::LineStart,
            line_len: 0,
            max_size,
            seen: 0,
            body: Vec::new(),
            bare: false,
            long_line: false,
            too_big: false,
        }
    }

    /// Consumes bytes; returns how many were used and whether the end of data was reached
    /// (bytes after the end belong to the next command).
    pub fn feed(&mut self, input: &[u8]) -> (usize, bool) {
        for (i, &b) in input.iter().enumerate() {
            if self.step(b) {
                return (i + 1, true);
            }
        }
        (input.len(), false)
    }

    /// The first flaw, if the message must be refused.
    pub fn flaw(&self) -> Option<Flaw> {
        if self.bare {
            Some(Flaw::BareCrLf)
        } else if self.long_line {
            Some(Flaw::LongLine)
        } else if self.too_big {
            Some(Flaw::TooBig)
        } else {
            None
        }
    }

    fn step(&mut self, b: u8) -> bool {
        match self.at {
            At::LineStart if b == b'.' => {
                self.line_len = 1;
                self.at = At::Dot;
            }
            At::LineStart => {
                self.line_len = 0;
                self.mid(b);
            }
            At::Dot if b == b'\r' => self.at = At::DotCr,
            // Dot-stuffed line: the leading dot is dropped, the rest kept.
            At::Dot => self.mid(b),
            At::DotCr if b == b'\n' => return true,
            At::DotCr => {
                // ".\r" then something other than LF: bare CR.
                self.bare = true;
                self.emit(b'\r');
                self.mid(b);
            }
            At::Mid => self.mid(b),
            At::Cr if b == b'\n' => {
                self.emit(b'\r');
                self.emit(b'\n');
                if self.line_len + 2 > MAX_LINE {
                    self.long_line = true;
                }
                self.at = At::LineStart;
            }
            At::Cr => {
                self.bare = true;
                self.emit(b'\r');
                self.mid(b);
            }
        }
        false
    }

    fn mid(&mut self, b: u8) {
        match b {
            b'\r' => self.at = At::Cr,
            b'\n' => {
                // Bare LF: never a line end for end-of-data purposes.
                self.bare = true;
                self.emit(b'\n');
                self.line_len = 0;
                self.at = At::Mid;
            }
            _ => {
                self.emit(b);
                self.line_len += 1;
                if self.line_len + 2 > MAX_LINE {
                    self.long_line = true;
                }
                self.at = At::Mid;
            }
        }
    }

    fn emit(&mut self, b: u8) {
        self.seen += 1;
        if self.seen > self.max_size {
            self.too_big = true;
        }
        if !self.too_big && !self.bare && !self.long_line {
            self.body.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8], split: usize) -> (DataReceiver, Option<usize>) {
        let mut d = DataReceiver::new(1 << 20);
        let mut used_total = 0;
        for piece in input.chunks(split.max(1)) {
            let (used, done) = d.feed(piece);
            used_total += used;
            if done {
                return (d, Some(used_total));
            }
        }
        (d, None)
    }

    fn all_splits(input: &[u8]) -> Vec<(DataReceiver, Option<usize>)> {
        [1, 2, 3, 7, input.len()]
            .iter()
            .map(|s| run(input, *s))
            .collect()
    }

    #[test]
    fn unstuffs_and_ends_only_on_crlf_dot_crlf() {
        let input = b"Subject: x\r\n\r\n..leading dot\r\n.\r\nNOOP\r\n";
        for (d, used) in all_splits(input) {
            assert_eq!(d.body, b"Subject: x\r\n\r\n.leading dot\r\n");
            assert_eq!(used, Some(input.len() - 6));
            assert_eq!(d.flaw(), None);
        }
    }

    #[test]
    fn empty_message() {
        let (d, used) = run(b".\r\n", 1);
        assert_eq!(used, Some(3));
        assert!(d.body.is_empty());
    }

    #[test]
    fn smuggling_attempts_do_not_end_data() {
        for attack in [
            &b"a\n.\nMAIL FROM:<x@y>\r\n"[..],
            b"a\n.\r\nMAIL FROM:<x@y>\r\n",
            b"a\r.\rMAIL FROM:<x@y>\r\n",
            b"a\r\n.\nMAIL FROM:<x@y>\r\n",
            b"a\r\n.\r.\r\n",
        ] {
            for (d, used) in all_splits(attack) {
                assert_eq!(used, None, "{attack:?} ended data");
                let _ = d;
            }
            let mut full = attack.to_vec();
            full.extend_from_slice(b"\r\n.\r\n");
            for (d, used) in all_splits(&full) {
                assert_eq!(used, Some(full.len()));
                assert_eq!(d.flaw(), Some(Flaw::BareCrLf), "{attack:?}");
            }
        }
    }

    #[test]
    fn long_lines_flagged() {
        let mut m = vec![b'x'; 998];
        m.extend_from_slice(b"\r\n.\r\n");
        assert_eq!(run(&m, 5).0.flaw(), None);
        let mut m = vec![b'x'; 999];
        m.extend_from_slice(b"\r\n.\r\n");
        assert_eq!(run(&m, 5).0.flaw(), Some(Flaw::LongLine));
    }

    #[test]
    fn size_limit_consumes_but_stops_storing() {
        let mut d = DataReceiver::new(10);
        let (used, done) = d.feed(b"0123456789abcdef\r\n.\r\nQUIT\r\n");
        assert!(done);
        assert_eq!(used, 21);
        assert_eq!(d.flaw(), Some(Flaw::TooBig));
        assert!(d.body.len() <= 10);
    }
}
