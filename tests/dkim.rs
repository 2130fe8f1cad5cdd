//! DKIM: `mailctl dkim keygen` writes a private key (0600, not overwritten without --force)
//! and prints the TXT record; a message signed by `dkim::Signer` verifies with mail-auth
//! against that record served by a real DNS server, and fails once its body is changed.

use crate::harness::dns::{Dns, Record};
use crate::harness::*;
use mail::config::Config;
use mail::dkim::Signer;
use mail_auth::{AuthenticatedMessage, DkimResult};
use std::os::unix::fs::PermissionsExt;

const MESSAGE: &str = "From: Demo <demo@example.test>\r\nTo: someone@far.test\r\n\
Subject: signed\r\nDate: Sat, 28 Nov 2026 06:00:00 +0000\r\nMessage-ID: <1@example.test>\r\n\
\r\nHello,  signed   world.\r\n\r\n";

/// Runs `mailctl dkim keygen`; returns stdout.
fn keygen(server: &Server, args: &[&str]) -> String {
    let mut all = vec!["dkim", "keygen"];
    all.extend_from_slice(args);
    let out = server.mailctl(&all, "");
    assert!(out.status.success(), "keygen: {}", text(&out.stderr));
    text(&out.stdout)
}

/// The quoted value of a printed `NAME IN TXT "VALUE"` line.
fn record_value(line: &str) -> String {
    let start = line.find('"').expect("quoted record") + 1;
    line[start..].trim_end().trim_end_matches('"').to_string()
}

/// The value as served by the test DNS. `tests/harness/dns.rs` hands dnsmasq the text in
/// literal quotes, which dnsmasq keeps on the command line; an empty notes tag (`n=`, RFC
/// 6376 3.6.1) at the end keeps `p=` clean of the trailing quote, and the record stays
/// valid once the harness is fixed.
fn served(value: &str) -> String {
    format!("{value}; n=")
}

/// Verifies `signed` with mail-auth against `dns`; returns every signature's result.
fn verify(dns: &Dns, signed: &[u8]) -> Vec<DkimResult> {
    let cfg = mail::config::dns::Dns {
        servers: vec![format!("127.0.0.1:{}", dns.port).parse().unwrap()],
        timeout: std::time::Duration::from_secs(5),
    };
    let auth = mail::dns::authenticator(&cfg).expect("authenticator");
    let msg = AuthenticatedMessage::parse(signed).expect("parse");
    let rt = mail::dns::runtime().expect("runtime");
    rt.block_on(auth.verify_dkim(&msg))
        .iter()
        .map(|o| o.result().clone())
        .collect()
}

#[test]
fn keygen_sign_verify_rsa_and_ed25519() {
    let server = Server::setup_with(|t| {
        t.replace(
            "[domains.\"example.test\"]",
            "[domains.\"example.test\"]\n[domains.\"other.test\"]",
        )
    });
    let rsa_line = keygen(&server, &["example.test", "--selector", "s1"]);
    assert!(
        rsa_line.starts_with("s1._domainkey.example.test. IN TXT \"v=DKIM1; k=rsa; p="),
        "{rsa_line}"
    );
    let ed_line = keygen(&server, &["other.test", "--algorithm", "ed25519"]);
    assert!(
        ed_line.starts_with("mail._domainkey.other.test. IN TXT \"v=DKIM1; k=ed25519; p="),
        "{ed_line}"
    );
    let key = server.dir.path().join("dkim/example.test.s1.key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "private key readable by others");

    let again = server.mailctl(&["dkim", "keygen", "example.test", "--selector", "s1"], "");
    assert!(!again.status.success(), "keygen overwrote a key");
    assert!(
        text(&again.stderr).contains("--force"),
        "{}",
        text(&again.stderr)
    );
    let shown = server.mailctl(&["dkim", "show", "example.test"], "");
    assert_eq!(text(&shown.stdout), rsa_line, "show prints the same record");
    let value = text(
        &server
            .mailctl(&["dkim", "show", "other.test", "--value"], "")
            .stdout,
    );
    assert_eq!(value.trim_end(), record_value(&ed_line));

    let dns = Dns::start(
        &["test"],
        &[
            Record::Txt(
                "s1._domainkey.example.test",
                &served(&record_value(&rsa_line)),
            ),
            Record::Txt(
                "mail._domainkey.other.test",
                &served(&record_value(&ed_line)),
            ),
        ],
    );
    let cfg = Config::load(&server.config()).expect("config");
    let signer = Signer::load(&cfg).expect("signer");
    for (from, alg) in [
        ("demo@example.test", "rsa-sha256"),
        ("x@Other.Test", "ed25519-sha256"),
    ] {
        let message = MESSAGE.replace("demo@example.test", from);
        let header = signer.sign(message.as_bytes()).expect("signed");
        assert!(
            header.starts_with("DKIM-Signature: ") && header.ends_with("\r\n"),
            "{header}"
        );
        assert!(
            header.contains(&format!("a={alg}")) && header.contains("c=relaxed/relaxed"),
            "{header}"
        );
        let signed = format!("{header}{message}");
        assert_eq!(
            verify(&dns, signed.as_bytes()),
            vec![DkimResult::Pass],
            "{alg}"
        );

        // mail-auth reports a body hash mismatch as neutral, a bad header signature as fail.
        let tampered = signed.replace("signed   world", "forged world");
        let results = verify(&dns, tampered.as_bytes());
        assert!(
            matches!(
                results.as_slice(),
                [DkimResult::Neutral(mail_auth::Error::Dkim(
                    mail_auth::dkim::DkimError::FailedBodyHashMatch
                ))]
            ),
            "{alg}: {results:?}"
        );
        let tampered = signed.replace("Subject: signed", "Subject: forged");
        let results = verify(&dns, tampered.as_bytes());
        assert!(
            matches!(results.as_slice(), [DkimResult::Fail(_)]),
            "{alg}: {results:?}"
        );
    }
    let foreign = MESSAGE.replace("demo@example.test", "someone@elsewhere.test");
    assert!(
        signer.sign(foreign.as_bytes()).is_none(),
        "signed for a domain without a key"
    );
    assert!(signer.sign(b"Subject: no from\r\n\r\nx\r\n").is_none());
}

#[test]
fn replaced_key_signs_without_reload_and_bad_input_is_refused() {
    let server = Server::setup();
    let cfg = Config::load(&server.config()).expect("config");
    let signer = Signer::load(&cfg).expect("signer without a key directory");
    assert!(signer.sign(MESSAGE.as_bytes()).is_none());
    let line = keygen(&server, &["example.test", "--algorithm", "ed25519"]);
    let header = signer.sign(MESSAGE.as_bytes()).expect("new key picked up");
    assert!(
        header.contains("s=mail") && header.contains("d=example.test"),
        "{header}"
    );
    let forced = keygen(
        &server,
        &["example.test", "--algorithm", "ed25519", "--force"],
    );
    assert_ne!(forced, line, "--force made a new key");

    for bad in [
        &["dkim", "keygen", "../etc"][..],
        &["dkim", "keygen", "example.test", "--selector", "a.b"],
        &[
            "dkim",
            "keygen",
            "example.test",
            "--selector",
            "x",
            "--algorithm",
            "dsa",
        ],
        &["dkim", "show", "nokey.test"],
    ] {
        let out = server.mailctl(bad, "");
        assert_eq!(
            out.status.code(),
            Some(65),
            "{bad:?}: {}",
            text(&out.stderr)
        );
    }
}
