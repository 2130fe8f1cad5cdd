//! Virus scanning: streams a message to clamd with clamav-client (INSTREAM) over a unix
//! socket or TCP, with connect/read/write timeouts, and reads clamd's one-line answer.
//! Owns nothing on disk. Fails with a one-line `String` (clamd down, timeout, clamd error):
//! the caller decides whether that defers the message or lets it pass.

use crate::config::scan::Clamd;
use clamav_client::TransportProtocol;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// clamd's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Clean,
    /// The signature name, e.g. `Eicar-Signature`.
    Infected(String),
    /// Larger than clamd's `StreamMaxLength`: not scanned.
    TooBig,
}

/// Streams `message` to clamd and returns its answer.
pub fn scan(target: &Clamd, timeout: Duration, message: &[u8]) -> Result<Answer, String> {
    let conn = Conn { target, timeout };
    let reply = clamav_client::scan_buffer(message, &conn, None)
        .map_err(|e| format!("clamd {}: {e}", describe(target)))?;
    parse_reply(&reply).map_err(|e| format!("clamd {}: {e}", describe(target)))
}

fn describe(target: &Clamd) -> String {
    match target {
        Clamd::Unix(p) => p.display().to_string(),
        Clamd::Tcp(a) => a.to_string(),
    }
}

/// Reads `stream: OK`, `stream: <NAME> FOUND`, or `<text> ERROR` (NUL-terminated).
pub fn parse_reply(reply: &[u8]) -> Result<Answer, String> {
    let text = String::from_utf8_lossy(reply);
    let text = text.trim_end_matches(['\0', '\n', '\r', ' ']);
    let body = text.strip_prefix("stream:").map(str::trim);
    if let Some(body) = body {
        if body == "OK" {
            return Ok(Answer::Clean);
        }
        if let Some(name) = body.strip_suffix(" FOUND") {
            return Ok(Answer::Infected(sanitize(name)));
        }
    }
    if text.contains("size limit exceeded") {
        return Ok(Answer::TooBig);
    }
    match text.is_empty() {
        true => Err("empty reply".to_string()),
        false => Err(format!("unexpected reply {:?}", truncate(text, 200))),
    }
}

/// Keeps a virus name safe for a header parameter and a log field.
fn sanitize(name: &str) -> String {
    let s: String = name
        .trim()
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || "._-:/+".contains(c) {
                true => c,
                false => '_',
            },
        )
        .collect();
    truncate(&s, 120).to_string()
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// A clamd connection with timeouts (clamav-client's own transports have none).
struct Conn<'a> {
    target: &'a Clamd,
    timeout: Duration,
}

enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl TransportProtocol for Conn<'_> {
    type Stream = Stream;

    fn connect(&self) -> io::Result<Stream> {
        let t = Some(self.timeout);
        match self.target {
            Clamd::Unix(path) => {
                let s = UnixStream::connect(path)?;
                s.set_read_timeout(t)?;
                s.set_write_timeout(t)?;
                Ok(Stream::Unix(s))
            }
            Clamd::Tcp(addr) => {
                let s = TcpStream::connect_timeout(addr, self.timeout)?;
                s.set_read_timeout(t)?;
                s.set_write_timeout(t)?;
                Ok(Stream::Tcp(s))
            }
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.flush(),
            Stream::Tcp(s) => s.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_parse() {
        assert_eq!(parse_reply(b"stream: OK\0"), Ok(Answer::Clean));
        assert_eq!(
            parse_reply(b"stream: Eicar-Test.UNOFFICIAL FOUND\0"),
            Ok(Answer::Infected("Eicar-Test.UNOFFICIAL".into()))
        );
        assert_eq!(
            parse_reply(b"stream: Evil name; x=1 FOUND\0"),
            Ok(Answer::Infected("Evil_name__x_1".into()))
        );
        assert_eq!(
            parse_reply(b"INSTREAM size limit exceeded. ERROR\0"),
            Ok(Answer::TooBig)
        );
        assert!(parse_reply(b"").is_err());
        assert!(parse_reply(b"stream: lstat() failed ERROR\0").is_err());
    }

    #[test]
    fn absent_clamd_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let target = Clamd::Unix(dir.path().join("nothing.sock"));
        assert!(scan(&target, Duration::from_secs(1), b"x").is_err());
    }
}
