//! Directory: who is local. Combines the config's domains (and catch-alls), the users file
//! and the aliases file to answer "is this address ours, and what does it become?".
//! smtpd calls `lookup` at RCPT time; queue-runner calls `expand` once per recipient.
//!
//! Resolution order for `local@domain` in one of our domains: an alias (`local@domain`, then
//! bare `local`), a user, then the same two for the base of a plus-address (`user+tag` →
//! `user`, with `recipient_delimiter`), then the domain's catch-all, else unknown.
//! Local parts are matched case-insensitively; domains are lower-cased.
//!
//! Reads the users and aliases files only in `load` (and `:include:` files during `expand`);
//! never writes anything. Errors: `load` returns a message naming the file and line (an admin
//! must fix it); `expand` returns a temporary reply when an include file cannot be read.

mod expand;

pub use expand::Target;

use crate::aliases::{Aliases, Entry};
use crate::config::Config;
use crate::users::UserDb;

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
        Ok(Directory { users, aliases })
    }

    /// Builds a directory from already loaded parts (tests, mailctl).
    pub fn new(users: UserDb, aliases: Aliases) -> Directory {
        Directory { users, aliases }
    }

    /// Classifies one address (`local@domain`, no angle brackets).
    pub fn lookup(&self, cfg: &Config, address: &str) -> Lookup {
        match self.classify(cfg, address) {
            Class::User(canonical) => Lookup::Local(canonical),
            Class::Alias(..) | Class::CatchAll(_) => Lookup::Alias,
            Class::Unknown => Lookup::Unknown,
            Class::Remote => Lookup::Remote,
        }
    }

    fn classify(&self, cfg: &Config, address: &str) -> Class<'_> {
        let Some((local, domain)) = split(address) else {
            return Class::Unknown;
        };
        let Some(dom) = cfg.domains.get(&domain) else {
            return Class::Remote;
        };
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

    /// An alias or user named exactly `local@domain`.
    fn exact(&self, local: &str, domain: &str) -> Option<Class<'_>> {
        if let Some(e) = self.aliases.get(local, domain) {
            return Some(Class::Alias(
                e,
                format!("{}@{domain}", local.to_lowercase()),
            ));
        }
        self.user(local, domain).map(Class::User)
    }

    /// The canonical address of the user `local@domain` (plus-addressing applied), if any.
    fn mailbox(&self, cfg: &Config, address: &str) -> Option<String> {
        let (local, domain) = split(address)?;
        self.user(local, &domain)
            .or_else(|| plus_base(cfg, local).and_then(|b| self.user(b, &domain)))
    }

    fn user(&self, local: &str, domain: &str) -> Option<String> {
        self.users
            .get(&format!("{local}@{domain}"))
            .map(|u| u.address.clone())
    }
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
