//! Expansion step: replaces each not yet expanded recipient of an envelope by its final
//! targets (`Directory::expand`), keeping the address the client gave in `original`.
//! Also the hop check: a message with more than `MAX_HOPS` `Received:` headers is looping
//! and fails for every open recipient.
//!
//! Some targets cannot share this envelope, because they need another envelope sender:
//! a remote target reached through one of our addresses (forward or alias) gets an SRS
//! sender, a list post goes out from the list's bounce address. Each becomes a new message
//! in `spool/queue` (`forward::copy`), and the recipient that led there is recorded here as
//! delivered (`250 2.0.0 forwarded as <ID>`). Auto-replies (`vacation`) for local targets are
//! queued the same way, best effort.
//!
//! Durability: a copy is committed (fsynced, renamed into the queue) before the recipient is
//! marked done, and when any copy was made the envelope is written before this returns. A
//! crash in between leaves the recipient unexpanded on disk, so the next attempt makes the
//! copy again: a duplicate, never a loss. When a copy cannot be committed the recipient stays
//! unexpanded and deferred (`451`), with nothing half-done for it. Without copies nothing is
//! written here (expansion only reads), as before.

use crate::config::Config;
use crate::directory::{Directory, Target};
use crate::forward::copy;
use crate::mlist::{self, post};
use crate::mlog;
use crate::spool::{Envelope, RcptState, Recipient, Spool, Stage};
use crate::srs::{self, Srs};
use crate::vacation;
use std::io::{BufRead, BufReader, Read};

/// More `Received:` headers than this means a mail loop (RFC 5321 6.3 suggests ~100;
/// Postfix uses 50).
pub const MAX_HOPS: usize = 50;

/// Expands in place; returns the recipients that became final (failed) on the way, for
/// logging. `hops` is the message's `Received:` count. The message is `env.id` in
/// `spool/queue` (read only when a copy or an auto-reply needs it).
pub fn expand_envelope(
    dir: &Directory,
    cfg: &Config,
    env: &mut Envelope,
    hops: usize,
) -> Vec<Recipient> {
    let mut cx = Cx::new(dir, cfg, env);
    let mut out: Vec<Recipient> = Vec::new();
    let mut failed = Vec::new();
    for r in std::mem::take(&mut env.recipients) {
        if r.expanded || r.state.is_final() {
            out.push(r);
            continue;
        }
        let original = r.original.clone().unwrap_or_else(|| r.address.clone());
        if hops > MAX_HOPS {
            let f = Recipient {
                state: RcptState::Failed,
                reply: Some(format!(
                    "554 5.4.6 too many hops ({hops} Received: headers)"
                )),
                expanded: true,
                ..r
            };
            failed.push(f.clone());
            out.push(f);
            continue;
        }
        let done = dir
            .expand(cfg, &r.address)
            .and_then(|targets| cx.place(&r.address, &original, targets));
        match done {
            Err(reply) => out.push(Recipient {
                state: RcptState::Deferred,
                reply: Some(reply),
                ..r
            }),
            Ok(news) => {
                for n in news {
                    if n.state == RcptState::Failed {
                        failed.push(n.clone());
                    }
                    if !out.iter().any(|o| same(o, &n)) {
                        out.push(n);
                    }
                }
            }
        }
    }
    env.recipients = out;
    if cx.copies > 0 {
        // The copies are committed; record that before anything else happens.
        if let Err(e) = cx.spool().and_then(|s| {
            s.write_envelope(Stage::Queue, &env.id, env)
                .map_err(|e| e.to_string())
        }) {
            mlog!(
                "{}: cannot record expansion (copies may repeat): {e}",
                env.id
            );
        }
    }
    failed
}

/// What one expansion pass needs beyond the directory: the message (read once, lazily),
/// the spool, the SRS key.
struct Cx<'a> {
    dir: &'a Directory,
    cfg: &'a Config,
    env: Envelope,
    message: Option<Vec<u8>>,
    spool: Option<Spool>,
    srs: Option<Srs>,
    now: u64,
    /// Copies committed so far.
    copies: usize,
}

impl<'a> Cx<'a> {
    fn new(dir: &'a Directory, cfg: &'a Config, env: &Envelope) -> Cx<'a> {
        Cx {
            dir,
            cfg,
            env: Envelope {
                recipients: Vec::new(),
                ..env.clone()
            },
            message: None,
            spool: None,
            srs: dir.srs().cloned(),
            now: super::message::now(),
            copies: 0,
        }
    }

    fn spool(&mut self) -> Result<Spool, String> {
        if self.spool.is_none() {
            self.spool = Some(Spool::open(&self.cfg.spool_dir).map_err(|e| e.to_string())?);
        }
        self.spool.clone().ok_or_else(|| "no spool".into())
    }

    /// The queued message's bytes.
    fn message(&mut self) -> Result<Vec<u8>, String> {
        if self.message.is_none() {
            let spool = self.spool()?;
            let m = spool
                .read_message(Stage::Queue, &self.env.id)
                .map_err(|e| format!("451 4.3.0 cannot read queued message: {e}"))?;
            self.message = Some(m);
        }
        Ok(self.message.clone().unwrap_or_default())
    }

    /// Turns the targets of the recipient `rcpt` into recipients of this envelope, making
    /// copies where another sender is needed. `Err`: defer `rcpt` as it is.
    fn place(
        &mut self,
        rcpt: &str,
        original: &str,
        targets: Vec<Target>,
    ) -> Result<Vec<Recipient>, String> {
        let mut out = Vec::new();
        let mut rewritten = Vec::new();
        let mut locals = Vec::new();
        for t in targets {
            match t {
                Target::Remote(a) if self.srs_domain(rcpt).is_some() => rewritten.push(a),
                Target::List(list) => out.push(self.list(&list, original)?),
                Target::Discard { address, reason } => {
                    mlog!("{}: discarded mail to <{address}>: {reason}", self.env.id);
                    out.push(done(&address, original, &format!("discarded: {reason}")));
                }
                t => {
                    if let Target::Local(a) = &t {
                        locals.push(a.clone());
                    }
                    out.push(recipient(t, original));
                }
            }
        }
        if !rewritten.is_empty() {
            out.extend(self.forward(rcpt, original, &rewritten)?);
        }
        for user in locals {
            self.vacation(&user, rcpt, original);
        }
        Ok(out)
    }

    /// Our domain to rewrite the sender into when `rcpt` forwards to a remote target: the
    /// domain of `rcpt` when it is ours and the sender is a foreign, non-null one.
    fn srs_domain(&self, rcpt: &str) -> Option<String> {
        let (_, rd) = rcpt.rsplit_once('@')?;
        let (_, sd) = self.env.sender.rsplit_once('@')?;
        (self.cfg.is_local_domain(rd) && !self.cfg.is_local_domain(sd))
            .then(|| rd.to_ascii_lowercase())
    }

    /// One copy to the remote `targets` of `rcpt`, from the SRS form of the sender.
    fn forward(
        &mut self,
        rcpt: &str,
        original: &str,
        targets: &[String],
    ) -> Result<Vec<Recipient>, String> {
        let domain = self.srs_domain(rcpt).unwrap_or_default();
        if self.srs.is_none() {
            let p = srs::secret_path(&self.cfg.path);
            let key = Srs::load_or_create(&p)
                .map_err(|e| format!("451 4.3.0 SRS secret {}: {e}", p.display()))?;
            self.srs = Some(key);
        }
        let sender = match &self.srs {
            Some(k) => k.forward(&self.env.sender, &domain, self.now),
            None => return Err("451 4.3.0 no SRS key".into()),
        };
        let message = self.message()?;
        let spool = self.spool()?;
        let kind = copy::Kind::Forward { rcpt: original };
        let id = copy::commit(
            &spool, &self.env, &sender, targets, kind, &message, self.now,
        )?;
        self.copies += 1;
        mlog!(
            "{}: forwarded <{rcpt}> as {id} from=<{sender}> to {}",
            self.env.id,
            targets.join(",")
        );
        let reply = format!("forwarded as {id} from <{sender}>");
        Ok(targets.iter().map(|t| done(t, original, &reply)).collect())
    }

    /// A post to `list`: refused for a sender without posting rights, dropped when it came
    /// back from this list already, else one copy to every member.
    fn list(&mut self, list: &str, original: &str) -> Result<Recipient, String> {
        let Some((_, l)) = self.dir.list(list) else {
            return Ok(recipient(fail(list, "451 4.3.0 list vanished"), original));
        };
        let l = l.clone();
        if !l.may_post(&self.env.sender) {
            let reply = format!("550 5.7.1 <{list}>: only members may post to this list");
            return Ok(recipient(fail(list, &reply), original));
        }
        let message = self.message()?;
        if post::carries_list_id(&message, list) {
            mlog!(
                "{}: <{list}>: already carries its List-Id; not exploded again",
                self.env.id
            );
            return Ok(done(list, original, "discarded: list loop"));
        }
        if l.members.is_empty() {
            return Ok(done(list, original, "list has no members"));
        }
        let spool = self.spool()?;
        let sender = mlist::bounce_address(list);
        let text = post::prepare(&message, list);
        let kind = copy::Kind::New;
        let id = copy::commit(
            &spool, &self.env, &sender, &l.members, kind, &text, self.now,
        )?;
        self.copies += 1;
        mlog!(
            "{}: list <{list}> exploded as {id} to {} members",
            self.env.id,
            l.members.len()
        );
        Ok(done(list, original, &format!("exploded as {id}")))
    }

    /// Queues an auto-reply for `user` when due; never fails the delivery.
    fn vacation(&mut self, user: &str, rcpt: &str, original: &str) {
        if self.env.id.is_empty() {
            return;
        }
        let v = match vacation::Vacation::load(self.cfg, user) {
            Ok(Some(v)) => v,
            Ok(None) => return,
            Err(e) => return mlog!("{}: vacation of <{user}> unreadable: {e}", self.env.id),
        };
        let header = match self.message() {
            Ok(m) => m,
            Err(e) => return mlog!("{}: vacation of <{user}> skipped: {e}", self.env.id),
        };
        let Ok(spool) = self.spool() else { return };
        let names = [user, rcpt, original];
        let d = vacation::Delivery {
            user,
            names: &names,
            sender: &self.env.sender,
            header: &header,
        };
        match vacation::respond(self.cfg, &spool, &v, &d, self.now) {
            Ok(Ok(id)) => mlog!("{}: vacation reply of <{user}> queued as {id}", self.env.id),
            Ok(Err(why)) => mlog!("{}: no vacation reply from <{user}>: {why}", self.env.id),
            Err(e) => mlog!("{}: vacation of <{user}> failed: {e}", self.env.id),
        }
    }
}

fn fail(address: &str, reply: &str) -> Target {
    Target::Failed {
        address: address.to_string(),
        reply: reply.to_string(),
    }
}

/// A recipient handled by a copy or dropped on purpose: delivered, with why.
fn done(address: &str, original: &str, what: &str) -> Recipient {
    Recipient {
        original: (address != original).then(|| original.to_string()),
        address: address.to_string(),
        state: RcptState::Delivered,
        reply: Some(format!("250 2.0.0 {what}")),
        expanded: true,
    }
}

fn recipient(t: Target, original: &str) -> Recipient {
    let (address, state, reply) = match t {
        Target::Local(a) | Target::Remote(a) => (a, RcptState::Pending, None),
        Target::Pipe(cmd) => (format!("|{cmd}"), RcptState::Pending, None),
        Target::Failed { address, reply } => (address, RcptState::Failed, Some(reply)),
        Target::List(a) => (
            a,
            RcptState::Failed,
            Some("451 4.3.0 list not exploded".into()),
        ),
        Target::Discard { address, .. } => (address, RcptState::Delivered, None),
    };
    Recipient {
        original: (address != original).then(|| original.to_string()),
        address,
        state,
        reply,
        expanded: true,
    }
}

/// Two expanded recipients that would deliver to the same place.
fn same(a: &Recipient, b: &Recipient) -> bool {
    a.expanded
        && b.expanded
        && a.address.eq_ignore_ascii_case(&b.address)
        && a.state != RcptState::Failed
}

/// Counts `Received:` header fields (the header ends at the first empty line).
pub fn count_received(r: impl Read) -> std::io::Result<usize> {
    let mut reader = BufReader::new(r.take(4 << 20));
    let mut line = Vec::new();
    let mut n = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(n);
        }
        if line == b"\r\n" || line == b"\n" {
            return Ok(n);
        }
        if line.len() >= 9 && line[..9].eq_ignore_ascii_case(b"received:") {
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests;
