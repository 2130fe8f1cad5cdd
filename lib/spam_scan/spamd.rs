//! SpamAssassin pass-through: sends the message to spamd (SPAMC/1.5 `CHECK` over TCP) and
//! reads back its score. The protocol part (`request`, `parse_reply`) is pure; `check` does
//! the I/O with timeouts. Fails with a one-line `String`; the caller logs it and goes on.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Largest reply read from spamd (headers only for CHECK).
const MAX_REPLY: u64 = 64 * 1024;

/// Asks spamd for the message's score.
pub fn check(addr: SocketAddr, timeout: Duration, message: &[u8]) -> Result<f64, String> {
    let err = |e: std::io::Error| format!("spamd {addr}: {e}");
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(err)?;
    s.set_read_timeout(Some(timeout)).map_err(err)?;
    s.set_write_timeout(Some(timeout)).map_err(err)?;
    s.write_all(&request(message)).map_err(err)?;
    s.shutdown(std::net::Shutdown::Write).map_err(err)?;
    let mut reply = Vec::new();
    s.take(MAX_REPLY).read_to_end(&mut reply).map_err(err)?;
    parse_reply(&reply).map_err(|e| format!("spamd {addr}: {e}"))
}

/// The CHECK request for a message.
pub fn request(message: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "CHECK SPAMC/1.5\r\nContent-length: {}\r\n\r\n",
        message.len()
    )
    .into_bytes();
    r.extend_from_slice(message);
    r
}

/// Reads `SPAMD/1.1 0 EX_OK` and `Spam: True ; 15.3 / 5.0`; returns the score.
pub fn parse_reply(reply: &[u8]) -> Result<f64, String> {
    let text = String::from_utf8_lossy(reply);
    let mut lines = text.lines();
    let status = lines.next().unwrap_or("");
    let mut parts = status.split_whitespace();
    let (proto, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !proto.starts_with("SPAMD/") || code != "0" {
        return Err(format!(
            "refused: {:?}",
            status.chars().take(100).collect::<String>()
        ));
    }
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            break;
        };
        if name.trim().eq_ignore_ascii_case("Spam") {
            let score = value
                .split(';')
                .nth(1)
                .and_then(|v| v.split('/').next())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite());
            return score.ok_or_else(|| format!("bad Spam header {:?}", value.trim()));
        }
    }
    Err("no Spam header in the reply".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_replies() {
        assert_eq!(
            request(b"ab"),
            b"CHECK SPAMC/1.5\r\nContent-length: 2\r\n\r\nab"
        );
        assert_eq!(
            parse_reply(b"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 15.3 / 5.0\r\n\r\n"),
            Ok(15.3)
        );
        assert_eq!(
            parse_reply(
                b"SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\nSpam: False ; -1.2 / 5.0\r\n\r\n"
            ),
            Ok(-1.2)
        );
        assert!(parse_reply(b"SPAMD/1.0 76 Bad header line\r\n\r\n").is_err());
        assert!(parse_reply(b"SPAMD/1.1 0 EX_OK\r\nSpam: True ; NaN / 5.0\r\n").is_err());
        assert!(parse_reply(b"").is_err());
    }
}
