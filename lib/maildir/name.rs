//! Maildir file names: minting unique names for delivery and reading the parts other tools
//! put in them (`,S=` size, `:2,FLAGS`).
//!
//! A new name is `<secs>.M<usec>P<pid>Q<counter>R<random hex>.<host>,S=<size>,W=<vsize>`
//! (Dovecot style): unique across processes by pid and time, within a process by a counter,
//! across hosts sharing a mail store by the host name, and against pid reuse by the random part.
//!
//! Process-wide state: `COUNTER`, the per-process delivery counter the Maildir spec asks for
//! (`Q<n>`); an atomic, so threads delivering at once still get distinct names.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh unique base name for a message of `size` bytes (as stored, LF line ends) and
/// `vsize` bytes with CRLF line ends (what IMAP RFC822.SIZE and POP3 report).
pub fn unique(host: &str, size: u64, vsize: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let q = COUNTER.fetch_add(1, Ordering::Relaxed);
    let r: u64 = rand::random();
    format!(
        "{}.M{}P{}Q{}R{:016x}.{},S={},W={}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        q,
        r,
        host,
        size,
        vsize
    )
}

/// This machine's host name escaped for a Maildir file name (`/` → `\057`, `:` → `\072`);
/// `localhost` if it cannot be read.
pub fn system_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length; gethostname writes at most that many
    // bytes and we stop at the first NUL or the buffer's end.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).into_owned();
    if rc != 0 || name.is_empty() {
        return "localhost".to_string();
    }
    escape_host(&name)
}

/// Escapes the characters a Maildir name reserves: `/` (path) and `:` (info separator).
pub fn escape_host(host: &str) -> String {
    let mut out = String::with_capacity(host.len());
    for c in host.chars() {
        match c {
            '/' => out.push_str("\\057"),
            ':' => out.push_str("\\072"),
            c if c.is_control() => out.push_str(&format!("\\{:03o}", c as u32 & 0xff)),
            c => out.push(c),
        }
    }
    out
}

/// The flags after `:2,` in a file name (`"FS"` for `…:2,FS`), empty when there are none.
pub fn flags(name: &str) -> &str {
    match name.split_once(':') {
        Some((_, info)) => info.strip_prefix("2,").unwrap_or(""),
        None => "",
    }
}

/// The `,S=<bytes>` size recorded in a file name (Maildir++), if any.
pub fn size(name: &str) -> Option<u64> {
    field(name, "S=")
}

/// The `,W=<bytes>` size with CRLF line ends recorded in a file name, if any.
pub fn vsize(name: &str) -> Option<u64> {
    field(name, "W=")
}

fn field(name: &str, key: &str) -> Option<u64> {
    let base = name.split_once(':').map_or(name, |(b, _)| b);
    base.split(',')
        .skip(1)
        .find_map(|part| part.strip_prefix(key))
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_carry_sizes() {
        let a = unique("host", 10, 12);
        let b = unique("host", 10, 12);
        assert_ne!(a, b);
        assert!(a.ends_with(".host,S=10,W=12"), "{a}");
        assert!(!a.contains('/') && !a.contains(':'));
        assert_eq!(size(&a), Some(10));
        assert_eq!(vsize(&a), Some(12));
    }

    #[test]
    fn host_escapes() {
        assert_eq!(escape_host("a/b:c"), "a\\057b\\072c");
        let h = system_hostname();
        assert!(!h.is_empty() && !h.contains('/') && !h.contains(':'));
    }

    #[test]
    fn reads_flags_and_sizes() {
        assert_eq!(flags("1.M1P1.h,S=5:2,FS"), "FS");
        assert_eq!(flags("1.M1P1.h,S=5"), "");
        assert_eq!(size("1.M1P1.h,S=5,W=7:2,S"), Some(5));
        assert_eq!(vsize("1.M1P1.h,S=5,W=7:2,S"), Some(7));
        assert_eq!(size("1.M1P1.h"), None);
        assert_eq!(size("1.M1P1.h,S=x"), None);
    }
}
