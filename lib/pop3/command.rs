//! POP3 command lines (RFC 1939, 2449, 2595, 5034) parsed into `Command`: keywords are
//! case-insensitive, arguments separated by single spaces; PASS takes the rest of the line
//! (passwords may hold spaces). Message numbers are checked for syntax here, for range by the
//! session. Never panics; anything else is a `Bad` with the text for the `-ERR` line.

/// One parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    User(String),
    Pass(String),
    /// `AUTH` alone lists the mechanisms; else mechanism and optional initial response.
    Auth(Option<(String, Option<String>)>),
    Stls,
    Capa,
    Quit,
    Stat,
    List(Option<u32>),
    Retr(u32),
    Dele(u32),
    Noop,
    Rset,
    Top(u32, u64),
    Uidl(Option<u32>),
}

/// Why a line is not a command we take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bad {
    Unknown,
    Syntax(&'static str),
}

/// Parses one line (without CRLF).
pub fn parse(line: &[u8]) -> Result<Command, Bad> {
    let Ok(line) = std::str::from_utf8(line) else {
        return Err(Bad::Syntax("command is not UTF-8"));
    };
    let (verb, rest) = match line.split_once(' ') {
        Some((v, r)) => (v, Some(r)),
        None => (line, None),
    };
    let args: Vec<&str> = rest.map_or_else(Vec::new, |r| r.split(' ').collect());
    let verb = verb.to_ascii_uppercase();
    match verb.as_str() {
        "USER" => one_string(&args).map(Command::User),
        "PASS" => match rest {
            Some(p) if !p.is_empty() => Ok(Command::Pass(p.to_string())),
            _ => Err(Bad::Syntax("PASS needs a password")),
        },
        "AUTH" => auth(&args),
        "STLS" => none(&args, Command::Stls),
        "CAPA" => none(&args, Command::Capa),
        "QUIT" => none(&args, Command::Quit),
        "STAT" => none(&args, Command::Stat),
        "NOOP" => none(&args, Command::Noop),
        "RSET" => none(&args, Command::Rset),
        "LIST" => optional_msg(&args).map(Command::List),
        "UIDL" => optional_msg(&args).map(Command::Uidl),
        "RETR" => one_msg(&args).map(Command::Retr),
        "DELE" => one_msg(&args).map(Command::Dele),
        "TOP" => match args.as_slice() {
            [m, n] => Ok(Command::Top(msg_number(m)?, number(n)?)),
            _ => Err(Bad::Syntax("usage: TOP msg n")),
        },
        _ => Err(Bad::Unknown),
    }
}

fn none(args: &[&str], c: Command) -> Result<Command, Bad> {
    if args.is_empty() {
        Ok(c)
    } else {
        Err(Bad::Syntax("no arguments allowed"))
    }
}

fn one_string(args: &[&str]) -> Result<String, Bad> {
    match args {
        [a] if !a.is_empty() => Ok((*a).to_string()),
        _ => Err(Bad::Syntax("exactly one argument needed")),
    }
}

fn one_msg(args: &[&str]) -> Result<u32, Bad> {
    match args {
        [a] => msg_number(a),
        _ => Err(Bad::Syntax("a message number is needed")),
    }
}

fn optional_msg(args: &[&str]) -> Result<Option<u32>, Bad> {
    match args {
        [] => Ok(None),
        [a] => msg_number(a).map(Some),
        _ => Err(Bad::Syntax("at most one message number")),
    }
}

fn msg_number(s: &str) -> Result<u32, Bad> {
    match number(s)? {
        0 => Err(Bad::Syntax("no such message")),
        n => u32::try_from(n).map_err(|_| Bad::Syntax("no such message")),
    }
}

fn number(s: &str) -> Result<u64, Bad> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Bad::Syntax("invalid number"));
    }
    s.parse().map_err(|_| Bad::Syntax("invalid number"))
}

fn auth(args: &[&str]) -> Result<Command, Bad> {
    match args {
        [] => Ok(Command::Auth(None)),
        [m] if !m.is_empty() => Ok(Command::Auth(Some((m.to_ascii_uppercase(), None)))),
        [m, ir] if !m.is_empty() && !ir.is_empty() => Ok(Command::Auth(Some((
            m.to_ascii_uppercase(),
            Some((*ir).to_string()),
        )))),
        _ => Err(Bad::Syntax("usage: AUTH mechanism [initial-response]")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc1939_commands() {
        assert_eq!(parse(b"user bob"), Ok(Command::User("bob".into())));
        assert_eq!(
            parse(b"PASS two words"),
            Ok(Command::Pass("two words".into()))
        );
        assert_eq!(parse(b"LIST"), Ok(Command::List(None)));
        assert_eq!(parse(b"list 2"), Ok(Command::List(Some(2))));
        assert_eq!(parse(b"TOP 1 10"), Ok(Command::Top(1, 10)));
        assert_eq!(parse(b"uidl"), Ok(Command::Uidl(None)));
        assert_eq!(parse(b"RETR 7"), Ok(Command::Retr(7)));
        assert_eq!(parse(b"DELE 1"), Ok(Command::Dele(1)));
        assert_eq!(parse(b"STLS"), Ok(Command::Stls));
        assert_eq!(
            parse(b"AUTH plain AGJvYgBwdw=="),
            Ok(Command::Auth(Some((
                "PLAIN".into(),
                Some("AGJvYgBwdw==".into())
            ))))
        );
        assert_eq!(parse(b"AUTH"), Ok(Command::Auth(None)));
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(parse(b"XYZZY"), Err(Bad::Unknown));
        assert_eq!(parse(b""), Err(Bad::Unknown));
        assert!(parse(b"RETR").is_err());
        assert!(parse(b"RETR 0").is_err());
        assert!(parse(b"RETR -1").is_err());
        assert!(parse(b"RETR 99999999999999999999999").is_err());
        assert!(parse(b"RETR 4294967296").is_err());
        assert!(parse(b"RETR 1 2").is_err());
        assert!(parse(b"TOP 1").is_err());
        assert!(parse(b"TOP 1 x").is_err());
        assert!(parse(b"STAT now").is_err());
        assert!(parse(b"USER").is_err());
        assert!(parse(b"PASS").is_err());
        assert!(parse(b"USER \xff").is_err());
    }
}
