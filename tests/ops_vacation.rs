//! Vacation auto-reply (`mailctl vacation`) end to end, RFC 3834: one reply per sender for
//! two messages, threaded and marked `Auto-Submitted: auto-replied` from the null sender;
//! no reply to bulk, list or auto-submitted mail, nor to the null sender.

use crate::harness::*;
use crate::ops_forward::send;

const BOB: &str = "bob@example.test";
const CAROL: &str = "carol@example.test";

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "mailctl: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn headers(from: &str, subject: &str, extra: &str) -> String {
    format!(
        "From: <{from}>\r\nTo: Demo <{DEMO}>\r\nSubject: {subject}\r\n\
         Message-ID: <{}@client.test>\r\n{extra}",
        subject.replace(' ', "-")
    )
}

fn server_on_vacation() -> Server {
    let mut s = Server::setup();
    s.add_user(BOB, "pw");
    s.add_user(CAROL, "pw");
    let body = s.dir.path().join("away.txt");
    std::fs::write(&body, "I am away until Monday.\n").unwrap();
    let body = body.display().to_string();
    ok(s.mailctl(
        &[
            "vacation",
            "set",
            DEMO,
            "--subject",
            "Away",
            "--body-file",
            &body,
            "--until",
            "2999-12-31",
        ],
        "",
    ));
    let shown = ok(s.mailctl(&["vacation", "show", DEMO], ""));
    assert!(
        shown.contains("Subject: Away") && shown.contains("2999-12-31"),
        "{shown}"
    );
    assert!(!s
        .mailctl(
            &[
                "vacation",
                "set",
                "nobody@example.test",
                "--subject",
                "x",
                "--body-file",
                &body
            ],
            ""
        )
        .status
        .success());
    s.run();
    s
}

#[test]
fn replies_once_per_sender() {
    let s = server_on_vacation();
    let r = send(s.ports.smtp, BOB, DEMO, &headers(BOB, "first", ""), "one");
    assert!(r.starts_with("250"), "{r}");
    let replies = s.wait_for_messages(BOB, 1);
    let t = read(&replies[0]);
    assert!(t.contains("Subject: Away"), "{t}");
    assert!(t.contains("Auto-Submitted: auto-replied"), "{t}");
    assert!(t.contains("In-Reply-To: <first@client.test>"), "{t}");
    assert!(t.contains("Return-Path: <>"), "{t}");
    assert!(t.contains("I am away until Monday."), "{t}");
    let r = send(s.ports.smtp, BOB, DEMO, &headers(BOB, "second", ""), "two");
    assert!(r.starts_with("250"), "{r}");
    s.wait_for_messages(DEMO, 2);
    wait_logged(&s, "second message not answered", || {
        s.log()
            .contains("already replied to bob@example.test recently")
    });
    assert_eq!(
        s.new_messages(BOB).len(),
        1,
        "second reply to the same sender"
    );
    ok(s.mailctl(&["vacation", "del", DEMO], ""));
    assert!(ok(s.mailctl(&["vacation", "show", DEMO], "")).contains("no vacation set"));
}

#[test]
fn never_replies_to_bulk_lists_robots_or_the_null_sender() {
    let s = server_on_vacation();
    let cases = [
        (CAROL, "bulk", "Precedence: bulk\r\n", "Precedence: bulk"),
        (
            CAROL,
            "listed",
            "List-Id: <news.remote.test>\r\n",
            "list header",
        ),
        (
            CAROL,
            "auto",
            "Auto-Submitted: auto-generated\r\n",
            "Auto-Submitted: auto-generated",
        ),
        ("", "null", "", "null sender"),
    ];
    for (i, (from, subject, extra, reason)) in cases.iter().enumerate() {
        let r = send(
            s.ports.smtp,
            from,
            DEMO,
            &headers(CAROL, subject, extra),
            "x",
        );
        assert!(r.starts_with("250"), "{subject}: {r}");
        s.wait_for_messages(DEMO, i + 1);
        wait_logged(&s, reason, || {
            s.log().lines().any(|l| {
                l.contains("no vacation reply from <demo@example.test>") && l.contains(reason)
            })
        });
    }
    assert!(
        s.new_messages(CAROL).is_empty(),
        "auto-reply sent where RFC 3834 forbids it"
    );
}
