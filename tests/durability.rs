//! Durability: once smtpd says 250 the message survives kill -9 of any later stage. Under a
//! stream of messages, spam-scan and queue-runner are killed repeatedly; the supervisor
//! restarts them, and every accepted message is delivered at least once.

use crate::harness::smtp::Raw;
use crate::harness::*;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MESSAGES: usize = 120;

#[test]
fn kill_9_of_stages_loses_no_accepted_message() {
    let server = Server::start();
    let port = server.ports.smtp;
    let done = Arc::new(AtomicBool::new(false));
    let sender = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut accepted = BTreeSet::new();
            let mut c = Raw::connect(port);
            c.cmd("EHLO stream.test");
            for i in 0..MESSAGES {
                c.cmd("MAIL FROM:<stream@remote.test>");
                c.cmd(&format!("RCPT TO:<{DEMO}>"));
                c.cmd("DATA");
                let r = c.cmd(&format!(
                    "Subject: seq\r\nX-Seq: {i}\r\n\r\nmessage {i}\r\n."
                ));
                if r.starts_with("250") {
                    accepted.insert(i);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            done.store(true, Ordering::SeqCst);
            accepted
        })
    };
    let mut kills = 0;
    while !done.load(Ordering::SeqCst) {
        for program in ["spam-scan", "queue-runner"] {
            for pid in server.pids_of(program) {
                signal(pid, libc::SIGKILL);
                kills += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(700));
    }
    let accepted = sender.join().expect("sender thread");
    assert_eq!(accepted.len(), MESSAGES, "smtpd refused some messages");
    assert!(kills >= 4, "the stages were killed only {kills} times");

    let start = Instant::now();
    let delivered = loop {
        let seen = delivered_seqs(&server);
        if accepted.is_subset(&seen) {
            break seen;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "lost: {:?}\n{}",
            accepted.difference(&seen).collect::<Vec<_>>(),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(accepted.is_subset(&delivered));
}

fn delivered_seqs(server: &Server) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    for dir in ["new", "cur"] {
        for f in list_files(&server.maildir(DEMO).join(dir)) {
            let msg = read(&f);
            if let Some(n) = msg
                .lines()
                .find_map(|l| l.strip_prefix("X-Seq: "))
                .and_then(|n| n.trim().parse().ok())
            {
                seen.insert(n);
            }
        }
    }
    seen
}

#[test]
fn a_second_queue_runner_refuses_to_start() {
    let server = Server::start();
    let start = Instant::now();
    while server.pids_of("queue-runner").is_empty() {
        assert!(start.elapsed() < PATIENCE, "queue-runner never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = std::process::Command::new(bin("queue-runner"))
        .arg("--config")
        .arg(server.config())
        .arg("--once")
        .output()
        .expect("run queue-runner");
    assert_eq!(out.status.code(), Some(75), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("lock"), "{}", text(&out.stderr));
}
