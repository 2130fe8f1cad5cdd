//! Expansion: one recipient address into its final targets, in one recursive walk.
//!
//! Rules: aliases expand recursively up to `MAX_DEPTH`; a cycle (`a: b`, `b: a`) fails that
//! branch with `5.4.6`; an alias naming itself (`a: a, b`) delivers to the mailbox `a`
//! (sendmail's rule) instead of looping; duplicates are dropped; a bare target `user` is
//! qualified with the alias's domain. `|program` needs `queue.allow_pipe_aliases`,
//! `:include:` needs `queue.allow_include_aliases`, `/file` targets are always refused.
//! Refusals are permanent `Target::Failed` entries; an unreadable or broken include file
//! makes the whole expansion temporary (`Err` with a 4.x.x reply) so nothing is half-done.
//!
//! Forwards expand like aliases (their targets walked, `keep_copy` adding the address's own
//! mailbox). A list post becomes one `Target::List` (queue-runner explodes it into a new
//! message); `LIST-bounces` goes to the owner or is discarded; `LIST-request` goes to the
//! owner or fails. A valid SRS0 address walks to the original sender it encodes.

use super::{split, Class, Directory};
use crate::aliases::{self, Target as Written};
use crate::config::Config;
use crate::mlist::Role;
use std::path::Path;

/// Aliases nested deeper than this fail (sendmail uses a similar bound).
pub const MAX_DEPTH: usize = 20;

/// One final destination of a recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A user's mailbox (canonical address): hand to local-deliver.
    Local(String),
    /// An address in a domain not ours: outbound SMTP.
    Remote(String),
    /// A command, run by `sh -c` with the message on stdin.
    Pipe(String),
    /// Undeliverable: the address concerned and a full reply (`550 5.1.1 …`).
    Failed { address: String, reply: String },
    /// A post to the list with this (lower-case) address: one new message to its members.
    List(String),
    /// Accepted and dropped on purpose (a list's bounces with no owner): log, do nothing.
    Discard { address: String, reason: String },
}

impl Target {
    /// The key duplicates are recognised by.
    fn key(&self) -> String {
        match self {
            Target::Local(a) => format!("l:{}", a.to_lowercase()),
            Target::Remote(a) => format!("r:{a}"),
            Target::Pipe(c) => format!("p:{c}"),
            Target::Failed { address, .. } => format!("f:{}", address.to_lowercase()),
            Target::List(a) => format!("m:{a}"),
            Target::Discard { address, .. } => format!("d:{}", address.to_lowercase()),
        }
    }
}

/// The walk's state: where we are (for cycles) and what we found so far.
struct Walk<'c> {
    cfg: &'c Config,
    /// Aliases (`local@domain`) and include files (`:include:path`) being expanded.
    stack: Vec<String>,
    out: Vec<Target>,
}

impl Directory {
    /// Expands one recipient into final targets (never empty). `Err` carries a temporary
    /// reply (`451 4.3.0 …`): keep the recipient as it is and try again later.
    pub fn expand(&self, cfg: &Config, address: &str) -> Result<Vec<Target>, String> {
        let mut w = Walk {
            cfg,
            stack: Vec::new(),
            out: Vec::new(),
        };
        self.walk(&mut w, address)?;
        if w.out.is_empty() {
            w.out
                .push(fail(address, "554 5.4.6 alias expands to no recipients"));
        }
        Ok(w.out)
    }

    fn walk(&self, w: &mut Walk, address: &str) -> Result<(), String> {
        if w.stack.len() > MAX_DEPTH {
            push(w, fail(address, "554 5.4.6 alias nesting too deep"));
            return Ok(());
        }
        let Some((local, domain)) = split(address) else {
            push(w, fail(address, "553 5.1.3 bad recipient address syntax"));
            return Ok(());
        };
        if address.starts_with(['|', '/', ':', '\\']) {
            push(w, fail(address, "553 5.1.3 bad recipient address syntax"));
            return Ok(());
        }
        match self.classify(w.cfg, address) {
            Class::User(canonical) => push(w, Target::Local(canonical)),
            Class::Remote => push(w, Target::Remote(format!("{local}@{domain}"))),
            Class::Unknown => push(w, fail(address, "550 5.1.1 no such user here")),
            Class::CatchAll(to) => {
                let marker = format!("*@{domain}");
                if w.stack.contains(&marker) {
                    push(w, fail(address, "554 5.4.6 catch-all loops back to itself"));
                } else {
                    w.stack.push(marker);
                    self.walk(w, &to)?;
                    w.stack.pop();
                }
            }
            Class::Srs(orig) => self.guarded(w, &format!("srs:{orig}"), &orig)?,
            Class::Forward(f, key) => {
                if w.stack.contains(&key) {
                    let chain = format!("{} -> {key}", w.stack.join(" -> "));
                    push(
                        w,
                        fail(address, &format!("554 5.4.6 forward loop: {chain}")),
                    );
                    return Ok(());
                }
                w.stack.push(key.clone());
                for t in &f.targets {
                    self.walk(w, t)?;
                }
                w.stack.pop();
                if f.keep_copy {
                    self.own_mailbox(w, &key);
                }
            }
            Class::List(list, l, role) => self.list_address(w, &list, l.owner.as_deref(), role)?,
            Class::Alias(entry, key) => {
                let domain = w
                    .cfg
                    .canonical_domain(&domain)
                    .unwrap_or(&domain)
                    .to_string();
                if w.stack.contains(&key) {
                    let chain = format!("{} -> {key}", w.stack.join(" -> "));
                    push(w, fail(address, &format!("554 5.4.6 alias loop: {chain}")));
                    return Ok(());
                }
                w.stack.push(key.clone());
                for t in &entry.targets {
                    self.target(w, t, &key, &domain)?;
                }
                w.stack.pop();
            }
        }
        Ok(())
    }

    /// Walks `to` unless `marker` is already on the stack (a loop through it).
    fn guarded(&self, w: &mut Walk, marker: &str, to: &str) -> Result<(), String> {
        if w.stack.iter().any(|m| m == marker) {
            push(w, fail(to, "554 5.4.6 mail loops back to itself"));
            return Ok(());
        }
        w.stack.push(marker.to_string());
        let r = self.walk(w, to);
        w.stack.pop();
        r
    }

    /// One of a list's addresses.
    fn list_address(
        &self,
        w: &mut Walk,
        list: &str,
        owner: Option<&str>,
        role: Role,
    ) -> Result<(), String> {
        match (role, owner) {
            (Role::Post, _) => push(w, Target::List(list.to_string())),
            (_, Some(o)) => self.guarded(w, &format!("list-owner:{list}"), o)?,
            (Role::Bounces, None) => push(
                w,
                Target::Discard {
                    address: crate::mlist::bounce_address(list),
                    reason: "list has no owner".into(),
                },
            ),
            (Role::Request, None) => push(
                w,
                fail(
                    &crate::mlist::request_address(list),
                    "550 5.1.1 this list has no owner",
                ),
            ),
        }
        Ok(())
    }

    /// One written target of the alias `alias` (in `domain`).
    fn target(&self, w: &mut Walk, t: &Written, alias: &str, domain: &str) -> Result<(), String> {
        match t {
            Written::Address(a) => {
                let full = qualify(a, domain);
                if full.eq_ignore_ascii_case(alias) {
                    self.own_mailbox(w, &full);
                    Ok(())
                } else {
                    self.walk(w, &full)
                }
            }
            Written::Mailbox(a) => {
                self.own_mailbox(w, &qualify(a, domain));
                Ok(())
            }
            Written::Pipe(cmd) if w.cfg.queue.allow_pipe_aliases => {
                push(w, Target::Pipe(cmd.clone()));
                Ok(())
            }
            Written::Pipe(_) => {
                push(w, fail(alias, "550 5.7.1 pipe aliases disabled"));
                Ok(())
            }
            Written::Include(path) if w.cfg.queue.allow_include_aliases => {
                self.include(w, path, alias, domain)
            }
            Written::Include(_) => {
                push(w, fail(alias, "550 5.7.1 include aliases disabled"));
                Ok(())
            }
            Written::File(path) => {
                let r = format!("550 5.7.1 delivery to files disabled ({})", path.display());
                push(w, fail(alias, &r));
                Ok(())
            }
        }
    }

    fn include(&self, w: &mut Walk, path: &Path, alias: &str, domain: &str) -> Result<(), String> {
        let marker = format!(":include:{}", path.display());
        if w.stack.contains(&marker) {
            push(w, fail(alias, "554 5.4.6 include file includes itself"));
            return Ok(());
        }
        let targets = self.aliases.read_include(path).map_err(|e| match e {
            aliases::Error::Io { .. } => format!("451 4.3.0 cannot read include file: {e}"),
            aliases::Error::Parse { .. } => format!("451 4.3.5 bad include file: {e}"),
        })?;
        w.stack.push(marker);
        for t in &targets {
            self.target(w, t, alias, domain)?;
        }
        w.stack.pop();
        Ok(())
    }

    /// The mailbox of `address` itself, without alias lookup (self-reference, `\user`).
    fn own_mailbox(&self, w: &mut Walk, address: &str) {
        match self.mailbox(w.cfg, address) {
            Some(canonical) => push(w, Target::Local(canonical)),
            None => push(w, fail(address, "550 5.1.1 no such mailbox here")),
        }
    }
}

fn qualify(a: &str, domain: &str) -> String {
    if a.contains('@') && !a.ends_with('"') {
        a.to_string()
    } else {
        format!("{a}@{domain}")
    }
}

fn fail(address: &str, reply: &str) -> Target {
    Target::Failed {
        address: address.to_string(),
        reply: reply.to_string(),
    }
}

fn push(w: &mut Walk, t: Target) {
    let key = t.key();
    if !w.out.iter().any(|o| o.key() == key) {
        w.out.push(t);
    }
}
