//! Waking up: an inotify watch on one stage directory, a timeout, and the stop flag set by
//! SIGTERM/SIGINT. Shared by queue-runner and spam-scan (both long-running stages).
//!
//! Process-wide state: `STOP`, set from a signal handler (an atomic store is all a handler may
//! safely do). Installed once by `on_stop_signals`, read by the main loop and workers.
//! Waits are cut into slices of at most `SLICE` so a signal that lands just before `poll`
//! is noticed within that slice. If inotify is unavailable the periodic scan still works.

use nix::poll::{poll, PollFd, PollFlags};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static STOP: AtomicBool = AtomicBool::new(false);

/// The longest single `poll`; bounds how late a stop request is noticed.
const SLICE: Duration = Duration::from_millis(500);

extern "C" fn on_signal(_: nix::libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Makes SIGTERM and SIGINT set the stop flag instead of killing the process. No SA_RESTART,
/// so a blocking `poll` returns early.
pub fn on_stop_signals() -> nix::Result<()> {
    let act = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGTERM, Signal::SIGINT] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { sigaction(sig, &act) }?;
    }
    Ok(())
}

/// True once SIGTERM or SIGINT arrived (or `request_stop` was called).
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Asks the loops to stop as a signal would (used by tests and by fatal errors in workers).
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// An inotify watch for messages renamed or created in one directory.
pub struct Waker {
    inotify: Option<Inotify>,
    /// Set when `mailctl queue flush` touched `FLUSH` since the last `take_flush`.
    flushed: std::cell::Cell<bool>,
}

/// The file `mailctl queue flush` creates and removes in `queue/` to say "retry everything
/// now": queue-runner then forgets the retry times it remembers.
pub const FLUSH: &str = ".flush";

impl Waker {
    /// Watches `dir`; when inotify cannot be set up, logs nothing and relies on timeouts
    /// (the caller logs the returned error if it wants to).
    pub fn watch(dir: &Path) -> (Waker, Option<nix::Error>) {
        let setup = || -> nix::Result<Inotify> {
            let ino = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
            ino.add_watch(dir, AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_CREATE)?;
            Ok(ino)
        };
        match setup() {
            Ok(ino) => (
                Waker {
                    inotify: Some(ino),
                    flushed: Default::default(),
                },
                None,
            ),
            Err(e) => (
                Waker {
                    inotify: None,
                    flushed: Default::default(),
                },
                Some(e),
            ),
        }
    }

    /// Sleeps until something arrives in the directory, `timeout` passes, or a stop is
    /// requested. Returns true when woken by the directory.
    pub fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !stop_requested() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let slice = left.min(SLICE);
            let Some(ino) = &self.inotify else {
                std::thread::sleep(slice);
                continue;
            };
            let ms = u16::try_from(slice.as_millis()).unwrap_or(500).max(1);
            let mut fds = [PollFd::new(ino.as_fd(), PollFlags::POLLIN)];
            if let Ok(n) = poll(&mut fds, ms) {
                if n > 0 {
                    // Drain; only a flush request matters beyond the rescan itself.
                    while let Ok(ev) = ino.read_events() {
                        if ev.is_empty() {
                            break;
                        }
                        if ev.iter().any(|e| e.name.as_deref() == Some(FLUSH.as_ref())) {
                            self.flushed.set(true);
                        }
                    }
                    return true;
                }
            }
        }
        false
    }

    /// True once after a flush request was seen.
    pub fn take_flush(&self) -> bool {
        self.flushed.replace(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_on_rename_into_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (w, err) = Waker::watch(dir.path());
        assert!(err.is_none());
        assert!(!w.wait(Duration::from_millis(50)));
        std::fs::create_dir(dir.path().join("x")).unwrap();
        let t = Instant::now();
        assert!(w.wait(Duration::from_secs(5)));
        assert!(t.elapsed() < Duration::from_secs(1));
    }
}
