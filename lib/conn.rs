//! The client connection of every per-connection server (smtpd, imapd, pop3d): reads fd 0
//! and writes fd 1 (one socket or two pipes), with a read timeout enforced by poll(2) and a
//! send timeout (SO_SNDTIMEO) when fd 1 is a socket, so a silent or stalled client never
//! holds the process forever. Wraps the same two fds in rustls after STARTTLS/STLS (or from
//! the first byte on the implicit-TLS ports 465, 993, 995).
//! Errors: `io::Error`; a timeout is `ErrorKind::TimedOut`, an end of input is `Ok(0)`.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::config::Config;
use crate::mlog;

/// fd 0 and fd 1 as one duplex stream.
#[derive(Debug, Clone, Copy)]
pub struct Fds {
    pub timeout: Duration,
}

impl Read for Fds {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let stdin = io::stdin();
        let fd = stdin.as_fd();
        let wait = PollTimeout::try_from(self.timeout).unwrap_or(PollTimeout::MAX);
        loop {
            let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
            match poll(&mut fds, wait) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::TimedOut, "read timeout")),
                Ok(_) => break,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        loop {
            match nix::unistd::read(fd, buf) {
                Ok(n) => return Ok(n),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl Write for Fds {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let stdout = io::stdout();
        loop {
            match nix::unistd::write(stdout.as_fd(), buf) {
                Ok(n) => return Ok(n),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Best effort: a send timeout on fd 1 when it is a socket (pipes have none).
pub fn set_send_timeout(timeout: Duration) {
    use nix::sys::socket::{setsockopt, sockopt::SendTimeout};
    use nix::sys::time::TimeVal;
    let tv = TimeVal::new(timeout.as_secs() as _, 0);
    let _ = setsockopt(&io::stdout().as_fd(), SendTimeout, &tv);
}

/// The connection in plain text or in TLS.
pub enum Conn {
    Plain(Fds),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, Fds>>),
}

impl Conn {
    pub fn plain(timeout: Duration) -> Conn {
        Conn::Plain(Fds { timeout })
    }

    fn fds(&mut self) -> &mut Fds {
        match self {
            Conn::Plain(f) => f,
            Conn::Tls(s) => &mut s.sock,
        }
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.fds().timeout = timeout;
    }

    /// Reads some bytes; `Ok(0)` at the end of input (a TLS close without close_notify too).
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(f) => f.read(buf),
            Conn::Tls(s) => match s.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                r => r,
            },
        }
    }

    pub fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Conn::Plain(f) => f.write_all(data),
            Conn::Tls(s) => {
                s.write_all(data)?;
                s.flush()
            }
        }
    }

    /// Runs the server handshake on the same fds. On failure the connection is unusable.
    pub fn start_tls(&mut self, config: Arc<rustls::ServerConfig>) -> io::Result<()> {
        let mut fds = *self.fds();
        let mut tls = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
        while tls.is_handshaking() {
            tls.complete_io(&mut fds)?;
        }
        *self = Conn::Tls(Box::new(rustls::StreamOwned::new(tls, fds)));
        Ok(())
    }

    /// `TLSv1_3 with cipher TLS13_AES_256_GCM_SHA384` for the Received: header and logs.
    pub fn tls_info(&self) -> Option<String> {
        let Conn::Tls(s) = self else { return None };
        let version = s.conn.protocol_version()?;
        let suite = s.conn.negotiated_cipher_suite()?;
        let version = format!("{version:?}").replace("TLSv1_", "TLSv1.");
        Some(format!("{version} with cipher {:?}", suite.suite()))
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Conn::Tls(_))
    }
}

/// What every per-connection server does before anything else: a private umask, the peer
/// read from the launcher's variables or the socket, and the `connect` log line.
pub fn begin() -> (crate::peer::Peer, String) {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let peer = crate::peer::Peer::detect();
    let ip = peer.remote_text();
    mlog!("connect from={ip}");
    (peer, ip)
}

/// A freshly opened client connection and the TLS config for a later STARTTLS.
pub struct Opened {
    pub conn: Conn,
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Opens the client connection the way every per-connection server starts: send timeout on
/// fd 1; the TLS config loaded (a broken one is logged and plain-text service goes on without
/// STARTTLS); on an implicit-TLS port the handshake first. `Ok(None)`: the handshake failed
/// (logged; nothing can be said to the client). `Err`: implicit TLS without a usable `[tls]`.
pub fn open(
    cfg: &Config,
    implicit_tls: bool,
    timeout: Duration,
    ip: &str,
) -> Result<Option<Opened>, String> {
    set_send_timeout(timeout);
    let tls = cfg
        .tls
        .as_ref()
        .and_then(|t| match crate::tls::server_config(t) {
            Ok(c) => Some(c),
            Err(e) => {
                mlog!("warning: TLS unavailable: {e}");
                None
            }
        });
    let mut conn = Conn::plain(timeout);
    if implicit_tls {
        let Some(config) = tls.clone() else {
            return Err(format!(
                "{}: implicit TLS needs a working [tls] section",
                cfg.path.display()
            ));
        };
        if let Err(e) = conn.start_tls(config) {
            mlog!("TLS handshake failed from={ip}: {e}");
            return Ok(None);
        }
    }
    Ok(Some(Opened { conn, tls }))
}
