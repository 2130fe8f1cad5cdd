//! queue-runner: delivers what spam-scan put in `spool/queue`.
//!
//! Contract: `queue-runner [--config FILE] [--once]`. One instance per spool (flock on
//! `<spool>/queue-runner.lock`; a second instance exits 75). Wakes on inotify in `queue/`,
//! every `queue.scan_interval`, and when the earliest `next_attempt` comes. Per due message
//! (see `message`): expansion once, one LMTP transaction with all local recipients to the
//! worker's long-running `local-deliver --lmtp` (`queue.max_parallel_deliveries` workers,
//! one child each; pipes run one child per delivery), then the remote recipients over SMTP
//! (`remote` and `crate::outbound`: MX routing or `[outbound]` transports/relayhost,
//! STARTTLS, DKIM signing, one transaction per domain, idle connections reused per worker,
//! connection limits shared by all workers), then remove, move to `spool/bounce` (something
//! failed for good; the bounce stage writes the DSN), or retry with backoff (`schedule`).
//! The users and aliases files are reloaded when their modification time changes. A change
//! of the config file itself (checked between batches, `reexec`) is validated with
//! `Config::load`; if valid, running deliveries finish, the workers stop as on SIGTERM, and
//! the process re-executes itself (same PID and argv, log `config changed: re-executing`);
//! the instance lock fd is CLOEXEC, so the exec releases it and the new image takes it. An
//! invalid config is logged once and the running one kept.
//!
//! SIGTERM/SIGINT: no new message or transaction is started, running ones finish, the LMTP
//! children get QUIT and are reaped, idle SMTP connections get QUIT, exit 0.
//! Crash safety: delivered recipients are recorded in the envelope before the next delivery
//! transaction (local, pipe or SMTP), so kill -9 repeats at most one transaction per message
//! in flight and never loses one.
//! Exit codes: 0 stopped cleanly; 75 lock held or spool unusable; 78 bad users/aliases file.
//! Does not write bounce messages (the bounce stage does) nor speak SMTP itself (`outbound`).

pub mod deliver;
pub mod expand;
pub mod lmtp_client;
pub mod lock;
mod message;
mod pool;
pub mod reexec;
pub mod remote;
pub mod schedule;
pub mod wake;

use crate::config::Config;
use crate::directory::Directory;
use crate::exit::Exit;
use crate::mlog;
use crate::spool::{self, Spool, Stage};
use pool::Pool;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

pub use message::process;

/// Command-line choices.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Process everything due once and exit.
    pub once: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Lock(#[from] lock::LockError),
    #[error("{0}")]
    Spool(#[from] spool::Error),
    #[error("{0}")]
    Directory(String),
    #[error("{0}")]
    Setup(String),
}

impl Error {
    /// The exit code the program ends with.
    pub fn exit(&self) -> Exit {
        match self {
            Error::Directory(_) => Exit::Config,
            _ => Exit::TempFail,
        }
    }
}

/// The shared, reloadable state workers read.
pub(crate) struct Shared {
    pub cfg: Config,
    pub spool: Spool,
    pub dir: RwLock<Arc<Directory>>,
    /// SMTP connection limits, shared by every worker's outbound agent.
    pub limits: Arc<crate::outbound::limits::Limits>,
}

/// Runs until stopped (or, with `once`, until nothing is due).
pub fn run(cfg: &Config, opts: &Options) -> Result<(), Error> {
    crate::privs::shed(cfg.run_as.as_deref()).map_err(Error::Setup)?;
    let spool = Spool::open(&cfg.spool_dir)?;
    let _lock = lock::acquire(spool.root())?;
    let mut watch = Reload::new(cfg);
    let mut cfg_watch = reexec::ConfigWatch::new(cfg);
    let mut restart = false;
    let dir = Directory::load(cfg).map_err(Error::Directory)?;
    wake::on_stop_signals().map_err(|e| Error::Setup(format!("signal handlers: {e}")))?;
    let (waker, err) = wake::Waker::watch(&spool.stage_dir(Stage::Queue));
    if let Some(e) = err {
        mlog!(
            "inotify unavailable ({e}); scanning every {}s",
            cfg.queue.scan_interval.as_secs()
        );
    }
    let shared = Arc::new(Shared {
        cfg: cfg.clone(),
        spool,
        dir: RwLock::new(Arc::new(dir)),
        limits: crate::outbound::limits::Limits::new(
            cfg.outbound.max_connections,
            cfg.outbound.max_per_destination,
        ),
    });
    let pool = Pool::start(shared.clone(), cfg.queue.max_parallel_deliveries);
    mlog!(
        "started spool={} workers={}",
        cfg.spool_dir.display(),
        cfg.queue.max_parallel_deliveries
    );
    let mut tried = HashSet::new();
    let mut scanner = Scanner::default();
    while !wake::stop_requested() {
        watch.maybe_reload(&shared);
        if !opts.once && cfg_watch.changed() {
            restart = true;
            break;
        }
        // Failed messages become DSNs in the queue before the scan picks work.
        if let Err(e) = crate::bounce::process(cfg, &shared.spool) {
            mlog!("bounces: {e}");
        }
        let (due, earliest) = scanner.scan(&shared.spool, &pool, cfg);
        for id in due {
            if !opts.once || tried.insert(id.clone()) {
                pool.submit(id);
            }
        }
        if opts.once {
            pool.wait_idle();
            if scanner
                .scan(&shared.spool, &pool, cfg)
                .0
                .iter()
                .all(|id| tried.contains(id))
            {
                break;
            }
            continue;
        }
        waker.wait(sleep_for(cfg, earliest));
        if waker.take_flush() {
            scanner.forget();
        }
    }
    pool.shutdown();
    if restart && !wake::stop_requested() {
        // The lock stays held until the exec closes its fd (CLOEXEC).
        let e = reexec::reexec();
        return Err(Error::Setup(format!("cannot re-execute: {e}")));
    }
    mlog!("stopped");
    Ok(())
}

/// Finds due messages. Every wake-up lists `queue/`, but reads an envelope only when it
/// can matter: not for a message a worker holds (the worker reads it), and not again for a
/// message already seen waiting for a later retry (remembered in `waiting`). Without that,
/// each wake-up under load re-read every queued envelope. Only queue-runner changes queued
/// envelopes' retry times; `waiting` is forgotten every `scan_interval` so that an admin's
/// edit is still picked up.
#[derive(Default)]
struct Scanner {
    /// id → `next_attempt` (in the future when read).
    waiting: HashMap<String, u64>,
    complained: HashSet<String>,
    forgotten: Option<Instant>,
}

impl Scanner {
    /// Drops the remembered retry times, so the next scan reads every envelope again.
    fn forget(&mut self) {
        self.waiting.clear();
        self.forgotten = Some(Instant::now());
    }

    /// Ids due now, and the earliest future `next_attempt` among the rest.
    fn scan(&mut self, spool: &Spool, pool: &Pool, cfg: &Config) -> (Vec<String>, Option<u64>) {
        if self
            .forgotten
            .is_none_or(|t| t.elapsed() >= cfg.queue.scan_interval)
        {
            self.forget();
        }
        let ids = match spool.list(Stage::Queue) {
            Ok(ids) => ids,
            Err(e) => {
                mlog!("cannot list queue: {e}");
                return (Vec::new(), None);
            }
        };
        let now = message::now();
        let listed: HashSet<&String> = ids.iter().collect();
        self.waiting.retain(|id, _| listed.contains(id));
        let (mut due, mut earliest) = (Vec::new(), None::<u64>);
        for id in &ids {
            if pool.in_flight(id) {
                continue;
            }
            let at = match self.waiting.get(id) {
                Some(&at) if at > now => at,
                _ => match spool.read_envelope(Stage::Queue, id) {
                    Ok(env) => env.next_attempt,
                    Err(spool::Error::NotFound { .. }) => continue,
                    Err(e) => {
                        if self.complained.insert(id.clone()) {
                            mlog!("{id}: cannot read envelope, leaving it alone: {e}");
                        }
                        continue;
                    }
                },
            };
            if at <= now {
                self.waiting.remove(id);
                due.push(id.clone());
            } else {
                self.waiting.insert(id.clone(), at);
                earliest = Some(earliest.map_or(at, |e| e.min(at)));
            }
        }
        (due, earliest)
    }
}

/// How long to sleep: the scan interval, shortened to the earliest retry and to the retry
/// base (so a message deferred while we slept is not kept waiting a whole interval).
fn sleep_for(cfg: &Config, earliest: Option<u64>) -> Duration {
    let mut d = cfg.queue.scan_interval.min(cfg.queue.retry_base);
    if let Some(at) = earliest {
        d = d.min(Duration::from_secs(at.saturating_sub(message::now())));
    }
    d.max(Duration::from_millis(200))
}

/// Reloads the directory (users, aliases, forwards, lists, SRS secret) when a file changes.
struct Reload {
    files: Vec<PathBuf>,
    stamps: Vec<Option<SystemTime>>,
}

impl Reload {
    fn new(cfg: &Config) -> Reload {
        let files = crate::directory::watched_files(cfg);
        let stamps = files.iter().map(|f| mtime(f)).collect();
        Reload { files, stamps }
    }

    fn maybe_reload(&mut self, shared: &Shared) {
        let now: Vec<Option<SystemTime>> = self.files.iter().map(|f| mtime(f)).collect();
        if now == self.stamps {
            return;
        }
        match Directory::load(&shared.cfg) {
            Ok(d) => {
                if let Ok(mut g) = shared.dir.write() {
                    *g = Arc::new(d);
                }
                self.stamps = now;
                mlog!("reloaded users, aliases, forwards and lists");
            }
            Err(e) => {
                // Try again only when a file changes again.
                self.stamps = now;
                mlog!("keeping old users and aliases: {e}");
            }
        }
    }
}

fn mtime(p: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests;
