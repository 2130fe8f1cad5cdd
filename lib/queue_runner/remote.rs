//! Remote recipients of one message: grouped by domain, one SMTP transaction per domain
//! through the worker's `outbound::Agent`, DKIM-signed once per message (`dkim::Signer`,
//! when the From: domain has a key), DSN parameters and REQUIRETLS passed on from the
//! envelope. Delivered recipients are written to the envelope before the next transaction
//! starts, so a crash repeats at most the transaction in flight. The message is read into
//! memory once per attempt (the signer needs it whole; smtpd bounds its size).
//!
//! Leaves routing, TLS and the protocol to `outbound`; fails only on an envelope write
//! (the message stays queued, as before the attempt).

use super::wake::stop_requested;
use crate::config::Config;
use crate::dkim::Signer;
use crate::mlog;
use crate::outbound::client::{xtext, RcptSpec, Transaction};
use crate::outbound::limits::Limits;
use crate::outbound::Agent;
use crate::spool::{self, Envelope, RcptState, Spool, Stage};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One worker's remote delivery: its SMTP agent and the DKIM signer.
pub struct Remote {
    pub agent: Agent,
    signer: Option<Signer>,
}

impl Remote {
    pub fn new(cfg: &Config, limits: Arc<Limits>) -> Remote {
        let signer = match Signer::load(cfg) {
            Ok(s) => Some(s),
            Err(e) => {
                mlog!("DKIM signing off: {e}");
                None
            }
        };
        Remote {
            agent: Agent::new(limits),
            signer,
        }
    }
}

/// Delivers every open remote recipient (indices in `open`). `unrecorded` is true while a
/// delivery is not yet in the envelope on disk; it is kept up to date for the caller.
pub fn deliver(
    cfg: &Config,
    spool: &Spool,
    id: &str,
    env: &mut Envelope,
    open: &[usize],
    remote: &mut Remote,
    unrecorded: &mut bool,
) -> spool::Result<()> {
    if open.is_empty() {
        return Ok(());
    }
    let message = match load(spool, id, remote.signer.as_ref()) {
        Ok(m) => m,
        Err(e) => {
            for &i in open {
                let r = &mut env.recipients[i];
                r.state = RcptState::Deferred;
                r.reply = Some(format!("451 4.3.0 cannot read queued message: {e}"));
                super::message::log_result(id, r);
            }
            return Ok(());
        }
    };
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for &i in open {
        let domain = env.recipients[i]
            .address
            .rsplit_once('@')
            .map(|(_, d)| d.to_lowercase())
            .unwrap_or_default();
        groups.entry(domain).or_default().push(i);
    }
    for (domain, idx) in groups {
        if stop_requested() {
            break;
        }
        if *unrecorded {
            spool.write_envelope(Stage::Queue, id, env)?;
            *unrecorded = false;
        }
        let t = transaction(env, &idx, &message);
        let results = remote.agent.deliver(cfg, id, &domain, &t, &message);
        for (&i, (state, reply)) in idx.iter().zip(results) {
            let r = &mut env.recipients[i];
            r.state = state;
            r.reply = Some(reply);
            *unrecorded |= state == RcptState::Delivered;
            super::message::log_result(id, r);
        }
    }
    Ok(())
}

/// The queued message, with a DKIM-Signature prepended when its From: domain has a key.
fn load(spool: &Spool, id: &str, signer: Option<&Signer>) -> spool::Result<Vec<u8>> {
    let message = spool.read_message(Stage::Queue, id)?;
    match signer.and_then(|s| s.sign(&message)) {
        Some(header) => {
            let mut signed = header.into_bytes();
            signed.extend_from_slice(&message);
            Ok(signed)
        }
        None => Ok(message),
    }
}

/// The SMTP transaction for the recipients `idx` of `env`.
fn transaction(env: &Envelope, idx: &[usize], message: &[u8]) -> Transaction {
    let rcpts: Vec<RcptSpec> = idx
        .iter()
        .map(|&i| {
            let r = &env.recipients[i];
            let key = r.original.as_deref().unwrap_or(&r.address);
            RcptSpec {
                address: r.address.clone(),
                notify: env.dsn_notify.get(key).cloned(),
                orcpt: env.dsn_orcpt.get(key).map(|o| match o.split_once(';') {
                    Some((kind, addr)) => format!("{kind};{}", xtext(addr)),
                    None => format!("rfc822;{}", xtext(o)),
                }),
            }
        })
        .collect();
    let utf8_addr = !env.sender.is_ascii() || rcpts.iter().any(|r| !r.address.is_ascii());
    Transaction {
        sender: env.sender.clone(),
        size: message.len() as u64,
        eight_bit: env.eight_bit || !message.is_ascii(),
        smtputf8: env.smtputf8 || utf8_addr,
        requiretls: env.require_tls,
        ret: env.ret.clone(),
        envid: env.envid.as_deref().map(xtext),
        rcpts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::Recipient;

    #[test]
    fn transaction_carries_dsn_and_needs() {
        let mut env = Envelope {
            sender: "s@a.test".into(),
            recipients: vec![
                Recipient {
                    original: Some("list@a.test".into()),
                    ..Recipient::new("x@b.test")
                },
                Recipient::new("y@b.test"),
            ],
            ret: Some("HDRS".into()),
            envid: Some("q 1".into()),
            require_tls: true,
            ..Envelope::default()
        };
        env.dsn_notify.insert("list@a.test".into(), "NEVER".into());
        env.dsn_orcpt
            .insert("y@b.test".into(), "rfc822;y+1@b.test".into());
        let t = transaction(&env, &[0, 1], "Subject: ü\r\n\r\n".as_bytes());
        assert!(t.eight_bit && !t.smtputf8 && t.requiretls);
        assert_eq!(t.envid.as_deref(), Some("q+201"));
        assert_eq!(t.rcpts[0].notify.as_deref(), Some("NEVER"));
        assert_eq!(t.rcpts[1].orcpt.as_deref(), Some("rfc822;y+2B1@b.test"));
        assert_eq!(t.rcpts[0].orcpt, None);
    }
}
