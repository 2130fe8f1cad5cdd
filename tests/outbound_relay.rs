//! Verified outbound TLS with a private CA (`[outbound] ca_file`), end to end between two
//! instances: A relays through B as its smarthost (`relayhost` with AUTH, TLS required),
//! and a wrong relay password keeps the message queued until it is fixed; A delivers by MX
//! to B under an enforced MTA-STS policy (real local DNS, policy over HTTPS), which defers
//! when the policy names no MX host or B's certificate cannot be verified, and delivers
//! once B presents a certificate from the trusted CA.

use crate::harness::dns::{Dns, Record};
use crate::harness::*;
use crate::outbound_common::*;
use std::path::Path;

/// A with B's submission port as its smarthost, AUTH as demo with `password`.
fn relaying_pair(ca_dir: &Path, password: &str) -> (Server, Server) {
    make_ca(ca_dir, &["localhost", "127.0.0.1"]);
    let mut b = instance_b("");
    install_leaf(&b, ca_dir);
    b.run();
    let mut a = instance_a(&format!(
        "[outbound]\nrelayhost = \"[127.0.0.1]:{}\"\n\
         relayhost_auth = {{ user = \"{DEMO}\", password_file = \"relay.password\" }}\n\
         ca_file = \"{}\"\n",
        b.ports.submission,
        ca_dir.join("ca.pem").display()
    ));
    set_relay_password(&a, password);
    a.run();
    (a, b)
}

fn set_relay_password(a: &Server, password: &str) {
    let path = a.dir.path().join("relay.password");
    std::fs::write(path, format!("{password}\n")).expect("password file");
}

#[test]
fn smarthost_with_auth_over_tls_verified_by_a_private_ca() {
    let ca = tempfile::tempdir().expect("tempdir");
    // B's own demo account is the relay login: B lets an authenticated user send only
    // from its own addresses, and A's user sends as demo@example.test.
    let (a, b) = relaying_pair(ca.path(), DEMO_PASSWORD);
    submit(&a, &[BOB], "via smarthost");
    let got = b.wait_for_messages(BOB, 1);
    let msg = read(&got[0]);
    assert!(msg.contains("Subject: via smarthost"), "{msg}");
    // B's Received line (the first) records A's relay login over TLS.
    let received = msg.split("\nReceived: ").nth(1).unwrap_or("");
    assert!(
        received.contains("using TLS") && received.contains("with ESMTPSA"),
        "{msg}"
    );
    assert!(msg.contains(&format!("smtp.auth={DEMO}")), "{msg}");
    wait_logged(&a, "A's queue empties", || queue_empty(&a));
    let log = a.log();
    assert!(
        log.contains(&format!(
            "relay=127.0.0.1[127.0.0.1]:{}",
            b.ports.submission
        )),
        "{log}"
    );
    assert!(log.contains("tls=verified"), "{log}");
    assert!(
        b.log().contains(&format!("auth ok user={DEMO}")),
        "{}",
        b.log()
    );
}

#[test]
fn wrong_relay_password_defers_and_keeps_the_message() {
    let ca = tempfile::tempdir().expect("tempdir");
    let (a, b) = relaying_pair(ca.path(), "wrong");
    submit(&a, &[BOB], "kept");
    wait_logged(&a, "an AUTH deferral", || {
        a.log()
            .lines()
            .any(|l| l.contains("to=<bob@b.test> status=deferred (451") && l.contains("AUTH"))
    });
    assert!(b.log().contains(&format!("auth failed user={DEMO}")));
    assert!(!queue_empty(&a), "the message must stay queued");
    assert!(b.new_messages(BOB).is_empty());
    // Fixed password: the next retry delivers the same message, once.
    set_relay_password(&a, DEMO_PASSWORD);
    let got = b.wait_for_messages(BOB, 1);
    assert!(read(&got[0]).contains("Subject: kept"));
    wait_logged(&a, "A's queue empties", || queue_empty(&a));
    assert_eq!(b.new_messages(BOB).len(), 1);
    assert!(a.new_messages(DEMO).is_empty(), "no bounce to the sender");
}

/// DNS for b.test (MX mx.b.test, `_mta-sts` TXT, `mta-sts.b.test`), an HTTPS server with
/// `policy` and a certificate from the test CA in `ca_dir`, B running with its own
/// self-signed certificate, and A (trusting the CA for both HTTPS and SMTP) running.
fn sts_setup(ca_dir: &Path, policy: &str) -> (Server, Server, Dns, PolicyServer) {
    make_ca(ca_dir, &["mta-sts.b.test", "mx.b.test"]);
    let https = PolicyServer::start(ca_dir, policy);
    let dns = Dns::start(
        &["test"],
        &[
            Record::Mx("b.test", "mx.b.test", 10),
            Record::Addr("mx.b.test", "127.0.0.1"),
            Record::Txt("_mta-sts.b.test", "v=STSv1; id=1"),
            Record::Addr("mta-sts.b.test", "127.0.0.1"),
        ],
    );
    let mut b = instance_b("");
    b.run();
    let ca = ca_dir.join("ca.pem");
    let mut a = instance_a(&format!(
        "[dns]\n{}\ntimeout_secs = 2\n\
         [dkim]\nmta_sts_https_port = {}\nmta_sts_ca_file = \"{}\"\n\
         [outbound]\nport = {}\nca_file = \"{}\"\n",
        dns.config_line(),
        https.port,
        ca.display(),
        b.ports.smtp,
        ca.display()
    ));
    a.run();
    (a, b, dns, https)
}

#[test]
fn mta_sts_enforce_defers_when_no_mx_matches_the_policy() {
    let ca = tempfile::tempdir().expect("tempdir");
    let policy = "version: STSv1\nmode: enforce\nmx: other.b.test\nmax_age: 86400\n";
    let (a, b, _dns, _https) = sts_setup(ca.path(), policy);
    submit(&a, &[BOB], "sts mismatch");
    wait_logged(&a, "a 4.7.5 MTA-STS deferral", || {
        a.log().contains(
            "to=<bob@b.test> status=deferred (451 4.7.5 MTA-STS: no MX host of b.test matches",
        )
    });
    assert!(!queue_empty(&a));
    assert!(b.new_messages(BOB).is_empty());
    assert!(!b.log().contains("from=<demo@example.test>"), "{}", b.log());
}

#[test]
fn mta_sts_enforce_needs_a_verified_certificate() {
    let ca = tempfile::tempdir().expect("tempdir");
    let policy = "version: STSv1\nmode: enforce\nmx: mx.b.test\nmax_age: 86400\n";
    let (a, b, _dns, _https) = sts_setup(ca.path(), policy);
    submit(&a, &[BOB], "sts tls");
    // B's certificate is the self-signed one from `mailctl init`: not verifiable.
    wait_logged(&a, "a 4.7.5 certificate deferral", || {
        a.log()
            .contains("to=<bob@b.test> status=deferred (451 4.7.5 TLS certificate not verified")
    });
    assert!(b.new_messages(BOB).is_empty());
    // B now presents a certificate for mx.b.test from the CA A trusts (`ca_file`).
    install_leaf(&b, ca.path());
    let got = b.wait_for_messages(BOB, 1);
    assert!(read(&got[0]).contains("Subject: sts tls"));
    wait_logged(&a, "A's queue empties", || queue_empty(&a));
    let log = a.log();
    assert!(log.contains("relay=mx.b.test[127.0.0.1]"), "{log}");
    assert!(log.contains("tls=verified"), "{log}");
}
