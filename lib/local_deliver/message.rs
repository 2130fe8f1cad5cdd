//! What local-deliver does to the bytes: spool CRLF line ends become LF (as qmail, Postfix
//! and Dovecot store them), an mbox `From ` line in front is dropped, `Return-Path:` and
//! `Delivered-To:` are prepended, and an existing `Delivered-To:` for the same address is
//! spotted (a forwarding loop). Pure functions, no I/O.

/// CRLF → LF everywhere; LF-only input passes unchanged; a bare CR is kept. A leading mbox
/// `From ` separator line (not a header) is dropped.
pub fn normalize(raw: &[u8]) -> Vec<u8> {
    let mut raw = raw;
    if raw.starts_with(b"From ") {
        raw = match raw.iter().position(|&b| b == b'\n') {
            Some(i) => &raw[i + 1..],
            None => &[],
        };
    }
    crlf_to_lf(raw)
}

/// CRLF → LF everywhere (Maildir files use LF); a bare CR is kept.
pub fn crlf_to_lf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\r' && raw.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

/// True when the header section (up to the first empty line) has a `Delivered-To:` field
/// naming `address`, compared case-insensitively, angle brackets and folding ignored.
pub fn has_delivered_to(msg: &[u8], address: &str) -> bool {
    let want = address.trim();
    header_fields(msg).any(|(name, value)| {
        name.eq_ignore_ascii_case("Delivered-To") && {
            let v = value.trim();
            let v = v
                .strip_prefix('<')
                .and_then(|v| v.strip_suffix('>'))
                .unwrap_or(v);
            v.trim().eq_ignore_ascii_case(want)
        }
    })
}

/// Prepends `Return-Path: <sender>` (when a sender is known; empty is the null sender `<>`)
/// and `Delivered-To: address` (when delivering for an address).
pub fn prepend(msg: &[u8], sender: Option<&str>, address: Option<&str>) -> Vec<u8> {
    let mut head = String::new();
    if let Some(s) = sender {
        head.push_str(&format!("Return-Path: <{}>\n", s.trim()));
    }
    if let Some(a) = address {
        head.push_str(&format!("Delivered-To: {}\n", a.trim()));
    }
    let mut out = Vec::with_capacity(head.len() + msg.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(msg);
    out
}

/// The header fields of a message with LF (or CRLF) line ends, unfolded: `(name, value)`.
/// Stops at the first empty line; lines without a colon are skipped.
fn header_fields(msg: &[u8]) -> impl Iterator<Item = (String, String)> + '_ {
    let mut lines = msg
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .take_while(|l| !l.is_empty())
        .peekable();
    std::iter::from_fn(move || loop {
        let line = lines.next()?;
        let mut field = String::from_utf8_lossy(line).into_owned();
        while let Some(next) = lines.peek() {
            if !next.starts_with(b" ") && !next.starts_with(b"\t") {
                break;
            }
            field.push_str(&String::from_utf8_lossy(next));
            lines.next();
        }
        if let Some((name, value)) = field.split_once(':') {
            return Some((name.trim().to_string(), value.to_string()));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_becomes_lf_and_lf_passes() {
        assert_eq!(normalize(b"A: b\r\n\r\nbody\r\n"), b"A: b\n\nbody\n");
        assert_eq!(normalize(b"A: b\n\nbody\n"), b"A: b\n\nbody\n");
        assert_eq!(
            normalize(b"A: b\r\n\r\nbare\rcr\r\n"),
            b"A: b\n\nbare\rcr\n"
        );
        assert_eq!(normalize(b"x\r"), b"x\r");
    }

    #[test]
    fn mbox_from_line_is_dropped() {
        assert_eq!(
            normalize(b"From a@b Thu Jan  1 00:00:00 2026\nA: b\n\nx\n"),
            b"A: b\n\nx\n"
        );
        assert_eq!(normalize(b"From: a@b\n\nx\n"), b"From: a@b\n\nx\n");
    }

    #[test]
    fn loop_detection_reads_the_header_only() {
        let m = b"Received: x\nDELIVERED-TO: <Demo@Example.TEST>\nSubject: s\n\nbody\n";
        assert!(has_delivered_to(m, "demo@example.test"));
        assert!(!has_delivered_to(m, "other@example.test"));
        let folded = b"Delivered-To:\n demo@example.test\n\nx\n";
        assert!(has_delivered_to(folded, "demo@example.test"));
        let in_body = b"Subject: s\n\nDelivered-To: demo@example.test\n";
        assert!(!has_delivered_to(in_body, "demo@example.test"));
        let prefix = b"Delivered-To: xdemo@example.test\n\n";
        assert!(!has_delivered_to(prefix, "demo@example.test"));
    }

    #[test]
    fn headers_are_prepended() {
        let out = prepend(b"Subject: s\n\nx\n", Some(""), Some("demo@example.test"));
        assert_eq!(
            out,
            b"Return-Path: <>\nDelivered-To: demo@example.test\nSubject: s\n\nx\n"
        );
        let out = prepend(b"S: s\n\nx\n", Some("a@b"), None);
        assert_eq!(out, b"Return-Path: <a@b>\nS: s\n\nx\n");
    }
}
