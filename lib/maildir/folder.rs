//! Maildir++ folder names: `Junk`, `Sent`, `Archive.2026` live in `.Junk/`, `.Sent/`,
//! `.Archive.2026/` beside the INBOX's cur/ new/ tmp/. A `FolderName` is checked once at
//! construction, so a value of this type can never name a path outside its Maildir.

use super::error::{Error, Result};

/// Longest folder name accepted, in bytes (without the leading dot).
pub const MAX_FOLDER_LEN: usize = 200;

/// A checked Maildir++ folder name, stored without the leading dot (`Archive.2026`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FolderName(String);

impl FolderName {
    /// Checks a Maildir++ name, with or without its leading dot (`Junk` or `.Junk`).
    /// Refused: empty names and components (`..`, `A..B`, `Junk.`), `/`, `\`, NUL and other
    /// control characters, and names longer than `MAX_FOLDER_LEN`.
    pub fn parse(name: &str) -> Result<FolderName> {
        let bare = name.strip_prefix('.').unwrap_or(name);
        let bad = |reason| Error::BadFolder {
            name: name.to_string(),
            reason,
        };
        if bare.is_empty() {
            return Err(bad("empty"));
        }
        if bare.len() > MAX_FOLDER_LEN {
            return Err(bad("too long"));
        }
        if bare
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
        {
            return Err(bad("contains '/', '\\' or a control character"));
        }
        if bare.split('.').any(str::is_empty) {
            return Err(bad("empty component (leading, trailing or doubled '.')"));
        }
        Ok(FolderName(bare.to_string()))
    }

    /// A mailbox name as users and IMAP give it: `INBOX` (any case) or empty is the Maildir
    /// itself (`None`), anything else must be a valid folder name.
    pub fn parse_mailbox(name: &str) -> Result<Option<FolderName>> {
        if name.is_empty() || name.eq_ignore_ascii_case("INBOX") {
            return Ok(None);
        }
        FolderName::parse(name).map(Some)
    }

    /// The name without the leading dot, `Archive.2026`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The directory name inside the Maildir root, `.Archive.2026`.
    pub fn dir_name(&self) -> String {
        format!(".{}", self.0)
    }
}

impl std::fmt::Display for FolderName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_maildirpp_names_with_or_without_dot() {
        assert_eq!(FolderName::parse("Junk").unwrap().as_str(), "Junk");
        assert_eq!(FolderName::parse(".Junk").unwrap().dir_name(), ".Junk");
        assert_eq!(
            FolderName::parse(".Archive.2026").unwrap().dir_name(),
            ".Archive.2026"
        );
        assert_eq!(FolderName::parse("Entwürfe").unwrap().as_str(), "Entwürfe");
    }

    #[test]
    fn refuses_hostile_names() {
        for name in [
            "", ".", "..", "...", "../x", "./../etc", "a/b", "/etc", "a\\b", "a..b", "Junk.",
            ".Junk.", "a\0b", "a\nb", "a\rb", "\x7f",
        ] {
            let e = FolderName::parse(name).unwrap_err();
            assert!(!e.is_temporary(), "{name:?}");
        }
        let long = "x".repeat(MAX_FOLDER_LEN + 1);
        assert!(FolderName::parse(&long).is_err());
        assert!(FolderName::parse(&"x".repeat(MAX_FOLDER_LEN)).is_ok());
    }

    #[test]
    fn inbox_is_the_root() {
        assert_eq!(FolderName::parse_mailbox("INBOX").unwrap(), None);
        assert_eq!(FolderName::parse_mailbox("inbox").unwrap(), None);
        assert_eq!(FolderName::parse_mailbox("").unwrap(), None);
        assert_eq!(
            FolderName::parse_mailbox("Sent").unwrap().unwrap().as_str(),
            "Sent"
        );
        assert!(FolderName::parse_mailbox("..").is_err());
    }
}
