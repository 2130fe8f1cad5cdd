//! SMTP replies as the client reads them (RFC 5321 section 4.2): bytes in, whole replies
//! out, multi-line replies joined. Sans-I/O: `ReplyReader::feed` takes what the socket gave,
//! `next` returns a reply, `None` (need more bytes) or an error for a malformed or
//! oversized reply (the caller drops the connection: a peer that speaks garbage is a
//! temporary failure, never a crash).

use crate::spool::RcptState;

/// Longest reply line accepted (RFC 5321 allows 512; peers exceed it).
const MAX_LINE: usize = 4096;
/// Most lines in one reply (an EHLO reply has a few dozen at most).
const MAX_LINES: usize = 200;

/// One complete reply: its code and the text of each line (without `NNN-`/`NNN `).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn new(code: u16, text: &str) -> Reply {
        Reply {
            code,
            lines: vec![text.to_string()],
        }
    }

    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    /// The recipient state this reply gives: 2xx delivered, 5xx failed, anything else
    /// (4xx, or a code that makes no sense here) deferred.
    pub fn state(&self) -> RcptState {
        match self.code / 100 {
            2 => RcptState::Delivered,
            5 => RcptState::Failed,
            _ => RcptState::Deferred,
        }
    }

    /// One line for logs and envelopes: `550 5.1.1 text text`, with an enhanced status code
    /// added (x.0.0) when the peer gave none, so the class is always readable.
    pub fn one_line(&self) -> String {
        let text: Vec<&str> = self.lines.iter().map(|l| l.trim()).collect();
        let mut text = text.join(" ");
        text.retain(|c| !c.is_control());
        let class = self.code / 100;
        let has_enhanced = text
            .split(' ')
            .next()
            .is_some_and(|w| is_enhanced(w, class));
        match (has_enhanced, class) {
            (true, _) => format!("{} {text}", self.code),
            (false, 2 | 4 | 5) => format!("{} {class}.0.0 {text}", self.code),
            (false, _) => format!("{} {text}", self.code),
        }
    }
}

/// `x.y.z` with the reply's class as x.
fn is_enhanced(w: &str, class: u16) -> bool {
    let mut parts = w.split('.');
    let first_ok = parts.next() == Some(&class.to_string()[..]);
    let rest: Vec<&str> = parts.collect();
    first_ok
        && rest.len() == 2
        && rest
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("malformed reply line: {0:?}")]
    Malformed(String),
    #[error("reply too long")]
    TooLong,
}

/// Splits the byte stream into replies.
#[derive(Debug, Default)]
pub struct ReplyReader {
    buf: Vec<u8>,
    code: Option<u16>,
    lines: Vec<String>,
}

impl ReplyReader {
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// True when bytes are waiting that belong to no complete reply yet.
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty() || self.code.is_some()
    }

    /// The next complete reply, `Ok(None)` when more input is needed.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, ReplyError> {
        loop {
            let Some(nl) = self.buf.iter().position(|&b| b == b'\n') else {
                if self.buf.len() > MAX_LINE {
                    return Err(ReplyError::TooLong);
                }
                return Ok(None);
            };
            let raw: Vec<u8> = self.buf.drain(..=nl).collect();
            if raw.len() > MAX_LINE {
                return Err(ReplyError::TooLong);
            }
            let line = String::from_utf8_lossy(&raw);
            let line = line.trim_end_matches(['\r', '\n']);
            let b = line.as_bytes();
            let code = match b.get(..3) {
                Some(d) if d.iter().all(u8::is_ascii_digit) && d[0] != b'0' => {
                    line[..3].parse::<u16>().unwrap_or(0)
                }
                _ => return Err(ReplyError::Malformed(line.chars().take(80).collect())),
            };
            let sep = b.get(3).copied();
            if !matches!(sep, None | Some(b' ') | Some(b'-')) {
                return Err(ReplyError::Malformed(line.chars().take(80).collect()));
            }
            if self.code.is_some_and(|c| c != code) {
                return Err(ReplyError::Malformed(line.chars().take(80).collect()));
            }
            self.code = Some(code);
            self.lines.push(line.get(4..).unwrap_or("").to_string());
            if self.lines.len() > MAX_LINES {
                return Err(ReplyError::TooLong);
            }
            if sep != Some(b'-') {
                self.code = None;
                return Ok(Some(Reply {
                    code,
                    lines: std::mem::take(&mut self.lines),
                }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], chunk: usize) -> Result<Vec<Reply>, ReplyError> {
        let mut r = ReplyReader::default();
        let mut out = Vec::new();
        for c in input.chunks(chunk) {
            r.feed(c);
            while let Some(rep) = r.next_reply()? {
                out.push(rep);
            }
        }
        Ok(out)
    }

    #[test]
    fn multi_line_in_every_split() {
        let input = b"250-mx.b.test hi\r\n250-PIPELINING\r\n250 SIZE 1000\r\n220 go\n";
        for chunk in 1..input.len() {
            let got = all(input, chunk).unwrap();
            assert_eq!(got.len(), 2);
            assert_eq!(got[0].code, 250);
            assert_eq!(
                got[0].lines,
                vec!["mx.b.test hi", "PIPELINING", "SIZE 1000"]
            );
            assert_eq!(got[1], Reply::new(220, "go"));
        }
    }

    #[test]
    fn garbage_and_floods_are_errors() {
        assert!(all(b"hello\r\n", 100).is_err());
        assert!(all(b"250-a\r\n251 b\r\n", 100).is_err());
        assert!(all(b"2500 x\r\n", 100).is_err());
        assert!(all(&vec![b'2'; 10000], 100).is_err());
        let many = "250-x\r\n".repeat(300);
        assert!(all(many.as_bytes(), 100).is_err());
        assert_eq!(all(b"250\r\n", 3).unwrap()[0].lines, vec![""]);
    }

    #[test]
    fn one_line_keeps_or_adds_enhanced_codes() {
        assert_eq!(
            Reply::new(550, "5.1.1 no such user").one_line(),
            "550 5.1.1 no such user"
        );
        assert_eq!(
            Reply::new(451, "try later").one_line(),
            "451 4.0.0 try later"
        );
        let r = Reply {
            code: 554,
            lines: vec!["a\x07".into(), "b".into()],
        };
        assert_eq!(r.one_line(), "554 5.0.0 a b");
        assert_eq!(Reply::new(451, "x").state(), RcptState::Deferred);
        assert_eq!(Reply::new(250, "x").state(), RcptState::Delivered);
        assert_eq!(Reply::new(552, "x").state(), RcptState::Failed);
    }
}
