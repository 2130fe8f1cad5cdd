//! access: the allow and block lists (`[policy] access_file`, default `access` beside the
//! config), global and per user, of IPs, CIDR ranges, addresses and domains. smtpd reads
//! them once per connection (so an edit applies to the next connection); `mailctl allow|block
//! add|del|list` edits them (`file`). Owns the file format and the matching rules; leaves
//! the SMTP replies to smtpd.
//!
//! ```text
//! # kind  entry              [for USER]
//! block   192.0.2.0/24
//! block   spammer@example.net
//! allow   partner.example
//! block   newsletter.example  for demo@example.test
//! ```
//!
//! Rules: a global allow of the client IP or the sender beats every global block and the
//! DNSBL, and marks the message `allowlisted` (no spam scoring); a user's allow beats that
//! user's blocks. Domains match their subdomains too.
//!
//! Also here: the DNS block/allow list lookups (`dnsbl`), and `facts(cfg, &envelope)`, which
//! spam-scan calls per message to learn whether to skip scoring (`allowlisted`) and what the
//! DNS lists add to the score.
//!
//! Errors: `access::Error`; a missing file is empty lists, an unreadable or malformed one is
//! an error naming the file and line (smtpd logs it and goes on without lists, so a typo
//! cannot stop all mail; `mailctl` refuses to edit a file it cannot parse).

pub mod dnsbl;
mod entry;
mod facts;
pub mod file;

pub use entry::Entry;
pub use facts::{facts, Facts};

use std::net::IpAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A bad entry or user given on the command line.
    #[error("{0}")]
    Input(String),
}

impl Error {
    pub fn is_temporary(&self) -> bool {
        matches!(self, Error::Io { .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Allow,
    Block,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Allow => "allow",
            Kind::Block => "block",
        }
    }
}

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub kind: Kind,
    pub entry: Entry,
    /// The user (lower case) whose list this is; `None` for the global lists.
    pub user: Option<String>,
}

impl Rule {
    /// Parses one non-comment line: `allow|block ENTRY [for USER]`.
    pub fn parse(line: &str) -> Result<Rule, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let (kind, entry, user) = match words.as_slice() {
            [k, e] => (k, e, None),
            [k, e, f, u] if f.eq_ignore_ascii_case("for") => (k, e, Some(*u)),
            _ => return Err("expected `allow|block ENTRY [for USER]`".into()),
        };
        let kind = match kind.to_ascii_lowercase().as_str() {
            "allow" => Kind::Allow,
            "block" => Kind::Block,
            other => return Err(format!("{other:?}: expected allow or block")),
        };
        let user = match user {
            Some(u) if u.contains('@') && !u.starts_with('@') => Some(u.to_lowercase()),
            Some(u) => return Err(format!("{u:?}: expected a user's address")),
            None => None,
        };
        Ok(Rule {
            kind,
            entry: Entry::parse(entry)?,
            user,
        })
    }

    /// The rule as a line of the file (without newline).
    pub fn line(&self) -> String {
        match &self.user {
            Some(u) => format!("{} {} for {u}", self.kind.as_str(), self.entry),
            None => format!("{} {}", self.kind.as_str(), self.entry),
        }
    }

    fn applies(&self, kind: Kind, user: Option<&str>) -> bool {
        self.kind == kind && self.user.as_deref() == user
    }
}

/// The lists as loaded.
#[derive(Debug, Clone, Default)]
pub struct Lists {
    pub rules: Vec<Rule>,
}

impl Lists {
    /// Reads the file; a missing file is empty lists.
    pub fn load(path: &Path) -> Result<Lists, Error> {
        match std::fs::read_to_string(path) {
            Ok(text) => Lists::parse(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Lists::default()),
            Err(source) => Err(Error::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    pub fn parse(path: &Path, text: &str) -> Result<Lists, Error> {
        let mut rules = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let rule = Rule::parse(line).map_err(|message| Error::Syntax {
                path: path.to_path_buf(),
                line: i + 1,
                message,
            })?;
            rules.push(rule);
        }
        Ok(Lists { rules })
    }

    /// The global rule of `kind` naming the client IP.
    pub fn ip(&self, kind: Kind, ip: IpAddr) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|r| r.applies(kind, None) && r.entry.matches_ip(ip))
    }

    /// The rule of `kind` in `user`'s list (or the global one) naming the sender or IP.
    pub fn find(
        &self,
        kind: Kind,
        user: Option<&str>,
        sender: &str,
        ip: Option<IpAddr>,
    ) -> Option<&Rule> {
        let user = user.map(str::to_lowercase);
        self.rules.iter().find(|r| {
            r.applies(kind, user.as_deref())
                && ((!sender.is_empty() && r.entry.matches_address(sender))
                    || ip.is_some_and(|ip| r.entry.matches_ip(ip)))
        })
    }

    /// Connect time: the client IP is globally blocked and not globally allowed.
    pub fn client_blocked(&self, ip: IpAddr) -> Option<&Rule> {
        match self.ip(Kind::Allow, ip) {
            Some(_) => None,
            None => self.ip(Kind::Block, ip),
        }
    }

    /// The sender or client is on the global allow list.
    pub fn allowlisted(&self, sender: &str, ip: Option<IpAddr>) -> bool {
        self.find(Kind::Allow, None, sender, ip).is_some()
    }

    /// MAIL: the sender is globally blocked (and neither it nor the client allowed).
    pub fn sender_blocked(&self, sender: &str, ip: Option<IpAddr>) -> Option<&Rule> {
        if self.allowlisted(sender, ip) {
            return None;
        }
        self.find(Kind::Block, None, sender, None)
    }

    /// RCPT: `user`'s own list blocks this sender or client (and does not allow it).
    pub fn user_blocks(&self, user: &str, sender: &str, ip: Option<IpAddr>) -> Option<&Rule> {
        if self.find(Kind::Allow, Some(user), sender, ip).is_some() {
            return None;
        }
        self.find(Kind::Block, Some(user), sender, ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# lists\n\
        block 192.0.2.0/24\n\
        allow 192.0.2.9   # our partner's relay\n\
        block spammer@example.net\n\
        allow good.example\n\
        block good.example\n\
        block news.example for Demo@Example.test\n\
        allow boss@news.example for demo@example.test\n";

    fn lists() -> Lists {
        Lists::parse(Path::new("access"), TEXT).unwrap()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn client_and_sender_rules() {
        let l = lists();
        assert!(l.client_blocked(ip("192.0.2.1").unwrap()).is_some());
        assert!(l.client_blocked(ip("192.0.2.9").unwrap()).is_none());
        assert!(l.client_blocked(ip("198.51.100.1").unwrap()).is_none());
        assert!(l.sender_blocked("Spammer@example.net", None).is_some());
        assert!(l
            .sender_blocked("spammer@example.net", ip("192.0.2.9"))
            .is_none());
        assert!(l.sender_blocked("x@good.example", None).is_none());
        assert!(l.allowlisted("x@sub.good.example", None));
        assert!(!l.allowlisted("x@example.net", ip("192.0.2.1")));
    }

    #[test]
    fn per_user_rules() {
        let l = lists();
        let user = "demo@example.test";
        assert!(l.user_blocks(user, "x@news.example", None).is_some());
        assert!(l.user_blocks(user, "boss@news.example", None).is_none());
        assert!(l
            .user_blocks("other@example.test", "x@news.example", None)
            .is_none());
        assert!(l.sender_blocked("x@news.example", None).is_none());
    }

    #[test]
    fn bad_lines_name_the_line() {
        let e = Lists::parse(Path::new("/etc/mail/access"), "block a.test\npermit x\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/etc/mail/access:2:"), "{e}");
        assert!(Rule::parse("block x.test for nobody").is_err());
        assert!(Rule::parse("block").is_err());
        let r = Rule::parse("BLOCK 10.0.0.0/8 FOR A@B.test").unwrap();
        assert_eq!(r.line(), "block 10.0.0.0/8 for a@b.test");
    }
}
