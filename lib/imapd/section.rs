//! The MIME tree of a message as IMAP numbers it (RFC 3501 6.4.5), and the bytes of a
//! body section: `BODY[]`, `[HEADER]`, `[TEXT]`, `[1.2]`, `[1.MIME]`, `[HEADER.FIELDS (…)]`.
//!
//! The tree is split here by byte offsets (header/body ranges per part, boundaries found as
//! whole delimiter lines) because IMAP sections are raw byte ranges of the message as stored.
//! mail-parser 0.11 keeps offsets relative to different buffers for nested messages (the
//! outer message, or the decoded body of an encoded message/rfc822), which does not map onto
//! IMAP's section numbering; it is used for what it is good at: parsing each part's header
//! fields (Content-Type parameters with RFC 2231, addresses, dates) in `structure`.
//! Input is the message with CRLF line ends. Nesting is capped at `MAX_DEPTH`; deeper parts
//! are leaves. Never fails: malformed MIME gives a best-effort tree.

use std::ops::Range;

use crate::imap::imap_types::fetch::{Part as PartNo, Section};

/// Deepest nesting of multiparts and messages followed.
pub const MAX_DEPTH: usize = 24;

/// One MIME part (the whole message is one too).
#[derive(Debug, Clone)]
pub struct Part {
    /// Header block, including the blank line that ends it.
    pub header: Range<usize>,
    pub body: Range<usize>,
    /// Lower-case `type` and `subtype` (`text`, `plain` when absent).
    pub ctype: String,
    pub subtype: String,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Leaf,
    Multipart(Vec<Part>),
    /// message/rfc822: the encapsulated message.
    Message(Box<Part>),
}

/// Parses the message `raw` (CRLF) into its tree.
pub fn parse(raw: &[u8]) -> Part {
    part(raw, 0..raw.len(), ("text", "plain"), 0)
}

fn part(raw: &[u8], range: Range<usize>, default: (&str, &str), depth: usize) -> Part {
    let bytes = &raw[range.clone()];
    let split = header_end(bytes);
    let header = range.start..range.start + split;
    let body = range.start + split..range.end;
    let (ctype, subtype, boundary) = content_type(&raw[header.clone()], default);
    let kind = if depth >= MAX_DEPTH {
        Kind::Leaf
    } else if ctype == "multipart" {
        match boundary {
            Some(b) => {
                let child_default = if subtype == "digest" {
                    ("message", "rfc822")
                } else {
                    ("text", "plain")
                };
                let children = split_multipart(raw, body.clone(), b.as_bytes())
                    .into_iter()
                    .map(|r| part(raw, r, child_default, depth + 1))
                    .collect();
                Kind::Multipart(children)
            }
            None => Kind::Multipart(Vec::new()),
        }
    } else if ctype == "message" && (subtype == "rfc822" || subtype == "global") {
        Kind::Message(Box::new(part(
            raw,
            body.clone(),
            ("text", "plain"),
            depth + 1,
        )))
    } else {
        Kind::Leaf
    };
    Part {
        header,
        body,
        ctype,
        subtype,
        kind,
    }
}

/// Length of the header block including its blank line (the whole input if there is none).
pub fn header_end(b: &[u8]) -> usize {
    if b.starts_with(b"\r\n") {
        return 2;
    }
    b.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(b.len(), |p| p + 4)
}

/// `(type, subtype, boundary)` from a header block, lower-case.
fn content_type(header: &[u8], default: (&str, &str)) -> (String, String, Option<String>) {
    let parsed = mail_parser::MessageParser::default().parse_headers(header);
    let ct = parsed
        .as_ref()
        .and_then(|m| m.header("Content-Type"))
        .and_then(|v| v.as_content_type());
    match ct {
        Some(ct) => (
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().unwrap_or("").to_ascii_lowercase(),
            ct.attribute("boundary").map(str::to_string),
        ),
        None => (default.0.to_string(), default.1.to_string(), None),
    }
}

/// The byte ranges of the parts between `--boundary` lines.
fn split_multipart(raw: &[u8], body: Range<usize>, boundary: &[u8]) -> Vec<Range<usize>> {
    let mut delim = b"--".to_vec();
    delim.extend_from_slice(boundary);
    let b = &raw[body.clone()];
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut line_start = 0;
    while line_start < b.len() {
        let line_end = b[line_start..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(b.len(), |p| line_start + p);
        let line = &b[line_start..line_end];
        if line.starts_with(&delim) {
            let rest = &line[delim.len()..];
            let close = rest.starts_with(b"--");
            let rest = if close { &rest[2..] } else { rest };
            if rest.iter().all(|c| *c == b' ' || *c == b'\t') {
                if let Some(s) = start {
                    // The CRLF before a delimiter belongs to the delimiter.
                    let end = line_start.saturating_sub(2).max(s);
                    out.push(body.start + s..body.start + end);
                }
                if close {
                    return out;
                }
                start = Some((line_end + 2).min(b.len()));
            }
        }
        line_start = line_end + 2;
    }
    if let Some(s) = start {
        out.push(body.start + s..body.end);
    }
    out
}

/// The parts a number indexes into below `p` (RFC 3501: a non-multipart message has part 1).
fn children(p: &Part) -> Vec<&Part> {
    match &p.kind {
        Kind::Multipart(c) => c.iter().collect(),
        Kind::Message(inner) => message_children(inner),
        Kind::Leaf => Vec::new(),
    }
}

fn message_children(m: &Part) -> Vec<&Part> {
    match &m.kind {
        Kind::Multipart(c) => c.iter().collect(),
        _ => vec![m],
    }
}

/// The part a section number names, if it exists.
pub fn find<'a>(root: &'a Part, path: &[u32]) -> Option<&'a Part> {
    let mut list = message_children(root);
    let mut cur = None;
    for &n in path {
        let p = *list.get((n as usize).checked_sub(1)?)?;
        cur = Some(p);
        list = children(p);
    }
    cur
}

/// The message a HEADER/TEXT section refers to: the root, or the message/rfc822 part.
fn message_at<'a>(root: &'a Part, part: Option<&PartNo>) -> Option<&'a Part> {
    match part {
        None => Some(root),
        Some(p) => match &find(root, &path(p))?.kind {
            Kind::Message(inner) => Some(inner),
            _ => None,
        },
    }
}

fn path(p: &PartNo) -> Vec<u32> {
    p.0.as_ref().iter().map(|n| n.get()).collect()
}

/// The bytes of a section (`None`: the whole message). A part that does not exist is empty,
/// as RFC 3501 allows.
pub fn extract(raw: &[u8], root: &Part, section: Option<&Section>) -> Vec<u8> {
    let range = |r: &Range<usize>| raw[r.clone()].to_vec();
    let Some(section) = section else {
        return raw.to_vec();
    };
    match section {
        Section::Part(p) => find(root, &path(p)).map(|p| range(&p.body)),
        Section::Header(p) => message_at(root, p.as_ref()).map(|m| range(&m.header)),
        Section::Text(p) => message_at(root, p.as_ref()).map(|m| range(&m.body)),
        Section::Mime(p) => find(root, &path(p)).map(|p| range(&p.header)),
        Section::HeaderFields(p, fields) => message_at(root, p.as_ref()).map(|m| {
            let names: Vec<&[u8]> = fields.as_ref().iter().map(|f| f.as_ref()).collect();
            header_fields(&raw[m.header.clone()], &names, true)
        }),
        Section::HeaderFieldsNot(p, fields) => message_at(root, p.as_ref()).map(|m| {
            let names: Vec<&[u8]> = fields.as_ref().iter().map(|f| f.as_ref()).collect();
            header_fields(&raw[m.header.clone()], &names, false)
        }),
    }
    .unwrap_or_default()
}

/// The header fields named (`keep`) or all but those, with continuation lines, then CRLF.
pub fn header_fields(header: &[u8], names: &[&[u8]], keep: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut taking = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" {
            break;
        }
        if !line.starts_with(b" ") && !line.starts_with(b"\t") {
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            let listed = names
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name.trim_ascii()));
            taking = listed == keep;
        }
        if taking {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The section's name as the FETCH response repeats it (`1.2.HEADER.FIELDS (FROM)`).
pub fn name(section: Option<&Section>) -> String {
    let num = |p: &PartNo| {
        path(p)
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(".")
    };
    let with = |p: &Option<PartNo>, what: &str| match p {
        Some(p) => format!("{}.{what}", num(p)),
        None => what.to_string(),
    };
    let list = |f: &crate::imap::imap_types::core::Vec1<crate::imap::imap_types::core::AString>| {
        f.as_ref()
            .iter()
            .map(|a| String::from_utf8_lossy(a.as_ref()).to_ascii_uppercase())
            .collect::<Vec<_>>()
            .join(" ")
    };
    match section {
        None => String::new(),
        Some(Section::Part(p)) => num(p),
        Some(Section::Header(p)) => with(p, "HEADER"),
        Some(Section::Text(p)) => with(p, "TEXT"),
        Some(Section::Mime(p)) => format!("{}.MIME", num(p)),
        Some(Section::HeaderFields(p, f)) => with(p, &format!("HEADER.FIELDS ({})", list(f))),
        Some(Section::HeaderFieldsNot(p, f)) => {
            with(p, &format!("HEADER.FIELDS.NOT ({})", list(f)))
        }
    }
}

/// LF → CRLF (bare LFs only): Maildir files have LF ends, IMAP counts and sends CRLF.
pub fn to_crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 40);
    let mut prev = 0u8;
    for &b in data {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIXED: &[u8] = b"From: a@b\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\npreamble\r\n--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XX\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--XX--\r\n";

    #[test]
    fn numbers_parts_like_rfc3501() {
        let root = parse(MIXED);
        assert_eq!(
            find(&root, &[1]).map(|p| &MIXED[p.body.clone()]),
            Some(&b"hello"[..])
        );
        let m = find(&root, &[2]).unwrap();
        assert_eq!(&MIXED[m.body.clone()], b"Subject: inner\r\n\r\ninner body");
        assert_eq!(
            find(&root, &[2, 1]).map(|p| &MIXED[p.body.clone()]),
            Some(&b"inner body"[..])
        );
        assert!(find(&root, &[3]).is_none());
        assert!(find(&root, &[0]).is_none());
        let plain = parse(b"Subject: x\r\n\r\nbody\r\n");
        assert_eq!(find(&plain, &[1]).map(|p| p.body.clone()), Some(14..20));
    }

    #[test]
    fn header_fields_keep_continuations() {
        let h = b"Subject: a\r\n b\r\nFrom: x\r\nTo: y\r\n\r\n";
        assert_eq!(
            header_fields(h, &[b"subject"], true),
            b"Subject: a\r\n b\r\n\r\n"
        );
        assert_eq!(
            header_fields(h, &[b"subject"], false),
            b"From: x\r\nTo: y\r\n\r\n"
        );
    }

    #[test]
    fn crlf() {
        assert_eq!(to_crlf(b"a\nb\r\nc"), b"a\r\nb\r\nc");
    }
}
