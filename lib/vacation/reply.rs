//! The auto-reply message (RFC 3834 section 3): `From:` the user, `To:` the envelope sender,
//! the user's subject, `In-Reply-To:`/`References:` threading it to the original,
//! `Auto-Submitted: auto-replied`, plain text. Non-ASCII subjects are RFC 2047 encoded and
//! non-ASCII bodies base64 encoded, so the reply needs neither 8BITMIME nor SMTPUTF8
//! (hand-written: a dozen lines, not worth mail-builder's dependency tree).
//! Pure; never fails.

use base64::Engine;
use mail_parser::{HeaderValue, MessageParser};

/// What the reply is built from.
pub struct Reply<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    /// The original message's header.
    pub original: &'a [u8],
    pub hostname: &'a str,
    /// RFC 5322 date.
    pub date: &'a str,
    /// Unique per reply (used in the Message-ID).
    pub unique: &'a str,
}

/// The message bytes, CRLF line ends.
pub fn build(r: &Reply) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut h = format!(
        "From: <{}>\r\nTo: <{}>\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: <vacation.{}@{}>\r\n",
        r.from,
        r.to,
        encode_word(r.subject),
        r.date,
        r.unique,
        r.hostname
    );
    if let Some(msg) = MessageParser::default().parse_headers(r.original) {
        if let Some(id) = msg.message_id() {
            let mut refs: Vec<String> = match msg.references() {
                HeaderValue::Text(t) => vec![t.to_string()],
                HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
                _ => Vec::new(),
            };
            refs.push(id.to_string());
            let refs: Vec<String> = refs.iter().map(|r| format!("<{r}>")).collect();
            h.push_str(&format!(
                "In-Reply-To: <{id}>\r\nReferences: {}\r\n",
                refs.join("\r\n ")
            ));
        }
    }
    h.push_str("Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n");
    let body = r.body.replace("\r\n", "\n");
    if body.is_ascii() {
        h.push_str("Content-Type: text/plain; charset=us-ascii\r\n\r\n");
        for line in body.lines() {
            h.push_str(line);
            h.push_str("\r\n");
        }
    } else {
        h.push_str("Content-Type: text/plain; charset=utf-8\r\n");
        h.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
        let enc = b64.encode(body.replace('\n', "\r\n"));
        for chunk in enc.as_bytes().chunks(76) {
            h.push_str(&String::from_utf8_lossy(chunk));
            h.push_str("\r\n");
        }
    }
    h.into_bytes()
}

/// The text itself when ASCII without control characters, else one RFC 2047 word.
fn encode_word(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
        return s.to_string();
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    format!("=?utf-8?b?{}?=", b64.encode(s.replace(['\r', '\n'], " ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_and_marks_the_reply() {
        let orig = b"Message-ID: <m2@x>\r\nReferences: <m1@x>\r\nSubject: hi\r\n\r\n";
        let out = build(&Reply {
            from: "demo@example.test",
            to: "bob@remote.test",
            subject: "Away",
            body: "Back Monday.\n",
            original: orig,
            hostname: "mx.test",
            date: "Sat, 28 Nov 2026 03:54:10 +0000",
            unique: "1",
        });
        let t = String::from_utf8(out).unwrap();
        assert!(t.contains("In-Reply-To: <m2@x>\r\n"), "{t}");
        assert!(t.contains("References: <m1@x>\r\n <m2@x>\r\n"), "{t}");
        assert!(t.contains("Auto-Submitted: auto-replied\r\n"));
        assert!(t.contains("To: <bob@remote.test>\r\n"));
        assert!(t.ends_with("\r\n\r\nBack Monday.\r\n"), "{t}");
    }

    #[test]
    fn encodes_non_ascii() {
        let t = String::from_utf8(build(&Reply {
            from: "a@b",
            to: "c@d",
            subject: "Abwesend – Urlaub",
            body: "Zurück am Montag",
            original: b"",
            hostname: "h",
            date: "d",
            unique: "u",
        }))
        .unwrap();
        assert!(t.contains("Subject: =?utf-8?b?"));
        assert!(t.contains("Content-Transfer-Encoding: base64"));
        assert!(t.is_ascii());
    }
}
