//! `maildir::Error`: what can go wrong writing or reading a Maildir, each error knowing whether
//! a retry may help and which enhanced status code (RFC 3463) describes it.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file-system call failed: temporary (disk full, permissions fixed by an admin, NFS hiccup).
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// The Maildir++ quota would be exceeded by this message: temporary, the user may expunge.
    #[error("mailbox full ({detail})")]
    OverQuota { detail: String },
    /// A folder name that could escape the Maildir or is not a Maildir++ name: permanent.
    #[error("invalid folder name {name:?}: {reason}")]
    BadFolder { name: String, reason: &'static str },
    /// No free unique name after several attempts (clock or pid trouble): temporary.
    #[error("no unique file name in {0}")]
    NoUniqueName(PathBuf),
}

impl Error {
    /// True when trying the same delivery later may succeed.
    pub fn is_temporary(&self) -> bool {
        !matches!(self, Error::BadFolder { .. })
    }

    /// The enhanced status code (RFC 3463) for bounces and the MDA's stderr line.
    pub fn status(&self) -> &'static str {
        match self {
            Error::OverQuota { .. } => "4.2.2",
            Error::Io { source, .. } => match source.raw_os_error() {
                Some(libc::EDQUOT) => "4.2.2",
                Some(libc::ENOSPC) => "4.3.1",
                _ => "4.3.0",
            },
            Error::NoUniqueName(_) => "4.3.0",
            Error::BadFolder { .. } => "5.2.0",
        }
    }

    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_temporariness() {
        let q = Error::OverQuota { detail: "x".into() };
        assert!(q.is_temporary());
        assert_eq!(q.status(), "4.2.2");
        let f = Error::BadFolder {
            name: "..".into(),
            reason: "empty component",
        };
        assert!(!f.is_temporary());
        assert!(f.status().starts_with('5'));
        let full = Error::Io {
            op: "write",
            path: "/x".into(),
            source: io::Error::from_raw_os_error(libc::ENOSPC),
        };
        assert!(full.is_temporary());
        assert_eq!(full.status(), "4.3.1");
    }
}
