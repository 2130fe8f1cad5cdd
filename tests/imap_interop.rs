//! IMAP next to other Maildir tools: mail written by local-deliver and by mblaze's `mdeliver`
//! shows up over IMAP, flags travel both ways between IMAP and mblaze (`mflag`, `mlist`), a
//! Maildir that Dovecot used to serve keeps its UIDVALIDITY and UIDs (`dovecot-uidlist`), and
//! `offlineimap` syncs the account. Real binaries under `mailctl run`, real clients.

use crate::harness::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Shared Python: connect helper and `ok`. Scripts assert themselves.
const PRELUDE: &str = r#"
import imaplib, re, subprocess, sys
imap_port, maildir = int(sys.argv[1]), sys.argv[2]
USER, PASS = "demo@example.test", "demo"

def connect():
    c = imaplib.IMAP4("127.0.0.1", imap_port)
    c.login(USER, PASS)
    return c

def ok(r):
    typ, data = r
    assert typ == "OK", (typ, data)
    return data

def subjects(c, rng="1:*"):
    """uid -> (subject, flags without \\Recent) for the selected folder."""
    out = {}
    data = ok(c.uid("FETCH", rng, "(UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
    for i, item in enumerate(data):
        if not isinstance(item, tuple):
            continue
        # Items may come before or after the literal: look at both sides of it.
        after = data[i + 1] if i + 1 < len(data) and isinstance(data[i + 1], bytes) else b""
        meta = (item[0] + b" " + after).decode()
        uid = int(re.search(r"UID (\d+)", meta).group(1))
        flags = re.search(r"FLAGS \(([^)]*)\)", meta).group(1).split()
        flags = [f for f in flags if f != "\\Recent"]  # session state, not the file's
        subj = item[1].decode().strip().removeprefix("Subject: ")
        out[uid] = (subj, sorted(flags))
    return out

def mblaze(*args):
    r = subprocess.run(list(args), capture_output=True, text=True)
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout
"#;

fn run_py(server: &Server, script: &str) -> String {
    wait_for_port(server.ports.imap);
    let md = server.maildir(DEMO);
    let out = python(
        &format!("{PRELUDE}\n{script}"),
        &[&server.ports.imap.to_string(), &md.to_string_lossy()],
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

fn local_deliver(server: &Server, msg: &str) {
    let out = run_with_input(
        Command::new(bin("local-deliver"))
            .arg("--config")
            .arg(server.config())
            .args(["-d", DEMO, "-f", "a@remote.test"]),
        msg,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

fn mdeliver(dir: &Path, args: &[&str], msg: &str) -> String {
    let out = run_with_input(Command::new("mdeliver").args(args).arg(dir), msg);
    assert!(
        out.status.success(),
        "mdeliver (mblaze must be installed): {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn mail_from_local_deliver_and_mdeliver_appears_and_flags_travel_both_ways() {
    let server = Server::start();
    let md = server.maildir(DEMO);
    local_deliver(
        &server,
        "From: a@remote.test\nSubject: via local-deliver\n\nbody one\n",
    );
    mdeliver(
        &md,
        &[],
        "From: b@remote.test\nSubject: via mdeliver\n\nbody two\n",
    );
    // Straight into cur/ with the Flagged letter, as mblaze's refile does.
    mdeliver(
        &md,
        &["-c", "-X", "F"],
        "From: c@remote.test\nSubject: via mdeliver flagged\n\nbody three\n",
    );
    run_py(
        &server,
        r#"
c = connect()
assert ok(c.select("INBOX"))[0] == b"3", "three messages"
by_subj = {s: (uid, f) for uid, (s, f) in subjects(c).items()}
assert set(by_subj) == {"via local-deliver", "via mdeliver", "via mdeliver flagged"}, by_subj
assert by_subj["via mdeliver flagged"][1] == ["\\Flagged"], by_subj
assert "\\Seen" not in by_subj["via mdeliver"][1], by_subj
# IMAP sets flags; mblaze must see them in the file name.
uid_ld = by_subj["via local-deliver"][0]
ok(c.uid("STORE", str(uid_ld), "+FLAGS", "(\\Seen \\Flagged)"))
seen = mblaze("mlist", "-S", maildir).split()
flagged = mblaze("mlist", "-F", maildir).split()
assert len(seen) == 1 and "via local-deliver" in open(seen[0]).read(), seen
assert len(flagged) == 2, flagged
unseen = mblaze("mlist", "-s", maildir).split()
assert len(unseen) == 2, unseen
info = mblaze("mlist", "-i", maildir)
assert re.search(r"\b2 unseen\b", info) and re.search(r"\b2 flagged\b", info) \
    and re.search(r"\b3 msg", info), info
# mblaze sets \Seen (and \Answered) on the plain mdeliver message while this session is open:
# the open session learns it at its next command, a new session sees it, the UID stays.
uid_md = by_subj["via mdeliver"][0]
target = [p for p in unseen if "via mdeliver\n" in open(p).read()]
assert len(target) == 1, unseen
mblaze("mflag", "-S", "-R", target[0])
typ, data = c.noop()
assert typ == "OK"
flags_now = subjects(c, str(uid_md))
assert sorted(flags_now[uid_md][1]) == ["\\Answered", "\\Seen"], (flags_now, data)
c.logout()
c = connect()
ok(c.select("INBOX"))
after = subjects(c)
assert after[uid_md] == ("via mdeliver", ["\\Answered", "\\Seen"]), after
assert after[uid_ld] == ("via local-deliver", ["\\Flagged", "\\Seen"]), after
# mflag -s clears it again; IMAP agrees.
path = [p for p in mblaze("mlist", "-S", "-R", maildir).split()]
assert len(path) == 1, path
mblaze("mflag", "-s", path[0])
ok(c.noop())
now = subjects(c, str(uid_md))
assert now[uid_md][1] == ["\\Answered"], ("cleared by mflag -s", now)
c.logout()
"#,
    );
    // mscan (which reads the same file names) lists all three without complaint.
    let scan = tool("mscan", &[&md.to_string_lossy()]);
    assert!(scan.status.success(), "mscan: {}", text(&scan.stderr));
    assert_eq!(
        text(&scan.stdout).lines().count(),
        3,
        "{}",
        text(&scan.stdout)
    );
}

/// A message file for a hand-made Maildir.
fn put(dir: &Path, base: &str, flags: &str, subject: &str) {
    let body = format!("From: old@remote.test\nSubject: {subject}\n\nmigrated\n");
    let cur = dir.join("cur");
    std::fs::create_dir_all(&cur).expect("cur");
    std::fs::create_dir_all(dir.join("new")).expect("new");
    std::fs::create_dir_all(dir.join("tmp")).expect("tmp");
    std::fs::write(cur.join(format!("{base}:2,{flags}")), body).expect("message");
}

/// A Maildir as Dovecot leaves it: INBOX and `.Sent`, each with a v3 `dovecot-uidlist`.
fn dovecot_maildir(md: &Path) {
    put(md, "1700000001.M1P100.oldhost,S=61", "S", "old one");
    put(md, "1700000002.M2P100.oldhost,S=61", "", "old two");
    put(md, "1700000003.M3P100.oldhost,S=63", "FS", "old three");
    std::fs::write(
        md.join("dovecot-uidlist"),
        "3 V1234567890 N108 G0123456789abcdef0123456789abcdef\n\
         101 :1700000001.M1P100.oldhost,S=61\n\
         105 W62 :1700000002.M2P100.oldhost,S=61\n\
         107 :1700000003.M3P100.oldhost,S=63\n",
    )
    .expect("uidlist");
    let sent = md.join(".Sent");
    put(&sent, "1700000010.M10P100.oldhost", "S", "sent one");
    std::fs::write(sent.join("maildirfolder"), "").expect("maildirfolder");
    std::fs::write(
        sent.join("dovecot-uidlist"),
        "3 V1111111111 N43 G00000000000000000000000000000000\n\
         42 :1700000010.M10P100.oldhost\n",
    )
    .expect("uidlist");
}

#[test]
fn a_dovecot_maildir_keeps_its_uidvalidity_and_uids() {
    let mut server = Server::setup();
    dovecot_maildir(&server.maildir(DEMO));
    server.run();
    let script = r#"
c = connect()
ok(c.select("INBOX"))
assert c.untagged_responses["UIDVALIDITY"] == [b"1234567890"], c.untagged_responses
assert c.untagged_responses["UIDNEXT"] == [b"108"], c.untagged_responses
got = subjects(c)
assert got == {101: ("old one", ["\\Seen"]), 105: ("old two", []),
               107: ("old three", ["\\Flagged", "\\Seen"])}, got
st = ok(c.status("Sent", "(UIDVALIDITY UIDNEXT MESSAGES)"))[0].decode()
assert "UIDVALIDITY 1111111111" in st and "UIDNEXT 43" in st and "MESSAGES 1" in st, st
ok(c.select("Sent"))
assert subjects(c) == {42: ("sent one", ["\\Seen"])}, subjects(c)
c.logout()
"#;
    run_py(&server, script);
    // New mail continues above Dovecot's next UID.
    local_deliver(
        &server,
        "From: a@remote.test\nSubject: after migration\n\nnew\n",
    );
    run_py(
        &server,
        r#"
c = connect()
ok(c.select("INBOX"))
assert c.untagged_responses["UIDVALIDITY"] == [b"1234567890"]
got = subjects(c)
assert got[108] == ("after migration", []) and len(got) == 4, got
c.logout()
"#,
    );
    // After a restart (our own index now) everything is the same.
    server.stop();
    server.run();
    run_py(
        &server,
        r#"
c = connect()
ok(c.select("INBOX"))
assert c.untagged_responses["UIDVALIDITY"] == [b"1234567890"]
assert sorted(subjects(c)) == [101, 105, 107, 108], subjects(c)
c.logout()
"#,
    );
}

/// An offlineimap config syncing the account into `local/` (plain IMAP on loopback).
fn offlineimap_config(server: &Server, home: &Path) -> PathBuf {
    let conf = home.join("offlineimaprc");
    std::fs::write(
        &conf,
        format!(
            "[general]\naccounts = test\nmetadata = {meta}\nui = basic\n\n\
             [Account test]\nlocalrepository = local\nremoterepository = remote\n\n\
             [Repository local]\ntype = Maildir\nlocalfolders = {local}\n\n\
             [Repository remote]\ntype = IMAP\nremotehost = 127.0.0.1\nremoteport = {port}\n\
             remoteuser = {DEMO}\nremotepass = {DEMO_PASSWORD}\nssl = no\nstarttls = no\n\
             maxconnections = 1\n",
            meta = home.join("meta").display(),
            local = home.join("local").display(),
            port = server.ports.imap,
        ),
    )
    .expect("offlineimaprc");
    conf
}

fn offlineimap(server: &Server, conf: &Path, home: &Path) {
    let out = Command::new("offlineimap")
        .arg("-c")
        .arg(conf)
        .arg("-o")
        .env("HOME", home)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("offlineimap must be installed (Debian: offlineimap3)");
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success() && !all.contains("ERROR"),
        "offlineimap: {all}\n--- server log ---\n{}",
        server.log()
    );
}

/// Flag letters of every message in a local Maildir folder, sorted.
fn flag_letters(dir: &Path) -> Vec<String> {
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
fn offlineimap_syncs_the_account_both_ways() {
    let server = Server::start();
    for s in ["offline one", "offline two"] {
        local_deliver(
            &server,
            &format!("From: a@remote.test\nSubject: {s}\n\nbody\n"),
        );
    }
    run_py(
        &server,
        r#"
c = connect()
ok(c.select("INBOX"))
ok(c.store("1", "+FLAGS", "(\\Flagged)"))
c.logout()
"#,
    );
    let home = server.dir.path().join("offlineimap");
    std::fs::create_dir_all(&home).expect("home");
    let conf = offlineimap_config(&server, &home);
    offlineimap(&server, &conf, &home);
    let inbox = home.join("local").join("INBOX");
    assert_eq!(flag_letters(&inbox), ["", "F"], "server flag synced down");
    for f in ["Sent", "Drafts", "Trash", "Junk", "Archive"] {
        assert!(
            home.join("local").join(f).join("cur").is_dir(),
            "{f} synced"
        );
    }
    // Mark the unflagged one seen locally (as mblaze would), then sync up.
    let plain = list_files(&inbox.join("new"))
        .into_iter()
        .chain(list_files(&inbox.join("cur")))
        .find(|p| !p.to_string_lossy().ends_with('F'))
        .expect("unflagged local message");
    let out = tool("mflag", &["-S", &plain.to_string_lossy()]);
    assert!(out.status.success(), "mflag: {}", text(&out.stderr));
    offlineimap(&server, &conf, &home);
    let mut server_flags = flag_letters(&server.maildir(DEMO));
    server_flags.sort();
    assert_eq!(server_flags, ["F", "S"], "local flag synced up");
}
