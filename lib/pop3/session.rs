//! The POP3 session state machine (RFC 1939 with RFC 2449 CAPA, RFC 2595 STLS and RFC 5034
//! AUTH PLAIN): bytes in (`feed`), reply bytes out (`take_output`), and events that ask the
//! caller to act (check a login, fetch a message, run the UPDATE deletions, start TLS).
//!
//! ```text
//!   greeting ──▶ AUTHORIZATION ──USER/PASS or AUTH ok──▶ TRANSACTION ──QUIT──▶ UPDATE ──▶ closed
//!                  │    ▲  │                                  │
//!                  │    └──┘ STLS (input buffered after it is discarded)
//!                  └──QUIT──▶ closed            (a dropped connection never reaches UPDATE)
//! ```
//!
//! While an event waits for its answer (`login_result`, `retrieve_result`, `update_result`,
//! `tls_started`) `next_event` returns `Awaiting`. Lines are capped at `Settings::max_line`;
//! syntax errors, unknown commands, commands in the wrong state and failed logins count as
//! errors, and at `max_errors` the session says so and closes.

use base64::Engine;

use super::command::{self, Bad, Command};
use super::{reply, wire};

/// Pending output past which the caller is asked to write before more commands run, so a
/// client pipelining commands without reading cannot make the output grow without bound.
pub const FLUSH_AT: usize = 256 * 1024;

/// What the caller tells the session about the connection.
#[derive(Debug, Clone)]
pub struct Settings {
    pub hostname: String,
    /// STLS is offered (a TLS config exists and TLS is not already on).
    pub stls: bool,
    pub tls_active: bool,
    /// USER/PASS and AUTH allowed without TLS (a loopback client, and config allows it).
    pub plaintext_auth: bool,
    pub max_errors: u32,
    pub max_line: usize,
}

/// One message of the maildrop as listed at login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsgInfo {
    /// Octets with CRLF line ends (what RETR sends, before byte-stuffing).
    pub size: u64,
    pub uidl: String,
}

/// Why a login did not open the maildrop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginError {
    Failed,
    InUse,
    Temporary(String),
}

/// Why a message could not be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetrieveError {
    Gone,
    Temporary(String),
}

/// What the caller must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Write the pending output, read more input and `feed` it.
    NeedInput,
    /// Check the credentials, lock and list the maildrop, answer `login_result`.
    Login { user: String, password: String },
    /// Write the pending output, run the TLS handshake, then call `tls_started`.
    StartTls,
    /// Read message `index` (0-based), answer `retrieve_result`; `lines` set for TOP.
    Retrieve { index: usize, lines: Option<u64> },
    /// QUIT in TRANSACTION: delete these (0-based), answer `update_result`.
    Update { deletions: Vec<usize> },
    /// Much output is pending (pipelined commands): write it, then ask again.
    Flush,
    /// Write the pending output and close.
    Close,
    /// A question is unanswered (a caller bug).
    Awaiting,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Authorization { user: Option<String> },
    SaslPlain,
    Transaction,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    None,
    Login,
    Tls,
    Retrieve { index: usize, lines: Option<u64> },
    Update,
}

pub struct Session {
    settings: Settings,
    state: State,
    pending: Pending,
    input: Vec<u8>,
    discarding: bool,
    out: Vec<u8>,
    msgs: Vec<MsgInfo>,
    deleted: Vec<bool>,
    errors: u32,
    retrieved: u32,
}

impl Session {
    /// A new session with the greeting queued.
    pub fn new(settings: Settings) -> Session {
        let mut s = Session {
            out: reply::greeting(&settings.hostname).into_bytes(),
            settings,
            state: State::Authorization { user: None },
            pending: Pending::None,
            input: Vec::new(),
            discarding: false,
            msgs: Vec::new(),
            deleted: Vec::new(),
            errors: 0,
            retrieved: 0,
        };
        s.out.reserve(4096);
        s
    }

    /// Bytes from the client.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.state != State::Done {
            self.input.extend_from_slice(bytes);
        }
    }

    /// Output to write to the client (emptied).
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Messages sent by RETR (TOP not counted).
    pub fn retrieved(&self) -> u32 {
        self.retrieved
    }

    pub fn in_transaction(&self) -> bool {
        self.state == State::Transaction
    }

    /// Runs buffered commands until one needs the caller.
    pub fn next_event(&mut self) -> Event {
        loop {
            if self.pending != Pending::None {
                return Event::Awaiting;
            }
            if self.state == State::Done {
                return Event::Close;
            }
            if self.out.len() > FLUSH_AT {
                return Event::Flush;
            }
            match self.take_line() {
                None => return Event::NeedInput,
                Some(None) => self.error(reply::line_too_long()),
                Some(Some(line)) => {
                    if let Some(ev) = self.handle(&line) {
                        return ev;
                    }
                }
            }
        }
    }

    /// The next complete line without its line end; `Some(None)` for an over-long line.
    fn take_line(&mut self) -> Option<Option<Vec<u8>>> {
        let Some(i) = self.input.iter().position(|&b| b == b'\n') else {
            if self.input.len() > self.settings.max_line {
                self.discarding = true;
                self.input.clear();
            }
            return None;
        };
        let mut line: Vec<u8> = self.input.drain(..=i).collect();
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if std::mem::take(&mut self.discarding) || line.len() > self.settings.max_line {
            return Some(None);
        }
        Some(Some(line))
    }

    fn say(&mut self, text: String) {
        self.out.extend_from_slice(text.as_bytes());
    }

    /// An error reply that counts toward `max_errors`.
    fn error(&mut self, text: String) {
        self.say(text);
        self.errors += 1;
        if self.errors >= self.settings.max_errors {
            self.say(reply::too_many_errors());
            self.close();
        }
    }

    fn close(&mut self) {
        self.state = State::Done;
        self.input.clear();
    }

    fn handle(&mut self, line: &[u8]) -> Option<Event> {
        if self.state == State::SaslPlain {
            return self.sasl_response(line);
        }
        let cmd = match command::parse(line) {
            Ok(c) => c,
            Err(Bad::Unknown) => {
                self.error(reply::unknown_command());
                return None;
            }
            Err(Bad::Syntax(what)) => {
                self.error(reply::syntax(what));
                return None;
            }
        };
        match cmd {
            Command::Capa => {
                let capa = self.capabilities();
                self.say(capa);
                None
            }
            Command::Quit => self.quit(),
            c if self.state == State::Transaction => self.transaction(c),
            c => self.authorization(c),
        }
    }

    fn login_allowed(&self) -> bool {
        self.settings.tls_active || self.settings.plaintext_auth
    }

    fn capabilities(&self) -> String {
        let mut c = String::from("+OK Capability list follows\r\n");
        c.push_str("TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n");
        if self.state != State::Transaction {
            if self.login_allowed() {
                c.push_str("USER\r\nSASL PLAIN\r\n");
            }
            if self.settings.stls && !self.settings.tls_active {
                c.push_str("STLS\r\n");
            }
        }
        c.push_str("IMPLEMENTATION mailserver\r\n.\r\n");
        c
    }

    fn authorization(&mut self, cmd: Command) -> Option<Event> {
        match cmd {
            Command::User(_) | Command::Pass(_) | Command::Auth(Some(_))
                if !self.login_allowed() =>
            {
                self.error(reply::plaintext_refused())
            }
            Command::User(u) => {
                self.state = State::Authorization { user: Some(u) };
                self.say(reply::user_accepted());
            }
            Command::Pass(password) => {
                let state = std::mem::replace(&mut self.state, State::Authorization { user: None });
                match state {
                    State::Authorization { user: Some(user) } => {
                        self.pending = Pending::Login;
                        return Some(Event::Login { user, password });
                    }
                    _ => self.error(reply::need_user()),
                }
            }
            Command::Auth(None) => self.say("+OK\r\nPLAIN\r\n.\r\n".to_string()),
            Command::Auth(Some((mech, initial))) => return self.auth(&mech, initial),
            Command::Stls => return self.stls(),
            _ => self.error(reply::wrong_state()),
        }
        None
    }

    fn auth(&mut self, mech: &str, initial: Option<String>) -> Option<Event> {
        self.state = State::Authorization { user: None };
        if mech != "PLAIN" {
            self.error(reply::auth_mechanism_unknown());
            return None;
        }
        match initial {
            // RFC 5034 4: "=" is an empty initial response.
            Some(ir) if ir == "=" => self.sasl_response(b""),
            Some(ir) => self.sasl_response(ir.as_bytes()),
            None => {
                self.state = State::SaslPlain;
                self.say(reply::auth_continue());
                None
            }
        }
    }

    fn sasl_response(&mut self, line: &[u8]) -> Option<Event> {
        self.state = State::Authorization { user: None };
        if line == b"*" {
            self.error(reply::auth_cancelled());
            return None;
        }
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(line) else {
            self.error(reply::auth_bad_base64());
            return None;
        };
        match crate::sasl::decode_plain(&decoded).ok() {
            Some((user, password)) => {
                self.pending = Pending::Login;
                Some(Event::Login { user, password })
            }
            None => {
                self.error(reply::auth_failed());
                None
            }
        }
    }

    fn stls(&mut self) -> Option<Event> {
        if self.settings.tls_active {
            self.error(reply::stls_already());
            return None;
        }
        if !self.settings.stls {
            self.error(reply::stls_unavailable());
            return None;
        }
        self.say(reply::stls_go());
        // RFC 2595 4 / RFC 3207-style injection: nothing sent before the handshake counts.
        self.input.clear();
        self.pending = Pending::Tls;
        Some(Event::StartTls)
    }

    /// The handshake finished: back to a fresh AUTHORIZATION state.
    pub fn tls_started(&mut self) {
        self.input.clear();
        self.settings.tls_active = true;
        self.state = State::Authorization { user: None };
        self.pending = Pending::None;
    }

    /// The answer to `Event::Login`.
    pub fn login_result(&mut self, r: Result<Vec<MsgInfo>, LoginError>) {
        self.pending = Pending::None;
        match r {
            Ok(msgs) => {
                self.deleted = vec![false; msgs.len()];
                self.msgs = msgs;
                self.state = State::Transaction;
                let (n, octets) = self.totals();
                self.say(reply::logged_in(n, octets));
            }
            Err(LoginError::Failed) => self.error(reply::auth_failed()),
            Err(LoginError::InUse) => self.say(reply::in_use()),
            Err(LoginError::Temporary(what)) => self.say(reply::temp_failure(&what)),
        }
    }

    fn quit(&mut self) -> Option<Event> {
        if self.state != State::Transaction {
            self.say(reply::bye());
            self.close();
            return None;
        }
        let deletions = (0..self.msgs.len()).filter(|&i| self.deleted[i]).collect();
        self.pending = Pending::Update;
        Some(Event::Update { deletions })
    }

    /// The answer to `Event::Update`: how many deletions failed.
    pub fn update_result(&mut self, failed: usize) {
        self.pending = Pending::None;
        if failed == 0 {
            self.say(reply::bye());
        } else {
            self.say(reply::not_all_deleted(failed));
        }
        self.close();
    }

    /// Undeleted messages and their octets.
    fn totals(&self) -> (usize, u64) {
        self.live()
            .fold((0, 0), |(n, o), (_, m)| (n + 1, o + m.size))
    }

    fn live(&self) -> impl Iterator<Item = (usize, &MsgInfo)> {
        self.msgs
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.deleted[*i])
    }

    /// A message number that names an undeleted message, as an index.
    fn index(&mut self, n: u32) -> Option<usize> {
        let Some(i) = (n as usize).checked_sub(1).filter(|&i| i < self.msgs.len()) else {
            self.say(reply::no_such_message());
            return None;
        };
        if self.deleted[i] {
            self.say(reply::already_deleted());
            return None;
        }
        Some(i)
    }

    fn transaction(&mut self, cmd: Command) -> Option<Event> {
        match cmd {
            Command::Stat => {
                let (n, o) = self.totals();
                self.say(reply::ok(&format!("{n} {o}")));
            }
            Command::List(None) => {
                let (n, o) = self.totals();
                let mut text = reply::ok(&format!("{n} messages ({o} octets)"));
                for (i, m) in self.live() {
                    text.push_str(&format!("{} {}\r\n", i + 1, m.size));
                }
                text.push_str(".\r\n");
                self.say(text);
            }
            Command::Uidl(None) => {
                let mut text = reply::ok("Unique-ID listing follows");
                for (i, m) in self.live() {
                    text.push_str(&format!("{} {}\r\n", i + 1, m.uidl));
                }
                text.push_str(".\r\n");
                self.say(text);
            }
            Command::List(Some(n)) => {
                let i = self.index(n)?;
                self.say(reply::ok(&format!("{n} {}", self.msgs[i].size)));
            }
            Command::Uidl(Some(n)) => {
                let i = self.index(n)?;
                self.say(reply::ok(&format!("{n} {}", self.msgs[i].uidl)));
            }
            Command::Retr(n) => return self.retrieve(n, None),
            Command::Top(n, lines) => return self.retrieve(n, Some(lines)),
            Command::Dele(n) => {
                let i = self.index(n)?;
                self.deleted[i] = true;
                self.say(reply::ok(&format!("Message {n} deleted")));
            }
            Command::Noop => self.say(reply::ok("")),
            Command::Rset => {
                self.deleted.fill(false);
                let (n, o) = self.totals();
                self.say(reply::ok(&format!(
                    "Maildrop has {n} messages ({o} octets)"
                )));
            }
            _ => self.error(reply::wrong_state()),
        }
        None
    }

    fn retrieve(&mut self, n: u32, lines: Option<u64>) -> Option<Event> {
        let index = self.index(n)?;
        self.pending = Pending::Retrieve { index, lines };
        Some(Event::Retrieve { index, lines })
    }

    /// The answer to `Event::Retrieve`: the message as stored (LF line ends).
    pub fn retrieve_result(&mut self, r: Result<&[u8], RetrieveError>) {
        let Pending::Retrieve { index, lines } = self.pending else {
            return;
        };
        self.pending = Pending::None;
        match r {
            Ok(msg) => {
                let head = match lines {
                    None => {
                        self.retrieved += 1;
                        reply::ok(&format!("{} octets", self.msgs[index].size))
                    }
                    Some(_) => reply::ok("Top of message follows"),
                };
                self.say(head);
                wire::encode(msg, lines, &mut self.out);
            }
            Err(RetrieveError::Gone) => self.say(reply::message_gone()),
            Err(RetrieveError::Temporary(what)) => self.say(reply::temp_failure(&what)),
        }
    }
}
