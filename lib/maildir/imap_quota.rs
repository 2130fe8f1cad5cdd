//! Quota usage for IMAP QUOTA (RFC 9208): what the Maildir++ `maildirsize` at the Maildir root
//! says is in use and allowed, without the writing side of `quota`.
//!
//! The limit is `Policy::explicit`, else the definition on the file's first line, else
//! `Policy::default`. Usage is the sum of the file's deltas; when the file is missing,
//! malformed or torn it is rebuilt with `quota::recount` (which sums every folder) before
//! answering. Errors: `maildir::Error::Io` (temporary).

use super::error::{Error, Result};
use super::quota::{self, Limit, Policy, Usage};
use std::fs;
use std::io::ErrorKind;
use std::path::Path;

/// Usage and limit of the whole Maildir (the INBOX and every folder share one quota root).
pub fn report(root: &Path, policy: &Policy) -> Result<(Usage, Limit)> {
    let path = root.join(quota::FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == ErrorKind::NotFound || e.kind() == ErrorKind::InvalidData => None,
        Err(e) => return Err(Error::io("read", &path)(e)),
    };
    let parsed = text.as_deref().and_then(parse);
    let from_file = parsed.map(|(l, _)| l);
    let limit = policy
        .explicit
        .or(from_file)
        .or(policy.default)
        .unwrap_or_default();
    match parsed {
        Some((_, Some(usage))) => Ok((usage, limit)),
        _ => Ok((quota::recount(root, &limit)?, limit)),
    }
}

/// The definition line and the summed deltas (`None` when a line is bad or torn).
fn parse(text: &str) -> Option<(Limit, Option<Usage>)> {
    let (first, rest) = text.split_once('\n')?;
    let limit = Limit::parse_definition(first)?;
    let mut usage = Usage::default();
    let complete = rest.is_empty() || rest.ends_with('\n');
    for line in rest.lines() {
        let mut it = line.split_whitespace();
        let b = it.next().and_then(|v| v.parse::<i64>().ok());
        let c = it.next().and_then(|v| v.parse::<i64>().ok());
        match (b, c, it.next()) {
            (Some(b), Some(c), None) => {
                usage.bytes += b;
                usage.messages += c;
            }
            _ => return Some((limit, None)),
        }
    }
    Some((limit, complete.then_some(usage)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_the_file() {
        let t = tempfile::tempdir().unwrap();
        fs::write(t.path().join(quota::FILE), "1000S,10C\n300 2\n-100 -1\n").unwrap();
        let (u, l) = report(t.path(), &Policy::default()).unwrap();
        assert_eq!((u.bytes, u.messages), (200, 1));
        assert_eq!((l.bytes, l.messages), (Some(1000), Some(10)));
    }

    #[test]
    fn recounts_a_missing_or_torn_file() {
        let t = tempfile::tempdir().unwrap();
        for s in ["cur", "new", "tmp"] {
            fs::create_dir(t.path().join(s)).unwrap();
        }
        fs::write(t.path().join("new/1.M1P1.h,S=5"), b"hello").unwrap();
        let policy = Policy {
            explicit: None,
            default: Some(Limit::bytes(4096)),
        };
        let (u, l) = report(t.path(), &policy).unwrap();
        assert_eq!((u.bytes, u.messages, l.bytes), (5, 1, Some(4096)));
        fs::write(t.path().join(quota::FILE), "4096S\n5 1\n7").unwrap();
        let (u, _) = report(t.path(), &policy).unwrap();
        assert_eq!((u.bytes, u.messages), (5, 1));
    }
}
