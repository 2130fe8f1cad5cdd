//! Replays the conversations in `lib/imap/testdata/*.txt` (RFC examples adapted to a fresh
//! Maildir) through the real session and command handlers, without sockets: each `C:` line
//! is sent, and the server's lines up to the next `C:` must match the `S:` lines. In an `S:`
//! line `...` stands for any text (UIDVALIDITY, dates, capability lists). `#` lines are
//! comments; a blank line separates exchanges. `IMAP_TRANSCRIPT_SHOW=1` prints the server's
//! lines instead of checking them (for writing a new transcript, then reading every line).

use std::path::Path;

use crate::imap::{Event, Session, Settings};
use crate::maildir::quota::Policy;

use super::{commands, open_account, Account};

/// Whether `line` matches `pattern`, where `...` matches any text.
fn glob(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split("...").collect();
    if parts.len() == 1 {
        return pattern == line;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !line.starts_with(first) || !line[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &line[first.len()..line.len() - last.len()];
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    true
}

/// Feeds `input` and runs events until more input is needed; the server's output.
fn exchange(session: &mut Session, account: &mut Account, input: &[u8]) -> String {
    session.feed(input);
    loop {
        match session.next_event() {
            Event::NeedInput | Event::Close => break,
            Event::Login { tag, .. } => session.login_result(&tag, true),
            Event::Command { tag, body, esearch } => {
                commands::run(session, account, &tag, body, esearch)
            }
            Event::ListExtended { tag, list } => {
                commands::run_list_extended(session, account, &tag, &list)
            }
            Event::StartTls | Event::Idle => panic!("not in transcripts"),
        }
    }
    String::from_utf8_lossy(&session.take_output()).into_owned()
}

fn replay(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let t = tempfile::tempdir().unwrap();
    let mut account = Account {
        user: "demo@example.test".into(),
        maildir: open_account(&t.path().join("m")).unwrap(),
        selected: None,
        max_message_size: 1 << 20,
        quota: Policy::default(),
    };
    let settings = Settings {
        starttls: false,
        tls_active: false,
        plaintext_auth: true,
        max_command_size: 1 << 20,
        max_errors: 10,
    };
    let mut session = Session::new(settings, "ready");
    session.take_output();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    for (n, block) in text.split("\n\n").enumerate() {
        let lines: Vec<&str> = block.lines().filter(|l| !l.starts_with('#')).collect();
        let mut input = String::new();
        for l in lines.iter().filter_map(|l| l.strip_prefix("C: ")) {
            input.push_str(l);
            input.push_str("\r\n");
        }
        let want: Vec<&str> = lines.iter().filter_map(|l| l.strip_prefix("S: ")).collect();
        if input.is_empty() {
            continue;
        }
        let got = exchange(&mut session, &mut account, input.as_bytes());
        let got: Vec<&str> = got.split("\r\n").filter(|l| !l.is_empty()).collect();
        if std::env::var_os("IMAP_TRANSCRIPT_SHOW").is_some() {
            // For writing transcripts: show what the server says instead of checking.
            eprintln!(
                "{input}{}\n",
                got.iter().map(|g| format!("S: {g}\n")).collect::<String>()
            );
            continue;
        }
        let ok = got.len() == want.len() && want.iter().zip(&got).all(|(w, g)| glob(w, g));
        assert!(
            ok,
            "{name} exchange {}:\n{input}--- expected ---\n{}\n--- got ---\n{}",
            n + 1,
            want.join("\n"),
            got.join("\n")
        );
    }
}

#[test]
fn glob_matching() {
    assert!(glob(
        "* OK [UIDVALIDITY ...] UIDs valid",
        "* OK [UIDVALIDITY 17] UIDs valid"
    ));
    assert!(glob("a ... b ... c", "a x b y c"));
    assert!(!glob("a ... b", "a x c"));
    assert!(glob("exact", "exact"));
}

#[test]
fn rfc_transcripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("lib/imap/testdata");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no transcripts in {}", dir.display());
    for f in files {
        replay(&f);
    }
}
