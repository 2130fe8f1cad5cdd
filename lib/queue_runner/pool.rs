//! The worker pool: a fixed number of threads, each taking one message at a time and each
//! keeping one `local-deliver --lmtp` child and one outbound SMTP agent with its idle
//! connections (all stopped when the worker ends), so at most that many delivery children
//! run at once. A waiting worker wakes every second to close idle SMTP connections. A message is never handed to two workers
//! (the in-flight set), and once a stop is requested queued messages are dropped unstarted.

use super::remote::Remote;
use super::{message, wake, Shared};
use crate::mlog;
use std::collections::HashSet;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

struct InFlight {
    ids: Mutex<HashSet<String>>,
    idle: Condvar,
}

pub(crate) struct Pool {
    tx: Option<Sender<String>>,
    workers: Vec<JoinHandle<()>>,
    busy: Arc<InFlight>,
}

impl Pool {
    pub fn start(shared: Arc<Shared>, n: usize) -> Pool {
        let (tx, rx) = channel::<String>();
        let rx = Arc::new(Mutex::new(rx));
        let busy = Arc::new(InFlight {
            ids: Mutex::new(HashSet::new()),
            idle: Condvar::new(),
        });
        let workers = (0..n.max(1))
            .map(|_| {
                let (shared, rx, busy) = (shared.clone(), rx.clone(), busy.clone());
                std::thread::spawn(move || worker(&shared, &rx, &busy))
            })
            .collect();
        Pool {
            tx: Some(tx),
            workers,
            busy,
        }
    }

    /// Queues a message unless it is already queued or being worked on.
    pub fn submit(&self, id: String) {
        let Ok(mut ids) = self.busy.ids.lock() else {
            return;
        };
        if ids.insert(id.clone()) {
            if let Some(tx) = &self.tx {
                if tx.send(id.clone()).is_err() {
                    ids.remove(&id);
                }
            }
        }
    }

    /// True while `id` is queued or being worked on (its envelope is the worker's business).
    pub fn in_flight(&self, id: &str) -> bool {
        self.busy
            .ids
            .lock()
            .map(|ids| ids.contains(id))
            .unwrap_or(false)
    }

    /// Blocks until no message is queued or in progress.
    pub fn wait_idle(&self) {
        let Ok(mut ids) = self.busy.ids.lock() else {
            return;
        };
        while !ids.is_empty() {
            ids = match self.busy.idle.wait(ids) {
                Ok(g) => g,
                Err(_) => return,
            };
        }
    }

    /// Lets workers finish what they are doing, then joins them.
    pub fn shutdown(mut self) {
        self.tx = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

fn worker(shared: &Shared, rx: &Mutex<Receiver<String>>, busy: &InFlight) {
    // This worker's `local-deliver --lmtp` child: QUIT and reaped when the worker ends.
    let mut agent = message::new_agent(&shared.cfg);
    // Its SMTP connections: idle ones closed after `[outbound] idle`, all at the end.
    let mut remote = Remote::new(&shared.cfg, shared.limits.clone());
    loop {
        let next = match rx.lock() {
            Ok(r) => r.recv_timeout(Duration::from_secs(1)),
            Err(_) => break,
        };
        let id = match next {
            Ok(id) => id,
            Err(RecvTimeoutError::Timeout) => {
                remote.agent.sweep(&shared.cfg);
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        if !wake::stop_requested() {
            let dir = match shared.dir.read() {
                Ok(d) => d.clone(),
                Err(_) => break,
            };
            let r = message::process_with(
                &shared.cfg,
                &shared.spool,
                &dir,
                &id,
                &mut agent,
                &mut remote,
            );
            if let Err(e) = r {
                mlog!("{id}: left in queue: {e}");
            }
            remote.agent.sweep(&shared.cfg);
        }
        if let Ok(mut ids) = busy.ids.lock() {
            ids.remove(&id);
            if ids.is_empty() {
                busy.idle.notify_all();
            }
        }
    }
    remote.agent.close_all();
}
