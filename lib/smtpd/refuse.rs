//! A session refused at connect (RFC 5321 3.1): the 554 goes out instead of the 220, then
//! every command but QUIT gets 503 until QUIT (221), the error limit, EOF or the timeout.
//! Reads at most one command line's worth at a time and never keeps more than a line.

use crate::config::Config;
use crate::conn::Conn;
use crate::smtp::reply::{self, Reply};
use crate::smtp::session::MAX_COMMAND_LINE;

use super::refusals;

/// Serves the refusal on `conn`; returns when the client is gone or told to go.
pub fn serve(cfg: &Config, conn: &mut Conn, refusal: &Reply) {
    if conn.write_all(&refusal.to_bytes()).is_err() {
        return;
    }
    conn.set_timeout(cfg.smtpd.command_timeout);
    let mut line: Vec<u8> = Vec::new();
    let mut errors = 0;
    let mut buf = [0u8; 4096];
    loop {
        let n = match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            if b != b'\n' {
                if line.len() < MAX_COMMAND_LINE {
                    line.push(b);
                }
                continue;
            }
            let quit = line
                .get(..4)
                .is_some_and(|v| v.eq_ignore_ascii_case(b"QUIT"));
            line.clear();
            let answer = if quit {
                reply::closing(&cfg.hostname)
            } else {
                errors += 1;
                if errors >= cfg.smtpd.max_errors {
                    reply::too_many_errors(&cfg.hostname)
                } else {
                    refusals::no_service()
                }
            };
            let last = answer.code == 221 || answer.code == 421;
            if conn.write_all(&answer.to_bytes()).is_err() || last {
                return;
            }
        }
    }
}
