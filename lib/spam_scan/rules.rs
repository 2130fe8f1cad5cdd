//! The static rule set: tests on one parsed message, each with a fixed score (SpamAssassin
//! style names). Pure: the parsed message in, hits out. Scores are tuned for the default
//! thresholds (junk 5, quarantine 15): GTUBE alone lands in Junk, an executable attachment
//! with a double extension or a virus-like mix reaches quarantine only with other signs.

use super::verdict::Hit;
use mail_parser::{ContentType, Message, MimeHeaders, PartType};

/// The GTUBE test string (SpamAssassin's "Generic Test for Unsolicited Bulk Email").
pub const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

/// Each rule: its name and score.
pub const RULES: &[(&str, f64)] = &[
    ("GTUBE", 10.0),
    ("MISSING_FROM", 1.5),
    ("MISSING_DATE", 1.0),
    ("MISSING_MID", 0.5),
    ("FROM_REPLYTO_DIFFER", 1.0),
    ("SUBJ_ALL_CAPS", 1.5),
    ("SUBJ_EXCLAIM", 0.5),
    ("FROM_NAME_DOMAIN_MISMATCH", 2.5),
    ("EXEC_ATTACHMENT", 4.0),
    ("DOUBLE_EXTENSION", 3.0),
    ("MIME_NO_BOUNDARY", 2.0),
    ("MIME_MISSING_END", 0.5),
    ("MIME_UNPARSABLE", 3.0),
    ("HTML_ONLY", 1.0),
    ("HEADER_8BIT", 0.5),
];

/// Attachment name endings that run code when opened on common desktops.
const EXECUTABLE: &[&str] = &[
    "exe", "scr", "js", "jse", "vbs", "vbe", "bat", "cmd", "com", "pif", "jar", "wsf", "hta",
    "lnk", "msi", "ps1", "cpl",
];

/// A hit for rule `name` (which must be in `RULES`).
pub fn hit(name: &'static str) -> Hit {
    let score = RULES
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(0.0, |(_, s)| *s);
    Hit::new(name, score)
}

/// Runs every rule on a parsed message; `raw` is the message as received.
pub fn check(msg: &Message<'_>, raw: &[u8]) -> Vec<Hit> {
    let mut hits = Vec::new();
    let mut add = |cond: bool, name: &'static str| {
        if cond {
            hits.push(hit(name));
        }
    };
    add(has_gtube(msg, raw), "GTUBE");
    let from = msg.from().and_then(|f| f.first());
    let from_addr = from.and_then(|a| a.address());
    add(from_addr.is_none(), "MISSING_FROM");
    add(msg.date().is_none(), "MISSING_DATE");
    add(msg.message_id().is_none(), "MISSING_MID");
    let reply = msg
        .reply_to()
        .and_then(|r| r.first())
        .and_then(|a| a.address());
    add(
        matches!((from_addr, reply), (Some(f), Some(r)) if !same_domain(f, r)),
        "FROM_REPLYTO_DIFFER",
    );
    let subject = msg.subject().unwrap_or("");
    add(shouting(subject), "SUBJ_ALL_CAPS");
    add(subject.matches('!').count() >= 3, "SUBJ_EXCLAIM");
    let name = from.and_then(|a| a.name()).unwrap_or("");
    add(
        from_addr.is_some_and(|a| name_mismatch(name, a)),
        "FROM_NAME_DOMAIN_MISMATCH",
    );
    let names: Vec<String> = msg
        .parts
        .iter()
        .filter_map(|p| p.attachment_name())
        .map(|n| n.trim().to_ascii_lowercase())
        .collect();
    add(names.iter().any(|n| executable(n)), "EXEC_ATTACHMENT");
    add(
        names.iter().any(|n| double_extension(n)),
        "DOUBLE_EXTENSION",
    );
    let (no_boundary, missing_end) = mime_problems(msg, raw);
    add(no_boundary, "MIME_NO_BOUNDARY");
    add(missing_end, "MIME_MISSING_END");
    add(html_only(msg), "HTML_ONLY");
    hits
}

fn has_gtube(msg: &Message<'_>, raw: &[u8]) -> bool {
    let decoded =
        (0..msg.text_body_count()).any(|i| msg.body_text(i).is_some_and(|t| t.contains(GTUBE)));
    decoded || raw.windows(GTUBE.len()).any(|w| w == GTUBE.as_bytes())
}

fn domain(addr: &str) -> &str {
    addr.rsplit_once('@').map_or("", |(_, d)| d)
}

fn same_domain(a: &str, b: &str) -> bool {
    domain(a).eq_ignore_ascii_case(domain(b))
}

/// At least 8 letters, all upper case.
fn shouting(subject: &str) -> bool {
    let letters: Vec<char> = subject.chars().filter(|c| c.is_alphabetic()).collect();
    letters.len() >= 8 && letters.iter().all(|c| c.is_uppercase())
}

/// The display name names a domain (`"service@paypal.test"` or `"PayPal.test"`) that is not
/// the address's domain or a parent of it.
pub fn name_mismatch(name: &str, address: &str) -> bool {
    let real = domain(address).to_ascii_lowercase();
    let tokens = name.split(|c: char| c.is_whitespace() || "<>()\"',;:[]".contains(c));
    tokens
        .filter_map(domain_like)
        .any(|d| real != d && !real.ends_with(&format!(".{d}")))
}

/// `x@a.b` → `a.b`; `a.b` → `a.b`, when every label is letters, digits or `-` and the last
/// is two or more letters.
fn domain_like(token: &str) -> Option<String> {
    let d = token.rsplit_once('@').map_or(token, |(_, d)| d);
    let d = d.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = d.split('.').collect();
    let ok = labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        && labels
            .last()
            .is_some_and(|t| t.len() >= 2 && t.bytes().all(|b| b.is_ascii_alphabetic()));
    ok.then_some(d)
}

fn extension(name: &str) -> Option<&str> {
    name.rsplit_once('.')
        .map(|(_, e)| e.trim_end_matches([' ', '.']))
}

fn executable(name: &str) -> bool {
    extension(name).is_some_and(|e| EXECUTABLE.contains(&e))
}

/// `invoice.pdf.exe`: an executable ending behind another short extension.
fn double_extension(name: &str) -> bool {
    if !executable(name) {
        return false;
    }
    let stem = name.rsplit_once('.').map_or("", |(s, _)| s);
    stem.rsplit_once('.').is_some_and(|(_, e)| {
        (2..=4).contains(&e.len()) && e.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// A multipart part without a boundary; a top-level multipart whose closing delimiter
/// (`--boundary--`) never comes.
fn mime_problems(msg: &Message<'_>, raw: &[u8]) -> (bool, bool) {
    let no_boundary = msg
        .parts
        .iter()
        .filter_map(multipart)
        .any(|ct| ct.attribute("boundary").is_none_or(str::is_empty));
    let missing_end = msg
        .parts
        .first()
        .and_then(multipart)
        .and_then(|ct| ct.attribute("boundary"))
        .is_some_and(|b| {
            let end = format!("--{b}--");
            !raw.windows(end.len()).any(|w| w == end.as_bytes())
        });
    (no_boundary, missing_end)
}

/// The part's Content-Type when it is `multipart/*`.
fn multipart<'a>(p: &'a mail_parser::MessagePart<'_>) -> Option<&'a ContentType<'a>> {
    p.content_type()
        .filter(|ct| ct.ctype().eq_ignore_ascii_case("multipart"))
}

/// HTML body parts and no plain-text one.
fn html_only(msg: &Message<'_>) -> bool {
    let inline = |p: &&mail_parser::MessagePart<'_>| {
        !p.content_disposition().is_some_and(|d| d.is_attachment())
    };
    let html = msg
        .parts
        .iter()
        .filter(inline)
        .any(|p| matches!(p.body, PartType::Html(_)));
    let text = msg
        .parts
        .iter()
        .filter(inline)
        .any(|p| matches!(p.body, PartType::Text(_)));
    html && !text
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
