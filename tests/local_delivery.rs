//! local-deliver on its own, as an admin would use it from Postfix, qmail or procmail: exit
//! codes say temporary or permanent, quota and loops are enforced, folders work.

use crate::harness::*;
use std::process::Command;

const MSG: &str = "From: a@remote.test\r\nSubject: direct\r\n\r\nbody line\r\n";

fn deliver(server: &Server, args: &[&str], input: &str) -> std::process::Output {
    run_with_input(
        Command::new(bin("local-deliver"))
            .arg("--config")
            .arg(server.config())
            .args(args),
        input,
    )
}

#[test]
fn delivers_to_a_user_with_return_path_and_delivered_to() {
    let server = Server::setup();
    let out = deliver(&server, &["-d", DEMO, "-f", "a@remote.test"], MSG);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let files = server.new_messages(DEMO);
    assert_eq!(files.len(), 1);
    let msg = read(&files[0]);
    assert!(
        msg.starts_with("Return-Path: <a@remote.test>\nDelivered-To: demo@example.test\n"),
        "{msg}"
    );
    assert!(msg.ends_with("body line\n"), "{msg}");
    assert!(list_files(&server.maildir(DEMO).join("tmp")).is_empty());
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.contains(",S="), "size in the file name: {name}");
}

#[test]
fn unknown_user_is_a_permanent_failure() {
    let server = Server::setup();
    let out = deliver(&server, &["-d", "nobody@example.test"], MSG);
    assert_eq!(out.status.code(), Some(77));
    assert!(
        text(&out.stderr).contains("(#5.1.1)"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn over_quota_is_temporary_and_leaves_nothing() {
    let server = Server::setup();
    let out = deliver(&server, &["-d", DEMO, "--quota", "20"], MSG);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("(#4.2.2)"),
        "{}",
        text(&out.stderr)
    );
    assert!(server.new_messages(DEMO).is_empty());
    assert!(list_files(&server.maildir(DEMO).join("tmp")).is_empty());
    let maildirsize = std::fs::read_to_string(server.maildir(DEMO).join("maildirsize")).unwrap();
    assert!(maildirsize.starts_with("20S"), "{maildirsize}");
}

#[test]
fn quota_counts_earlier_deliveries() {
    let server = Server::setup();
    let first = deliver(&server, &["-d", DEMO, "--quota", "150"], MSG);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let second = deliver(&server, &["-d", DEMO], MSG);
    assert_eq!(
        second.status.code(),
        Some(75),
        "quota from maildirsize applies"
    );
    assert_eq!(server.new_messages(DEMO).len(), 1);
}

#[test]
fn delivered_to_loop_is_refused() {
    let server = Server::setup();
    let looped = format!("Delivered-To: {DEMO}\r\n{MSG}");
    let out = deliver(&server, &["-d", DEMO], &looped);
    assert_eq!(out.status.code(), Some(77));
    assert!(
        text(&out.stderr).contains("(#5.4.6)"),
        "{}",
        text(&out.stderr)
    );
    assert!(server.new_messages(DEMO).is_empty());
}

#[test]
fn folder_delivery_and_hostile_folder_names() {
    let server = Server::setup();
    let out = deliver(&server, &["-d", DEMO, "-m", "Junk"], MSG);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let junk = server.maildir(DEMO).join(".Junk");
    assert_eq!(list_files(&junk.join("new")).len(), 1);
    assert!(junk.join("maildirfolder").exists());
    // A folder name that tries to leave the Maildir falls back to INBOX, never escapes.
    for evil in ["../../../etc", "/tmp/x", "a/../../b"] {
        let out = deliver(&server, &["-d", DEMO, "-m", evil], MSG);
        assert_eq!(out.status.code(), Some(0), "{evil}: {}", text(&out.stderr));
    }
    assert_eq!(server.new_messages(DEMO).len(), 3);
    assert!(!server.dir.path().join("etc").exists());
}

#[test]
fn standalone_maildir_mode_needs_no_config() {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("Maildir");
    let out = run_with_input(
        Command::new(bin("local-deliver"))
            .arg("--maildir")
            .arg(&md)
            .args(["-f", ""]),
        MSG,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let files = list_files(&md.join("new"));
    assert_eq!(files.len(), 1);
    assert!(read(&files[0]).starts_with("Return-Path: <>\n"));
    let listed = tool("mlist", &[md.to_str().unwrap()]);
    assert_eq!(text(&listed.stdout).lines().count(), 1);
}
