//! The pipeline for one message: strip forged `X-Spam-*` fields (and `Authentication-Results`
//! claiming our hostname), ask clamd, verify SPF/DKIM/DMARC (`crate::authres`: its header and
//! score), run the static rules, add smtpd's DNSBL/DNSWL findings, the recipients' Bayes
//! probability and (when configured) spamd's score, then decide against `[scan]` thresholds
//! and write our header block on top. An allow-listed sender or client (envelope
//! `allowlisted`) skips the scoring; the virus scan still applies.
//!
//! Fails (`Err`, the message stays in incoming and is retried) only when clamd is configured
//! but cannot answer and `on_scanner_failure` is not `accept`. Bayes and spamd trouble is
//! logged and scored as nothing: they refine a score, they never hold mail back.

use super::verdict::{analyze, Hit, Report};
use super::{clamd, headers, spamd};
use crate::authres;
use crate::config::Config;
use crate::mlog;
use crate::spool::Envelope;

/// A judged message: the report and the bytes to store (our block on top).
#[derive(Debug)]
pub struct Judged {
    pub report: Report,
    pub message: Vec<u8>,
}

/// What a long-running spam-scan keeps between messages.
pub struct Context {
    /// SPF/DKIM/DMARC with one resolver; `None` when it could not be built (then each
    /// message gets the one-shot `authres::verify`, which records `temperror`).
    verifier: Option<authres::Verifier>,
    bayes: crate::bayes::Cache,
}

impl Context {
    pub fn new(cfg: &Config) -> Context {
        let verifier = match authres::Verifier::new(cfg) {
            Ok(v) => Some(v),
            Err(e) => {
                mlog!("warning: authentication checks unavailable: {e}");
                None
            }
        };
        Context {
            verifier,
            bayes: crate::bayes::Cache::new(),
        }
    }

    fn verify(&self, cfg: &Config, env: &Envelope, raw: &[u8]) -> authres::Verdict {
        match &self.verifier {
            Some(v) => v.verify(env, raw),
            None => authres::verify(cfg, env, raw),
        }
    }
}

/// Judges one message. `id` prefixes log lines.
pub fn judge(
    cfg: &Config,
    ctx: &Context,
    id: &str,
    env: &Envelope,
    raw: &[u8],
) -> Result<Judged, String> {
    let stripped = headers::strip_incoming(raw, &cfg.hostname);
    let msg = stripped.as_deref().unwrap_or(raw);
    let mut report = analyze(msg);
    virus_scan(cfg, id, msg, &mut report)?;
    let auth = ctx.verify(cfg, env, msg);
    if env.allowlisted {
        report.hits = vec![Hit::new("ALLOWLISTED", 0.0)];
    } else {
        score(cfg, ctx, id, env, msg, &auth, &mut report);
    }
    report.extra_headers.push(field(&auth.header));
    report.decide(cfg.scan.junk_score, cfg.scan.quarantine_score);
    let message = headers::with_headers(msg, &report.headers(&cfg.hostname));
    Ok(Judged { report, message })
}

/// Adds the scores beyond the static rules: authentication, DNS lists, Bayes, spamd.
fn score(
    cfg: &Config,
    ctx: &Context,
    id: &str,
    env: &Envelope,
    msg: &[u8],
    auth: &authres::Verdict,
    report: &mut Report,
) {
    if auth.score != 0.0 {
        report.hits.push(Hit::new("AUTH_RESULTS", auth.score));
    }
    for zone in &env.dnsbl_hits {
        report
            .hits
            .push(Hit::new(format!("DNSBL_{zone}"), cfg.policy.dnsbl_score));
    }
    for zone in &env.dnswl_hits {
        report
            .hits
            .push(Hit::new(format!("DNSWL_{zone}"), cfg.policy.dnswl_score));
    }
    if cfg.scan.bayes {
        if let Some(h) = bayes(cfg, &ctx.bayes, env, msg) {
            report.hits.push(h);
        }
    }
    if let Some(addr) = cfg.scan.spamd {
        match spamd::check(addr, cfg.scan.spamd_timeout, msg) {
            Ok(score) => report.hits.push(Hit::new("SPAMD", score)),
            Err(e) => mlog!("{id}: spamd not asked: {e}"),
        }
    }
}

/// authres's whole header field (`Name: value`, folded, CRLF-terminated) as name and value.
fn field(header: &str) -> (String, String) {
    let h = header.trim_end_matches(['\r', '\n']);
    match h.split_once(':') {
        Some((n, v)) => (n.to_string(), v.trim_start().to_string()),
        None => (authres::HEADER.to_string(), h.to_string()),
    }
}

/// Asks clamd, when configured. A virus sets `report.virus`.
fn virus_scan(cfg: &Config, id: &str, msg: &[u8], report: &mut Report) -> Result<(), String> {
    let Some(target) = &cfg.scan.clamd else {
        return Ok(());
    };
    let answer = match msg.len() as u64 > cfg.scan.clamd_max_size {
        true => Ok(clamd::Answer::TooBig),
        false => clamd::scan(target, cfg.scan.clamd_timeout, msg),
    };
    match answer {
        Ok(clamd::Answer::Clean) => {}
        Ok(clamd::Answer::Infected(name)) => report.virus = Some(name),
        Ok(clamd::Answer::TooBig) => {
            mlog!(
                "{id}: size={} over clamd_max_size or clamd's StreamMaxLength; not virus-scanned",
                msg.len()
            );
            report.problems.push("not-virus-scanned");
        }
        Err(e) if cfg.scan.accept_on_scanner_failure => {
            mlog!("{id}: {e}; passing unscanned (on_scanner_failure = \"accept\")");
            report.problems.push("not-virus-scanned");
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

/// The mean Bayes probability over local recipients whose classifier speaks, as a hit.
fn bayes(cfg: &Config, cache: &crate::bayes::Cache, env: &Envelope, msg: &[u8]) -> Option<Hit> {
    let mut probs = Vec::new();
    for r in &env.recipients {
        let local = r
            .address
            .rsplit_once('@')
            .is_some_and(|(_, d)| cfg.is_local_domain(d));
        if let Some(md) = cfg.maildir_path(&r.address).filter(|_| local) {
            if let Some(p) = cache.probability(&md, msg) {
                probs.push(p);
            }
        }
    }
    if probs.is_empty() {
        return None;
    }
    let p = probs.iter().sum::<f64>() / probs.len() as f64;
    Some(bayes_hit(p))
}

/// SpamAssassin-like buckets: strong ham lowers the score, strong spam raises it.
pub fn bayes_hit(p: f64) -> Hit {
    let (name, score) = match p {
        p if p < 0.01 => ("BAYES_00", -1.5),
        p if p < 0.2 => ("BAYES_05", -0.5),
        p if p < 0.8 => ("BAYES_50", 0.0),
        p if p < 0.95 => ("BAYES_80", 2.0),
        p if p < 0.99 => ("BAYES_95", 3.0),
        _ => ("BAYES_99", 4.0),
    };
    Hit::new(name, score)
}
