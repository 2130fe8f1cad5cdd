//! `[domains.NAME]`: the virtual domains we receive mail for, each with its own users,
//! aliases and catch-all, and domain aliases (`alias_of`): `user@example.org` is
//! `user@example.com` when `[domains."example.org"] alias_of = "example.com"`.
//!
//! ```toml
//! [domains."example.com"]
//! catch_all = "postmaster@example.com"   # unknown local parts go here (optional)
//! [domains."example.org"]
//! alias_of = "example.com"               # no users, aliases or catch-all of its own
//! ```
//!
//! Checks: names are lower-cased and must be usable as one path component; an alias must
//! point at a configured domain that is not itself an alias, and may not have a catch-all.

use super::{raw::RawDomain, safe_component, Checker, Config, Error};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct Domain {
    /// Where mail for unknown local parts goes, if anywhere.
    pub catch_all: Option<String>,
    /// For a domain alias: the (lower-case) domain it stands for.
    pub alias_of: Option<String>,
}

pub fn check(
    raw: BTreeMap<String, RawDomain>,
    c: &Checker,
) -> Result<BTreeMap<String, Domain>, Error> {
    let mut out = BTreeMap::new();
    for (name, d) in raw {
        let lower = name.to_ascii_lowercase();
        let key = format!("domains.{name}");
        if !safe_component(&lower) || lower.contains(['@', ' ']) {
            return Err(c.invalid(&key, "not a usable domain name"));
        }
        if out.contains_key(&lower) {
            return Err(c.invalid(&key, "listed twice (domain names ignore case)"));
        }
        out.insert(
            lower,
            Domain {
                catch_all: d.catch_all,
                alias_of: d.alias_of.map(|a| a.to_ascii_lowercase()),
            },
        );
    }
    for (name, d) in &out {
        let Some(target) = &d.alias_of else { continue };
        let key = format!("domains.{name}.alias_of");
        if target == name {
            return Err(c.invalid(&key, "a domain cannot alias itself"));
        }
        match out.get(target) {
            None => return Err(c.invalid(&key, &format!("{target:?} is not a configured domain"))),
            Some(t) if t.alias_of.is_some() => {
                return Err(c.invalid(
                    &key,
                    &format!("{target:?} is itself an alias; point at its target"),
                ))
            }
            Some(_) => {}
        }
        if d.catch_all.is_some() {
            return Err(c.invalid(
                &format!("domains.{name}.catch_all"),
                "an alias domain uses its target's catch-all",
            ));
        }
    }
    Ok(out)
}

impl Config {
    /// The domain whose users, aliases and catch-all serve `domain`: itself for a plain
    /// local domain, the target for a domain alias, `None` when it is not ours.
    pub fn canonical_domain(&self, domain: &str) -> Option<&str> {
        let lower = domain.to_ascii_lowercase();
        let (name, d) = self.domains.get_key_value(&lower)?;
        Some(d.alias_of.as_deref().unwrap_or(name))
    }

    /// `local@domain` with a domain alias replaced by its target; `None` when the domain is
    /// not ours (or the address has no `@`).
    pub fn canonical_address(&self, address: &str) -> Option<String> {
        let (local, domain) = address.rsplit_once('@')?;
        Some(format!("{local}@{}", self.canonical_domain(domain)?))
    }

    /// True when `domain` is a domain alias (it holds no users of its own).
    pub fn is_alias_domain(&self, domain: &str) -> bool {
        self.domains
            .get(&domain.to_ascii_lowercase())
            .is_some_and(|d| d.alias_of.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(domains: &str) -> Result<Config, Error> {
        let text = format!("hostname='h'\nspool_dir='s'\nmail_root='m'\nusers_file='u'\n{domains}");
        Config::parse(Path::new("/x/mail.toml"), &text)
    }

    #[test]
    fn aliases_resolve_to_their_target() {
        let c =
            parse("[domains.'Example.COM']\n[domains.'example.org']\nalias_of = 'EXAMPLE.com'\n")
                .unwrap();
        assert_eq!(c.canonical_domain("EXAMPLE.ORG"), Some("example.com"));
        assert_eq!(c.canonical_domain("example.com"), Some("example.com"));
        assert_eq!(c.canonical_domain("other.test"), None);
        assert_eq!(
            c.canonical_address("Bob@Example.org").as_deref(),
            Some("Bob@example.com")
        );
        assert!(c.is_local_domain("example.org"));
        assert!(c.is_alias_domain("example.org") && !c.is_alias_domain("example.com"));
    }

    #[test]
    fn bad_aliases_are_refused_with_their_key() {
        for (text, key) in [
            ("[domains.a]\nalias_of = 'b'\n", "domains.a.alias_of"),
            (
                "[domains.a]\n[domains.b]\nalias_of='a'\n[domains.c]\nalias_of='b'\n",
                "domains.c.alias_of",
            ),
            ("[domains.a]\nalias_of = 'a'\n", "domains.a.alias_of"),
            (
                "[domains.a]\n[domains.b]\nalias_of='a'\ncatch_all='x@a'\n",
                "domains.b.catch_all",
            ),
            ("[domains.'a/b']\n", "domains.a/b"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(key), "{text:?}: {e}");
        }
    }
}
