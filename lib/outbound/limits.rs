//! Connection limits shared by every queue-runner worker: at most `max_connections` open
//! SMTP client connections in all, `max_per_destination` to one destination (route key).
//! A `Permit` is held for as long as its connection is open, idle ones included, and
//! gives its place back when dropped. Waiting is bounded: a worker that cannot get a
//! place in time defers the recipients (4.4.5) rather than blocking the queue.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Limits {
    max_total: usize,
    max_per: usize,
    open: Mutex<Open>,
    freed: Condvar,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    per: HashMap<String, usize>,
}

/// One open connection's place; released on drop.
#[derive(Debug)]
pub struct Permit {
    limits: Arc<Limits>,
    key: String,
}

impl Limits {
    pub fn new(max_total: usize, max_per: usize) -> Arc<Limits> {
        Arc::new(Limits {
            max_total: max_total.max(1),
            max_per: max_per.max(1),
            open: Mutex::new(Open::default()),
            freed: Condvar::new(),
        })
    }

    /// A place for one more connection to `key`, waiting at most `wait`.
    pub fn acquire(self: &Arc<Self>, key: &str, wait: Duration) -> Option<Permit> {
        let deadline = Instant::now() + wait;
        let mut open = self.open.lock().ok()?;
        loop {
            let here = open.per.get(key).copied().unwrap_or(0);
            if open.total < self.max_total && here < self.max_per {
                open.total += 1;
                open.per.insert(key.to_string(), here + 1);
                return Some(Permit {
                    limits: self.clone(),
                    key: key.to_string(),
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            open = self.freed.wait_timeout(open, left).ok()?.0;
        }
    }

    /// Open connections to `key` (for tests and logs).
    pub fn open_to(&self, key: &str) -> usize {
        self.open
            .lock()
            .map(|o| o.per.get(key).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Ok(mut open) = self.limits.open.lock() {
            open.total = open.total.saturating_sub(1);
            if let Some(n) = open.per.get_mut(&self.key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    open.per.remove(&self.key);
                }
            }
        }
        self.limits.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_destination_and_total() {
        let l = Limits::new(3, 2);
        let z = Duration::ZERO;
        let a1 = l.acquire("a", z).unwrap();
        let _a2 = l.acquire("a", z).unwrap();
        assert!(l.acquire("a", z).is_none());
        let _b1 = l.acquire("b", z).unwrap();
        assert!(l.acquire("c", z).is_none(), "total exceeded");
        assert_eq!(l.open_to("a"), 2);
        drop(a1);
        assert_eq!(l.open_to("a"), 1);
        let l2 = l.clone();
        let t = std::thread::spawn(move || l2.acquire("c", Duration::from_secs(20)).is_some());
        std::thread::sleep(Duration::from_millis(50));
        drop(_b1);
        assert!(t.join().unwrap(), "a waiter gets the freed place");
    }
}
