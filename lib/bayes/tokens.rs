//! Tokens of a message for the classifier: words of the Subject and the decoded text parts
//! (HTML tags dropped by mail-parser's text view), the From domain, and attachment types.
//! Also the message digest that identifies a learned message. Pure: bytes in, tokens out.

use mail_parser::{MessageParser, MimeHeaders};
use std::collections::BTreeSet;

/// Words outside this length range carry little signal (and long ones are usually base64).
const MIN_WORD: usize = 3;
const MAX_WORD: usize = 40;
/// Distinct tokens taken from one message; the rest are ignored.
const MAX_TOKENS: usize = 3000;
/// Body text looked at, in bytes.
const MAX_TEXT: usize = 256 * 1024;

/// The distinct tokens of a message, sorted.
pub fn tokens(message: &[u8]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Some(msg) = MessageParser::default().parse(message) else {
        words(
            &String::from_utf8_lossy(&message[..message.len().min(MAX_TEXT)]),
            "",
            &mut out,
        );
        return out;
    };
    if let Some(s) = msg.subject() {
        words(s, "subject:", &mut out);
    }
    if let Some(addr) = msg.from().and_then(|f| f.first()).and_then(|a| a.address()) {
        if let Some((_, domain)) = addr.rsplit_once('@') {
            out.insert(format!("from:{}", domain.to_ascii_lowercase()));
        }
    }
    let mut budget = MAX_TEXT;
    for i in 0..msg.text_body_count().max(msg.html_body_count()) {
        let Some(text) = msg.body_text(i) else { break };
        let take = floor_char(&text, budget.min(text.len()));
        words(&text[..take], "", &mut out);
        budget -= take;
        if budget == 0 {
            break;
        }
    }
    for part in msg.attachments() {
        if let Some(ct) = part.content_type() {
            let sub = ct.subtype().unwrap_or("");
            out.insert(format!("attach:{}/{}", ct.ctype(), sub).to_ascii_lowercase());
        }
    }
    out
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Adds the lowercased words of `text` with `prefix`, up to `MAX_TOKENS` in all.
fn words(text: &str, prefix: &str, out: &mut BTreeSet<String>) {
    let is_word = |c: char| c.is_alphanumeric() || matches!(c, '$' | '\'' | '-' | '!');
    for w in text.split(|c: char| !is_word(c)) {
        let w = w.trim_matches(|c| c == '\'' || c == '-');
        let n = w.chars().count();
        if out.len() >= MAX_TOKENS {
            return;
        }
        if (MIN_WORD..=MAX_WORD).contains(&n) && !w.chars().all(|c| c.is_ascii_digit()) {
            out.insert(format!("{prefix}{}", w.to_lowercase()));
        }
    }
}

/// Identifies a message across deliveries: the Message-ID and the body (the part after the
/// header section, which delivery does not change), hashed with FNV-1a 64 twice (two seeds).
/// Hand-written: 10 lines, stable across Rust versions (std's hasher is not), no crate needed.
pub fn digest(message: &[u8]) -> String {
    let (head, body) = split(message);
    let id = message_id(head);
    let h = |seed: u64| {
        let mut h = seed;
        for b in id.as_bytes().iter().chain([0u8].iter()).chain(body) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    };
    format!(
        "{:016x}{:016x}",
        h(0xcbf2_9ce4_8422_2325),
        h(0x8422_2325_cbf2_9ce4)
    )
}

/// Header section and body, split at the first empty line.
fn split(message: &[u8]) -> (&[u8], &[u8]) {
    for (i, w) in message.windows(2).enumerate() {
        if w == b"\n\n" {
            return (&message[..i], &message[i + 2..]);
        }
        if w == b"\n\r" && message.get(i + 2) == Some(&b'\n') {
            return (&message[..i], &message[i + 3..]);
        }
    }
    (message, b"")
}

/// The Message-ID value (trimmed), or empty.
fn message_id(head: &[u8]) -> String {
    let text = String::from_utf8_lossy(head);
    for line in text.lines() {
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("message-id") {
                return value.trim().to_string();
            }
        }
    }
    String::new()
}
