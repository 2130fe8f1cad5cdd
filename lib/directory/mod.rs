//! Directory: who is local. Combines the config's domains (and catch-alls), the users file
//! and the aliases file to answer "is this address ours, and what does it become?".
//! Used by smtpd at RCPT time and by queue-runner for expansion. Placeholder API.

use crate::config::Config;

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
pub struct Directory {}

impl Directory {
    /// Loads users and aliases named by the config.
    pub fn load(_cfg: &Config) -> Result<Directory, String> {
        Ok(Directory {})
    }

    /// Classifies one address (`local@domain`, no angle brackets).
    pub fn lookup(&self, _cfg: &Config, _address: &str) -> Lookup {
        Lookup::Unknown
    }
}
