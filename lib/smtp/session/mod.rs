//! The SMTP server session: bytes in (`feed`), events out (`next_event`), answers back
//! (`mail_result`, `recipient_result`, `auth_result`, `starttls_result`, `message_result`).
//! Owns command sequencing, limits on lines, recipients, errors and message size, MAIL/RCPT/
//! DATA (`transaction`), BDAT framing (`chunking`), AUTH PLAIN/LOGIN decoding (`auth`), and
//! the DSN, FUTURERELEASE and REQUIRETLS parameters (`extensions`). Leaves to the caller
//! every decision that needs the world: who is local, whether a password is right, whether
//! the spool took the message, the TLS handshake. The clock is read only through the
//! replaceable `clock` function (see `extensions`). Never fails: every problem becomes a
//! reply.

mod auth;
mod chunking;
mod extensions;
mod transaction;

pub use extensions::RcptDsn;

use std::collections::VecDeque;

use super::command::{self, Body, Command, MailFrom, RcptTo};
use super::data::DataReceiver;
use super::dsn::Ret;
use super::reply::{self, Reply};

/// Command lines longer than this (CRLF included) get `500 5.5.2 Line too long`.
/// RFC 5321 4.5.3.1.4 says 512; the slack covers long AUTH PLAIN initial responses.
pub const MAX_COMMAND_LINE: usize = 1024;
/// AUTH continuation lines (RFC 4954 4: at least 12288).
pub const MAX_AUTH_LINE: usize = 12288;

/// What the session needs to know about its server, fixed at connect time.
#[derive(Debug, Clone)]
pub struct Settings {
    pub hostname: String,
    pub max_message_size: u64,
    pub max_recipients: usize,
    pub max_errors: u32,
    /// STARTTLS can be offered (a certificate is configured).
    pub starttls: bool,
    /// The connection is already TLS (implicit TLS, port 465).
    pub tls_active: bool,
    /// AUTH may be offered at all.
    pub auth: bool,
    /// AUTH may be offered without TLS (loopback client and config allows it).
    pub plaintext_auth: bool,
    /// MAIL needs AUTH first (submission).
    pub auth_required: bool,
}

/// A complete message, handed to the caller to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Envelope sender, empty for `<>`.
    pub sender: String,
    pub recipients: Vec<String>,
    /// The message bytes, dot-unstuffed (DATA) or as sent (BDAT).
    pub body: Vec<u8>,
    pub eight_bit: bool,
    pub smtputf8: bool,
    /// DSN parameters of each recipient, index for index with `recipients`.
    pub recipient_dsn: Vec<RcptDsn>,
    /// DSN RET and ENVID of MAIL.
    pub ret: Option<Ret>,
    pub envid: Option<String>,
    /// FUTURERELEASE: unix seconds to release at, 0 for no hold.
    pub hold_until: u64,
    /// REQUIRETLS was given (only possible over TLS).
    pub require_tls: bool,
}

/// What the caller must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Send this reply (buffer it; flush before waiting for input).
    Reply(Reply),
    /// Flush replies, then read and `feed` more bytes.
    NeedInput,
    /// Check the sender; answer with `mail_result`.
    Mail(MailFrom),
    /// Classify the recipient; answer with `recipient_result`.
    Recipient(String),
    /// Verify the credentials; answer with `auth_result`.
    Auth { user: String, password: String },
    /// The client asked for STARTTLS; answer with `starttls_result` (Ok if TLS can start).
    StartTls,
    /// Flush replies, run the TLS handshake, then call `tls_started`.
    Handshake,
    /// Enqueue the message; answer with `message_result`.
    Message(Message),
    /// The session is over: flush and close.
    Close,
    /// A question is still unanswered (a caller bug): answer it first.
    Awaiting,
}

/// The states of RFC 5321 3.3/4.1.4 (plus the data, chunk and AUTH sub-states):
///
/// ```text
///  connect ─220─▶ Greeting ─EHLO/HELO─▶ Ready ─MAIL─▶ Mail ─RCPT─▶ Rcpt ─DATA 354─▶ Data
///                    ▲                    ▲ ▲                        │ ▲ BDAT n     │
///                    │ STARTTLS 220       │ │   RSET / EHLO          │ └──Chunk◀────┘ (not LAST)
///                    │ (input discarded)  │ └──────────────────────────┘
///                    └────────────────────┤◀── end of data / BDAT LAST: 250 queued or refused
///                                         ├─AUTH─▶ AuthPlain / AuthLoginUser / AuthLoginPass ─▶ Ready
///  any state ──QUIT 221 / too many errors 421──▶ Closed
/// ```
#[derive(Debug)]
enum State {
    Greeting,
    Ready,
    Mail,
    Rcpt,
    Data(Box<DataReceiver>),
    Chunk {
        remaining: u64,
        last: bool,
        /// Reply to give once the chunk is consumed, instead of accepting it.
        refuse: Option<Reply>,
    },
    AuthPlain,
    AuthLoginUser,
    AuthLoginPass(String),
    Closed,
}

/// A question handed to the caller and not yet answered.
#[derive(Debug)]
enum Pending {
    /// With the release time the hold asked for (0: none).
    Mail(MailFrom, u64),
    Recipient(RcptTo),
    Auth(String),
    StartTls,
    Message,
}

#[derive(Debug, Default)]
struct Transaction {
    sender: String,
    eight_bit: bool,
    smtputf8: bool,
    recipients: Vec<String>,
    recipient_dsn: Vec<RcptDsn>,
    ret: Option<Ret>,
    envid: Option<String>,
    hold_until: u64,
    require_tls: bool,
    /// BDAT has been used: DATA is refused from now on.
    chunking: bool,
    chunks: Vec<u8>,
}

#[derive(Debug)]
pub struct Session {
    settings: Settings,
    state: State,
    buf: Vec<u8>,
    discarding: bool,
    out: VecDeque<Event>,
    pending: Option<Pending>,
    txn: Option<Transaction>,
    helo: Option<String>,
    esmtp: bool,
    tls_active: bool,
    auth_user: Option<String>,
    errors: u32,
    commands: u32,
    verb: &'static str,
    arg: String,
    /// Unix seconds now; see `set_clock`.
    clock: fn() -> u64,
}

impl Session {
    /// A new session; its first event is the 220 greeting.
    pub fn new(settings: Settings) -> Session {
        let mut s = Session {
            tls_active: settings.tls_active,
            state: State::Greeting,
            buf: Vec::new(),
            discarding: false,
            out: VecDeque::new(),
            pending: None,
            txn: None,
            helo: None,
            esmtp: false,
            auth_user: None,
            errors: 0,
            commands: 0,
            verb: "CONNECT",
            arg: String::new(),
            clock: extensions::system_clock,
            settings,
        };
        let greeting = reply::greeting(&s.settings.hostname);
        s.reply(greeting);
        s
    }

    /// Adds bytes read from the client.
    pub fn feed(&mut self, input: &[u8]) {
        if !matches!(self.state, State::Closed) {
            self.buf.extend_from_slice(input);
        }
    }

    /// The next thing to do. Call until `NeedInput` or `Close`.
    pub fn next_event(&mut self) -> Event {
        loop {
            if let Some(ev) = self.out.pop_front() {
                return self.account(ev);
            }
            if self.pending.is_some() {
                return Event::Awaiting;
            }
            if matches!(self.state, State::Closed) {
                return Event::Close;
            }
            if !self.step() {
                return Event::NeedInput;
            }
        }
    }

    // --- accessors for the driver ---------------------------------------------------------

    pub fn helo(&self) -> Option<&str> {
        self.helo.as_deref()
    }
    pub fn esmtp(&self) -> bool {
        self.esmtp
    }
    pub fn tls_active(&self) -> bool {
        self.tls_active
    }
    pub fn auth_user(&self) -> Option<&str> {
        self.auth_user.as_deref()
    }
    /// Inside DATA or a BDAT transfer (the data timeout applies; EOF loses a message).
    pub fn in_data(&self) -> bool {
        matches!(self.state, State::Data(_) | State::Chunk { .. })
            || self.txn.as_ref().is_some_and(|t| t.chunking)
    }
    pub fn errors(&self) -> u32 {
        self.errors
    }
    pub fn commands(&self) -> u32 {
        self.commands
    }
    /// The verb of the command being answered, for logs (`RCPT`, `DATA`, `CONNECT`).
    pub fn last_verb(&self) -> &'static str {
        self.verb
    }
    /// The address of the MAIL/RCPT being answered, else empty.
    pub fn last_arg(&self) -> &str {
        &self.arg
    }
    /// True when AUTH may be used now (the TLS rule).
    pub fn auth_allowed_now(&self) -> bool {
        self.settings.auth && (self.tls_active || self.settings.plaintext_auth)
    }

    // --- answers --------------------------------------------------------------------------

    pub fn mail_result(&mut self, result: Result<(), Reply>) {
        let Some(Pending::Mail(m, hold_until)) = self.pending.take() else {
            return;
        };
        match result {
            Ok(()) => {
                self.txn = Some(Transaction {
                    sender: m.sender.text,
                    eight_bit: m.body == Body::EightBitMime,
                    smtputf8: m.smtputf8,
                    ret: m.ret,
                    envid: m.envid,
                    hold_until,
                    require_tls: m.require_tls,
                    ..Transaction::default()
                });
                self.state = State::Mail;
                self.reply(reply::sender_ok());
            }
            Err(r) => self.reply(r),
        }
    }

    pub fn recipient_result(&mut self, result: Result<(), Reply>) {
        let Some(Pending::Recipient(rcpt)) = self.pending.take() else {
            return;
        };
        match (result, self.txn.as_mut()) {
            (Ok(()), Some(txn)) => {
                txn.recipients.push(rcpt.text);
                txn.recipient_dsn.push(RcptDsn {
                    notify: rcpt.notify,
                    orcpt: rcpt.orcpt,
                });
                self.state = State::Rcpt;
                self.reply(reply::recipient_ok());
            }
            (Ok(()), None) => self.reply(reply::need_mail()),
            (Err(r), _) => self.reply(r),
        }
    }

    pub fn auth_result(&mut self, result: Result<(), Reply>) {
        let Some(Pending::Auth(user)) = self.pending.take() else {
            return;
        };
        match result {
            Ok(()) => {
                self.auth_user = Some(user);
                self.reply(reply::auth_ok());
            }
            Err(r) => self.reply(r),
        }
    }

    /// Ok: the 220 goes out, buffered input is discarded (CVE-2011-0411) and the session
    /// returns to the pre-EHLO state; the caller then gets `Handshake`.
    pub fn starttls_result(&mut self, result: Result<(), Reply>) {
        let Some(Pending::StartTls) = self.pending.take() else {
            return;
        };
        match result {
            Ok(()) => {
                self.buf.clear();
                self.discarding = false;
                self.helo = None;
                self.esmtp = false;
                self.txn = None;
                self.auth_user = None;
                self.state = State::Greeting;
                self.reply(reply::ready_for_tls());
                self.out.push_back(Event::Handshake);
            }
            Err(r) => self.reply(r),
        }
    }

    /// The handshake succeeded; plaintext fed before it is dropped.
    pub fn tls_started(&mut self) {
        self.buf.clear();
        self.tls_active = true;
    }

    /// The enqueue outcome (`250 queued as …` or `451 …`); ends the transaction either way.
    pub fn message_result(&mut self, result: Reply) {
        let Some(Pending::Message) = self.pending.take() else {
            return;
        };
        self.end_transaction();
        self.reply(result);
    }

    // --- internals ------------------------------------------------------------------------

    fn ask(&mut self, p: Pending, ev: Event) {
        self.pending = Some(p);
        self.out.push_back(ev);
    }

    fn reply(&mut self, r: Reply) {
        self.out.push_back(Event::Reply(r));
    }

    /// Counts errors on their way out; too many ends the session with 421.
    fn account(&mut self, ev: Event) -> Event {
        if let Event::Reply(r) = &ev {
            // A full recipient list is the client's cue to send the rest later, not abuse.
            if r.is_error() && *r != reply::too_many_recipients() && r.code != 421 {
                self.errors += 1;
                if self.errors >= self.settings.max_errors {
                    self.out.clear();
                    self.reply(reply::too_many_errors(&self.settings.hostname));
                    self.out.push_back(Event::Close);
                    self.state = State::Closed;
                }
            }
            if r.code == 421 || r.code == 221 {
                self.state = State::Closed;
            }
        }
        ev
    }

    fn end_transaction(&mut self) {
        self.txn = None;
        self.state = match self.helo {
            Some(_) => State::Ready,
            None => State::Greeting,
        };
    }

    /// Makes progress on buffered input; false when more input is needed.
    fn step(&mut self) -> bool {
        match &mut self.state {
            State::Data(recv) => {
                let (used, done) = recv.feed(&self.buf);
                self.buf.drain(..used);
                if done {
                    self.finish_data();
                }
                done
            }
            State::Chunk { remaining, .. } => {
                let take = (*remaining).min(self.buf.len() as u64) as usize;
                *remaining -= take as u64;
                let done = *remaining == 0;
                let bytes: Vec<u8> = self.buf.drain(..take).collect();
                self.store_chunk(&bytes);
                if done {
                    self.finish_chunk();
                }
                done
            }
            State::AuthPlain | State::AuthLoginUser | State::AuthLoginPass(_) => {
                match self.take_line(MAX_AUTH_LINE) {
                    Some(Ok(line)) => self.auth_response(&line),
                    Some(Err(r)) => {
                        self.state = State::Ready;
                        self.reply(r);
                    }
                    None => return false,
                }
                true
            }
            _ => match self.take_line(MAX_COMMAND_LINE) {
                Some(Ok(line)) => {
                    self.commands += 1;
                    self.arg.clear();
                    match command::parse(&line) {
                        Ok(cmd) => {
                            self.verb = cmd.verb();
                            self.dispatch(cmd);
                        }
                        Err(r) => {
                            self.verb = verb_of(&line);
                            self.reply(r);
                        }
                    }
                    true
                }
                Some(Err(r)) => {
                    self.commands += 1;
                    self.verb = "UNKNOWN";
                    self.reply(r);
                    true
                }
                None => false,
            },
        }
    }

    /// One line without its line end, or `Line too long` once the over-long line has ended.
    fn take_line(&mut self, cap: usize) -> Option<Result<Vec<u8>, Reply>> {
        match self.buf.iter().position(|b| *b == b'\n') {
            Some(i) => {
                let mut line: Vec<u8> = self.buf.drain(..=i).collect();
                let too_long = std::mem::take(&mut self.discarding) || line.len() > cap;
                if too_long {
                    return Some(Err(reply::line_too_long()));
                }
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                Some(Ok(line))
            }
            None => {
                if self.buf.len() > cap {
                    self.buf.clear();
                    self.discarding = true;
                }
                None
            }
        }
    }

    fn dispatch(&mut self, cmd: Command) {
        match cmd {
            Command::Ehlo(name) => self.hello(name, true),
            Command::Helo(name) => self.hello(name, false),
            Command::Mail(m) => self.mail(m),
            Command::Rcpt(r) => self.rcpt(r),
            Command::Data => self.data(),
            Command::Bdat { size, last } => self.bdat(size, last),
            Command::Rset => {
                self.end_transaction();
                self.reply(reply::reset());
            }
            Command::Noop => self.reply(reply::ok()),
            Command::Quit => {
                let r = reply::closing(&self.settings.hostname);
                self.reply(r);
                self.out.push_back(Event::Close);
            }
            Command::Vrfy => self.reply(reply::vrfy()),
            Command::Help => self.reply(reply::help()),
            Command::StartTls => self.starttls(),
            Command::Auth { mechanism, initial } => self.auth(mechanism, initial),
        }
    }

    fn hello(&mut self, name: String, esmtp: bool) {
        self.txn = None;
        self.helo = Some(name);
        self.esmtp = esmtp;
        self.state = State::Ready;
        let host = self.settings.hostname.clone();
        if !esmtp {
            return self.reply(reply::helo(&host));
        }
        let mut kw = vec![
            "PIPELINING".to_string(),
            format!("SIZE {}", self.settings.max_message_size),
            "8BITMIME".into(),
            "SMTPUTF8".into(),
            "ENHANCEDSTATUSCODES".into(),
            "CHUNKING".into(),
        ];
        kw.extend(self.extension_keywords());
        if self.settings.starttls && !self.tls_active {
            kw.push("STARTTLS".into());
        }
        if self.auth_allowed_now() && self.auth_user.is_none() {
            kw.push("AUTH PLAIN LOGIN".into());
        }
        kw.push("HELP".into());
        self.reply(reply::ehlo(&host, &kw));
    }

    fn starttls(&mut self) {
        if self.tls_active {
            return self.reply(reply::tls_already_active());
        }
        if !self.settings.starttls {
            return self.reply(reply::tls_not_available());
        }
        if self.txn.is_some() {
            return self.reply(reply::starttls_in_transaction());
        }
        self.ask(Pending::StartTls, Event::StartTls);
    }
}

/// The verb of an unparsable line, for logs (one of ours, else `UNKNOWN`).
fn verb_of(line: &[u8]) -> &'static str {
    let word: Vec<u8> = line
        .iter()
        .take_while(|b| **b != b' ')
        .map(|b| b.to_ascii_uppercase())
        .collect();
    const VERBS: [&str; 13] = [
        "EHLO", "HELO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT", "VRFY", "HELP",
        "STARTTLS", "AUTH",
    ];
    VERBS
        .iter()
        .find(|v| v.as_bytes() == word.as_slice())
        .copied()
        .unwrap_or("UNKNOWN")
}
