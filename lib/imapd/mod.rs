//! imapd: the IMAP server program, one process per connection (inetd style).
//!
//! Contract: the IMAP conversation is on fd 0 (read) and fd 1 (write) – one socket from
//! `mail-launch` or systemd (`Accept=yes`), or two pipes. Client facts come from
//! `peer::Peer::detect`. `--tls` (port 993) starts TLS on the first byte; otherwise STARTTLS is
//! offered when `[tls]` is configured. LOGIN/AUTHENTICATE need TLS unless the client is on
//! loopback and `smtpd.allow_plaintext_auth_on_loopback` is set (LOGINDISABLED otherwise).
//! Users are checked against `users_file`; the Maildir is `Config::maildir_path(user)`, made at
//! login when missing, with the SPECIAL-USE folders Sent, Drafts, Trash, Junk and Archive.
//! Runs as whoever started it (systemd `User=mail`, or mail-launch's `run_as`); it does not
//! switch users itself.
//! Failed logins are answered after a delay growing by a second each (up to 5 s), and the
//! fifth closes the connection. Logs: one line per event on stderr (`login user=… client=…`,
//! `auth failed …`, never a password). Timeouts: `smtpd.command_timeout_secs` before login,
//! then 30 minutes without a command (RFC 3501 autologout), IDLE included.
//!
//! Owns the I/O, TLS, timeouts and login around the sans-I/O `imap::Session`, and hands
//! mailbox commands to `commands`. Errors: `imapd::Error` for what stops the program before a
//! session (config, TLS files); a client that vanishes or times out is a normal end.

mod append;
mod commands;
mod fetch;
mod idle;
mod keywords;
mod list;
mod list_ext;
mod mailbox;
mod names;
mod quota;
mod search;
mod section;
mod select;
mod store;
mod structure;
#[cfg(test)]
mod transcripts;

use std::time::Duration;

use crate::config::Config;
use crate::conn::{self, Conn, Opened};
use crate::imap::reply::{self, Status};
use crate::imap::{Event, Session, Settings};
use crate::maildir::{FolderName, Maildir};
use crate::mlog;
use crate::users::UserDb;

/// RFC 3501 5.4: an autologout timer must be at least 30 minutes.
pub const AUTOLOGOUT: Duration = Duration::from_secs(30 * 60);

/// Failed logins on one connection before it is closed.
pub const MAX_AUTH_FAILURES: u32 = 5;

/// Folders every account gets on first login, with their RFC 6154 attribute.
pub const SPECIAL_USE: [(&str, &str); 5] = [
    ("Sent", "\\Sent"),
    ("Drafts", "\\Drafts"),
    ("Trash", "\\Trash"),
    ("Junk", "\\Junk"),
    ("Archive", "\\Archive"),
];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(String),
}

/// A logged-in user's mailbox store and, in Selected state, the open mailbox.
pub struct Account {
    pub user: String,
    pub maildir: Maildir,
    pub selected: Option<mailbox::Selected>,
    /// Largest message APPEND takes.
    pub max_message_size: u64,
    /// Maildir++ quota policy for APPEND/COPY.
    pub quota: crate::maildir::quota::Policy,
}

/// Serves one IMAP session on fd 0/1 until LOGOUT, EOF or timeout.
pub fn run(cfg: &Config, implicit_tls: bool) -> Result<(), Error> {
    let (peer, ip) = conn::begin();
    let Some(Opened { conn, tls }) =
        conn::open(cfg, implicit_tls, AUTOLOGOUT, &ip).map_err(Error::Config)?
    else {
        return Ok(());
    };
    let settings = Settings {
        starttls: tls.is_some() && !implicit_tls,
        tls_active: conn.is_tls(),
        plaintext_auth: peer.is_loopback() && cfg.smtpd.allow_plaintext_auth_on_loopback,
        max_command_size: u32::try_from(cfg.smtpd.max_message_size + 64 * 1024).unwrap_or(u32::MAX),
        max_errors: cfg.smtpd.max_errors.max(3),
    };
    let greeting = format!("{} IMAP server ready", cfg.hostname);
    let mut d = Driver {
        cfg,
        ip,
        conn,
        tls,
        session: Session::new(settings, &greeting),
        account: None,
        auth_failures: 0,
    };
    let why = match d.event_loop() {
        Ok(()) => "logout".to_string(),
        Err(why) => why,
    };
    let user = d.account.as_ref().map_or("-", |a| a.user.as_str());
    mlog!(
        "disconnect from={} user={user} commands={} reason={why}",
        d.ip,
        d.session.commands()
    );
    Ok(())
}

struct Driver<'a> {
    cfg: &'a Config,
    ip: String,
    conn: Conn,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    session: Session,
    account: Option<Account>,
    auth_failures: u32,
}

impl Driver<'_> {
    /// Runs until LOGOUT (`Ok`) or the connection ends (`Err(reason)`).
    fn event_loop(&mut self) -> Result<(), String> {
        let mut pending: Option<Event> = None;
        loop {
            let event = match pending.take() {
                Some(e) => e,
                None => self.session.next_event(),
            };
            match event {
                Event::NeedInput => self.read_more()?,
                Event::Close => return self.flush(),
                Event::Login {
                    tag,
                    user,
                    password,
                } => {
                    let ok = self.login(&user, &password)?;
                    self.session.login_result(&tag, ok);
                    if self.auth_failures >= MAX_AUTH_FAILURES {
                        self.session.write(&reply::bye("too many failed logins"));
                        self.flush()?;
                        return Err("too many failed logins".into());
                    }
                }
                Event::StartTls => self.starttls()?,
                Event::Command { tag, body, esearch } => match self.account.as_mut() {
                    Some(account) => commands::run(&mut self.session, account, &tag, body, esearch),
                    None => {
                        self.session
                            .write(&reply::tagged(&tag, Status::Bad, "", "log in first"))
                    }
                },
                Event::ListExtended { tag, list } => match self.account.as_mut() {
                    Some(account) => {
                        commands::run_list_extended(&mut self.session, account, &tag, &list)
                    }
                    None => {
                        self.session
                            .write(&reply::tagged(&tag, Status::Bad, "", "log in first"))
                    }
                },
                Event::Idle => {
                    self.flush()?;
                    let Some(account) = self.account.as_mut() else {
                        return Err("internal error: IDLE before login".into());
                    };
                    pending = idle::run(&mut self.session, account, &mut self.conn)?;
                }
            }
        }
    }

    fn flush(&mut self) -> Result<(), String> {
        let data = self.session.take_output();
        if data.is_empty() {
            return Ok(());
        }
        self.conn
            .write_all(&data)
            .map_err(|e| format!("lost connection ({e})"))
    }

    fn read_more(&mut self) -> Result<(), String> {
        self.flush()?;
        // Before login a short leash (the SMTP command timeout); after it, RFC 3501's
        // 30-minute autologout.
        self.conn.set_timeout(match self.account {
            None => self.cfg.smtpd.command_timeout.min(AUTOLOGOUT),
            Some(_) => AUTOLOGOUT,
        });
        let mut buf = vec![0u8; 64 * 1024];
        match self.conn.read(&mut buf) {
            Ok(0) => Err("lost connection".into()),
            Ok(n) => {
                self.session.feed(&buf[..n]);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                let _ = self.conn.write_all(&reply::bye("autologout"));
                Err("timeout".into())
            }
            Err(e) => Err(format!("lost connection ({e})")),
        }
    }

    fn starttls(&mut self) -> Result<(), String> {
        self.flush()?;
        let Some(config) = self.tls.clone() else {
            return Err("internal error: no TLS config".into());
        };
        self.conn
            .start_tls(config)
            .map_err(|e| format!("TLS handshake failed ({e})"))?;
        mlog!(
            "TLS established from={}: {}",
            self.ip,
            self.conn.tls_info().as_deref().unwrap_or("?")
        );
        self.session.tls_started();
        Ok(())
    }

    /// Checks credentials and opens the Maildir; a failure is answered after a delay growing
    /// with each failure. `Ok(false)` is a refusal.
    fn login(&mut self, user: &str, password: &str) -> Result<bool, String> {
        let user = user.trim().to_lowercase();
        let verified = match UserDb::load(&self.cfg.users_file) {
            Ok(db) => db.verify(&user, password),
            Err(e) => {
                mlog!("warning: users file unavailable: {e}");
                false
            }
        };
        let maildir = self.cfg.maildir_path(&user).filter(|_| verified);
        let Some(root) = maildir else {
            self.auth_failures += 1;
            mlog!("auth failed user={user} client={}", self.ip);
            self.flush()?;
            std::thread::sleep(Duration::from_secs(u64::from(self.auth_failures.min(5))));
            return Ok(false);
        };
        let maildir = match open_account(&root) {
            Ok(m) => m,
            Err(e) => {
                mlog!("error: user={user} maildir {}: {e}", root.display());
                self.session.write(&reply::untagged_status(
                    Status::No,
                    "UNAVAILABLE",
                    "mailbox store unavailable",
                ));
                return Ok(false);
            }
        };
        mlog!("login user={user} client={}", self.ip);
        let quota = crate::maildir::quota::Policy {
            explicit: None,
            default: self
                .cfg
                .delivery
                .default_quota
                .map(crate::maildir::quota::Limit::bytes),
        };
        self.account = Some(Account {
            user,
            maildir,
            selected: None,
            max_message_size: self.cfg.smtpd.max_message_size,
            quota,
        });
        Ok(true)
    }
}

/// The user's Maildir, made with its special-use folders when missing (Dovecot's
/// `auto = create`), so a Maildir first made by local-deliver gets them too.
fn open_account(root: &std::path::Path) -> crate::maildir::Result<Maildir> {
    let maildir = Maildir::create(root)?;
    for (name, _) in SPECIAL_USE {
        if let Ok(f) = FolderName::parse(name) {
            maildir.create_folder(&f)?;
        }
    }
    Ok(maildir)
}
