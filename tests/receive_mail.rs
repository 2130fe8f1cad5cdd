//! Mail sent to the MX port by a real client lands in the right Maildir with the headers a
//! user expects, and Maildir tools (mblaze) read it.

use crate::harness::*;

const SEND: &str = r#"
import smtplib, sys
from email.message import EmailMessage
port, sender, rcpt, subject = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
m = EmailMessage()
m["From"] = sender
m["To"] = rcpt
m["Subject"] = subject
m["Message-ID"] = "<" + subject.replace(" ", "-") + "@client.test>"
m.set_content("Hello from smtplib.\nSecond line.\n.leading dot line\n")
with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test") as s:
    refused = s.send_message(m)
    print("refused", refused)
"#;

#[test]
fn smtplib_to_mx_port_lands_in_maildir() {
    let server = Server::start();
    let out = python(
        SEND,
        &[
            &server.ports.smtp.to_string(),
            "alice@remote.test",
            DEMO,
            "first message",
        ],
    );
    assert!(out.status.success(), "smtplib: {}", text(&out.stderr));
    let files = server.wait_for_messages(DEMO, 1);
    assert_eq!(files.len(), 1);
    let msg = read(&files[0]);
    assert!(
        msg.starts_with("Return-Path: <alice@remote.test>\n"),
        "{msg}"
    );
    assert!(msg.contains("Delivered-To: demo@example.test\n"), "{msg}");
    assert!(msg.contains("Received: from client.test"), "{msg}");
    assert!(msg.contains("Subject: first message\n"));
    assert!(
        msg.contains("\n.leading dot line\n"),
        "dot-unstuffed: {msg}"
    );
    assert!(!msg.contains('\r'), "Maildir files use LF line ends");
    // Nothing left behind in the spool once delivered.
    let spool = server.spool();
    for stage in ["incoming", "queue", "tmp"] {
        assert_eq!(list_dirs(&spool.join(stage)), 0, "spool/{stage} not empty");
    }
}

#[test]
fn mblaze_lists_and_shows_delivered_mail() {
    let server = Server::start();
    for subject in ["mblaze one", "mblaze two"] {
        let out = python(
            SEND,
            &[
                &server.ports.smtp.to_string(),
                "bob@remote.test",
                DEMO,
                subject,
            ],
        );
        assert!(out.status.success(), "smtplib: {}", text(&out.stderr));
    }
    server.wait_for_messages(DEMO, 2);
    let maildir = server.maildir(DEMO);
    let listed = tool("mlist", &[maildir.to_str().unwrap()]);
    assert!(listed.status.success(), "mlist: {}", text(&listed.stderr));
    let paths: Vec<String> = text(&listed.stdout).lines().map(String::from).collect();
    assert_eq!(paths.len(), 2, "mlist: {paths:?}");
    let mut subjects: Vec<String> = paths
        .iter()
        .map(|p| {
            let shown = tool("mshow", &["-q", p]);
            assert!(shown.status.success(), "mshow: {}", text(&shown.stderr));
            text(&shown.stdout)
        })
        .collect();
    subjects.sort();
    assert!(
        subjects[0].contains("Subject: mblaze one"),
        "{}",
        subjects[0]
    );
    assert!(
        subjects[1].contains("Subject: mblaze two"),
        "{}",
        subjects[1]
    );
    let body = tool("mshow", &[&paths[0]]);
    assert!(text(&body.stdout).contains("Hello from smtplib."));
}

fn list_dirs(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map(|r| r.count()).unwrap_or(0)
}
