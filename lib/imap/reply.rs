//! IMAP response writing: status lines, untagged data, continuation requests, and the string
//! forms (quoted, literal, NIL) every response is built from.
//!
//! Hand-written rather than built from imap-types' `Response` values on purpose: FETCH
//! responses carry whole messages and ENVELOPE/BODYSTRUCTURE built from mail-parser, and
//! making owned, validated imap-types values for each would copy every body once more for
//! nothing. The grammar used here is small (RFC 3501 section 9: `string`, `nstring`,
//! `resp-text`), so each rule is one function below and unit-tested.
//! Response texts never contain CR or LF (they are replaced), so a text cannot forge a line.

/// The three status conditions of a tagged or untagged status response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
        }
    }
}

/// `tag OK [CODE] text\r\n` (the code without brackets, or empty).
pub fn tagged(tag: &str, status: Status, code: &str, text: &str) -> Vec<u8> {
    status_line(tag, status, code, text)
}

/// `* OK [CODE] text\r\n`.
pub fn untagged_status(status: Status, code: &str, text: &str) -> Vec<u8> {
    status_line("*", status, code, text)
}

fn status_line(tag: &str, status: Status, code: &str, text: &str) -> Vec<u8> {
    let text = one_line(if text.is_empty() { "done" } else { text });
    let line = if code.is_empty() {
        format!("{tag} {} {text}\r\n", status.word())
    } else {
        format!("{tag} {} [{}] {text}\r\n", status.word(), one_line(code))
    };
    line.into_bytes()
}

/// `* <data>\r\n` for data the caller formatted (it must hold no CR or LF of its own).
pub fn untagged(data: &str) -> Vec<u8> {
    format!("* {}\r\n", one_line(data)).into_bytes()
}

/// `+ text\r\n`: go on with the literal, SASL or IDLE.
pub fn continuation(text: &str) -> Vec<u8> {
    format!("+ {}\r\n", one_line(text)).into_bytes()
}

/// `* BYE text\r\n`.
pub fn bye(text: &str) -> Vec<u8> {
    format!("* BYE {}\r\n", one_line(text)).into_bytes()
}

fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

/// A `string`: quoted when short and plain, else a literal `{n}\r\n<bytes>`.
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    let quotable = s.len() <= 256
        && s.iter()
            .all(|&b| b != b'\r' && b != b'\n' && b != 0 && b.is_ascii());
    if quotable {
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        literal(out, s);
    }
}

/// A literal `{n}\r\n<bytes>`, whatever the bytes are.
pub fn literal(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
    out.extend_from_slice(s);
}

/// An `nstring`: NIL or a string.
pub fn nstring(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// An `astring` for mailbox names in LIST/STATUS: an atom when it is one, else a string.
pub fn astring(out: &mut Vec<u8>, s: &[u8]) {
    let atom = !s.is_empty()
        && s.iter()
            .all(|&b| b.is_ascii_graphic() && !b"(){ %*\"\\]".contains(&b));
    if atom {
        out.extend_from_slice(s);
    } else {
        string(out, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl Fn(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8_lossy(&v).into_owned()
    }

    #[test]
    fn strings_quote_or_literal() {
        assert_eq!(s(|o| string(o, b"a \"b\" \\")), "\"a \\\"b\\\" \\\\\"");
        assert_eq!(s(|o| string(o, b"a\r\nb")), "{4}\r\na\r\nb");
        assert_eq!(s(|o| string(o, "é".as_bytes())), "{2}\r\né");
        assert_eq!(s(|o| nstring(o, None)), "NIL");
        assert_eq!(s(|o| astring(o, b"Sent")), "Sent");
        assert_eq!(s(|o| astring(o, b"My Folder")), "\"My Folder\"");
        assert_eq!(s(|o| astring(o, b"")), "\"\"");
    }

    #[test]
    fn texts_cannot_forge_lines() {
        let t = tagged("a1", Status::No, "", "x\r\n* OK evil");
        assert_eq!(t, b"a1 NO x  * OK evil\r\n");
        assert_eq!(
            tagged("a1", Status::Ok, "READ-ONLY", "EXAMINE done"),
            b"a1 OK [READ-ONLY] EXAMINE done\r\n"
        );
    }
}
