//! Users: the Dovecot-compatible passwd-file (`user@domain:{SCHEME}hash:uid:gid::home::extra`),
//! password hashing and checking. Owns parsing and writing that file; knows nothing of
//! Maildirs or SMTP. Placeholder API, filled in by its owner.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}:{line}: {message}")]
    Parse {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// `local@domain`, lower case.
    pub address: String,
    /// `{SHA512-CRYPT}$6$…` as stored.
    pub password: String,
    /// Extra fields (`key=value`) after the standard ones, kept verbatim.
    pub extra: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct UserDb {
    pub users: Vec<User>,
}

impl UserDb {
    /// Reads the file; a missing file is an empty database.
    pub fn load(_path: &Path) -> Result<UserDb, Error> {
        Ok(UserDb::default())
    }

    /// Looks a user up by address (case-insensitive).
    pub fn get(&self, address: &str) -> Option<&User> {
        let a = address.to_lowercase();
        self.users.iter().find(|u| u.address == a)
    }

    /// Checks a password in constant-ish time against the stored hash.
    pub fn verify(&self, _address: &str, _password: &str) -> bool {
        false
    }
}

/// Hashes a password for storage: `{SHA512-CRYPT}$6$rounds=…$salt$hash`.
pub fn hash_password(_password: &str) -> String {
    String::new()
}
