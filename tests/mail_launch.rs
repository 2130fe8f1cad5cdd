//! mail-launch, the inetd/tcpserver-style launcher: one process per connection with the
//! connection on stdin/stdout and REMOTE_IP & co in the environment, limits per IP, IPv6,
//! and a clean shutdown that takes its children with it.

use crate::harness::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn launch(address: &str, extra: &[&str], script: &str) -> Child {
    Command::new(bin("mail-launch"))
        .args(extra)
        .arg(address)
        .args(["/bin/sh", "-c", script])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mail-launch")
}

fn first_line(stream: &TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut line = String::new();
    let _ = BufReader::new(stream).read_line(&mut line);
    line
}

fn stop(mut child: Child) {
    signal(child.id() as i32, libc::SIGTERM);
    let status = child.wait().expect("wait");
    assert!(status.success(), "mail-launch exit: {status:?}");
}

#[test]
fn connection_is_on_stdio_with_environment() {
    let port = free_port();
    let child = launch(
        &format!("127.0.0.1:{port}"),
        &[],
        "echo \"$REMOTE_IP $LOCAL_PORT\"; read x; echo \"got $x\"",
    );
    wait_for_port(port);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert_eq!(first_line(&s), format!("127.0.0.1 {port}\n"));
    s.write_all(b"ping\n").unwrap();
    let mut rest = String::new();
    BufReader::new(&s).read_line(&mut rest).unwrap();
    assert_eq!(rest, "got ping\n");
    stop(child);
}

#[test]
fn ipv6_loopback_works() {
    if TcpStream::connect("[::1]:1")
        .is_err_and(|e| e.kind() == std::io::ErrorKind::AddrNotAvailable)
    {
        eprintln!("no IPv6 loopback on this machine; skipping");
        return;
    }
    let port = free_port();
    let child = launch(&format!("[::1]:{port}"), &[], "echo \"$REMOTE_IP\"");
    let start = std::time::Instant::now();
    let s = loop {
        match TcpStream::connect(("::1", port)) {
            Ok(s) => break s,
            Err(_) if start.elapsed() < PATIENCE => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("connect [::1]:{port}: {e}"),
        }
    };
    assert_eq!(first_line(&s), "::1\n");
    stop(child);
}

#[test]
fn per_ip_limit_refuses_extra_connections_and_shutdown_stops_children() {
    let port = free_port();
    let child = launch(
        &format!("127.0.0.1:{port}"),
        &["--max-per-ip", "2"],
        "echo hello; exec sleep 30",
    );
    wait_for_port(port);
    let a = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert_eq!(first_line(&a), "hello\n");
    let b = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert_eq!(first_line(&b), "hello\n");
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert_eq!(
        first_line(&c),
        "",
        "third connection from one IP must be closed"
    );
    let kids = descendants(child.id() as i32);
    assert!(kids.len() >= 2, "children: {kids:?}");
    stop(child);
    std::thread::sleep(Duration::from_millis(200));
    for k in kids {
        assert!(
            !std::path::Path::new(&format!("/proc/{k}")).exists()
                || std::fs::read_to_string(format!("/proc/{k}/stat"))
                    .is_ok_and(|s| s.contains(") Z")),
            "child {k} outlived mail-launch"
        );
    }
    drop((a, b));
}
