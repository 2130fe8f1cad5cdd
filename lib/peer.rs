//! Peer: the facts about the connection a per-connection program serves, read once at
//! startup. `mail-launch` sets `REMOTE_IP`, `REMOTE_PORT`, `LOCAL_IP`, `LOCAL_PORT`; under
//! systemd socket activation (`Accept=yes`) nothing is set, so the socket on stdin is asked
//! with getpeername/getsockname. Neither available (a pipe): the peer is unknown.
//!
//! systemd can also hand the connection over as fd 3 (`LISTEN_FDS=1`, no
//! `StandardInput=socket`); `detect` then moves it onto fds 0 and 1 first, so every program
//! reads and writes its connection on stdin/stdout whichever way it was started.

use std::net::{IpAddr, SocketAddr};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peer {
    pub remote: Option<SocketAddr>,
    pub local: Option<SocketAddr>,
}

impl Peer {
    /// Reads the launcher's variables, falling back to the socket on fd 0.
    pub fn detect() -> Peer {
        adopt_systemd_socket();
        let from_env = Peer {
            remote: env_addr("REMOTE_IP", "REMOTE_PORT"),
            local: env_addr("LOCAL_IP", "LOCAL_PORT"),
        };
        if from_env.remote.is_some() {
            return from_env;
        }
        Peer {
            remote: nix::sys::socket::getpeername(0)
                .ok()
                .and_then(|s| socket_addr(&s)),
            local: nix::sys::socket::getsockname(0)
                .ok()
                .and_then(|s| socket_addr(&s)),
        }
    }

    pub fn remote_ip(&self) -> Option<IpAddr> {
        self.remote.map(|a| canonical_ip(a.ip()))
    }

    /// True when the client is on this host (127.0.0.0/8, ::1, or v4-mapped loopback).
    pub fn is_loopback(&self) -> bool {
        self.remote_ip().is_some_and(|ip| ip.is_loopback())
    }

    /// The client IP as text for logs (`192.0.2.7`); `unknown` if not a socket.
    pub fn remote_text(&self) -> String {
        match self.remote_ip() {
            Some(ip) => ip.to_string(),
            None => "unknown".to_string(),
        }
    }
}

/// Moves a connection passed by systemd socket activation (fd 3, `LISTEN_FDS=1` for our pid)
/// onto fds 0 and 1, and clears the variables so children do not inherit them.
fn adopt_systemd_socket() {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    let one = std::env::var("LISTEN_FDS").is_ok_and(|n| n == "1");
    if !(ours && one) {
        return;
    }
    // SAFETY: dup2 on plain descriptor numbers; fd 3 is ours per the sd_listen_fds protocol.
    unsafe {
        if libc::dup2(3, 0) == 0 && libc::dup2(3, 1) == 1 {
            libc::close(3);
        }
    }
    for var in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        // SAFETY: called once at startup, before any thread is spawned.
        unsafe { std::env::remove_var(var) };
    }
}

/// `::ffff:1.2.3.4` is the IPv4 client `1.2.3.4`.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

fn env_addr(ip: &str, port: &str) -> Option<SocketAddr> {
    let ip: IpAddr = std::env::var(ip).ok()?.parse().ok()?;
    let port: u16 = std::env::var(port)
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    Some(SocketAddr::new(ip, port))
}

/// A nix socket address as a std one (IPv4 or IPv6 only).
pub fn socket_addr(s: &nix::sys::socket::SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(SocketAddr::new(IpAddr::V4(v4.ip()), v4.port()));
    }
    s.as_sockaddr_in6()
        .map(|v6| SocketAddr::new(IpAddr::V6(v6.ip()), v6.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_loopback_counts_as_loopback() {
        let p = Peer {
            remote: Some("[::ffff:127.0.0.1]:5".parse().unwrap()),
            local: None,
        };
        assert!(p.is_loopback());
        assert_eq!(p.remote_text(), "127.0.0.1");
        assert!(!Peer::default().is_loopback());
    }
}
