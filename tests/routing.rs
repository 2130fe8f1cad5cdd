//! Where mail goes: aliases (lists of addresses), plus-addressing, per-domain catch-all,
//! alias loops, and refused `|program` aliases.

use crate::harness::smtp::Raw;
use crate::harness::*;

fn send(server: &Server, to: &str, subject: &str) -> String {
    let mut c = Raw::connect(server.ports.smtp);
    c.cmd("EHLO x.test");
    c.cmd("MAIL FROM:<sender@remote.test>");
    let r = c.cmd(&format!("RCPT TO:<{to}>"));
    if !r.starts_with("250") {
        return r;
    }
    c.cmd("DATA");
    c.cmd(&format!("Subject: {subject}\r\n\r\nhello\r\n."))
}

fn server_with_aliases(aliases: &str, edit: impl FnOnce(String) -> String) -> Server {
    let mut s = Server::setup_with(edit);
    std::fs::write(s.dir.path().join("aliases"), aliases).unwrap();
    s.add_user("bob@example.test", "pw");
    s.run();
    s
}

#[test]
fn alias_list_reaches_every_member_once() {
    let server = server_with_aliases(
        "team@example.test: demo@example.test,\n    bob@example.test, demo@example.test\n# comment\n",
        |t| t,
    );
    assert!(send(&server, "team@example.test", "to the team").starts_with("250"));
    let d = server.wait_for_messages(DEMO, 1);
    let b = server.wait_for_messages("bob@example.test", 1);
    assert!(read(&d[0]).contains("Subject: to the team"));
    assert!(read(&b[0]).contains("Subject: to the team"));
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        server.new_messages(DEMO).len(),
        1,
        "duplicate member delivered twice"
    );
}

#[test]
fn plus_addressing_delivers_to_the_user() {
    let server = server_with_aliases("", |t| t);
    assert!(send(&server, "demo+lists@example.test", "plus").starts_with("250"));
    let files = server.wait_for_messages(DEMO, 1);
    let msg = read(&files[0]);
    assert!(msg.contains("Subject: plus"), "{msg}");
}

#[test]
fn catch_all_takes_unknown_local_parts() {
    let server = server_with_aliases("", |t| {
        t.replace(
            "# catch_all = \"demo@example.test\"",
            "catch_all = \"bob@example.test\"",
        )
    });
    assert!(send(&server, "whoever@example.test", "caught").starts_with("250"));
    let files = server.wait_for_messages("bob@example.test", 1);
    assert!(read(&files[0]).contains("Subject: caught"));
}

#[test]
fn alias_loop_fails_instead_of_spinning() {
    let server = server_with_aliases(
        "a@example.test: b@example.test\nb@example.test: a@example.test\n",
        |t| t,
    );
    assert!(send(&server, "a@example.test", "loop").starts_with("250"));
    // The message ends up failed (waiting for its bounce), not delivered and not looping.
    let start = std::time::Instant::now();
    loop {
        let listing = text(&server.mailctl(&["queue", "list"], "").stdout);
        if listing.contains("bounce") && listing.contains("failed") {
            assert!(
                listing.contains("5.4.6") || listing.to_lowercase().contains("loop"),
                "{listing}"
            );
            break;
        }
        assert!(start.elapsed() < PATIENCE, "{listing}\n{}", server.log());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(server.new_messages(DEMO).is_empty());
}

#[test]
fn pipe_alias_is_refused_by_default() {
    let marker = tempfile::NamedTempFile::new().unwrap();
    let path = marker.path().display().to_string();
    std::fs::remove_file(&path).unwrap();
    let server = server_with_aliases(&format!("run@example.test: \"|touch {path}\"\n"), |t| t);
    assert!(send(&server, "run@example.test", "pipe").starts_with("250"));
    let start = std::time::Instant::now();
    loop {
        let listing = text(&server.mailctl(&["queue", "list"], "").stdout);
        if listing.contains("failed") {
            break;
        }
        assert!(start.elapsed() < PATIENCE, "{listing}\n{}", server.log());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(!std::path::Path::new(&path).exists(), "pipe alias ran");
}
