//! Mailing lists: `LIST@domain` with members, a posting policy and an optional owner, set
//! with `mailctl list`, stored in `lists.toml` beside the config (locked, atomic replace, see
//! `forward::table`). Each list also answers at `LIST-bounces@domain` (the envelope sender of
//! every post; delivers to the owner, or is dropped with a log line) and `LIST-request@domain`
//! (to the owner, or refused).
//!
//! The directory decides what an address is; queue-runner explodes a post into one new spool
//! message (`post` adds the `List-*` headers). Does no delivery. Errors: strings for the admin.

pub mod post;

use crate::config::Config;
use crate::forward::{self, table};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// File name beside the config.
pub const FILE: &str = "lists.toml";

/// Who may post.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// Anyone (except the null sender).
    Open,
    /// Only members (and the owner); others get 550 5.7.1.
    #[default]
    MembersOnly,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct List {
    #[serde(default)]
    pub policy: Policy,
    /// Gets `-bounces` and `-request` mail; without one those are dropped / refused.
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub members: Vec<String>,
}

/// Which of a list's addresses was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `LIST@domain`: a post.
    Post,
    /// `LIST-bounces@domain`: a bounce of a post.
    Bounces,
    /// `LIST-request@domain`: to the owner.
    Request,
}

/// Every list, by lower-case address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Lists {
    pub map: BTreeMap<String, List>,
}

/// The lists file of this config.
pub fn path(cfg: &Config) -> PathBuf {
    table::beside_config(&cfg.path, FILE)
}

/// `LIST-bounces@domain` for `LIST@domain`.
pub fn bounce_address(list: &str) -> String {
    suffixed(list, "-bounces")
}

/// `LIST-request@domain` for `LIST@domain`.
pub fn request_address(list: &str) -> String {
    suffixed(list, "-request")
}

fn suffixed(list: &str, suffix: &str) -> String {
    match list.rsplit_once('@') {
        Some((l, d)) => format!("{l}{suffix}@{d}"),
        None => format!("{list}{suffix}"),
    }
}

impl Lists {
    pub fn load(cfg: &Config) -> Result<Lists, String> {
        table::load(&path(cfg))
    }

    /// The list (its address and entry) `address` belongs to, and in which role.
    pub fn find(&self, address: &str) -> Option<(&str, &List, Role)> {
        let a = address.to_lowercase();
        if let Some((k, l)) = self.map.get_key_value(&a) {
            return Some((k, l, Role::Post));
        }
        let (local, domain) = a.rsplit_once('@')?;
        for (suffix, role) in [("-bounces", Role::Bounces), ("-request", Role::Request)] {
            if let Some(base) = local.strip_suffix(suffix) {
                if let Some((k, l)) = self.map.get_key_value(&format!("{base}@{domain}")) {
                    return Some((k, l, role));
                }
            }
        }
        None
    }
}

impl List {
    /// May `sender` post? Never the null sender; under `MembersOnly` a member or the owner.
    pub fn may_post(&self, sender: &str) -> bool {
        if sender.is_empty() {
            return false;
        }
        match self.policy {
            Policy::Open => true,
            Policy::MembersOnly => {
                self.is_member(sender)
                    || self
                        .owner
                        .as_deref()
                        .is_some_and(|o| o.eq_ignore_ascii_case(sender))
            }
        }
    }

    pub fn is_member(&self, address: &str) -> bool {
        self.members.iter().any(|m| m.eq_ignore_ascii_case(address))
    }
}

/// Creates a list; an error when it (or a user/forward named like it) exists is left to the
/// admin: only an existing list is refused here.
pub fn create(
    cfg: &Config,
    list: &str,
    policy: Policy,
    owner: Option<&str>,
) -> Result<String, String> {
    let key = forward::own_address(cfg, list)?;
    let local = key.split('@').next().unwrap_or("");
    if local.ends_with("-bounces") || local.ends_with("-request") {
        return Err(format!(
            "{key}: a list name may not end in -bounces or -request"
        ));
    }
    let owner = owner.map(forward::check_target).transpose()?;
    table::modify(&path(cfg), |t: &mut Lists| {
        if t.map.contains_key(&key) {
            return Err(format!("{key}: list exists"));
        }
        t.map.insert(
            key.clone(),
            List {
                policy,
                owner,
                members: Vec::new(),
            },
        );
        Ok(key.clone())
    })
}

/// Changes one list under the file's lock.
pub fn change<R>(
    cfg: &Config,
    list: &str,
    f: impl FnOnce(&mut List) -> Result<R, String>,
) -> Result<R, String> {
    let key = list.trim().to_lowercase();
    let key = cfg.canonical_address(&key).unwrap_or(key);
    table::modify(&path(cfg), |t: &mut Lists| match t.map.get_mut(&key) {
        Some(l) => f(l),
        None => Err(format!("{key}: no such list")),
    })
}

/// Adds a member (an error when already one).
pub fn add(cfg: &Config, list: &str, member: &str) -> Result<(), String> {
    let m = forward::check_target(member)?;
    change(cfg, list, |l| {
        if l.is_member(&m) {
            return Err(format!("{m}: already a member"));
        }
        l.members.push(m.clone());
        Ok(())
    })
}

/// Removes a member (an error when not one).
pub fn remove(cfg: &Config, list: &str, member: &str) -> Result<(), String> {
    let m = member.trim();
    change(cfg, list, |l| {
        let before = l.members.len();
        l.members.retain(|x| !x.eq_ignore_ascii_case(m));
        if l.members.len() == before {
            return Err(format!("{m}: not a member"));
        }
        Ok(())
    })
}

/// Deletes a list.
pub fn del(cfg: &Config, list: &str) -> Result<(), String> {
    let key = list.trim().to_lowercase();
    let key = cfg.canonical_address(&key).unwrap_or(key);
    table::modify(&path(cfg), |t: &mut Lists| match t.map.remove(&key) {
        Some(_) => Ok(()),
        None => Err(format!("{key}: no such list")),
    })
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
    fn lifecycle_and_roles() {
        let d = tempfile::tempdir().unwrap();
        let c = cfg(d.path());
        create(
            &c,
            "Team@example.test",
            Policy::MembersOnly,
            Some("boss@example.test"),
        )
        .unwrap();
        assert!(create(&c, "team@example.test", Policy::Open, None).is_err());
        assert!(create(&c, "x-bounces@example.test", Policy::Open, None).is_err());
        add(&c, "team@example.test", "a@example.test").unwrap();
        add(&c, "team@example.test", "b@remote.test").unwrap();
        assert!(add(&c, "team@example.test", "A@example.test").is_err());
        let t = Lists::load(&c).unwrap();
        let (k, l, r) = t.find("TEAM@example.test").unwrap();
        assert_eq!((k, r), ("team@example.test", Role::Post));
        assert!(l.may_post("a@EXAMPLE.test"));
        assert!(l.may_post("boss@example.test"));
        assert!(!l.may_post("stranger@remote.test"));
        assert!(!l.may_post(""));
        assert_eq!(
            t.find("team-bounces@example.test").unwrap().2,
            Role::Bounces
        );
        assert_eq!(
            t.find("team-request@example.test").unwrap().2,
            Role::Request
        );
        assert!(t.find("other@example.test").is_none());
        remove(&c, "team@example.test", "a@example.test").unwrap();
        assert!(remove(&c, "team@example.test", "a@example.test").is_err());
        del(&c, "team@example.test").unwrap();
        assert!(Lists::load(&c).unwrap().map.is_empty());
        assert_eq!(
            bounce_address("team@example.test"),
            "team-bounces@example.test"
        );
    }
}
