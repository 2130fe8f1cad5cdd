//! A raw SMTP client for the tests that must send exactly the bytes a hostile or broken
//! client would (bare LF, over-long lines, vanishing mid-DATA), which smtplib and swaks
//! refuse to produce.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

pub struct Raw {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Raw {
    /// Connects and reads the greeting, which must be 220.
    pub fn connect(port: u16) -> Raw {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut raw = Raw {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
        };
        let greeting = raw.reply();
        assert!(greeting.starts_with("220"), "greeting: {greeting}");
        raw
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("send");
    }

    /// Sends one command line (CRLF added) and returns the full reply.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// Reads one (possibly multi-line) reply; empty string on EOF.
    pub fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) | Err(_) => return all,
                Ok(_) => {}
            }
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return all;
            }
        }
    }

    /// EHLO, then MAIL and RCPT that must succeed.
    pub fn start_mail(&mut self, from: &str, to: &str) {
        assert!(self.cmd("EHLO client.test").starts_with("250"));
        let r = self.cmd(&format!("MAIL FROM:<{from}>"));
        assert!(r.starts_with("250"), "MAIL: {r}");
        let r = self.cmd(&format!("RCPT TO:<{to}>"));
        assert!(r.starts_with("250"), "RCPT: {r}");
    }

    /// Closes our side without QUIT.
    pub fn vanish(self) {
        let _ = self.writer.shutdown(std::net::Shutdown::Both);
    }
}
