//! spam-scan: the stage between `spool/incoming` and `spool/queue` (or `spool/quarantine`).
//!
//! Contract: `spam-scan [--config FILE] [--once] [--filter]`.
//! - Daemon (default): watches `incoming/` (inotify, plus a scan every `SCAN_EVERY` as a
//!   safety net). Per committed message (`judge`): remove forged `X-Spam-*` fields, run the
//!   rules (`rules`), stream it to clamd (`clamd`), add the local recipients' Bayes
//!   probability and spamd's score, then put our block on top: `X-Spam-Scan:` (host, parts,
//!   verdict, virus), `X-Spam-Score:`, `X-Spam-Status:`. Verdict by `[scan]` thresholds:
//!   `pass`/`junk` → `queue/` (local-deliver files `junk` into `.Junk`), `quarantine`/`virus`
//!   → `quarantine/` with `quarantine_reason` in the envelope (never delivered unless
//!   `mailctl quarantine release`). Logs `<ID>: scanned parts=<n> verdict=<v> score=<s> ->
//!   <stage>`. A message that cannot be read, or while clamd cannot answer (unless
//!   `on_scanner_failure = "accept"`), stays in incoming and is retried on the next pass.
//!   Also deletes drafts older than a day from `tmp/`.
//! - `--once`: the same for what is there now, then exit.
//! - `--filter`: a message on stdin; prints the verdict (`pass`, `junk`, `quarantine`,
//!   `virus`, or `tempfail` and a `# reason` line) and our header lines on stdout; exit 0.
//!   Touches no spool.
//!
//! Work is done in batches (all of `incoming/` at a wake-up, at most `BATCH` at a time): each
//! message is read and judged once, then the batch is rewritten and moved with one
//! `Spool::advance` per destination, so the fsyncs are shared (see `spool::batch`).
//!
//! Config changes: between passes, and every `CONFIG_EVERY` while idle, the daemon checks
//! the config file (`queue_runner::reexec::ConfigWatch`); a valid new config makes it finish
//! the pass and re-execute itself (same PID and argv, log `config changed: re-executing`);
//! an invalid one is logged once and the running config kept.
//!
//! SIGTERM/SIGINT: the current batch is finished, then exit 0.
//! Crash safety: every step is an atomic rename after an fsync; a crash before the move
//! repeats the work, and a message already carrying our block at the top (crash between the
//! rewrite and the move) keeps the verdict written there and gets no second block.
//! Exit codes: 0 done; 75 spool unusable or stdin unreadable.

mod clamd;
mod headers;
mod judge;
mod rules;
mod spamd;
mod verdict;

pub use headers::{mark_released, read_ours, Ours};
pub use judge::{judge, Context, Judged};
pub use verdict::{analyze, Hit, Report, Verdict, HEADER};

use crate::config::Config;
use crate::exit::Exit;
use crate::mlog;
use crate::queue_runner::reexec::{self, ConfigWatch};
use crate::queue_runner::wake::{self, Waker};
use crate::spool::{self, Advance, Spool, Stage};
use std::collections::HashSet;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// Safety-net rescan of `incoming/` when no inotify event arrives.
pub const SCAN_EVERY: Duration = Duration::from_secs(5);
/// How often an idle daemon looks at the config file's modification time.
const CONFIG_EVERY: Duration = Duration::from_secs(1);
/// How often abandoned drafts are cleaned from `tmp/`, and how old they must be.
const CLEAN_EVERY: Duration = Duration::from_secs(3600);
const DRAFT_AGE: Duration = Duration::from_secs(86400);

/// Command-line choices.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub once: bool,
    pub filter: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Spool(#[from] spool::Error),
    #[error("reading stdin: {0}")]
    Stdin(std::io::Error),
    #[error("{0}")]
    Setup(String),
}

impl Error {
    pub fn exit(&self) -> Exit {
        Exit::TempFail
    }
}

/// Runs the daemon, one pass (`once`) or the filter (stdin → stdout).
pub fn run(cfg: &Config, opts: &Options) -> Result<(), Error> {
    crate::privs::shed(cfg.run_as.as_deref()).map_err(Error::Setup)?;
    if opts.filter {
        let mut input = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut input)
            .map_err(Error::Stdin)?;
        return filter(cfg, &input, &mut std::io::stdout().lock()).map_err(Error::Stdin);
    }
    let spool = Spool::open(&cfg.spool_dir)?;
    clean(&spool);
    let ctx = Context::new(cfg);
    let mut failing = HashSet::new();
    if opts.once {
        scan_incoming(cfg, &ctx, &spool, &mut failing);
        return Ok(());
    }
    wake::on_stop_signals().map_err(|e| Error::Setup(format!("signal handlers: {e}")))?;
    let (waker, err) = Waker::watch(&spool.stage_dir(Stage::Incoming));
    if let Some(e) = err {
        mlog!(
            "inotify unavailable ({e}); scanning every {}s",
            SCAN_EVERY.as_secs()
        );
    }
    mlog!("started spool={}", cfg.spool_dir.display());
    let mut cleaned = Instant::now();
    let mut cfg_watch = ConfigWatch::new(cfg);
    while !wake::stop_requested() {
        scan_incoming(cfg, &ctx, &spool, &mut failing);
        if cleaned.elapsed() >= CLEAN_EVERY {
            clean(&spool);
            cleaned = Instant::now();
        }
        idle(&waker, &mut cfg_watch)?;
    }
    mlog!("stopped");
    Ok(())
}

/// Waits for work (a message in `incoming/`, or `SCAN_EVERY`), checking the config file
/// every `CONFIG_EVERY` meanwhile; a valid change re-executes the program (nothing is in
/// flight here). Returns only to scan again, or with the error of a failed exec.
fn idle(waker: &Waker, cfg_watch: &mut ConfigWatch) -> Result<(), Error> {
    let deadline = Instant::now() + SCAN_EVERY;
    loop {
        if cfg_watch.changed() && !wake::stop_requested() {
            let e = reexec::reexec();
            return Err(Error::Setup(format!("cannot re-execute: {e}")));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || wake::stop_requested() || waker.wait(left.min(CONFIG_EVERY)) {
            return Ok(());
        }
    }
}

/// Filter mode: verdict line and header line for one message.
pub fn filter(cfg: &Config, message: &[u8], out: &mut impl Write) -> std::io::Result<()> {
    let env = crate::spool::Envelope::default();
    let r = match judge::judge(cfg, &Context::new(cfg), "filter", &env, message) {
        Ok(j) => j.report,
        Err(e) => {
            writeln!(out, "tempfail")?;
            writeln!(out, "# {e}")?;
            return out.flush();
        }
    };
    writeln!(out, "{}", r.verdict.name())?;
    for (name, value) in r.headers(&cfg.hostname) {
        writeln!(out, "{name}: {}", value.replace("\r\n", "\n"))?;
    }
    out.flush()
}

/// Messages moved per `Spool::advance` call: the journal commits a batch costs are shared by
/// its messages, so under load a batch makes each message cheaper; when idle a batch is
/// simply what is there (often one message), so nothing waits for a batch to fill.
pub const BATCH: usize = 64;

/// Scans every committed message in `incoming/`, in batches of at most `BATCH`; returns how
/// many moved to the queue. `failing` remembers ids already reported as failing, so each is
/// logged once.
pub fn scan_incoming(
    cfg: &Config,
    ctx: &Context,
    spool: &Spool,
    failing: &mut HashSet<String>,
) -> usize {
    let ids = match spool.list(Stage::Incoming) {
        Ok(ids) => ids,
        Err(e) => {
            mlog!("cannot list incoming: {e}");
            return 0;
        }
    };
    let mut moved = 0;
    for chunk in ids.chunks(BATCH) {
        if wake::stop_requested() {
            break;
        }
        for (id, r) in scan_batch(cfg, ctx, spool, chunk) {
            match r {
                Ok(Some(_)) => {
                    failing.remove(&id);
                    moved += 1;
                }
                Ok(None) => {}
                Err(e) => {
                    if failing.insert(id.clone()) {
                        mlog!("{id}: left in incoming, will retry: {e}");
                    }
                }
            }
        }
    }
    moved
}

/// Scans one message and moves it on. `Ok(None)`: it was no longer there.
pub fn scan_one(
    cfg: &Config,
    ctx: &Context,
    spool: &Spool,
    id: &str,
) -> Result<Option<Report>, Failed> {
    let ids = [id.to_string()];
    match scan_batch(cfg, ctx, spool, &ids).pop() {
        Some((_, r)) => r,
        None => Ok(None),
    }
}

/// A message ready to move: where to, and what to write.
struct Prepared {
    adv: Advance,
    report: Report,
    to: Stage,
}

/// Scans a batch: reads and judges each message once, then rewrites and moves them with one
/// `Spool::advance` per destination (queue, quarantine). Per id: the report, `None` when it
/// was gone, or the error. Once clamd fails, the rest of the batch is not offered to it.
fn scan_batch(
    cfg: &Config,
    ctx: &Context,
    spool: &Spool,
    ids: &[String],
) -> Vec<(String, Result<Option<Report>, Failed>)> {
    let mut out = Vec::with_capacity(ids.len());
    let mut ready = Vec::with_capacity(ids.len());
    let mut scanner_down: Option<String> = None;
    for id in ids {
        if let Some(e) = &scanner_down {
            out.push((id.clone(), Err(Failed::Scanner(e.clone()))));
            continue;
        }
        match prepare(cfg, ctx, spool, id) {
            Ok(Some(p)) => ready.push(p),
            Ok(None) => out.push((id.clone(), Ok(None))),
            Err(Failed::Scanner(e)) => {
                out.push((id.clone(), Err(Failed::Scanner(e.clone()))));
                scanner_down = Some(e);
            }
            Err(e) => out.push((id.clone(), Err(e))),
        }
    }
    for to in [Stage::Queue, Stage::Quarantine] {
        let (batch, reports): (Vec<Advance>, Vec<Report>) = ready
            .iter()
            .filter(|p| p.to == to)
            .map(|p| (p.adv.clone(), p.report.clone()))
            .unzip();
        if batch.is_empty() {
            continue;
        }
        let results = spool.advance(Stage::Incoming, to, &batch);
        for ((adv, report), r) in batch.into_iter().zip(reports).zip(results) {
            let r = match r {
                Ok(()) => {
                    log_moved(&adv.id, &report, to);
                    Ok(Some(report))
                }
                Err(spool::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e.into()),
            };
            out.push((adv.id, r));
        }
    }
    out
}

/// Why a message stays in incoming for now (both temporary).
#[derive(Debug, thiserror::Error)]
pub enum Failed {
    #[error("{0}")]
    Spool(#[from] spool::Error),
    /// clamd could not answer (and `on_scanner_failure` is not `accept`).
    #[error("virus scanner unavailable: {0}")]
    Scanner(String),
}

/// Reads one message and decides what to write and where it goes. A message that already
/// starts with our block (a rescan after a crash between the rewrite and the move; smtpd puts
/// `Received:` first, so only spam-scan ever puts `X-Spam-Scan:` there) keeps its verdict and
/// is not scanned again; so does one an older spam-scan marked `scanned` in the envelope.
/// The envelope is rewritten only for quarantine (the reason). `None`: gone from incoming.
fn prepare(
    cfg: &Config,
    ctx: &Context,
    spool: &Spool,
    id: &str,
) -> Result<Option<Prepared>, Failed> {
    let mut envelope = match spool.read_envelope(Stage::Incoming, id) {
        Ok(e) => e,
        Err(spool::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let msg = match spool.read_message(Stage::Incoming, id) {
        Ok(m) => m,
        Err(spool::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let (report, message) = match headers::read_ours(&msg, &cfg.hostname) {
        Some(ours) => (rescanned(&msg, ours), None),
        None if envelope.scanned => (analyze(&msg), None),
        None => {
            let j = judge::judge(cfg, ctx, id, &envelope, &msg).map_err(Failed::Scanner)?;
            (j.report, Some(j.message))
        }
    };
    let held = report.verdict.is_held();
    let mut new_envelope = None;
    if held && envelope.quarantine_reason.is_none() {
        envelope.quarantine_reason = Some(reason(&report, cfg));
        new_envelope = Some(envelope);
    }
    Ok(Some(Prepared {
        adv: Advance {
            id: id.to_string(),
            message,
            envelope: new_envelope,
        },
        to: if held {
            Stage::Quarantine
        } else {
            Stage::Queue
        },
        report,
    }))
}

/// The report of a message we already judged, from our block at its top.
fn rescanned(msg: &[u8], ours: headers::Ours) -> Report {
    let mut r = analyze(msg);
    r.hits.clear();
    if let Some(s) = ours.score {
        r.hits.push(verdict::Hit::new("RESCAN", s));
    }
    r.verdict = ours.verdict;
    r.virus = ours.virus;
    r
}

/// The quarantine reason recorded in the envelope.
fn reason(report: &Report, cfg: &Config) -> String {
    match &report.virus {
        Some(v) => format!("virus {v}"),
        None => format!(
            "score {:.1} >= {:.1}",
            report.score(),
            cfg.scan.quarantine_score
        ),
    }
}

fn log_moved(id: &str, report: &Report, to: Stage) {
    let problems = match report.problems.is_empty() {
        true => String::new(),
        false => format!(" problems={}", report.problems.join(",")),
    };
    let virus = report
        .virus
        .as_ref()
        .map(|v| format!(" virus={v}"))
        .unwrap_or_default();
    mlog!(
        "{id}: scanned parts={} verdict={} score={:.1}{virus}{problems} -> {}",
        report.parts,
        report.verdict.name(),
        report.score(),
        to.name()
    );
}

fn clean(spool: &Spool) {
    match spool.clean_tmp(DRAFT_AGE) {
        Ok(0) => {}
        Ok(n) => mlog!("removed {n} abandoned drafts from tmp"),
        Err(e) => mlog!("cannot clean tmp: {e}"),
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
