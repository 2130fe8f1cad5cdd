//! mailctl: users are managed with passwords on stdin, stored Dovecot-compatible, and the
//! queue can be listed while the server runs.

use crate::harness::*;

#[test]
fn user_add_list_passwd_del() {
    let server = Server::setup();
    server.add_user("carol@example.test", "s3cret pass");
    let users = std::fs::read_to_string(server.dir.path().join("users")).unwrap();
    let line = users
        .lines()
        .find(|l| l.starts_with("carol@example.test:"))
        .expect("carol in the passwd-file");
    assert!(line.contains(":{SHA512-CRYPT}$6$"), "{line}");
    assert!(!users.contains("s3cret"), "password stored in clear");

    let listed = text(&server.mailctl(&["user", "list"], "").stdout);
    assert!(
        listed.contains("carol@example.test") && listed.contains(DEMO),
        "{listed}"
    );

    let dup = server.mailctl(&["user", "add", "carol@example.test"], "x\n");
    assert!(!dup.status.success(), "adding a user twice must fail");
    let foreign = server.mailctl(&["user", "add", "eve@not-ours.test"], "x\n");
    assert!(!foreign.status.success(), "users only in our domains");
    let hostile = server.mailctl(&["user", "add", "../x@example.test"], "x\n");
    assert!(!hostile.status.success(), "hostile local part accepted");

    let out = server.mailctl(&["user", "passwd", "carol@example.test"], "newpass\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let after = std::fs::read_to_string(server.dir.path().join("users")).unwrap();
    assert_ne!(users, after, "passwd changed nothing");

    let out = server.mailctl(&["user", "del", "carol@example.test"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = text(&server.mailctl(&["user", "list"], "").stdout);
    assert!(!listed.contains("carol@example.test"), "{listed}");
}

#[test]
fn new_password_works_over_smtp_auth() {
    let server = {
        let mut s = Server::setup();
        s.add_user("dave@example.test", "first");
        s.run();
        s
    };
    let auth = r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
s.ehlo("x.test")
try:
    s.login(sys.argv[2], sys.argv[3]); print("OK")
except smtplib.SMTPAuthenticationError as e:
    print("DENIED", e.smtp_code)
"#;
    let port = server.ports.submission.to_string();
    let try_login = |pw: &str| text(&python(auth, &[&port, "dave@example.test", pw]).stdout);
    assert!(try_login("first").starts_with("OK"));
    let out = server.mailctl(&["user", "passwd", "dave@example.test"], "second\n");
    assert!(out.status.success());
    assert!(try_login("first").starts_with("DENIED 535"));
    assert!(try_login("second").starts_with("OK"));
}

#[test]
fn init_is_idempotent_and_keeps_changes() {
    let server = Server::setup();
    server.add_user("erin@example.test", "pw");
    let out = std::process::Command::new(bin("mailctl"))
        .arg("init")
        .arg(server.dir.path())
        .arg("--from")
        .arg(repo().join("etc"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let users = std::fs::read_to_string(server.dir.path().join("users")).unwrap();
    assert!(
        users.contains("erin@example.test"),
        "init overwrote the users file"
    );
    let cfg = std::fs::read_to_string(server.config()).unwrap();
    assert!(
        cfg.contains(&server.ports.smtp.to_string()),
        "init overwrote the config"
    );
}
