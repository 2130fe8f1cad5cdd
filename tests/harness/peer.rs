//! A scripted SMTP peer on loopback (Python): what another domain's server does when
//! queue-runner delivers to it, under the test's control (defer, refuse, stall).

use super::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A scripted SMTP peer: `peer.py PORT DIR`. Saves each message as DIR/msg-N (first line
/// `FROM <sender> TO rcpt…`); answers RCPT with 451 while DIR/defer exists, 550 for addresses
/// starting "nobody"; after DATA, creates DIR/got-data and waits while DIR/stall exists.
const PEER: &str = r#"
import os, socketserver, sys, time
port, d = int(sys.argv[1]), sys.argv[2]
class H(socketserver.StreamRequestHandler):
    def say(self, s): self.wfile.write((s + "\r\n").encode()); self.wfile.flush()
    def handle(self):
        self.say("220 peer.test ESMTP")
        sender, rcpts = "", []
        while True:
            line = self.rfile.readline()
            if not line: return
            cmd = line.decode("utf-8", "replace").strip()
            up = cmd.upper()
            if up.startswith("EHLO"):
                self.wfile.write(b"250-peer.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 10000000\r\n250 DSN\r\n"); self.wfile.flush()
            elif up.startswith("MAIL"):
                sender, rcpts = cmd[cmd.index("<") + 1:cmd.index(">")], []; self.say("250 2.1.0 ok")
            elif up.startswith("RCPT"):
                addr = cmd[cmd.index("<") + 1:cmd.index(">")]
                if os.path.exists(os.path.join(d, "defer")): self.say("451 4.3.2 try again later")
                elif addr.startswith("nobody"): self.say("550 5.1.1 <%s>: no such user here" % addr)
                else: rcpts.append(addr); self.say("250 2.1.5 ok")
            elif up == "DATA":
                self.say("354 go")
                body = []
                while True:
                    l = self.rfile.readline()
                    if not l or l == b".\r\n": break
                    body.append(l)
                open(os.path.join(d, "got-data"), "w").close()
                while os.path.exists(os.path.join(d, "stall")): time.sleep(0.05)
                n = len([f for f in os.listdir(d) if f.startswith("msg-")])
                tmp = os.path.join(d, "tmp-%d" % n)
                with open(tmp, "wb") as f:
                    f.write(("FROM <%s> TO %s\n" % (sender, " ".join(rcpts))).encode()); f.write(b"".join(body))
                os.rename(tmp, os.path.join(d, "msg-%d" % n))
                self.say("250 2.0.0 queued")
            elif up == "QUIT": self.say("221 bye"); return
            else: self.say("250 ok")
class S(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
S(("127.0.0.1", port), H).serve_forever()
"#;

pub struct Peer {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Peer {
    pub fn start() -> Peer {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let child = Command::new("python3")
            .arg("-c")
            .arg(PEER)
            .arg(port.to_string())
            .arg(dir.path())
            .stdin(Stdio::null())
            .spawn()
            .expect("python3");
        wait_for_port(port);
        Peer { port, dir, child }
    }

    pub fn flag(&self, name: &str, on: bool) {
        let p = self.dir.path().join(name);
        if on {
            std::fs::write(p, "").expect("flag");
        } else {
            let _ = std::fs::remove_file(p);
        }
    }

    /// Messages received so far (first line `FROM <sender> TO rcpt…`).
    pub fn messages(&self) -> Vec<String> {
        list_files(self.dir.path())
            .iter()
            .filter(|p| file_name(p).starts_with("msg-"))
            .map(|p| read(p))
            .collect()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The recipients line of a message the peer saved (`FROM <s> TO a b` → `a b`).
pub fn recipients(msg: &str) -> &str {
    let first = msg.lines().next().unwrap_or("");
    first.split_once(" TO ").map_or("", |(_, r)| r)
}
