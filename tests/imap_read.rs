//! IMAP: a user reads, flags, files and searches mail with a real client (Python imaplib)
//! against the real `imapd` under `mailctl run`: plain login on loopback, STARTTLS, implicit
//! TLS, mail delivered over SMTP showing up (also in IDLE), flags landing in Maildir file
//! names, APPEND/COPY/MOVE, SEARCH, partial fetches, UID ranges, hostile folder names, and
//! two sessions seeing each other's changes.

use crate::harness::*;
use std::path::Path;

/// Shared Python: connect helpers and an SMTP sender. Scripts assert themselves; a failed
/// assertion exits non-zero with the traceback on stderr.
const PRELUDE: &str = r#"
import imaplib, smtplib, socket, ssl, sys, re
from email.message import EmailMessage
imap_port, imaps_port, smtp_port = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
USER, PASS = "demo@example.test", "demo"

def connect():
    c = imaplib.IMAP4("127.0.0.1", imap_port)
    c.login(USER, PASS)
    return c

def send(subject, body="Hello from smtplib.\nSecond line.\n", to=USER):
    m = EmailMessage()
    m["From"] = "Alice <alice@remote.test>"
    m["To"] = to
    m["Subject"] = subject
    m.set_content(body)
    with smtplib.SMTP("127.0.0.1", smtp_port, local_hostname="client.test") as s:
        s.send_message(m)

def ok(r):
    typ, data = r
    assert typ == "OK", (typ, data)
    return data
"#;

fn run_py(server: &Server, script: &str) -> String {
    wait_for_port(server.ports.imap);
    wait_for_port(server.ports.imaps);
    let full = format!("{PRELUDE}\n{script}");
    let out = python(
        &full,
        &[
            &server.ports.imap.to_string(),
            &server.ports.imaps.to_string(),
            &server.ports.smtp.to_string(),
        ],
    );
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}\n--- server log ---\n{}",
        text(&out.stdout),
        text(&out.stderr),
        server.log()
    );
    text(&out.stdout)
}

/// Message file names in cur/ of a mailbox directory.
fn cur_names(dir: &Path) -> Vec<String> {
    list_files(&dir.join("cur"))
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect()
}

#[test]
fn reads_mail_delivered_over_smtp() {
    let server = Server::start();
    run_py(&server, r#"send("first message")"#);
    server.wait_for_messages(DEMO, 1);
    run_py(
        &server,
        r#"
c = connect()
caps = ok(c.capability())[0].decode()
for cap in ["IMAP4rev1", "IDLE", "UIDPLUS", "MOVE", "SPECIAL-USE", "LITERAL+"]:
    assert cap in caps, caps
n = ok(c.select("INBOX"))[0]
assert n == b"1", n
assert c.untagged_responses.get("UIDVALIDITY"), c.untagged_responses
typ, data = c.fetch("1", "(UID RFC822.SIZE BODY.PEEK[])")
assert typ == "OK", data
meta, body = data[0]
meta = meta.decode()
assert "Subject: first message\r\n" in body.decode(), body
assert "\n" not in body.decode().replace("\r\n", ""), "bare LF on the wire"
size = int(re.search(r"RFC822.SIZE (\d+)", meta).group(1))
assert size == len(body), (size, len(body))
meta = ok(c.fetch("1", "(FLAGS ENVELOPE BODYSTRUCTURE)"))[0].decode()
assert '"first message"' in meta and '"alice" "remote.test"' in meta, meta
assert '("TEXT" "PLAIN"' in meta, meta
assert "\\Seen" not in meta, meta
# Partial fetch and header fields.
data = ok(c.fetch("1", "(BODY.PEEK[]<0.10>)"))
assert data[0][0].endswith(b"BODY[]<0> {10}") and data[0][1] == body[:10], data
data = ok(c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
assert data[0][1] == b"Subject: first message\r\n\r\n", data
data = ok(c.fetch("1", "(BODY.PEEK[1]<6.4>)"))
assert data[0][1] == b"from", data
# A non-peek fetch sets \Seen.
data = ok(c.fetch("1", "(BODY[TEXT])"))
assert b"Hello from smtplib." in data[0][1], data
data = ok(c.fetch("1", "(FLAGS)"))
assert b"\\Seen" in data[0], data
c.logout()
"#,
    );
    let names = cur_names(&server.maildir(DEMO));
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].ends_with(":2,S"), "{names:?}");
    assert!(server.new_messages(DEMO).is_empty());
}

#[test]
fn starttls_and_implicit_tls_logins() {
    let server = Server::start();
    let out = run_py(
        &server,
        r#"
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
c = imaplib.IMAP4("127.0.0.1", imap_port)
assert "STARTTLS" in c.capabilities, c.capabilities
ok(c.starttls(ctx))
ok(c.authenticate("PLAIN", lambda _: b"\0" + USER.encode() + b"\0" + PASS.encode()))
ok(c.select("INBOX"))
c.logout()
s = imaplib.IMAP4_SSL("127.0.0.1", imaps_port, ssl_context=ctx)
assert "STARTTLS" not in s.capabilities, s.capabilities
ok(s.login(USER, PASS))
print("folders", len(ok(s.list())))
s.logout()
"#,
    );
    assert!(
        out.contains("folders 6"),
        "INBOX + 5 special-use folders: {out}"
    );
    assert!(server.log().contains("TLS established"));
}

#[test]
fn login_needs_tls_when_the_loopback_exception_is_off() {
    let mut server = Server::setup_with(|t| {
        t.replace(
            "allow_plaintext_auth_on_loopback = true",
            "allow_plaintext_auth_on_loopback = false",
        )
    });
    server.run();
    run_py(
        &server,
        r#"
c = imaplib.IMAP4("127.0.0.1", imap_port)
assert "LOGINDISABLED" in c.capabilities and "AUTH=PLAIN" not in c.capabilities, c.capabilities
c.send(b"a1 LOGIN demo@example.test demo\r\n")
line = c.readline()
assert line.startswith(b"a1 NO [PRIVACYREQUIRED]"), line
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ok(c.starttls(ctx))
assert "LOGINDISABLED" not in c.capabilities, c.capabilities
ok(c.login(USER, PASS))
c.logout()
"#,
    );
}

#[test]
fn bad_logins_are_refused_slowly_and_logged_without_password() {
    let server = Server::start();
    run_py(
        &server,
        r#"
c = imaplib.IMAP4("127.0.0.1", imap_port)
try:
    c.login(USER, "wrong-secret-xyz")
    assert False, "login with a wrong password succeeded"
except imaplib.IMAP4.error as e:
    assert "AUTHENTICATIONFAILED" in str(e), e
# Garbage and commands in the wrong state are BAD, and the session goes on.
for cmd in [b"a1 FROB\r\n", b"a2 SELECT INBOX\r\n", b"a3 FETCH 1 FLAGS\r\n"]:
    c.send(cmd)
    line = c.readline()
    assert b" BAD " in line, line
ok(c.noop())
# The fifth failure ends the connection.
for i in range(4):
    try:
        c.login(USER, "wrong-secret-xyz")
        assert False, "login with a wrong password succeeded"
    except imaplib.IMAP4.error as e:
        assert "AUTHENTICATIONFAILED" in str(e), e
try:
    c.noop()
    assert False, "still connected after five failures"
except imaplib.IMAP4.abort:
    pass
"#,
    );
    let log = server.log();
    assert!(log.contains("auth failed user=demo@example.test"), "{log}");
    assert!(log.contains("reason=too many failed logins"), "{log}");
    assert!(
        !log.contains("wrong-secret-xyz"),
        "password in the log: {log}"
    );
}

#[test]
fn append_store_search_copy_move_expunge() {
    let server = Server::start();
    run_py(
        &server,
        r#"send("from smtp", body="The quick brown fox.\n")"#,
    );
    server.wait_for_messages(DEMO, 1);
    run_py(
        &server,
        r#"
c = connect()
msg = b"From: Bob <bob@example.org>\r\nSubject: appended\r\n\r\nBody with a literal.\r\n"
typ, data = c.append("INBOX", "(\\Flagged)", imaplib.Time2Internaldate(1700000000), msg)
assert typ == "OK" and b"APPENDUID" in data[0], data
ok(c.select("INBOX"))
assert ok(c.search(None, "ALL"))[0] == b"1 2"
assert ok(c.search(None, "FLAGGED"))[0] == b"2"
assert ok(c.search(None, "UNFLAGGED"))[0] == b"1"
assert ok(c.search(None, "FROM", "bob"))[0] == b"2"
assert ok(c.search(None, "SUBJECT", "SMTP"))[0] == b"1"
assert ok(c.search(None, "BODY", '"brown fox"'))[0] == b"1"
assert ok(c.search(None, "TEXT", "literal"))[0] == b"2"
assert ok(c.search(None, "OR", "FROM", "bob", "SUBJECT", "smtp"))[0] == b"1 2"
assert ok(c.search(None, "NOT", "FLAGGED"))[0] == b"1"
assert ok(c.search(None, "BEFORE", "1-Jan-2024"))[0] == b"2"
assert ok(c.search(None, "SINCE", "1-Jan-2024"))[0] == b"1"
assert ok(c.search(None, "LARGER", "10", "SMALLER", "100000"))[0] == b"1 2"
assert ok(c.search(None, "HEADER", "Subject", "append"))[0] == b"2"
assert ok(c.uid("SEARCH", "UID", "2:*"))[0] == b"2"
assert ok(c.uid("SEARCH", "UID", "1:4294967295"))[0] == b"1 2"
date = ok(c.fetch("2", "(INTERNALDATE RFC822.SIZE)"))[0]
assert b'"14-Nov-2023 22:13:20 +0000"' in date and b"RFC822.SIZE %d" % len(msg) in date, date
data = ok(c.store("1", "+FLAGS", "(\\Seen \\Answered)"))
assert b"\\Seen" in data[0] and b"\\Answered" in data[0], data
ok(c.uid("STORE", "2", "-FLAGS.SILENT", "(\\Flagged)"))
assert ok(c.search(None, "FLAGGED"))[0] == b""
typ, data = c.copy("1:2", "Archive")
assert typ == "OK", data
assert data[0].startswith(b"[COPYUID ") and b" 1:2 1:2]" in data[0] or b" 1,2 1,2]" in data[0], data
typ, data = c._simple_command("MOVE", "2", "Trash")
assert typ == "OK", data
assert ok(c.search(None, "ALL"))[0] == b"1"
ok(c.store("1", "+FLAGS", "(\\Deleted)"))
ok(c.expunge())
assert ok(c.search(None, "ALL"))[0] == b""
assert ok(c.select("Archive"))[0] == b"2"
assert ok(c.search(None, "SEEN"))[0] == b"1"
data = ok(c.fetch("1:*", "(UID)"))
assert data == [b"1 (UID 1)", b"2 (UID 2)"], data
st = ok(c.status("Trash", "(MESSAGES UNSEEN UIDNEXT)"))[0]
assert b"MESSAGES 1" in st and b"UNSEEN 1" in st and b"UIDNEXT 2" in st, st
c.logout()
"#,
    );
    let md = server.maildir(DEMO);
    assert!(list_files(&md.join("new")).is_empty());
    assert!(cur_names(&md).is_empty(), "expunged from INBOX");
    let archive = cur_names(&md.join(".Archive"));
    assert_eq!(
        archive.len() + list_files(&md.join(".Archive/new")).len(),
        2
    );
    assert!(archive.iter().any(|n| n.ends_with(":2,RS")), "{archive:?}");
    let trash = list_files(&md.join(".Trash/new")).len() + cur_names(&md.join(".Trash")).len();
    assert_eq!(trash, 1);
    // Stored with LF line ends, like every Maildir file.
    for f in list_files(&md.join(".Trash/new")) {
        assert!(!read(&f).contains('\r'));
    }
}

#[test]
fn folders_list_rename_delete_subscribe_and_hostile_names() {
    let server = Server::start();
    run_py(
        &server,
        r#"
c = connect()
lst = [l.decode() for l in ok(c.list())]
assert any("\\Sent" in l and l.endswith(" Sent") for l in lst), lst
assert any("\\Junk" in l and l.endswith(" Junk") for l in lst), lst
ok(c.create("Projects.2026"))
ok(c.create("Entw&APw-rfe"))
lst = [l.decode() for l in ok(c.list('""', "%"))]
assert any(l.startswith("(\\Noselect \\HasChildren)") and l.endswith(" Projects") for l in lst), lst
assert not any("2026" in l for l in lst), lst
lst = [l.decode() for l in ok(c.list("Projects.", "*"))]
assert lst == ['(\\HasNoChildren) "." Projects.2026'], lst
ok(c.rename("Projects.2026", "Old.2026"))
ok(c.subscribe("Old.2026"))
assert [l.decode() for l in ok(c.lsub())] == ['() "." Old.2026']
ok(c.delete("Old.2026"))
for bad in ["../escape", "a/b", "/etc", ".hidden", "a..b", "x" * 300, "INBOX", "~root"]:
    typ, data = c.create(bad)
    if bad == "~root":
        assert typ == "OK", (bad, data)
        continue
    assert typ == "NO", (bad, typ, data)
typ, data = c.select("../../..")
assert typ == "NO", data
typ, data = c.rename("Sent", "../../stolen")
assert typ == "NO", data
c.logout()
"#,
    );
    let md = server.maildir(DEMO);
    assert!(md.join(".Entwürfe/cur").is_dir(), "UTF-8 on disk");
    assert!(!md.join(".Old.2026").exists());
    let subs = std::fs::read_to_string(md.join("subscriptions")).expect("subscriptions");
    assert_eq!(subs, "Old.2026\n");
    // Nothing was created outside the Maildir.
    let domain_dir = md.parent().expect("domain dir");
    let entries: Vec<_> = std::fs::read_dir(domain_dir)
        .expect("domain dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, ["demo"], "{entries:?}");
    assert!(!md.join("escape").exists() && !md.join("..escape").exists());
}

#[test]
fn idle_is_woken_by_an_smtp_delivery() {
    let server = Server::start();
    run_py(
        &server,
        r#"
c = connect()
ok(c.select("INBOX"))
c.sock.settimeout(60)   # a hang guard, not a timing assertion
c.send(b"i1 IDLE\r\n")
assert c.readline().startswith(b"+ "), "no continuation"
send("while idling")
line = c.readline()
while b"EXISTS" not in line:
    line = c.readline()
assert line == b"* 1 EXISTS\r\n", line
c.send(b"DONE\r\n")
line = c.readline()
while not line.startswith(b"i1 "):
    line = c.readline()
assert line.startswith(b"i1 OK"), line
data = ok(c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
assert b"while idling" in data[0][1], data
c.logout()
"#,
    );
}

#[test]
fn two_sessions_see_each_others_changes() {
    let server = Server::start();
    run_py(&server, r#"send("one"); send("two")"#);
    server.wait_for_messages(DEMO, 2);
    run_py(
        &server,
        r#"
a, b = connect(), connect()
assert ok(a.select("INBOX"))[0] == b"2"
assert ok(b.select("INBOX"))[0] == b"2"
ok(a.store("1", "+FLAGS", "(\\Flagged)"))
ok(b.noop())
fetches = b.untagged_responses.pop("FETCH", [])
assert any(b"\\Flagged" in f for f in fetches), (fetches, b.untagged_responses)
ok(a.store("2", "+FLAGS", "(\\Deleted)"))
ok(a.expunge())
ok(b.noop())
assert b.untagged_responses.pop("EXPUNGE", []) == [b"2"], b.untagged_responses
assert ok(b.search(None, "ALL"))[0] == b"1"
a.logout(); b.logout()
"#,
    );
}

/// mbsync (isync) configuration for the test account, plain IMAP on loopback.
fn mbsync_config(server: &Server, local: &Path) -> std::path::PathBuf {
    let conf = server.dir.path().join("mbsyncrc");
    let text = format!(
        "IMAPAccount acct\nHost 127.0.0.1\nPort {port}\nUser {DEMO}\nPass {DEMO_PASSWORD}\n\
         SSLType None\nAuthMechs LOGIN\n\nIMAPStore remote\nAccount acct\n\n\
         MaildirStore local\nPath {dir}/\nInbox {dir}/INBOX\nSubFolders Verbatim\n\n\
         Channel sync\nFar :remote:\nNear :local:\nPatterns *\nCreate Both\nSyncState *\n\
         Sync All\nExpunge None\n",
        port = server.ports.imap,
        dir = local.display()
    );
    std::fs::write(&conf, text).expect("mbsyncrc");
    conf
}

/// Flags of every message file in new/ and cur/ of a Maildir folder (the `:2,` part), sorted.
fn local_flags(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = list_files(&dir.join("new"))
        .into_iter()
        .chain(list_files(&dir.join("cur")))
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .map(|n| n.rsplit_once(":2,").map_or("", |x| x.1).to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn mbsync_syncs_the_account_both_ways() {
    let server = Server::start();
    run_py(&server, r#"send("sync one"); send("sync two")"#);
    server.wait_for_messages(DEMO, 2);
    // Flag message 1 on the server.
    run_py(
        &server,
        r#"
c = connect()
ok(c.select("INBOX"))
ok(c.store("1", "+FLAGS", "(\\Flagged)"))
c.logout()
"#,
    );
    let local = server.dir.path().join("local");
    std::fs::create_dir_all(&local).expect("local dir");
    let conf = mbsync_config(&server, &local);
    let conf_s = conf.to_string_lossy().into_owned();
    let out = tool("mbsync", &["-c", &conf_s, "-a"]);
    assert!(
        out.status.success(),
        "mbsync: {}{}\n{}",
        text(&out.stdout),
        text(&out.stderr),
        server.log()
    );
    let inbox = local.join("INBOX");
    assert_eq!(
        local_flags(&inbox),
        ["", "F"],
        "server flag synced down\n{}",
        text(&out.stdout)
    );
    for f in ["Sent", "Drafts", "Trash", "Junk", "Archive"] {
        assert!(local.join(f).join("cur").is_dir(), "{f} created locally");
    }
    // Flag the other message locally, and write a draft locally.
    let plain = list_files(&inbox.join("new"))
        .into_iter()
        .chain(list_files(&inbox.join("cur")))
        .find(|p| !p.to_string_lossy().contains(":2,F"))
        .expect("unflagged local message");
    let base = plain
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let base = base.split(":2,").next().unwrap_or_default().to_string();
    std::fs::rename(&plain, inbox.join("cur").join(format!("{base}:2,FS"))).expect("flag");
    let draft = local.join("Drafts/new/1700000000.local.draft");
    std::fs::write(
        &draft,
        "From: demo@example.test\nSubject: local draft\n\nwip\n",
    )
    .expect("draft");
    let out = tool("mbsync", &["-c", &conf_s, "-a"]);
    assert!(out.status.success(), "mbsync: {}", text(&out.stderr));
    let md = server.maildir(DEMO);
    let server_flags = local_flags(&md);
    assert_eq!(server_flags, ["F", "FS"], "local flags synced up");
    let drafts: Vec<_> = list_files(&md.join(".Drafts/new"))
        .into_iter()
        .chain(list_files(&md.join(".Drafts/cur")))
        .collect();
    assert_eq!(drafts.len(), 1, "draft uploaded");
    assert!(read(&drafts[0]).contains("Subject: local draft"));
}

#[test]
fn getmail_fetches_and_deletes_over_implicit_tls() {
    let server = Server::start();
    run_py(&server, r#"for i in range(5): send("getmail %d" % i)"#);
    server.wait_for_messages(DEMO, 5);
    let dir = server.dir.path().join("getmail");
    let dest = dir.join("got");
    std::fs::create_dir_all(&dest).expect("getmail dir");
    // An external MDA: getmail's Maildir destination refuses to run as root (CI does).
    std::fs::write(
        dir.join("getmailrc"),
        format!(
            "[retriever]\ntype = SimpleIMAPSSLRetriever\nserver = 127.0.0.1\nport = {}\n\
             username = {DEMO}\npassword = {DEMO_PASSWORD}\nmailboxes = (\"INBOX\",)\n\n\
             [destination]\ntype = MDA_external\npath = /bin/sh\n\
             arguments = (\"-c\", \"cat > $(mktemp {}/m.XXXXXX)\")\nallow_root_commands = true\n\n\
             [options]\ndelete = true\nread_all = true\n",
            server.ports.imaps,
            dest.display()
        ),
    )
    .expect("getmailrc");
    let out = std::process::Command::new("getmail")
        .arg("--getmaildir")
        .arg(&dir)
        .arg("--rcfile")
        .arg("getmailrc")
        .env("HOME", &dir)
        .output()
        .expect("getmail must be installed");
    let got = list_files(&dest);
    assert_eq!(
        got.len(),
        5,
        "getmail: {}\n{}\n--- log ---\n{}",
        text(&out.stdout),
        text(&out.stderr),
        server.log()
    );
    assert!(got.iter().any(|p| read(p).contains("Subject: getmail 3")));
    let md = server.maildir(DEMO);
    assert!(list_files(&md.join("new")).is_empty() && cur_names(&md).is_empty());
}

mod ext;
mod modern;
