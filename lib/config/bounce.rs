//! `[bounce]`: delivery status notifications (bounces, delay warnings, success notices).
//! The raw section as written and its checked form; checked by `check`.
//!
//! ```toml
//! [bounce]
//! delay_warning_secs = 14400                      # one "still trying" notice after 4 hours
//! bounce_notice_recipient = "postmaster@example.test"  # gets a headers-only copy of each bounce
//! max_returned_size = "1M"                        # larger messages come back as headers only
//! ```

use super::{parse_size, secs, Checker, Error};
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawBounce {
    pub delay_warning_secs: Option<u64>,
    pub bounce_notice_recipient: Option<String>,
    pub max_returned_size: Option<RawSize>,
}

/// A size as a number of bytes or a text like `"1M"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawSize {
    Bytes(u64),
    Text(String),
}

#[derive(Debug, Clone)]
pub struct Bounce {
    /// Age of a still-deferred message at which its sender gets one delay warning;
    /// zero disables delay warnings.
    pub delay_warning: Duration,
    /// Where a headers-only copy of every bounce goes (the postmaster), if anywhere.
    pub notice_recipient: Option<String>,
    /// A bounced message larger than this is returned as its headers only.
    pub max_returned_size: u64,
}

impl Default for Bounce {
    fn default() -> Bounce {
        Bounce {
            delay_warning: Duration::from_secs(4 * 3600),
            notice_recipient: None,
            max_returned_size: 1 << 20,
        }
    }
}

pub fn check(raw: RawBounce, c: &Checker) -> Result<Bounce, Error> {
    let max_returned_size = match raw.max_returned_size {
        None => Bounce::default().max_returned_size,
        Some(RawSize::Bytes(n)) => n,
        Some(RawSize::Text(t)) => parse_size(&t).ok_or_else(|| {
            c.invalid(
                "bounce.max_returned_size",
                "expected bytes or a size like 512K, 1M",
            )
        })?,
    };
    let notice_recipient = match raw.bounce_notice_recipient.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(a) if a.contains('@') && !a.chars().any(|ch| ch.is_control() || ch == ' ') => {
            Some(a.to_string())
        }
        Some(_) => {
            return Err(c.invalid(
                "bounce.bounce_notice_recipient",
                "expected an address like postmaster@example.test",
            ))
        }
    };
    Ok(Bounce {
        delay_warning: secs(raw.delay_warning_secs, 4 * 3600),
        notice_recipient,
        max_returned_size,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    const BASE: &str = "hostname = \"mx.example.test\"\nspool_dir = \"s\"\nmail_root = \"m\"\nusers_file = \"u\"\n";

    fn parse(section: &str) -> Result<Config, crate::config::Error> {
        Config::parse(Path::new("/x/mail.toml"), &format!("{BASE}{section}"))
    }

    #[test]
    fn defaults_and_values() {
        let b = parse("").unwrap().bounce;
        assert_eq!(b.delay_warning.as_secs(), 4 * 3600);
        assert_eq!(b.max_returned_size, 1 << 20);
        assert!(b.notice_recipient.is_none());
        let b = parse("[bounce]\ndelay_warning_secs = 60\nmax_returned_size = \"2K\"\nbounce_notice_recipient = \"pm@example.test\"\n")
            .unwrap()
            .bounce;
        assert_eq!(b.delay_warning.as_secs(), 60);
        assert_eq!(b.max_returned_size, 2048);
        assert_eq!(b.notice_recipient.as_deref(), Some("pm@example.test"));
        assert_eq!(
            parse("[bounce]\nmax_returned_size = 10\n")
                .unwrap()
                .bounce
                .max_returned_size,
            10
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        for bad in [
            "[bounce]\nmax_returned_size = \"lots\"\n",
            "[bounce]\nbounce_notice_recipient = \"postmaster\"\n",
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains("bounce."), "{e}");
        }
        assert!(parse("[bounce]\nbogus = 1\n").is_err());
    }
}
