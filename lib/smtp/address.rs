//! Address syntax of RFC 5321 4.1.2 (Path, Mailbox, Dot-string, Quoted-string, domains and
//! address literals), widened by RFC 6531 for UTF-8 (SMTPUTF8). Checks and returns the
//! mailbox text; it does not decide whether an address is ours (that is the directory's job)
//! and never lower-cases a local part. Errors: a short `&'static str` saying what is wrong.

/// RFC 5321 4.5.3.1: limits on local part, domain and whole path.
const MAX_LOCAL: usize = 64;
const MAX_DOMAIN: usize = 255;
const MAX_PATH: usize = 256;

/// A checked mailbox from a reverse- or forward-path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// `local@domain` as given (source route dropped), or empty for the null path `<>`.
    pub text: String,
    /// True when any byte is non-ASCII (needs SMTPUTF8).
    pub utf8: bool,
}

/// Parses `<...>` from MAIL FROM / RCPT TO. `allow_null` accepts `<>`;
/// `<postmaster>` (no domain, any case) is accepted as `postmaster` when `allow_postmaster`.
pub fn parse_path(
    s: &str,
    allow_null: bool,
    allow_postmaster: bool,
) -> Result<Address, &'static str> {
    let inner = s
        .strip_prefix('<')
        .and_then(|r| r.strip_suffix('>'))
        .ok_or("address must be enclosed in <>")?;
    if inner.len() + 2 > MAX_PATH {
        return Err("path too long");
    }
    if inner.is_empty() {
        return if allow_null {
            Ok(Address {
                text: String::new(),
                utf8: false,
            })
        } else {
            Err("null address not allowed here")
        };
    }
    if allow_postmaster && inner.eq_ignore_ascii_case("postmaster") {
        return Ok(Address {
            text: "postmaster".into(),
            utf8: false,
        });
    }
    let mailbox = strip_source_route(inner)?;
    check_mailbox(mailbox)?;
    Ok(Address {
        text: mailbox.to_string(),
        utf8: !mailbox.is_ascii(),
    })
}

/// `@a,@b:user@c` → `user@c` (RFC 5321 4.1.2 A-d-l, to be accepted and ignored).
fn strip_source_route(s: &str) -> Result<&str, &'static str> {
    if !s.starts_with('@') {
        return Ok(s);
    }
    let (route, rest) = s.split_once(':').ok_or("bad source route")?;
    for hop in route.split(',') {
        let d = hop.strip_prefix('@').ok_or("bad source route")?;
        check_domain(d)?;
    }
    Ok(rest)
}

/// Checks `local@domain`.
pub fn check_mailbox(s: &str) -> Result<(), &'static str> {
    let at = local_part_end(s)?;
    let (local, domain) = (&s[..at], &s[at + 1..]);
    if local.len() > MAX_LOCAL {
        return Err("local part too long");
    }
    if domain.starts_with('[') {
        check_address_literal(domain)
    } else {
        check_domain(domain)
    }
}

/// Finds the `@` that ends the local part, checking the local part on the way.
fn local_part_end(s: &str) -> Result<usize, &'static str> {
    if s.starts_with('"') {
        let end = quoted_string_end(s)?;
        return match s[end..].starts_with('@') {
            true => Ok(end),
            false => Err("missing @ after quoted local part"),
        };
    }
    let at = s.rfind('@').ok_or("missing @domain")?;
    let local = &s[..at];
    if local.is_empty() || local.split('.').any(|atom| !is_atom(atom)) {
        return Err("bad local part");
    }
    Ok(at)
}

/// Returns the index just past the closing quote.
fn quoted_string_end(s: &str) -> Result<usize, &'static str> {
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok(i + 1),
            '\\' => match chars.next() {
                Some((_, q)) if (' '..='~').contains(&q) => {}
                _ => return Err("bad quoted pair"),
            },
            c if c == ' ' || c == '!' || ('#'..='[').contains(&c) || (']'..='~').contains(&c) => {}
            c if !c.is_ascii() && !c.is_control() => {}
            _ => return Err("bad character in quoted local part"),
        }
    }
    Err("unterminated quoted local part")
}

fn is_atom(a: &str) -> bool {
    !a.is_empty() && a.chars().all(is_atext)
}

/// RFC 5322 atext, plus UTF-8 non-ASCII (RFC 6531 `atext =/ UTF8-non-ascii`).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || "!#$%&'*+-/=?^_`{|}~".contains(c)
        || (!c.is_ascii() && !c.is_control())
}

/// Domain = sub-domain *("." sub-domain); labels of letters, digits, hyphens (not at the ends),
/// or U-labels of non-ASCII characters.
pub fn check_domain(d: &str) -> Result<(), &'static str> {
    if d.is_empty() {
        return Err("missing domain");
    }
    if d.len() > MAX_DOMAIN {
        return Err("domain too long");
    }
    for label in d.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| {
                c.is_ascii_alphanumeric() || c == '-' || (!c.is_ascii() && c.is_alphanumeric())
            });
        if !ok {
            return Err("bad domain");
        }
    }
    Ok(())
}

/// `[192.0.2.1]` or `[IPv6:2001:db8::1]`.
fn check_address_literal(d: &str) -> Result<(), &'static str> {
    let inner = d
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .ok_or("bad address literal")?;
    let ok = match inner.get(..5) {
        Some(p) if p.eq_ignore_ascii_case("IPv6:") => {
            inner[5..].parse::<std::net::Ipv6Addr>().is_ok()
        }
        _ => inner.parse::<std::net::Ipv4Addr>().is_ok(),
    };
    if ok {
        Ok(())
    } else {
        Err("bad address literal")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> String {
        parse_path(s, true, true).unwrap().text
    }

    #[test]
    fn accepts_rfc_forms() {
        assert_eq!(ok("<a@example.test>"), "a@example.test");
        assert_eq!(ok("<>"), "");
        assert_eq!(ok("<Postmaster>"), "postmaster");
        assert_eq!(
            ok("<\"a b\\\"c\"@example.test>"),
            "\"a b\\\"c\"@example.test"
        );
        assert_eq!(
            ok("<@relay.test,@r2.test:u@example.test>"),
            "u@example.test"
        );
        assert_eq!(ok("<u@[192.0.2.1]>"), "u@[192.0.2.1]");
        assert_eq!(ok("<u@[IPv6:2001:db8::1]>"), "u@[IPv6:2001:db8::1]");
        assert_eq!(
            ok("<first.last+tag@sub.example.test>"),
            "first.last+tag@sub.example.test"
        );
        let a = parse_path("<jörg@bücher.example>", false, false).unwrap();
        assert!(a.utf8);
        assert_eq!(a.text, "jörg@bücher.example");
    }

    #[test]
    fn rejects_bad_forms() {
        for bad in [
            "a@example.test",
            "<a@example.test",
            "<a>",
            "<a@>",
            "<@example.test>",
            "<a..b@example.test>",
            "<.a@example.test>",
            "<a@-bad.test>",
            "<a@exa_mple.test>",
            "<a b@example.test>",
            "<\"unterminated@example.test>",
            "<a@[300.1.1.1]>",
            "<a@example..test>",
            "<a\u{7}@example.test>",
        ] {
            assert!(parse_path(bad, true, true).is_err(), "{bad}");
        }
        assert!(parse_path("<>", false, false).is_err());
        assert!(parse_path("<postmaster>", false, false).is_err());
        let long = format!("<{}@example.test>", "a".repeat(65));
        assert!(parse_path(&long, false, false).is_err());
    }
}
