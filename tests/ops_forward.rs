//! Forwarding (`mailctl forward`) end to end: real SMTP in, real Maildir out; a remote
//! target reached through outbound SMTP to a scripted peer on loopback (the `[outbound]
//! transports` route), with the envelope sender rewritten by SRS; the SRS address accepted
//! at RCPT and reversed to the original sender, a forged one refused.

use crate::harness::peer::Peer;
use crate::harness::smtp::Raw;
use crate::harness::*;

/// Sends one message over the MX port; returns the first refusal or the final reply.
pub fn send(port: u16, from: &str, to: &str, headers: &str, body: &str) -> String {
    let mut c = Raw::connect(port);
    c.cmd("EHLO client.test");
    let r = c.cmd(&format!("MAIL FROM:<{from}>"));
    if !r.starts_with("250") {
        return r;
    }
    let r = c.cmd(&format!("RCPT TO:<{to}>"));
    if !r.starts_with("250") {
        return r;
    }
    c.cmd("DATA");
    let r = c.cmd(&format!("{headers}\r\n{body}\r\n."));
    c.cmd("QUIT");
    r
}

/// A server whose mail for `domains` goes to `peer`, with quick retries.
pub fn server_routing_to(peer: &Peer, domains: &[&str]) -> Server {
    let routes: Vec<String> = domains
        .iter()
        .map(|d| format!("\"{d}\" = \"127.0.0.1:{}\"", peer.port))
        .collect();
    let extra = format!("\n[outbound]\ntransports = {{ {} }}\n", routes.join(", "));
    Server::setup_with(move |t| {
        let t = t
            .replace("retry_base_secs = 300", "retry_base_secs = 1")
            .replace("retry_max_secs = 4000", "retry_max_secs = 1");
        format!("{t}{extra}")
    })
}

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "mailctl: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn forward_to_local_users_with_and_without_a_copy() {
    let mut s = Server::setup();
    s.add_user("bob@example.test", "pw");
    s.add_user("carol@example.test", "pw");
    ok(s.mailctl(
        &["forward", "set", DEMO, "bob@example.test", "--keep-copy"],
        "",
    ));
    ok(s.mailctl(
        &["forward", "set", "carol@example.test", "bob@example.test"],
        "",
    ));
    let listing = ok(s.mailctl(&["forward", "list"], ""));
    assert!(
        listing.contains("demo@example.test -> bob@example.test +copy"),
        "{listing}"
    );
    assert!(
        listing.contains("carol@example.test -> bob@example.test\n"),
        "{listing}"
    );
    s.run();
    let r = send(
        s.ports.smtp,
        "x@remote.test",
        DEMO,
        "Subject: kept\r\n",
        "one",
    );
    assert!(r.starts_with("250"), "{r}");
    let d = s.wait_for_messages(DEMO, 1);
    assert!(read(&d[0]).contains("Subject: kept"));
    s.wait_for_messages("bob@example.test", 1);
    let r = send(
        s.ports.smtp,
        "x@remote.test",
        "carol@example.test",
        "Subject: passed on\r\n",
        "two",
    );
    assert!(r.starts_with("250"), "{r}");
    let b = s.wait_for_messages("bob@example.test", 2);
    assert!(b.iter().any(|p| read(p).contains("Subject: passed on")));
    assert!(
        s.new_messages("carol@example.test").is_empty(),
        "carol forwarded without --keep-copy still got a copy"
    );
    ok(s.mailctl(&["forward", "del", "carol@example.test"], ""));
    assert!(!s
        .mailctl(&["forward", "del", "carol@example.test"], "")
        .status
        .success());
    // Set while the server runs: smtpd and queue-runner both follow the change.
    ok(s.mailctl(
        &["forward", "set", "info@example.test", "carol@example.test"],
        "",
    ));
    let r = send(
        s.ports.smtp,
        "x@remote.test",
        "info@example.test",
        "Subject: for info\r\n",
        "three",
    );
    assert!(r.starts_with("250"), "{r}");
    let c = s.wait_for_messages("carol@example.test", 1);
    assert!(read(&c[0]).contains("Subject: for info"));
    assert!(!s
        .mailctl(
            &["forward", "set", "x@elsewhere.test", "bob@example.test"],
            ""
        )
        .status
        .success());
}

#[test]
fn remote_forward_goes_out_with_an_srs_sender_and_bounces_come_back() {
    let peer = Peer::start();
    let mut s = server_routing_to(&peer, &["remote.test", "origin.test"]);
    ok(s.mailctl(&["forward", "set", DEMO, "alice@remote.test"], ""));
    assert!(s.dir.path().join("srs.secret").exists());
    s.run();
    let r = send(
        s.ports.smtp,
        "sender@origin.test",
        DEMO,
        "Subject: to alice\r\n",
        "hello",
    );
    assert!(r.starts_with("250"), "{r}");
    wait_logged(&s, "forwarded copy at the peer", || {
        !peer.messages().is_empty()
    });
    let got = peer.messages().remove(0);
    let first = got.lines().next().unwrap_or("").to_string();
    assert!(first.starts_with("FROM <SRS0="), "{first}");
    assert!(
        first.contains("=origin.test=sender@example.test> TO alice@remote.test"),
        "{first}"
    );
    assert!(got.contains("Subject: to alice"));
    assert!(
        s.new_messages(DEMO).is_empty(),
        "forward without copy kept one"
    );
    let end = first.find('>').unwrap_or(first.len());
    let srs = first["FROM <".len()..end].to_string();

    // A bounce to the SRS address is accepted and goes back to the original sender.
    let r = send(s.ports.smtp, "", &srs, "Subject: bounce\r\n", "returned");
    assert!(r.starts_with("250"), "{r}");
    wait_logged(&s, "bounce at the original sender", || {
        peer.messages().len() >= 2
    });
    let back = peer
        .messages()
        .into_iter()
        .find(|m| m.contains("Subject: bounce"))
        .expect("bounce at peer");
    assert!(
        back.starts_with("FROM <> TO sender@origin.test\n"),
        "{back}"
    );

    // A forged hash is refused at RCPT.
    let (head, tail) = srs.split_at(5);
    let flipped = if tail.starts_with(['A', 'a']) {
        "B"
    } else {
        "A"
    };
    let forged = format!("{head}{flipped}{}", &tail[1..]);
    let mut c = Raw::connect(s.ports.smtp);
    c.cmd("EHLO client.test");
    c.cmd("MAIL FROM:<>");
    let r = c.cmd(&format!("RCPT TO:<{forged}>"));
    assert!(r.starts_with("550 5.1.1"), "{forged}: {r}");
    c.cmd("QUIT");
}

#[test]
fn domain_alias_reaches_the_target_domains_users_and_forwards() {
    let mut s = Server::setup_with(|t| {
        t.replace(
            "[domains.\"example.test\"]",
            "[domains.\"example.org\"]\nalias_of = \"example.test\"\n\n[domains.\"example.test\"]",
        )
    });
    s.add_user("bob@example.test", "pw");
    ok(s.mailctl(
        &["forward", "set", "info@example.org", "bob@example.test"],
        "",
    ));
    assert!(ok(s.mailctl(&["forward", "list"], "")).contains("info@example.test -> "));
    s.run();
    let r = send(
        s.ports.smtp,
        "x@remote.test",
        "Demo@Example.ORG",
        "Subject: via alias\r\n",
        "a",
    );
    assert!(r.starts_with("250"), "{r}");
    assert!(read(&s.wait_for_messages(DEMO, 1)[0]).contains("Subject: via alias"));
    let r = send(
        s.ports.smtp,
        "x@remote.test",
        "info@example.org",
        "Subject: info\r\n",
        "b",
    );
    assert!(r.starts_with("250"), "{r}");
    assert!(read(&s.wait_for_messages("bob@example.test", 1)[0]).contains("Subject: info"));
    let r = send(
        s.ports.smtp,
        "x@remote.test",
        "nobody@example.org",
        "Subject: x\r\n",
        "c",
    );
    assert!(r.starts_with("550 5.1.1"), "{r}");
}
