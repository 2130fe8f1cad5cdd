//! The IMAP connection state machine (RFC 3501 section 3):
//!
//! ```text
//!            +----------------------+
//!            |connection established|
//!            +----------------------+
//!                       ||
//!                       \/
//!     +--------------------------------------+
//!     |          server greeting             |
//!     +--------------------------------------+
//!               || (1)       || (2)        || (3)
//!               \/           ||            ||
//!     +-----------------+    ||            ||
//!     |Not Authenticated|    ||            ||
//!     +-----------------+    ||            ||
//!      || (7)   || (4)       ||            ||
//!      ||       \/           \/            ||
//!      ||     +----------------+           ||
//!      ||     | Authenticated  |<=++       ||
//!      ||     +----------------+  ||       ||
//!      ||       || (7)   || (5)   || (6)   ||
//!      ||       ||       \/       ||       ||
//!      ||       ||    +--------+  ||       ||
//!      ||       ||    |Selected|==++       ||
//!      ||       ||    +--------+           ||
//!      ||       ||       || (7)            ||
//!      \/       \/       \/                \/
//!     +--------------------------------------+
//!     |               Logout                 |
//!     +--------------------------------------+
//!
//! (1) connection without pre-authentication (OK greeting)
//! (2) pre-authenticated connection (PREAUTH greeting; not used here)
//! (3) rejected connection (BYE greeting)
//! (4) successful LOGIN or AUTHENTICATE command
//! (5) successful SELECT or EXAMINE command
//! (6) CLOSE or UNSELECT command, unsolicited CLOSED response code, or failed SELECT/EXAMINE
//! (7) LOGOUT command, server shutdown, or connection closed
//! ```
//!
//! `Session::feed` takes bytes; `Session::next_event` returns what the caller must do next;
//! `Session::take_output` hands over the bytes to send. A command not valid in the current
//! state is answered BAD here and never reaches the caller.

use imap_codec::decode::Decoder;
use imap_codec::fragmentizer::{FragmentInfo, Fragmentizer, LiteralAnnouncement};
use imap_codec::imap_types::auth::{AuthMechanism, AuthenticateData};
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::core::LiteralMode;
use imap_codec::imap_types::IntoStatic;
use imap_codec::{AuthenticateDataCodec, CommandCodec, IdleDoneCodec};

use super::reply::{self, Status};
use super::{esearch, list_ext};

/// Largest synchronising literal accepted before login (user names and passwords).
pub const PREAUTH_LITERAL_MAX: u32 = 8 * 1024;

/// Where the connection is in RFC 3501's diagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    NotAuthenticated,
    Authenticated,
    /// A mailbox is open; `read_only` after EXAMINE.
    Selected {
        read_only: bool,
    },
    Logout,
}

/// What the caller tells the session about the connection and its limits.
#[derive(Debug, Clone)]
pub struct Settings {
    /// STARTTLS can be offered (a TLS config exists and TLS is not yet on).
    pub starttls: bool,
    /// The connection is already encrypted.
    pub tls_active: bool,
    /// LOGIN/AUTHENTICATE allowed without TLS (loopback and config allows).
    pub plaintext_auth: bool,
    /// Largest command including its literals (APPEND), in bytes.
    pub max_command_size: u32,
    /// Bad commands in a row before the session ends with BYE.
    pub max_errors: u32,
}

/// What the caller must do next.
#[derive(Debug)]
pub enum Event {
    /// Send `take_output()`, then read more bytes and `feed` them.
    NeedInput,
    /// Check the credentials and call `login_result`.
    Login {
        tag: String,
        user: String,
        password: String,
    },
    /// Send `take_output()` (it ends with the OK), run the TLS handshake, call `tls_started`.
    StartTls,
    /// Run a mailbox command and write its responses with `write`; the command was valid in
    /// this state. State changes go through `select_done`, `unselect`.
    Command {
        tag: String,
        body: CommandBody<'static>,
        /// SEARCH's ESEARCH `RETURN (…)` options (RFC 4731), when given.
        esearch: Option<esearch::Return>,
    },
    /// An extended LIST (RFC 5258/5819), parsed by `list_ext`; valid in this state.
    ListExtended {
        tag: String,
        list: list_ext::ListExtended,
    },
    /// IDLE began (`+ idling` is in the output): send it, then wait for input or mailbox
    /// changes; write untagged updates while `is_idling()`.
    Idle,
    /// Send `take_output()` and close the connection.
    Close,
}

/// Waiting for what kind of client data.
#[derive(Debug)]
enum Mode {
    Command,
    /// AUTHENTICATE PLAIN sent `+ `, waiting for the base64 response.
    SaslResponse(String),
    /// IDLE: waiting for DONE.
    Idle(String),
}

pub struct Session {
    settings: Settings,
    state: State,
    mode: Mode,
    frag: Fragmentizer,
    out: Vec<u8>,
    errors: u32,
    commands: u64,
    /// CONDSTORE is on (ENABLE, or a first CONDSTORE-enabling command, RFC 7162 3.1).
    condstore: bool,
    /// IMAP4rev2 was ENABLEd (RFC 9051): UTF-8 mailbox names, no \Recent, ESEARCH results.
    rev2: bool,
}

impl Session {
    /// A new connection: the greeting is already in the output.
    pub fn new(settings: Settings, greeting: &str) -> Session {
        let frag = Fragmentizer::new(settings.max_command_size);
        let mut s = Session {
            settings,
            state: State::NotAuthenticated,
            mode: Mode::Command,
            frag,
            out: Vec::new(),
            errors: 0,
            commands: 0,
            condstore: false,
            rev2: false,
        };
        let caps = s.capabilities();
        s.write(&reply::untagged_status(
            Status::Ok,
            &format!("CAPABILITY {caps}"),
            greeting,
        ));
        s
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn commands(&self) -> u64 {
        self.commands
    }

    /// Whether CONDSTORE is on for this session.
    pub fn condstore(&self) -> bool {
        self.condstore
    }

    /// A CONDSTORE-enabling command was run (RFC 7162 3.1).
    pub fn enable_condstore(&mut self) {
        self.condstore = true;
    }

    /// Whether the client ENABLEd IMAP4rev2.
    pub fn rev2(&self) -> bool {
        self.rev2
    }

    pub fn is_idling(&self) -> bool {
        matches!(self.mode, Mode::Idle(_))
    }

    /// Bytes from the client.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.frag.enqueue_bytes(bytes);
    }

    /// Adds response bytes to the output.
    pub fn write(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// The bytes to send now.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// The CAPABILITY list for the current state and connection.
    pub fn capabilities(&self) -> String {
        let mut caps = vec![
            "IMAP4rev1",
            "IMAP4rev2",
            "LITERAL+",
            "SASL-IR",
            "ID",
            "ENABLE",
            "IDLE",
        ];
        if self.state == State::NotAuthenticated {
            if self.settings.starttls && !self.settings.tls_active {
                caps.push("STARTTLS");
            }
            if self.auth_allowed() {
                caps.push("AUTH=PLAIN");
            } else {
                caps.push("LOGINDISABLED");
            }
        } else {
            caps.extend([
                "NAMESPACE",
                "UIDPLUS",
                "MOVE",
                "UNSELECT",
                "CHILDREN",
                "SPECIAL-USE",
                "QUOTA",
                "QUOTA=RES-STORAGE",
                "QUOTA=RES-MESSAGE",
                "ESEARCH",
                "CONDSTORE",
                "LIST-EXTENDED",
                "LIST-STATUS",
            ]);
        }
        caps.join(" ")
    }

    fn auth_allowed(&self) -> bool {
        self.settings.tls_active || self.settings.plaintext_auth
    }

    /// The answer to a `Login` event.
    pub fn login_result(&mut self, tag: &str, ok: bool) {
        if ok {
            self.state = State::Authenticated;
            let caps = self.capabilities();
            self.write(&reply::tagged(
                tag,
                Status::Ok,
                &format!("CAPABILITY {caps}"),
                "logged in",
            ));
        } else {
            self.write(&reply::tagged(
                tag,
                Status::No,
                "AUTHENTICATIONFAILED",
                "invalid credentials",
            ));
        }
    }

    /// The TLS handshake after STARTTLS succeeded. Anything the client sent before it
    /// (pipelined after STARTTLS, in plain text) is thrown away.
    pub fn tls_started(&mut self) {
        self.settings.tls_active = true;
        self.settings.starttls = false;
        self.frag = Fragmentizer::new(self.settings.max_command_size);
    }

    /// SELECT/EXAMINE opened a mailbox (or `None`: it failed, back to Authenticated).
    pub fn select_done(&mut self, read_only: Option<bool>) {
        self.state = match read_only {
            Some(read_only) => State::Selected { read_only },
            None => State::Authenticated,
        };
    }

    /// CLOSE/UNSELECT: back to Authenticated.
    pub fn unselect(&mut self) {
        self.state = State::Authenticated;
    }

    /// The next thing to do; call until `NeedInput`, `Close` or a caller-handled event.
    pub fn next_event(&mut self) -> Event {
        loop {
            if self.state == State::Logout {
                return Event::Close;
            }
            let Some(fragment) = self.frag.progress() else {
                return Event::NeedInput;
            };
            if let FragmentInfo::Line {
                announcement: Some(LiteralAnnouncement { mode, length }),
                ..
            } = fragment
            {
                self.literal_announced(mode, length);
                continue;
            }
            if !self.frag.is_message_complete() {
                continue;
            }
            if let Some(e) = self.message() {
                return e;
            }
        }
    }

    /// A `{n}` or `{n+}` at the end of a line: accept (`+` for a synchronising one) or refuse.
    fn literal_announced(&mut self, mode: LiteralMode, length: u32) {
        // Before login only LOGIN/AUTHENTICATE take literals: keep them small.
        let limit = match self.state {
            State::NotAuthenticated => PREAUTH_LITERAL_MAX,
            _ => self.settings.max_command_size,
        };
        let fits = length <= limit;
        match (mode, fits) {
            (LiteralMode::Sync, true) => self.write(&reply::continuation("go ahead")),
            (LiteralMode::Sync, false) => {
                let tag = self.frag.decode_tag().map(|t| t.as_ref().to_string());
                self.write(&reply::tagged(
                    tag.as_deref().unwrap_or("*"),
                    Status::No,
                    "TOOBIG",
                    "literal too big",
                ));
                self.frag.skip_message();
            }
            // A LITERAL+ literal arrives anyway; the fragmentizer drops what is over the
            // limit and the decode reports MessageTooLong.
            (LiteralMode::NonSync, _) => {}
        }
    }

    /// One whole message (command, SASL response or DONE) is buffered.
    fn message(&mut self) -> Option<Event> {
        match std::mem::replace(&mut self.mode, Mode::Command) {
            Mode::Command => self.command(),
            Mode::SaslResponse(tag) => self.sasl_response(tag),
            Mode::Idle(tag) => {
                if self.frag.decode_message(&IdleDoneCodec::default()).is_ok() {
                    self.write(&reply::tagged(&tag, Status::Ok, "", "IDLE terminated"));
                } else {
                    self.write(&reply::tagged(&tag, Status::Bad, "", "expected DONE"));
                }
                None
            }
        }
    }

    fn command(&mut self) -> Option<Event> {
        if self.frag.is_max_message_size_exceeded() {
            let tag = self.frag.decode_tag().map(|t| t.as_ref().to_string());
            let tag = tag.unwrap_or_else(|| "*".into());
            self.write(&reply::tagged(
                &tag,
                Status::No,
                "TOOBIG",
                "command too long",
            ));
            return None;
        }
        if let Some(parsed) = list_ext::parse(self.frag.message_bytes()) {
            let tag = self.frag.decode_tag().map(|t| t.as_ref().to_string());
            let tag = tag.unwrap_or_else(|| "*".into());
            return match parsed {
                Err(e) => self.bad(&tag, &e),
                Ok(_) if !matches!(self.state, State::Authenticated | State::Selected { .. }) => {
                    self.bad(&tag, "LIST not allowed now")
                }
                Ok(list) => {
                    self.commands += 1;
                    self.errors = 0;
                    Some(Event::ListExtended { tag, list })
                }
            };
        }
        let (decoded, esearch) = match esearch::split_return(self.frag.message_bytes()) {
            None => (
                self.frag
                    .decode_message(&CommandCodec::default())
                    .map(|c| c.into_static())
                    .map_err(|_| ()),
                None,
            ),
            Some(Ok((bytes, ret))) => (
                CommandCodec::default()
                    .decode(&bytes)
                    .map(|(_, c)| c.into_static())
                    .map_err(|_| ()),
                Some(ret),
            ),
            Some(Err(e)) => {
                let tag = self.frag.decode_tag().map(|t| t.as_ref().to_string());
                return self.bad(tag.as_deref().unwrap_or("*"), &e);
            }
        };
        let Command { tag, body } = match decoded {
            Ok(c) => c,
            Err(_) => {
                let tag = self.frag.decode_tag().map(|t| t.as_ref().to_string());
                return self.bad(tag.as_deref().unwrap_or("*"), "syntax error");
            }
        };
        let tag = tag.as_ref().to_string();
        self.commands += 1;
        if !self.allowed(&body) {
            let name = body.name();
            return self.bad(&tag, &format!("{name} not allowed now"));
        }
        self.errors = 0;
        if let (Some(ret), CommandBody::Search { .. }) = (esearch, &body) {
            return Some(Event::Command {
                tag,
                body,
                esearch: Some(ret),
            });
        }
        self.dispatch(tag, body)
    }

    /// Which commands each state accepts (RFC 3501 section 6).
    fn allowed(&self, body: &CommandBody) -> bool {
        use CommandBody as C;
        let any = matches!(body, C::Capability | C::Noop | C::Logout | C::Id { .. });
        let not_auth = matches!(body, C::StartTLS | C::Login { .. } | C::Authenticate { .. });
        let auth = matches!(
            body,
            C::Select { .. }
                | C::Examine { .. }
                | C::Create { .. }
                | C::Delete { .. }
                | C::Rename { .. }
                | C::Subscribe { .. }
                | C::Unsubscribe { .. }
                | C::List { .. }
                | C::Lsub { .. }
                | C::Status { .. }
                | C::Append { .. }
                | C::Idle
                | C::Enable { .. }
                | C::Namespace
                | C::GetQuota { .. }
                | C::GetQuotaRoot { .. }
                | C::SetQuota { .. }
        );
        let selected = matches!(
            body,
            C::Check
                | C::Close
                | C::Unselect
                | C::Expunge
                | C::ExpungeUid { .. }
                | C::Search { .. }
                | C::Fetch { .. }
                | C::Store { .. }
                | C::Copy { .. }
                | C::Move { .. }
        );
        match self.state {
            State::NotAuthenticated => any || not_auth,
            State::Authenticated => any || auth,
            State::Selected { .. } => any || auth || selected,
            State::Logout => false,
        }
    }

    fn dispatch(&mut self, tag: String, body: CommandBody<'static>) -> Option<Event> {
        use CommandBody as C;
        match body {
            C::Capability => {
                let caps = self.capabilities();
                self.write(&reply::untagged(&format!("CAPABILITY {caps}")));
                self.ok(&tag, "CAPABILITY completed")
            }
            C::Logout => {
                self.write(&reply::bye("logging out"));
                self.ok(&tag, "LOGOUT completed");
                self.state = State::Logout;
                Some(Event::Close)
            }
            C::Id { .. } => {
                self.write(&reply::untagged("ID (\"name\" \"imapd\")"));
                self.ok(&tag, "ID completed")
            }
            C::Enable { capabilities } => {
                let mut line = String::from("ENABLED");
                // RFC 5161: only what this command newly enabled; unknown names are ignored.
                for c in capabilities.as_ref() {
                    let name = c.to_string();
                    let (flag, canonical) = if name.eq_ignore_ascii_case("CONDSTORE") {
                        (&mut self.condstore, "CONDSTORE")
                    } else if name.eq_ignore_ascii_case("IMAP4rev2") {
                        (&mut self.rev2, "IMAP4rev2")
                    } else {
                        continue;
                    };
                    if !std::mem::replace(flag, true) {
                        line.push(' ');
                        line.push_str(canonical);
                    }
                }
                self.write(&reply::untagged(&line));
                self.ok(&tag, "ENABLE completed")
            }
            C::Namespace => {
                self.write(&reply::untagged("NAMESPACE ((\"\" \".\")) NIL NIL"));
                self.ok(&tag, "NAMESPACE completed")
            }
            C::StartTLS => {
                if !self.settings.starttls || self.settings.tls_active {
                    return self.bad(&tag, "STARTTLS not available");
                }
                self.ok(&tag, "begin TLS negotiation now");
                Some(Event::StartTls)
            }
            C::Login { username, password } => {
                let user = String::from_utf8_lossy(username.as_ref()).into_owned();
                let pass = String::from_utf8_lossy(password.declassify().as_ref()).into_owned();
                self.login(tag, user, pass)
            }
            C::Authenticate {
                mechanism,
                initial_response,
            } => {
                if mechanism != AuthMechanism::Plain {
                    self.write(&reply::tagged(
                        &tag,
                        Status::No,
                        "",
                        "unsupported mechanism",
                    ));
                    return None;
                }
                match initial_response {
                    Some(r) => self.plain(tag, r.declassify()),
                    None if !self.auth_allowed() => self.login(tag, String::new(), String::new()),
                    None => {
                        self.write(&reply::continuation(""));
                        self.mode = Mode::SaslResponse(tag);
                        None
                    }
                }
            }
            C::Idle => {
                self.write(&reply::continuation("idling"));
                self.mode = Mode::Idle(tag);
                Some(Event::Idle)
            }
            C::Noop if self.state == State::NotAuthenticated => self.ok(&tag, "NOOP completed"),
            body => Some(Event::Command {
                tag,
                body,
                esearch: None,
            }),
        }
    }

    fn sasl_response(&mut self, tag: String) -> Option<Event> {
        let data = self
            .frag
            .decode_message(&AuthenticateDataCodec::default())
            .map(|d| d.into_static());
        match data {
            Ok(AuthenticateData::Continue(r)) => self.plain(tag, r.declassify()),
            Ok(AuthenticateData::Cancel) => self.bad(&tag, "authentication cancelled"),
            Err(_) => self.bad(&tag, "invalid base64"),
        }
    }

    /// SASL PLAIN: `authzid NUL authcid NUL password`; an authzid other than the user is refused.
    fn plain(&mut self, tag: String, data: &[u8]) -> Option<Event> {
        let (user, pass) = match crate::sasl::decode_plain(data) {
            Ok(up) => up,
            Err(crate::sasl::PlainError::Malformed) => {
                return self.bad(&tag, "malformed PLAIN response")
            }
            Err(crate::sasl::PlainError::ProxyLogin) => {
                self.write(&reply::tagged(
                    &tag,
                    Status::No,
                    "AUTHORIZATIONFAILED",
                    "no proxy login",
                ));
                return None;
            }
        };
        self.login(tag, user, pass)
    }

    fn login(&mut self, tag: String, user: String, password: String) -> Option<Event> {
        if !self.auth_allowed() {
            self.write(&reply::tagged(
                &tag,
                Status::No,
                "PRIVACYREQUIRED",
                "use STARTTLS first",
            ));
            return None;
        }
        Some(Event::Login {
            tag,
            user,
            password,
        })
    }

    fn ok(&mut self, tag: &str, text: &str) -> Option<Event> {
        self.write(&reply::tagged(tag, Status::Ok, "", text));
        None
    }

    fn bad(&mut self, tag: &str, text: &str) -> Option<Event> {
        self.errors += 1;
        self.write(&reply::tagged(tag, Status::Bad, "", text));
        if self.errors >= self.settings.max_errors {
            self.write(&reply::bye("too many errors"));
            self.state = State::Logout;
            return Some(Event::Close);
        }
        None
    }
}
