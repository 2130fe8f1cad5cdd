//! Outbound delivery: queue-runner of instance A (domain example.test) relays over SMTP to
//! instance B (domain b.test), found through MX records of a real local DNS server, with a
//! DKIM signature B verifies; to small scripted SMTP peers (Python) that answer 451 until
//! told otherwise, refuse one recipient with 550, or stall at the final dot while
//! queue-runner is killed; to a port nobody listens on (retried, then expired); and to a
//! domain with a null MX (fails at once).

use crate::harness::dns::{Dns, Record};
use crate::harness::peer::{recipients, Peer};
use crate::harness::*;
use crate::outbound_common::*;
use std::path::PathBuf;

/// True once `addr` has failed for good: named in an envelope in spool/bounce with
/// `reply_part`, or in a bounce delivered to demo (when the bounce stage already ran).
fn failed_for_good(a: &Server, addr: &str, reply_part: &str) -> bool {
    let bounce = a.spool().join("bounce");
    let in_spool = std::fs::read_dir(&bounce)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| read_or_empty(&e.path().join("envelope")))
        .any(|env| env.contains(addr) && env.contains(reply_part) && env.contains("failed"));
    in_spool
        || a.new_messages(DEMO)
            .iter()
            .map(|p| read(p))
            .any(|m| m.contains(addr) && m.contains(reply_part))
}

fn read_or_empty(p: &PathBuf) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

#[test]
fn mail_to_another_instance_goes_by_mx_signed_and_verified() {
    let mut b = instance_b("");
    let mut a = instance_a("");
    let out = a.mailctl(
        &["dkim", "keygen", "example.test", "--algorithm", "ed25519"],
        "",
    );
    assert!(out.status.success(), "keygen: {}", text(&out.stderr));
    let out = a.mailctl(&["dkim", "show", "example.test", "--value"], "");
    let dkim_value = text(&out.stdout).trim().to_string();
    let dns = Dns::start(
        &["test"],
        &[
            Record::Mx("b.test", "mx.b.test", 10),
            Record::Addr("mx.b.test", "127.0.0.1"),
            Record::Txt("mail._domainkey.example.test", &dkim_value),
        ],
    );
    set_dns(&a, &dns);
    set_dns(&b, &dns);
    append(&a, &format!("[outbound]\nport = {}\n", b.ports.smtp));
    b.run();
    a.run();
    submit(&a, &[BOB], "to b");
    let got = b.wait_for_messages(BOB, 1);
    let msg = read(&got[0]);
    assert!(
        msg.contains("Subject: to b") && msg.contains("\n.leading dot"),
        "{msg}"
    );
    assert!(
        msg.contains("DKIM-Signature:") && msg.contains("d=example.test"),
        "{msg}"
    );
    // B's spam-scan verifies the signature against the TXT record in DNS.
    assert!(msg.contains("dkim=pass"), "{msg}");
    wait_logged(&a, "A's queue empties", || queue_empty(&a));
    let log = a.log();
    assert!(log.contains("relay=mx.b.test[127.0.0.1]"), "{log}");
    assert!(
        log.contains("tls=unverified"),
        "STARTTLS with B's self-signed cert: {log}"
    );
}

#[test]
fn required_tls_refuses_an_unverified_certificate() {
    let mut b = instance_b("");
    b.run();
    let mut a = instance_a(&format!(
        "[outbound]\ntransports = {{ \"b.test\" = \"127.0.0.1:{}\" }}\nrequire_tls_domains = [\"B.test\"]\n",
        b.ports.smtp
    ));
    a.run();
    submit(&a, &[BOB], "must be tls");
    // B's certificate is self-signed: with TLS required the mail waits instead.
    wait_logged(&a, "a 4.7.5 deferral", || {
        a.log()
            .contains("to=<bob@b.test> status=deferred (451 4.7.5 TLS certificate not verified")
    });
    assert!(b.new_messages(BOB).is_empty());
    assert!(!b.log().contains("from=<demo@example.test>"), "{}", b.log());
}

#[test]
fn a_451_is_retried_until_the_peer_recovers() {
    let peer = Peer::start();
    peer.flag("defer", true);
    let mut a = instance_a(&format!(
        "[outbound]\ntransports = {{ \"slow.test\" = \"127.0.0.1:{}\" }}\n",
        peer.port
    ));
    a.run();
    submit(&a, &["x@slow.test"], "deferred");
    wait_logged(&a, "a 451 deferral", || {
        a.log()
            .contains("to=<x@slow.test> status=deferred (451 4.3.2 try again later")
    });
    assert!(peer.messages().is_empty());
    peer.flag("defer", false);
    wait_logged(&a, "delivery after recovery", || peer.messages().len() == 1);
    wait_logged(&a, "A's queue empties", || queue_empty(&a));
    assert!(peer.messages()[0].contains("Subject: deferred"));
}

#[test]
fn one_refused_recipient_of_three_bounces_alone() {
    let peer = Peer::start();
    let mut a = instance_a(&format!(
        "[outbound]\ntransports = {{ \"p.test\" = \"127.0.0.1:{}\" }}\n",
        peer.port
    ));
    a.run();
    submit(&a, &["one@p.test", "nobody@p.test", "two@p.test"], "three");
    wait_logged(&a, "the 550 recorded for nobody@p.test", || {
        failed_for_good(&a, "nobody@p.test", "5.1.1")
    });
    let msgs = peer.messages();
    assert_eq!(msgs.len(), 1, "one transaction for the domain");
    let first = recipients(&msgs[0]);
    assert_eq!(first, "one@p.test two@p.test");
    assert!(a.log().contains("no such user here"));
}

#[test]
fn unreachable_destination_is_retried_then_fails() {
    let dead = free_port();
    let mut a = instance_a_lifetime(
        &format!("[outbound]\ntransports = {{ \"down.test\" = \"127.0.0.1:{dead}\" }}\n"),
        4,
    );
    a.run();
    submit(&a, &["x@down.test"], "nowhere");
    wait_logged(&a, "expiry after retries", || {
        failed_for_good(&a, "x@down.test", "5.4.7")
    });
    let log = a.log();
    let tries = log
        .matches("to=<x@down.test> status=deferred (451 4.4.1 connect")
        .count();
    assert!(tries >= 2, "retried before expiry: {log}");
}

#[test]
fn null_mx_fails_at_once() {
    let dns = Dns::start(&["test"], &[Record::Mx("null.test", ".", 0)]);
    let mut a = instance_a(&format!("[dns]\n{}\n", dns.config_line()));
    a.run();
    submit(&a, &["x@null.test"], "null mx");
    wait_logged(&a, "5.1.10 failure", || {
        failed_for_good(&a, "x@null.test", "5.1.10")
    });
    assert!(!a.log().contains("to=<x@null.test> status=deferred"));
}

#[test]
fn killing_queue_runner_mid_transaction_loses_nothing() {
    let peer = Peer::start();
    peer.flag("stall", true);
    let mut b = instance_b("");
    b.run();
    let mut a = instance_a(&format!(
        "[outbound]\ntransports = {{ \"b.test\" = \"127.0.0.1:{}\", \"slow.test\" = \"127.0.0.1:{}\" }}\n",
        b.ports.smtp, peer.port
    ));
    a.run();
    submit(&a, &[BOB, "x@slow.test"], "crash");
    // b.test goes first (domains in order) and is recorded; slow.test stalls after DATA.
    wait_logged(&a, "peer has the data", || {
        peer.dir.path().join("got-data").exists()
    });
    b.wait_for_messages(BOB, 1);
    for pid in a.pids_of("queue-runner") {
        signal(pid, libc::SIGKILL);
    }
    peer.flag("stall", false);
    wait_logged(&a, "delivery to slow.test after the restart", || {
        !peer.messages().is_empty() && queue_empty(&a)
    });
    assert!(peer.messages().iter().all(|m| m.contains("Subject: crash")));
    assert_eq!(
        b.new_messages(BOB).len(),
        1,
        "b.test was recorded before the next transaction"
    );
}
