//! IMAP extensions beyond the core, with Python imaplib against the real `imapd`: keywords
//! stored the Dovecot way (`dovecot-keywords` + lowercase letters in file names, read from an
//! existing Dovecot Maildir), QUOTA from Maildir++ `maildirsize`, and ESEARCH.

use super::{cur_names, run_py};
use crate::harness::*;
use std::fs;

#[test]
fn keywords_are_stored_the_dovecot_way() {
    let server = Server::start();
    run_py(&server, r#"send("from dovecot days")"#);
    let delivered = server.wait_for_messages(DEMO, 1);
    let md = server.maildir(DEMO);
    // As Dovecot left it: keyword 0 is $Forwarded, the message is seen and forwarded.
    fs::write(md.join("dovecot-keywords"), "0 $Forwarded\n").unwrap();
    let base = delivered[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    fs::rename(&delivered[0], md.join("cur").join(format!("{base}:2,Sa"))).unwrap();
    run_py(
        &server,
        r#"
c = connect()
ok(c.select("INBOX"))
flags = c.untagged_responses.get("FLAGS", [b""])[0]
assert b"$Forwarded" in flags, c.untagged_responses
perm = c.untagged_responses.get("PERMANENTFLAGS", [b""])[0]
assert b"$Forwarded" in perm and b"\\*" in perm, perm
data = ok(c.fetch("1", "(FLAGS)"))[0]
assert b"\\Seen" in data and b"$Forwarded" in data, data
data = ok(c.store("1", "+FLAGS", "($Junk Custom)"))
assert b"$Junk" in data[-1] and b"Custom" in data[-1] and b"$Forwarded" in data[-1], data
assert ok(c.search(None, "KEYWORD", "$junk"))[0] == b"1"
assert ok(c.search(None, "UNKEYWORD", "$Junk"))[0] == b""
assert ok(c.search(None, "KEYWORD", "Nowhere"))[0] == b""
assert ok(c.search(None, "UNKEYWORD", "Nowhere"))[0] == b"1"
data = ok(c.store("1", "-FLAGS", "($Forwarded)"))[0]
assert b"$Forwarded" not in data and b"$Junk" in data, data
msg = b"Subject: appended\r\n\r\nbody\r\n"
typ, data = c.append("Archive", "(\\Seen $NotJunk Custom)", None, msg)
assert typ == "OK", data
typ, data = c.copy("1", "Archive")
assert typ == "OK", data
ok(c.select("Archive"))
data = ok(c.fetch("1:2", "(FLAGS)"))
assert b"$NotJunk" in data[0] and b"Custom" in data[0] and b"$Junk" not in data[0], data
assert b"$Junk" in data[1] and b"Custom" in data[1] and b"$NotJunk" not in data[1], data
assert ok(c.search(None, "KEYWORD", "Custom"))[0] == b"1 2"
# A second session learns the new keyword and the flag change.
d = connect()
ok(d.select("Archive"))
ok(d.store("2", "+FLAGS", "(Later)"))
d.logout()
typ, data = c.noop()
flags = c.untagged_responses.get("FLAGS", [b""])[-1]
assert b"Later" in flags, c.untagged_responses
data = ok(c.fetch("2", "(FLAGS)"))[0]
assert b"Later" in data, data
ok(c.store("2", "FLAGS", "(\\Seen)"))
data = ok(c.fetch("2", "(FLAGS)"))[0]
assert b"Custom" not in data and b"Later" not in data, data
c.logout()
"#,
    );
    assert_eq!(
        read(&md.join("dovecot-keywords")),
        "0 $Forwarded\n1 $Junk\n2 Custom\n"
    );
    assert_eq!(cur_names(&md), [format!("{base}:2,Sbc")]);
    let archive = md.join(".Archive");
    assert_eq!(
        read(&archive.join("dovecot-keywords")),
        "0 $NotJunk\n1 Custom\n2 $Junk\n3 Later\n"
    );
    let mut names: Vec<String> = cur_names(&archive)
        .iter()
        .map(|n| n.rsplit_once(":2,").map_or("?", |(_, f)| f).to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["S", "Sab"],
        "appended: $NotJunk Custom; copied now plain"
    );
}

#[test]
fn quota_comes_from_maildirsize() {
    let server = Server::start();
    run_py(&server, r#"send("no quota yet")"#);
    server.wait_for_messages(DEMO, 1);
    run_py(
        &server,
        r#"
c = connect()
caps = ok(c.capability())[0].decode()
assert "QUOTA" in caps and "QUOTA=RES-STORAGE" in caps and "QUOTA=RES-MESSAGE" in caps, caps
typ, data = c.getquotaroot("INBOX")
assert typ == "OK" and data[0] == [b"INBOX"] and data[1] in ([], [None]), data
typ, data = c.getquota('""')
assert typ == "NO" and b"NONEXISTENT" in data[0], data
"#,
    );
    let md = server.maildir(DEMO);
    fs::write(md.join("maildirsize"), "1048576S,100C\n2048 1\n1 1\n").unwrap();
    run_py(
        &server,
        r#"
c = connect()
typ, data = c.getquotaroot("Sent")
assert typ == "OK", data
assert data[0] == [b'Sent ""'], data
assert data[1] == [b'"" (STORAGE 3 1024 MESSAGE 2 100)'], data
typ, data = c.getquota('""')
assert typ == "OK" and data == [b'"" (STORAGE 3 1024 MESSAGE 2 100)'], data
typ, data = c.getquota("other")
assert typ == "NO", data
typ, data = c.setquota('""', "(STORAGE 1)")
assert typ == "NO", data
typ, data = c.getquotaroot("../etc")
assert typ == "NO", data
c.logout()
"#,
    );
}

#[test]
fn quota_counts_a_maildir_without_maildirsize() {
    let mut server =
        Server::setup_with(|t| t.replace("# default_quota = \"1G\"", "default_quota = \"1M\""));
    server.run();
    run_py(&server, r#"send("counted")"#);
    server.wait_for_messages(DEMO, 1);
    let md = server.maildir(DEMO);
    let _ = fs::remove_file(md.join("maildirsize"));
    run_py(
        &server,
        r#"
c = connect()
typ, data = c.getquotaroot("INBOX")
assert typ == "OK" and data[0] == [b'INBOX ""'], data
assert re.fullmatch(rb'"" \(STORAGE 1 1024\)', data[1][0]), data
c.logout()
"#,
    );
    assert!(read(&md.join("maildirsize")).starts_with("1048576S"));
}

#[test]
fn esearch_returns_min_max_count_all() {
    let server = Server::start();
    run_py(
        &server,
        r#"
c = connect()
assert "ESEARCH" in ok(c.capability())[0].decode()
for i in range(5):
    ok(c.append("INBOX", "(\\Seen)" if i in (1, 2, 4) else "()", None, b"Subject: m%d\r\n\r\nx\r\n" % i))
ok(c.select("INBOX"))
typ, data = c._simple_command("SEARCH", "RETURN", "(MIN MAX COUNT ALL)", "SEEN")
assert typ == "OK", data
es = c.untagged_responses.pop("ESEARCH")
assert re.fullmatch(rb'\(TAG "[A-Z]+\d+"\) MIN 2 MAX 5 COUNT 3 ALL 2:3,5', es[0]), es
typ, data = c.uid("SEARCH", "RETURN", "(COUNT)", "UNSEEN")
assert typ == "OK", data
es = c.untagged_responses.pop("ESEARCH")
assert re.fullmatch(rb'\(TAG "[A-Z]+\d+"\) UID COUNT 2', es[0]), es
typ, data = c._simple_command("SEARCH", "RETURN", "()", "DELETED")
es = c.untagged_responses.pop("ESEARCH")
assert typ == "OK" and re.fullmatch(rb'\(TAG "[A-Z]+\d+"\)', es[0]), es
try:
    c._simple_command("SEARCH", "RETURN", "(SAVE)", "ALL")
    raise AssertionError("RETURN (SAVE) accepted")
except imaplib.IMAP4.error as e:
    assert "unsupported RETURN option" in str(e), e
assert ok(c.search(None, "SEEN"))[0] == b"2 3 5"
c.logout()
"#,
    );
}
