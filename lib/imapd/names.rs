//! Mailbox names between the wire and the Maildir: `INBOX` (any case) is the Maildir root,
//! anything else is a Maildir++ folder whose wire name is its UTF-8 name in modified UTF-7,
//! with `.` as the hierarchy delimiter. Hostile names (`..`, `/`, NUL, over-long, a leading
//! dot) are refused here, by `FolderName::parse`, before any path is made.

use crate::imap::imap_types::mailbox::Mailbox;
use crate::imap::utf7;
use crate::maildir::FolderName;

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
    let name = utf7::decode(text).ok_or("mailbox name is not valid modified UTF-7")?;
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
        Some(f) => utf7::encode(f.as_str()),
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
