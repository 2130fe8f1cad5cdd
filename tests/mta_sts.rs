//! MTA-STS: policies found through a real DNS server (`_mta-sts` TXT, `mta-sts.` A record)
//! and fetched from a real HTTPS server (Python, certificate from a test CA that the
//! config's `mta_sts_ca_file` trusts) are parsed, cached under the spool, reused while the
//! TXT id is unchanged (even with the web server gone), refetched when it changes, and
//! refused when invalid.

use crate::harness::dns::{Dns, Record};
use crate::harness::*;
use mail::config::Config;
use mail::mta_sts::{Cache, Mode};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Serves `<root>/<Host header>/<path>` as text/plain over TLS; 404 otherwise.
const HTTPS_SERVER: &str = r#"
import http.server, ssl, sys, os
root, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        host = (self.headers.get("Host") or "").split(":")[0]
        path = os.path.join(root, host, self.path.lstrip("/"))
        if ".." in self.path or not os.path.isfile(path):
            self.send_response(404); self.end_headers(); return
        body = open(path, "rb").read()
        ctype = "text/html" if host.startswith("mta-sts.html.") else "text/plain"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv = http.server.HTTPServer(("127.0.0.1", port), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
"#;

const DOMAINS: [&str; 5] = [
    "sts.test",
    "testing.test",
    "bad.test",
    "html.test",
    "none.test",
];

/// The HTTPS server, killed by PID on drop.
struct Https {
    child: Child,
    port: u16,
}

impl Drop for Https {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a test CA (`ca.pem`) and a certificate for every `mta-sts.<domain>` signed by it
/// (`leaf-cert.pem`, `leaf-key.pem`).
fn make_certs(dir: &Path) {
    let names: Vec<String> = DOMAINS.iter().map(|d| format!("mta-sts.{d}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    crate::outbound_common::make_ca(dir, &names);
}

fn put_policy(root: &Path, domain: &str, body: &str) {
    let dir = root.join(format!("mta-sts.{domain}/.well-known"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("mta-sts.txt"), body).unwrap();
}

fn start_https(dir: &Path, root: &Path) -> Https {
    let port = free_port();
    let child = Command::new("python3")
        .arg("-c")
        .arg(HTTPS_SERVER)
        .arg(root)
        .arg(port.to_string())
        .arg(dir.join("leaf-cert.pem"))
        .arg(dir.join("leaf-key.pem"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3");
    let https = Https { child, port };
    wait_for_port(port);
    https
}

/// dnsmasq serving the `_mta-sts` TXT records (id `sts_id` for sts.test) and the
/// `mta-sts.` hosts.
fn dns_with_id(sts_id: &str) -> Dns {
    let txt: Vec<(String, String)> = DOMAINS
        .iter()
        .filter(|d| **d != "none.test")
        .map(|d| {
            let id = if *d == "sts.test" { sts_id } else { "1" };
            (format!("_mta-sts.{d}"), format!("v=STSv1; id={id};"))
        })
        .collect();
    let hosts: Vec<String> = DOMAINS.iter().map(|d| format!("mta-sts.{d}")).collect();
    let mut records: Vec<Record> = txt.iter().map(|(n, t)| Record::Txt(n, t)).collect();
    records.extend(hosts.iter().map(|h| Record::Addr(h, "127.0.0.1")));
    Dns::start(&["test"], &records)
}

/// The server's config with `[dns]` pointing at `dns` and the MTA-STS knobs set.
fn config(server: &Server, dns: &Dns, https_port: u16) -> Config {
    let text = std::fs::read_to_string(server.config()).unwrap();
    let text = with_section(
        &text,
        "dns",
        &format!("{}\ntimeout_secs = 2", dns.config_line()),
    );
    let knobs = format!("mta_sts_https_port = {https_port}\nmta_sts_ca_file = \"ca.pem\"");
    let text = with_section(&text, "dkim", &knobs);
    Config::parse(&server.config(), &text).expect("config")
}

#[test]
fn policies_are_fetched_cached_refreshed_and_checked() {
    let server = Server::setup();
    let dir = server.dir.path();
    make_certs(dir);
    let root = dir.join("www");
    put_policy(
        &root,
        "sts.test",
        "version: STSv1\r\nmode: enforce\r\nmx: *.sts.test\r\nmx: mail.other.test\r\nmax_age: 86400\r\n",
    );
    put_policy(
        &root,
        "testing.test",
        "version: STSv1\nmode: testing\nmx: mx.testing.test\nmax_age: 600\n",
    );
    put_policy(&root, "bad.test", "version: STSv1\nmode: enforce\n");
    put_policy(
        &root,
        "html.test",
        "version: STSv1\nmode: enforce\nmx: a.html.test\nmax_age: 60\n",
    );
    let https = start_https(dir, &root);
    let dns = dns_with_id("first");
    let cfg = config(&server, &dns, https.port);
    let cache = Cache::new(&cfg).expect("cache");

    let p = cache.policy("sts.test").expect("policy for sts.test");
    assert!(p.enforce());
    assert_eq!(p.max_age, 86400);
    assert!(p.allows_mx("mx1.sts.test") && p.allows_mx("MAIL.other.test."));
    assert!(!p.allows_mx("sts.test") && !p.allows_mx("a.b.sts.test") && !p.allows_mx("evil.test"));
    let cached = server.spool().join("mta-sts/sts.test");
    assert!(
        read(&cached).contains("txt_id = \"first\""),
        "{}",
        read(&cached)
    );

    let t = cache.policy("testing.test").expect("testing policy");
    assert_eq!(t.mode, Mode::Testing);
    assert!(!t.enforce());
    assert!(
        cache.policy("bad.test").is_none(),
        "invalid policy accepted"
    );
    assert!(
        cache.policy("html.test").is_none(),
        "text/html policy accepted"
    );
    assert!(
        cache.policy("none.test").is_none(),
        "policy without a TXT record"
    );
    assert!(!server.spool().join("mta-sts/bad.test").exists());

    // Same TXT id, web server gone: the cached policy still applies.
    drop(https);
    let again = cache.policy("sts.test").expect("cached policy");
    assert!(again.enforce());

    // New TXT id: the policy is fetched again and replaces the cache.
    drop(dns);
    put_policy(
        &root,
        "sts.test",
        "version: STSv1\nmode: testing\nmx: new.sts.test\nmax_age: 300\n",
    );
    let https = start_https(dir, &root);
    let dns = dns_with_id("second");
    let cache = Cache::new(&config(&server, &dns, https.port)).expect("cache");
    let fresh = cache.policy("sts.test").expect("refreshed policy");
    assert_eq!((fresh.mode, fresh.max_age), (Mode::Testing, 300));
    assert!(read(&cached).contains("txt_id = \"second\""));
}

#[test]
fn untrusted_certificate_gives_no_policy() {
    let server = Server::setup();
    let dir = server.dir.path();
    make_certs(dir);
    let root = dir.join("www");
    put_policy(
        &root,
        "sts.test",
        "version: STSv1\nmode: enforce\nmx: mx.sts.test\nmax_age: 60\n",
    );
    let https = start_https(dir, &root);
    let dns = dns_with_id("x");
    // A different CA in the trust file: the server's certificate does not verify.
    let other = tempfile::tempdir().unwrap();
    make_certs(other.path());
    std::fs::copy(other.path().join("ca.pem"), dir.join("ca.pem")).unwrap();
    let cache = Cache::new(&config(&server, &dns, https.port)).expect("cache");
    assert!(cache.policy("sts.test").is_none());
}
