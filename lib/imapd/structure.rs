//! ENVELOPE and BODY/BODYSTRUCTURE (RFC 3501 7.4.2) from a message's MIME tree
//! (`section::Part`), with header fields parsed by mail-parser (Content-Type parameters
//! including RFC 2231, addresses and groups). Date, Subject, In-Reply-To and Message-ID go out
//! as they are in the header (unfolded), so encoded words reach the client untouched;
//! display names decoded by mail-parser are re-encoded as RFC 2047 words when not ASCII.
//! Never fails: missing fields are NIL.

use base64::Engine;
use mail_parser::{Address, HeaderValue, Message, MessageParser};

use super::section::{header_end, Kind, Part};
use crate::imap::reply::{nstring, string};

/// Writes the ENVELOPE of the message whose header block is `header`.
pub fn envelope(out: &mut Vec<u8>, header: &[u8]) {
    let parsed = MessageParser::default().parse_headers(header);
    let raw = |name: &str| raw_field(header, name);
    out.push(b'(');
    nstring(out, raw("Date").as_deref().map(str::as_bytes));
    out.push(b' ');
    nstring(out, raw("Subject").as_deref().map(str::as_bytes));
    let m = parsed.as_ref();
    let from = m.and_then(Message::from);
    // Sender and Reply-To default to From (RFC 3501 7.4.2).
    let lists = [
        from,
        m.and_then(Message::sender).or(from),
        m.and_then(Message::reply_to).or(from),
        m.and_then(Message::to),
        m.and_then(Message::cc),
        m.and_then(Message::bcc),
    ];
    for list in lists {
        out.push(b' ');
        addresses(out, list);
    }
    out.push(b' ');
    nstring(out, raw("In-Reply-To").as_deref().map(str::as_bytes));
    out.push(b' ');
    nstring(out, raw("Message-ID").as_deref().map(str::as_bytes));
    out.push(b')');
}

/// An unfolded header value as it stands, first occurrence.
pub fn raw_field(header: &[u8], name: &str) -> Option<String> {
    let mut value: Option<Vec<u8>> = None;
    for line in header.split_inclusive(|&b| b == b'\n') {
        let line_t = line.strip_suffix(b"\n").unwrap_or(line);
        let line_t = line_t.strip_suffix(b"\r").unwrap_or(line_t);
        if line_t.is_empty() {
            break;
        }
        if line_t.starts_with(b" ") || line_t.starts_with(b"\t") {
            if let Some(v) = value.as_mut() {
                v.extend_from_slice(line_t);
            }
            continue;
        }
        if value.is_some() {
            break;
        }
        if let Some((n, v)) = line_t.split_at_checked(name.len()) {
            if n.eq_ignore_ascii_case(name.as_bytes()) && v.first() == Some(&b':') {
                value = Some(v[1..].trim_ascii().to_vec());
            }
        }
    }
    value.map(|v| String::from_utf8_lossy(&v).into_owned())
}

fn addresses(out: &mut Vec<u8>, list: Option<&Address>) {
    let Some(list) = list else {
        out.extend_from_slice(b"NIL");
        return;
    };
    let mut items = Vec::new();
    match list {
        Address::List(addrs) => {
            for a in addrs {
                address(&mut items, a.name.as_deref(), a.address.as_deref());
            }
        }
        Address::Group(groups) => {
            for g in groups {
                let named = g.name.is_some();
                if named {
                    items.extend_from_slice(b"(NIL NIL ");
                    nstring(&mut items, g.name.as_deref().map(str::as_bytes));
                    items.extend_from_slice(b" NIL)");
                }
                for a in &g.addresses {
                    address(&mut items, a.name.as_deref(), a.address.as_deref());
                }
                if named {
                    items.extend_from_slice(b"(NIL NIL NIL NIL)");
                }
            }
        }
    }
    if items.is_empty() {
        out.extend_from_slice(b"NIL");
    } else {
        out.push(b'(');
        out.extend(items);
        out.push(b')');
    }
}

fn address(out: &mut Vec<u8>, name: Option<&str>, addr: Option<&str>) {
    let Some(addr) = addr else { return };
    let (local, host) = addr.rsplit_once('@').unwrap_or((addr, ""));
    out.push(b'(');
    nstring(out, name.map(encode_word).as_deref().map(str::as_bytes));
    out.extend_from_slice(b" NIL ");
    string(out, local.as_bytes());
    out.push(b' ');
    if host.is_empty() {
        out.extend_from_slice(b"NIL");
    } else {
        string(out, host.as_bytes());
    }
    out.push(b')');
}

/// RFC 2047 B-encoding for a non-ASCII display name.
fn encode_word(s: &str) -> String {
    if s.is_ascii() {
        return s.to_string();
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    format!("=?utf-8?b?{b64}?=")
}

/// Writes BODYSTRUCTURE (`extended`) or BODY of the part `p` of `raw`.
pub fn body(out: &mut Vec<u8>, raw: &[u8], p: &Part, extended: bool) {
    let header = &raw[p.header.clone()];
    let parsed = MessageParser::default().parse_headers(header);
    let ct = parsed
        .as_ref()
        .and_then(|m| m.header("Content-Type"))
        .and_then(HeaderValue::as_content_type);
    let params = |out: &mut Vec<u8>| {
        let attrs = ct.and_then(|c| c.attributes()).unwrap_or_default();
        if attrs.is_empty() {
            if p.ctype == "text" {
                out.extend_from_slice(b"(\"CHARSET\" \"us-ascii\")");
            } else {
                out.extend_from_slice(b"NIL");
            }
            return;
        }
        attribute_list(out, attrs);
    };
    out.push(b'(');
    if let Kind::Multipart(children) = &p.kind {
        if children.is_empty() {
            // An empty multipart is not allowed on the wire; show it as an empty text part.
            out.extend_from_slice(b"\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)");
            return;
        }
        for c in children {
            body(out, raw, c, extended);
        }
        out.push(b' ');
        string(out, p.subtype.to_ascii_uppercase().as_bytes());
        if extended {
            out.push(b' ');
            params(out);
            out.push(b' ');
            disposition(out, header);
            out.extend_from_slice(b" NIL NIL");
        }
        out.push(b')');
        return;
    }
    string(out, p.ctype.to_ascii_uppercase().as_bytes());
    out.push(b' ');
    let sub = if p.subtype.is_empty() {
        "plain"
    } else {
        &p.subtype
    };
    string(out, sub.to_ascii_uppercase().as_bytes());
    out.push(b' ');
    params(out);
    for field in ["Content-ID", "Content-Description"] {
        out.push(b' ');
        nstring(out, raw_field(header, field).as_deref().map(str::as_bytes));
    }
    out.push(b' ');
    let enc = raw_field(header, "Content-Transfer-Encoding").unwrap_or_else(|| "7BIT".into());
    string(out, enc.to_ascii_uppercase().as_bytes());
    let body_bytes = &raw[p.body.clone()];
    out.extend_from_slice(format!(" {}", body_bytes.len()).as_bytes());
    if let Kind::Message(inner) = &p.kind {
        out.push(b' ');
        envelope(out, &raw[inner.header.clone()]);
        out.push(b' ');
        body(out, raw, inner, extended);
        out.extend_from_slice(format!(" {}", lines(body_bytes)).as_bytes());
    } else if p.ctype == "text" {
        out.extend_from_slice(format!(" {}", lines(body_bytes)).as_bytes());
    }
    if extended {
        out.extend_from_slice(b" NIL ");
        disposition(out, header);
        out.extend_from_slice(b" NIL NIL");
    }
    out.push(b')');
}

fn disposition(out: &mut Vec<u8>, header: &[u8]) {
    let parsed = MessageParser::default().parse_headers(header);
    let cd = parsed
        .as_ref()
        .and_then(|m| m.header("Content-Disposition"))
        .and_then(HeaderValue::as_content_type);
    let Some(cd) = cd else {
        out.extend_from_slice(b"NIL");
        return;
    };
    out.push(b'(');
    string(out, cd.ctype().to_ascii_uppercase().as_bytes());
    out.push(b' ');
    match cd.attributes().filter(|a| !a.is_empty()) {
        None => out.extend_from_slice(b"NIL"),
        Some(attrs) => attribute_list(out, attrs),
    }
    out.push(b')');
}

/// `("NAME" "value" …)` for body parameters and disposition parameters.
fn attribute_list(out: &mut Vec<u8>, attrs: &[mail_parser::Attribute]) {
    out.push(b'(');
    for (i, a) in attrs.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        string(out, a.name.to_ascii_uppercase().as_bytes());
        out.push(b' ');
        string(out, a.value.as_bytes());
    }
    out.push(b')');
}

fn lines(b: &[u8]) -> usize {
    let n = b.iter().filter(|&&c| c == b'\n').count();
    if b.last().is_some_and(|&c| c != b'\n') {
        n + 1
    } else {
        n
    }
}

/// The header block of a message (for ENVELOPE of the whole message).
pub fn message_header(raw: &[u8]) -> &[u8] {
    &raw[..header_end(raw)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imapd::section::parse;

    fn text(f: impl Fn(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8_lossy(&v).into_owned()
    }

    #[test]
    fn envelope_fields() {
        let h = b"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\nSubject: =?utf-8?q?hi?=\r\nFrom: \"J\xc3\xbcrg\" <j@example.com>\r\nTo: a@b.c, Group: x@y.z;\r\nMessage-ID: <1@x>\r\n\r\n";
        let e = text(|o| envelope(o, h));
        assert!(
            e.starts_with("(\"Mon, 7 Feb 1994 21:52:25 -0800\" \"=?utf-8?q?hi?=\" "),
            "{e}"
        );
        assert!(
            e.contains("((\"=?utf-8?b?SsO8cmc=?=\" NIL \"j\" \"example.com\"))"),
            "{e}"
        );
        assert!(e.ends_with(" NIL \"<1@x>\")"), "{e}");
    }

    #[test]
    fn bodystructure_of_plain_and_mixed() {
        let raw = b"Subject: x\r\n\r\nhello\r\nworld\r\n";
        let b = text(|o| body(o, raw, &parse(raw), false));
        assert_eq!(
            b,
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 14 2)"
        );
        let raw = b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>\r\n--b\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=a.pdf\r\n\r\nAAAA\r\n--b--\r\n";
        let b = text(|o| body(o, raw, &parse(raw), true));
        assert!(b.starts_with("((\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 3 1 NIL NIL NIL NIL)(\"APPLICATION\" \"PDF\" (\"NAME\" \"a.pdf\") NIL NIL \"BASE64\" 4 NIL (\"ATTACHMENT\" (\"FILENAME\" \"a.pdf\")) NIL NIL) \"MIXED\" (\"BOUNDARY\" \"b\")"), "{b}");
    }
}
