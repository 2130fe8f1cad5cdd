//! Connection limits for mail-launch: which children run for which client IP, and whether
//! one more connection may start. Pure bookkeeping; no processes or sockets here.

use std::collections::HashMap;
use std::net::IpAddr;

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
    children: HashMap<i32, IpAddr>,
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

    pub fn add(&mut self, pid: i32, ip: IpAddr) {
        if let Some(old) = self.children.insert(pid, ip) {
            self.forget_ip(old);
        }
        *self.per_ip.entry(ip).or_insert(0) += 1;
    }

    /// Forgets an exited child; `None` if it was not ours.
    pub fn remove(&mut self, pid: i32) -> Option<IpAddr> {
        let ip = self.children.remove(&pid)?;
        self.forget_ip(ip);
        Some(ip)
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

    #[test]
    fn per_ip_and_total_limits() {
        let mut l = Limits::new(3, 2);
        let a = ip("192.0.2.1");
        let b = ip("2001:db8::1");
        assert_eq!(l.admit(a), Admit::Yes);
        l.add(10, a);
        l.add(11, a);
        assert_eq!(l.admit(a), Admit::PerIpFull);
        assert_eq!(l.admit(b), Admit::Yes);
        l.add(12, b);
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
            l.add(pid, a);
        }
        assert_eq!(l.admit(a), Admit::Yes);
        l.add(3, a); // same pid twice: counted once
        assert_eq!(l.count(a), 5);
        assert_eq!(l.len(), 5);
    }
}
