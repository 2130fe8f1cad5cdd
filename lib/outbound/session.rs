//! The blocking driver of one SMTP client connection: TCP (with the connect timeout), the
//! `client` state machine's steps, STARTTLS through rustls, per-phase read deadlines and
//! per-write timeouts from `[outbound] timeouts`, dot-stuffed message bodies.
//!
//! Failures: a connection or setup failure is a `Failure` (the caller tries the next host);
//! an I/O error or timeout in a transaction defers every recipient without a reply, and
//! the session is not reused. Bytes the peer sends before its STARTTLS reply is read
//! (plaintext injection, CVE-2011-0411 style) end the session.

use super::client::{Client, Failure, Phase, Settings, Step, Transaction};
use super::reply::{Reply, ReplyReader};
use super::resolve::Hop;
use crate::config::outbound::{Outbound, Timeouts};
use crate::queue_runner::lmtp_client::Stuffer;
use crate::spool::RcptState;
use rustls::pki_types::ServerName;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
    Gone,
}

impl Stream {
    fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Stream::Plain(s) => Some(s),
            Stream::Tls(t) => Some(t.get_ref()),
            Stream::Gone => None,
        }
    }
}

pub struct Session {
    stream: Stream,
    reader: ReplyReader,
    client: Client,
    pub hop: Hop,
    timeouts: Timeouts,
    /// Extra trust anchors for the peer's certificate (`[outbound] ca_file`).
    ca_file: Option<std::path::PathBuf>,
    /// When the last transaction ended (for idle expiry).
    pub idle_since: Instant,
    /// Transactions done on this connection.
    pub transactions: u32,
}

type Io<T> = Result<T, String>;

impl Session {
    /// Connects to `hop` and brings the session to Ready (EHLO, STARTTLS, AUTH).
    /// Timeouts and trust anchors come from `o`.
    pub fn connect(hop: &Hop, settings: Settings, o: &Outbound) -> Result<Session, Failure> {
        let t = &o.timeouts;
        let at = format!("{}[{}]", hop.name, hop.addr.ip());
        let tcp = TcpStream::connect_timeout(&hop.addr, t.connect).map_err(|e| Failure {
            state: RcptState::Deferred,
            reply: format!("451 4.4.1 connect to {at}:{}: {e}", hop.addr.port()),
        })?;
        let _ = tcp.set_nodelay(true);
        let (client, step) = Client::new(settings);
        let mut s = Session {
            stream: Stream::Plain(tcp),
            reader: ReplyReader::default(),
            client,
            hop: hop.clone(),
            timeouts: t.clone(),
            ca_file: o.ca_file.clone(),
            idle_since: Instant::now(),
            transactions: 0,
        };
        match s.run(step) {
            Ok(Step::Ready) => Ok(s),
            Ok(Step::Fail(f)) => Err(Failure {
                state: f.state,
                reply: format!("{} (host {at})", f.reply),
            }),
            Ok(other) => Err(Failure {
                state: RcptState::Deferred,
                reply: format!("451 4.4.2 {at}: unexpected session state {other:?}"),
            }),
            Err(e) => Err(Failure {
                state: RcptState::Deferred,
                reply: format!("451 4.4.2 {at}: {e}"),
            }),
        }
    }

    /// "name[ip]" for logs.
    pub fn peer(&self) -> String {
        format!("{}[{}]", self.hop.name, self.hop.addr.ip())
    }

    /// TLS in use, and whether the certificate was verified.
    pub fn tls(&self) -> (bool, bool) {
        (self.client.tls_active(), self.client.verified)
    }

    /// Why the peer's certificate was not verified, if it was not.
    pub fn verify_error(&self) -> Option<&str> {
        self.client.verify_error.as_deref()
    }

    pub fn is_ready(&self) -> bool {
        self.client.is_ready() && !matches!(self.stream, Stream::Gone)
    }

    /// One transaction: a (state, reply) per recipient of `t`, in order. `message` is the
    /// message as stored (LF or CRLF line ends); it is dot-stuffed on the way.
    pub fn send(&mut self, t: &Transaction, message: &[u8]) -> Vec<(RcptState, String)> {
        self.transactions += 1;
        let peer = self.peer();
        let step = self.client.start(t);
        let mut results = match self.run_body(step, message) {
            Ok(Step::Done(r)) => r,
            Ok(other) => self
                .client
                .broken(&format!("451 4.4.2 {peer}: unexpected step {other:?}")),
            Err(e) => {
                self.stream = Stream::Gone;
                self.client.broken(&format!("451 4.4.2 {peer}: {e}"))
            }
        };
        if results.len() != t.rcpts.len() {
            results =
                vec![(RcptState::Deferred, format!("451 4.3.0 {peer}: no result")); t.rcpts.len()];
        }
        self.idle_since = Instant::now();
        for (_, reply) in results.iter_mut() {
            if !reply.contains(&peer) {
                reply.push_str(&format!(" [{peer}]"));
            }
        }
        results
    }

    /// RSET on a reused connection; false when it is no longer usable.
    pub fn probe(&mut self) -> bool {
        let step = self.client.reset();
        matches!(self.run(step), Ok(Step::Ready))
    }

    /// QUIT (best effort, short timeout) and close.
    pub fn quit(mut self) {
        if matches!(self.stream, Stream::Gone) {
            return;
        }
        self.timeouts.helo = self.timeouts.helo.min(Duration::from_secs(5));
        let step = self.client.quit();
        let _ = self.run(step);
        if let Stream::Tls(t) = &mut self.stream {
            t.conn.send_close_notify();
            let _ = t.flush();
        }
    }

    fn run(&mut self, step: Step) -> Io<Step> {
        self.run_body(step, &[])
    }

    fn run_body(&mut self, mut step: Step, message: &[u8]) -> Io<Step> {
        loop {
            step = match step {
                Step::Send(bytes) => {
                    self.write_all(&bytes, self.timeouts.helo)?;
                    let r = self.read_reply()?;
                    self.client.on_reply(r)
                }
                Step::Read => {
                    let r = self.read_reply()?;
                    self.client.on_reply(r)
                }
                Step::StartTls => {
                    if self.reader.has_partial() {
                        return Err("peer sent data before the TLS handshake".into());
                    }
                    let verdict = self.start_tls()?;
                    self.client.tls_started(verdict)
                }
                Step::SendBody => {
                    self.write_body(message)?;
                    let r = self.read_reply()?;
                    self.client.on_reply(r)
                }
                done => return Ok(done),
            }
        }
    }

    fn timeout_for(&self, p: Phase) -> Duration {
        let t = &self.timeouts;
        match p {
            Phase::Greeting => t.greeting,
            Phase::Helo => t.helo,
            Phase::Mail => t.mail,
            Phase::Rcpt => t.rcpt,
            Phase::DataInit => t.data_init,
            Phase::DataEnd => t.data_end,
        }
    }

    fn read_reply(&mut self) -> Io<Reply> {
        let deadline = Instant::now() + self.timeout_for(self.client.phase());
        let mut buf = [0u8; 8192];
        loop {
            if let Some(r) = self.reader.next_reply().map_err(|e| e.to_string())? {
                return Ok(r);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "timeout waiting for reply ({:?})",
                    self.client.phase()
                ));
            }
            let tcp = self.stream.tcp().ok_or("connection closed")?;
            tcp.set_read_timeout(Some(left))
                .map_err(|e| e.to_string())?;
            let n = match &mut self.stream {
                Stream::Plain(s) => s.read(&mut buf),
                Stream::Tls(t) => t.read(&mut buf),
                Stream::Gone => return Err("connection closed".into()),
            };
            match n {
                Ok(0) => return Err("connection closed by peer".into()),
                Ok(n) => self.reader.feed(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(format!(
                        "timeout waiting for reply ({:?})",
                        self.client.phase()
                    ))
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    fn write_all(&mut self, bytes: &[u8], timeout: Duration) -> Io<()> {
        let tcp = self.stream.tcp().ok_or("connection closed")?;
        tcp.set_write_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        let r = match &mut self.stream {
            Stream::Plain(s) => s.write_all(bytes).and_then(|_| s.flush()),
            Stream::Tls(t) => t.write_all(bytes).and_then(|_| t.flush()),
            Stream::Gone => return Err("connection closed".into()),
        };
        r.map_err(|e| format!("write: {e}"))
    }

    fn write_body(&mut self, message: &[u8]) -> Io<()> {
        let mut stuffer = Stuffer::default();
        for chunk in message.chunks(64 * 1024) {
            let out = stuffer.feed(chunk);
            self.write_all(&out, self.timeouts.data_block)?;
        }
        let end = stuffer.finish();
        self.write_all(&end, self.timeouts.data_block)
    }

    /// The handshake on the plain socket; returns the certificate verdict.
    fn start_tls(&mut self) -> Io<Result<(), String>> {
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return Err("STARTTLS on a non-plain stream".into());
        };
        let name = match self.hop.name.parse::<std::net::IpAddr>() {
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) => ServerName::try_from(self.hop.name.clone())
                .unwrap_or(ServerName::IpAddress(self.hop.addr.ip().into())),
        };
        let (config, verdict) = super::tls::client_config(self.ca_file.as_deref())?;
        let conn = rustls::ClientConnection::new(config, name).map_err(|e| e.to_string())?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        tls.sock
            .set_read_timeout(Some(self.timeouts.helo))
            .map_err(|e| e.to_string())?;
        tls.sock
            .set_write_timeout(Some(self.timeouts.helo))
            .map_err(|e| e.to_string())?;
        while tls.conn.is_handshaking() {
            tls.conn
                .complete_io(&mut tls.sock)
                .map_err(|e| format!("TLS handshake: {e}"))?;
        }
        self.stream = Stream::Tls(Box::new(tls));
        Ok(verdict.result())
    }
}
