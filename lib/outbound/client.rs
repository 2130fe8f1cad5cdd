//! The SMTP client protocol (RFC 5321, 3207 STARTTLS, 2920 PIPELINING, 1870 SIZE, 6152
//! 8BITMIME, 6531 SMTPUTF8, 3461 DSN, 8689 REQUIRETLS, 4954 AUTH PLAIN) as a sans-I/O state
//! machine: the driver (`session`) writes what a `Step` says, reads one reply per
//! `Step::Send`/`Step::Read`, runs the TLS handshake when told, and never decides anything.
//!
//! ```text
//! Greeting ─220─▶ Ehlo ─250─▶ [StartTls ─220─▶ handshake ─▶ Ehlo] ─▶ [Auth ─235─▶] Ready
//!              └─5xx─▶ Helo ─250─▶ Ready
//! Ready ─transaction─▶ Mail ─▶ Rcpt… ─▶ Data ─354─▶ Body ─▶ Ready      (RSET after a failed one)
//! Ready ─reset─▶ Rset ─250─▶ Ready          Ready ─quit─▶ Quit ─▶ Closed
//! ```
//!
//! With PIPELINING, MAIL and every RCPT go in one write. The message's 8-bit and UTF-8
//! needs and its size are checked against the peer's EHLO before anything is sent:
//! an 8-bit message to a peer without 8BITMIME fails with 5.6.3 (no downgrade: converting
//! MIME parts to quoted-printable would break any DKIM signature made before, and such peers
//! are rare), SMTPUTF8 needs the peer's SMTPUTF8 (5.6.7), a size over the peer's SIZE fails
//! with 5.3.4, REQUIRETLS needs verified TLS and the peer's REQUIRETLS (5.7.10).
//! A session-level failure (`Step::Fail`) means: try the next host.

pub use super::ehlo::Extensions;
use super::envelope::safe_param;
pub use super::envelope::{xtext, RcptSpec, Transaction};
use super::reply::Reply;
use crate::spool::RcptState;
use base64::Engine;

/// How the session treats TLS and authentication.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Name for EHLO/HELO.
    pub helo: String,
    /// Use STARTTLS when offered.
    pub starttls: bool,
    /// No mail without TLS and a verified certificate.
    pub require_tls: bool,
    /// AUTH PLAIN with (user, password) after TLS.
    pub auth: Option<(String, String)>,
}

/// A session-level failure: nothing of the transaction (if any) went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub state: RcptState,
    pub reply: String,
}

/// Which timeout applies to the reply awaited now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Greeting,
    Helo,
    Mail,
    Rcpt,
    DataInit,
    DataEnd,
}

#[derive(Debug)]
pub enum Step {
    /// Write these bytes, then read a reply and pass it to `on_reply`.
    Send(Vec<u8>),
    /// Read a reply and pass it to `on_reply`.
    Read,
    /// Run the TLS handshake, then call `tls_started`.
    StartTls,
    /// Write the message (dot-stuffed, ending in `.` CRLF), then read the reply.
    SendBody,
    /// Ready for a transaction.
    Ready,
    /// The transaction ended: one (state, reply) per recipient, in order.
    Done(Vec<(RcptState, String)>),
    /// The session cannot be used; try another host.
    Fail(Failure),
    /// QUIT answered (or the peer is gone).
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Handshake,
    Auth,
    Ready,
    Mail,
    Rcpt,
    Data,
    Body,
    /// RSET after a transaction that failed; results are then returned.
    RsetAfter,
    /// RSET probing a reused session.
    Probe,
    Quit,
    Closed,
}

pub struct Client {
    settings: Settings,
    state: State,
    pub ext: Extensions,
    tls: bool,
    /// Certificate verified (meaningful only when `tls`).
    pub verified: bool,
    /// Why the certificate was not verified, when it was not.
    pub verify_error: Option<String>,
    txn: Option<Txn>,
}

struct Txn {
    n: usize,
    pipelined: bool,
    /// Commands not yet sent (without PIPELINING): RCPT lines.
    rcpt_lines: Vec<String>,
    mail_reply: Option<Reply>,
    /// Replies read for RCPT so far.
    rcpt_seen: usize,
    accepted: Vec<usize>,
    results: Vec<Option<(RcptState, String)>>,
}

impl Client {
    /// A client that has just connected (the greeting comes next): `Step::Read`.
    pub fn new(settings: Settings) -> (Client, Step) {
        let c = Client {
            settings,
            state: State::Greeting,
            ext: Extensions::default(),
            tls: false,
            verified: false,
            verify_error: None,
            txn: None,
        };
        (c, Step::Read)
    }

    pub fn tls_active(&self) -> bool {
        self.tls
    }

    pub fn is_ready(&self) -> bool {
        self.state == State::Ready
    }

    pub fn phase(&self) -> Phase {
        match self.state {
            State::Greeting => Phase::Greeting,
            State::Mail => Phase::Mail,
            State::Rcpt => Phase::Rcpt,
            State::Data => Phase::DataInit,
            State::Body => Phase::DataEnd,
            _ => Phase::Helo,
        }
    }

    fn fail(&mut self, reply: &Reply, why: &str) -> Step {
        self.state = State::Closed;
        Step::Fail(Failure {
            state: match reply.code / 100 {
                5 => RcptState::Failed,
                _ => RcptState::Deferred,
            },
            reply: format!("{} ({why})", reply.one_line()),
        })
    }

    fn fail_temp(&mut self, reply: &str) -> Step {
        self.state = State::Closed;
        Step::Fail(Failure {
            state: RcptState::Deferred,
            reply: reply.to_string(),
        })
    }

    fn ehlo(&mut self) -> Step {
        self.state = State::Ehlo;
        Step::Send(format!("EHLO {}\r\n", self.settings.helo).into_bytes())
    }

    /// After EHLO (or a refused STARTTLS): TLS, then AUTH, then ready.
    fn after_hello(&mut self, starttls_refused: bool) -> Step {
        if !self.tls && self.ext.starttls && self.settings.starttls && !starttls_refused {
            self.state = State::StartTls;
            return Step::Send(b"STARTTLS\r\n".to_vec());
        }
        if self.settings.require_tls && !(self.tls && self.verified) {
            return self.fail_temp("451 4.7.4 TLS required but not available");
        }
        if let Some((user, pass)) = &self.settings.auth {
            if !self.ext.auth_plain {
                return self.fail_temp("451 4.7.0 peer offers no AUTH PLAIN");
            }
            let token = base64::engine::general_purpose::STANDARD
                .encode(format!("\0{user}\0{pass}").as_bytes());
            self.state = State::Auth;
            return Step::Send(format!("AUTH PLAIN {token}\r\n").into_bytes());
        }
        self.state = State::Ready;
        Step::Ready
    }

    /// The driver finished the TLS handshake; `verify` is the certificate check's result.
    pub fn tls_started(&mut self, verify: Result<(), String>) -> Step {
        if let Err(e) = &verify {
            if self.settings.require_tls {
                return self.fail_temp(&format!("451 4.7.5 TLS certificate not verified: {e}"));
            }
        }
        self.tls = true;
        self.verified = verify.is_ok();
        self.verify_error = verify.err();
        self.ext = Extensions::default();
        self.ehlo()
    }

    /// Feeds the reply the last step asked for.
    pub fn on_reply(&mut self, r: Reply) -> Step {
        match self.state {
            State::Greeting if r.code == 220 => self.ehlo(),
            State::Greeting => self.fail(&r, "greeting"),
            State::Ehlo if r.code == 250 => {
                self.ext = Extensions::parse(&r);
                self.after_hello(false)
            }
            State::Ehlo if r.code / 100 == 5 && !self.tls => {
                self.state = State::Helo;
                Step::Send(format!("HELO {}\r\n", self.settings.helo).into_bytes())
            }
            State::Ehlo => self.fail(&r, "in reply to EHLO"),
            State::Helo if r.code == 250 => self.after_hello(true),
            State::Helo => self.fail(&r, "in reply to HELO"),
            State::StartTls if r.code == 220 => {
                self.state = State::Handshake;
                Step::StartTls
            }
            State::StartTls => self.after_hello(true),
            State::Auth if r.code == 235 => {
                self.state = State::Ready;
                Step::Ready
            }
            State::Auth => self.fail(&Reply::new(451, &r.one_line()), "in reply to AUTH"),
            State::Probe if r.code == 250 => {
                self.state = State::Ready;
                Step::Ready
            }
            State::Probe => self.fail_temp(&format!("{} (RSET)", r.one_line())),
            State::Mail | State::Rcpt | State::Data | State::Body | State::RsetAfter => {
                self.transaction_reply(r)
            }
            State::Quit | State::Closed => {
                self.state = State::Closed;
                Step::Closed
            }
            State::Ready | State::Handshake => {
                self.fail_temp(&format!("{} (unexpected reply)", r.one_line()))
            }
        }
    }

    /// Probes a reused session with RSET.
    pub fn reset(&mut self) -> Step {
        self.state = State::Probe;
        Step::Send(b"RSET\r\n".to_vec())
    }

    pub fn quit(&mut self) -> Step {
        self.state = State::Quit;
        Step::Send(b"QUIT\r\n".to_vec())
    }

    /// Starts a transaction on a ready session. Returns `Done` at once when the message
    /// cannot go to this peer at all.
    pub fn start(&mut self, t: &Transaction) -> Step {
        if let Some(refusal) = self.refusal(t) {
            let n = t.rcpts.len();
            return Step::Done(vec![(RcptState::Failed, refusal); n]);
        }
        let mail = self.mail_line(t);
        let rcpt_lines: Vec<String> = t.rcpts.iter().map(|r| self.rcpt_line(r)).collect();
        let pipelined = self.ext.pipelining;
        let mut out = mail.into_bytes();
        let rcpt_lines = if pipelined {
            for l in &rcpt_lines {
                out.extend_from_slice(l.as_bytes());
            }
            Vec::new()
        } else {
            rcpt_lines.into_iter().rev().collect()
        };
        self.txn = Some(Txn {
            n: t.rcpts.len(),
            pipelined,
            rcpt_lines,
            mail_reply: None,
            rcpt_seen: 0,
            accepted: Vec::new(),
            results: vec![None; t.rcpts.len()],
        });
        self.state = State::Mail;
        Step::Send(out)
    }

    /// Why this peer cannot take the message at all, as a permanent reply.
    fn refusal(&self, t: &Transaction) -> Option<String> {
        let bad = |a: &str| a.chars().any(|c| c.is_control() || c == '<' || c == '>');
        if bad(&t.sender) || t.rcpts.iter().any(|r| bad(&r.address)) {
            return Some("553 5.1.3 address unsafe to send".into());
        }
        if t.rcpts.is_empty() {
            return Some("554 5.5.1 no recipients".into());
        }
        if let Some(max) = self.ext.size.filter(|&m| m > 0) {
            if t.size > max {
                return Some(format!(
                    "552 5.3.4 message size {} exceeds the peer's limit {max}",
                    t.size
                ));
            }
        }
        if t.smtputf8 && !self.ext.smtputf8 {
            return Some("553 5.6.7 peer does not support SMTPUTF8".into());
        }
        if t.eight_bit && !self.ext.eight_bit_mime {
            return Some("554 5.6.3 8-bit message and the peer lacks 8BITMIME".into());
        }
        if t.requiretls && !(self.tls && self.verified && self.ext.requiretls) {
            return Some("550 5.7.10 REQUIRETLS: no verified TLS peer supporting it".into());
        }
        None
    }

    fn mail_line(&self, t: &Transaction) -> String {
        let mut l = format!("MAIL FROM:<{}>", t.sender);
        if self.ext.size.is_some() {
            l.push_str(&format!(" SIZE={}", t.size));
        }
        if t.eight_bit {
            l.push_str(" BODY=8BITMIME");
        }
        if t.smtputf8 {
            l.push_str(" SMTPUTF8");
        }
        if t.requiretls {
            l.push_str(" REQUIRETLS");
        }
        if self.ext.dsn {
            if let Some(ret) = t.ret.as_deref().filter(|v| safe_param(v)) {
                l.push_str(&format!(" RET={ret}"));
            }
            if let Some(envid) = t.envid.as_deref().filter(|v| safe_param(v)) {
                l.push_str(&format!(" ENVID={envid}"));
            }
        }
        l.push_str("\r\n");
        l
    }

    fn rcpt_line(&self, r: &RcptSpec) -> String {
        let mut l = format!("RCPT TO:<{}>", r.address);
        if self.ext.dsn {
            if let Some(n) = r.notify.as_deref().filter(|v| safe_param(v)) {
                l.push_str(&format!(" NOTIFY={n}"));
            }
            if let Some(o) = r.orcpt.as_deref().filter(|v| safe_param(v)) {
                l.push_str(&format!(" ORCPT={o}"));
            }
        }
        l.push_str("\r\n");
        l
    }

    fn transaction_reply(&mut self, r: Reply) -> Step {
        let Some(mut t) = self.txn.take() else {
            return self.fail_temp("451 4.3.0 reply without a transaction");
        };
        let step = self.advance(&mut t, r);
        if matches!(step, Step::Done(_)) || self.state == State::Closed {
            // The transaction is over (or the peer closed it).
            if let Step::Fail(f) = &step {
                let results = fill(&mut t, RcptState::Deferred, &f.reply);
                return Step::Done(results);
            }
            return step;
        }
        self.txn = Some(t);
        step
    }

    fn advance(&mut self, t: &mut Txn, r: Reply) -> Step {
        if r.code == 421 {
            self.state = State::Closed;
            return Step::Done(fill(t, RcptState::Deferred, &r.one_line()));
        }
        match self.state {
            State::Mail => {
                let ok = r.code / 100 == 2;
                t.mail_reply = Some(r);
                if !ok && !t.pipelined {
                    return self.rset_after();
                }
                self.state = State::Rcpt;
                self.next_rcpt_or_data(t)
            }
            State::Rcpt => {
                let i = t.rcpt_seen;
                t.rcpt_seen += 1;
                match &t.mail_reply {
                    Some(m) if m.code / 100 != 2 => {
                        t.results[i] = Some((m.state(), format!("{} (MAIL FROM)", m.one_line())))
                    }
                    _ if r.code / 100 == 2 => t.accepted.push(i),
                    _ => t.results[i] = Some((r.state(), format!("{} (RCPT TO)", r.one_line()))),
                }
                self.next_rcpt_or_data(t)
            }
            State::Data if r.code == 354 => {
                self.state = State::Body;
                Step::SendBody
            }
            State::Data => {
                let line = format!("{} (DATA)", r.one_line());
                for &i in &t.accepted {
                    t.results[i] = Some((r.state(), line.clone()));
                }
                self.rset_after()
            }
            State::Body => {
                let line = format!("{} (end of DATA)", r.one_line());
                for &i in &t.accepted {
                    t.results[i] = Some((r.state(), line.clone()));
                }
                self.state = State::Ready;
                Step::Done(fill(t, RcptState::Deferred, "451 4.3.0 no reply"))
            }
            State::RsetAfter => {
                // A peer that cannot RSET is not reused.
                self.state = if r.code == 250 {
                    State::Ready
                } else {
                    State::Closed
                };
                let mail = t.mail_reply.as_ref().filter(|m| m.code / 100 != 2);
                let fallback = match mail {
                    Some(m) => (m.state(), format!("{} (MAIL FROM)", m.one_line())),
                    None => (RcptState::Deferred, "451 4.3.0 no reply".to_string()),
                };
                Step::Done(fill(t, fallback.0, &fallback.1))
            }
            _ => self.fail_temp("451 4.3.0 out of sequence"),
        }
    }

    fn next_rcpt_or_data(&mut self, t: &mut Txn) -> Step {
        if t.rcpt_seen < t.n {
            if t.pipelined {
                return Step::Read;
            }
            let mail_ok = t.mail_reply.as_ref().is_some_and(|m| m.code / 100 == 2);
            if let (true, Some(line)) = (mail_ok, t.rcpt_lines.pop()) {
                return Step::Send(line.into_bytes());
            }
        }
        if t.accepted.is_empty() {
            return self.rset_after();
        }
        self.state = State::Data;
        Step::Send(b"DATA\r\n".to_vec())
    }

    fn rset_after(&mut self) -> Step {
        self.state = State::RsetAfter;
        Step::Send(b"RSET\r\n".to_vec())
    }

    /// The connection broke mid-transaction: every recipient without a reply is deferred.
    pub fn broken(&mut self, why: &str) -> Vec<(RcptState, String)> {
        self.state = State::Closed;
        match self.txn.take() {
            Some(mut t) => fill(&mut t, RcptState::Deferred, why),
            None => Vec::new(),
        }
    }
}

/// Every result, with `state`/`reply` for recipients still without one.
fn fill(t: &mut Txn, state: RcptState, reply: &str) -> Vec<(RcptState, String)> {
    t.results
        .iter_mut()
        .map(|r| r.take().unwrap_or_else(|| (state, reply.to_string())))
        .collect()
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
