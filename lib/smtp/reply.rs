//! Every SMTP reply the server sends, in one place: code, enhanced status code (RFC 3463)
//! and text. Call sites pick a function here and never spell a code themselves, so whether
//! a failure is `4xx` (try later) or `5xx` (give up) is decided once.
//! Pure data: no I/O. Multi-line replies are rendered with `-` continuation (RFC 5321 4.2.1).

use std::fmt;

/// One SMTP reply: a three-digit code and one or more text lines (the first line carries
/// the enhanced status code when there is one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply `code text`.
    pub fn new(code: u16, text: impl Into<String>) -> Reply {
        Reply {
            code,
            lines: vec![text.into()],
        }
    }

    /// True for 4xx and 5xx.
    pub fn is_error(&self) -> bool {
        self.code >= 400
    }

    /// True for 4xx: the client should try again later.
    pub fn is_temporary(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// The wire form, CRLF-terminated, continuation lines marked with `-`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let n = self.lines.len().max(1);
        for i in 0..n {
            let text = self.lines.get(i).map(String::as_str).unwrap_or("");
            let sep = if i + 1 < n { '-' } else { ' ' };
            // A CR or LF inside a text would end the reply early: never let one through.
            let clean: String = text.chars().filter(|c| *c != '\r' && *c != '\n').collect();
            out.extend_from_slice(format!("{}{}{}\r\n", self.code, sep, clean).as_bytes());
        }
        out
    }
}

impl fmt::Display for Reply {
    /// The first line, as logged: `550 5.1.1 <a@b>: Recipient address rejected: ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = self.lines.first().map(String::as_str).unwrap_or("");
        write!(f, "{} {}", self.code, first)
    }
}

// --- Connection ---------------------------------------------------------------------------

pub fn greeting(host: &str) -> Reply {
    Reply::new(220, format!("{host} ESMTP ready"))
}
pub fn closing(host: &str) -> Reply {
    Reply::new(221, format!("2.0.0 {host} closing connection"))
}
pub fn timeout(host: &str) -> Reply {
    Reply::new(421, format!("4.4.2 {host} Error: timeout exceeded"))
}
pub fn too_many_errors(host: &str) -> Reply {
    Reply::new(421, format!("4.7.0 {host} Error: too many errors"))
}
pub fn shutting_down(host: &str) -> Reply {
    Reply::new(421, format!("4.3.0 {host} Service not available, closing"))
}

// --- Greeting and generic ------------------------------------------------------------------

pub fn helo(host: &str) -> Reply {
    Reply::new(250, host.to_string())
}
/// The EHLO reply: our name, then one keyword per line.
pub fn ehlo(host: &str, keywords: &[String]) -> Reply {
    let mut lines = vec![host.to_string()];
    lines.extend(keywords.iter().cloned());
    Reply { code: 250, lines }
}
pub fn ok() -> Reply {
    Reply::new(250, "2.0.0 Ok")
}
pub fn reset() -> Reply {
    Reply::new(250, "2.0.0 Ok")
}
pub fn sender_ok() -> Reply {
    Reply::new(250, "2.1.0 Ok")
}
pub fn recipient_ok() -> Reply {
    Reply::new(250, "2.1.5 Ok")
}
pub fn vrfy() -> Reply {
    Reply::new(
        252,
        "2.0.0 Cannot VRFY user, but will accept message and attempt delivery",
    )
}
pub fn help() -> Reply {
    Reply::new(
        214,
        "2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH",
    )
}
pub fn start_data() -> Reply {
    Reply::new(354, "End data with <CR><LF>.<CR><LF>")
}
pub fn chunk_ok(octets: u64) -> Reply {
    Reply::new(250, format!("2.0.0 {octets} octets received"))
}
pub fn queued(id: &str) -> Reply {
    Reply::new(250, format!("2.0.0 Ok: queued as {id}"))
}
pub fn ready_for_tls() -> Reply {
    Reply::new(220, "2.0.0 Ready to start TLS")
}

// --- Syntax and sequence -------------------------------------------------------------------

pub fn line_too_long() -> Reply {
    Reply::new(500, "5.5.2 Line too long")
}
pub fn unknown_command() -> Reply {
    Reply::new(502, "5.5.2 Error: command not recognized")
}
pub fn syntax(detail: &str) -> Reply {
    Reply::new(501, format!("5.5.4 Syntax: {detail}"))
}
pub fn bad_bytes_in_command() -> Reply {
    Reply::new(500, "5.5.2 Error: bad syntax (bare CR or NUL in command)")
}
pub fn bad_address(detail: &str) -> Reply {
    Reply::new(501, format!("5.1.3 Bad address syntax: {detail}"))
}
pub fn utf8_address_without_smtputf8() -> Reply {
    Reply::new(553, "5.6.7 Non-ASCII address requires SMTPUTF8")
}
pub fn unsupported_parameter(name: &str) -> Reply {
    Reply::new(555, format!("5.5.4 Unsupported parameter {name}"))
}
pub fn duplicate_parameter(name: &str) -> Reply {
    Reply::new(501, format!("5.5.4 Duplicate parameter {name}"))
}
/// FUTURERELEASE (RFC 4865 3): a hold beyond our advertised limit.
pub fn hold_too_long(max_secs: u64) -> Reply {
    Reply::new(
        501,
        format!("5.5.4 Hold time exceeds the maximum of {max_secs} seconds"),
    )
}
/// REQUIRETLS (RFC 8689 4.1) on a connection without TLS.
pub fn requiretls_needs_tls() -> Reply {
    Reply::new(
        530,
        "5.7.10 REQUIRETLS needs a TLS connection, issue STARTTLS first",
    )
}
pub fn need_helo() -> Reply {
    Reply::new(503, "5.5.1 Error: send HELO/EHLO first")
}
pub fn nested_mail() -> Reply {
    Reply::new(503, "5.5.1 Error: nested MAIL command")
}
pub fn need_mail() -> Reply {
    Reply::new(503, "5.5.1 Error: need MAIL command")
}
pub fn need_rcpt() -> Reply {
    Reply::new(503, "5.5.1 Error: need RCPT command")
}
pub fn no_valid_recipients() -> Reply {
    Reply::new(554, "5.5.1 Error: no valid recipients")
}
pub fn data_after_bdat() -> Reply {
    Reply::new(503, "5.5.1 Error: DATA not allowed after BDAT")
}
pub fn bdat_expected() -> Reply {
    Reply::new(
        503,
        "5.5.1 Error: BDAT chunking in progress, only BDAT, RSET, NOOP or QUIT",
    )
}
pub fn tls_already_active() -> Reply {
    Reply::new(503, "5.5.1 Error: TLS already active")
}
pub fn tls_not_available() -> Reply {
    Reply::new(502, "5.5.1 Error: STARTTLS not available")
}
pub fn tls_unavailable_temporarily() -> Reply {
    Reply::new(454, "4.7.0 TLS not available due to local problem")
}
pub fn starttls_in_transaction() -> Reply {
    Reply::new(
        503,
        "5.5.1 Error: STARTTLS not allowed during a mail transaction",
    )
}

// --- Envelope policy -----------------------------------------------------------------------

pub fn message_size_exceeds(max: u64) -> Reply {
    Reply::new(
        552,
        format!("5.3.4 Message size exceeds fixed limit of {max} octets"),
    )
}
pub fn too_many_recipients() -> Reply {
    Reply::new(452, "4.5.3 Too many recipients")
}
pub fn unknown_user(addr: &str) -> Reply {
    Reply::new(
        550,
        format!("5.1.1 <{addr}>: Recipient address rejected: User unknown"),
    )
}
pub fn relay_denied(addr: &str) -> Reply {
    Reply::new(554, format!("5.7.1 <{addr}>: Relay access denied"))
}
pub fn lookup_failed() -> Reply {
    Reply::new(451, "4.3.0 Temporary lookup failure, try again later")
}
pub fn sender_not_owned(addr: &str) -> Reply {
    Reply::new(
        553,
        format!("5.7.1 <{addr}>: Sender address rejected: not owned by user"),
    )
}

// --- Message content ---------------------------------------------------------------------

pub fn message_too_big() -> Reply {
    Reply::new(552, "5.3.4 Message too big for system")
}
pub fn bare_cr_or_lf() -> Reply {
    Reply::new(
        554,
        "5.6.0 Message contains bare CR or LF, rejected (see RFC 5321 2.3.8)",
    )
}
pub fn data_line_too_long() -> Reply {
    Reply::new(
        552,
        "5.3.4 Message contains a line longer than 1000 octets, rejected",
    )
}
pub fn queue_failed() -> Reply {
    Reply::new(451, "4.3.0 Error: queue file write error, try again later")
}

// --- AUTH (RFC 4954) -------------------------------------------------------------------------

/// `334` challenge; `prompt` is already base64 (may be empty).
pub fn auth_challenge(prompt: &str) -> Reply {
    Reply::new(334, prompt.to_string())
}
pub fn auth_ok() -> Reply {
    Reply::new(235, "2.7.0 Authentication successful")
}
pub fn auth_failed() -> Reply {
    Reply::new(535, "5.7.8 Authentication credentials invalid")
}
pub fn auth_temp_failure() -> Reply {
    Reply::new(454, "4.7.0 Temporary authentication failure")
}
pub fn auth_cancelled() -> Reply {
    Reply::new(501, "5.7.0 Authentication cancelled")
}
pub fn auth_bad_base64() -> Reply {
    Reply::new(501, "5.5.2 Cannot decode response")
}
pub fn auth_already() -> Reply {
    Reply::new(503, "5.5.1 Error: already authenticated")
}
pub fn auth_in_transaction() -> Reply {
    Reply::new(
        503,
        "5.5.1 Error: AUTH not allowed during a mail transaction",
    )
}
pub fn auth_mechanism_unknown() -> Reply {
    Reply::new(504, "5.5.4 Unrecognized authentication mechanism")
}
pub fn auth_not_available() -> Reply {
    Reply::new(503, "5.5.1 Error: authentication not enabled")
}
pub fn encryption_required() -> Reply {
    Reply::new(
        538,
        "5.7.11 Encryption required for requested authentication mechanism",
    )
}
pub fn auth_required() -> Reply {
    Reply::new(530, "5.7.0 Authentication required")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiline_uses_dash_continuation() {
        let r = ehlo("mx", &["PIPELINING".into(), "8BITMIME".into()]);
        assert_eq!(
            r.to_bytes(),
            b"250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n".to_vec()
        );
    }

    #[test]
    fn text_cannot_inject_lines() {
        let r = unknown_user("a\r\n250 ok@b");
        let wire = r.to_bytes();
        assert_eq!(wire.iter().filter(|b| **b == b'\n').count(), 1);
    }

    #[test]
    fn display_is_first_line() {
        assert_eq!(
            too_many_recipients().to_string(),
            "452 4.5.3 Too many recipients"
        );
        assert!(too_many_recipients().is_temporary());
    }
}
