//! DSN parameters (RFC 3461): `RET` and `ENVID` on MAIL, `NOTIFY` and `ORCPT` on RCPT, and
//! the xtext encoding (RFC 3461 4) they are written in. Parses values into typed form and
//! checks them; knows nothing of sessions, envelopes or bounces (which store and honour them).
//! Errors: the `Reply` to send (`501 5.5.4` for a bad value).

use super::reply::{self, Reply};
use std::fmt;

/// RFC 3461 4.4: an ENVID is at most 100 characters (as sent, xtext-encoded).
pub const MAX_ENVID: usize = 100;
/// RFC 3461 4.2: an ORCPT is at most 500 characters (as sent).
pub const MAX_ORCPT: usize = 500;

/// RET: how much of the message a failure DSN returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    Full,
    Hdrs,
}

impl Ret {
    pub fn parse(v: &str) -> Result<Ret, Reply> {
        match v.to_ascii_uppercase().as_str() {
            "FULL" => Ok(Ret::Full),
            "HDRS" => Ok(Ret::Hdrs),
            _ => Err(reply::syntax("RET=FULL or RET=HDRS")),
        }
    }

    /// `FULL` or `HDRS`, as stored in the envelope.
    pub fn as_str(self) -> &'static str {
        match self {
            Ret::Full => "FULL",
            Ret::Hdrs => "HDRS",
        }
    }
}

/// NOTIFY: which DSNs the sender wants for one recipient. All false is `NEVER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notify {
    pub success: bool,
    pub failure: bool,
    pub delay: bool,
}

impl Default for Notify {
    /// No NOTIFY given: failures and delays are reported (RFC 3461 4.1 leaves DELAY to us).
    fn default() -> Notify {
        Notify {
            success: false,
            failure: true,
            delay: true,
        }
    }
}

impl Notify {
    pub const NEVER: Notify = Notify {
        success: false,
        failure: false,
        delay: false,
    };

    /// `NEVER`, or a comma list of `SUCCESS`, `FAILURE`, `DELAY` (case-insensitive).
    pub fn parse(v: &str) -> Result<Notify, Reply> {
        let usage = || reply::syntax("NOTIFY=NEVER or NOTIFY=SUCCESS,FAILURE,DELAY");
        if v.eq_ignore_ascii_case("NEVER") {
            return Ok(Notify::NEVER);
        }
        let mut n = Notify::NEVER;
        for word in v.split(',') {
            match word.to_ascii_uppercase().as_str() {
                "SUCCESS" => n.success = true,
                "FAILURE" => n.failure = true,
                "DELAY" => n.delay = true,
                _ => return Err(usage()),
            }
        }
        Ok(n)
    }
}

impl fmt::Display for Notify {
    /// The stored form: `NEVER` or e.g. `SUCCESS,FAILURE`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Notify::NEVER {
            return f.write_str("NEVER");
        }
        let words: Vec<&str> = [
            (self.success, "SUCCESS"),
            (self.failure, "FAILURE"),
            (self.delay, "DELAY"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, w)| *w)
        .collect();
        f.write_str(&words.join(","))
    }
}

/// Decodes xtext (`+XX` hex escapes, other characters `!`..`~` except `+` and `=`).
/// `None` when the text is not valid xtext.
pub fn xtext_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                let hex = s.get(i + 1..i + 3)?;
                if !hex
                    .bytes()
                    .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c))
                {
                    return None;
                }
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'=' => return None,
            c @ 33..=126 => {
                out.push(c);
                i += 1;
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Encodes bytes as xtext (for passing ENVID/ORCPT on to another server).
pub fn xtext_encode(s: &str) -> String {
    s.bytes()
        .map(|c| match c {
            b'+' | b'=' => format!("+{c:02X}"),
            33..=126 => (c as char).to_string(),
            _ => format!("+{c:02X}"),
        })
        .collect()
}

/// The ORCPT parameter to send on for a stored `addr-type;address` (re-encoded as xtext).
pub fn orcpt_param(stored: &str) -> String {
    match stored.split_once(';') {
        Some((kind, addr)) => format!("{kind};{}", xtext_encode(addr)),
        None => format!("rfc822;{}", xtext_encode(stored)),
    }
}

/// ENVID: xtext of printable US-ASCII; returns the decoded id.
pub fn parse_envid(v: &str) -> Result<String, Reply> {
    let bad = || reply::syntax("ENVID=<xtext of printable US-ASCII, at most 100 characters>");
    if v.is_empty() || v.len() > MAX_ENVID {
        return Err(bad());
    }
    let raw = xtext_decode(v).ok_or_else(bad)?;
    if !raw.iter().all(|c| (32..=126).contains(c)) {
        return Err(bad());
    }
    String::from_utf8(raw).map_err(|_| bad())
}

/// ORCPT: `addr-type;xtext`; returns `addr-type;decoded address` (type lower-cased).
/// The decoded address may be UTF-8 (RFC 6533) but never holds control characters.
pub fn parse_orcpt(v: &str) -> Result<String, Reply> {
    let bad = || reply::syntax("ORCPT=<addr-type>;<xtext address>");
    if v.len() > MAX_ORCPT {
        return Err(bad());
    }
    let (kind, addr) = v.split_once(';').ok_or_else(bad)?;
    let atom = |c: char| c.is_ascii_alphanumeric() || c == '-';
    if kind.is_empty() || !kind.chars().all(atom) || addr.is_empty() {
        return Err(bad());
    }
    let raw = xtext_decode(addr).ok_or_else(bad)?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    if text.chars().any(char::is_control) {
        return Err(bad());
    }
    Ok(format!("{};{text}", kind.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_forms() {
        assert_eq!(Notify::parse("never").unwrap(), Notify::NEVER);
        let n = Notify::parse("SUCCESS,delay").unwrap();
        assert!(n.success && n.delay && !n.failure);
        assert_eq!(n.to_string(), "SUCCESS,DELAY");
        assert_eq!(Notify::NEVER.to_string(), "NEVER");
        assert_eq!(Notify::parse("NEVER,SUCCESS").unwrap_err().code, 501);
        assert_eq!(Notify::parse("").unwrap_err().code, 501);
        assert_eq!(Notify::parse("FAILURE,").unwrap_err().code, 501);
        assert_eq!(
            Notify::parse(&Notify::default().to_string()).unwrap(),
            Notify::default()
        );
    }

    #[test]
    fn xtext_round_trip_and_refusals() {
        assert_eq!(xtext_decode("a+2Bb+3Dc").unwrap(), b"a+b=c");
        assert_eq!(xtext_encode("a+b=c d"), "a+2Bb+3Dc+20d");
        assert!(xtext_decode("a+2b").is_none(), "lower-case hex");
        assert!(xtext_decode("a+2").is_none());
        assert!(xtext_decode("a=b").is_none());
        assert!(xtext_decode("a\u{e9}").is_none());
        let s = "Q+x=y \u{e9}";
        let back = xtext_decode(&xtext_encode(s)).unwrap();
        assert_eq!(String::from_utf8(back).unwrap(), s);
    }

    #[test]
    fn envid_and_orcpt() {
        assert_eq!(parse_envid("QQ+2B314").unwrap(), "QQ+314");
        assert_eq!(parse_envid("a+0D+0Ab").unwrap_err().code, 501);
        assert_eq!(parse_envid(&"x".repeat(101)).unwrap_err().code, 501);
        assert_eq!(
            parse_orcpt("RFC822;Bob+40example.org").unwrap(),
            "rfc822;Bob@example.org"
        );
        assert_eq!(
            parse_orcpt("utf-8;J+C3+B6rg@example.org").unwrap(),
            "utf-8;J\u{f6}rg@example.org"
        );
        assert_eq!(parse_orcpt("rfc822").unwrap_err().code, 501);
        assert_eq!(parse_orcpt(";a@b").unwrap_err().code, 501);
        assert_eq!(parse_orcpt("rfc822;a+0D+0A@b").unwrap_err().code, 501);
        assert_eq!(orcpt_param("rfc822;a+b@c"), "rfc822;a+2Bb@c");
        assert_eq!(Ret::parse("hdrs").unwrap(), Ret::Hdrs);
        assert_eq!(Ret::parse("ALL").unwrap_err().code, 501);
    }
}
