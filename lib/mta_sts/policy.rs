//! The MTA-STS policy file (RFC 8461 section 3.2): parsing and MX matching. Pure: bytes in,
//! `Policy` or a reason out. Unknown keys are ignored (the RFC says so); a policy without
//! `version: STSv1`, a known `mode`, a `max_age` or (unless mode is `none`) an `mx` is
//! invalid.

/// How a sender must treat the domain's MX hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Deliver only to matching MX hosts over verified TLS; otherwise defer.
    Enforce,
    /// Report failures (TLS-RPT) but deliver anyway.
    Testing,
    /// The domain withdrew its policy.
    None,
}

/// A parsed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    /// MX patterns, lower case, without a trailing dot; `*.example.com` matches one label.
    pub mx: Vec<String>,
    /// Seconds the policy stays valid after it was fetched (capped at 31557600 per RFC).
    pub max_age: u64,
}

/// The longest `max_age` honoured (RFC 8461: up to 31557600, one year).
pub const MAX_AGE_CAP: u64 = 31_557_600;

/// Largest policy body accepted (RFC 8461 suggests 64 KiB).
pub const MAX_POLICY_BYTES: usize = 64 * 1024;

impl Policy {
    /// Parses a policy body (CRLF or LF lines, `key: value`).
    pub fn parse(body: &[u8]) -> Result<Policy, String> {
        if body.len() > MAX_POLICY_BYTES {
            return Err("policy larger than 64 KiB".into());
        }
        let text = std::str::from_utf8(body).map_err(|_| "policy is not UTF-8")?;
        let (mut version, mut mode, mut max_age, mut mx) = (None, None, None, Vec::new());
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                return Err(format!("bad line {line:?}"));
            };
            let value = value.trim();
            match key.trim() {
                "version" => version = Some(value.to_string()),
                "mode" => mode = Some(parse_mode(value)?),
                "max_age" => {
                    let n = value
                        .parse::<u64>()
                        .ok()
                        .filter(|_| value.len() <= 10)
                        .ok_or_else(|| format!("bad max_age {value:?}"))?;
                    max_age = Some(n.min(MAX_AGE_CAP));
                }
                "mx" => mx.push(check_pattern(value)?),
                _ => {}
            }
        }
        if version.as_deref() != Some("STSv1") {
            return Err("missing or unknown version (need STSv1)".into());
        }
        let mode = mode.ok_or("missing mode")?;
        let max_age = max_age.ok_or("missing max_age")?;
        if mx.is_empty() && mode != Mode::None {
            return Err("no mx patterns".into());
        }
        Ok(Policy { mode, mx, max_age })
    }

    /// True when mail must not go to a host this policy does not allow, nor without
    /// verified TLS (mode `enforce`).
    pub fn enforce(&self) -> bool {
        self.mode == Mode::Enforce
    }

    /// True when `host` (an MX name) matches one of the policy's patterns. A pattern
    /// `*.example.com` matches exactly one extra leftmost label (`mx1.example.com`, not
    /// `example.com` nor `a.b.example.com`). Case and a trailing dot are ignored.
    pub fn allows_mx(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx.iter().any(|p| match p.strip_prefix("*.") {
            Some(suffix) => host
                .split_once('.')
                .is_some_and(|(first, rest)| !first.is_empty() && rest == suffix),
            None => *p == host,
        })
    }
}

fn parse_mode(v: &str) -> Result<Mode, String> {
    match v {
        "enforce" => Ok(Mode::Enforce),
        "testing" => Ok(Mode::Testing),
        "none" => Ok(Mode::None),
        _ => Err(format!("unknown mode {v:?}")),
    }
}

/// An `mx` value: a host name, optionally with one leading `*.` label.
fn check_pattern(v: &str) -> Result<String, String> {
    let p = v.trim_end_matches('.').to_ascii_lowercase();
    let name = p.strip_prefix("*.").unwrap_or(&p);
    let ok = !name.is_empty()
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if ok {
        Ok(p)
    } else {
        Err(format!("bad mx pattern {v:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_EXAMPLE: &[u8] = b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n\
mx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n";

    #[test]
    fn parses_the_rfc_example() {
        let p = Policy::parse(RFC_EXAMPLE).unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert!(p.enforce());
        assert_eq!(p.max_age, 604800);
        assert_eq!(p.mx.len(), 3);
    }

    #[test]
    fn wildcards_match_one_label() {
        let p = Policy::parse(RFC_EXAMPLE).unwrap();
        assert!(p.allows_mx("mail.example.com"));
        assert!(p.allows_mx("MAIL.Example.com."));
        assert!(p.allows_mx("mx1.example.net"));
        assert!(!p.allows_mx("example.net"));
        assert!(!p.allows_mx("a.b.example.net"));
        assert!(!p.allows_mx("evil.example.com"));
        assert!(!p.allows_mx("mail.example.com.evil"));
    }

    #[test]
    fn lf_lines_unknown_keys_and_capped_age() {
        let p = Policy::parse(
            b"version: STSv1\nmode: testing\nfoo: bar\nmx: mx.a.test\nmax_age: 99999999999\n",
        );
        assert!(p.is_err(), "max_age over 10 digits is refused");
        let p = Policy::parse(
            b"version: STSv1\nmode: testing\nfoo: bar\nmx: mx.a.test\nmax_age: 9999999999\n",
        )
        .unwrap();
        assert_eq!((p.mode, p.max_age), (Mode::Testing, MAX_AGE_CAP));
        assert!(!p.enforce());
    }

    #[test]
    fn invalid_policies() {
        for bad in [
            &b"mode: enforce\nmx: a.test\nmax_age: 1\n"[..],
            b"version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 1\n",
            b"version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1\n",
            b"version: STSv1\nmode: enforce\nmax_age: 1\n",
            b"version: STSv1\nmode: enforce\nmx: a.test\n",
            b"version: STSv1\nmode: enforce\nmx: a..test\nmax_age: 1\n",
            b"<html>not a policy</html>",
            b"\xff\xfe",
        ] {
            assert!(
                Policy::parse(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let none = Policy::parse(b"version: STSv1\nmode: none\nmax_age: 86400\n").unwrap();
        assert_eq!(none.mode, Mode::None);
        assert!(!none.allows_mx("anything.test"));
    }
}
