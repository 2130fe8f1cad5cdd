//! Mailbox names between the wire and the Maildir: `INBOX` (any case) is the Maildir root,
//! anything else is a Maildir++ folder whose wire name is its UTF-8 name in modified UTF-7,
//! with `.` as the hierarchy delimiter. Hostile names (`..`, `/`, NUL, over-long, a leading
//! dot) are refused here, by `FolderName::parse`, before any path is made.
//! After ENABLE IMAP4rev2 (RFC 9051 section 5.1) names travel as UTF-8 instead: `set_utf8`
//! switches the process's mode, which is right because imapd serves one connection per
//! process.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::imap::imap_types::mailbox::Mailbox;
use crate::imap::utf7;
use crate::maildir::FolderName;

/// UTF-8 names on the wire (IMAP4rev2 enabled) instead of modified UTF-7.
static UTF8: AtomicBool = AtomicBool::new(false);

/// Names travel as UTF-8 from now on (ENABLE IMAP4rev2).
pub fn set_utf8(on: bool) {
    UTF8.store(on, Ordering::Relaxed);
}

/// IMAP4rev2 is enabled (the same switch as UTF-8 names): no `\\Recent`, no RECENT.
pub fn rev2() -> bool {
    UTF8.load(Ordering::Relaxed)
}

/// The wire form of a folder's UTF-8 name.
pub fn encode(name: &str) -> String {
    if UTF8.load(Ordering::Relaxed) {
        name.to_string()
    } else {
        utf7::encode(name)
    }
}

/// Appends a wire name as an astring; with UTF-8 names, a quoted UTF-8 string when it fits
/// (RFC 9051 allows UTF-8 in quoted strings) rather than a literal.
pub fn put(out: &mut Vec<u8>, wire: &str) {
    let plain = wire.len() <= 256 && !wire.contains(['\r', '\n', '\0', '"', '\\']);
    if UTF8.load(Ordering::Relaxed) && !wire.is_ascii() && plain {
        out.push(b'"');
        out.extend_from_slice(wire.as_bytes());
        out.push(b'"');
    } else {
        crate::imap::reply::astring(out, wire.as_bytes());
    }
}

/// A mailbox from a command: `Ok(None)` is the INBOX; `Err` is the text for a NO.
pub fn parse(mailbox: &Mailbox) -> Result<Option<FolderName>, String> {
    match mailbox {
        Mailbox::Inbox => Ok(None),
        Mailbox::Other(other) => parse_bytes(other.as_ref()),
    }
}

/// Same as `parse`, for a name already out of its mailbox wrapper.
pub fn parse_bytes(raw: &[u8]) -> Result<Option<FolderName>, String> {
    let text = std::str::from_utf8(raw).map_err(|_| "mailbox name is not UTF-7".to_string())?;
    let name = if UTF8.load(Ordering::Relaxed) {
        text.to_string()
    } else {
        utf7::decode(text).ok_or("mailbox name is not valid modified UTF-7")?
    };
    if name.eq_ignore_ascii_case("INBOX") {
        return Ok(None);
    }
    if name.starts_with('.') {
        return Err("mailbox name may not start with '.'".into());
    }
    FolderName::parse(&name)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// The wire name of a mailbox.
pub fn wire(folder: Option<&FolderName>) -> String {
    match folder {
        None => "INBOX".to_string(),
        Some(f) => encode(f.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbox_and_folders() {
        assert_eq!(parse_bytes(b"inbox").unwrap(), None);
        let f = parse_bytes(b"Entw&APw-rfe").unwrap().unwrap();
        assert_eq!(f.as_str(), "Entwürfe");
        assert_eq!(wire(Some(&f)), "Entw&APw-rfe");
        assert_eq!(wire(None), "INBOX");
    }

    #[test]
    fn hostile_names_refused() {
        let long = "x".repeat(300);
        for bad in [
            "..",
            "../x",
            "a/b",
            "/etc",
            ".Junk",
            "a..b",
            "&-/",
            long.as_str(),
        ] {
            assert!(parse_bytes(bad.as_bytes()).is_err(), "{bad}");
        }
        assert!(parse_bytes(b"a\0b").is_err());
    }
}
