//! pop3d with real clients: Python poplib for every command (plain on loopback, STLS,
//! implicit TLS, AUTH PLAIN), fetchmail (STLS) and getmail (implicit TLS) draining a mailbox
//! of hundreds of messages, the one-session lock, and kill -9 in mid-session.

use crate::harness::*;
use std::fs;
use std::path::Path;
use std::process::Command;

/// Delivers `n` messages with the library's Maildir delivery (what local-deliver runs),
/// each with a line starting with a dot and a numbered subject.
fn fill(maildir: &Path, n: usize) {
    let md = mail::maildir::Maildir::create(maildir).expect("maildir");
    for i in 0..n {
        let msg = format!(
            "From: a@example.test\nSubject: message {i}\n\nline one of {i}\n.dotted line\n..two dots\nend\n"
        );
        md.deliver(None, msg.as_bytes(), &Default::default())
            .expect("deliver");
    }
}

/// Client and server output without the hundreds of per-message success lines.
fn quiet(s: &str) -> String {
    s.lines()
        .filter(|l| !l.contains("delivered") && !l.contains("flushed") && !l.contains("octets)"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn count_messages(maildir: &Path) -> usize {
    list_files(&maildir.join("new")).len() + list_files(&maildir.join("cur")).len()
}

fn started() -> Server {
    let s = Server::start();
    wait_for_port(s.ports.pop3);
    wait_for_port(s.ports.pop3s);
    s
}

fn py(script: &str, server: &Server, extra: &[&str]) -> String {
    let mut args = vec![
        server.ports.pop3.to_string(),
        server.ports.pop3s.to_string(),
        DEMO.to_string(),
        DEMO_PASSWORD.to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = python(script, &args);
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}\n--- server log ---\n{}",
        text(&out.stdout),
        text(&out.stderr),
        server.log()
    );
    text(&out.stdout)
}

const PRELUDE: &str = r#"
import poplib, ssl, socket, sys, base64
pop3, pop3s, user, pw = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
def login(port=None):
    p = poplib.POP3("127.0.0.1", port or pop3, timeout=30)
    p.user(user); p.pass_(pw)
    return p
def expect_err(f, code):
    try:
        r = f()
    except poplib.error_proto as e:
        assert code.encode() in e.args[0], e.args[0]
        return e.args[0]
    raise AssertionError("no error, got %r" % (r,))
"#;

const EVERY_COMMAND: &str = r#"
p = poplib.POP3("127.0.0.1", pop3, timeout=30)
caps = p.capa()
for c in ["TOP", "UIDL", "USER", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "SASL", "STLS", "IMPLEMENTATION"]:
    assert c in caps, caps
assert "EXPIRE" not in caps and "LOGIN-DELAY" not in caps
p.user(user); p.pass_(pw)
assert "USER" not in p.capa() and "TOP" in p.capa()
n, size = p.stat()
assert n == 3, n
resp, listing, _ = p.list()
sizes = [int(l.split()[1]) for l in listing]
assert sum(sizes) == size
total = 0
for i in range(1, n + 1):
    resp, lines, octets = p.retr(i)
    # poplib undoes the byte-stuffing; lines + CRLF must add up to LIST's size exactly.
    assert sum(len(l) + 2 for l in lines) == sizes[i - 1], (i, lines, sizes)
    assert octets == sizes[i - 1], (octets, sizes)
    total += 1
# Message 1 is the foreign one (oldest name, so lowest UID): its lone "." line survives.
assert p.retr(1)[1] == [b"Subject: foreign", b"", b".", b"x"], p.retr(1)
r = p.retr(2)[1]
assert b".dotted line" in r and b"..two dots" in r, r
resp, top, _ = p.top(3, 1)
assert top[-1] == b"line one of 1" and b"" in top and b".dotted line" not in top, top
assert p.top(3, 0)[1][-1] == b"", p.top(3, 0)
assert p.list(2).split()[2] == str(sizes[1]).encode()
uidl = p.uidl()[1]
assert len(uidl) == 3 and all(len(l.split()[1]) == 16 for l in uidl), uidl
expect_err(lambda: p.retr(4), "No such message")
expect_err(lambda: p.list(0), "-ERR")
expect_err(lambda: p._shortcmd("RETR x"), "Syntax")
expect_err(lambda: p._shortcmd("XYZZY"), "Unknown")
expect_err(lambda: p._shortcmd("USER again"), "not valid")
p.dele(1)
expect_err(lambda: p.retr(1), "deleted")
assert p.stat()[0] == 2
p.rset()
assert p.stat()[0] == 3
p.noop()
p.dele(3)
p.quit()
# UPDATE deleted message 3 only; UIDLs of the rest are stable across sessions.
p = login()
assert p.stat()[0] == 2
assert p.uidl()[1] == [b"1 " + uidl[0].split()[1], b"2 " + uidl[1].split()[1]], (p.uidl(), uidl)
p.dele(1)
p.sock.shutdown(socket.SHUT_RDWR); p.sock.close()  # dropped connection: nothing deleted
import time
for attempt in range(400):  # until that pop3d has seen the EOF and exited
    try:
        p = login()
        break
    except poplib.error_proto as e:
        assert b"[IN-USE]" in e.args[0], e
        time.sleep(0.05)
else:
    raise AssertionError("mailbox stayed locked after the client went away")
assert p.stat()[0] == 2
p.quit()
print("ok")
"#;

#[test]
fn poplib_every_command_and_stable_uidl() {
    let server = started();
    fill(&server.maildir(DEMO), 2);
    // One message from another Maildir writer: no ,S= or ,W= in the name.
    let md = server.maildir(DEMO);
    fs::write(
        md.join("new/1000000000.M1P1.other"),
        b"Subject: foreign\n\n.\nx\n",
    )
    .unwrap();
    let out = py(&format!("{PRELUDE}{EVERY_COMMAND}"), &server, &[]);
    assert_eq!(out.trim(), "ok");
    assert_eq!(count_messages(&md), 2);
    assert!(
        list_files(&md.join("new")).is_empty(),
        "listed messages move to cur/"
    );
    let log = server.log();
    assert!(
        log.contains(&format!("login user={DEMO} client=127.0.0.1 messages=3")),
        "{log}"
    );
    assert!(
        log.contains(&format!("logout user={DEMO} retr=5 dele=1")),
        "{log}"
    );
    assert!(!log.contains(&format!("{DEMO_PASSWORD} ")));
}

const TLS_AND_AUTH: &str = r#"
plain_allowed = sys.argv[5] == "yes"
p = poplib.POP3("127.0.0.1", pop3, timeout=30)
if not plain_allowed:
    expect_err(lambda: p.user(user), "[AUTH]")
    assert "USER" not in p.capa()
p.stls(context=ctx)
assert "STLS" not in p.capa()
ir = base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode()).decode()
expect_err(lambda: p._shortcmd("AUTH PLAIN " + base64.b64encode(b"\0" + user.encode() + b"\0wrong").decode()), "[AUTH]")
assert p._shortcmd("AUTH PLAIN " + ir).startswith(b"+OK")
assert p.stat()[0] == 1
p.quit()
s = poplib.POP3_SSL("127.0.0.1", pop3s, context=ctx, timeout=30)
s.user(user); s.pass_(pw)
assert s.retr(1)[1][-1] == b"end"
s.quit()
print("ok")
"#;

#[test]
fn stls_implicit_tls_and_auth_plain() {
    let server = started();
    fill(&server.maildir(DEMO), 1);
    let out = py(&format!("{PRELUDE}{TLS_AND_AUTH}"), &server, &["yes"]);
    assert_eq!(out.trim(), "ok");
    assert!(server.log().contains("TLS established"));
}

#[test]
fn plaintext_login_refused_before_stls_when_config_says_so() {
    let mut server = Server::setup_with(|t| {
        t.replace(
            "allow_plaintext_auth_on_loopback = true",
            "allow_plaintext_auth_on_loopback = false",
        )
    });
    server.run();
    wait_for_port(server.ports.pop3);
    fill(&server.maildir(DEMO), 1);
    let out = py(&format!("{PRELUDE}{TLS_AND_AUTH}"), &server, &["no"]);
    assert_eq!(out.trim(), "ok");
}

const IN_USE: &str = r#"
a = login()
b = poplib.POP3("127.0.0.1", pop3, timeout=30)
b.user(user)
expect_err(lambda: b.pass_(pw), "[IN-USE]")
a.quit()
b.user(user); b.pass_(pw)
b.quit()
print("ok")
"#;

#[test]
fn second_session_gets_in_use() {
    let server = started();
    fill(&server.maildir(DEMO), 1);
    assert_eq!(py(&format!("{PRELUDE}{IN_USE}"), &server, &[]).trim(), "ok");
}

const BAD_INPUT: &str = r#"
s = socket.create_connection(("127.0.0.1", pop3), timeout=30)
f = s.makefile("rb")
assert f.readline().startswith(b"+OK")
s.sendall(b"X" * 5000 + b"\r\n")
assert f.readline().startswith(b"-ERR Line too long")
s.sendall(b"\x00\xff\r\nRETR 1\r\nTOP\r\nLIST 99999999999999999999\r\n")
for want in [b"-ERR", b"-ERR Command not valid", b"-ERR Syntax", b"-ERR Syntax"]:
    l = f.readline()
    assert l.startswith(want), (want, l)
s.sendall(b"FOO\r\n" * 20)
lines = f.read()  # the server closes after too many errors
assert b"Too many errors" in lines, lines
print("ok")
"#;

#[test]
fn bad_input_gets_err_and_close() {
    let server = started();
    assert_eq!(
        py(&format!("{PRELUDE}{BAD_INPUT}"), &server, &[]).trim(),
        "ok"
    );
}

const KILL_HALFWAY: &str = r#"
p = login()
n = p.stat()[0]
for i in range(1, n + 1):
    p.retr(i); p.dele(i)
import time, os
open(sys.argv[5], "w").write("ready")
while os.path.exists(sys.argv[5]):
    time.sleep(0.05)
try:
    p.quit()
except Exception:
    print("dropped")
"#;

#[test]
fn kill_9_in_session_loses_nothing() {
    let server = started();
    let md = server.maildir(DEMO);
    fill(&md, 20);
    let flag = server.dir.path().join("ready");
    let flag_s = flag.to_string_lossy().to_string();
    let script = format!("{PRELUDE}{KILL_HALFWAY}");
    let ports = [
        server.ports.pop3.to_string(),
        server.ports.pop3s.to_string(),
    ];
    let child = Command::new("python3")
        .args([
            "-c",
            &script,
            &ports[0],
            &ports[1],
            DEMO,
            DEMO_PASSWORD,
            &flag_s,
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let start = std::time::Instant::now();
    while !flag.exists() {
        assert!(start.elapsed() < PATIENCE, "client never got ready");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pids = server.pids_of("pop3d");
    // Only the session's pop3d is expected, but a port probe's may still be exiting.
    assert!(!pids.is_empty(), "no pop3d running");
    for pid in pids {
        signal(pid, 9);
    }
    fs::remove_file(&flag).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        text(&out.stdout).contains("dropped"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(count_messages(&md), 20);
    // The lock died with the process: a new session gets in and sees everything.
    let check = format!("{PRELUDE}\np = login()\nprint(p.stat()[0])\np.quit()\n");
    assert_eq!(py(&check, &server, &[]).trim(), "20");
}

#[test]
fn fetchmail_drains_a_mailbox_through_stls() {
    let server = started();
    let md = server.maildir(DEMO);
    fill(&md, 300);
    let dir = server.dir.path().join("fetchmail");
    let out_dir = dir.join("got");
    fs::create_dir_all(&out_dir).unwrap();
    let rc = dir.join("fetchmailrc");
    fs::write(
        &rc,
        format!(
            "set no syslog\npoll 127.0.0.1 protocol pop3 port {} user \"{DEMO}\" password \"{DEMO_PASSWORD}\"\n  \
             sslproto 'tls1.2+' no sslcertck fetchall nokeep\n  mda \"/bin/sh -c 'cat > $(mktemp {}/m.XXXXXX)'\"\n",
            server.ports.pop3,
            out_dir.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&rc, fs::Permissions::from_mode(0o600)).unwrap();
    let out = Command::new("fetchmail")
        .args(["-f"])
        .arg(&rc)
        .args(["--nodetach", "-v", "--idfile"])
        .arg(dir.join("ids"))
        .env("HOME", &dir)
        .output()
        .expect("fetchmail must be installed");
    let got = list_files(&out_dir);
    assert_eq!(
        got.len(),
        300,
        "fetchmail: {}\n{}\n--- log ---\n{}",
        quiet(&text(&out.stdout)),
        quiet(&text(&out.stderr)),
        quiet(&server.log())
    );
    assert!(text(&out.stderr).contains("STLS") || server.log().contains("TLS established"));
    assert_eq!(count_messages(&md), 0, "fetchmail deleted what it fetched");
    let sample = read(&got[0]);
    assert!(
        sample.contains("\n.dotted line") && sample.contains("\n..two dots"),
        "{sample}"
    );
}

#[test]
fn getmail_drains_a_mailbox_over_implicit_tls() {
    let server = started();
    let md = server.maildir(DEMO);
    fill(&md, 300);
    let dir = server.dir.path().join("getmail");
    let dest = dir.join("got");
    fs::create_dir_all(&dest).unwrap();
    // An external MDA: getmail's Maildir destination refuses to run as root (CI does).
    fs::write(
        dir.join("getmailrc"),
        format!(
            "[retriever]\ntype = SimplePOP3SSLRetriever\nserver = 127.0.0.1\nport = {}\n\
             username = {DEMO}\npassword = {DEMO_PASSWORD}\ntimeout = 600\n\n[destination]\ntype = MDA_external\n\
             path = /bin/sh\narguments = (\"-c\", \"cat > $(mktemp {}/m.XXXXXX)\")\n\
             allow_root_commands = true\n\n[options]\ndelete = true\nread_all = true\n",
            server.ports.pop3s,
            dest.display()
        ),
    )
    .unwrap();
    let out = Command::new("getmail")
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
        300,
        "getmail: {}\n{}\n--- log ---\n{}",
        quiet(&text(&out.stdout)),
        text(&out.stderr),
        quiet(&server.log())
    );
    assert_eq!(count_messages(&md), 0);
}
