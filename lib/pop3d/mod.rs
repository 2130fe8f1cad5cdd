//! pop3d: the POP3 server program, one process per connection (inetd style).
//!
//! Contract: `pop3d [--config FILE] [--tls]`. The conversation is on fd 0 (read) and fd 1
//! (write), a socket from `mail-launch` or systemd (`Accept=yes`); client facts come from
//! `peer::Peer::detect`. `--tls` is implicit TLS (port 995); otherwise STLS is offered when
//! the config has a `[tls]` section. USER/PASS and AUTH PLAIN are refused before TLS unless
//! the client is on loopback and `smtpd.allow_plaintext_auth_on_loopback` is set (pop3d has
//! no config section of its own yet and reads limits from `[smtpd]`: `max_errors`). Users
//! come from `users_file`; failed logins are answered after a delay growing by one second
//! per failure (at most 5). The idle timeout is RFC 1939's ten minutes.
//!
//! Runs as whoever started it (systemd `User=`, or mail-launch's `run_as`); it does not
//! switch users after login yet.
//!
//! Log lines: `connect from=<ip>`, `login user=<u> client=<ip> messages=<n>`, `auth failed
//! user=<u> client=<ip>`, `logout user=<u> retr=<n> dele=<n>`, `disconnect from=<ip>`.
//! Owns the I/O, TLS, timeouts and the maildrop (`maildrop`) around the sans-I/O
//! `pop3::Session`; owns no protocol logic. Errors: `pop3d::Error` for what stops the program
//! before a session (TLS files for `--tls`); a client that vanishes or idles out is a normal
//! end, and deletes nothing.

pub mod maildrop;

use std::time::Duration;

use crate::config::Config;
use crate::conn::{self, Conn, Opened};
use crate::mlog;
use crate::pop3::{reply, Event, LoginError, RetrieveError, Session, Settings};
use crate::users::UserDb;
use maildrop::{Maildrop, Open};

/// RFC 1939 3: the autologout timer is at least 10 minutes.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// Longest command line taken (RFC 2449 allows 255 octets; AUTH responses may be longer).
pub const MAX_LINE: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(String),
}

/// Serves one POP3 session on fd 0/1 until QUIT, EOF, too many errors or the idle timeout.
pub fn run(cfg: &Config, implicit_tls: bool) -> Result<(), Error> {
    let (peer, ip) = conn::begin();
    let Some(Opened { conn, tls }) =
        conn::open(cfg, implicit_tls, IDLE_TIMEOUT, &ip).map_err(Error::Config)?
    else {
        return Ok(());
    };
    let settings = Settings {
        hostname: cfg.hostname.clone(),
        stls: tls.is_some(),
        tls_active: conn.is_tls(),
        plaintext_auth: peer.is_loopback() && cfg.smtpd.allow_plaintext_auth_on_loopback,
        max_errors: cfg.smtpd.max_errors.max(1),
        max_line: MAX_LINE,
    };
    let mut d = Driver {
        cfg,
        ip,
        conn,
        tls,
        users: None,
        session: Session::new(settings),
        user: None,
        maildrop: None,
        auth_failures: 0,
        deleted: 0,
    };
    let why = d.event_loop().err();
    d.finish(why);
    Ok(())
}

struct Driver<'a> {
    cfg: &'a Config,
    ip: String,
    conn: Conn,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    users: Option<UserDb>,
    session: Session,
    user: Option<String>,
    maildrop: Option<Maildrop>,
    auth_failures: u32,
    deleted: usize,
}

/// Why the session ended without QUIT.
struct Gone(String);

impl Driver<'_> {
    fn event_loop(&mut self) -> Result<(), Gone> {
        loop {
            match self.session.next_event() {
                Event::NeedInput => self.read_more()?,
                Event::Login { user, password } => {
                    let r = self.login(&user, &password)?;
                    self.session.login_result(r);
                }
                Event::StartTls => self.handshake()?,
                Event::Retrieve { index, .. } => self.retrieve(index),
                Event::Update { deletions } => {
                    let failed = match &self.maildrop {
                        Some(m) => m.delete_marked(&deletions),
                        None => 0,
                    };
                    self.deleted = deletions.len() - failed;
                    // Unlock before +OK so the client's next session never meets [IN-USE].
                    self.maildrop = None;
                    self.session.update_result(failed);
                }
                Event::Flush => self.flush()?,
                Event::Close => return self.flush(),
                Event::Awaiting => return Err(Gone("internal error: unanswered".into())),
            }
        }
    }

    fn finish(&mut self, why: Option<Gone>) {
        if let Some(Gone(why)) = &why {
            mlog!("{why} from={}", self.ip);
        }
        if let Some(user) = &self.user {
            mlog!(
                "logout user={user} retr={} dele={}{}",
                self.session.retrieved(),
                self.deleted,
                if why.is_some() {
                    " (no QUIT, nothing deleted)"
                } else {
                    ""
                }
            );
        }
        mlog!("disconnect from={}", self.ip);
    }

    fn flush(&mut self) -> Result<(), Gone> {
        if !self.session.has_output() {
            return Ok(());
        }
        let data = self.session.take_output();
        self.conn
            .write_all(&data)
            .map_err(|e| Gone(format!("lost connection ({e})")))
    }

    fn read_more(&mut self) -> Result<(), Gone> {
        self.flush()?;
        let mut buf = [0u8; 16 * 1024];
        match self.conn.read(&mut buf) {
            Ok(0) => Err(Gone("lost connection".into())),
            Ok(n) => {
                self.session.feed(&buf[..n]);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                let _ = self.conn.write_all(reply::idle_timeout().as_bytes());
                Err(Gone("idle timeout".into()))
            }
            Err(e) => Err(Gone(format!("lost connection ({e})"))),
        }
    }

    fn handshake(&mut self) -> Result<(), Gone> {
        self.flush()?;
        let Some(config) = self.tls.clone() else {
            return Err(Gone("internal error: no TLS config".into()));
        };
        if let Err(e) = self.conn.start_tls(config) {
            return Err(Gone(format!("TLS handshake failed ({e})")));
        }
        mlog!(
            "TLS established from={}: {}",
            self.ip,
            self.conn.tls_info().as_deref().unwrap_or("?")
        );
        self.session.tls_started();
        Ok(())
    }

    /// Checks the password, then locks and lists the maildrop. Failures are answered after a
    /// delay growing with each one; the password never reaches the log.
    fn login(
        &mut self,
        user: &str,
        password: &str,
    ) -> Result<Result<Vec<crate::pop3::MsgInfo>, LoginError>, Gone> {
        if self.users.is_none() {
            match UserDb::load(&self.cfg.users_file) {
                Ok(db) => self.users = Some(db),
                Err(e) => {
                    mlog!("warning: users file unavailable: {e}");
                    return Ok(Err(LoginError::Temporary(
                        "user database unavailable".into(),
                    )));
                }
            }
        }
        let ok = self
            .users
            .as_ref()
            .is_some_and(|db| db.verify(user, password));
        if !ok {
            self.auth_failures += 1;
            mlog!("auth failed user={user} client={}", self.ip);
            self.flush()?;
            std::thread::sleep(Duration::from_secs(u64::from(self.auth_failures.min(5))));
            return Ok(Err(LoginError::Failed));
        }
        let user = user.to_ascii_lowercase();
        let Some(root) = self.cfg.maildir_path(&user) else {
            mlog!("error: no safe Maildir path for user={user}");
            return Ok(Err(LoginError::Temporary("mailbox unavailable".into())));
        };
        match Maildrop::open(&root) {
            Ok(m) => {
                mlog!(
                    "login user={user} client={} messages={}",
                    self.ip,
                    m.infos.len()
                );
                let infos = m.infos.clone();
                self.maildrop = Some(m);
                self.user = Some(user);
                Ok(Ok(infos))
            }
            Err(Open::InUse) => {
                mlog!("reject: mailbox in use user={user} client={}", self.ip);
                Ok(Err(LoginError::InUse))
            }
            Err(Open::Failed(e)) => {
                mlog!("error: open mailbox user={user}: {e}");
                Ok(Err(LoginError::Temporary(
                    "mailbox unavailable, try later".into(),
                )))
            }
        }
    }

    fn retrieve(&mut self, index: usize) {
        let r = match self.maildrop.as_ref().map(|m| m.read(index)) {
            Some(Ok(Some(msg))) => {
                self.session.retrieve_result(Ok(&msg));
                return;
            }
            Some(Ok(None)) => Err(RetrieveError::Gone),
            Some(Err(e)) => {
                mlog!("error: read message: {e}");
                Err(RetrieveError::Temporary(
                    "cannot read message, try later".into(),
                ))
            }
            None => Err(RetrieveError::Temporary("no maildrop".into())),
        };
        self.session.retrieve_result(r);
    }
}
