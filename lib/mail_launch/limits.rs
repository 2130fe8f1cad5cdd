//! Connection limits for mail-launch: which children run for which client connection, and
//! whether one more may start. The total counts children; the per-IP count leaves out
//! children whose client has hung up (see `forget_closed`). Pure bookkeeping; no processes
//! or sockets here.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use super::tcpstate::Established;

#[derive(Debug, Clone)]
struct Conn {
    ip: IpAddr,
    /// (local, remote) as the socket reported them.
    pair: (SocketAddr, SocketAddr),
    /// The client hung up; no longer counted against its IP.
    gone: bool,
}

/// What to do with a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Yes,
    /// `max_connections` children already run.
    TotalFull,
    /// This client already has `max_per_ip` children.
    PerIpFull,
}

#[derive(Debug, Clone)]
pub struct Limits {
    max_total: usize,
    /// 0 means no per-IP limit.
    max_per_ip: usize,
    children: HashMap<i32, Conn>,
    per_ip: HashMap<IpAddr, usize>,
}

impl Limits {
    pub fn new(max_total: usize, max_per_ip: usize) -> Limits {
        Limits {
            max_total: max_total.max(1),
            max_per_ip,
            children: HashMap::new(),
            per_ip: HashMap::new(),
        }
    }

    /// True while one more child may start (the listener is only polled then).
    pub fn has_room(&self) -> bool {
        self.children.len() < self.max_total
    }

    pub fn admit(&self, ip: IpAddr) -> Admit {
        if !self.has_room() {
            Admit::TotalFull
        } else if self.max_per_ip > 0 && self.count(ip) >= self.max_per_ip {
            Admit::PerIpFull
        } else {
            Admit::Yes
        }
    }

    /// Children now serving `ip`.
    pub fn count(&self, ip: IpAddr) -> usize {
        self.per_ip.get(&ip).copied().unwrap_or(0)
    }

    /// Records a child serving client `ip` over the connection `(local, remote)`.
    pub fn add(&mut self, pid: i32, ip: IpAddr, pair: (SocketAddr, SocketAddr)) {
        let conn = Conn {
            ip,
            pair,
            gone: false,
        };
        if let Some(old) = self.children.insert(pid, conn) {
            if !old.gone {
                self.forget_ip(old.ip);
            }
        }
        *self.per_ip.entry(ip).or_insert(0) += 1;
    }

    /// Forgets an exited child; `None` if it was not ours.
    pub fn remove(&mut self, pid: i32) -> Option<IpAddr> {
        let conn = self.children.remove(&pid)?;
        if !conn.gone {
            self.forget_ip(conn.ip);
        }
        Some(conn.ip)
    }

    /// Stops counting `ip`'s children whose connection is no longer established (the
    /// client hung up while the child finishes). Returns how many were let go.
    pub fn forget_closed(&mut self, ip: IpAddr, live: &Established) -> usize {
        let mut n = 0;
        for c in self.children.values_mut() {
            if c.ip == ip && !c.gone && !live.contains(&c.pair) {
                c.gone = true;
                n += 1;
            }
        }
        for _ in 0..n {
            self.forget_ip(ip);
        }
        n
    }

    fn forget_ip(&mut self, ip: IpAddr) {
        if let Some(n) = self.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.children.len()
    }

    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }

    pub fn pids(&self) -> Vec<i32> {
        self.children.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn pair(port: u16) -> (SocketAddr, SocketAddr) {
        (
            "127.0.0.1:25".parse().unwrap(),
            SocketAddr::new(ip("127.0.0.1"), port),
        )
    }

    #[test]
    fn per_ip_and_total_limits() {
        let mut l = Limits::new(3, 2);
        let a = ip("192.0.2.1");
        let b = ip("2001:db8::1");
        assert_eq!(l.admit(a), Admit::Yes);
        l.add(10, a, pair(1));
        l.add(11, a, pair(2));
        assert_eq!(l.admit(a), Admit::PerIpFull);
        assert_eq!(l.admit(b), Admit::Yes);
        l.add(12, b, pair(3));
        assert!(!l.has_room());
        assert_eq!(l.admit(b), Admit::TotalFull);
        assert_eq!(l.remove(10), Some(a));
        assert_eq!(l.remove(10), None);
        assert_eq!(l.admit(a), Admit::Yes);
        assert_eq!(l.count(a), 1);
        l.remove(11);
        l.remove(12);
        assert!(l.is_empty());
        assert_eq!(l.count(a), 0);
        assert!(l.per_ip.is_empty(), "no leaked counters");
    }

    #[test]
    fn zero_per_ip_means_unlimited_and_pid_reuse_is_safe() {
        let mut l = Limits::new(10, 0);
        let a = ip("127.0.0.1");
        for pid in 0..5 {
            l.add(pid, a, pair(pid as u16));
        }
        assert_eq!(l.admit(a), Admit::Yes);
        l.add(3, a, pair(3)); // same pid twice: counted once
        assert_eq!(l.count(a), 5);
        assert_eq!(l.len(), 5);
    }

    #[test]
    fn hung_up_clients_free_their_ip_slot_but_not_the_total() {
        let mut l = Limits::new(3, 2);
        let a = ip("127.0.0.1");
        l.add(1, a, pair(1));
        l.add(2, a, pair(2));
        assert_eq!(l.admit(a), Admit::PerIpFull);
        let live: Established = [pair(2)].into_iter().collect();
        assert_eq!(l.forget_closed(a, &live), 1);
        assert_eq!(l.forget_closed(a, &live), 0, "counted once");
        assert_eq!(l.admit(a), Admit::Yes);
        l.add(3, a, pair(3));
        assert_eq!(l.admit(a), Admit::TotalFull);
        l.remove(1);
        assert_eq!(l.count(a), 2);
        l.remove(2);
        l.remove(3);
        assert!(l.per_ip.is_empty());
    }
}
