//! Allow lists end to end (issue 6, "an allowed one skips scoring"): after `mailctl allow
//! add sender@friends.test`, a GTUBE message from that sender over port 25 lands in the
//! inbox with `X-Spam-Status` naming ALLOWLISTED, while the same GTUBE from another sender
//! lands in `.Junk`.

use crate::harness::*;
use std::path::PathBuf;

const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

/// `send.py PORT FROM SUBJECT`: a GTUBE message from FROM (envelope and header) to demo.
const SEND_GTUBE: &str = r#"
import smtplib, sys, email.utils
port, sender, subject = int(sys.argv[1]), sys.argv[2], sys.argv[3]
msg = ("From: <%s>\r\nTo: <demo@example.test>\r\nSubject: %s\r\nDate: %s\r\n"
       "Message-ID: %s\r\n\r\nspam test %s\r\n"
       % (sender, subject, email.utils.formatdate(), email.utils.make_msgid(domain="client.test"),
          sys.argv[4]))
with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test") as s:
    s.sendmail(sender, ["demo@example.test"], msg)
"#;

fn send_gtube(server: &Server, from: &str, subject: &str) {
    let port = server.ports.smtp.to_string();
    let out = python(SEND_GTUBE, &[&port, from, subject, GTUBE]);
    assert!(out.status.success(), "smtplib: {}", text(&out.stderr));
}

fn junk(server: &Server) -> Vec<PathBuf> {
    list_files(&server.maildir(DEMO).join(".Junk/new"))
}

#[test]
fn an_allowed_sender_skips_scoring() {
    let mut server = Server::setup();
    let out = server.mailctl(&["allow", "add", "sender@friends.test"], "");
    assert!(out.status.success(), "allow add: {}", text(&out.stderr));
    let out = server.mailctl(&["allow", "list"], "");
    assert!(text(&out.stdout).contains("sender@friends.test"));
    server.run();

    send_gtube(&server, "sender@friends.test", "from a friend");
    let inbox = server.wait_for_messages(DEMO, 1);
    let msg = read(&inbox[0]);
    assert!(msg.contains("Subject: from a friend"), "{msg}");
    assert!(
        msg.contains("X-Spam-Status: No, score=0.0") && msg.contains("tests=ALLOWLISTED"),
        "{msg}"
    );
    assert!(!msg.contains("tests=GTUBE"), "{msg}");

    send_gtube(&server, "stranger@other.test", "from a stranger");
    let start = std::time::Instant::now();
    while junk(&server).is_empty() {
        assert!(start.elapsed() < PATIENCE, "no Junk:\n{}", server.log());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let spam = read(&junk(&server)[0]);
    assert!(spam.contains("Subject: from a stranger"), "{spam}");
    assert!(
        spam.contains("X-Spam-Status: Yes") && spam.contains("tests=GTUBE"),
        "{spam}"
    );
    assert_eq!(server.new_messages(DEMO).len(), 1, "{}", server.log());
}
