//! Sessions driven by swaks and smtplib exercising the ESMTP extensions: PIPELINING,
//! 8BITMIME and SMTPUTF8 (UTF-8 addresses), BDAT/CHUNKING, SIZE.

use crate::harness::smtp::Raw;
use crate::harness::*;

fn swaks(port: u16, extra: &[&str]) -> (bool, String) {
    let port = port.to_string();
    let mut args = vec![
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--helo",
        "swaks.test",
    ];
    args.extend_from_slice(extra);
    let out = tool("swaks", &args);
    (out.status.success(), text(&out.stdout) + &text(&out.stderr))
}

#[test]
fn swaks_pipelining_to_two_recipients() {
    let server = Server::start();
    server.add_user("bob@example.test", "pw");
    let (ok, transcript) = swaks(
        server.ports.smtp,
        &[
            "--pipeline",
            "--from",
            "someone@remote.test",
            "--to",
            "demo@example.test,bob@example.test",
            "--header",
            "Subject: pipelined",
        ],
    );
    assert!(ok, "{transcript}");
    assert!(transcript.contains("PIPELINING"), "{transcript}");
    server.wait_for_messages(DEMO, 1);
    let bob = server.wait_for_messages("bob@example.test", 1);
    assert!(read(&bob[0]).contains("Subject: pipelined"));
}

#[test]
fn swaks_message_over_size_limit_is_refused() {
    let mut server = Server::setup_with(|t| {
        t.replace("max_message_size = 26214400", "max_message_size = 20000")
    });
    server.run();
    let body = "x".repeat(70);
    let big: String = std::iter::repeat_n(body.as_str(), 600)
        .collect::<Vec<_>>()
        .join("\n");
    let (ok, transcript) = swaks(
        server.ports.smtp,
        &["--from", "a@remote.test", "--to", DEMO, "--body", &big],
    );
    assert!(!ok, "{transcript}");
    assert!(transcript.contains("SIZE 20000"), "{transcript}");
    assert!(transcript.contains("552"), "{transcript}");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(server.new_messages(DEMO).is_empty());
    // A declared size over the limit is refused at MAIL already.
    let mut c = Raw::connect(server.ports.smtp);
    c.cmd("EHLO x.test");
    let r = c.cmd("MAIL FROM:<a@remote.test> SIZE=999999");
    assert!(r.starts_with("552 5.3.4"), "{r}");
}

const UTF8: &str = r#"
import smtplib, sys
port = int(sys.argv[1])
msg = "From: Jürgen <jürgen@bücher.test>\r\nTo: demo@example.test\r\nSubject: Grüße\r\n\r\nUmlaute: äöü\r\n".encode("utf-8")
with smtplib.SMTP("127.0.0.1", port) as s:
    s.ehlo("utf8.test")
    assert s.has_extn("smtputf8") and s.has_extn("8bitmime"), s.esmtp_features
    s.sendmail("jürgen@bücher.test", ["demo@example.test"], msg, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
print("OK")
"#;

#[test]
fn smtputf8_and_8bitmime_message_arrives_intact() {
    let server = Server::start();
    let out = python(UTF8, &[&server.ports.smtp.to_string()]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let files = server.wait_for_messages(DEMO, 1);
    let msg = read(&files[0]);
    assert!(msg.contains("Return-Path: <jürgen@bücher.test>"), "{msg}");
    assert!(
        msg.contains("Subject: Grüße") && msg.contains("Umlaute: äöü"),
        "{msg}"
    );
}

#[test]
fn bdat_chunks_make_one_message() {
    let server = Server::start();
    let mut c = Raw::connect(server.ports.smtp);
    let ehlo = c.cmd("EHLO chunky.test");
    assert!(ehlo.contains("CHUNKING"), "{ehlo}");
    c.cmd("MAIL FROM:<c@remote.test>");
    c.cmd(&format!("RCPT TO:<{DEMO}>"));
    let part1 = b"Subject: chunked\r\n\r\nfirst part, ";
    let part2 = b"second part\r\n.not stuffed\r\n";
    c.send(format!("BDAT {}\r\n", part1.len()).as_bytes());
    c.send(part1);
    assert!(c.reply().starts_with("250"));
    c.send(format!("BDAT {} LAST\r\n", part2.len()).as_bytes());
    c.send(part2);
    let r = c.reply();
    assert!(r.starts_with("250"), "{r}");
    c.cmd("QUIT");
    let files = server.wait_for_messages(DEMO, 1);
    let msg = read(&files[0]);
    assert!(
        msg.contains("first part, second part\n.not stuffed\n"),
        "{msg}"
    );
}

#[test]
fn vrfy_help_noop_rset_answer_like_postfix() {
    let server = Server::start();
    let mut c = Raw::connect(server.ports.smtp);
    assert!(c.cmd("EHLO x.test").starts_with("250"));
    let r = c.cmd(&format!("VRFY {DEMO}"));
    assert!(r.starts_with("252"), "VRFY must not reveal users: {r}");
    assert!(c.cmd("HELP").starts_with("214"));
    assert!(c.cmd("NOOP").starts_with("250"));
    c.cmd("MAIL FROM:<a@remote.test>");
    assert!(c.cmd("RSET").starts_with("250"));
    // After RSET the transaction is gone: RCPT needs a new MAIL first.
    let r = c.cmd(&format!("RCPT TO:<{DEMO}>"));
    assert!(r.starts_with("503"), "{r}");
    assert!(c.cmd("QUIT").starts_with("221"));
}
