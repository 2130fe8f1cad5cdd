//! The one-instance lock: an exclusive, non-blocking `flock` on `<spool>/queue-runner.lock`,
//! held for the life of the process (the kernel drops it when the process dies, even on
//! kill -9, so a stale lock file never blocks a restart).

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another queue-runner is running (lock {0} is held)")]
    Held(PathBuf),
    #[error("cannot lock {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Held while alive.
pub struct InstanceLock {
    _lock: Flock<File>,
}

/// Takes the lock or says who holds it.
pub fn acquire(spool_root: &Path) -> Result<InstanceLock, LockError> {
    let path = spool_root.join("queue-runner.lock");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|source| LockError::Io {
            path: path.clone(),
            source,
        })?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(l) => Ok(InstanceLock { _lock: l }),
        Err((_, Errno::EWOULDBLOCK)) => Err(LockError::Held(path)),
        Err((_, e)) => Err(LockError::Io {
            path,
            source: std::io::Error::from(e),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_until_the_first_drops() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path()).unwrap();
        assert!(matches!(acquire(dir.path()), Err(LockError::Held(_))));
        drop(first);
        assert!(acquire(dir.path()).is_ok());
    }
}
