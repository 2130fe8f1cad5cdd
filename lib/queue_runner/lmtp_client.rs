//! The local delivery agent of one worker: a long-running `local-deliver --lmtp` child that
//! gets one LMTP transaction per message (all its local recipients), instead of one process
//! per recipient. The privilege boundary stays: only the child writes Maildirs.
//!
//! Each recipient's reply becomes a state through `deliver::from_reply` (the same mapping as
//! the one-shot exit statuses). A child that dies, answers garbage or exceeds
//! `CHILD_TIMEOUT` is killed (with its process group); the recipients still without a reply
//! are deferred, and the next transaction starts a new child. Children are replaced after
//! `MAX_TRANSACTIONS` and stopped with QUIT (then waited for) by `stop` or on drop.

use super::deliver::{self, Ended, CHILD_TIMEOUT};
use crate::spool::RcptState;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// Transactions per child before it is replaced.
pub const MAX_TRANSACTIONS: u32 = 1000;
/// How long a stopping child gets to answer QUIT.
const QUIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest reply line kept.
const MAX_LINE: usize = 2000;

/// One worker's `local-deliver --lmtp` child, started on first use.
pub struct LocalAgent {
    program: PathBuf,
    config: PathBuf,
    conn: Option<Conn>,
}

struct Conn {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    buf: Vec<u8>,
    deadline: Instant,
    transactions: u32,
}

/// Why a transaction could not finish.
struct Broken(Ended);

impl LocalAgent {
    pub fn new(program: PathBuf, config: PathBuf) -> LocalAgent {
        LocalAgent {
            program,
            config,
            conn: None,
        }
    }

    /// Delivers the message in `msg` from `sender` to `rcpts`; one state and reply each, in
    /// order. `id` is passed as `ENVID` so the child's log lines carry the queue id.
    pub fn deliver(
        &mut self,
        id: &str,
        sender: &str,
        rcpts: &[&str],
        msg: File,
    ) -> Vec<(RcptState, String)> {
        let mut results: Vec<Option<(RcptState, String)>> = vec![None; rcpts.len()];
        // An address that could smuggle a line into the protocol is never sent.
        let bad = |a: &str| a.chars().any(|c| c.is_control() || c == '<' || c == '>');
        if bad(sender) || rcpts.iter().any(|r| bad(r)) {
            let refused =
                deliver::from_exit(crate::exit::Exit::Usage, Some("bad address (#5.1.3)"));
            return vec![refused; rcpts.len()];
        }
        let outcome = match self.connect() {
            Ok(conn) => conn.transaction(id, sender, rcpts, msg, &mut results),
            Err(b) => Err(b),
        };
        let fallback = match outcome {
            Ok(()) => None,
            Err(Broken(ended)) => {
                self.kill();
                Some(deliver::outcome(&ended, None, "local-deliver"))
            }
        };
        if let Some(conn) = &mut self.conn {
            conn.transactions += 1;
            if conn.transactions >= MAX_TRANSACTIONS {
                self.stop();
            }
        }
        let fallback =
            fallback.unwrap_or_else(|| deliver::outcome(&Ended::Died, None, "local-deliver"));
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| fallback.clone()))
            .collect()
    }

    /// Ends the child: QUIT, wait for the reply (or kill it), reap it.
    pub fn stop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        conn.deadline = Instant::now() + QUIT_TIMEOUT;
        let quit = conn.send(b"QUIT\r\n").and_then(|_| conn.reply());
        if quit.is_err() {
            conn.kill();
        }
        let _ = conn.child.wait();
    }

    fn kill(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            conn.kill();
            let _ = conn.child.wait();
        }
    }

    fn connect(&mut self) -> Result<&mut Conn, Broken> {
        if self.conn.is_none() {
            self.conn = Some(self.spawn()?);
        }
        self.conn.as_mut().ok_or(Broken(Ended::Died))
    }

    fn spawn(&self) -> Result<Conn, Broken> {
        let mut cmd = Command::new(&self.program);
        cmd.arg("--config")
            .arg(&self.config)
            .arg("--lmtp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0);
        let mut child = cmd
            .spawn()
            .map_err(|e| Broken(Ended::SpawnFailed(e.to_string())))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Broken(Ended::SpawnFailed("no pipes".into())));
        };
        let mut conn = Conn {
            child,
            stdin,
            stdout,
            buf: Vec::new(),
            deadline: Instant::now() + CHILD_TIMEOUT,
            transactions: 0,
        };
        let hello = conn
            .expect(220)
            .and_then(|_| conn.send(b"LHLO localhost\r\n"))
            .and_then(|_| conn.expect(250));
        if let Err(b) = hello {
            conn.kill();
            let _ = conn.child.wait();
            return Err(b);
        }
        Ok(conn)
    }
}

impl Drop for LocalAgent {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Conn {
    /// One pipelined transaction; fills `results` as replies arrive.
    fn transaction(
        &mut self,
        id: &str,
        sender: &str,
        rcpts: &[&str],
        msg: File,
        results: &mut [Option<(RcptState, String)>],
    ) -> Result<(), Broken> {
        self.deadline = Instant::now() + CHILD_TIMEOUT;
        let utf8 = !sender.is_ascii() || rcpts.iter().any(|r| !r.is_ascii());
        let params = if utf8 { " SMTPUTF8" } else { "" };
        let mut head = format!("MAIL FROM:<{sender}> BODY=8BITMIME{params} ENVID={id}\r\n");
        for r in rcpts {
            head.push_str(&format!("RCPT TO:<{r}>\r\n"));
        }
        head.push_str("DATA\r\n");
        self.send(head.as_bytes())?;
        let mail = self.reply()?;
        let mut accepted = Vec::new();
        for (i, slot) in results.iter_mut().enumerate() {
            let r = self.reply()?;
            match (mail.starts_with('2'), r.starts_with('2')) {
                (true, true) => accepted.push(i),
                (true, false) => *slot = Some(deliver::from_reply(&r)),
                (false, _) => *slot = Some(deliver::from_reply(&mail)),
            }
        }
        let data = self.reply()?;
        if !data.starts_with("354") {
            for &i in &accepted {
                results[i] = Some(deliver::from_reply(&data));
            }
            return self.send(b"RSET\r\n").and_then(|_| self.reply().map(drop));
        }
        self.send_message(msg)?;
        for &i in &accepted {
            results[i] = Some(deliver::from_reply(&self.reply()?));
        }
        Ok(())
    }

    /// Sends the message with CRLF line ends and dot-stuffing, then the final dot.
    fn send_message(&mut self, mut msg: File) -> Result<(), Broken> {
        let mut stuffer = Stuffer::default();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match msg.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // The spool file went bad under us: end the child, defer.
                Err(e) => return Err(Broken(Ended::SpawnFailed(format!("reading message: {e}")))),
            };
            let out = stuffer.feed(&buf[..n]);
            self.send(&out)?;
        }
        self.send(&stuffer.finish())
    }

    /// Writes everything before the deadline, in pieces that never block (PIPE_BUF).
    fn send(&mut self, mut data: &[u8]) -> Result<(), Broken> {
        while !data.is_empty() {
            wait_for(self.stdin.as_fd(), PollFlags::POLLOUT, self.deadline)?;
            match self.stdin.write(&data[..data.len().min(4096)]) {
                Ok(0) => return Err(Broken(Ended::Died)),
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Broken(Ended::Died)),
            }
        }
        Ok(())
    }

    /// Reads one (possibly multi-line) reply; returns its last line.
    fn reply(&mut self) -> Result<String, Broken> {
        loop {
            let line = self.line()?;
            let b = line.as_bytes();
            if b.len() < 3 || !b[..3].iter().all(u8::is_ascii_digit) {
                return Err(Broken(Ended::Died));
            }
            if b.get(3) != Some(&b'-') {
                return Ok(line);
            }
        }
    }

    fn expect(&mut self, code: u16) -> Result<(), Broken> {
        let r = self.reply()?;
        match r.starts_with(&code.to_string()) {
            true => Ok(()),
            false => Err(Broken(Ended::SpawnFailed(format!("unexpected reply: {r}")))),
        }
    }

    fn line(&mut self) -> Result<String, Broken> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let raw: Vec<u8> = self.buf.drain(..=i).collect();
                let raw = &raw[..raw.len().min(MAX_LINE)];
                return Ok(String::from_utf8_lossy(raw).trim_end().to_string());
            }
            wait_for(self.stdout.as_fd(), PollFlags::POLLIN, self.deadline)?;
            let mut chunk = [0u8; 8192];
            match self.stdout.read(&mut chunk) {
                Ok(0) => return Err(Broken(Ended::Died)),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Broken(Ended::Died)),
            }
            if self.buf.len() > 64 * 1024 {
                return Err(Broken(Ended::Died));
            }
        }
    }

    fn kill(&mut self) {
        let pgid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    }
}

/// Polls `fd` for `what` until `deadline`; past it, the child has timed out.
fn wait_for(
    fd: std::os::fd::BorrowedFd<'_>,
    what: PollFlags,
    deadline: Instant,
) -> Result<(), Broken> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Broken(Ended::TimedOut));
        }
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(fd, what)];
        match poll(&mut fds, ms) {
            Ok(0) | Err(Errno::EINTR) => continue,
            // Ready, or hung up/error: the read or write that follows tells which.
            Ok(_) => return Ok(()),
            Err(_) => return Err(Broken(Ended::Died)),
        }
    }
}

/// Streaming dot-stuffing (RFC 5321 4.5.2) with bare LF turned into CRLF.
#[derive(Debug)]
pub struct Stuffer {
    line_start: bool,
    prev_cr: bool,
}

impl Default for Stuffer {
    fn default() -> Stuffer {
        Stuffer {
            line_start: true,
            prev_cr: false,
        }
    }
}

impl Stuffer {
    pub fn feed(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len() + input.len() / 32 + 2);
        for &b in input {
            if self.line_start && b == b'.' {
                out.push(b'.');
            }
            if b == b'\n' && !self.prev_cr {
                out.push(b'\r');
            }
            out.push(b);
            self.line_start = b == b'\n';
            self.prev_cr = b == b'\r';
        }
        out
    }

    /// The end: a CRLF if the last line is open, then `.` CRLF.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if !self.line_start {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuffing_adds_dots_and_crlf() {
        let mut s = Stuffer::default();
        let mut out = s.feed(b".a\nb\r\n..c");
        out.extend(s.finish());
        assert_eq!(out, b"..a\r\nb\r\n...c\r\n.\r\n");
        let mut s = Stuffer::default();
        let mut out = Vec::new();
        for b in b"x\n.\n" {
            out.extend(s.feed(&[*b]));
        }
        out.extend(s.finish());
        assert_eq!(out, b"x\r\n..\r\n.\r\n");
    }

    /// A fake agent (a shell script) that answers the handshake, then dies mid-transaction:
    /// every recipient is deferred, and the next call starts a new child.
    #[test]
    fn a_dying_child_defers_the_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("agent");
        std::fs::write(
            &script,
            "#!/bin/sh\nprintf '220 hi\\r\\n'; read l; printf '250 ok\\r\\n'; read l; exit 0\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let msg = dir.path().join("m");
        std::fs::write(&msg, "Subject: s\n\nx\n").unwrap();
        let mut agent = LocalAgent::new(script, dir.path().join("cfg"));
        for _ in 0..2 {
            let r = agent.deliver("ID", "a@b", &["x@y", "z@y"], File::open(&msg).unwrap());
            assert_eq!(r.len(), 2);
            assert!(r.iter().all(|(s, _)| *s == RcptState::Deferred), "{r:?}");
            assert!(agent.conn.is_none());
        }
        let r = agent.deliver("ID", "a\r\n@b", &["x@y"], File::open(&msg).unwrap());
        assert_eq!(r[0].0, RcptState::Failed);
    }
}
