use super::*;

const PLAIN: &[u8] = b"From: a@example.test\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <1@example.test>\r\nSubject: hi\r\n\r\nbody\r\n";

#[test]
fn plain_message_passes_with_one_part() {
    let mut r = analyze(PLAIN);
    r.decide(5.0, 15.0);
    assert_eq!(r.parts, 1);
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert!(r.hits.is_empty(), "{:?}", r.hits);
    assert_eq!(r.value("h"), "h; parts=1; verdict=pass");
    assert_eq!(r.status(), "No, score=0.0 required=5.0 tests=none");
}

#[test]
fn multipart_counts_parts_and_notes_problems() {
    let m = b"Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b--\r\n";
    let r = analyze(m);
    assert_eq!(r.parts, 3);
    assert!(r.problems.contains(&"no-from") && r.problems.contains(&"no-date"));
    assert!(r.value("h").ends_with("problems=no-from,no-date"));
}

#[test]
fn thresholds_decide() {
    let mut r = analyze(PLAIN);
    r.hits.push(Hit::new("A", 5.25));
    r.decide(5.0, 15.0);
    assert_eq!((r.verdict, r.score()), (Verdict::Junk, 5.3));
    assert_eq!(r.status(), "Yes, score=5.3 required=5.0 tests=A");
    r.hits.push(Hit::new("B", 10.0));
    r.decide(5.0, 15.0);
    assert_eq!(r.verdict, Verdict::Quarantine);
    r.virus = Some("X".into());
    r.hits.clear();
    r.decide(5.0, 15.0);
    assert_eq!(r.verdict, Verdict::Virus);
    assert_eq!(r.value("h"), "h; parts=1; verdict=virus; virus=X");
}

#[test]
fn garbage_never_panics() {
    for m in [
        &b""[..],
        b"\xff\xfe\x00",
        b"\r\n\r\n",
        b"Subject: \xe9\r\n\r\n",
    ] {
        let mut r = analyze(m);
        r.decide(5.0, 15.0);
        let _ = r.headers("h");
    }
}
