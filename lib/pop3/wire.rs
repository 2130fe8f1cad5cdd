//! Messages on the POP3 wire: CRLF line ends, byte-stuffing of lines that start with `.`, the
//! `.` terminator, TOP's header-plus-n-lines cut, and the octet count LIST reports.
//!
//! Stored messages have LF line ends (CRLF ones are kept as they are). The size LIST and the
//! `+OK <n> octets` line report is the message with CRLF ends, before byte-stuffing and
//! without the terminator: what a client holds after undoing the framing (RFC 1939 11), and
//! what `,W=` in a Maildir name records. A last line without a line end gets one on the wire
//! (not counted, as Dovecot does). Pure functions; never fail.

/// The size of `msg` with every bare LF turned into CRLF.
pub fn crlf_size(msg: &[u8]) -> u64 {
    let mut n = msg.len() as u64;
    let mut prev = 0u8;
    for &b in msg {
        if b == b'\n' && prev != b'\r' {
            n += 1;
        }
        prev = b;
    }
    n
}

/// Appends `msg` framed for RETR (`body_lines` = None) or TOP (the header, the blank line and
/// that many body lines) to `out`, ending with `.\r\n`.
pub fn encode(msg: &[u8], body_lines: Option<u64>, out: &mut Vec<u8>) {
    out.reserve(msg.len() + msg.len() / 32 + 8);
    let mut in_header = true;
    let mut body_left = body_lines.unwrap_or(u64::MAX);
    let mut rest = msg;
    while !rest.is_empty() {
        if !in_header {
            if body_left == 0 {
                break;
            }
            body_left -= 1;
        }
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
        if in_header && line.is_empty() {
            in_header = false;
        }
        rest = next;
    }
    out.extend_from_slice(b".\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(msg: &[u8], lines: Option<u64>) -> Vec<u8> {
        let mut out = Vec::new();
        encode(msg, lines, &mut out);
        out
    }

    /// What a client holds after removing the stuffing and the terminator.
    fn unframe(wire: &[u8]) -> Vec<u8> {
        let body = wire.strip_suffix(b".\r\n").unwrap();
        let mut out = Vec::new();
        for line in body.split_inclusive(|&b| b == b'\n') {
            out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        }
        out
    }

    #[test]
    fn crlf_and_stuffing() {
        let msg = b"Subject: x\n\n.hidden\n..two\nlast\n";
        let wire = enc(msg, None);
        assert_eq!(
            wire,
            b"Subject: x\r\n\r\n..hidden\r\n...two\r\nlast\r\n.\r\n".to_vec()
        );
        assert_eq!(unframe(&wire).len() as u64, crlf_size(msg));
    }

    #[test]
    fn keeps_crlf_and_terminates_last_line() {
        assert_eq!(enc(b"a\r\nb\nc", None), b"a\r\nb\r\nc\r\n.\r\n".to_vec());
        assert_eq!(crlf_size(b"a\r\nb\nc"), 7);
        assert_eq!(enc(b"", None), b".\r\n".to_vec());
        // Smuggling attempt: a lone dot line inside the body is stuffed.
        assert_eq!(
            enc(b"h: v\n\n.\nx\n", None),
            b"h: v\r\n\r\n..\r\nx\r\n.\r\n".to_vec()
        );
    }

    #[test]
    fn size_matches_unframed_retr() {
        let msgs: [&[u8]; 4] = [b"a\nb\n", b".\n.\n\n.x\n", b"x\r\ny\n", b"\n\n\n"];
        for m in msgs {
            assert_eq!(unframe(&enc(m, None)).len() as u64, crlf_size(m), "{m:?}");
        }
    }

    #[test]
    fn top_sends_header_and_n_lines() {
        let msg = b"A: 1\nB: 2\n\nl1\nl2\n.l3\n";
        assert_eq!(enc(msg, Some(0)), b"A: 1\r\nB: 2\r\n\r\n.\r\n".to_vec());
        assert_eq!(
            enc(msg, Some(2)),
            b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n.\r\n".to_vec()
        );
        assert_eq!(enc(msg, Some(99)), enc(msg, None));
        assert_eq!(
            enc(b"A: 1\nB: 2\n", Some(0)),
            b"A: 1\r\nB: 2\r\n.\r\n".to_vec()
        );
    }
}
