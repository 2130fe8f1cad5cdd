//! Directory: who is local. Combines the config's domains (and catch-alls), the users file,
//! the aliases file, the forwards (`forwards.toml`), the mailing lists (`lists.toml`) and the
//! SRS secret to answer "is this address ours, and what does it become?".
//! smtpd calls `lookup` at RCPT time (and `may_post` for list posting rights); queue-runner
//! calls `expand` once per recipient.
//!
//! Resolution order for `local@domain` in one of our domains: an SRS0 address (reversed to
//! its original sender when the hash and age check out, else unknown), then a forward, an
//! alias (`local@domain`, then bare `local`), a list (or its `-bounces`/`-request`), a user,
//! then the same for the base of a plus-address (`user+tag` → `user`, with
//! `recipient_delimiter`), then the domain's catch-all, else unknown.
//! Local parts are matched case-insensitively; domains are lower-cased, and a domain alias
//! (`alias_of`) is replaced by its target first (`user@alias` is `user@target`).
//!
//! Reads its files only in `load` (and `:include:` files during `expand`); never writes
//! anything. Errors: `load` returns a message naming the file and line (an admin must fix
//! it); `expand` returns a temporary reply when an include file cannot be read.

mod expand;

pub use expand::Target;

use crate::aliases::{Aliases, Entry};
use crate::config::Config;
use crate::forward::{Forward, Forwards};
use crate::mlist::{List, Lists, Role};
use crate::srs::Srs;
use crate::users::UserDb;
use std::path::PathBuf;

/// What a recipient address is to us.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// A mailbox of ours (the canonical user address, plus-tag and case removed).
    Local(String),
    /// An alias (or catch-all) of ours; expansion happens in queue-runner.
    Alias,
    /// In one of our domains, but nobody: 550 5.1.1.
    Unknown,
    /// Not one of our domains: relaying needed.
    Remote,
}

#[derive(Debug, Clone, Default)]
pub struct Directory {
    users: UserDb,
    aliases: Aliases,
    forwards: Forwards,
    lists: Lists,
    /// None until a secret exists (`mailctl forward set` or queue-runner create it).
    srs: Option<Srs>,
}

/// How one address resolved, before any alias is expanded.
#[derive(Debug)]
enum Class<'a> {
    /// A user: the canonical address.
    User(String),
    /// An alias entry and the address it was found under (`local@domain`, lower case).
    Alias(&'a Entry, String),
    /// No user or alias; the domain's catch-all target.
    CatchAll(String),
    /// A forward and the address it was found under (`local@domain`, lower case).
    Forward(&'a Forward, String),
    /// A list address (lower case), the list, and which of its addresses.
    List(String, &'a List, Role),
    /// A valid SRS0 address: its original sender.
    Srs(String),
    Unknown,
    Remote,
}

impl Directory {
    /// Loads users and aliases named by the config.
    pub fn load(cfg: &Config) -> Result<Directory, String> {
        let users = UserDb::load(&cfg.users_file).map_err(|e| e.to_string())?;
        let aliases = match &cfg.aliases_file {
            Some(p) => Aliases::load(p).map_err(|e| e.to_string())?,
            None => Aliases::empty(),
        };
        let forwards = Forwards::load(cfg)?;
        let lists = Lists::load(cfg)?;
        let secret = crate::srs::secret_path(&cfg.path);
        let srs = Srs::load(&secret).map_err(|e| format!("{}: {e}", secret.display()))?;
        Ok(Directory {
            users,
            aliases,
            forwards,
            lists,
            srs,
        })
    }

    /// Builds a directory from already loaded parts (tests, mailctl).
    pub fn new(users: UserDb, aliases: Aliases) -> Directory {
        Directory {
            users,
            aliases,
            ..Directory::default()
        }
    }

    /// The same directory with forwards, lists and an SRS key (tests).
    pub fn with_tables(mut self, forwards: Forwards, lists: Lists, srs: Option<Srs>) -> Directory {
        self.forwards = forwards;
        self.lists = lists;
        self.srs = srs;
        self
    }

    /// The SRS key, when a secret exists.
    pub fn srs(&self) -> Option<&Srs> {
        self.srs.as_ref()
    }

    /// The list `address` posts to, when it is a list's posting address.
    pub fn list(&self, address: &str) -> Option<(&str, &List)> {
        match self.lists.find(address) {
            Some((k, l, Role::Post)) => Some((k, l)),
            _ => None,
        }
    }

    /// RCPT-time posting check for `sender` → `rcpt`: `Err` with a full `550 5.7.1` reply
    /// when `rcpt` is a list that `sender` may not post to; `Ok` for everything else.
    pub fn may_post(&self, sender: &str, rcpt: &str) -> Result<(), String> {
        match self.list(rcpt) {
            Some((list, l)) if !l.may_post(sender) => Err(format!(
                "550 5.7.1 <{list}>: only members may post to this list"
            )),
            _ => Ok(()),
        }
    }

    /// Classifies one address (`local@domain`, no angle brackets).
    pub fn lookup(&self, cfg: &Config, address: &str) -> Lookup {
        match self.classify(cfg, address) {
            Class::User(canonical) => Lookup::Local(canonical),
            Class::Alias(..)
            | Class::CatchAll(_)
            | Class::Forward(..)
            | Class::List(..)
            | Class::Srs(_) => Lookup::Alias,
            Class::Unknown => Lookup::Unknown,
            Class::Remote => Lookup::Remote,
        }
    }

    fn classify(&self, cfg: &Config, address: &str) -> Class<'_> {
        let Some((local, domain)) = split(address) else {
            return Class::Unknown;
        };
        // A domain alias (`alias_of`) serves its target's users, aliases and catch-all.
        let Some(domain) = cfg.canonical_domain(&domain).map(str::to_string) else {
            return Class::Remote;
        };
        let Some(dom) = cfg.domains.get(&domain) else {
            return Class::Remote;
        };
        if crate::srs::is_srs0(local) {
            return match self.srs.as_ref().map(|s| s.reverse(address, now())) {
                Some(Ok(orig)) => Class::Srs(orig),
                _ => Class::Unknown,
            };
        }
        if let Some(c) = self.exact(local, &domain) {
            return c;
        }
        if let Some(base) = plus_base(cfg, local) {
            if let Some(c) = self.exact(base, &domain) {
                return c;
            }
        }
        match &dom.catch_all {
            Some(t) => Class::CatchAll(t.clone()),
            None => Class::Unknown,
        }
    }

    /// A forward, alias, list or user named exactly `local@domain`.
    fn exact(&self, local: &str, domain: &str) -> Option<Class<'_>> {
        let key = format!("{}@{domain}", local.to_lowercase());
        if let Some(f) = self.forwards.get(&key) {
            return Some(Class::Forward(f, key));
        }
        if let Some(e) = self.aliases.get(local, domain) {
            return Some(Class::Alias(
                e,
                format!("{}@{domain}", local.to_lowercase()),
            ));
        }
        if let Some((list, l, role)) = self.lists.find(&key) {
            return Some(Class::List(list.to_string(), l, role));
        }
        self.user(local, domain).map(Class::User)
    }

    /// The canonical address of the user `local@domain` (plus-addressing applied), if any.
    fn mailbox(&self, cfg: &Config, address: &str) -> Option<String> {
        let (local, domain) = split(address)?;
        let domain = cfg.canonical_domain(&domain).unwrap_or(&domain).to_string();
        self.user(local, &domain)
            .or_else(|| plus_base(cfg, local).and_then(|b| self.user(b, &domain)))
    }

    fn user(&self, local: &str, domain: &str) -> Option<String> {
        self.users
            .get(&format!("{local}@{domain}"))
            .map(|u| u.address.clone())
    }
}

/// Every file `load` reads (for reloading when one changes).
pub fn watched_files(cfg: &Config) -> Vec<PathBuf> {
    let mut v = vec![cfg.users_file.clone()];
    v.extend(cfg.aliases_file.clone());
    v.push(crate::forward::path(cfg));
    v.push(crate::mlist::path(cfg));
    v.push(crate::srs::secret_path(&cfg.path));
    v
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Splits `local@domain` at the last `@`, lower-casing the domain.
fn split(address: &str) -> Option<(&str, String)> {
    let (local, domain) = address.rsplit_once('@')?;
    if local.is_empty() || domain.is_empty() {
        return None;
    }
    Some((local, domain.to_ascii_lowercase()))
}

/// `user` for `user+tag` when plus-addressing is on and both sides are non-empty.
fn plus_base<'a>(cfg: &Config, local: &'a str) -> Option<&'a str> {
    let d = cfg.recipient_delimiter?;
    let (base, _tag) = local.split_once(d)?;
    (!base.is_empty()).then_some(base)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tables_tests;
