//! smtpd: the SMTP server program, one process per connection (inetd style).
//!
//! Contract: the SMTP conversation is on fd 0 (read) and fd 1 (write) – one socket from
//! `mail-launch` or systemd (`Accept=yes`), or two pipes. Client facts come from
//! `peer::Peer::detect` (`REMOTE_IP`… or getpeername). Logs go to stderr, one line per event.
//! Roles (`--role`): `mx` (port 25: local recipients only, relay only after AUTH),
//! `submission` (587: AUTH required before MAIL, AUTH only after STARTTLS unless a loopback
//! client and `allow_plaintext_auth_on_loopback`), `submissions` (465: TLS from the first byte).
//! A message is answered `250` only after `spool` committed it to `incoming/` (fsynced).
//! Owns the I/O, TLS, timeouts and policy around the sans-I/O `smtp::Session`; owns no
//! protocol logic. Errors: `smtpd::Error` for what stops the program before or outside a
//! session (config, TLS files); a client that vanishes or times out is a normal end.
//!
//! Policy around the session (`[policy]`): access lists and DNSBL at connect, MAIL and RCPT
//! (`gate`), rate limits at MAIL and RCPT (`limits`), DMARC p=reject after DATA (`dmarc`);
//! their replies are in `refusals`; a client refused at connect is served by `refuse`.

mod dmarc;
pub mod enqueue;
pub mod gate;
pub mod limits;
pub mod policy;
pub mod refusals;
mod refuse;

use std::time::{Duration, SystemTime};

use crate::config::Config;
use crate::conn::{self, Conn, Opened};
use crate::directory::Directory;
use crate::mlog;
use crate::smtp::{reply, Event, Message, Reply, Session, Settings};
use crate::users::UserDb;

/// Which port's rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Port 25: mail for our users from the world.
    Mx,
    /// Port 587: users sending, AUTH required, STARTTLS.
    Submission,
    /// Port 465: like submission, TLS from the first byte.
    Submissions,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(String),
}

/// Serves one SMTP session on fd 0/1 until QUIT, 421, EOF or timeout.
pub fn run(cfg: &Config, role: Role) -> Result<(), Error> {
    let (peer, ip) = conn::begin();
    let Some(Opened { mut conn, tls }) = conn::open(
        cfg,
        role == Role::Submissions,
        cfg.smtpd.command_timeout,
        &ip,
    )
    .map_err(Error::Config)?
    else {
        mlog!("disconnect from={ip} commands=0 errors=0");
        return Ok(());
    };
    let gate = match gate::Gate::connect(cfg, role, peer.remote_ip(), &ip) {
        Ok(g) => g,
        Err(r) => {
            mlog!("reject: CONNECT from={ip}: {r}");
            refuse::serve(cfg, &mut conn, &r);
            mlog!("disconnect from={ip} commands=0 errors=1");
            return Ok(());
        }
    };
    let limits = limits::Limits::new(cfg, peer.remote_ip());
    let directory = match Directory::load(cfg) {
        Ok(d) => Some(d),
        Err(e) => {
            mlog!("warning: directory unavailable, recipients deferred: {e}");
            None
        }
    };
    let settings = Settings {
        hostname: cfg.hostname.clone(),
        max_message_size: cfg.smtpd.max_message_size,
        max_recipients: cfg.smtpd.max_recipients,
        max_errors: cfg.smtpd.max_errors,
        starttls: cfg.tls.is_some() && role != Role::Submissions,
        tls_active: conn.is_tls(),
        auth: true,
        plaintext_auth: peer.is_loopback() && cfg.smtpd.allow_plaintext_auth_on_loopback,
        auth_required: role != Role::Mx,
    };
    let mut d = Driver {
        cfg,
        role,
        ip,
        tls_info: conn.tls_info(),
        conn,
        tls,
        directory,
        users: None,
        session: Session::new(settings),
        out: Vec::new(),
        auth_failures: 0,
        gate,
        limits,
        sender: String::new(),
        accepted: 0,
    };
    d.serve();
    mlog!(
        "disconnect from={} commands={} errors={}",
        d.ip,
        d.session.commands(),
        d.session.errors()
    );
    Ok(())
}

struct Driver<'a> {
    cfg: &'a Config,
    role: Role,
    ip: String,
    conn: Conn,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    tls_info: Option<String>,
    directory: Option<Directory>,
    users: Option<UserDb>,
    session: Session,
    out: Vec<u8>,
    auth_failures: u32,
    gate: gate::Gate,
    limits: limits::Limits,
    /// The current transaction's sender and number of accepted recipients.
    sender: String,
    accepted: usize,
}

/// Why the session loop stopped early.
enum Stop {
    Gone(String),
}

impl Driver<'_> {
    fn serve(&mut self) {
        if let Err(Stop::Gone(why)) = self.event_loop() {
            let after = if self.session.in_data() {
                "DATA"
            } else {
                self.session.last_verb()
            };
            mlog!("{why} after {after} from={}", self.ip);
        }
    }

    fn event_loop(&mut self) -> Result<(), Stop> {
        loop {
            match self.session.next_event() {
                Event::Reply(r) => self.queue_reply(&r),
                Event::NeedInput => self.read_more()?,
                Event::Mail(m) => {
                    let r = self.mail(&m.sender.text);
                    if r.is_ok() {
                        self.sender = m.sender.text.clone();
                        self.accepted = 0;
                    }
                    self.session.mail_result(r);
                }
                Event::Recipient(addr) => {
                    let r = self.recipient(&addr);
                    if r.is_ok() {
                        self.accepted += 1;
                    }
                    self.session.recipient_result(r);
                }
                Event::Auth { user, password } => {
                    let r = self.authenticate(&user, &password)?;
                    self.session.auth_result(r);
                }
                Event::StartTls => {
                    let r = match self.tls {
                        Some(_) => Ok(()),
                        None => Err(reply::tls_unavailable_temporarily()),
                    };
                    self.session.starttls_result(r);
                }
                Event::Handshake => self.handshake()?,
                Event::Message(m) => {
                    let r = self.message(&m);
                    self.session.message_result(r);
                }
                Event::Close => return self.flush(),
                Event::Awaiting => return Err(Stop::Gone("internal error: unanswered".into())),
            }
        }
    }

    /// MAIL FROM: block list, sender ownership, message rate.
    fn mail(&self, sender: &str) -> Result<(), Reply> {
        let user = self.session.auth_user();
        self.gate.sender(sender, user.is_some())?;
        policy::sender(self.cfg, self.directory.as_ref(), user, sender)?;
        self.limits.mail(user)
    }

    /// RCPT TO: local or relay rules, the recipient's block list, recipient rate.
    fn recipient(&self, addr: &str) -> Result<(), Reply> {
        let user = self.session.auth_user();
        let dir = self.directory.as_ref();
        policy::recipient(self.cfg, dir, addr, user.is_some())?;
        if let Some(d) = dir {
            let canonical = policy::canonical_recipient(self.cfg, addr);
            d.may_post(&self.sender, &canonical)
                .map_err(|_| refusals::list_members_only(&canonical))?;
        }
        self.gate.recipient(self.cfg, dir, addr, &self.sender)?;
        self.limits.recipient(user, self.accepted)
    }

    /// End of data: DMARC p=reject (if configured; an allow-listed sender or client passes),
    /// then the spool; a queued message counts against the rate limits.
    fn message(&mut self, m: &Message) -> Reply {
        let user = self.session.auth_user();
        let allowed = self.gate.allowlisted(&m.sender);
        if let Some(r) = dmarc::check(self.cfg, &self.ip, self.session.helo(), user, m) {
            if !allowed {
                return r;
            }
            mlog!(
                "dmarc: from={} sender=<{}> allow-listed, accepted",
                self.ip,
                m.sender
            );
        }
        let r = self.enqueue(m);
        if r.code == 250 {
            self.limits
                .record(self.session.auth_user(), m.recipients.len());
        }
        r
    }

    fn queue_reply(&mut self, r: &Reply) {
        if r.is_error() {
            let verb = self.session.last_verb();
            let arg = self.session.last_arg();
            let what = match verb {
                "RCPT" => format!(" to=<{arg}>"),
                "MAIL" => format!(" sender=<{arg}>"),
                _ => String::new(),
            };
            mlog!("reject: {verb} from={}{what}: {r}", self.ip);
        }
        self.out.extend(r.to_bytes());
    }

    fn flush(&mut self) -> Result<(), Stop> {
        if self.out.is_empty() {
            return Ok(());
        }
        let data = std::mem::take(&mut self.out);
        self.conn
            .write_all(&data)
            .map_err(|e| Stop::Gone(format!("lost connection ({e})")))
    }

    fn read_more(&mut self) -> Result<(), Stop> {
        self.flush()?;
        let t = if self.session.in_data() {
            self.cfg.smtpd.data_timeout
        } else {
            self.cfg.smtpd.command_timeout
        };
        self.conn.set_timeout(t);
        let mut buf = vec![0u8; 64 * 1024];
        match self.conn.read(&mut buf) {
            Ok(0) => Err(Stop::Gone("lost connection".into())),
            Ok(n) => {
                self.session.feed(&buf[..n]);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                let _ = self
                    .conn
                    .write_all(&reply::timeout(&self.cfg.hostname).to_bytes());
                Err(Stop::Gone("timeout".into()))
            }
            Err(e) => Err(Stop::Gone(format!("lost connection ({e})"))),
        }
    }

    fn handshake(&mut self) -> Result<(), Stop> {
        self.flush()?;
        let Some(config) = self.tls.clone() else {
            return Err(Stop::Gone("internal error: no TLS config".into()));
        };
        self.conn.set_timeout(self.cfg.smtpd.command_timeout);
        if let Err(e) = self.conn.start_tls(config) {
            return Err(Stop::Gone(format!("TLS handshake failed ({e})")));
        }
        self.tls_info = self.conn.tls_info();
        mlog!(
            "TLS established from={}: {}",
            self.ip,
            self.tls_info.as_deref().unwrap_or("?")
        );
        self.session.tls_started();
        Ok(())
    }

    /// Checks credentials; a failure is answered after a delay growing with each failure.
    fn authenticate(&mut self, user: &str, password: &str) -> Result<Result<(), Reply>, Stop> {
        if self.users.is_none() {
            match UserDb::load(&self.cfg.users_file) {
                Ok(db) => self.users = Some(db),
                Err(e) => {
                    mlog!("warning: users file unavailable: {e}");
                    return Ok(Err(reply::auth_temp_failure()));
                }
            }
        }
        if self
            .users
            .as_ref()
            .is_some_and(|db| db.verify(user, password))
        {
            mlog!("auth ok user={user} client={}", self.ip);
            return Ok(Ok(()));
        }
        self.auth_failures += 1;
        mlog!("auth failed user={user} client={}", self.ip);
        self.flush()?;
        std::thread::sleep(Duration::from_secs(u64::from(self.auth_failures.min(5))));
        Ok(Err(reply::auth_failed()))
    }

    fn enqueue(&mut self, m: &Message) -> Reply {
        let authed = self.session.auth_user().is_some();
        let client = enqueue::Client {
            ip: &self.ip,
            helo: self.session.helo().unwrap_or("unknown"),
            esmtp: self.session.esmtp(),
            tls: self.tls_info.as_deref(),
            auth_user: self.session.auth_user(),
            submission: self.role != Role::Mx,
            // An authenticated client is not scored for where it connects from.
            dnsbl_hits: if authed { &[] } else { &self.gate.dnsbl_hits },
            dnswl_hits: if authed { &[] } else { &self.gate.dnswl_hits },
            allowlisted: !authed && self.gate.allowlisted(&m.sender),
        };
        match enqueue::enqueue(self.cfg, &client, m, SystemTime::now()) {
            Ok(id) => {
                mlog!(
                    "{id}: client={} helo={} from=<{}> size={} nrcpt={} auth={}",
                    self.ip,
                    client.helo,
                    m.sender,
                    m.body.len(),
                    m.recipients.len(),
                    client.auth_user.unwrap_or("-")
                );
                // One line per recipient, in the form `mailctl log search` reads (a later
                // delivery line for the same recipient supersedes `received`).
                for rcpt in &m.recipients {
                    mlog!("{id}: to=<{rcpt}> status=received");
                }
                reply::queued(&id)
            }
            Err(e) => {
                mlog!("error: enqueue failed from={}: {e}", self.ip);
                reply::queue_failed()
            }
        }
    }
}
