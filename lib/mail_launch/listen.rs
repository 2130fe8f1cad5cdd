//! The listening socket: IPv4 or IPv6, SO_REUSEADDR, dual-stack for `[::]`, non-blocking and
//! close-on-exec so no child inherits it. Accepted connections are close-on-exec too; the
//! child gets its copy only through dup2 onto fds 0 and 1.

use nix::sys::socket::{
    self, sockopt, AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage,
};
use std::net::{IpAddr, SocketAddr};
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
    match (to_std(&remote), to_std(&local)) {
        (Some(r), Some(l)) => Ok((r, l)),
        _ => Err(nix::errno::Errno::EAFNOSUPPORT),
    }
}

fn to_std(s: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(SocketAddr::new(IpAddr::V4(v4.ip()), v4.port()));
    }
    s.as_sockaddr_in6()
        .map(|v6| SocketAddr::new(IpAddr::V6(v6.ip()), v6.port()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn binds_accepts_and_reports_addresses() {
        let fd = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let local = socket::getsockname::<SockaddrStorage>(fd.as_raw_fd()).unwrap();
        let port = to_std(&local).unwrap().port();
        let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let conn = loop {
            match accept(&fd) {
                Ok(c) => break c,
                Err(nix::errno::Errno::EAGAIN) => std::thread::sleep(Default::default()),
                Err(e) => panic!("{e}"),
            }
        };
        let (r, l) = addresses(&conn).unwrap();
        assert_eq!(r, client.local_addr().unwrap());
        assert_eq!(l.port(), port);
        let mut s = std::net::TcpStream::from(conn);
        s.write_all(b"hi").unwrap();
        let mut buf = [0u8; 2];
        client.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hi");
    }

    #[test]
    fn second_bind_on_same_port_fails() {
        let fd = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let local = socket::getsockname::<SockaddrStorage>(fd.as_raw_fd()).unwrap();
        assert!(bind(to_std(&local).unwrap()).is_err());
    }
}
