//! Exit codes shared by every program: 0 done, 75 try later, and permanent codes that both
//! Postfix (pipe) and qmail (dot-qmail) read as permanent. 67 is avoided on purpose: Postfix
//! reads it as permanent, qmail as temporary.

/// How a program run ended, as its exit status tells the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done (0).
    Ok = 0,
    /// Command line misuse (64, EX_USAGE): permanent.
    Usage = 64,
    /// Bad input data (65, EX_DATAERR): permanent.
    DataErr = 65,
    /// Temporary failure, try again later (75, EX_TEMPFAIL).
    TempFail = 75,
    /// Refused by policy, e.g. loop or unknown user (77, EX_NOPERM): permanent.
    NoPerm = 77,
    /// Configuration error (78, EX_CONFIG): permanent for the message, but an admin must act.
    Config = 78,
}

impl Exit {
    /// The process exit status.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// Reads a child's exit status the way qmail-local does: 0 success, these permanent
    /// codes permanent, everything else (including signals) temporary.
    pub fn from_status(status: Option<i32>) -> Exit {
        match status {
            Some(0) => Exit::Ok,
            Some(64) => Exit::Usage,
            Some(65) => Exit::DataErr,
            Some(77) => Exit::NoPerm,
            Some(78) => Exit::Config,
            _ => Exit::TempFail,
        }
    }

    /// True when the caller should retry later.
    pub fn is_temporary(self) -> bool {
        self == Exit::TempFail
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code() as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_statuses_map_like_qmail() {
        assert_eq!(Exit::from_status(Some(0)), Exit::Ok);
        assert_eq!(Exit::from_status(Some(77)), Exit::NoPerm);
        assert!(Exit::from_status(Some(67)).is_temporary());
        assert!(Exit::from_status(None).is_temporary());
        assert!(!Exit::from_status(Some(65)).is_temporary());
    }
}
