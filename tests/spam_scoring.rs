//! Scoring end to end: GTUBE lands in the user's Junk folder with our `X-Spam-*` headers, a
//! forged `X-Spam-Status` from the sender counts for nothing, a score past
//! `quarantine_score` is held (and `mailctl quarantine delete` removes it), and Bayes
//! training with `mailctl spam learn` moves a message's score.

use crate::harness::*;
use crate::spam_clamav::{entries, send, wait_for_entries};

const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

fn junk(server: &Server) -> Vec<std::path::PathBuf> {
    list_files(&server.maildir(DEMO).join(".Junk/new"))
}

#[test]
fn gtube_lands_in_junk_and_clean_mail_in_the_inbox() {
    let server = Server::start();
    send(&server, "hello", "an ordinary note", "");
    send(&server, "test", &format!("spam test {GTUBE}"), "");
    let inbox = server.wait_for_messages(DEMO, 1);
    let start = std::time::Instant::now();
    while junk(&server).is_empty() {
        assert!(start.elapsed() < PATIENCE, "no Junk:\n{}", server.log());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let spam = read(&junk(&server)[0]);
    assert!(spam.contains("X-Spam-Status: Yes, score="), "{spam}");
    assert!(spam.contains("tests=GTUBE"), "{spam}");
    assert!(
        spam.contains("Authentication-Results: mail.example.test;"),
        "{spam}"
    );
    let ham = read(&inbox[0]);
    assert!(ham.contains("Subject: hello"), "{ham}");
    assert!(ham.contains("X-Spam-Status: No, score="), "{ham}");
    assert_eq!(
        server.new_messages(DEMO).len(),
        1,
        "GTUBE stayed out of the inbox"
    );
}

#[test]
fn forged_status_is_ignored_and_high_scores_are_quarantined() {
    let mut server =
        Server::setup_with(|t| format!("{t}\n[scan]\njunk_score = 1.0\nquarantine_score = 2.0\n"));
    server.run();
    // No Date, no Message-ID, shouting subject: well past 2.0; claims to be clean.
    let forged = "From: a@remote.test\r\nX-Spam-Status: No, score=-50\r\nSubject: BUY CHEAP WATCHES NOW\r\n\r\nbuy\r\n";
    let mut smtp = crate::harness::smtp::Raw::connect(server.ports.smtp);
    smtp.start_mail("a@remote.test", DEMO);
    assert!(smtp.cmd("DATA").starts_with("354"));
    smtp.send(forged.as_bytes());
    assert!(smtp.cmd(".").starts_with("250"));
    smtp.cmd("QUIT");
    let held = wait_for_entries(&server, &server.spool().join("quarantine"), 1);
    let env = read(&held[0].join("envelope"));
    assert!(env.contains("quarantine_reason = \"score "), "{env}");
    let msg = read(&held[0].join("message"));
    assert_eq!(msg.matches("X-Spam-Status:").count(), 1, "{msg}");
    assert!(msg.contains("X-Spam-Status: Yes"), "{msg}");
    let id = held[0].file_name().unwrap().to_string_lossy().into_owned();
    let del = server.mailctl(&["quarantine", "delete", &id], "");
    assert!(del.status.success(), "{}", text(&del.stderr));
    assert!(entries(&server.spool().join("quarantine")).is_empty());
    let bad = server.mailctl(&["quarantine", "release", &id], "");
    assert_eq!(bad.status.code(), Some(65), "{}", text(&bad.stderr));
    assert!(server.new_messages(DEMO).is_empty());
}

fn sample(i: usize, spam: bool) -> String {
    let (subject, body) = match spam {
        true => (
            "cheap pills",
            "viagra casino winner lottery prize claim now",
        ),
        false => (
            "meeting notes",
            "agenda quarterly planning review minutes budget",
        ),
    };
    format!(
        "From: x{i}@remote.test\r\nMessage-ID: <{i}.{spam}@remote.test>\r\n\
         Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nSubject: {subject} {i}\r\n\r\n{body} {i}\r\n"
    )
}

#[test]
fn bayes_training_moves_the_score() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let mut spam_files = Vec::new();
    let mut ham_files = Vec::new();
    for i in 0..12 {
        for (spam, files) in [(true, &mut spam_files), (false, &mut ham_files)] {
            let p = dir.path().join(format!("{i}-{spam}.eml"));
            std::fs::write(&p, sample(i, spam)).unwrap();
            files.push(p.display().to_string());
        }
    }
    let learn = |class: &str, files: &[String]| {
        let mut args = vec!["spam", "learn", class, DEMO];
        args.extend(files.iter().map(String::as_str));
        let out = server.mailctl(&args, "");
        assert!(out.status.success(), "{}", text(&out.stderr));
    };
    learn("--spam", &spam_files);
    learn("--ham", &ham_files);
    let status = server.mailctl(&["spam", "status", DEMO], "");
    assert!(
        text(&status.stdout).contains("spam=12 ham=12 (active)"),
        "{}",
        text(&status.stdout)
    );
    send(
        &server,
        "cheap pills 99",
        "viagra casino winner lottery prize claim now",
        "",
    );
    send(
        &server,
        "meeting notes 99",
        "agenda quarterly planning review minutes budget",
        "",
    );
    let inbox: Vec<String> = server
        .wait_for_messages(DEMO, 2)
        .iter()
        .map(|p| read(p))
        .collect();
    let spam = inbox.iter().find(|m| m.contains("Subject: cheap")).unwrap();
    let ham = inbox
        .iter()
        .find(|m| m.contains("Subject: meeting"))
        .unwrap();
    // Strong spam adds 3 or 4 points, strong ham takes 0.5 or 1.5 off.
    assert!(spam.contains("tests=BAYES_9"), "{spam}");
    assert!(ham.contains("tests=BAYES_0"), "{ham}");
    // Unlearning takes the messages back out.
    let mut args = vec!["spam", "unlearn", DEMO];
    args.extend(spam_files.iter().map(String::as_str));
    let out = server.mailctl(&args, "");
    assert!(
        text(&out.stdout).contains("forgot 12 of 12"),
        "{}",
        text(&out.stdout)
    );
}
