//! IDLE (RFC 2177): waits for the client's DONE or a change in the selected mailbox, whichever
//! comes first. Changes are seen through the selected mailbox's own inotify watch
//! (`maildir::imap_watch`, on the folder, new/ and cur/: a delivery links into new/, a flag
//! change or expunge by another session renames or unlinks in cur/): IDLE polls its
//! descriptor and leaves reading it to `Selected::refresh`, and reports what changed at once
//! as untagged EXISTS/RECENT/EXPUNGE/FETCH. Without a selected mailbox
//! only DONE ends it. The 30-minute autologout applies (clients re-IDLE every 29 minutes).
//! Client input is noticed by poll(2) on fd 0; bytes rustls already decrypted but not yet
//! handed over are not seen by poll, which is harmless for `DONE` (one short record, read
//! whole) and for anything pipelined after it (the driver's blocking read takes it).
//! Errors: `Err(reason)` when the connection ends; inotify failures fall back to a 30 s poll.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::conn::Conn;
use crate::imap::reply;
use crate::imap::{Event, Session};

use super::{commands, Account, AUTOLOGOUT};

/// How often to look at the mailbox when inotify is unavailable.
const FALLBACK_POLL: Duration = Duration::from_secs(30);

/// Runs IDLE until DONE; returns an event the session produced meanwhile for the driver
/// (a command pipelined after DONE), if any.
pub fn run(
    session: &mut Session,
    account: &mut Account,
    conn: &mut Conn,
) -> Result<Option<Event>, String> {
    let mut waited = Duration::ZERO;
    loop {
        match session.next_event() {
            Event::NeedInput if session.is_idling() => {}
            Event::NeedInput => return Ok(None),
            ev => return Ok(Some(ev)),
        }
        let out = session.take_output();
        if !out.is_empty() {
            conn.write_all(&out)
                .map_err(|e| format!("lost connection ({e})"))?;
        }
        if waited >= AUTOLOGOUT {
            let _ = conn.write_all(&reply::bye("autologout"));
            return Err("timeout".into());
        }
        let watched = account
            .selected
            .as_ref()
            .is_some_and(|s| s.watch.fd().is_some());
        let step = if watched {
            AUTOLOGOUT - waited
        } else {
            FALLBACK_POLL.min(AUTOLOGOUT - waited)
        };
        let watch = account.selected.as_ref().and_then(|s| s.watch.fd());
        let (client, changed) = wait(watch, step)?;
        if client {
            waited = Duration::ZERO;
            let mut buf = vec![0u8; 16 * 1024];
            match conn.read(&mut buf) {
                Ok(0) => return Err("lost connection".into()),
                Ok(n) => session.feed(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => return Err(format!("lost connection ({e})")),
            }
        } else if !changed {
            waited += step;
        }
        if changed || !watched {
            let mut out = Vec::new();
            commands::updates(account, true, &mut out);
            session.write(&out);
        }
    }
}

/// Waits up to `timeout` for client input or a mailbox change: `(client, changed)`.
fn wait(watch: Option<BorrowedFd<'_>>, timeout: Duration) -> Result<(bool, bool), String> {
    let stdin = std::io::stdin();
    let t = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
    loop {
        let mut fds = vec![PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
        if let Some(w) = watch {
            fds.push(PollFd::new(w, PollFlags::POLLIN));
        }
        match poll(&mut fds, t) {
            Ok(0) => return Ok((false, false)),
            Ok(_) => {
                let ready = |f: &PollFd| {
                    f.revents().is_some_and(|r| {
                        r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
                    })
                };
                let client = ready(&fds[0]);
                // The events are read (drained) by `Selected::refresh`.
                let changed = fds.get(1).is_some_and(ready);
                return Ok((client, changed));
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(format!("poll: {e}")),
        }
    }
}
