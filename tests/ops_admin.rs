//! Domains and aliases managed with mailctl while the server runs: the config and aliases
//! files keep their comments, new SMTP connections see a change at once, and mail for a
//! new domain is delivered without a restart (queue-runner re-executes itself on a config
//! change: tests/ops_reload.rs checks that part in detail).

use crate::harness::smtp::Raw;
use crate::harness::*;
use crate::ops_common::*;

fn rcpt(server: &Server, to: &str) -> String {
    let mut c = Raw::connect(server.ports.smtp);
    assert!(c.cmd("EHLO client.test").starts_with("250"));
    assert!(c.cmd("MAIL FROM:<x@remote.test>").starts_with("250"));
    let r = c.cmd(&format!("RCPT TO:<{to}>"));
    c.cmd("QUIT");
    r
}

#[test]
fn domains_added_listed_aliased_and_removed() {
    let server = Server::start();
    let cfg = server.config();
    ok(server.mailctl(
        &[
            "domain",
            "add",
            "Second.TEST",
            "--catch-all",
            "bob@second.test",
        ],
        "",
    ));
    let toml = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        toml.starts_with("# Example configuration."),
        "comments lost"
    );
    assert!(
        toml.contains("[domains.\"example.test\"]") && toml.contains("[domains.\"second.test\"]"),
        "{toml}"
    );
    server.add_user("bob@second.test", "pw");
    // smtpd reads the config per connection: the new domain is ours at once.
    assert!(rcpt(&server, "bob@second.test").starts_with("250"));
    assert!(
        rcpt(&server, "anyone@second.test").starts_with("250"),
        "catch-all"
    );

    ok(server.mailctl(
        &["domain", "add", "alias.test", "--alias-of", "second.test"],
        "",
    ));
    send_seq(&server, "bob@second.test", 7, 1);
    send_seq(&server, "Bob@Alias.test", 8, 1);
    server.wait_for_messages("bob@second.test", 2);
    assert_eq!(seqs(&server.maildir("bob@second.test")), vec![7, 8]);

    let listed = ok(server.mailctl(&["domain", "list"], ""));
    assert!(
        listed.contains("second.test  users=1  catch-all=bob@second.test"),
        "{listed}"
    );
    assert!(
        listed.contains("alias.test  alias of second.test"),
        "{listed}"
    );
    let refused = server.mailctl(&["user", "add", "x@alias.test"], "pw\n");
    assert!(
        !refused.status.success(),
        "users belong to the alias's target"
    );

    let before = std::fs::read(&cfg).unwrap();
    let bad = server.mailctl(
        &["domain", "add", "bad.test", "--alias-of", "nowhere.test"],
        "",
    );
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("domains.bad.test.alias_of"),
        "{}",
        text(&bad.stderr)
    );
    assert_eq!(
        std::fs::read(&cfg).unwrap(),
        before,
        "a refused edit changed the file"
    );

    let busy = server.mailctl(&["domain", "del", "second.test"], "");
    assert!(
        !busy.status.success(),
        "deleted an aliased domain with users"
    );
    ok(server.mailctl(&["domain", "del", "alias.test"], ""));
    let busy = server.mailctl(&["domain", "del", "second.test"], "");
    assert!(
        text(&busy.stderr).contains("--force"),
        "{}",
        text(&busy.stderr)
    );
    ok(server.mailctl(&["domain", "del", "second.test", "--force"], ""));
    assert!(!ok(server.mailctl(&["user", "list"], "")).contains("bob@second.test"));
    assert!(
        rcpt(&server, "bob@second.test").starts_with("5"),
        "still ours after del"
    );
    assert!(server.maildir("bob@second.test").is_dir(), "Maildir kept");
}

#[test]
fn aliases_added_listed_and_removed_keep_comments() {
    let server = Server::start();
    server.add_user("ann@example.test", "pw");
    ok(server.mailctl(&["alias", "add", "team", DEMO, "ann@example.test"], ""));
    let file = server.dir.path().join("aliases");
    let text_now = std::fs::read_to_string(&file).unwrap();
    assert!(text_now.starts_with("# /etc/aliases syntax"), "{text_now}");
    assert!(text_now.contains("postmaster@example.test: demo@example.test"));
    send_seq(&server, "team@example.test", 1, 1);
    server.wait_for_messages(DEMO, 1);
    server.wait_for_messages("ann@example.test", 1);

    let listed = ok(server.mailctl(&["alias", "list"], ""));
    assert!(
        listed.contains("team: demo@example.test, ann@example.test"),
        "{listed}"
    );
    ok(server.mailctl(&["alias", "del", "team", "ann@example.test"], ""));
    assert!(ok(server.mailctl(&["alias", "list"], "")).contains("team: demo@example.test\n"));
    ok(server.mailctl(&["alias", "del", "team"], ""));
    assert!(rcpt(&server, "team@example.test").starts_with("550"));
    assert!(!server
        .mailctl(&["alias", "del", "team"], "")
        .status
        .success());
    assert!(!server
        .mailctl(&["alias", "add", "x@elsewhere.test", DEMO], "")
        .status
        .success());
    assert!(!server
        .mailctl(&["alias", "add", "bad", "\"unterminated"], "")
        .status
        .success());
    let after = std::fs::read_to_string(&file).unwrap();
    assert!(
        after.starts_with("# /etc/aliases syntax") && !after.contains("team"),
        "{after}"
    );
}
