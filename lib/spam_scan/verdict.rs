//! The verdict on one message: parse it with mail-parser, count MIME parts, note problems
//! (unparsable, no From, no Date, 8-bit header bytes), and render the `X-Spam-Scan:` header.
//! Pure: bytes in, report out. The filtering issue adds scores and the reject/quarantine
//! verdicts; today every message passes.

use mail_parser::MessageParser;

/// The header field spam-scan adds.
pub const HEADER: &str = "X-Spam-Scan";

/// Largest header section looked at for problems (the parser sees the whole message).
const MAX_HEADER: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// MIME parts, the message itself included (1 for a plain text message).
    pub parts: usize,
    /// `pass` for now.
    pub verdict: &'static str,
    /// Short tags such as `unparsable`, `no-from`; empty when all is well.
    pub problems: Vec<&'static str>,
}

/// Looks at a message.
pub fn analyze(message: &[u8]) -> Report {
    let mut problems = Vec::new();
    let parts = match MessageParser::default().parse(message) {
        Some(m) => {
            if m.from()
                .and_then(|f| f.first())
                .and_then(|a| a.address())
                .is_none()
            {
                problems.push("no-from");
            }
            if m.date().is_none() {
                problems.push("no-date");
            }
            m.parts.len().max(1)
        }
        None => {
            problems.push("unparsable");
            0
        }
    };
    if header_section(message).iter().any(|b| *b >= 0x80) {
        problems.push("8bit-header");
    }
    Report {
        parts,
        verdict: "pass",
        problems,
    }
}

impl Report {
    /// The header field's value: `<host>; parts=<n>; verdict=<v>[; problems=a,b]`.
    pub fn value(&self, hostname: &str) -> String {
        let mut v = format!("{hostname}; parts={}; verdict={}", self.parts, self.verdict);
        if !self.problems.is_empty() {
            v.push_str(&format!("; problems={}", self.problems.join(",")));
        }
        v
    }
}

/// The header section (up to the first empty line), bounded.
fn header_section(message: &[u8]) -> &[u8] {
    let head = &message[..message.len().min(MAX_HEADER)];
    let end = find(head, b"\r\n\r\n")
        .or_else(|| find(head, b"\n\n"))
        .unwrap_or(head.len());
    &head[..end]
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// True when the message already starts with our header from `hostname` (a rescan after a
/// crash between rewriting the message and moving it to the queue).
pub fn already_marked(message: &[u8], hostname: &str) -> bool {
    let prefix = format!("{HEADER}: {hostname};");
    message.len() >= prefix.len() && message[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// The message with the header prepended, using the message's own line ending.
pub fn with_header(message: &[u8], value: &str) -> Vec<u8> {
    let eol: &[u8] = match message.iter().position(|&b| b == b'\n') {
        Some(i) if i > 0 && message[i - 1] == b'\r' => b"\r\n",
        Some(_) => b"\n",
        None => b"\r\n",
    };
    let mut out = Vec::with_capacity(message.len() + value.len() + 20);
    out.extend_from_slice(HEADER.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(eol);
    out.extend_from_slice(message);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: &[u8] = b"From: a@example.test\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nSubject: hi\r\n\r\nbody\r\n";

    #[test]
    fn plain_message_passes_with_one_part() {
        let r = analyze(PLAIN);
        assert_eq!(r.parts, 1);
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(r.value("h"), "h; parts=1; verdict=pass");
    }

    #[test]
    fn multipart_counts_parts_and_notes_problems() {
        let m = b"Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b--\r\n";
        let r = analyze(m);
        assert_eq!(r.parts, 3);
        assert!(r.problems.contains(&"no-from") && r.problems.contains(&"no-date"));
        assert!(r.value("h").ends_with("problems=no-from,no-date"));
    }

    #[test]
    fn header_goes_on_top_with_the_same_line_endings() {
        let out = with_header(b"A: b\nx\n", "h; parts=1; verdict=pass");
        assert_eq!(out, b"X-Spam-Scan: h; parts=1; verdict=pass\nA: b\nx\n");
        assert!(already_marked(&out, "h"));
        assert!(!already_marked(&out, "other"));
        assert!(with_header(PLAIN, "v").starts_with(b"X-Spam-Scan: v\r\nFrom:"));
    }

    #[test]
    fn garbage_never_panics() {
        for m in [
            &b""[..],
            b"\xff\xfe\x00",
            b"\r\n\r\n",
            b"Subject: \xe9\r\n\r\n",
        ] {
            let r = analyze(m);
            assert_eq!(r.verdict, "pass");
        }
    }
}
