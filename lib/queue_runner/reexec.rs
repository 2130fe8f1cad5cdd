//! Picking up config changes in the long-running stages (queue-runner, spam-scan): a
//! `ConfigWatch` notices that the config file changed (modification time, inode or size,
//! then the bytes themselves, so a `touch` is not a change) and checks the new text with
//! `Config::load`; the caller then finishes its in-flight work and calls `reexec`, which
//! replaces the process image with `/proc/self/exe` and the same argv. The PID stays, so
//! systemd and `mailctl run` see no restart, and the new image starts from the new config
//! exactly as a fresh start would (no second code path that patches a running config).
//!
//! Needs: every fd that must not survive is CLOEXEC (std opens files so; the queue-runner
//! lock is a std `File`, so its flock is released by the exec and the new image takes it).
//! The new image runs as the user the old one dropped to (`run_as`), so the config and
//! what it names must be readable by that user; an unreadable config counts as invalid.
//! Fails: an invalid new config is logged once per change and the old one is kept;
//! `reexec` returns only when the exec failed, with the error.

use crate::config::Config;
use crate::mlog;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::time::SystemTime;

/// What is compared cheaply before the bytes are read.
type Stamp = Option<(SystemTime, u64, u64)>;

/// Watches one config file.
pub struct ConfigWatch {
    path: PathBuf,
    stamp: Stamp,
    text: Option<Vec<u8>>,
}

impl ConfigWatch {
    /// Remembers the file as it is now (what the running config was read from).
    pub fn new(cfg: &Config) -> ConfigWatch {
        ConfigWatch {
            stamp: stamp(&cfg.path),
            text: std::fs::read(&cfg.path).ok(),
            path: cfg.path.clone(),
        }
    }

    /// True when the file changed since the last call and the new text is a valid config:
    /// the caller should finish what it is doing and `reexec`. An invalid one is logged
    /// (once for this change) and ignored until the file changes again.
    pub fn changed(&mut self) -> bool {
        let now = stamp(&self.path);
        if now == self.stamp {
            return false;
        }
        self.stamp = now;
        let text = std::fs::read(&self.path).ok();
        if text == self.text {
            return false;
        }
        match Config::load(&self.path) {
            Ok(_) => {
                // What the next image starts from; an invalid text never becomes this, so
                // restoring the running text after a bad edit is no change.
                self.text = text;
                true
            }
            Err(e) => {
                mlog!("config changed but is invalid, keeping the running one: {e}");
                false
            }
        }
    }
}

fn stamp(p: &std::path::Path) -> Stamp {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.ino(), m.len()))
}

/// Replaces this process with a fresh copy of its program and argv (same PID). Call only
/// once in-flight work is finished and no other thread is doing anything. Returns only if
/// the exec failed.
pub fn reexec() -> std::io::Error {
    mlog!("config changed: re-executing");
    let mut args = std::env::args_os();
    let Some(arg0) = args.next() else {
        return std::io::Error::other("no argv[0]");
    };
    std::process::Command::new("/proc/self/exe")
        .arg0(arg0)
        .args(args)
        .exec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_valid_changes_once_and_ignores_touch_and_bad_text() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mail.toml");
        let etc = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/mail.toml");
        let good = std::fs::read_to_string(etc).unwrap();
        std::fs::write(&p, &good).unwrap();
        let cfg = Config::load(&p).unwrap();
        let mut w = ConfigWatch::new(&cfg);
        assert!(!w.changed());
        // Same bytes, new inode and time: not a change.
        let tmp = dir.path().join("t");
        std::fs::write(&tmp, &good).unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        assert!(!w.changed());
        std::fs::write(&tmp, format!("{good}# edited\n")).unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        assert!(w.changed());
        assert!(!w.changed(), "reported once");
        std::fs::write(&tmp, "hostname = [\n").unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        assert!(!w.changed(), "invalid text is not a change to act on");
        std::fs::write(&tmp, format!("{good}# edited\n")).unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        assert!(!w.changed(), "back to the running text");
        std::fs::write(&tmp, format!("{good}# fixed\n")).unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        assert!(w.changed());
    }
}
