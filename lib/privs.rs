//! Privilege drop, shared by every program that may start as root: mail-launch after
//! binding, and the long-running stages before reading any mail. Becomes the requested user
//! (supplementary groups, gid, uid — in that order) and checks that root cannot be regained.
//! Not root: nothing to drop. Errors are fatal: a program the admin asked to run unprivileged
//! never runs as root.

use nix::unistd::{self, Uid, User};

/// What happened, for the log.
#[derive(Debug, PartialEq, Eq)]
pub enum Dropped {
    /// Not running as root; nothing done.
    NotRoot,
    /// Root, and no user requested: children run as root.
    StayedRoot,
    /// Now running as this user.
    To { name: String, uid: u32, gid: u32 },
}

/// Becomes `user` when running as root.
pub fn drop_to(user: Option<&str>) -> Result<Dropped, String> {
    if !unistd::geteuid().is_root() {
        return Ok(Dropped::NotRoot);
    }
    let Some(name) = user else {
        return Ok(Dropped::StayedRoot);
    };
    let u = User::from_name(name)
        .map_err(|e| format!("user {name}: {e}"))?
        .ok_or_else(|| format!("user {name}: no such user"))?;
    unistd::setgroups(&[u.gid]).map_err(|e| format!("setgroups: {e}"))?;
    unistd::setgid(u.gid).map_err(|e| format!("setgid {}: {e}", u.gid))?;
    unistd::setuid(u.uid).map_err(|e| format!("setuid {}: {e}", u.uid))?;
    if !u.uid.is_root() && (unistd::geteuid().is_root() || unistd::setuid(Uid::from_raw(0)).is_ok())
    {
        return Err(format!("still root after switching to {name}"));
    }
    Ok(Dropped::To {
        name: u.name,
        uid: u.uid.as_raw(),
        gid: u.gid.as_raw(),
    })
}

/// What every long-running stage does first: a private umask (spool files are nobody
/// else's business), then, when started as root, the switch to `run_as`, logged.
pub fn shed(run_as: Option<&str>) -> Result<(), String> {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    match drop_to(run_as)? {
        Dropped::To { name, uid, gid } => crate::mlog!("user={name} uid={uid} gid={gid}"),
        Dropped::StayedRoot => crate::mlog!("warning: running as root (no run_as in the config)"),
        Dropped::NotRoot => {}
    }
    Ok(())
}
