//! `mailctl log search` over the stack's real log (`mailctl run`'s stderr, which the
//! harness keeps in server.log): a message's path by queue id, and a user's mail.

use crate::harness::*;
use crate::ops_common::*;

#[test]
fn message_path_and_user_history_from_the_log() {
    let server = Server::start();
    server.add_user("ann@example.test", "pw");
    send_seq(&server, DEMO, 1, 1);
    send_seq(&server, "ann@example.test", 2, 1);
    server.wait_for_messages(DEMO, 1);
    server.wait_for_messages("ann@example.test", 1);
    let log = server.log_path();
    let log_s = log.to_str().unwrap();
    // The id smtpd gave the message to demo: from its log line.
    wait_until("delivery logged", || {
        server.log().matches("status=sent").count() >= 2
    });
    let all = server.log();
    let id = all
        .lines()
        .filter(|l| l.contains("queue-runner[") && l.contains(&format!("to=<{DEMO}>")))
        .find_map(|l| l.split("]: ").nth(1)?.split(':').next().map(str::to_string))
        .expect("a delivery line for demo");
    let out = ok(server.mailctl(&["log", "search", &id, "--file", log_s], ""));
    assert!(
        out.starts_with(&format!("{id}  from=<seq@remote.test>  delivered")),
        "{out}"
    );
    for step in [
        "smtpd: client=",
        "spam-scan: scanned",
        "status=sent",
        ": removed",
    ] {
        assert!(out.contains(step), "{step} missing in\n{out}");
    }
    let out = ok(server.mailctl(&["log", "search", DEMO, "--file", log_s], ""));
    assert!(
        out.contains(&format!("received by {DEMO}: 1\n  {id}")),
        "{out}"
    );
    assert!(
        !out.contains("ann@example.test"),
        "another user's mail: {out}"
    );
    let out = ok(server.mailctl(&["log", "search", "seq@remote.test", "--file", log_s], ""));
    assert!(out.contains("sent by seq@remote.test: 2"), "{out}");
    let none = server.mailctl(
        &["log", "search", "nobody@example.test", "--file", log_s],
        "",
    );
    assert!(!none.status.success());
    let piped = ok(server.mailctl(&["log", "search", &id], &all));
    assert!(piped.starts_with(&id), "{piped}");
    let bad = server.mailctl(
        &[
            "log",
            "search",
            &id,
            "--file",
            log_s,
            "--since",
            "yesterday",
        ],
        "",
    );
    assert!(!bad.status.success());
}

/// A quarantined message never reaches a delivery line, so only smtpd's per-recipient
/// `to=<…> status=received` line ties it to its recipient.
#[test]
fn quarantined_mail_is_found_by_its_recipient() {
    let mut server =
        Server::setup_with(|t| format!("{t}\n[scan]\njunk_score = 1.0\nquarantine_score = 1.0\n"));
    server.run();
    server.add_user("ann@example.test", "pw");
    // Two recipients in one transaction: each must be named.
    let out = python(
        r#"
import smtplib, sys
body = "From: q@remote.test\r\nSubject: held\r\n\r\nheld\r\n"
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="client.test") as s:
    s.sendmail("q@remote.test", [sys.argv[2], "ann@example.test"], body)
"#,
        &[&server.ports.smtp.to_string(), DEMO],
    );
    assert!(out.status.success(), "send: {}", text(&out.stderr));
    wait_until("quarantine logged", || {
        server.log().contains("-> quarantine")
    });
    let log = server.log_path();
    let log_s = log.to_str().unwrap();
    for who in [DEMO, "ann@example.test"] {
        let out = ok(server.mailctl(&["log", "search", who, "--file", log_s], ""));
        assert!(out.contains(&format!("received by {who}: 1\n")), "{out}");
        assert!(out.contains("from=<q@remote.test>  quarantined"), "{out}");
    }
}
