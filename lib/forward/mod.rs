//! Forwarding table: `address → targets [+ keep a copy]`, set with `mailctl forward`, read by
//! the directory (smtpd at RCPT, queue-runner at expansion). Stored in `forwards.toml` beside
//! the config (see `table` for locking and atomic replace). Keys are lower-case addresses in
//! one of our domains; targets are full addresses, local or remote.
//!
//! Does not deliver or rewrite senders (queue-runner and `srs` do). Errors: strings naming
//! the file or the bad address, for the admin.

pub mod copy;
pub mod table;

use crate::config::Config;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// File name beside the config.
pub const FILE: &str = "forwards.toml";

/// Where one address's mail goes instead.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Forward {
    pub targets: Vec<String>,
    /// Also deliver to the address's own mailbox.
    #[serde(default)]
    pub keep_copy: bool,
}

/// Every forward, by lower-case address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Forwards {
    pub map: BTreeMap<String, Forward>,
}

/// The forwards file of this config.
pub fn path(cfg: &Config) -> PathBuf {
    table::beside_config(&cfg.path, FILE)
}

impl Forwards {
    pub fn load(cfg: &Config) -> Result<Forwards, String> {
        table::load(&path(cfg))
    }

    /// The forward of `local@domain` (matched case-insensitively).
    pub fn get(&self, address: &str) -> Option<&Forward> {
        self.map.get(&address.to_lowercase())
    }
}

/// Checks one target address: `local@domain` with a non-empty local part and a domain that
/// looks like a host name (or an address literal). Returns it trimmed.
pub fn check_target(target: &str) -> Result<String, String> {
    let t = target.trim();
    let Some((local, domain)) = t.rsplit_once('@') else {
        return Err(format!("{t:?}: expected local@domain"));
    };
    let ok_domain = !domain.is_empty()
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.[]:".contains(c) || !c.is_ascii());
    if local.is_empty() || local.len() > 64 || !ok_domain {
        return Err(format!("{t:?}: not a usable address"));
    }
    if t.chars()
        .any(|c| c.is_control() || c == ' ' || c == ',' || c == '<' || c == '>')
    {
        return Err(format!(
            "{t:?}: address holds a space, comma or control character"
        ));
    }
    Ok(t.to_string())
}

/// Sets (replaces) the forward of `address` (must be in one of our domains).
pub fn set(cfg: &Config, address: &str, targets: &[String], keep_copy: bool) -> Result<(), String> {
    let key = own_address(cfg, address)?;
    let targets = targets
        .iter()
        .map(|t| check_target(t))
        .collect::<Result<Vec<_>, _>>()?;
    if targets.is_empty() {
        return Err("no target given".into());
    }
    if targets.iter().any(|t| t.eq_ignore_ascii_case(&key)) {
        return Err(format!("{key} cannot forward to itself; use --keep-copy"));
    }
    table::modify(&path(cfg), |f: &mut Forwards| {
        f.map.insert(key.clone(), Forward { targets, keep_copy });
        Ok(())
    })
}

/// Removes the forward of `address`; an error when there is none.
pub fn del(cfg: &Config, address: &str) -> Result<(), String> {
    let key = address.trim().to_lowercase();
    let key = cfg.canonical_address(&key).unwrap_or(key);
    table::modify(&path(cfg), |f: &mut Forwards| match f.map.remove(&key) {
        Some(_) => Ok(()),
        None => Err(format!("{key}: no forward set")),
    })
}

/// Lower-cases `address`, checks it is `local@<one of our domains>`, and replaces a domain
/// alias by its target (the directory looks forwards and lists up under the target).
pub fn own_address(cfg: &Config, address: &str) -> Result<String, String> {
    let a = address.trim().to_lowercase();
    match a.rsplit_once('@') {
        Some((l, d)) if !l.is_empty() && cfg.is_local_domain(d) => {
            Ok(cfg.canonical_address(&a).unwrap_or(a))
        }
        _ => Err(format!("{a:?}: not an address in one of our [domains]")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &std::path::Path) -> Config {
        Config::parse(
            &dir.join("mail.toml"),
            "hostname = \"h\"\nspool_dir = \"s\"\nmail_root = \"m\"\nusers_file = \"u\"\n\
             [domains.\"example.test\"]\n",
        )
        .unwrap()
    }

    #[test]
    fn set_list_del() {
        let d = tempfile::tempdir().unwrap();
        let c = cfg(d.path());
        set(&c, "Demo@Example.test", &["x@remote.test".into()], true).unwrap();
        let f = Forwards::load(&c).unwrap();
        assert_eq!(
            f.get("DEMO@example.test"),
            Some(&Forward {
                targets: vec!["x@remote.test".into()],
                keep_copy: true
            })
        );
        assert!(set(&c, "a@other.test", &["x@r.test".into()], false).is_err());
        assert!(set(&c, "a@example.test", &["bad target".into()], false).is_err());
        assert!(set(&c, "a@example.test", &["A@example.test".into()], false).is_err());
        del(&c, "demo@example.test").unwrap();
        assert!(del(&c, "demo@example.test").is_err());
        assert!(Forwards::load(&c).unwrap().map.is_empty());
    }
}
