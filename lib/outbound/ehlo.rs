//! The peer's EHLO reply read as the extensions the client may use (RFC 5321 4.1.1.1 and
//! each extension's RFC). Pure; unknown keywords are ignored, a malformed SIZE counts as
//! SIZE without a limit.

use super::reply::Reply;

/// What the peer said it supports (EHLO keywords).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    pub pipelining: bool,
    /// SIZE limit; `Some(0)` means SIZE without a limit.
    pub size: Option<u64>,
    pub eight_bit_mime: bool,
    pub smtputf8: bool,
    pub starttls: bool,
    pub dsn: bool,
    pub requiretls: bool,
    pub auth_plain: bool,
}

impl Extensions {
    pub fn parse(reply: &Reply) -> Extensions {
        let mut e = Extensions::default();
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let kw = words.next().unwrap_or("").to_ascii_uppercase();
            match kw.as_str() {
                "PIPELINING" => e.pipelining = true,
                "SIZE" => e.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0)),
                "8BITMIME" => e.eight_bit_mime = true,
                "SMTPUTF8" => e.smtputf8 = true,
                "STARTTLS" => e.starttls = true,
                "DSN" => e.dsn = true,
                "REQUIRETLS" => e.requiretls = true,
                "AUTH" => e.auth_plain |= words.any(|m| m.eq_ignore_ascii_case("PLAIN")),
                _ => {}
            }
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_and_size() {
        let r = Reply {
            code: 250,
            lines: [
                "b.test hi",
                "pipelining",
                "SIZE 1000",
                "AUTH LOGIN plain",
                "8BITMIME",
                "X-JUNK",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        };
        let e = Extensions::parse(&r);
        assert!(e.pipelining && e.auth_plain && e.eight_bit_mime);
        assert_eq!(e.size, Some(1000));
        assert!(!e.starttls && !e.dsn && !e.smtputf8);
        let r = Reply {
            code: 250,
            lines: vec!["b.test".into(), "SIZE x".into()],
        };
        assert_eq!(Extensions::parse(&r).size, Some(0));
    }
}
