//! Outbound SMTP: how queue-runner hands a message to other domains' servers, the way
//! Postfix's smtp client does. `route` picks the destination kind (transport, relayhost, MX),
//! `resolve` finds the addresses (MX preference order, equal ones shuffled, implicit MX,
//! null MX), `client` is the sans-I/O SMTP client, `session` drives it over TCP/rustls,
//! `limits` caps connections, and `Agent` (one per queue-runner worker) ties them together
//! with a small cache of idle connections for the next message to the same destination.
//! MX routes consult MTA-STS (`crate::mta_sts`, RFC 8461): in `enforce` mode only MX hosts
//! the policy names are tried, and only over TLS with a verified certificate; in `testing`
//! mode a mismatch is logged and delivery goes on.
//!
//! Owns no spool state: it returns one (state, reply) per recipient and the caller records
//! them. Never panics on peer input; every failure becomes a recipient state: permanent
//! (5xx reply, null MX, NXDOMAIN, message the peer cannot take) or temporary (everything
//! else: connection, timeout, DNS trouble, TLS required but unavailable).

pub mod client;
pub mod ehlo;
pub mod envelope;
pub mod limits;
pub mod reply;
pub mod resolve;
pub mod route;
pub mod session;
pub mod tls;

use crate::config::Config;
use crate::mlog;
use crate::spool::RcptState;
use client::{Failure, Settings, Transaction};
use limits::{Limits, Permit};
use resolve::Hop;
use route::Route;
use session::Session;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How long a worker waits for a connection place before deferring.
const PERMIT_WAIT: Duration = Duration::from_secs(30);
/// Transactions per connection before it is closed (Postfix: 100 reuses).
const MAX_REUSE: u32 = 100;

/// An open, ready connection kept for reuse, with its place in the limits.
struct Idle {
    session: Session,
    _permit: Permit,
}

/// One worker's outbound machinery: DNS runtime and resolver, idle connections.
pub struct Agent {
    limits: Arc<Limits>,
    dns: Option<(tokio::runtime::Runtime, hickory_resolver::TokioResolver)>,
    /// MTA-STS policies; `None` until first needed, or when unusable (logged once).
    sts: Option<Option<crate::mta_sts::Cache>>,
    idle: HashMap<String, Vec<Idle>>,
}

impl Agent {
    pub fn new(limits: Arc<Limits>) -> Agent {
        Agent {
            limits,
            dns: None,
            sts: None,
            idle: HashMap::new(),
        }
    }

    /// Sends `message` to the recipients of `t`, all in `domain`; one (state, reply) per
    /// recipient, in order. `id` names the message in log lines.
    pub fn deliver(
        &mut self,
        cfg: &Config,
        id: &str,
        domain: &str,
        t: &Transaction,
        message: &[u8],
    ) -> Vec<(RcptState, String)> {
        let all = |f: Failure| vec![(f.state, f.reply); t.rcpts.len()];
        let route = match route::route(&cfg.outbound, domain) {
            Ok(r) => r,
            Err(f) => return all(f),
        };
        if let Some(mut s) = self.reuse(cfg, &route.key) {
            let r = s.session.send(t, message);
            log_session(id, &s.session, true);
            self.keep(&route.key, s);
            return r;
        }
        let (hops, sts_enforce) = match self.hops(cfg, id, &route) {
            Ok(h) => h,
            Err(f) => return all(f),
        };
        let mut settings = match settings(cfg, &route, t) {
            Ok(s) => s,
            Err(f) => return all(f),
        };
        settings.require_tls |= sts_enforce;
        let mut last = Failure {
            state: RcptState::Deferred,
            reply: format!("451 4.4.1 no host to try for {domain}"),
        };
        for hop in &hops {
            let Some(permit) = self.limits.acquire(&route.key, PERMIT_WAIT) else {
                return all(Failure {
                    state: RcptState::Deferred,
                    reply: format!("451 4.4.5 connection limit for {} reached", route.key),
                });
            };
            match connect(cfg, hop, &settings) {
                Ok(session) => {
                    let mut s = Idle {
                        session,
                        _permit: permit,
                    };
                    let r = s.session.send(t, message);
                    log_session(id, &s.session, false);
                    self.keep(&route.key, s);
                    return r;
                }
                Err(f) => {
                    mlog!(
                        "{id}: relay={}[{}]:{} failed: {}",
                        hop.name,
                        hop.addr.ip(),
                        hop.addr.port(),
                        f.reply
                    );
                    last = f;
                }
            }
        }
        all(last)
    }

    /// Closes idle connections older than `[outbound] idle`.
    pub fn sweep(&mut self, cfg: &Config) {
        let max = cfg.outbound.idle;
        for list in self.idle.values_mut() {
            let (old, keep): (Vec<Idle>, Vec<Idle>) = list
                .drain(..)
                .partition(|s| s.session.idle_since.elapsed() >= max);
            *list = keep;
            for s in old {
                s.session.quit();
            }
        }
        self.idle.retain(|_, l| !l.is_empty());
    }

    /// Closes every idle connection (QUIT).
    pub fn close_all(&mut self) {
        for (_, list) in self.idle.drain() {
            for s in list {
                s.session.quit();
            }
        }
    }

    /// True when idle connections are open (the worker should sweep them).
    pub fn has_idle(&self) -> bool {
        !self.idle.is_empty()
    }

    fn reuse(&mut self, cfg: &Config, key: &str) -> Option<Idle> {
        let list = self.idle.get_mut(key)?;
        while let Some(mut s) = list.pop() {
            if s.session.idle_since.elapsed() < cfg.outbound.idle && s.session.probe() {
                return Some(s);
            }
            s.session.quit();
        }
        None
    }

    fn keep(&mut self, key: &str, s: Idle) {
        if s.session.is_ready() && s.session.transactions < MAX_REUSE {
            self.idle.entry(key.to_string()).or_default().push(s);
        } else {
            s.session.quit();
        }
    }

    /// Addresses to try, and whether an enforced MTA-STS policy demands verified TLS.
    fn hops(&mut self, cfg: &Config, id: &str, route: &Route) -> Result<(Vec<Hop>, bool), Failure> {
        if self.dns.is_none() {
            let rt = crate::dns::runtime().map_err(|e| temp(format!("451 4.4.3 runtime: {e}")))?;
            let res = {
                let _g = rt.enter();
                crate::dns::resolver(&cfg.dns).map_err(|e| temp(format!("451 4.4.3 {e}")))?
            };
            self.dns = Some((rt, res));
        }
        let is_mx = matches!(route.target, route::Target::Mx(_));
        if is_mx && self.sts.is_none() {
            self.sts = Some(match crate::mta_sts::Cache::new(cfg) {
                Ok(c) => Some(c),
                Err(e) => {
                    mlog!("mta-sts: disabled: {e}");
                    None
                }
            });
        }
        let sts = self.sts.as_ref().and_then(|c| c.as_ref()).filter(|_| is_mx);
        let Some((rt, res)) = &self.dns else {
            return Err(temp("451 4.4.3 no resolver".into()));
        };
        // The policy and the addresses are looked up side by side.
        let (policy, hops) = rt.block_on(async {
            let policy = async {
                match sts {
                    Some(c) => c.policy_async(&route.domain).await,
                    None => None,
                }
            };
            tokio::join!(policy, resolve::hops(res, route, cfg.outbound.port))
        });
        let hops = hops?;
        match policy {
            Some(p) => apply_sts(id, &route.domain, hops, &p),
            None => Ok((hops, false)),
        }
    }
}

/// Applies an MTA-STS policy to the hops of `domain`: in `enforce` mode only hosts the
/// policy names remain (none: temporary failure) and verified TLS becomes required; in
/// `testing` mode mismatches are only logged.
fn apply_sts(
    id: &str,
    domain: &str,
    hops: Vec<Hop>,
    policy: &crate::mta_sts::Policy,
) -> Result<(Vec<Hop>, bool), Failure> {
    for h in hops.iter().filter(|h| !policy.allows_mx(&h.name)) {
        mlog!(
            "{id}: mta-sts: {} not in the policy of {domain} (enforce={})",
            h.name,
            policy.enforce()
        );
    }
    if !policy.enforce() {
        return Ok((hops, false));
    }
    let allowed: Vec<Hop> = hops
        .into_iter()
        .filter(|h| policy.allows_mx(&h.name))
        .collect();
    if allowed.is_empty() {
        return Err(temp(format!(
            "451 4.7.5 MTA-STS: no MX host of {domain} matches its policy"
        )));
    }
    Ok((allowed, true))
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.close_all();
    }
}

fn temp(reply: String) -> Failure {
    Failure {
        state: RcptState::Deferred,
        reply,
    }
}

/// Connects to `hop`; opportunistic TLS whose handshake fails is retried once in plaintext
/// (RFC 7435), unless TLS is required.
fn connect(cfg: &Config, hop: &Hop, settings: &Settings) -> Result<Session, Failure> {
    let o = &cfg.outbound;
    match Session::connect(hop, settings.clone(), o) {
        Err(f) if f.reply.contains("TLS handshake") && !settings.require_tls => {
            let plain = Settings {
                starttls: false,
                ..settings.clone()
            };
            Session::connect(hop, plain, o)
        }
        r => r,
    }
}

/// The client's settings for `route`: EHLO name, TLS demands, relayhost credentials.
fn settings(cfg: &Config, route: &Route, t: &Transaction) -> Result<Settings, Failure> {
    let auth = match (&cfg.outbound.relayhost, route.auth) {
        (Some(r), true) => match &r.auth {
            Some(a) => Some((a.user.clone(), read_password(&a.password_file)?)),
            None => None,
        },
        _ => None,
    };
    Ok(Settings {
        helo: cfg
            .outbound
            .helo_name
            .clone()
            .unwrap_or_else(|| cfg.hostname.clone()),
        starttls: true,
        require_tls: route.require_tls || t.requiretls,
        auth,
    })
}

fn read_password(path: &std::path::Path) -> Result<String, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        temp(format!(
            "451 4.7.0 relayhost password file {}: {e}",
            path.display()
        ))
    })?;
    Ok(text.lines().next().unwrap_or("").to_string())
}

fn log_session(id: &str, s: &Session, reused: bool) {
    let tls = match s.tls() {
        (false, _) => "none".to_string(),
        (true, false) => format!(
            "unverified ({})",
            s.verify_error().unwrap_or("certificate not checked")
        ),
        (true, true) => "verified".to_string(),
    };
    mlog!(
        "{id}: relay={}:{} tls={tls} reused={reused}",
        s.peer(),
        s.hop.addr.port()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mta_sts::Policy;

    fn hop(name: &str) -> Hop {
        Hop {
            name: name.into(),
            addr: "127.0.0.1:25".parse().unwrap(),
        }
    }

    fn policy(mode: &str) -> Policy {
        let text = format!("version: STSv1\nmode: {mode}\nmx: *.b.test\nmax_age: 86400\n");
        Policy::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn mta_sts_enforce_filters_hosts_and_requires_tls() {
        let hops = vec![hop("evil.test"), hop("mx1.b.test")];
        let (kept, tls) = apply_sts("ID", "b.test", hops.clone(), &policy("enforce")).unwrap();
        assert_eq!(kept, vec![hop("mx1.b.test")]);
        assert!(tls);
        let f = apply_sts("ID", "b.test", vec![hop("evil.test")], &policy("enforce")).unwrap_err();
        assert_eq!(f.state, RcptState::Deferred);
        assert!(f.reply.starts_with("451 4.7.5"));
        let (kept, tls) = apply_sts("ID", "b.test", hops.clone(), &policy("testing")).unwrap();
        assert_eq!(kept, hops);
        assert!(!tls);
    }
}
