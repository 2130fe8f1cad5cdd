use super::*;

fn msg(i: usize, spam: bool) -> Vec<u8> {
    let (subject, body) = match spam {
        true => (
            "Cheap pills viagra offer",
            "Buy cheap viagra pills now, limited offer, click here casino winner",
        ),
        false => (
            "Meeting notes",
            "Hello team, attached are the meeting notes for the quarterly planning review",
        ),
    };
    format!("Message-ID: <{i}.{spam}@x.test>\r\nFrom: a@x.test\r\nSubject: {subject} {i}\r\n\r\n{body} {i}\r\n")
        .into_bytes()
}

#[test]
fn silent_until_trained_then_separates() {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("user");
    assert_eq!(probability(&md, &msg(0, true)), None);
    for i in 0..MIN_TRAINED as usize {
        learn(&md, &msg(i, true), true).unwrap();
        if i > 0 {
            learn(&md, &msg(i, false), false).unwrap();
        }
    }
    assert_eq!(probability(&md, &msg(0, true)), None, "one ham short");
    learn(&md, &msg(0, false), false).unwrap();
    let spam = probability(&md, &msg(99, true)).unwrap();
    let ham = probability(&md, &msg(99, false)).unwrap();
    assert!(spam > 0.9, "{spam}");
    assert!(ham < 0.1, "{ham}");
}

#[test]
fn relearning_is_idempotent_and_moves_class() {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path();
    let m = msg(1, true);
    learn(md, &m, true).unwrap();
    learn(md, &m, true).unwrap();
    assert_eq!(trained(md).unwrap(), (1, 0));
    learn(md, &m, false).unwrap();
    assert_eq!(trained(md).unwrap(), (0, 1));
    assert!(unlearn(md, &m).unwrap());
    assert!(!unlearn(md, &m).unwrap());
    assert_eq!(trained(md).unwrap(), (0, 0));
    let text = std::fs::read_to_string(md.join(FILE)).unwrap();
    assert_eq!(text, "mailserver-bayes 1\nmessages 0 0\n");
}

#[test]
fn delivery_headers_do_not_change_the_digest() {
    let m = msg(3, false);
    let mut delivered = b"Return-Path: <a@x.test>\r\nX-Spam-Score: 0.0\r\n".to_vec();
    delivered.extend_from_slice(&m);
    assert_eq!(tokens::digest(&m), tokens::digest(&delivered));
}

#[test]
fn broken_file_is_an_error_for_learn_and_silence_for_probability() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(FILE), "garbage\n").unwrap();
    assert!(learn(dir.path(), &msg(1, true), true).is_err());
    assert_eq!(probability(dir.path(), &msg(1, true)), None);
    assert!(store::Stats::parse("mailserver-bayes 1\ntoken x 1 t\n").is_err());
}
