//! `[dkim]`: DKIM signing of outbound mail from our domains (keys, selectors, signed
//! headers), plus two test/ops knobs for the MTA-STS policy fetcher (`lib/mta_sts`), which
//! has no section of its own yet. The raw section as written and its checked form; checked
//! by `check`. Fails with `Error::Invalid` naming the key.
//!
//! ```toml
//! [dkim]
//! key_dir = "dkim"                 # beside mail.toml; keys are <domain>.<selector>.key
//! selector = "mail"                # selector `mailctl dkim keygen` uses by default
//! sign_headers = ["From", "To", "Subject", "Date", "Message-ID"]   # default: a wide set
//! [dkim.selectors]                 # which key signs, when a domain has several
//! "example.com" = "2026a"
//! # MTA-STS fetcher (RFC 8461); normally left out.
//! mta_sts_https_port = 443         # port of https://mta-sts.DOMAIN/ (tests use another)
//! mta_sts_ca_file = "ca.pem"       # extra CA trusted besides the built-in web roots
//! ```

use super::{Checker, Error};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDkim {
    pub key_dir: Option<String>,
    pub selector: Option<String>,
    pub sign_headers: Option<Vec<String>>,
    #[serde(default)]
    pub selectors: BTreeMap<String, String>,
    pub mta_sts_https_port: Option<u16>,
    pub mta_sts_ca_file: Option<String>,
}

/// Headers signed by default (those present in a message; RFC 6376 section 5.4.1).
pub const DEFAULT_SIGN_HEADERS: &[&str] = &[
    "From",
    "Sender",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "To",
    "Cc",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-ID",
    "Content-Description",
    "In-Reply-To",
    "References",
    "List-Id",
    "List-Help",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Subscribe",
    "List-Post",
    "List-Owner",
    "List-Archive",
];

#[derive(Debug, Clone)]
pub struct Dkim {
    /// Directory of private keys named `<domain>.<selector>.key` (PEM).
    pub key_dir: PathBuf,
    /// Default selector for new keys.
    pub selector: String,
    /// Header names to sign when present.
    pub sign_headers: Vec<String>,
    /// Domain (lower case) → selector to sign with, when a domain has several keys.
    pub selectors: BTreeMap<String, String>,
    /// Port for MTA-STS policy fetches (443 unless testing).
    pub mta_sts_https_port: u16,
    /// Extra CA certificate(s) (PEM) trusted for MTA-STS policy fetches.
    pub mta_sts_ca_file: Option<PathBuf>,
}

impl Default for Dkim {
    fn default() -> Dkim {
        Dkim {
            key_dir: PathBuf::from("dkim"),
            selector: "mail".into(),
            sign_headers: DEFAULT_SIGN_HEADERS.iter().map(|s| s.to_string()).collect(),
            selectors: BTreeMap::new(),
            mta_sts_https_port: 443,
            mta_sts_ca_file: None,
        }
    }
}

/// A selector usable in a key file name and a DNS label: letters, digits, `-`, `_`.
pub fn valid_selector(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn check(raw: RawDkim, c: &Checker) -> Result<Dkim, Error> {
    let selector = raw.selector.unwrap_or_else(|| "mail".into());
    if !valid_selector(&selector) {
        return Err(c.invalid("dkim.selector", "letters, digits, '-' and '_' only"));
    }
    let mut selectors = BTreeMap::new();
    for (domain, sel) in raw.selectors {
        if !valid_selector(&sel) {
            return Err(c.invalid(
                &format!("dkim.selectors.{domain}"),
                "letters, digits, '-' and '_' only",
            ));
        }
        selectors.insert(domain.to_ascii_lowercase(), sel);
    }
    let sign_headers = match raw.sign_headers {
        Some(h) if !h.iter().any(|n| n.eq_ignore_ascii_case("from")) => {
            return Err(c.invalid("dkim.sign_headers", "must include From (RFC 6376)"))
        }
        Some(h) => h,
        None => Dkim::default().sign_headers,
    };
    Ok(Dkim {
        key_dir: c.path(raw.key_dir.as_deref().unwrap_or("dkim")),
        selector,
        sign_headers,
        selectors,
        mta_sts_https_port: raw.mta_sts_https_port.unwrap_or(443),
        mta_sts_ca_file: raw.mta_sts_ca_file.as_deref().map(|p| c.path(p)),
    })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    const BASE: &str =
        "hostname = \"h.test\"\nspool_dir = \"s\"\nmail_root = \"m\"\nusers_file = \"u\"\n";

    fn parse(section: &str) -> Result<Config, String> {
        Config::parse(Path::new("/etc/x/mail.toml"), &format!("{BASE}{section}"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_values() {
        let d = parse("").unwrap().dkim;
        assert_eq!(d.key_dir, Path::new("/etc/x/dkim"));
        assert_eq!((d.selector.as_str(), d.mta_sts_https_port), ("mail", 443));
        assert!(d.sign_headers.iter().any(|h| h == "From"));
        let d = parse(
            "[dkim]\nkey_dir = \"/k\"\nselector = \"s2026\"\nmta_sts_https_port = 8443\n\
             mta_sts_ca_file = \"ca.pem\"\n[dkim.selectors]\n\"Example.COM\" = \"old\"\n",
        )
        .unwrap()
        .dkim;
        assert_eq!(d.key_dir, Path::new("/k"));
        assert_eq!(d.selector, "s2026");
        assert_eq!(
            d.selectors.get("example.com").map(String::as_str),
            Some("old")
        );
        assert_eq!(
            d.mta_sts_ca_file.as_deref(),
            Some(Path::new("/etc/x/ca.pem"))
        );
        assert_eq!(d.mta_sts_https_port, 8443);
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = parse("[dkim]\nselector = \"a.b\"\n").unwrap_err();
        assert!(e.contains("dkim.selector"), "{e}");
        let e = parse("[dkim]\nsign_headers = [\"Subject\"]\n").unwrap_err();
        assert!(e.contains("dkim.sign_headers"), "{e}");
        let e = parse("[dkim.selectors]\n\"x.test\" = \"\"\n").unwrap_err();
        assert!(e.contains("dkim.selectors.x.test"), "{e}");
        assert!(parse("[dkim]\nbogus = 1\n").is_err());
    }
}
