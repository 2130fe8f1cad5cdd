//! The listening socket: IPv4 or IPv6, SO_REUSEADDR, dual-stack for `[::]`, non-blocking and
//! close-on-exec so no child inherits it. Accepted connections are close-on-exec too; the
//! child gets its copy only through dup2 onto fds 0 and 1.

use nix::sys::socket::{
    self, sockopt, AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage,
};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// Binds and listens on `addr`.
pub fn bind(addr: SocketAddr) -> nix::Result<OwnedFd> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd = socket::socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    socket::setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    if let SocketAddr::V6(v6) = addr {
        // `[::]` serves IPv4 too (mapped), whatever the system default says.
        socket::setsockopt(&fd, sockopt::Ipv6V6Only, &!v6.ip().is_unspecified())?;
    }
    socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(addr))?;
    socket::listen(&fd, Backlog::new(256).unwrap_or(Backlog::MAXCONN))?;
    Ok(fd)
}

/// Accepts one connection, blocking-mode and close-on-exec.
pub fn accept(listener: &OwnedFd) -> nix::Result<OwnedFd> {
    socket::accept4(listener.as_fd(), SockFlag::SOCK_CLOEXEC)
}

/// The client's and our addresses of a connected socket.
pub fn addresses(conn: &OwnedFd) -> nix::Result<(SocketAddr, SocketAddr)> {
    let remote = socket::getpeername::<SockaddrStorage>(conn.as_raw_fd())?;
    let local = socket::getsockname::<SockaddrStorage>(conn.as_raw_fd())?;
    match (
        crate::peer::socket_addr(&remote),
        crate::peer::socket_addr(&local),
    ) {
        (Some(r), Some(l)) => Ok((r, l)),
        _ => Err(nix::errno::Errno::EAFNOSUPPORT),
    }
}
