use super::*;

const TXN: &[u8] = b"LHLO client\r\nMAIL FROM:<a@b.test> ENVID=Q1\r\nRCPT TO:<x@example.test>\r\nRCPT TO:<y@example.test>\r\nDATA\r\nSubject: s\r\n\r\n..dot\r\nbody\r\n.\r\nQUIT\r\n";

/// Feeds `input` in pieces of `step` bytes (0: whole) and collects the events.
fn run(input: &[u8], step: usize) -> Vec<Event> {
    let mut s = Session::new("mx.test", 1000);
    let step = if step == 0 { input.len() } else { step };
    input.chunks(step).flat_map(|c| s.feed(c)).collect()
}

fn texts(ev: &[Event]) -> Vec<String> {
    ev.iter()
        .map(|e| match e {
            Event::Send(b) => String::from_utf8_lossy(b).into_owned(),
            Event::Deliver(t) => format!("deliver {t:?}"),
            Event::Close => "close".into(),
        })
        .collect()
}

#[test]
fn whole_per_line_and_byte_by_byte_agree() {
    let whole = run(TXN, 0);
    let t = whole.iter().find_map(|e| match e {
        Event::Deliver(t) => Some(t.clone()),
        _ => None,
    });
    let t = t.expect("a transaction");
    assert_eq!(t.sender, "a@b.test");
    assert_eq!(t.recipients, ["x@example.test", "y@example.test"]);
    assert_eq!(t.data, b"Subject: s\r\n\r\n.dot\r\nbody\r\n");
    assert_eq!(t.envid.as_deref(), Some("Q1"));
    assert_eq!(whole.last(), Some(&Event::Close));
    let mut per_line = Session::new("mx.test", 1000);
    let lines: Vec<Event> = TXN
        .split_inclusive(|&b| b == b'\n')
        .flat_map(|l| per_line.feed(l))
        .collect();
    assert_eq!(texts(&lines), texts(&whole));
    assert_eq!(texts(&run(TXN, 1)), texts(&whole));
    assert_eq!(texts(&run(TXN, 7)), texts(&whole));
}

#[test]
fn order_is_enforced_and_rset_clears() {
    let ev = texts(&run(
        b"MAIL FROM:<a@b>\r\nLHLO c\r\nRCPT TO:<x@y>\r\nDATA\r\nMAIL FROM:<a@b>\r\nMAIL FROM:<a@b>\r\nRSET\r\nRCPT TO:<x@y>\r\nEHLO c\r\nLHLO\r\nBDAT 1\r\nNOOP\r\n",
        0,
    ));
    let codes: Vec<&str> = ev.iter().map(|l| &l[..3]).collect();
    assert_eq!(
        codes,
        ["503", "250", "503", "503", "250", "503", "250", "503", "500", "501", "502", "250"]
    );
}

#[test]
fn too_big_and_overlong_lines_are_refused() {
    let mut big =
        b"LHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<x@y.test>\r\nRCPT TO:<z@y.test>\r\nDATA\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'a', 2000));
    big.extend_from_slice(b"\r\n.\r\n");
    let ev = texts(&run(&big, 0));
    assert_eq!(ev.iter().filter(|l| l.starts_with("552 5.3.4")).count(), 2);
    assert!(!ev.iter().any(|l| l.starts_with("deliver")));
    let mut long = vec![b'N'; 5000];
    long.extend_from_slice(b"\r\nNOOP\r\n");
    let ev = texts(&run(&long, 3));
    assert!(ev[0].starts_with("500 5.5.2"), "{ev:?}");
    assert!(ev[1].starts_with("250"), "{ev:?}");
}

#[test]
fn input_after_quit_is_ignored() {
    let ev = run(b"QUIT\r\nNOOP\r\n", 0);
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[1], Event::Close);
}

#[test]
fn replies_mirror_the_one_shot_mode() {
    use crate::exit::Exit;
    let full = Failure::new(Exit::TempFail, "4.2.2", "mailbox full");
    assert_eq!(
        reply_for("d@x.test", &Err(full)),
        b"451 4.2.2 d@x.test: mailbox full (#4.2.2)\r\n"
    );
    let unknown = Failure::new(Exit::NoPerm, "5.1.1", "unknown user\r\nQUIT");
    assert_eq!(
        reply_for("d@x.test", &Err(unknown)),
        b"550 5.1.1 d@x.test: unknown user  QUIT (#5.1.1)\r\n"
    );
    let ok = super::super::Report {
        folder: "INBOX".into(),
        size: 12,
        file: "f1".into(),
        warning: None,
    };
    assert_eq!(
        reply_for("d@x.test", &Ok(ok)),
        b"250 2.0.0 delivered to=<d@x.test> folder=INBOX size=12 file=f1\r\n"
    );
    assert_eq!(basic_code("5.3.4"), 552);
    assert_eq!(basic_code("5.6.0"), 554);
}
