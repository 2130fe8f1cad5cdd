//! Session tests: transcripts from `testdata/` replayed in every split (packets as written,
//! line by line, one byte at a time), and targeted checks of limits and answers.

use super::reply;
use super::session::{Event, Message, Session, Settings};

fn settings() -> Settings {
    Settings {
        hostname: "mx.example.test".into(),
        max_message_size: 1_000_000,
        max_recipients: 5,
        max_errors: 20,
        starttls: true,
        tls_active: false,
        auth: true,
        plaintext_auth: false,
        auth_required: false,
    }
}

fn submissions() -> Settings {
    Settings {
        tls_active: true,
        auth_required: true,
        ..settings()
    }
}

/// A fake world: example.test is local (`unknown@` does not exist), demo/demo authenticates.
#[derive(Default)]
struct Harness {
    wire: Vec<u8>,
    messages: Vec<Message>,
    closed: bool,
}

impl Harness {
    /// Drains events; returns true when a TLS handshake happened (the rest of the read is
    /// plaintext sent before the handshake, which TLS would refuse: dropped).
    fn drain(&mut self, s: &mut Session) -> bool {
        let mut handshake = false;
        loop {
            match s.next_event() {
                Event::Reply(r) => self.wire.extend(r.to_bytes()),
                Event::NeedInput => return handshake,
                Event::Mail(_) => s.mail_result(Ok(())),
                Event::Recipient(a) => s.recipient_result(classify(&a, s.auth_user().is_some())),
                Event::Auth { user, password } => {
                    let ok = user == "demo@example.test" && password == "demo";
                    s.auth_result(if ok {
                        Ok(())
                    } else {
                        Err(reply::auth_failed())
                    })
                }
                Event::StartTls => s.starttls_result(Ok(())),
                Event::Handshake => {
                    s.tls_started();
                    handshake = true;
                }
                Event::Message(m) => {
                    self.messages.push(m);
                    let id = format!("TESTID{}", self.messages.len());
                    s.message_result(reply::queued(&id));
                }
                Event::Close => {
                    self.closed = true;
                    return handshake;
                }
                Event::Awaiting => panic!("unanswered question"),
            }
        }
    }

    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.wire)
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }
}

fn classify(addr: &str, authed: bool) -> Result<(), super::Reply> {
    match addr.rsplit_once('@') {
        Some((local, d)) if d.eq_ignore_ascii_case("example.test") => match local {
            "unknown" => Err(reply::unknown_user(addr)),
            _ => Ok(()),
        },
        _ if authed => Ok(()),
        _ => Err(reply::relay_denied(addr)),
    }
}

fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut b = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            continue;
        }
        match chars.next() {
            Some('r') => out.push(b'\r'),
            Some('n') => out.push(b'\n'),
            Some('\\') => out.push(b'\\'),
            other => panic!("bad escape \\{other:?}"),
        }
    }
    out
}

/// Packets (consecutive client lines) and expected reply-line prefixes.
fn load(text: &str) -> (Vec<Vec<u8>>, Vec<String>) {
    let (mut packets, mut expect) = (Vec::new(), Vec::new());
    let mut current: Option<Vec<u8>> = None;
    for line in text.lines() {
        if let Some(c) = line.strip_prefix("C:") {
            let c = c.strip_prefix(' ').unwrap_or(c);
            let p = current.get_or_insert_with(Vec::new);
            p.extend(unescape(c));
            p.extend_from_slice(b"\r\n");
        } else if let Some(r) = line.strip_prefix("R: ") {
            current.get_or_insert_with(Vec::new).extend(unescape(r));
        } else if let Some(s) = line.strip_prefix("S: ") {
            packets.extend(current.take());
            expect.push(s.to_string());
        }
    }
    packets.extend(current.take());
    (packets, expect)
}

#[derive(Clone, Copy, Debug)]
enum Split {
    Packets,
    Lines,
    Bytes,
}

fn pieces(packet: &[u8], split: Split) -> Vec<Vec<u8>> {
    match split {
        Split::Packets => vec![packet.to_vec()],
        Split::Bytes => packet.iter().map(|b| vec![*b]).collect(),
        Split::Lines => packet
            .split_inclusive(|b| *b == b'\n')
            .map(<[u8]>::to_vec)
            .collect(),
    }
}

fn replay(name: &str, text: &str, settings: Settings, split: Split) -> Harness {
    let (packets, expect) = load(text);
    let mut s = Session::new(settings);
    let mut h = Harness::default();
    h.drain(&mut s);
    for packet in &packets {
        for piece in pieces(packet, split) {
            s.feed(&piece);
            if h.drain(&mut s) {
                break;
            }
        }
    }
    let got = h.lines();
    for (i, want) in expect.iter().enumerate() {
        let line = got.get(i).map(String::as_str).unwrap_or("<nothing>");
        assert!(
            line.starts_with(want.as_str()),
            "{name} ({split:?}): reply {i}: want {want:?}, got {line:?}\nall: {got:#?}"
        );
    }
    assert_eq!(got.len(), expect.len(), "{name} ({split:?}): {got:#?}");
    h
}

#[test]
fn transcripts_replay_in_every_split() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("lib/smtp/testdata");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let st = if name.starts_with("auth") {
            submissions()
        } else {
            settings()
        };
        for split in [Split::Packets, Split::Lines, Split::Bytes] {
            replay(&name, &text, st.clone(), split);
        }
        n += 1;
    }
    assert!(n >= 7, "only {n} transcripts");
}

#[test]
fn smuggled_commands_never_run() {
    let text = include_str!("testdata/smuggling-lf-dot-crlf.txt");
    for split in [Split::Packets, Split::Lines, Split::Bytes] {
        let h = replay("smuggling", text, settings(), split);
        assert!(h.messages.is_empty(), "{split:?}: {:?}", h.messages);
    }
}

#[test]
fn messages_are_unstuffed_and_complete() {
    let h = replay(
        "pipelining",
        include_str!("testdata/pipelining.txt"),
        settings(),
        Split::Bytes,
    );
    assert_eq!(h.messages.len(), 1);
    let m = &h.messages[0];
    assert_eq!(m.body, b"Subject: one\r\n\r\n.dot-stuffed\r\n");
    assert_eq!(m.recipients, vec!["one@example.test", "two@example.test"]);
    let h = replay(
        "bdat",
        include_str!("testdata/bdat.txt"),
        settings(),
        Split::Lines,
    );
    assert_eq!(h.messages[0].body, b"Subject: x\r\n\r\n.\r\nbody\r\n");
    assert!(h.messages[0].eight_bit);
}

fn run(settings: Settings, input: &[u8]) -> Harness {
    let mut s = Session::new(settings);
    let mut h = Harness::default();
    h.drain(&mut s);
    s.feed(input);
    h.drain(&mut s);
    h
}

#[test]
fn long_command_line_refused_then_session_continues() {
    let mut input = b"EHLO ".to_vec();
    input.extend(vec![b'a'; 5000]);
    input.extend_from_slice(b"\r\nNOOP\r\n");
    let lines = run(settings(), &input).lines();
    assert_eq!(lines[1], "500 5.5.2 Line too long");
    assert!(lines[2].starts_with("250 2.0.0"));
}

#[test]
fn recipient_limit_and_size_param() {
    let mut input =
        b"EHLO c\r\nMAIL FROM:<a@c.test> SIZE=2000000\r\nMAIL FROM:<a@c.test>\r\n".to_vec();
    for i in 0..7 {
        input.extend(format!("RCPT TO:<u{i}@example.test>\r\n").bytes());
    }
    let lines = run(settings(), &input).lines();
    let tail: Vec<&str> = lines.iter().rev().take(9).rev().map(|l| &l[..9]).collect();
    assert_eq!(tail[0], "552 5.3.4");
    assert_eq!(&tail[2..7], ["250 2.1.5"; 5]);
    assert_eq!(&tail[7..], ["452 4.5.3"; 2]);
}

#[test]
fn oversized_data_consumed_then_refused() {
    let st = Settings {
        max_message_size: 100,
        ..settings()
    };
    let mut input =
        b"EHLO c\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n".to_vec();
    input.extend(vec![b'x'; 500]);
    input.extend_from_slice(b"\r\n.\r\nNOOP\r\n");
    let h = run(st, &input);
    let lines = h.lines();
    assert!(h.messages.is_empty());
    assert!(lines[lines.len() - 2].starts_with("552 5.3.4"), "{lines:?}");
    assert!(lines[lines.len() - 1].starts_with("250 2.0.0 Ok"));
}

#[test]
fn too_many_errors_closes() {
    let st = Settings {
        max_errors: 3,
        ..settings()
    };
    let h = run(st, b"FOO\r\nBAR\r\nBAZ\r\nNOOP\r\n");
    let lines = h.lines();
    assert!(h.closed);
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert!(lines[4].starts_with("421 4.7.0"));
}

#[test]
fn plaintext_auth_rules() {
    let lines = run(
        settings(),
        b"EHLO c\r\nAUTH PLAIN AGRlbW9AZXhhbXBsZS50ZXN0AGRlbW8=\r\n",
    )
    .lines();
    assert!(!lines.iter().any(|l| l.contains("AUTH")), "{lines:?}");
    assert!(lines.last().unwrap().starts_with("538 5.7.11"));
    let st = Settings {
        plaintext_auth: true,
        ..settings()
    };
    let lines = run(
        st,
        b"EHLO c\r\nAUTH PLAIN AGRlbW9AZXhhbXBsZS50ZXN0AGRlbW8=\r\n",
    )
    .lines();
    assert!(
        lines.iter().any(|l| l == "250-AUTH PLAIN LOGIN"),
        "{lines:?}"
    );
    assert!(lines.last().unwrap().starts_with("235 2.7.0"));
}

#[test]
fn plain_authzid_must_match() {
    // "other\0demo@example.test\0demo"
    let lines = run(
        submissions(),
        b"EHLO c\r\nAUTH PLAIN b3RoZXIAZGVtb0BleGFtcGxlLnRlc3QAZGVtbw==\r\n",
    )
    .lines();
    assert!(lines.last().unwrap().starts_with("535 5.7.8"), "{lines:?}");
}

#[test]
fn utf8_recipient_needs_smtputf8() {
    let lines = run(settings(), "EHLO c\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<ü@example.test>\r\nRSET\r\nMAIL FROM:<a@c.test> SMTPUTF8\r\nRCPT TO:<ü@example.test>\r\n".as_bytes()).lines();
    let n = lines.len();
    assert!(lines[n - 4].starts_with("553 5.6.7"), "{lines:?}");
    assert!(lines[n - 1].starts_with("250 2.1.5"));
}

#[test]
fn dsn_parameters_reach_the_message() {
    let h = replay(
        "dsn",
        include_str!("testdata/dsn.txt"),
        settings(),
        Split::Bytes,
    );
    let m = &h.messages[0];
    assert_eq!(m.recipients.len(), 3);
    assert_eq!(m.recipient_dsn.len(), 3);
    let one = &m.recipient_dsn[0];
    assert_eq!(one.notify.unwrap().to_string(), "SUCCESS,FAILURE");
    assert_eq!(one.orcpt.as_deref(), Some("rfc822;One@example.test"));
    assert_eq!(m.recipient_dsn[1].notify.unwrap().to_string(), "NEVER");
    assert_eq!(m.recipient_dsn[2], Default::default());
    assert_eq!(m.ret, Some(super::dsn::Ret::Hdrs));
    assert_eq!(m.envid.as_deref(), Some("QQ+314"));
    assert_eq!((m.hold_until, m.require_tls), (0, false));
}

#[test]
fn holds_use_the_session_clock() {
    let mut s = Session::new(submissions());
    s.set_clock(|| 1_700_000_000);
    let mut h = Harness::default();
    h.drain(&mut s);
    s.feed(b"EHLO c\r\nAUTH PLAIN AGRlbW9AZXhhbXBsZS50ZXN0AGRlbW8=\r\n");
    s.feed(b"MAIL FROM:<demo@example.test> HOLDFOR=60 REQUIRETLS\r\n");
    s.feed(b"RCPT TO:<far@remote.test>\r\nDATA\r\nSubject: x\r\n\r\nx\r\n.\r\n");
    s.feed(b"MAIL FROM:<demo@example.test> HOLDUNTIL=2023-11-14T22:13:00Z\r\n");
    s.feed(b"RCPT TO:<far@remote.test>\r\nDATA\r\nSubject: y\r\n\r\ny\r\n.\r\n");
    h.drain(&mut s);
    let lines = h.lines();
    assert!(
        lines.contains(&"250-FUTURERELEASE 604800 2023-11-21T22:13:20Z".to_string()),
        "{lines:?}"
    );
    assert_eq!(h.messages.len(), 2, "{lines:?}");
    assert_eq!(h.messages[0].hold_until, 1_700_000_060);
    assert!(h.messages[0].require_tls);
    assert_eq!(h.messages[1].hold_until, 0, "a time in the past: no hold");
}

#[test]
fn requiretls_after_starttls() {
    let mut s = Session::new(settings());
    let mut h = Harness::default();
    h.drain(&mut s);
    s.feed(b"EHLO c\r\nSTARTTLS\r\n");
    h.drain(&mut s);
    s.feed(b"EHLO c\r\nMAIL FROM:<a@c.test> REQUIRETLS\r\n");
    h.drain(&mut s);
    let lines = h.lines();
    assert!(lines.contains(&"250-REQUIRETLS".to_string()), "{lines:?}");
    assert!(lines.last().unwrap().starts_with("250 2.1.0"), "{lines:?}");
}
