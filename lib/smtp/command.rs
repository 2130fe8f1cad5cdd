//! Command parsing: one command line (CRLF already removed, length already capped) into a
//! typed `Command`. Verbs are case-insensitive; `MAIL FROM: <a@b>` with a space after the
//! colon is accepted, as common clients send it. Knows nothing of session state or policy.
//! MAIL and RCPT parameters: SIZE, BODY, SMTPUTF8, AUTH, the DSN ones (`dsn`), HOLDFOR and
//! HOLDUNTIL (`release`) and REQUIRETLS; whether the session offers them is the session's call.
//! Errors: the `Reply` to send (501 bad value or duplicate, 502, 553, 555 unknown parameter).

use super::address::{self, Address};
use super::dsn::{self, Notify, Ret};
use super::release::Hold;
use super::reply::{self, Reply};

/// BODY= parameter of MAIL (RFC 6152).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    SevenBit,
    EightBitMime,
}

/// MAIL FROM with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailFrom {
    pub sender: Address,
    pub size: Option<u64>,
    pub body: Body,
    pub smtputf8: bool,
    /// DSN RET (RFC 3461 4.3).
    pub ret: Option<Ret>,
    /// DSN ENVID (RFC 3461 4.4), xtext-decoded.
    pub envid: Option<String>,
    /// FUTURERELEASE HOLDFOR/HOLDUNTIL (RFC 4865).
    pub hold: Option<Hold>,
    /// REQUIRETLS (RFC 8689).
    pub require_tls: bool,
}

/// RCPT TO with its DSN parameters (RFC 3461 4.1, 4.2). The address fields are those of
/// `Address`, flattened so that `rcpt.text` reads as it did before parameters existed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcptTo {
    /// The address as in `Address::text`.
    pub text: String,
    /// The address needs SMTPUTF8.
    pub utf8: bool,
    pub notify: Option<Notify>,
    /// `addr-type;address`, xtext-decoded.
    pub orcpt: Option<String>,
}

/// AUTH mechanisms we implement (RFC 4954, RFC 4616; LOGIN as deployed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Login,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ehlo(String),
    Helo(String),
    Mail(MailFrom),
    Rcpt(RcptTo),
    Data,
    Bdat {
        size: u64,
        last: bool,
    },
    Rset,
    Noop,
    Quit,
    Vrfy,
    Help,
    StartTls,
    Auth {
        mechanism: Mechanism,
        initial: Option<String>,
    },
}

impl Command {
    /// The verb for logs (`RCPT`, `DATA`, …).
    pub fn verb(&self) -> &'static str {
        match self {
            Command::Ehlo(_) => "EHLO",
            Command::Helo(_) => "HELO",
            Command::Mail(_) => "MAIL",
            Command::Rcpt(_) => "RCPT",
            Command::Data => "DATA",
            Command::Bdat { .. } => "BDAT",
            Command::Rset => "RSET",
            Command::Noop => "NOOP",
            Command::Quit => "QUIT",
            Command::Vrfy => "VRFY",
            Command::Help => "HELP",
            Command::StartTls => "STARTTLS",
            Command::Auth { .. } => "AUTH",
        }
    }
}

/// Parses one command line. `line` must not contain the CRLF.
pub fn parse(line: &[u8]) -> Result<Command, Reply> {
    if line.iter().any(|b| *b == b'\r' || *b == 0 || *b == b'\n') {
        return Err(reply::bad_bytes_in_command());
    }
    let line = std::str::from_utf8(line).map_err(|_| reply::syntax("command is not UTF-8"))?;
    let (verb, rest) = match line.split_once(' ') {
        Some((v, r)) => (v, r),
        None => (line, ""),
    };
    let no_args = |c: Command| -> Result<Command, Reply> {
        match rest.trim().is_empty() {
            true => Ok(c),
            false => Err(reply::syntax(&format!("{} takes no arguments", c.verb()))),
        }
    };
    match verb.to_ascii_uppercase().as_str() {
        "EHLO" => hello(rest, "EHLO hostname").map(Command::Ehlo),
        "HELO" => hello(rest, "HELO hostname").map(Command::Helo),
        "MAIL" => mail(rest).map(Command::Mail),
        "RCPT" => rcpt(rest).map(Command::Rcpt),
        "DATA" => no_args(Command::Data),
        "BDAT" => bdat(rest),
        "RSET" => no_args(Command::Rset),
        "NOOP" => Ok(Command::Noop),
        "QUIT" => no_args(Command::Quit),
        "VRFY" => match rest.trim().is_empty() {
            true => Err(reply::syntax("VRFY address")),
            false => Ok(Command::Vrfy),
        },
        "HELP" => Ok(Command::Help),
        "STARTTLS" => no_args(Command::StartTls),
        "AUTH" => auth(rest),
        _ => Err(reply::unknown_command()),
    }
}

fn hello(rest: &str, usage: &str) -> Result<String, Reply> {
    let name = rest.trim();
    if name.is_empty() || name.chars().any(|c| c.is_control() || c == ' ') {
        return Err(reply::syntax(usage));
    }
    Ok(name.to_string())
}

/// Splits `FROM:<path> params` after the given keyword; tolerates spaces after the colon.
fn path_and_params<'a>(
    rest: &'a str,
    keyword: &str,
    usage: &str,
) -> Result<(&'a str, Vec<&'a str>), Reply> {
    let kw_len = keyword.len();
    let head = rest.get(..kw_len).ok_or_else(|| reply::syntax(usage))?;
    if !head.eq_ignore_ascii_case(keyword) {
        return Err(reply::syntax(usage));
    }
    let after = rest[kw_len..].trim_start();
    let end = after.find('>').ok_or_else(|| reply::syntax(usage))?;
    // A quoted local part may hold '>'; find the '>' that closes the path.
    let end = closing_bracket(after).unwrap_or(end);
    let (path, params) = after.split_at(end + 1);
    if !params.is_empty() && !params.starts_with(' ') {
        return Err(reply::syntax(usage));
    }
    Ok((path, params.split(' ').filter(|p| !p.is_empty()).collect()))
}

/// Index of the `>` that ends a path, skipping quoted strings.
fn closing_bracket(s: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '>' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

fn mail(rest: &str) -> Result<MailFrom, Reply> {
    let (path, params) = path_and_params(rest, "FROM:", "MAIL FROM:<address>")?;
    let sender = address::parse_path(path, true, false).map_err(reply::bad_address)?;
    let mut m = MailFrom {
        sender,
        size: None,
        body: Body::SevenBit,
        smtputf8: false,
        ret: None,
        envid: None,
        hold: None,
        require_tls: false,
    };
    let mut seen = Vec::new();
    for p in params {
        let (key, value) = match p.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (p, None),
        };
        let key = key.to_ascii_uppercase();
        once(&mut seen, &key)?;
        match (key.as_str(), value) {
            ("SIZE", Some(v)) => {
                let n = v
                    .parse::<u64>()
                    .map_err(|_| reply::syntax("SIZE=<octets>"))?;
                m.size = Some(n);
            }
            ("BODY", Some(v)) if v.eq_ignore_ascii_case("7BIT") => m.body = Body::SevenBit,
            ("BODY", Some(v)) if v.eq_ignore_ascii_case("8BITMIME") => m.body = Body::EightBitMime,
            ("SMTPUTF8", None) => m.smtputf8 = true,
            // RFC 4954 5: accepted; we record the AUTH identity ourselves.
            ("AUTH", Some(_)) => {}
            ("RET", Some(v)) => m.ret = Some(Ret::parse(v)?),
            ("ENVID", Some(v)) => m.envid = Some(dsn::parse_envid(v)?),
            ("HOLDFOR" | "HOLDUNTIL", _) if m.hold.is_some() => {
                return Err(reply::syntax("HOLDFOR and HOLDUNTIL together"))
            }
            ("HOLDFOR", Some(v)) => m.hold = Some(Hold::parse_for(v)?),
            ("HOLDUNTIL", Some(v)) => m.hold = Some(Hold::parse_until(v)?),
            ("REQUIRETLS", None) => m.require_tls = true,
            _ => return Err(reply::unsupported_parameter(p)),
        }
    }
    if m.sender.utf8 && !m.smtputf8 {
        return Err(reply::utf8_address_without_smtputf8());
    }
    Ok(m)
}

fn rcpt(rest: &str) -> Result<RcptTo, Reply> {
    let (path, params) = path_and_params(rest, "TO:", "RCPT TO:<address>")?;
    let a = address::parse_path(path, false, true).map_err(reply::bad_address)?;
    let mut r = RcptTo {
        text: a.text,
        utf8: a.utf8,
        notify: None,
        orcpt: None,
    };
    let mut seen = Vec::new();
    for p in params {
        let (key, value) = match p.split_once('=') {
            Some((k, v)) => (k.to_ascii_uppercase(), Some(v)),
            None => (p.to_ascii_uppercase(), None),
        };
        once(&mut seen, &key)?;
        match (key.as_str(), value) {
            ("NOTIFY", Some(v)) => r.notify = Some(Notify::parse(v)?),
            ("ORCPT", Some(v)) => r.orcpt = Some(dsn::parse_orcpt(v)?),
            _ => return Err(reply::unsupported_parameter(p)),
        }
    }
    Ok(r)
}

/// Refuses a parameter given twice (RFC 5321 4.1.2 allows each keyword once).
fn once(seen: &mut Vec<String>, key: &str) -> Result<(), Reply> {
    if seen.iter().any(|k| k == key) {
        return Err(reply::duplicate_parameter(key));
    }
    seen.push(key.to_string());
    Ok(())
}

fn bdat(rest: &str) -> Result<Command, Reply> {
    let usage = "BDAT <octets> [LAST]";
    let mut words = rest.split(' ').filter(|w| !w.is_empty());
    let size = words
        .next()
        .filter(|w| w.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|w| w.parse::<u64>().ok())
        .ok_or_else(|| reply::syntax(usage))?;
    let last = match words.next() {
        None => false,
        Some(w) if w.eq_ignore_ascii_case("LAST") => true,
        Some(_) => return Err(reply::syntax(usage)),
    };
    if words.next().is_some() {
        return Err(reply::syntax(usage));
    }
    Ok(Command::Bdat { size, last })
}

fn auth(rest: &str) -> Result<Command, Reply> {
    let mut words = rest.split(' ').filter(|w| !w.is_empty());
    let mechanism = match words.next().map(str::to_ascii_uppercase).as_deref() {
        Some("PLAIN") => Mechanism::Plain,
        Some("LOGIN") => Mechanism::Login,
        Some(_) => return Err(reply::auth_mechanism_unknown()),
        None => return Err(reply::syntax("AUTH mechanism [initial-response]")),
    };
    let initial = words.next().map(str::to_string);
    if words.next().is_some() {
        return Err(reply::syntax("AUTH mechanism [initial-response]"));
    }
    Ok(Command::Auth { mechanism, initial })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_commands() {
        assert_eq!(
            parse(b"ehlo client.test").unwrap(),
            Command::Ehlo("client.test".into())
        );
        assert_eq!(parse(b"QUIT").unwrap(), Command::Quit);
        assert_eq!(parse(b"noop anything").unwrap(), Command::Noop);
        assert_eq!(
            parse(b"BDAT 10 LAST").unwrap(),
            Command::Bdat {
                size: 10,
                last: true
            }
        );
        assert_eq!(
            parse(b"bdat 0").unwrap(),
            Command::Bdat {
                size: 0,
                last: false
            }
        );
        assert!(parse(b"BDAT -1").is_err());
        assert!(parse(b"BDAT 1 FIRST").is_err());
        assert_eq!(parse(b"FOO").unwrap_err().code, 502);
        assert_eq!(parse(b"DATA x").unwrap_err().code, 501);
        assert_eq!(parse(b"EHLO").unwrap_err().code, 501);
    }

    #[test]
    fn mail_parameters() {
        let Command::Mail(m) =
            parse(b"MAIL FROM: <a@b.test> SIZE=100 BODY=8bitmime AUTH=<>").unwrap()
        else {
            panic!()
        };
        assert_eq!(m.sender.text, "a@b.test");
        assert_eq!(m.size, Some(100));
        assert_eq!(m.body, Body::EightBitMime);
        let Command::Mail(m) = parse(b"MAIL FROM:<> SMTPUTF8").unwrap() else {
            panic!()
        };
        assert!(m.smtputf8 && m.sender.text.is_empty());
        assert_eq!(
            parse(b"MAIL FROM:<a@b.test> BODY=BINARYMIME")
                .unwrap_err()
                .code,
            555
        );
        assert_eq!(parse(b"MAIL FROM:<a@b.test> SIZE=x").unwrap_err().code, 501);
        assert_eq!(
            parse("MAIL FROM:<ü@b.test>".as_bytes()).unwrap_err().code,
            553
        );
        assert!(parse("MAIL FROM:<ü@b.test> SMTPUTF8".as_bytes()).is_ok());
        assert_eq!(parse(b"MAIL TO:<a@b.test>").unwrap_err().code, 501);
        let Command::Mail(m) =
            parse(b"MAIL FROM:<a@b.test> RET=HDRS ENVID=QQ+2B1 HOLDFOR=60 REQUIRETLS").unwrap()
        else {
            panic!()
        };
        assert_eq!(m.ret, Some(Ret::Hdrs));
        assert_eq!(m.envid.as_deref(), Some("QQ+1"));
        assert_eq!(m.hold, Some(Hold::For(60)));
        assert!(m.require_tls);
        for (line, code) in [
            (&b"MAIL FROM:<a@b.test> RET=FULL RET=HDRS"[..], 501),
            (b"MAIL FROM:<a@b.test> RET=ALL", 501),
            (b"MAIL FROM:<a@b.test> ENVID=a=b", 501),
            (
                b"MAIL FROM:<a@b.test> HOLDFOR=10 HOLDUNTIL=2030-01-01T00:00:00Z",
                501,
            ),
            (b"MAIL FROM:<a@b.test> HOLDFOR=soon", 501),
            (b"MAIL FROM:<a@b.test> REQUIRETLS=yes", 555),
            (b"MAIL FROM:<a@b.test> NOTIFY=NEVER", 555),
        ] {
            assert_eq!(
                parse(line).unwrap_err().code,
                code,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        let Command::Mail(m) = parse(b"MAIL FROM:<\"a>b\"@c.test>").unwrap() else {
            panic!()
        };
        assert_eq!(m.sender.text, "\"a>b\"@c.test");
    }

    #[test]
    fn rcpt_forms() {
        assert_eq!(
            parse(b"RCPT TO:<Postmaster>").unwrap(),
            Command::Rcpt(RcptTo {
                text: "postmaster".into(),
                utf8: false,
                notify: None,
                orcpt: None
            })
        );
        assert_eq!(parse(b"RCPT TO:<>").unwrap_err().code, 501);
        let Command::Rcpt(r) =
            parse(b"RCPT TO:<a@b.test> notify=success,failure ORCPT=rfc822;A+40b.test").unwrap()
        else {
            panic!()
        };
        assert_eq!(r.notify.unwrap().to_string(), "SUCCESS,FAILURE");
        assert_eq!(r.orcpt.as_deref(), Some("rfc822;A@b.test"));
        assert_eq!(parse(b"RCPT TO:<a@b.test> XFOO=1").unwrap_err().code, 555);
        assert_eq!(
            parse(b"RCPT TO:<a@b.test> NOTIFY=NEVER NOTIFY=NEVER")
                .unwrap_err()
                .code,
            501
        );
        assert_eq!(
            parse(b"RCPT TO:<a@b.test> NOTIFY=SOMETIMES")
                .unwrap_err()
                .code,
            501
        );
        assert_eq!(parse(b"RCPT TO:<a@b.test> ORCPT=x").unwrap_err().code, 501);
        assert_eq!(parse(b"RCPT TO:a@b.test").unwrap_err().code, 501);
    }

    #[test]
    fn auth_forms() {
        assert_eq!(
            parse(b"AUTH plain AGEAYg==").unwrap(),
            Command::Auth {
                mechanism: Mechanism::Plain,
                initial: Some("AGEAYg==".into())
            }
        );
        assert_eq!(parse(b"AUTH CRAM-MD5").unwrap_err().code, 504);
    }

    #[test]
    fn bare_cr_and_nul_refused() {
        assert_eq!(parse(b"NOOP\rx").unwrap_err().code, 500);
        assert_eq!(parse(b"NOOP\0").unwrap_err().code, 500);
    }
}
