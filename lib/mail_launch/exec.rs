//! What mail-launch runs per connection: the program path and argv resolved once at start,
//! and the environment built per connection (`REMOTE_IP`, `REMOTE_PORT`, `LOCAL_IP`,
//! `LOCAL_PORT`, `PROTO=TCP`, and qmail's `TCPREMOTEIP`-style names). Everything the child
//! needs is turned into `CString`s before `fork`, so the child only calls async-signal-safe
//! functions (dup2, sigaction, execve, write, _exit).

use std::ffi::{CString, OsString};
use std::net::SocketAddr;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Variables we set; any inherited copies are dropped so a child never sees stale ones.
const OURS: [&str; 9] = [
    "PROTO",
    "REMOTE_IP",
    "REMOTE_PORT",
    "LOCAL_IP",
    "LOCAL_PORT",
    "TCPREMOTEIP",
    "TCPREMOTEPORT",
    "TCPLOCALIP",
    "TCPLOCALPORT",
];

pub use crate::peer::canonical_ip;

/// The variables describing one connection.
pub fn connection_env(remote: SocketAddr, local: SocketAddr) -> Vec<(String, String)> {
    let (rip, lip) = (canonical_ip(remote.ip()), canonical_ip(local.ip()));
    let (rport, lport) = (remote.port().to_string(), local.port().to_string());
    vec![
        ("PROTO".into(), "TCP".into()),
        ("REMOTE_IP".into(), rip.to_string()),
        ("REMOTE_PORT".into(), rport.clone()),
        ("LOCAL_IP".into(), lip.to_string()),
        ("LOCAL_PORT".into(), lport.clone()),
        ("TCPREMOTEIP".into(), rip.to_string()),
        ("TCPREMOTEPORT".into(), rport),
        ("TCPLOCALIP".into(), lip.to_string()),
        ("TCPLOCALPORT".into(), lport),
    ]
}

/// A program ready to be started per connection.
#[derive(Debug, Clone)]
pub struct Exec {
    pub path: CString,
    pub argv: Vec<CString>,
    /// The inherited environment minus our variables, `KEY=VALUE`.
    base_env: Vec<CString>,
    /// Written by the child if execve fails.
    pub exec_failed_msg: Vec<u8>,
}

impl Exec {
    /// Resolves `program` (PATH search when it has no `/`) and prepares argv; argv[0] is
    /// the program as given. `env` is the environment to pass on.
    pub fn prepare(
        program: &str,
        args: &[String],
        env: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> Result<Exec, String> {
        let path = resolve(program)?;
        let cstr = |b: Vec<u8>| CString::new(b).map_err(|_| format!("NUL byte in {program:?}"));
        let argv = std::iter::once(program.to_string())
            .chain(args.iter().cloned())
            .map(|a| cstr(a.into_bytes()))
            .collect::<Result<_, _>>()?;
        let base_env = env
            .into_iter()
            .filter(|(k, _)| !OURS.iter().any(|o| k.as_bytes() == o.as_bytes()))
            .filter_map(|(k, v)| {
                let mut kv = k.into_vec();
                kv.push(b'=');
                kv.extend(v.into_vec());
                CString::new(kv).ok()
            })
            .collect();
        let msg = format!("mail-launch: cannot execute {}\n", path.display());
        Ok(Exec {
            path: cstr(path.into_os_string().into_vec())?,
            argv,
            base_env,
            exec_failed_msg: msg.into_bytes(),
        })
    }

    /// The full environment for one connection.
    pub fn env_for(&self, remote: SocketAddr, local: SocketAddr) -> Vec<CString> {
        let mut env = self.base_env.clone();
        for (k, v) in connection_env(remote, local) {
            // Keys and values are ASCII digits, dots, colons and letters: never NUL.
            if let Ok(c) = CString::new(format!("{k}={v}")) {
                env.push(c);
            }
        }
        env
    }
}

/// Marks every inherited descriptor above stderr close-on-exec, so a child gets only its
/// connection and stderr (not, say, a parent's pipes). Linux: lists `/proc/self/fd`.
pub fn cloexec_inherited() {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    for fd in fds {
        // SAFETY: F_GETFD/F_SETFD only change flags; a stale fd (the read_dir's own) fails
        // harmlessly with EBADF.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
}

/// Finds an executable: as given when it holds a `/`, else along `$PATH`.
pub fn resolve(program: &str) -> Result<PathBuf, String> {
    if program.is_empty() {
        return Err("empty program name".into());
    }
    if program.contains('/') {
        let p = PathBuf::from(program);
        return if is_executable(&p) {
            Ok(p)
        } else {
            Err(format!("{program}: not an executable file"))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
        .ok_or_else(|| format!("{program}: not found in PATH"))
}

fn is_executable(p: &Path) -> bool {
    p.is_file() && nix::unistd::access(p, nix::unistd::AccessFlags::X_OK).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_env_unmaps_v4() {
        let env = connection_env(
            "[::ffff:192.0.2.7]:40000".parse().unwrap(),
            "[::1]:25".parse().unwrap(),
        );
        let get = |k: &str| env.iter().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(get("REMOTE_IP"), "192.0.2.7");
        assert_eq!(get("REMOTE_PORT"), "40000");
        assert_eq!(get("LOCAL_IP"), "::1");
        assert_eq!(get("LOCAL_PORT"), "25");
        assert_eq!(get("PROTO"), "TCP");
        assert_eq!(get("TCPREMOTEIP"), "192.0.2.7");
    }

    #[test]
    fn env_drops_stale_values_and_keeps_others() {
        let inherited = vec![
            ("PATH".into(), "/bin".into()),
            ("REMOTE_IP".into(), "6.6.6.6".into()),
        ];
        let e = Exec::prepare("sh", &["-c".into(), "true".into()], inherited).unwrap();
        assert_eq!(e.argv[0].to_str().unwrap(), "sh");
        assert!(e.path.to_str().unwrap().ends_with("/sh"));
        let env = e.env_for(
            "127.0.0.1:5000".parse().unwrap(),
            "127.0.0.1:25".parse().unwrap(),
        );
        let env: Vec<&str> = env.iter().map(|c| c.to_str().unwrap()).collect();
        assert!(env.contains(&"PATH=/bin"));
        assert!(env.contains(&"REMOTE_IP=127.0.0.1"));
        assert!(!env.contains(&"REMOTE_IP=6.6.6.6"));
        assert_eq!(
            env.iter().filter(|v| v.starts_with("REMOTE_IP=")).count(),
            1
        );
    }

    #[test]
    fn inherited_fds_become_cloexec() {
        let (r, _w) = nix::unistd::pipe().unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&r);
        // SAFETY: clearing a flag on a descriptor we own.
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
        cloexec_inherited();
        // SAFETY: reading flags of a descriptor we own.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        assert!(flags & libc::FD_CLOEXEC != 0);
    }

    #[test]
    fn resolve_refuses_missing_and_non_executable() {
        assert!(resolve("no-such-program-here").is_err());
        assert!(resolve("/etc/passwd").is_err());
        assert!(resolve("").is_err());
        assert!(resolve("/bin/sh").is_ok());
    }
}
