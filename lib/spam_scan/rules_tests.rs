use super::*;
use mail_parser::MessageParser;

fn names(raw: &str) -> Vec<String> {
    let msg = MessageParser::default().parse(raw.as_bytes()).unwrap();
    check(&msg, raw.as_bytes())
        .into_iter()
        .map(|h| h.name)
        .collect()
}

const HEAD: &str =
    "From: Alice <a@x.test>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <1@x.test>\r\n";

#[test]
fn clean_message_hits_nothing() {
    assert!(names(&format!("{HEAD}Subject: Lunch?\r\n\r\nSee you.\r\n")).is_empty());
}

#[test]
fn header_rules() {
    let n = names("From: \"service@paypal.test\" <x@evil.test>\r\nReply-To: y@other.test\r\nSubject: FREE MONEY NOW!!!\r\n\r\nx\r\n");
    for want in [
        "MISSING_DATE",
        "MISSING_MID",
        "FROM_REPLYTO_DIFFER",
        "SUBJ_ALL_CAPS",
        "SUBJ_EXCLAIM",
        "FROM_NAME_DOMAIN_MISMATCH",
    ] {
        assert!(n.iter().any(|h| h == want), "{want} missing from {n:?}");
    }
    assert!(!name_mismatch("J.R. Smith", "j@x.test"));
    assert!(!name_mismatch("x.test support", "help@mail.x.test"));
    assert!(name_mismatch("PayPal.com", "a@evil.test"));
}

#[test]
fn gtube_in_the_body() {
    let n = names(&format!("{HEAD}Subject: t\r\n\r\n{GTUBE}\r\n"));
    assert_eq!(n, vec!["GTUBE"]);
}

#[test]
fn attachments_and_mime() {
    let m = format!(
        "{HEAD}Subject: inv\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"invoice.pdf.exe\"\r\n\r\nMZ\r\n"
    );
    let n = names(&m);
    for want in [
        "EXEC_ATTACHMENT",
        "DOUBLE_EXTENSION",
        "MIME_MISSING_END",
        "HTML_ONLY",
    ] {
        assert!(n.iter().any(|h| h == want), "{want} missing from {n:?}");
    }
    let n = names(&format!(
        "{HEAD}Subject: x\r\nContent-Type: multipart/mixed\r\n\r\nx\r\n"
    ));
    assert!(n.iter().any(|h| h == "MIME_NO_BOUNDARY"), "{n:?}");
    assert!(executable("run.js") && !executable("notes.txt") && !double_extension("a.exe"));
}
