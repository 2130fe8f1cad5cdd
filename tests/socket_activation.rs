//! systemd socket activation: smtpd works when systemd hands it the connection, both on
//! stdin/stdout (`StandardInput=socket`, here `--inetd`) and as fd 3 with `LISTEN_FDS`.

use crate::harness::*;
use std::process::{Command, Stdio};

const SEND: &str = r#"
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1])) as s:
    code, banner = s.ehlo("activated.test")
    assert code == 250, banner
    s.sendmail("a@remote.test", ["demo@example.test"], "Subject: %s\r\n\r\nvia systemd\r\n" % sys.argv[2])
print("OK")
"#;

fn activated_session(inetd: bool) {
    let server = Server::start();
    let port = free_port();
    let mut cmd = Command::new("systemd-socket-activate");
    cmd.arg("-l")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--accept");
    if inetd {
        cmd.arg("--inetd");
    }
    let mut activator = cmd
        .arg("-E")
        .arg(format!("MAIL_CONFIG={}", server.config().display()))
        .arg(bin("smtpd"))
        .args(["--role", "mx"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("systemd-socket-activate (package systemd) must be installed");
    wait_for_port(port);
    let subject = if inetd { "inetd-style" } else { "listen-fds" };
    let out = python(SEND, &[&port.to_string(), subject]);
    signal(activator.id() as i32, libc::SIGTERM);
    let _ = activator.wait();
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let files = server.wait_for_messages(DEMO, 1);
    assert!(read(&files[0]).contains(&format!("Subject: {subject}")));
    assert!(
        read(&files[0]).contains("[127.0.0.1]"),
        "peer found from the socket"
    );
}

#[test]
fn smtpd_under_socket_activation_on_stdin() {
    activated_session(true);
}

#[test]
fn smtpd_under_socket_activation_with_listen_fds() {
    activated_session(false);
}
