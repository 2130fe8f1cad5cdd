//! mail-launch: a tcpserver/inetd equivalent. Listens on one address, and per accepted
//! connection forks and execs `PROGRAM ARGS…` with the connection on fd 0 and fd 1 (stderr
//! inherited) and `REMOTE_IP`, `REMOTE_PORT`, `LOCAL_IP`, `LOCAL_PORT`, `PROTO=TCP` set.
//!
//! Sheds power first: binds, then (as root) drops to `--user` or the config's `run_as`
//! before accepting anything. Limits: at `max_connections` children the listener is not
//! polled until one exits (the kernel backlog holds new clients, no fork bomb); a client
//! with `max_per_ip` open connections is accepted and closed at once (`refused per-ip
//! limit`); a child whose client already hung up does not count against its IP.
//! Each child leads its own process group. SIGTERM/SIGINT: stop listening, SIGTERM the
//! children's groups, wait up to 5 s, SIGKILL the rest, exit 0. Logs `connect from=IP:PORT pid=N` and `exit pid=N status=S`.
//!
//! Owns no files. Errors: `mail_launch::Error`, all fatal at startup; once running, accept
//! and fork failures are logged and retried, never fatal.

pub mod exec;
pub mod limits;
pub mod listen;
pub mod signals;
pub mod tcpstate;

use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use crate::config::{self, Config};
use crate::mlog;
use crate::privs;
use exec::Exec;
use limits::{Admit, Limits};

/// How long children get between SIGTERM and SIGKILL at shutdown.
const GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: Errno },
    #[error("refusing to run as root: {0}")]
    Privileges(String),
    #[error("{0}")]
    Program(String),
    #[error("{0}: {1}")]
    Sys(&'static str, Errno),
}

/// Everything one launcher needs, from the command line (and config for `user`).
#[derive(Debug, Clone)]
pub struct Options {
    pub address: SocketAddr,
    pub program: String,
    pub args: Vec<String>,
    pub max_connections: usize,
    /// 0: no per-IP limit.
    pub max_per_ip: usize,
    /// Unix user to become after binding, when started as root.
    pub user: Option<String>,
}

/// The config, when one is named (`--config`, `$MAIL_CONFIG`) or the default exists;
/// mail-launch also runs arbitrary programs without any config.
pub fn load_config(explicit: Option<&Path>) -> Result<Option<Config>, config::Error> {
    let named =
        explicit.is_some() || std::env::var_os("MAIL_CONFIG").is_some_and(|v| !v.is_empty());
    let path = Config::locate(explicit);
    if named || path.exists() {
        Config::load(&path).map(Some)
    } else {
        Ok(None)
    }
}

/// Binds, drops privileges, and serves until SIGTERM/SIGINT.
pub fn run(opts: &Options) -> Result<(), Error> {
    let listener = listen::bind(opts.address).map_err(|source| Error::Bind {
        addr: opts.address,
        source,
    })?;
    match privs::drop_to(opts.user.as_deref()).map_err(Error::Privileges)? {
        privs::Dropped::StayedRoot => {
            mlog!(
                "warning: running {} as root (no --user or run_as)",
                opts.program
            )
        }
        privs::Dropped::To { name, uid, gid } => mlog!("user={name} uid={uid} gid={gid}"),
        privs::Dropped::NotRoot => {}
    }
    let exec =
        Exec::prepare(&opts.program, &opts.args, std::env::vars_os()).map_err(Error::Program)?;
    signals::install().map_err(|e| Error::Sys("sigaction", e))?;
    mlog!(
        "listening on {} program={} max_connections={} max_per_ip={}",
        opts.address,
        opts.program,
        opts.max_connections,
        opts.max_per_ip
    );
    let mut limits = Limits::new(opts.max_connections, opts.max_per_ip);
    while !signals::terminating() {
        serve_once(&listener, &exec, &mut limits)?;
    }
    drop(listener);
    shutdown(&mut limits);
    Ok(())
}

/// One turn of the loop: wait for a connection (or a signal, or 1 s), reap, accept.
fn serve_once(listener: &OwnedFd, exec: &Exec, limits: &mut Limits) -> Result<(), Error> {
    let room = limits.has_room();
    let mut fds = Vec::with_capacity(1);
    if room {
        fds.push(PollFd::new(listener.as_fd(), PollFlags::POLLIN));
    }
    let ready = match poll(&mut fds, 1000u16) {
        Ok(n) => n > 0,
        Err(Errno::EINTR) => false,
        Err(e) => return Err(Error::Sys("poll", e)),
    };
    signals::take_child();
    reap(limits);
    if room && ready && !signals::terminating() {
        accept_one(listener, exec, limits);
    }
    Ok(())
}

fn accept_one(listener: &OwnedFd, exec: &Exec, limits: &mut Limits) {
    let conn = match listen::accept(listener) {
        Ok(c) => c,
        Err(Errno::EAGAIN | Errno::EINTR | Errno::ECONNABORTED) => return,
        Err(e) => {
            // EMFILE and friends: back off rather than spin on a ready listener.
            mlog!("accept failed: {e}");
            std::thread::sleep(Duration::from_millis(200));
            return;
        }
    };
    let Ok((remote, local)) = listen::addresses(&conn) else {
        return; // the client left already
    };
    let ip = exec::canonical_ip(remote.ip());
    if limits.admit(ip) == Admit::PerIpFull {
        if let Some(live) = tcpstate::established() {
            limits.forget_closed(ip, &live);
        }
    }
    match limits.admit(ip) {
        Admit::Yes => {}
        Admit::PerIpFull => {
            mlog!("refused per-ip limit from={ip}:{}", remote.port());
            return;
        }
        Admit::TotalFull => {
            mlog!("refused total limit from={ip}:{}", remote.port());
            return;
        }
    }
    match spawn(exec, &conn, remote, local) {
        Ok(pid) => {
            limits.add(pid.as_raw(), ip, (local, remote));
            mlog!("connect from={ip}:{} pid={pid}", remote.port());
        }
        Err(e) => mlog!("fork failed from={ip}:{}: {e}", remote.port()),
    }
}

/// Forks and execs the program on `conn`. The parent's copy of `conn` is closed by the caller.
fn spawn(exec: &Exec, conn: &OwnedFd, remote: SocketAddr, local: SocketAddr) -> nix::Result<Pid> {
    let env = exec.env_for(remote, local);
    // SAFETY: the child only calls async-signal-safe functions on data prepared above.
    match unsafe { fork() }? {
        ForkResult::Parent { child } => Ok(child),
        ForkResult::Child => {
            signals::reset_for_exec();
            // Own process group, so shutdown reaches whatever the program starts.
            let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
            let ok = nix::unistd::dup2_stdin(conn.as_fd()).is_ok()
                && nix::unistd::dup2_stdout(conn.as_fd()).is_ok();
            if ok {
                let _ = nix::unistd::execve(&exec.path, &exec.argv, &env);
            }
            // SAFETY: write and _exit are async-signal-safe; no destructors run.
            unsafe {
                libc::write(
                    2,
                    exec.exec_failed_msg.as_ptr().cast(),
                    exec.exec_failed_msg.len(),
                );
                libc::_exit(111)
            }
        }
    }
}

/// Collects every exited child without blocking.
fn reap(limits: &mut Limits) {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => exited(limits, pid, &code.to_string()),
            Ok(WaitStatus::Signaled(pid, sig, _)) => exited(limits, pid, &format!("signal {sig}")),
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => {
                mlog!("waitpid failed: {e}");
                return;
            }
        }
    }
}

fn exited(limits: &mut Limits, pid: Pid, status: &str) {
    if limits.remove(pid.as_raw()).is_some() {
        mlog!("exit pid={pid} status={status}");
    }
}

/// SIGTERM every child, wait up to `GRACE`, then SIGKILL whoever is left.
fn shutdown(limits: &mut Limits) {
    mlog!("shutting down, {} children", limits.len());
    for pid in limits.pids() {
        signal_group(pid, Signal::SIGTERM);
    }
    let deadline = Instant::now() + GRACE;
    while !limits.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        reap(limits);
    }
    for pid in limits.pids() {
        mlog!("killing pid={pid}");
        signal_group(pid, Signal::SIGKILL);
        let _ = waitpid(Pid::from_raw(pid), None);
        limits.remove(pid);
    }
}

/// Signals the child's process group, or the child alone if it left its group.
fn signal_group(pid: i32, sig: Signal) {
    if nix::sys::signal::killpg(Pid::from_raw(pid), sig).is_err() {
        let _ = kill(Pid::from_raw(pid), sig);
    }
}
