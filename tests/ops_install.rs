//! Install: every program answers --help and --version; a config error names the file,
//! line and key; `make install` stages binaries, example config, systemd units and man
//! pages under DESTDIR.

use std::process::Command;

use crate::harness::*;

const PROGRAMS: [&str; 8] = [
    "smtpd",
    "spam-scan",
    "queue-runner",
    "local-deliver",
    "mail-launch",
    "mailctl",
    "imapd",
    "pop3d",
];

#[test]
fn every_program_answers_help_and_version() {
    for p in PROGRAMS {
        let help = Command::new(bin(p)).arg("--help").output().unwrap();
        assert!(help.status.success(), "{p} --help: {}", text(&help.stderr));
        assert!(
            text(&help.stdout).contains("Usage:"),
            "{p}: {}",
            text(&help.stdout)
        );
        let v = Command::new(bin(p)).arg("--version").output().unwrap();
        assert!(v.status.success(), "{p} --version");
        assert_eq!(
            text(&v.stdout).trim(),
            format!("{p} {}", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn config_errors_name_file_line_and_key() {
    let server = Server::setup();
    let cfg = server.config();
    let t = std::fs::read_to_string(&cfg).unwrap();
    let t = t.replace("max_recipients = 100", "max_recipients = \"many\"");
    std::fs::write(&cfg, &t).unwrap();
    let line = t
        .lines()
        .position(|l| l.starts_with("max_recipients"))
        .unwrap()
        + 1;
    let want = format!("{}:{line}: smtpd.max_recipients: ", cfg.display());
    let out = server.mailctl(&["user", "list"], "");
    assert_eq!(out.status.code(), Some(78), "EX_CONFIG");
    assert!(text(&out.stderr).contains(&want), "{}", text(&out.stderr));
    // The daemons say the same in their log line.
    let out = Command::new(bin("queue-runner"))
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(text(&out.stderr).contains(&want), "{}", text(&out.stderr));
}

#[test]
fn make_install_stages_everything() {
    let dest = tempfile::tempdir().unwrap();
    let release = bin("mailctl").parent().unwrap().to_path_buf();
    let out = Command::new("make")
        .current_dir(repo())
        .arg("-s")
        .arg("install")
        .arg("NO_BUILD=1")
        .arg(format!("RELEASE={}", release.display()))
        .arg("PREFIX=/usr/local")
        .arg(format!("DESTDIR={}", dest.path().display()))
        .output()
        .expect("make");
    assert!(
        out.status.success(),
        "make install: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let root = dest.path();
    for p in PROGRAMS {
        assert!(root.join("usr/local/bin").join(p).is_file(), "{p}");
        assert!(
            root.join("usr/local/share/man/man8")
                .join(format!("{p}.8"))
                .is_file(),
            "{p}.8"
        );
    }
    assert!(root
        .join("usr/local/share/man/man8/mailctl-backup.8")
        .is_file());
    let unit =
        std::fs::read_to_string(root.join("usr/local/lib/systemd/system/smtpd@.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/local/bin/smtpd --config /etc/mail/mail.toml"),
        "{unit}"
    );
    assert!(root
        .join("usr/local/lib/systemd/system/queue-runner.service")
        .is_file());
    let cfg = root.join("etc/mail/mail.toml");
    let t = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        t.contains("spool_dir = \"/var/spool/mailserver\"")
            && t.contains("mail_root = \"/var/vmail\""),
        "{t}"
    );
    assert!(root.join("etc/mail/aliases").is_file());
    // The installed config is valid as it stands.
    let out = Command::new(bin("mailctl"))
        .arg("--config")
        .arg(&cfg)
        .args(["domain", "list"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let page = std::fs::read_to_string(root.join("usr/local/share/man/man8/smtpd.8")).unwrap();
    assert!(
        page.contains(".TH smtpd 8") && page.contains("\\-\\-role") && page.contains("SMTP server"),
        "{page}"
    );
}
