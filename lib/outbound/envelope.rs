//! What one SMTP transaction carries: sender, recipients with their DSN parameters (RFC
//! 3461), the message's size and 8-bit/UTF-8/REQUIRETLS needs. Plain data built by the
//! caller from the spool envelope; `xtext` encodes DSN values for the wire.

/// One recipient and its DSN parameters (already in xtext where RFC 3461 says so).
#[derive(Debug, Clone, Default)]
pub struct RcptSpec {
    pub address: String,
    pub notify: Option<String>,
    pub orcpt: Option<String>,
}

/// One message to send.
#[derive(Debug, Clone, Default)]
pub struct Transaction {
    pub sender: String,
    pub rcpts: Vec<RcptSpec>,
    /// Size in octets (as sent, before dot-stuffing).
    pub size: u64,
    pub eight_bit: bool,
    pub smtputf8: bool,
    pub requiretls: bool,
    pub ret: Option<String>,
    pub envid: Option<String>,
}

/// A DSN parameter value that cannot break the command line.
pub(super) fn safe_param(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_graphic())
}

/// RFC 3461 xtext: `+XX` for `+`, `=` and anything outside `!`..`~`.
pub fn xtext(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xtext_and_safe_params() {
        assert_eq!(xtext("a+b=c d\u{e9}"), "a+2Bb+3Dc+20d+C3+A9");
        assert!(safe_param("FAILURE,DELAY"));
        assert!(!safe_param("a b") && !safe_param("") && !safe_param("x\r\n"));
    }
}
