//! Shared pieces of the outbound tests (`outbound`, `outbound_relay`): instance A (domain
//! example.test, fast retries) and instance B (domain b.test, user bob), submitting over
//! A's submission port, waiting on logs and queues, a test CA (rcgen) whose certificates
//! B and an HTTPS server can present, and that HTTPS server (Python) serving an MTA-STS
//! policy.

use crate::harness::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const BOB: &str = "bob@b.test";

/// Instance A: retries every second, `extra` appended (its [outbound]/[dns] lines).
pub fn instance_a(extra: &str) -> Server {
    instance_a_lifetime(extra, 600)
}

/// Instance A with a queue lifetime of `lifetime` seconds.
pub fn instance_a_lifetime(extra: &str, lifetime: u64) -> Server {
    let extra = extra.to_string();
    Server::setup_with(move |t| {
        let t = t
            .replace("retry_base_secs = 300", "retry_base_secs = 1")
            .replace("retry_max_secs = 4000", "retry_max_secs = 1")
            .replace(
                "max_lifetime_secs = 432000",
                &format!("max_lifetime_secs = {lifetime}"),
            );
        format!("{t}\n{extra}\n")
    })
}

/// Instance B: serves b.test (and example.test, as every instance does) with user bob;
/// `extra` appended to its config. Not running.
pub fn instance_b(extra: &str) -> Server {
    let extra = extra.to_string();
    let b = Server::setup_with(move |t| {
        let t = t.replace(
            "[domains.\"example.test\"]",
            "[domains.\"b.test\"]\n[domains.\"example.test\"]",
        );
        format!("{t}\n{extra}\n")
    });
    b.add_user(BOB, "pw");
    b
}

/// Sends a message with smtplib over A's submission port, authenticated as demo.
pub fn submit(a: &Server, to: &[&str], subject: &str) {
    let script = r#"
import smtplib, sys
port, subject, to = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
msg = ("From: Demo <demo@example.test>\r\nTo: %s\r\nSubject: %s\r\n"
       "Message-ID: <%s@example.test>\r\nDate: Sat, 28 Nov 2026 07:00:00 +0000\r\n\r\n"
       "Hello from A.\r\n.leading dot\r\n" % (", ".join(to), subject, subject.replace(" ", "-")))
with smtplib.SMTP("127.0.0.1", port) as s:
    s.login("demo@example.test", "demo")
    s.sendmail("demo@example.test", to, msg)
"#;
    let mut args = vec![a.ports.submission.to_string(), subject.to_string()];
    args.extend(to.iter().map(|t| t.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = python(script, &args);
    assert!(out.status.success(), "submit: {}", text(&out.stderr));
}

/// True when A holds no message in `incoming` or `queue`.
pub fn queue_empty(a: &Server) -> bool {
    list_files_and_dirs(&a.spool().join("queue")).is_empty()
        && list_files_and_dirs(&a.spool().join("incoming")).is_empty()
}

pub fn list_files_and_dirs(p: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(p)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect()
}

/// Appends `text` to the config of `s` (before it runs).
pub fn append(s: &Server, text: &str) {
    let mut t = std::fs::read_to_string(s.config()).expect("config");
    t.push('\n');
    t.push_str(text);
    std::fs::write(s.config(), t).expect("config");
}

/// Points the `[dns]` section the harness wrote into the config of `s` at `dns`.
pub fn set_dns(s: &Server, dns: &crate::harness::dns::Dns) {
    let t = std::fs::read_to_string(s.config()).expect("config");
    let t = crate::harness::with_section(&t, "dns", &dns.config_line());
    std::fs::write(s.config(), t).expect("config");
}

/// Writes into `dir`: `ca.pem` (a fresh test CA) and `leaf-cert.pem`/`leaf-key.pem`, a
/// certificate for `names` (DNS names or IP addresses) signed by that CA.
pub fn make_ca(dir: &Path, names: &[&str]) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("ca cert");
    let issuer = Issuer::new(ca, &ca_key);
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf = CertificateParams::new(names)
        .expect("leaf params")
        .signed_by(&leaf_key, &issuer)
        .expect("leaf cert");
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).expect("ca.pem");
    std::fs::write(dir.join("leaf-cert.pem"), leaf.pem()).expect("leaf cert");
    std::fs::write(dir.join("leaf-key.pem"), leaf_key.serialize_pem()).expect("leaf key");
}

/// Makes `server` present the leaf certificate of `make_ca(dir, ..)` (its `[tls]` paths
/// `tls/cert.pem` and `tls/key.pem`, read per connection). Each file is replaced by a
/// rename; a connection between the two renames fails its handshake and is retried.
pub fn install_leaf(server: &Server, dir: &Path) {
    let tls = server.dir.path().join("tls");
    for (from, to) in [("leaf-key.pem", "key.pem"), ("leaf-cert.pem", "cert.pem")] {
        let tmp = tls.join(format!("{to}.new"));
        std::fs::copy(dir.join(from), &tmp).expect("copy certificate");
        std::fs::rename(&tmp, tls.join(to)).expect("install certificate");
    }
}

/// Serves `policy` as text/plain at every path over TLS (the leaf of `make_ca`).
const POLICY_SERVER: &str = r#"
import http.server, ssl, sys
port, cert, key, policy = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4].encode()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(policy)))
        self.end_headers()
        self.wfile.write(policy)
    def log_message(self, *a): pass
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv = http.server.HTTPServer(("127.0.0.1", port), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
"#;

/// An HTTPS server for MTA-STS policies, killed by PID on drop.
pub struct PolicyServer {
    pub port: u16,
    child: Child,
}

impl PolicyServer {
    /// Serves `policy` with the leaf certificate of `make_ca(dir, ..)`.
    pub fn start(dir: &Path, policy: &str) -> PolicyServer {
        let port = free_port();
        let child = Command::new("python3")
            .arg("-c")
            .arg(POLICY_SERVER)
            .arg(port.to_string())
            .arg(dir.join("leaf-cert.pem"))
            .arg(dir.join("leaf-key.pem"))
            .arg(policy)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3");
        let server = PolicyServer { port, child };
        wait_for_port(port);
        server
    }
}

impl Drop for PolicyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
