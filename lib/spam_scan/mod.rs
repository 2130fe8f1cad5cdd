//! spam-scan: the stage between `spool/incoming` and `spool/queue`.
//!
//! Contract: `spam-scan [--config FILE] [--once] [--filter]`.
//! - Daemon (default): watches `incoming/` (inotify, plus a scan every `SCAN_EVERY` as a
//!   safety net). Per committed message: parse it, add one `X-Spam-Scan:` header at the top
//!   (unless it is already there), rename it into `queue/` (the envelope is left as smtpd
//!   wrote it).
//!   Logs `<ID>: scanned parts=<n> -> queue`. A message that cannot be read stays where it
//!   is and is retried on the next scan. Also deletes drafts older than a day from `tmp/`.
//! - `--once`: the same for what is there now, then exit.
//! - `--filter`: a message on stdin; prints the verdict (`pass`) and the header line on
//!   stdout; exit 0. Touches no spool.
//!
//! Work is done in batches (all of `incoming/` at a wake-up, at most `BATCH` at a time): each
//! message is read and parsed once, then the batch is rewritten and moved with one
//! `Spool::advance`, so the fsyncs are shared (see `spool::batch` for their order).
//!
//! SIGTERM/SIGINT: the current batch is finished, then exit 0.
//! Crash safety: every step is an atomic rename after an fsync; a crash before the move
//! repeats the scan, and a header already added (crash between the rewrite and the move) is
//! not added twice.
//! Exit codes: 0 done; 75 spool unusable or stdin unreadable.

mod verdict;

pub use verdict::{analyze, Report, HEADER};

use crate::config::Config;
use crate::exit::Exit;
use crate::mlog;
use crate::queue_runner::wake::{self, Waker};
use crate::spool::{self, Advance, Spool, Stage};
use std::collections::HashSet;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// Safety-net rescan of `incoming/` when no inotify event arrives.
pub const SCAN_EVERY: Duration = Duration::from_secs(5);
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
    let mut failing = HashSet::new();
    if opts.once {
        scan_incoming(cfg, &spool, &mut failing);
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
    while !wake::stop_requested() {
        scan_incoming(cfg, &spool, &mut failing);
        if cleaned.elapsed() >= CLEAN_EVERY {
            clean(&spool);
            cleaned = Instant::now();
        }
        waker.wait(SCAN_EVERY);
    }
    mlog!("stopped");
    Ok(())
}

/// Filter mode: verdict line and header line for one message.
pub fn filter(cfg: &Config, message: &[u8], out: &mut impl Write) -> std::io::Result<()> {
    let r = analyze(message);
    writeln!(out, "{}", r.verdict)?;
    writeln!(out, "{HEADER}: {}", r.value(&cfg.hostname))?;
    out.flush()
}

/// Messages moved per `Spool::advance` call: the journal commits a batch costs are shared by
/// its messages, so under load a batch makes each message cheaper; when idle a batch is
/// simply what is there (often one message), so nothing waits for a batch to fill.
pub const BATCH: usize = 64;

/// Scans every committed message in `incoming/`, in batches of at most `BATCH`; returns how
/// many moved to the queue. `failing` remembers ids already reported as failing, so each is
/// logged once.
pub fn scan_incoming(cfg: &Config, spool: &Spool, failing: &mut HashSet<String>) -> usize {
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
        for (id, r) in scan_batch(cfg, spool, chunk) {
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

/// Scans one message and moves it to the queue. `Ok(None)`: it was no longer there.
pub fn scan_one(cfg: &Config, spool: &Spool, id: &str) -> spool::Result<Option<Report>> {
    let ids = [id.to_string()];
    match scan_batch(cfg, spool, &ids).pop() {
        Some((_, r)) => r,
        None => Ok(None),
    }
}

/// Scans a batch: reads and judges each message once, then rewrites and moves them all with
/// one `Spool::advance`. Per id: the report, `None` when it was gone, or the error.
fn scan_batch(
    cfg: &Config,
    spool: &Spool,
    ids: &[String],
) -> Vec<(String, spool::Result<Option<Report>>)> {
    let mut out = Vec::with_capacity(ids.len());
    let mut batch = Vec::with_capacity(ids.len());
    let mut reports = Vec::with_capacity(ids.len());
    for id in ids {
        match prepare(cfg, spool, id) {
            Ok(Some((adv, report))) => {
                batch.push(adv);
                reports.push(report);
            }
            r => out.push((id.clone(), r.map(|_| None))),
        }
    }
    let results = spool.advance(Stage::Incoming, Stage::Queue, &batch);
    for ((adv, report), r) in batch.into_iter().zip(reports).zip(results) {
        let r = match r {
            Ok(()) => {
                log_moved(&adv.id, &report);
                Ok(Some(report))
            }
            Err(spool::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        };
        out.push((adv.id, r));
    }
    out
}

/// Reads one message and decides what to write: the header on top, unless it is already
/// there (a rescan after a crash between the rewrite and the move; smtpd puts `Received:`
/// first, so only spam-scan ever puts `X-Spam-Scan:` there) or an older spam-scan recorded
/// `scanned` in the envelope. The envelope is not rewritten: in `queue/` a message has been
/// scanned, and not writing it saves a file, two fsyncs and a rename per message.
/// `None`: gone from incoming.
fn prepare(cfg: &Config, spool: &Spool, id: &str) -> spool::Result<Option<(Advance, Report)>> {
    let envelope = match spool.read_envelope(Stage::Incoming, id) {
        Ok(e) => e,
        Err(spool::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let msg = match spool.read_message(Stage::Incoming, id) {
        Ok(m) => m,
        Err(spool::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let report = analyze(&msg);
    let mut message = None;
    if !envelope.scanned && !verdict::already_marked(&msg, &cfg.hostname) {
        message = Some(verdict::with_header(&msg, &report.value(&cfg.hostname)));
    }
    let adv = Advance {
        id: id.to_string(),
        message,
        envelope: None,
    };
    Ok(Some((adv, report)))
}

fn log_moved(id: &str, report: &Report) {
    let problems = match report.problems.is_empty() {
        true => String::new(),
        false => format!(" problems={}", report.problems.join(",")),
    };
    mlog!("{id}: scanned parts={}{problems} -> queue", report.parts);
}

fn clean(spool: &Spool) {
    match spool.clean_tmp(DRAFT_AGE) {
        Ok(0) => {}
        Ok(n) => mlog!("removed {n} abandoned drafts from tmp"),
        Err(e) => mlog!("cannot clean tmp: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::{Envelope, Recipient};
    use std::path::Path;

    fn cfg(root: &Path) -> Config {
        let text = "hostname = \"mx.test\"\nspool_dir = \"spool\"\nmail_root = \"m\"\nusers_file = \"u\"\n";
        Config::parse(&root.join("mail.toml"), text).unwrap()
    }

    #[test]
    fn once_moves_incoming_to_queue_with_one_header() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = cfg(dir.path());
        let spool = Spool::open(&cfg.spool_dir).unwrap();
        let env = Envelope {
            sender: "a@x.test".into(),
            recipients: vec![Recipient::new("b@y.test")],
            ..Envelope::default()
        };
        let body = b"From: a@x.test\r\nSubject: hi\r\n\r\nhello\r\n";
        let id = spool.enqueue(Stage::Incoming, &env, body).unwrap();
        run(
            &cfg,
            &Options {
                once: true,
                filter: false,
            },
        )
        .unwrap();
        assert!(spool.list(Stage::Incoming).unwrap().is_empty());
        assert_eq!(spool.list(Stage::Queue).unwrap(), vec![id.clone()]);
        let msg = spool.read_message(Stage::Queue, &id).unwrap();
        let text = String::from_utf8(msg).unwrap();
        assert!(
            text.starts_with(
                "X-Spam-Scan: mx.test; parts=1; verdict=pass; problems=no-date\r\nFrom:"
            ),
            "{text}"
        );
        assert!(text.ends_with("hello\r\n"));
        assert_eq!(
            spool
                .read_envelope(Stage::Queue, &id)
                .unwrap()
                .recipients
                .len(),
            1
        );
    }

    #[test]
    fn rescan_after_crash_adds_no_second_header() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = cfg(dir.path());
        let spool = Spool::open(&cfg.spool_dir).unwrap();
        let env = Envelope {
            recipients: vec![Recipient::new("b@y.test")],
            ..Envelope::default()
        };
        // As if a crash hit after the header was written but before the move to the queue.
        let msg = b"X-Spam-Scan: mx.test; parts=1; verdict=pass\r\nSubject: x\r\n\r\n.\r\n";
        let id = spool.enqueue(Stage::Incoming, &env, msg).unwrap();
        assert!(scan_one(&cfg, &spool, &id).unwrap().is_some());
        assert_eq!(spool.read_message(Stage::Queue, &id).unwrap(), msg);
        assert!(
            scan_one(&cfg, &spool, &id).unwrap().is_none(),
            "gone from incoming"
        );
    }

    #[test]
    fn filter_prints_verdict_and_header() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        filter(&cfg(dir.path()), b"Subject: x\n\nbody\n", &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            "pass\nX-Spam-Scan: mx.test; parts=1; verdict=pass; problems=no-from,no-date\n"
        );
    }
}
