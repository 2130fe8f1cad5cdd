//! Session transcripts, each fed whole, line by line and one byte at a time, with a fake
//! caller holding a two-message maildrop.

use super::session::{Event, LoginError, MsgInfo, RetrieveError, Session, Settings};
use super::wire;

const MSGS: [&[u8]; 2] = [
    b"Subject: one\n\nhello\n.dot line\n",
    b"Subject: two\nX: y\n\nbody\nmore\n",
];

fn settings(tls: bool, plaintext: bool) -> Settings {
    Settings {
        hostname: "mx.test".into(),
        stls: true,
        tls_active: tls,
        plaintext_auth: plaintext,
        max_errors: 5,
        max_line: 100,
    }
}

#[derive(Default, Debug, PartialEq)]
struct Outcome {
    out: String,
    deleted: Option<Vec<usize>>,
    tls: u32,
    closed: bool,
}

fn drive(s: Settings, chunks: &[&[u8]]) -> Outcome {
    let mut session = Session::new(s);
    let mut o = Outcome::default();
    let mut chunks = chunks.iter();
    loop {
        match session.next_event() {
            Event::NeedInput => match chunks.next() {
                Some(c) => session.feed(c),
                None => break,
            },
            Event::Login { user, password } => {
                let r = match (user.as_str(), password.as_str()) {
                    ("bob", "secret pw") => Ok(MSGS
                        .iter()
                        .enumerate()
                        .map(|(i, m)| MsgInfo {
                            size: wire::crlf_size(m),
                            uidl: format!("{:08X}{:08X}", i + 1, 77),
                        })
                        .collect()),
                    ("busy", _) => Err(LoginError::InUse),
                    _ => Err(LoginError::Failed),
                };
                session.login_result(r);
            }
            Event::Retrieve { index, lines } => {
                let r = if lines == Some(7) {
                    Err(RetrieveError::Gone)
                } else {
                    Ok(MSGS[index])
                };
                session.retrieve_result(r);
            }
            Event::Update { deletions } => {
                o.deleted = Some(deletions);
                session.update_result(0);
            }
            Event::StartTls => {
                o.tls += 1;
                o.out
                    .push_str(&String::from_utf8(session.take_output()).unwrap());
                o.out.push_str("<TLS>");
                session.tls_started();
            }
            Event::Flush => {}
            Event::Close => {
                o.closed = true;
                break;
            }
            Event::Awaiting => panic!("awaiting"),
        }
        o.out
            .push_str(&String::from_utf8(session.take_output()).unwrap());
    }
    o.out
        .push_str(&String::from_utf8(session.take_output()).unwrap());
    o
}

/// Runs `input` whole, per line and per byte; all three must agree.
fn run(s: Settings, input: &str) -> Outcome {
    let whole = drive(s.clone(), &[input.as_bytes()]);
    let lines: Vec<&[u8]> = input.split_inclusive('\n').map(str::as_bytes).collect();
    let per_line = drive(s.clone(), &lines);
    let bytes: Vec<&[u8]> = input.as_bytes().chunks(1).collect();
    let per_byte = drive(s, &bytes);
    assert_eq!(whole, per_line, "per line differs");
    assert_eq!(whole, per_byte, "per byte differs");
    whole
}

fn expect(out: &str, want: &[&str]) {
    let got: Vec<&str> = out.split("\r\n").collect();
    let mut at = 0;
    for w in want {
        match got[at..].iter().position(|l| l.starts_with(w)) {
            Some(p) => at += p + 1,
            None => panic!("missing {w:?} after line {at} in:\n{out}"),
        }
    }
}

#[test]
fn rfc1939_session() {
    let o = run(
        settings(false, true),
        "USER bob\r\nPASS secret pw\r\nSTAT\r\nLIST\r\nLIST 2\r\nUIDL\r\nRETR 1\r\n\
         TOP 2 1\r\nDELE 1\r\nLIST 1\r\nSTAT\r\nNOOP\r\nQUIT\r\n",
    );
    expect(
        &o.out,
        &[
            "+OK mx.test POP3 server ready",
            "+OK Send PASS",
            "+OK Logged in, 2 messages (68 octets)",
            "+OK 2 68",
            "+OK 2 messages",
            "1 34",
            "2 34",
            ".",
            "+OK 2 34",
            "+OK",
            "1 000000010000004D",
            "2 000000020000004D",
            ".",
            "+OK 34 octets",
            "Subject: one",
            "",
            "hello",
            "..dot line",
            ".",
            "+OK Top",
            "Subject: two",
            "X: y",
            "",
            "body",
            ".",
            "+OK Message 1 deleted",
            "-ERR Message already deleted",
            "+OK 1 34",
            "+OK",
            "+OK Bye",
        ],
    );
    assert!(!o.out.contains("more"));
    assert_eq!(o.deleted, Some(vec![0]));
    assert!(o.closed);
}

#[test]
fn rset_and_dropped_connection_delete_nothing() {
    let o = run(
        settings(true, false),
        "USER bob\r\nPASS secret pw\r\nDELE 1\r\nDELE 2\r\nRSET\r\nQUIT\r\n",
    );
    expect(&o.out, &["+OK Maildrop has 2 messages", "+OK Bye"]);
    assert_eq!(o.deleted, Some(vec![]));
    let o = run(
        settings(true, false),
        "USER bob\r\nPASS secret pw\r\nDELE 1\r\n",
    );
    assert_eq!(o.deleted, None);
    assert!(!o.closed);
}

#[test]
fn auth_plain_with_and_without_initial_response() {
    // "\0bob\0secret pw"
    let o = run(
        settings(true, false),
        "AUTH PLAIN AGJvYgBzZWNyZXQgcHc=\r\nSTAT\r\nQUIT\r\n",
    );
    expect(&o.out, &["+OK Logged in", "+OK 2 68"]);
    let o = run(
        settings(true, false),
        "AUTH PLAIN\r\nAGJvYgBzZWNyZXQgcHc=\r\nSTAT\r\n",
    );
    expect(&o.out, &["+ ", "+OK Logged in", "+OK 2 68"]);
    let o = run(
        settings(true, false),
        "AUTH PLAIN\r\n*\r\nAUTH PLAIN !!!\r\nAUTH CRAM-MD5\r\nAUTH PLAIN AGJvYgB4\r\n",
    );
    expect(
        &o.out,
        &[
            "-ERR [AUTH] Authentication cancelled",
            "-ERR [AUTH] Invalid base64",
            "-ERR [AUTH] Unsupported",
            "-ERR [AUTH] Authentication failed",
        ],
    );
}

#[test]
fn plaintext_refused_before_tls_and_stls_discards_injection() {
    let o = run(
        settings(false, false),
        "CAPA\r\nUSER bob\r\nAUTH PLAIN AGJvYgBzZWNyZXQgcHc=\r\n",
    );
    expect(
        &o.out,
        &[
            "STLS",
            ".",
            "-ERR [AUTH] Plaintext",
            "-ERR [AUTH] Plaintext",
        ],
    );
    assert!(!o.out.contains("USER\r\n") && !o.out.contains("SASL"));
    // Commands pipelined behind STLS in the same packet are dropped, not run after TLS.
    let o = drive(
        settings(false, false),
        &[b"STLS\r\nUSER bob\r\nPASS secret pw\r\n", b"CAPA\r\n"],
    );
    expect(
        &o.out,
        &["+OK Begin TLS", "<TLS>+OK Capability", "USER", "SASL PLAIN"],
    );
    assert!(
        !o.out.contains("Send PASS") && !o.out.contains("Logged in"),
        "{}",
        o.out
    );
    assert_eq!(o.tls, 1);
    let o = run(settings(true, false), "CAPA\r\nSTLS\r\n");
    expect(
        &o.out,
        &["USER", "SASL PLAIN", ".", "-ERR TLS already active"],
    );
    assert!(!o.out.contains("STLS\r\n"));
    let mut s = settings(false, true);
    s.stls = false;
    let o = run(s, "CAPA\r\nSTLS\r\nUSER bob\r\nPASS secret pw\r\n");
    expect(
        &o.out,
        &[
            "USER",
            ".",
            "-ERR STLS not available",
            "+OK Send PASS",
            "+OK Logged in",
        ],
    );
}

#[test]
fn bad_input_gets_errors_then_close() {
    let long = "X".repeat(500);
    let mut s = settings(true, false);
    s.max_errors = 7;
    let o = run(
        s,
        &format!(
            "{long}\r\nRETR 1\r\nPASS x\r\nUSER bob\r\nPASS bad\r\nUSER bob\r\nPASS secret pw\r\n\
             RETR 3\r\nRETR 0\r\nTOP 1\r\nUSER x\r\nSTAT\r\nFOO\r\nNOOP\r\n"
        ),
    );
    expect(
        &o.out,
        &[
            "-ERR Line too long",
            "-ERR Command not valid",
            "-ERR USER first",
            "+OK Send PASS",
            "-ERR [AUTH] Authentication failed",
            "+OK Logged in",
            "-ERR No such message",
            "-ERR Syntax error",
            "-ERR Syntax error",
            "-ERR Command not valid",
            "-ERR [SYS/PERM] Too many errors",
        ],
    );
    assert!(!o.out.contains("+OK 2 68"));
    assert!(o.closed);
}

#[test]
fn in_use_and_gone_messages() {
    let o = run(
        settings(true, false),
        "USER busy\r\nPASS x\r\nUSER bob\r\nPASS secret pw\r\nNOOP\r\n",
    );
    expect(&o.out, &["-ERR [IN-USE]", "+OK Logged in"]);
    let o = run(
        settings(true, false),
        "USER bob\r\nPASS secret pw\r\nTOP 2 7\r\nRETR 1\r\n",
    );
    expect(
        &o.out,
        &["-ERR [SYS/PERM] Message was removed", "+OK 34 octets"],
    );
}

#[test]
fn quit_in_authorization_and_garbage_after_quit() {
    let o = run(settings(false, false), "QUIT\r\nRETR 1\r\n");
    assert!(o.out.ends_with("+OK Bye\r\n"), "{}", o.out);
    assert!(o.closed);
    assert_eq!(o.deleted, None);
}

#[test]
fn pipelined_output_is_flushed_in_bounded_pieces() {
    let mut s = Session::new(settings(true, false));
    s.feed(b"USER bob\r\nPASS secret pw\r\n");
    assert!(matches!(s.next_event(), Event::Login { .. }));
    s.login_result(Ok(vec![
        MsgInfo {
            size: 1,
            uidl: "x".repeat(60),
        };
        2000
    ]));
    s.feed("UIDL\r\n".repeat(100).as_bytes());
    let mut flushes = 0;
    loop {
        match s.next_event() {
            Event::Flush => {
                flushes += 1;
                assert!(s.take_output().len() < 2 * super::session::FLUSH_AT);
            }
            Event::NeedInput => break,
            e => panic!("{e:?}"),
        }
    }
    assert!(flushes >= 40, "{flushes}");
}

/// Replays a transcript: consecutive `C:` lines go in one packet; `S:` lines must equal the
/// server's output lines in order. Without STLS it is also fed per line and per byte.
fn replay(name: &str, text: &str) {
    let mut packets: Vec<Vec<u8>> = Vec::new();
    let mut want = Vec::new();
    let mut last_was_client = false;
    for line in text.lines() {
        if let Some(c) = line.strip_prefix("C: ") {
            if !last_was_client {
                packets.push(Vec::new());
            }
            packets
                .last_mut()
                .unwrap()
                .extend(format!("{c}\r\n").bytes());
            last_was_client = true;
        } else if let Some(s) = line.strip_prefix("S: ") {
            want.push(s.to_string());
            last_was_client = false;
        } else if line == "S:" {
            want.push(String::new());
            last_was_client = false;
        }
    }
    let chunks: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
    let o = if text.contains("C: STLS") {
        drive(settings(false, false), &chunks)
    } else {
        let all: Vec<u8> = packets.concat();
        run(settings(false, true), &String::from_utf8(all).unwrap())
    };
    let out = o.out.replace("<TLS>", "");
    let got: Vec<&str> = out
        .strip_suffix("\r\n")
        .unwrap_or(&out)
        .split("\r\n")
        .collect();
    assert_eq!(got, want, "{name}");
}

#[test]
fn transcripts() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("lib/pop3/testdata");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        replay(
            &path.display().to_string(),
            &std::fs::read_to_string(&path).unwrap(),
        );
        n += 1;
    }
    assert!(n >= 3);
}
