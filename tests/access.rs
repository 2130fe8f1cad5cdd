//! Allow and block lists (`mailctl allow|block`) and DNS block/allow lists, applied by the
//! real smtpd: a blocked client is refused at connect, a blocked sender at MAIL, a user's
//! own block at RCPT; a DNSBL listing (served by a real local DNS server) refuses at connect
//! or, with `dnsbl_action = "score"`, becomes part of the facts spam-scan reads.

use crate::harness::dns::{Dns, Record};
use crate::harness::smtp::Raw;
use crate::harness::{text, Server, DEMO};
use mail::config::Config;
use mail::spool::Envelope;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Connects and returns the greeting line, then says QUIT and returns its answer.
fn greet(port: u16) -> (String, String) {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut greeting = String::new();
    r.read_line(&mut greeting).expect("greeting");
    let mut w = s;
    w.write_all(b"EHLO client.test\r\nQUIT\r\n").expect("send");
    let mut rest = String::new();
    while r.read_line(&mut rest).is_ok_and(|n| n > 0) {}
    (greeting, rest)
}

fn ok(out: std::process::Output) -> String {
    assert!(out.status.success(), "mailctl: {}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn blocked_client_is_refused_at_connect_until_removed() {
    let mut s = Server::setup();
    s.run();
    assert!(ok(s.mailctl(&["block", "add", "127.0.0.0/8"], "")).contains("added"));
    assert_eq!(ok(s.mailctl(&["block", "list"], "")), "127.0.0.0/8\n");
    let (greeting, rest) = greet(s.ports.smtp);
    assert!(greeting.starts_with("554 5.7.1"), "{greeting}");
    assert!(
        rest.starts_with("503 5.5.1") && rest.contains("221"),
        "{rest}"
    );
    // A global allow of the address outweighs the block.
    ok(s.mailctl(&["allow", "add", "127.0.0.1"], ""));
    assert!(greet(s.ports.smtp).0.starts_with("220"));
    ok(s.mailctl(&["allow", "del", "127.0.0.1"], ""));
    ok(s.mailctl(&["block", "del", "127.0.0.0/8"], ""));
    assert!(greet(s.ports.smtp).0.starts_with("220"));
    let bad = s.mailctl(&["block", "add", "10.0.0.0/99"], "");
    assert!(!bad.status.success() && text(&bad.stderr).contains("prefix"));
}

#[test]
fn blocked_sender_at_mail_and_users_own_block_at_rcpt() {
    let mut s = Server::setup();
    s.run();
    s.add_user("bob@example.test", "bobpw");
    ok(s.mailctl(&["block", "add", "spammer@bad.test"], ""));
    ok(s.mailctl(&["block", "add", "--user", DEMO, "news.test"], ""));
    ok(s.mailctl(&["allow", "add", "--user", DEMO, "boss@news.test"], ""));
    assert_eq!(
        ok(s.mailctl(&["block", "list", "--user", DEMO], "")),
        "news.test\n"
    );
    let mut c = Raw::connect(s.ports.smtp);
    c.cmd("EHLO client.test");
    let r = c.cmd("MAIL FROM:<Spammer@Bad.test>");
    assert!(r.starts_with("550 5.7.1"), "{r}");
    assert!(c.cmd("MAIL FROM:<x@mail.news.test>").starts_with("250"));
    let r = c.cmd(&format!("RCPT TO:<{DEMO}>"));
    assert!(r.starts_with("550 5.7.1"), "{r}");
    let r = c.cmd("RCPT TO:<bob@example.test>");
    assert!(r.starts_with("250"), "bob has no block: {r}");
    c.cmd("RSET");
    assert!(c.cmd("MAIL FROM:<boss@news.test>").starts_with("250"));
    let r = c.cmd(&format!("RCPT TO:<{DEMO}>"));
    assert!(r.starts_with("250"), "allowed by demo's own list: {r}");
    c.cmd("QUIT");
    let log = s.log();
    assert!(
        log.contains("reject: MAIL from=127.0.0.1 sender=<Spammer@Bad.test>"),
        "{log}"
    );
}

fn dns_listing_127_0_0_1() -> Dns {
    Dns::start(
        &["bl.test", "wl.test"],
        &[
            Record::Addr("1.0.0.127.bl.test", "127.0.0.2"),
            Record::Txt("1.0.0.127.bl.test", "listed for testing"),
            Record::Addr("2.0.0.127.wl.test", "127.0.0.2"),
        ],
    )
}

fn server(dns: &Dns, policy: &str) -> Server {
    let line = dns.config_line();
    Server::setup_with(|t| format!("{t}\n[dns]\n{line}\ntimeout_secs = 2\n[policy]\n{policy}\n"))
}

#[test]
fn dnsbl_listing_is_refused_at_connect_with_the_zone_named() {
    let dns = dns_listing_127_0_0_1();
    let mut s = server(
        &dns,
        "dnsbl = [\"bl.test\"]\ndnswl = [\"wl.test\"]\ndnsbl_loopback = true",
    );
    s.run();
    let (greeting, _) = greet(s.ports.smtp);
    assert!(
        greeting.starts_with("554 5.7.1") && greeting.contains("listed by bl.test"),
        "{greeting}"
    );
    // The submission port does not refuse: its clients must authenticate anyway.
    assert!(greet(s.ports.submission).0.starts_with("220"));
    // An allow-listed client is not looked up.
    ok(s.mailctl(&["allow", "add", "127.0.0.1"], ""));
    assert!(greet(s.ports.smtp).0.starts_with("220"));
}

#[test]
fn dnsbl_score_mode_accepts_and_reports_the_listing() {
    let dns = dns_listing_127_0_0_1();
    let mut s = server(
        &dns,
        "dnsbl = [\"bl.test\"]\ndnsbl_action = \"score\"\ndnsbl_score = 4.5\ndnsbl_loopback = true",
    );
    s.run();
    assert!(greet(s.ports.smtp).0.starts_with("220"));
    assert!(
        s.log().contains("dnsbl client=127.0.0.1 listed=bl.test"),
        "{}",
        s.log()
    );
    // What spam-scan learns about a message from this client.
    let cfg = Config::load(&s.config()).expect("config");
    let env = Envelope {
        sender: "someone@else.test".into(),
        client_ip: Some("127.0.0.1".into()),
        ..Envelope::default()
    };
    let f = mail::access::facts(&cfg, &env);
    assert_eq!(f.dnsbl_hits, vec!["bl.test".to_string()]);
    assert_eq!(f.score, 4.5);
    assert!(!f.allowlisted);
    ok(s.mailctl(&["allow", "add", "else.test"], ""));
    assert!(mail::access::facts(&cfg, &env).allowlisted);
}
