//! Newer IMAP extensions with Python imaplib (raw commands) against the real `imapd`:
//! LIST-EXTENDED (RFC 5258) and LIST-STATUS (RFC 5819), CONDSTORE (RFC 7162 section 3.1:
//! HIGHESTMODSEQ, FETCH MODSEQ / CHANGEDSINCE, STORE UNCHANGEDSINCE with MODIFIED, SEARCH
//! MODSEQ, modseqs persisted across sessions), IMAP4rev2 (RFC 9051) after ENABLE, and the
//! smaller guarantees: no keyword dropped on COPY, SENT* by the Date header's own day, DELETE
//! keeping `maildirsize` right, and MOVE into Junk teaching the Bayes filter.

use super::run_py;
use crate::harness::*;

#[test]
fn list_extended_and_list_status() {
    let server = Server::start();
    run_py(
        &server,
        r#"
c = connect()
caps = ok(c.capability())[0].decode()
assert "LIST-EXTENDED" in caps and "LIST-STATUS" in caps, caps
for i in range(3):
    ok(c.append("Archive", "(\\Seen)" if i == 0 else "()", None, b"Subject: a%d\r\n\r\nx\r\n" % i))
ok(c.create("Archive.2026"))
ok(c.create("Lists.rust"))
ok(c._simple_command("SUBSCRIBE", "Archive.2026"))
ok(c._simple_command("SUBSCRIBE", "Gone"))
ok(c._simple_command("SUBSCRIBE", "INBOX"))

def listx(*args):
    c.untagged_responses.pop("LIST", None)
    c.untagged_responses.pop("STATUS", None)
    ok(c._simple_command("LIST", *args))
    return (c.untagged_responses.pop("LIST", []), c.untagged_responses.pop("STATUS", []))

# Several patterns.
lines, _ = listx('""', "(INBOX Sent Lists.%)")
assert lines == [b'(\\HasNoChildren) "." INBOX', b'(\\HasNoChildren) "." Lists.rust',
                 b'(\\HasNoChildren \\Sent) "." Sent'], lines
# Subscribed only: a subscribed name that does not exist is \NonExistent.
lines, _ = listx("(SUBSCRIBED)", '""', "*")
assert lines == [b'(\\HasNoChildren \\Subscribed) "." Archive.2026',
                 b'(\\NonExistent \\Subscribed) "." Gone',
                 b'(\\HasNoChildren \\Subscribed) "." INBOX'], lines
# RECURSIVEMATCH: a parent with a subscribed child carries CHILDINFO.
lines, _ = listx("(SUBSCRIBED RECURSIVEMATCH)", '""', "%")
assert b'(\\HasChildren \\Archive) "." Archive ("CHILDINFO" ("SUBSCRIBED"))' in lines, lines
assert not any(l.endswith(b" Lists") for l in lines), lines
# SPECIAL-USE selection, SUBSCRIBED and CHILDREN return options.
lines, _ = listx("(SPECIAL-USE)", '""', "*", "RETURN", "(SUBSCRIBED CHILDREN)")
names = [l.rsplit(b" ", 1)[1] for l in lines]
assert names == [b"Archive", b"Drafts", b"Junk", b"Sent", b"Trash"], lines
lines, _ = listx('""', "INBOX", "RETURN", "(SUBSCRIBED)")
assert lines == [b'(\\HasNoChildren \\Subscribed) "." INBOX'], lines
# LIST-STATUS: a STATUS after each selectable mailbox, none for \Noselect ones.
lines, status = listx('""', "(Archive Lists)", "RETURN", "(STATUS (MESSAGES UNSEEN UIDNEXT))")
assert lines == [b'(\\HasChildren \\Archive) "." Archive', b'(\\Noselect \\HasChildren) "." Lists'], lines
assert status == [b"Archive (MESSAGES 3 UNSEEN 2 UIDNEXT 4)"], status
# Plain LIST and LSUB are unchanged.
assert ok(c.list('""', "Lists"))[0] == b'(\\Noselect \\HasChildren) "." Lists'
# Bad syntax is a BAD, and the session goes on.
for bad in [('(RECURSIVEMATCH)', '""', "*"), ('(BOGUS)', '""', "*"), ('""', "*", "RETURN", "(STATUS (SIZE))")]:
    try:
        c._simple_command("LIST", *bad)
        raise AssertionError("accepted %r" % (bad,))
    except imaplib.IMAP4.error as e:
        assert "BAD" in str(e) or "unknown" in str(e) or "RECURSIVEMATCH" in str(e), e
ok(c.noop())
c.logout()
"#,
    );
}

#[test]
fn condstore_modseqs_conditional_store_and_changedsince() {
    let server = Server::start();
    run_py(
        &server,
        r#"
c = connect()
assert "CONDSTORE" in ok(c.capability())[0].decode()
for i in range(3):
    ok(c.append("INBOX", "()", None, b"Subject: m%d\r\n\r\nx\r\n" % i))
ok(c._simple_command("ENABLE", "CONDSTORE"))
assert c.untagged_responses.pop("ENABLED") == [b"CONDSTORE"]
ok(c.select("INBOX"))
high = int(c.untagged_responses["HIGHESTMODSEQ"][0])

def modseqs(c, which="1:*"):
    data = ok(c.fetch(which, "(UID MODSEQ)"))
    return {int(re.search(rb"UID (\d+)", d).group(1)): int(re.search(rb"MODSEQ \((\d+)\)", d).group(1))
            for d in data}

ms = modseqs(c)
assert sorted(ms) == [1, 2, 3] and max(ms.values()) == high, (ms, high)
# Another session changes message 2 (without CONDSTORE: it never asks for modseqs).
d = connect()
ok(d.select("INBOX"))
ok(d.store("2", "+FLAGS", "(\\Flagged)"))
d.logout()
# Conditional STORE with the old modseqs: message 2 changed meanwhile and is left alone.
typ, data = c._simple_command("STORE", "1:3", "(UNCHANGEDSINCE %d)" % high, "+FLAGS", "(\\Seen)")
assert typ == "OK" and b"[MODIFIED 2]" in data[0], (typ, data)
fetches = c.untagged_responses.pop("FETCH")
stored = [f for f in fetches if b"\\Seen" in f]
assert len(stored) == 2 and all(b"MODSEQ" in f for f in stored), fetches
assert any(f.startswith(b"2 ") and b"\\Flagged" in f and b"\\Seen" not in f for f in fetches), fetches
now = modseqs(c)
assert now[1] > high and now[3] > high and now[2] > ms[2], (now, ms)
# UID STORE .SILENT still reports the new MODSEQ.
typ, data = c._simple_command("UID", "STORE", "2", "(UNCHANGEDSINCE %d)" % now[2], "+FLAGS.SILENT", "(\\Answered)")
assert typ == "OK" and b"MODIFIED" not in data[0], data
f = c.untagged_responses.pop("FETCH")
assert len(f) == 1 and re.fullmatch(rb"2 \(UID 2 MODSEQ \(\d+\)\)", f[0]), f
after = modseqs(c)
assert after[2] > now[2] and after[1] == now[1]
# FETCH CHANGEDSINCE: only what changed since.
c.untagged_responses.pop("FETCH", None)
ok(c._simple_command("FETCH", "1:*", "(FLAGS)", "(CHANGEDSINCE %d)" % now[3]))
f = c.untagged_responses.pop("FETCH")
assert len(f) == 1 and f[0].startswith(b"2 (") and b"MODSEQ" in f[0], f
# SEARCH MODSEQ carries the highest modseq of the hits.
data = ok(c.search(None, "MODSEQ", str(now[3] + 1)))
assert data[0] == b"2 (MODSEQ %d)" % after[2], data
# STATUS HIGHESTMODSEQ and a new session's SELECT see the same persisted values.
st = ok(c.status("INBOX", "(HIGHESTMODSEQ MESSAGES)"))[0]
assert b"HIGHESTMODSEQ %d" % max(after.values()) in st, (st, after)
e = connect()
ok(e.select("INBOX", readonly=True))
assert int(e.untagged_responses["HIGHESTMODSEQ"][0]) == max(after.values())
assert modseqs(e) == after
# A message arriving gets a higher modseq.
ok(c.append("INBOX", "()", None, b"Subject: arrives\r\n\r\nx\r\n"))
ok(e.noop())
last = modseqs(e, "4")
assert last[4] > max(after.values()), last
e.logout()
c.logout()
"#,
    );
}

#[test]
fn imap4rev2_after_enable() {
    let server = Server::start();
    run_py(
        &server,
        r#"
c = connect()
assert "IMAP4rev2" in ok(c.capability())[0].decode()
ok(c.append("INBOX", "()", None, b"Subject: one\r\n\r\nx\r\n"))
ok(c.append("INBOX", "(\\Seen)", None, b"Subject: two\r\n\r\nx\r\n"))
ok(c._simple_command("ENABLE", "IMAP4rev2"))
assert c.untagged_responses.pop("ENABLED") == [b"IMAP4rev2"]
# UTF-8 mailbox names, no modified UTF-7.
ok(c._simple_command("CREATE", b'"Entw\xc3\xbcrfe"'))
c.untagged_responses.pop("LIST", None)
ok(c._simple_command("LIST", '""', "*"))
lines = c.untagged_responses.pop("LIST")
assert b'(\\HasNoChildren) "." "Entw\xc3\xbcrfe"' in lines, lines
# SELECT: no RECENT, a LIST response; FETCH FLAGS without \Recent; SEARCH as ESEARCH.
ok(c.select("INBOX"))
assert "RECENT" not in c.untagged_responses or c.untagged_responses["RECENT"] == [], c.untagged_responses
assert c.untagged_responses.pop("LIST") == [b'() "." INBOX']
data = ok(c.fetch("1:2", "(FLAGS)"))
assert not any(b"\\Recent" in d for d in data), data
typ, data = c._simple_command("SEARCH", "UNSEEN")
es = c.untagged_responses.pop("ESEARCH")
assert re.fullmatch(rb'\(TAG "[A-Z]+\d+"\) ALL 1', es[0]), es
c.untagged_responses.pop("CLOSED", None)
ok(c._simple_command("SELECT", b'"Entw\xc3\xbcrfe"'))
assert "CLOSED" in c.untagged_responses, c.untagged_responses
c.logout()
# A rev1 session still sees modified UTF-7 and \Recent.
d = connect()
assert ok(d.list('""', "Entw*")) == [b'(\\HasNoChildren) "." Entw&APw-rfe']
d.logout()
"#,
    );
}

#[test]
fn keyword_limit_sent_dates_folder_quota_and_junk_learning() {
    let mut server =
        Server::setup_with(|t| t.replace("# default_quota = \"1G\"", "default_quota = \"1M\""));
    server.run();
    run_py(
        &server,
        r#"
c = connect()
ok(c.create("Full"))
"#,
    );
    let md = server.maildir(DEMO);
    let names: String = (0..26).map(|i| format!("{i} k{i}\n")).collect();
    std::fs::write(md.join(".Full/dovecot-keywords"), names).unwrap();
    assert!(!md.join("mailserver-bayes").exists());
    run_py(
        &server,
        r#"
c = connect()
late = b"Date: Mon, 02 Mar 2026 23:30:00 -0800\r\nSubject: late\r\n\r\n" + b"x" * 3000 + b"\r\n"
ok(c.append("INBOX", "(Other)", None, late))
ok(c.append("INBOX", "(k3)", None, b"Date: Tue, 03 Mar 2026 01:00:00 +0100\r\nSubject: early\r\n\r\nx\r\n"))
ok(c.select("INBOX"))
# SENT* use the Date header's own day: 23:30 -0800 is 2 March, although 3 March in UTC.
assert ok(c.search(None, "SENTON", "2-Mar-2026"))[0] == b"1"
assert ok(c.search(None, "SENTON", "3-Mar-2026"))[0] == b"2"
assert ok(c.search(None, "SENTBEFORE", "3-Mar-2026"))[0] == b"1"
assert ok(c.search(None, "SENTSINCE", "3-Mar-2026"))[0] == b"2"
# A folder with 26 keywords takes no new one: a clear NO, nothing copied.
typ, data = c.copy("1", "Full")
assert typ == "NO" and b"[LIMIT]" in data[0], (typ, data)
typ, data = c.copy("2", "Full")
assert typ == "OK", data
st = ok(c.status("Full", "(MESSAGES)"))[0]
assert st.endswith(b"(MESSAGES 1)"), st
# DELETE takes the folder's messages off the quota usage.
ok(c.create("Tmp"))
for i in range(3):
    ok(c.append("Tmp", "()", None, b"Subject: t\r\n\r\n" + b"y" * 4000 + b"\r\n"))
def storage():
    typ, data = c.getquotaroot("INBOX")
    assert typ == "OK", data
    return int(re.search(rb"STORAGE (\d+)", data[1][0]).group(1))
before = storage()
ok(c.delete("Tmp"))
after = storage()
assert before - after >= 11, (before, after)
# Moving into Junk teaches the Bayes filter.
ok(c._simple_command("MOVE", "1", "Junk"))
c.logout()
"#,
    );
    assert!(
        md.join("mailserver-bayes").exists(),
        "MOVE into Junk learned nothing"
    );
    assert!(
        server.log().matches("bayes learning failed").count() == 0,
        "{}",
        server.log()
    );
}
