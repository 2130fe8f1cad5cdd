//! local-deliver: the MDA. One message on stdin into one Maildir, like dovecot-lda or
//! maildrop; `queue-runner` runs it once per local recipient, and it works alone too.
//!
//! Contract:
//! - stdin: the message (CRLF or LF line ends; stored with LF). Nothing on stdout.
//! - `-d ADDRESS`: the user must exist in `users_file`; the Maildir is `cfg.maildir_path()`,
//!   created on first delivery. `--maildir PATH`: deliver there, no user lookup, config
//!   optional. Both: `PATH`, with `ADDRESS` for `Delivered-To:` and the loop check.
//! - `-f SENDER` adds `Return-Path: <SENDER>` (empty: `<>`); `-m FOLDER` picks a Maildir++
//!   folder (`Junk` or `.Junk`, created as needed; an invalid name falls back to the INBOX with
//!   a log line); `--quota SIZE` overrides the Maildir++ quota (`1G`, or `1073741824S,1000C`).
//! - Junk: without `-m`, a message whose top block from our spam-scan (`X-Spam-Scan: <our
//!   hostname>; …` then `X-Spam-Status: Yes, …`) says spam goes into `.Junk`, unless the
//!   admin released it from quarantine (`verdict=released`).
//! - Environment: `QUEUE_ID` (read once by the caller of `run`) prefixes every log line.
//! - Exit: 0 delivered; 75 temporary (I/O, over quota, config or users file unreadable);
//!   77 unknown user or mail loop; 64 bad arguments; 65 empty input. Every failure writes one
//!   stderr line ending in an enhanced status code, `…: mailbox full (#4.2.2)`, which
//!   queue-runner copies into the envelope; success writes one `delivered to=<…>` line.
//!
//! Owns only the message transformation (`message`) and the decisions above; all writing to
//! the mailbox goes through `crate::maildir`.

pub mod lmtp;
pub mod message;
mod serve;

pub use serve::serve;

use crate::config::{self, Config};
use crate::exit::Exit;
use crate::maildir::{quota, FolderName, Maildir};
use crate::users::UserDb;
use std::borrow::Cow;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// The command line, checked by the bin's clap parser (one of `address`/`maildir` is set).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-d`: the recipient address.
    pub address: Option<String>,
    /// `--maildir`: deliver to this Maildir instead of the user's.
    pub maildir: Option<PathBuf>,
    /// `-f`: the envelope sender; `Some("")` is the null sender.
    pub sender: Option<String>,
    /// `-m`: the folder.
    pub folder: Option<String>,
    /// `--quota`: quota override.
    pub quota: Option<String>,
    /// True when `--config` was given (then an unreadable config is an error even with
    /// `--maildir`).
    pub config_given: bool,
}

/// Why a delivery failed: the exit code, the enhanced status code and the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub exit: Exit,
    pub status: &'static str,
    pub text: String,
}

impl Failure {
    fn new(exit: Exit, status: &'static str, text: impl Into<String>) -> Failure {
        Failure {
            exit,
            status,
            text: text.into(),
        }
    }
}

impl From<crate::maildir::Error> for Failure {
    fn from(e: crate::maildir::Error) -> Failure {
        let exit = if e.is_temporary() {
            Exit::TempFail
        } else {
            Exit::DataErr
        };
        Failure::new(exit, e.status(), e.to_string())
    }
}

/// A successful delivery, for the log line.
#[derive(Debug, Clone)]
pub struct Report {
    pub folder: String,
    pub size: u64,
    pub file: String,
    pub warning: Option<String>,
}

/// Runs one delivery: reads the message from `input`, logs one line, returns the exit code.
pub fn run(
    cfg: Result<Config, config::Error>,
    opts: &Options,
    input: &mut dyn Read,
    queue_id: Option<&str>,
) -> Exit {
    let prefix = queue_id.map(|id| format!("{id}: ")).unwrap_or_default();
    let result = deliver(cfg, opts, input, &prefix);
    log_outcome(&prefix, opts, &result);
    match result {
        Ok(_) => Exit::Ok,
        Err(f) => f.exit,
    }
}

/// Logs one delivery's outcome: `delivered to=<…> folder=… size=… file=…`, or the failure
/// line ending in `(#x.y.z)`.
fn log_outcome(prefix: &str, opts: &Options, result: &Result<Report, Failure>) {
    let who = opts
        .address
        .clone()
        .or_else(|| opts.maildir.as_ref().map(|p| p.display().to_string()))
        .unwrap_or_default();
    match result {
        Ok(r) => {
            let warning = r
                .warning
                .as_ref()
                .map(|w| format!(" warning=\"{w}\""))
                .unwrap_or_default();
            let target = match &opts.address {
                Some(a) => format!("to=<{a}>"),
                None => format!("maildir={who}"),
            };
            crate::mlog!(
                "{prefix}delivered {target} folder={} size={} file={}{warning}",
                r.folder,
                r.size,
                r.file
            );
        }
        Err(f) => crate::mlog!("{prefix}{who}: {} (#{})", f.text, f.status),
    }
}

/// Reads a failure back from local-deliver's stderr, for queue-runner: the enhanced status
/// code and the text of the last line ending in `(#x.y.z)`, without the `program[pid]: ` and
/// queue-id prefixes (`("4.2.2", "demo@example.test: mailbox full (…)")`).
pub fn parse_failure(stderr: &str, queue_id: Option<&str>) -> Option<(String, String)> {
    let line = stderr.lines().rev().find(|l| l.trim_end().ends_with(')'))?;
    let (text, status) = line.trim_end().strip_suffix(')')?.rsplit_once(" (#")?;
    let valid = status.len() <= 11
        && status.split('.').count() == 3
        && status
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if !valid {
        return None;
    }
    let text = match text.split_once("]: ") {
        Some((prog, rest)) if !prog.contains(' ') => rest,
        _ => text,
    };
    let text = queue_id
        .and_then(|id| text.strip_prefix(id)?.strip_prefix(": "))
        .unwrap_or(text);
    Some((status.to_string(), text.to_string()))
}

/// The delivery itself, without logging the outcome.
pub fn deliver(
    cfg: Result<Config, config::Error>,
    opts: &Options,
    input: &mut dyn Read,
    prefix: &str,
) -> Result<Report, Failure> {
    let cfg = match cfg {
        Ok(c) => Some(c),
        Err(_) if opts.maildir.is_some() && !opts.config_given => None,
        Err(e) => return Err(Failure::new(Exit::TempFail, "4.3.5", e.to_string())),
    };
    deliver_with(
        cfg.as_ref(),
        opts,
        Input::Reader(input),
        prefix,
        &mut load_users,
    )
}

/// Where the message comes from: a stream (one-shot) or bytes already read (LMTP).
enum Input<'a> {
    Reader(&'a mut dyn Read),
    Bytes(&'a [u8]),
}

/// How the users file is read: loaded each time (one-shot) or cached (LMTP).
type UsersFn<'a> = dyn FnMut(&Path) -> Result<Rc<UserDb>, Failure> + 'a;

fn load_users(path: &Path) -> Result<Rc<UserDb>, Failure> {
    UserDb::load(path)
        .map(Rc::new)
        .map_err(|e| Failure::new(Exit::TempFail, "4.3.5", e.to_string()))
}

/// The checks and the delivery, in the one-shot order (arguments before input).
fn deliver_with(
    cfg: Option<&Config>,
    opts: &Options,
    input: Input<'_>,
    prefix: &str,
    users: &mut UsersFn<'_>,
) -> Result<Report, Failure> {
    check_address_syntax(opts)?;
    let root = mailbox_root(cfg, opts, users)?;
    let policy = quota_policy(cfg, opts)?;
    let mut folder = pick_folder(opts.folder.as_deref(), prefix);

    let raw: Cow<'_, [u8]> = match input {
        Input::Bytes(b) => Cow::Borrowed(b),
        Input::Reader(r) => {
            let mut raw = Vec::new();
            r.read_to_end(&mut raw).map_err(|e| {
                Failure::new(Exit::TempFail, "4.3.0", format!("reading message: {e}"))
            })?;
            Cow::Owned(raw)
        }
    };
    if raw.is_empty() {
        return Err(Failure::new(Exit::DataErr, "5.6.0", "empty message"));
    }
    if opts.folder.is_none() && is_junk(cfg, &raw) {
        folder = FolderName::parse_mailbox(JUNK).ok().flatten();
    }
    let body = message::normalize(&raw);
    if let Some(a) = &opts.address {
        if message::has_delivered_to(&body, a) {
            return Err(Failure::new(
                Exit::NoPerm,
                "5.4.6",
                format!("mail forwarding loop for {a}"),
            ));
        }
    }
    let data = message::prepend(&body, opts.sender.as_deref(), opts.address.as_deref());
    let done = Maildir::open(root).deliver(folder.as_ref(), &data, &policy)?;
    Ok(Report {
        folder: folder.map_or_else(|| "INBOX".to_string(), |f| f.to_string()),
        size: done.size,
        file: done.name,
        warning: done.warning,
    })
}

/// The folder spam-scan's junk verdict files into (Maildir++ `.Junk`).
pub const JUNK: &str = "Junk";

/// True when the message starts with our spam-scan's block (naming our hostname) and it
/// says spam. Only that block counts: spam-scan removes incoming `X-Spam-*` copies and puts
/// its own first, so a sender cannot choose the folder. No config: never junk.
fn is_junk(cfg: Option<&Config>, raw: &[u8]) -> bool {
    let Some(cfg) = cfg else { return false };
    crate::spam_scan::read_ours(raw, &cfg.hostname)
        .is_some_and(|o| o.spam && o.verdict != crate::spam_scan::Verdict::Released)
}

/// Refuses addresses that would forge header lines or log fields.
fn check_address_syntax(opts: &Options) -> Result<(), Failure> {
    let bad = |s: &str| s.chars().any(|c| c.is_control() || c == '<' || c == '>');
    if let Some(s) = opts.sender.as_deref().filter(|s| bad(s)) {
        return Err(Failure::new(
            Exit::Usage,
            "5.1.7",
            format!("bad sender address {s:?}"),
        ));
    }
    match opts.address.as_deref() {
        Some(a) if bad(a) || !a.contains('@') || a.chars().any(char::is_whitespace) => Err(
            Failure::new(Exit::Usage, "5.1.3", format!("bad recipient address {a:?}")),
        ),
        _ => Ok(()),
    }
}

/// The Maildir to write: `--maildir`, else the known user's from the config.
fn mailbox_root(
    cfg: Option<&Config>,
    opts: &Options,
    users: &mut UsersFn<'_>,
) -> Result<PathBuf, Failure> {
    if let Some(p) = &opts.maildir {
        return Ok(p.clone());
    }
    let (Some(cfg), Some(address)) = (cfg, opts.address.as_deref()) else {
        return Err(Failure::new(
            Exit::Usage,
            "5.5.4",
            "need -d ADDRESS or --maildir PATH",
        ));
    };
    let users = users(&cfg.users_file)?;
    if users.get(address).is_none() {
        return Err(Failure::new(Exit::NoPerm, "5.1.1", "unknown user"));
    }
    cfg.maildir_path(address).ok_or_else(|| {
        Failure::new(
            Exit::Usage,
            "5.1.3",
            "address does not name a safe mailbox path",
        )
    })
}

/// `--quota` over the file's definition over `delivery.default_quota`.
fn quota_policy(cfg: Option<&Config>, opts: &Options) -> Result<quota::Policy, Failure> {
    let explicit = match opts.quota.as_deref() {
        None => None,
        Some(q) => Some(
            quota::Limit::parse(q)
                .ok_or_else(|| Failure::new(Exit::Usage, "5.5.4", format!("bad --quota {q:?}")))?,
        ),
    };
    Ok(quota::Policy {
        explicit,
        default: cfg
            .and_then(|c| c.delivery.default_quota)
            .map(quota::Limit::bytes),
    })
}

/// The folder from `-m`; an invalid name falls back to the INBOX (as dovecot-lda does).
fn pick_folder(name: Option<&str>, prefix: &str) -> Option<FolderName> {
    let name = name?;
    match FolderName::parse_mailbox(name) {
        Ok(f) => f,
        Err(e) => {
            crate::mlog!("{prefix}{e}; delivering to INBOX");
            None
        }
    }
}

#[cfg(test)]
mod tests;
