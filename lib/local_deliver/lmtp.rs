//! The LMTP session of `local-deliver --lmtp` (RFC 2033 subset), sans I/O: bytes in, events
//! out. `LHLO`, `MAIL FROM` (`BODY`, `SIZE`, `SMTPUTF8` as in SMTP; `ENVID=` names the
//! queue id for log lines), `RCPT TO` (one or more), `DATA` (dot-unstuffed, up to
//! `max_size`), `RSET`, `NOOP`, `QUIT`. After the final dot the caller delivers the message
//! once per recipient and sends one reply per recipient, in RCPT order (`reply_for`).
//!
//! Reuses the SMTP command parser and DATA receiver of `crate::smtp`; it accepts what they
//! would flag (bare CR/LF, long lines) because the mail is already accepted upstream: an MDA
//! stores what it is given. Bad commands get a clear 5xx; nothing here panics or blocks.
//! Leaves the delivery itself (and all I/O) to the driver in `serve`.

use super::Failure;
use crate::smtp::command::{self, Command};
use crate::smtp::data::DataReceiver;
use crate::smtp::reply::Reply;

/// Longest command line accepted (RFC 5321 allows 512; parameters make it longer).
const MAX_COMMAND: usize = 2048;
/// Most recipients in one transaction.
pub const MAX_RCPTS: usize = 1000;

/// What the driver must do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// Send these bytes.
    Send(Vec<u8>),
    /// Deliver this message to each recipient, then send one `reply_for` line each.
    Deliver(Transaction),
    /// Close the connection (after sending what came before).
    Close,
}

/// A received message with its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// The reverse path; empty for `<>`.
    pub sender: String,
    /// The forward paths, in RCPT order.
    pub recipients: Vec<String>,
    /// The message, dot-unstuffed, line ends as received.
    pub data: Vec<u8>,
    /// `ENVID=` from MAIL, when it is a plain token (used as the log prefix).
    pub envid: Option<String>,
}

/// One LMTP connection's state.
#[derive(Debug)]
pub struct Session {
    host: String,
    max_size: u64,
    greeted: bool,
    sender: Option<String>,
    envid: Option<String>,
    rcpts: Vec<String>,
    data: Option<DataReceiver>,
    line: Vec<u8>,
    overlong: bool,
    closed: bool,
}

impl Session {
    pub fn new(host: &str, max_size: u64) -> Session {
        Session {
            host: host.to_string(),
            max_size,
            greeted: false,
            sender: None,
            envid: None,
            rcpts: Vec::new(),
            data: None,
            line: Vec::new(),
            overlong: false,
            closed: false,
        }
    }

    /// The `220` banner to send first.
    pub fn greeting(&self) -> Vec<u8> {
        Reply::new(220, format!("{} LMTP local-deliver ready", self.host)).to_bytes()
    }

    /// True after QUIT: further input is ignored.
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// Consumes input; any split of the same bytes gives the same events.
    pub fn feed(&mut self, mut input: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        while !input.is_empty() && !self.closed {
            if let Some(rx) = self.data.as_mut() {
                let (n, done) = rx.feed(input);
                input = &input[n..];
                if done {
                    self.end_of_data(&mut out);
                }
                continue;
            }
            let (chunk, rest, eol) = match input.iter().position(|&b| b == b'\n') {
                Some(i) => (&input[..i], &input[i + 1..], true),
                None => (input, &[][..], false),
            };
            input = rest;
            if self.line.len() + chunk.len() > MAX_COMMAND {
                self.overlong = true;
            } else {
                self.line.extend_from_slice(chunk);
            }
            if eol {
                let line = std::mem::take(&mut self.line);
                let reply = match std::mem::take(&mut self.overlong) {
                    true => Reply::new(500, "5.5.2 line too long"),
                    false => self.command(line.strip_suffix(b"\r").unwrap_or(&line)),
                };
                out.push(Event::Send(reply.to_bytes()));
                if self.closed {
                    out.push(Event::Close);
                }
            }
        }
        out
    }

    fn reset(&mut self) {
        self.sender = None;
        self.envid = None;
        self.rcpts.clear();
    }

    fn command(&mut self, line: &[u8]) -> Reply {
        let (line, envid) = take_envid(line);
        if let Some(name) = lhlo(&line) {
            return match name {
                Some(_) => {
                    self.greeted = true;
                    self.reset();
                    Reply {
                        code: 250,
                        lines: vec![
                            self.host.clone(),
                            "PIPELINING".into(),
                            "ENHANCEDSTATUSCODES".into(),
                            "8BITMIME".into(),
                            "SMTPUTF8".into(),
                        ],
                    }
                }
                None => Reply::new(501, "5.5.4 Syntax: LHLO hostname"),
            };
        }
        let cmd = match command::parse(&line) {
            Ok(c) => c,
            Err(r) => return r,
        };
        match cmd {
            Command::Ehlo(_) | Command::Helo(_) => Reply::new(500, "5.5.1 this is LMTP: say LHLO"),
            Command::Mail(_) | Command::Rcpt(_) | Command::Data if !self.greeted => {
                Reply::new(503, "5.5.1 send LHLO first")
            }
            Command::Mail(_) if self.sender.is_some() => {
                Reply::new(503, "5.5.1 nested MAIL command")
            }
            Command::Mail(m) => {
                self.sender = Some(m.sender.text);
                self.envid = envid;
                Reply::new(250, "2.1.0 Ok")
            }
            Command::Rcpt(_) if self.sender.is_none() => Reply::new(503, "5.5.1 need MAIL first"),
            Command::Rcpt(_) if self.rcpts.len() >= MAX_RCPTS => {
                Reply::new(452, "4.5.3 too many recipients")
            }
            Command::Rcpt(a) => {
                self.rcpts.push(a.text);
                Reply::new(250, "2.1.5 Ok")
            }
            Command::Data if self.rcpts.is_empty() => Reply::new(503, "5.5.1 need RCPT first"),
            Command::Data => {
                self.data = Some(DataReceiver::new(self.max_size));
                Reply::new(354, "End data with <CR><LF>.<CR><LF>")
            }
            Command::Rset => {
                self.reset();
                Reply::new(250, "2.0.0 Ok")
            }
            Command::Noop => Reply::new(250, "2.0.0 Ok"),
            Command::Quit => {
                self.closed = true;
                Reply::new(221, format!("2.0.0 {} closing", self.host))
            }
            _ => Reply::new(502, "5.5.1 command not implemented"),
        }
    }

    fn end_of_data(&mut self, out: &mut Vec<Event>) {
        let Some(rx) = self.data.take() else { return };
        let recipients = std::mem::take(&mut self.rcpts);
        let sender = self.sender.take().unwrap_or_default();
        let envid = self.envid.take();
        if rx.seen > self.max_size {
            for _ in &recipients {
                out.push(Event::Send(
                    Reply::new(552, "5.3.4 message too big").to_bytes(),
                ));
            }
            return;
        }
        out.push(Event::Deliver(Transaction {
            sender,
            recipients,
            data: rx.body,
            envid,
        }));
    }
}

/// `Some(Some(name))` for a well-formed `LHLO name`, `Some(None)` for a bad one, `None` for
/// another verb.
fn lhlo(line: &[u8]) -> Option<Option<String>> {
    let verb = line.get(..4)?;
    if !verb.eq_ignore_ascii_case(b"LHLO") || line.get(4).is_some_and(|&b| b != b' ') {
        return None;
    }
    let name = std::str::from_utf8(&line[4..]).ok().map(str::trim);
    Some(
        name.filter(|n| !n.is_empty() && !n.chars().any(|c| c.is_control() || c == ' '))
            .map(str::to_string),
    )
}

/// Removes an `ENVID=` parameter from a MAIL line (the SMTP parser does not know it) and
/// returns it when it is a plain token.
fn take_envid(line: &[u8]) -> (Vec<u8>, Option<String>) {
    let is_mail = line.len() >= 5 && line[..5].eq_ignore_ascii_case(b"MAIL ");
    let Some(text) = std::str::from_utf8(line).ok().filter(|_| is_mail) else {
        return (line.to_vec(), None);
    };
    let mut envid = None;
    let kept: Vec<&str> = text
        .split(' ')
        .filter(|w| match w.get(..6) {
            Some(k) if k.eq_ignore_ascii_case("ENVID=") => {
                let v = &w[6..];
                if !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    envid = Some(v.to_string());
                }
                false
            }
            _ => true,
        })
        .collect();
    (kept.join(" ").into_bytes(), envid)
}

/// The per-recipient reply after DATA, mirroring the one-shot mode: `250 2.0.0 delivered
/// to=<…> folder=… size=… file=…` (its log line), or `4xx`/`5xx` with the enhanced code and
/// the one-shot stderr text `ADDRESS: reason (#x.y.z)`.
pub fn reply_for(address: &str, result: &Result<super::Report, Failure>) -> Vec<u8> {
    match result {
        Ok(r) => Reply::new(
            250,
            format!(
                "2.0.0 delivered to=<{address}> folder={} size={} file={}",
                r.folder, r.size, r.file
            ),
        ),
        Err(f) => {
            let class = if f.exit.is_temporary() { '4' } else { '5' };
            let code = format!("{class}{}", f.status.get(1..).unwrap_or(".0.0"));
            let text: String = format!("{address}: {} (#{})", f.text, f.status)
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            Reply::new(basic_code(&code), format!("{code} {text}"))
        }
    }
    .to_bytes()
}

/// The three-digit reply code for an enhanced status code `c.s.d`: 250, 451, and for
/// permanent failures 550 (address or policy), 552 (mailbox full, too big) or 554.
pub fn basic_code(enhanced: &str) -> u16 {
    let rest = enhanced.get(1..).unwrap_or("");
    match enhanced.as_bytes().first() {
        Some(b'2') => 250,
        Some(b'4') => 451,
        _ if rest.starts_with(".1.") || rest.starts_with(".7.") => 550,
        _ if rest == ".2.2" || rest == ".3.4" => 552,
        _ => 554,
    }
}

#[cfg(test)]
#[path = "lmtp_tests.rs"]
mod tests;
