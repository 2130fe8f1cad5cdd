//! Users while the server runs: quota written to maildirsize and shown by `user list`;
//! a disabled user cannot log in over SMTP AUTH, IMAP or POP3 but still gets mail; app
//! passwords log in beside the main one and can be revoked one at a time.

use crate::harness::*;
use crate::ops_common::*;

const ANN: &str = "ann@example.test";

#[test]
fn quota_is_written_to_maildirsize_and_listed() {
    let server = Server::start();
    server.add_user(ANN, "pw");
    send_seq(&server, ANN, 0, 2);
    server.wait_for_messages(ANN, 2);
    let out = ok(server.mailctl(&["user", "quota", ANN, "2G"], ""));
    assert!(
        out.contains("2147483648S") && out.contains("2 messages"),
        "{out}"
    );
    let size = std::fs::read_to_string(server.maildir(ANN).join("maildirsize")).unwrap();
    let mut lines = size.lines();
    assert_eq!(lines.next(), Some("2147483648S"));
    assert!(lines.next().unwrap().ends_with(" 2"), "{size}");
    let listed = ok(server.mailctl(&["user", "list"], ""));
    let line = listed.lines().find(|l| l.starts_with(ANN)).unwrap();
    assert!(line.contains("of 2G") && line.contains("2 msgs"), "{line}");
    // A delivery after it is counted on top.
    send_seq(&server, ANN, 2, 1);
    server.wait_for_messages(ANN, 3);
    let listed = ok(server.mailctl(&["user", "list"], ""));
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(ANN) && l.contains("3 msgs")),
        "{listed}"
    );
    let bad = server.mailctl(&["user", "quota", ANN, "lots"], "");
    assert!(!bad.status.success());
    let bad = server.mailctl(&["user", "quota", "nobody@example.test", "1G"], "");
    assert!(!bad.status.success());
}

#[test]
fn disabled_users_cannot_log_in_but_get_mail() {
    let server = Server::start();
    server.add_user(ANN, "secret");
    for proto in ["smtp", "imap", "pop3"] {
        assert_eq!(login(&server, proto, ANN, "secret"), "OK", "{proto}");
    }
    ok(server.mailctl(&["user", "disable", ANN], ""));
    let users = std::fs::read_to_string(server.dir.path().join("users")).unwrap();
    assert!(
        users
            .lines()
            .any(|l| l.starts_with(ANN) && l.ends_with(":nologin=y")),
        "{users}"
    );
    for proto in ["smtp", "imap", "pop3"] {
        assert!(
            login(&server, proto, ANN, "secret").starts_with("DENIED"),
            "{proto}"
        );
    }
    send_seq(&server, ANN, 0, 1);
    server.wait_for_messages(ANN, 1);
    assert!(ok(server.mailctl(&["user", "list"], "")).contains("disabled"));
    ok(server.mailctl(&["user", "enable", ANN], ""));
    assert_eq!(login(&server, "imap", ANN, "secret"), "OK");
}

#[test]
fn app_passwords_log_in_and_revoke_alone() {
    let server = Server::start();
    server.add_user(ANN, "main-pw");
    let pw = |out: String| {
        out.lines()
            .next()
            .unwrap()
            .rsplit(' ')
            .next()
            .unwrap()
            .to_string()
    };
    let phone = pw(ok(
        server.mailctl(&["user", "app-password", "add", ANN, "phone"], "")
    ));
    let laptop = pw(ok(
        server.mailctl(&["user", "app-password", "add", ANN, "laptop"], "")
    ));
    assert_ne!(phone, laptop);
    assert_eq!(phone.len(), 19, "{phone}");
    let file = std::fs::read_to_string(server.dir.path().join("users.app")).unwrap();
    assert!(
        !file.contains(&phone) && file.contains(":phone:{SHA512-CRYPT}$6$"),
        "{file}"
    );
    let listed = ok(server.mailctl(&["user", "app-password", "list", ANN], ""));
    assert!(
        listed.contains("phone") && listed.contains("laptop"),
        "{listed}"
    );
    for proto in ["smtp", "imap", "pop3"] {
        assert_eq!(login(&server, proto, ANN, &phone), "OK", "{proto}");
    }
    assert_eq!(login(&server, "imap", ANN, &laptop), "OK");

    ok(server.mailctl(&["user", "app-password", "revoke", ANN, "phone"], ""));
    for proto in ["smtp", "imap", "pop3"] {
        assert!(
            login(&server, proto, ANN, &phone).starts_with("DENIED"),
            "{proto}"
        );
    }
    assert_eq!(login(&server, "smtp", ANN, &laptop), "OK");
    assert_eq!(login(&server, "imap", ANN, "main-pw"), "OK");
    let dup = server.mailctl(&["user", "app-password", "add", ANN, "laptop"], "");
    assert!(!dup.status.success(), "a second laptop");
    // The main passwd-file stays Dovecot's format: one line, seven colons before extras.
    let users = std::fs::read_to_string(server.dir.path().join("users")).unwrap();
    let line = users.lines().find(|l| l.starts_with(ANN)).unwrap();
    assert_eq!(line.matches(':').count(), 7, "{line}");
}
