//! Signal flags for long-running supervisors (mail-launch, `mailctl run`).
//!
//! Process-wide state, by necessity: a signal handler can only reach statics. The handlers
//! do nothing but store into atomics (async-signal-safe); the main loop reads the flags.
//! Installed without SA_RESTART so a blocking poll/sleep returns EINTR at once.

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::sync::atomic::{AtomicBool, Ordering};

static TERMINATE: AtomicBool = AtomicBool::new(false);
static CHILD: AtomicBool = AtomicBool::new(false);

extern "C" fn on_terminate(_: libc::c_int) {
    TERMINATE.store(true, Ordering::SeqCst);
}

extern "C" fn on_child(_: libc::c_int) {
    CHILD.store(true, Ordering::SeqCst);
}

/// SIGTERM and SIGINT set the terminate flag; SIGCHLD sets the child flag.
pub fn install() -> nix::Result<()> {
    let term = SigAction::new(
        SigHandler::Handler(on_terminate),
        SaFlags::empty(),
        SigSet::empty(),
    );
    let child = SigAction::new(
        SigHandler::Handler(on_child),
        SaFlags::SA_NOCLDSTOP,
        SigSet::empty(),
    );
    // SAFETY: the handlers only store into atomics, which is async-signal-safe.
    unsafe {
        sigaction(Signal::SIGTERM, &term)?;
        sigaction(Signal::SIGINT, &term)?;
        sigaction(Signal::SIGCHLD, &child)?;
    }
    Ok(())
}

/// True once SIGTERM or SIGINT arrived.
pub fn terminating() -> bool {
    TERMINATE.load(Ordering::SeqCst)
}

/// True if SIGCHLD arrived since the last call.
pub fn take_child() -> bool {
    CHILD.swap(false, Ordering::SeqCst)
}

/// In a freshly forked child, before exec: default dispositions for what we caught or
/// the Rust runtime ignored (SIGPIPE), so the program starts as if run from a shell.
/// Only calls sigaction, which is async-signal-safe.
pub fn reset_for_exec() {
    let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for sig in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGCHLD,
        Signal::SIGPIPE,
    ] {
        // SAFETY: restoring the default disposition is always sound.
        let _ = unsafe { sigaction(sig, &dfl) };
    }
}
