//! Running one delivery child (`local-deliver` or `sh -c <pipe command>`) and turning how it
//! ended into a recipient state and reply: the one place child exits become `RcptState`.
//!
//! The child gets the spool message file on stdin, `QUEUE_ID` in its environment, stdout
//! discarded, stderr read line by line (passed on to our stderr; the last line is kept
//! because it carries the reason and `(#x.y.z)`). It runs in its own process group so a
//! Ctrl-C aimed at us does not cut a delivery in half; a child running longer than
//! `CHILD_TIMEOUT` is killed with its group and the recipient deferred.

use crate::exit::Exit;
use crate::mlog;
use crate::spool::RcptState;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{ChildStderr, Command, Stdio};
use std::time::{Duration, Instant};

/// How long one delivery child may run.
pub const CHILD_TIMEOUT: Duration = Duration::from_secs(600);

/// Longest stderr line kept (the rest of a longer line is dropped).
const MAX_LINE: usize = 2000;

/// How a child run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    Signaled(i32),
    TimedOut,
    SpawnFailed(String),
    /// An LMTP child closed its pipes or answered nonsense mid-transaction.
    Died,
}

/// Runs `cmd` with `stdin` as its input; returns how it ended and its last stderr line.
/// `raw_stderr`: the child writes our log format itself, so its lines are copied as they
/// are; otherwise each line is logged as `<id>: <what>: <line>`.
pub fn run(
    mut cmd: Command,
    stdin: File,
    id: &str,
    what: &str,
    raw_stderr: bool,
) -> (Ended, Option<String>) {
    cmd.stdin(stdin)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env("QUEUE_ID", id)
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return (Ended::SpawnFailed(e.to_string()), None),
    };
    // Read in this (worker) thread: it would only wait for the child anyway, and a reader
    // thread per delivery costs a thread start and a channel each time.
    let (last, timed_out) = match child.stderr.take() {
        Some(err) => {
            let mut reader = DeadlineReader {
                inner: err,
                deadline: Instant::now() + CHILD_TIMEOUT,
                timed_out: false,
            };
            let last = read_lines(&mut reader, |l| {
                if raw_stderr {
                    let _ = std::io::stderr()
                        .lock()
                        .write_all(format!("{l}\n").as_bytes());
                } else {
                    mlog!("{id}: {what}: {l}");
                }
            });
            (last, reader.timed_out)
        }
        None => (None, false),
    };
    if timed_out {
        let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    }
    let ended = match child.wait() {
        _ if timed_out => Ended::TimedOut,
        Ok(s) => match (s.code(), s.signal()) {
            (Some(c), _) => Ended::Exited(c),
            (None, Some(sig)) => Ended::Signaled(sig),
            (None, None) => Ended::Signaled(0),
        },
        Err(e) => Ended::SpawnFailed(format!("wait: {e}")),
    };
    (ended, last)
}

/// The child's stderr, read with `poll` so that a child still writing (or holding the pipe
/// open) at `deadline` reads as end of input, with `timed_out` set.
struct DeadlineReader {
    inner: ChildStderr,
    deadline: Instant,
    timed_out: bool,
}

impl Read for DeadlineReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.timed_out = true;
                return Ok(0);
            }
            let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
            let mut fds = [PollFd::new(self.inner.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, ms) {
                Ok(0) | Err(Errno::EINTR) => continue,
                Ok(_) => return self.inner.read(buf),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Reads lines (capped at `MAX_LINE`), calling `each` per non-empty line; returns the last.
fn read_lines(mut r: impl Read, mut each: impl FnMut(&str)) -> Option<String> {
    let mut buf = [0u8; 8192];
    let mut line: Vec<u8> = Vec::new();
    let mut last = None;
    let mut finish = |line: &mut Vec<u8>, last: &mut Option<String>| {
        let text = String::from_utf8_lossy(line).trim_end().to_string();
        line.clear();
        if !text.trim().is_empty() {
            each(&text);
            *last = Some(text);
        }
    };
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            if b == b'\n' {
                finish(&mut line, &mut last);
            } else if line.len() < MAX_LINE {
                line.push(b);
            }
        }
    }
    finish(&mut line, &mut last);
    last
}

/// The recipient state and reply for a child that ended this way. `program` names it in
/// replies about crashes.
pub fn outcome(ended: &Ended, last_line: Option<&str>, program: &str) -> (RcptState, String) {
    match ended {
        Ended::Exited(code) => from_exit(Exit::from_status(Some(*code)), last_line),
        Ended::Signaled(sig) => (
            RcptState::Deferred,
            format!("451 4.3.0 {program} killed by signal {sig}"),
        ),
        Ended::TimedOut => (
            RcptState::Deferred,
            format!(
                "451 4.3.0 {program} timed out after {}s",
                CHILD_TIMEOUT.as_secs()
            ),
        ),
        Ended::SpawnFailed(e) => (
            RcptState::Deferred,
            format!("451 4.3.0 cannot run {program}: {e}"),
        ),
        Ended::Died => (
            RcptState::Deferred,
            format!("451 4.3.0 {program} died mid-transaction"),
        ),
    }
}

/// An LMTP reply (`local-deliver --lmtp`) → state and reply, through `from_exit`: 2xx is
/// exit 0, 4xx (and anything unreadable) temporary, 5xx permanent; the text after the
/// enhanced code is the one-shot stderr line (`ADDRESS: reason (#x.y.z)`), so both modes
/// record the same reply.
pub fn from_reply(reply: &str) -> (RcptState, String) {
    let exit = match reply.as_bytes().first() {
        Some(b'2') => Exit::Ok,
        Some(b'5') => Exit::NoPerm,
        _ => Exit::TempFail,
    };
    let text = reply.get(4..).unwrap_or("").trim();
    let line = match text.split_once(' ') {
        Some((code, rest)) if is_enhanced(code) => match rest.trim_end().ends_with(')') {
            true => rest.to_string(),
            false => format!("{rest} (#{code})"),
        },
        _ if is_enhanced(text) => format!("(#{text})"),
        _ => text.to_string(),
    };
    from_exit(exit, Some(&line))
}

/// Exit status (qmail-style: 0 ok, listed codes permanent, rest temporary) plus the last
/// stderr line (`… (#x.y.z)`) → state and reply. The exit status decides the class; the
/// line supplies detail and text.
pub fn from_exit(exit: Exit, last_line: Option<&str>) -> (RcptState, String) {
    let (enhanced, text) = last_line.map(split_reason).unwrap_or((None, String::new()));
    let (state, class, default) = match exit {
        Exit::Ok => (RcptState::Delivered, '2', "2.0.0"),
        Exit::TempFail => (RcptState::Deferred, '4', "4.3.0"),
        Exit::Usage => (RcptState::Failed, '5', "5.3.0"),
        Exit::DataErr => (RcptState::Failed, '5', "5.6.0"),
        Exit::NoPerm => (RcptState::Failed, '5', "5.7.0"),
        Exit::Config => (RcptState::Failed, '5', "5.3.5"),
    };
    let code = match enhanced {
        Some(e) => format!("{class}{}", &e[1..]),
        None => default.to_string(),
    };
    let basic = match (class, &code[1..]) {
        ('2', _) => "250",
        ('4', _) => "451",
        (_, c) if c.starts_with(".1.") || c.starts_with(".7.") => "550",
        (_, ".2.2") | (_, ".3.4") => "552",
        _ => "554",
    };
    let text = match (text.is_empty(), state) {
        (false, _) => text,
        (true, RcptState::Delivered) => "delivered".to_string(),
        (true, _) => format!("delivery failed (exit {})", exit.code()),
    };
    (state, format!("{basic} {code} {text}"))
}

/// Splits a child's log line into its `(#x.y.z)` code and the reason text, dropping the
/// `program[pid]: ` and queue id prefixes.
fn split_reason(line: &str) -> (Option<String>, String) {
    let mut t = line.trim();
    if let Some(p) = t.find("]: ").filter(|&p| p < 64 && t[..p].contains('[')) {
        t = &t[p + 3..];
    }
    if let Some((id, rest)) = t.split_once(": ") {
        if crate::spool::id::is_valid(id) {
            t = rest;
        }
    }
    let mut code = None;
    if let Some(open) = t.rfind("(#") {
        if let Some(c) = t[open + 2..].strip_suffix(')').filter(|c| is_enhanced(c)) {
            code = Some(c.to_string());
            t = t[..open].trim_end();
        }
    }
    let text: String = t.chars().filter(|c| !c.is_control()).take(300).collect();
    (code, text)
}

/// `d.ddd.ddd` with class 2, 4 or 5.
fn is_enhanced(c: &str) -> bool {
    let parts: Vec<&str> = c.split('.').collect();
    parts.len() == 3
        && matches!(parts[0], "2" | "4" | "5")
        && parts[1..]
            .iter()
            .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses_become_states() {
        let ld = "local-deliver[42]: 0123456789ABCDEF: mailbox full (#4.2.2)";
        assert_eq!(
            from_exit(Exit::TempFail, Some(ld)),
            (RcptState::Deferred, "451 4.2.2 mailbox full".to_string())
        );
        assert_eq!(
            from_exit(
                Exit::NoPerm,
                Some("local-deliver[1]: unknown user x@y (#5.1.1)")
            ),
            (RcptState::Failed, "550 5.1.1 unknown user x@y".to_string())
        );
        let (s, r) = from_exit(Exit::Ok, None);
        assert_eq!(
            (s, r.as_str()),
            (RcptState::Delivered, "250 2.0.0 delivered")
        );
        // The exit status decides the class even when the text disagrees.
        let (s, r) = from_exit(Exit::TempFail, Some("oops (#5.1.1)"));
        assert_eq!((s, r.as_str()), (RcptState::Deferred, "451 4.1.1 oops"));
        let (s, r) = from_exit(Exit::DataErr, Some("no code here"));
        assert_eq!(
            (s, r.as_str()),
            (RcptState::Failed, "554 5.6.0 no code here")
        );
        let (s, r) = from_exit(Exit::from_status(Some(67)), None);
        assert_eq!(s, RcptState::Deferred, "{r}");
    }

    #[test]
    fn lmtp_replies_map_like_exit_statuses() {
        // The LMTP reply and the one-shot stderr line give the same state and reply.
        let one_shot = from_exit(
            Exit::TempFail,
            Some("local-deliver[7]: d@x.test: mailbox full (#4.2.2)"),
        );
        assert_eq!(
            from_reply("451 4.2.2 d@x.test: mailbox full (#4.2.2)"),
            one_shot
        );
        let one_shot = from_exit(
            Exit::NoPerm,
            Some("local-deliver[7]: d@x.test: unknown user (#5.1.1)"),
        );
        assert_eq!(
            from_reply("550 5.1.1 d@x.test: unknown user (#5.1.1)"),
            one_shot
        );
        let ok = "delivered to=<d@x.test> folder=INBOX size=3 file=f";
        assert_eq!(
            from_reply(&format!("250 2.0.0 {ok}")),
            from_exit(Exit::Ok, Some(&format!("local-deliver[7]: {ok}")))
        );
        // Foreign replies: the leading enhanced code counts; garbage defers.
        assert_eq!(
            from_reply("552 5.3.4 message too big"),
            (RcptState::Failed, "552 5.3.4 message too big".to_string())
        );
        assert_eq!(from_reply("xyz").0, RcptState::Deferred);
        assert_eq!(from_reply("503 5.5.1 need RCPT first").0, RcptState::Failed);
    }

    #[test]
    fn crashes_and_timeouts_defer() {
        for e in [
            Ended::Died,
            Ended::Signaled(9),
            Ended::TimedOut,
            Ended::SpawnFailed("x".into()),
        ] {
            let (s, r) = outcome(&e, None, "local-deliver");
            assert_eq!(s, RcptState::Deferred);
            assert!(r.starts_with("451 4.3.0 "), "{r}");
        }
        assert_eq!(
            outcome(&Ended::Exited(77), Some("no (#5.7.1)"), "x").0,
            RcptState::Failed
        );
    }

    #[test]
    fn runs_a_child_with_the_message_on_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let msg = dir.path().join("m");
        std::fs::write(&msg, "hello\n").unwrap();
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("read l; [ \"$l\" = hello ] && [ \"$QUEUE_ID\" = ID ] || exit 1; echo 'gone (#5.1.1)' >&2; exit 77");
        let (ended, last) = run(cmd, File::open(&msg).unwrap(), "ID", "pipe", false);
        assert_eq!(ended, Ended::Exited(77));
        assert_eq!(last.as_deref(), Some("gone (#5.1.1)"));
    }

    #[test]
    fn stderr_reader_gives_up_at_the_deadline() {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("echo started >&2; exec sleep 30")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut reader = DeadlineReader {
            inner: child.stderr.take().unwrap(),
            deadline: Instant::now() + Duration::from_millis(200),
            timed_out: false,
        };
        let last = read_lines(&mut reader, |_| {});
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(last.as_deref(), Some("started"));
        assert!(reader.timed_out);
    }

    #[test]
    fn long_lines_are_capped() {
        let input = vec![b'x'; 10_000];
        let last = read_lines(&input[..], |_| {}).unwrap();
        assert_eq!(last.len(), MAX_LINE);
    }
}
