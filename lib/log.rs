//! Logging: one line per event on stderr, `program[pid]: text`, written with a single
//! `write` so lines from several processes sharing a terminal or journal never interleave.
//!
//! Process-wide state: the program name, set once by `init` at startup (every line needs
//! it and threading it through every call would add noise without adding safety).
//! Message bodies, passwords and AUTH data never go to the log.

use std::io::Write;
use std::sync::OnceLock;

static PROGRAM: OnceLock<String> = OnceLock::new();

/// Names the program for every later line. Call once at the top of `main`.
pub fn init(program: &str) {
    let _ = PROGRAM.set(program.to_string());
}

/// Writes one log line. Use through the `mlog!` macro.
pub fn line(args: std::fmt::Arguments<'_>) {
    let prog = PROGRAM.get().map(String::as_str).unwrap_or("mail");
    let mut text = format!("{prog}[{}]: {args}", std::process::id());
    // A newline inside a value would forge a second log line.
    text = text.replace(['\n', '\r'], " ");
    text.push('\n');
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// `mlog!("{id}: from=<{}>", sender)` writes one line on stderr.
#[macro_export]
macro_rules! mlog {
    ($($arg:tt)*) => { $crate::log::line(format_args!($($arg)*)) };
}
