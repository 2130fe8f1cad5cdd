//! SPF, DKIM and DMARC verdicts against a real local DNS server (dnsmasq) serving the test's
//! TXT records: through `mailctl check-auth` (the same `authres::verify` spam-scan uses) and
//! at SMTP time (`[policy] dmarc_reject = "smtp"`: 550 5.7.1 after DATA).

use crate::harness::dns::{Dns, Record};
use crate::harness::{self, text, Server, DEMO, DEMO_PASSWORD};
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;

const MESSAGE: &str = "From: Alice <alice@DOMAIN>\r\nTo: demo@example.test\r\n\
    Subject: records\r\nDate: Sat, 28 Nov 2026 06:00:00 +0000\r\n\
    Message-ID: <1@DOMAIN>\r\n\r\nHello from DOMAIN.\r\n";

fn message(domain: &str) -> String {
    MESSAGE.replace("DOMAIN", domain)
}

/// A DKIM key for `selector._domainkey.domain`: the signer and its TXT record text.
fn dkim_key() -> (Vec<u8>, String) {
    let pkcs8 = Ed25519Key::generate_pkcs8().expect("ed25519 key");
    let key = Ed25519Key::from_pkcs8_der(&pkcs8).expect("key");
    let public =
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, key.public_key());
    (pkcs8, format!("v=DKIM1; k=ed25519; p={public}"))
}

fn sign(pkcs8: &[u8], domain: &str, msg: &str) -> String {
    let key = Ed25519Key::from_pkcs8_der(pkcs8).expect("key");
    let sig = DkimSigner::from_key(key)
        .domain(domain)
        .selector("sel")
        .headers(["From", "To", "Subject", "Date", "Message-ID"])
        .sign(msg.as_bytes())
        .expect("sign");
    format!("{}{msg}", sig.to_header())
}

fn server(dns: &Dns, policy: &str) -> Server {
    let line = dns.config_line();
    Server::setup_with(|t| format!("{t}\n[dns]\n{line}\ntimeout_secs = 2\n[policy]\n{policy}\n"))
}

/// `mailctl check-auth` on `msg` as sent by 127.0.0.1 with MAIL FROM `from`.
fn check(s: &Server, from: &str, msg: &str) -> String {
    let path = s.dir.path().join("check.eml");
    std::fs::write(&path, msg).expect("write message");
    let p = path.to_string_lossy().into_owned();
    let out = s.mailctl(
        &[
            "check-auth",
            "--ip",
            "127.0.0.1",
            "--helo",
            "client.test",
            "--from",
            from,
            &p,
        ],
        "",
    );
    assert!(out.status.success(), "check-auth: {}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn spf_pass_fail_softfail_none() {
    let dns = Dns::start(
        &["test"],
        &[
            Record::Txt("pass.test", "v=spf1 ip4:127.0.0.0/8 -all"),
            Record::Txt("fail.test", "v=spf1 ip4:192.0.2.1 -all"),
            Record::Txt("soft.test", "v=spf1 ip4:192.0.2.1 ~all"),
            Record::Addr("none.test", "192.0.2.1"),
        ],
    );
    let s = server(&dns, "");
    for (domain, want) in [
        ("pass.test", "spf=pass"),
        ("fail.test", "spf=fail"),
        ("soft.test", "spf=softfail"),
        ("none.test", "spf=none"),
    ] {
        let out = check(&s, &format!("alice@{domain}"), &message(domain));
        assert!(out.starts_with("Authentication-Results: "), "{out}");
        assert!(
            out.contains(&format!("{want} "))
                && out.contains(&format!("smtp.mailfrom=alice@{domain}")),
            "{domain}: {out}"
        );
        assert!(out.contains("dkim=none"), "{out}");
    }
    let fail = check(&s, "alice@fail.test", &message("fail.test"));
    assert!(
        fail.contains("score=2\n"),
        "SPF fail weighs 2 by default: {fail}"
    );
}

#[test]
fn dkim_pass_and_tampered_fail() {
    let (pkcs8, txt) = dkim_key();
    let dns = Dns::start(
        &["test"],
        &[
            Record::Txt("sel._domainkey.signed.test", &txt),
            Record::Txt("signed.test", "v=spf1 -all"),
        ],
    );
    let s = server(&dns, "");
    let signed = sign(&pkcs8, "signed.test", &message("signed.test"));
    let out = check(&s, "bounce@other.test", &signed);
    assert!(
        out.contains("dkim=pass header.d=signed.test header.s=sel"),
        "{out}"
    );
    // A changed body: mail-auth says "neutral (body hash did not verify)"; it scores as a fail.
    let tampered = signed.replace("Hello from", "Pay now, from");
    let out = check(&s, "bounce@other.test", &tampered);
    assert!(
        out.contains("dkim=neutral (body hash did not verify)"),
        "{out}"
    );
    assert!(out.contains("\nscore=1.5\n"), "{out}");
    // A changed signed header: the signature itself fails.
    let tampered = signed.replace("Subject: records", "Subject: invoice");
    let out = check(&s, "bounce@other.test", &tampered);
    assert!(out.contains("dkim=fail"), "{out}");
    assert!(out.contains("\nscore=1.5\n"), "{out}");
}

#[test]
fn dmarc_pass_and_fail_with_p_reject() {
    let (pkcs8, txt) = dkim_key();
    let dns = Dns::start(
        &["test"],
        &[
            Record::Txt("strict.test", "v=spf1 ip4:192.0.2.1 -all"),
            Record::Txt("_dmarc.strict.test", "v=DMARC1; p=reject"),
            Record::Txt("sel._domainkey.strict.test", &txt),
            Record::Txt("aligned.test", "v=spf1 ip4:127.0.0.1 -all"),
            Record::Txt("_dmarc.aligned.test", "v=DMARC1; p=reject"),
        ],
    );
    let s = server(&dns, "");
    // SPF fails and nothing is signed: DMARC fails, and the domain says reject.
    let out = check(&s, "alice@strict.test", &message("strict.test"));
    assert!(
        out.contains("dmarc=fail") && out.contains("header.from=strict.test"),
        "{out}"
    );
    assert!(
        out.contains("policy.dmarc=reject") && out.ends_with("dmarc=reject\n"),
        "{out}"
    );
    // The same SPF failure, but a valid aligned DKIM signature: DMARC passes.
    let signed = sign(&pkcs8, "strict.test", &message("strict.test"));
    let out = check(&s, "alice@strict.test", &signed);
    assert!(
        out.contains("dkim=pass") && out.contains("dmarc=pass"),
        "{out}"
    );
    assert!(!out.ends_with("dmarc=reject\n"), "{out}");
    // Aligned SPF pass alone is enough.
    let out = check(&s, "alice@aligned.test", &message("aligned.test"));
    assert!(
        out.contains("spf=pass") && out.contains("dmarc=pass"),
        "{out}"
    );
}

/// One SMTP transaction with the raw client; returns the reply to the end of data.
fn send(port: u16, from: &str, msg: &str) -> String {
    let mut c = harness::smtp::Raw::connect(port);
    c.start_mail(from, DEMO);
    let r = c.cmd("DATA");
    assert!(r.starts_with("354"), "DATA: {r}");
    c.send(msg.as_bytes());
    let r = c.cmd(".");
    c.cmd("QUIT");
    r
}

const SUBMIT: &str = r#"
import smtplib, ssl, sys
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
body = "From: %s\r\nTo: %s\r\nSubject: own domain\r\n\r\nsubmitted by a user\r\n" % (user, user)
s = smtplib.SMTP("127.0.0.1", port, local_hostname="laptop.test")
s.starttls(context=ctx)
s.login(user, password)
s.sendmail(user, [user], body)
s.quit()
print("OK")
"#;

#[test]
fn dmarc_p_reject_refused_at_smtp_time() {
    let dns = Dns::start(
        &["test"],
        &[
            Record::Txt("strict.test", "v=spf1 ip4:192.0.2.1 -all"),
            Record::Txt("_dmarc.strict.test", "v=DMARC1; p=reject"),
            Record::Txt("aligned.test", "v=spf1 ip4:127.0.0.1 -all"),
            Record::Txt("_dmarc.aligned.test", "v=DMARC1; p=reject"),
            Record::Txt("example.test", "v=spf1 ip4:192.0.2.1 -all"),
            Record::Txt("_dmarc.example.test", "v=DMARC1; p=reject"),
        ],
    );
    let mut s = server(&dns, "dmarc_reject = \"smtp\"");
    s.run();
    let r = send(s.ports.smtp, "alice@strict.test", &message("strict.test"));
    assert!(
        r.starts_with("550 5.7.1") && r.contains("strict.test"),
        "{r}"
    );
    assert!(
        s.log().contains("DMARC fail for strict.test (p=reject)"),
        "{}",
        s.log()
    );
    let r = send(s.ports.smtp, "alice@aligned.test", &message("aligned.test"));
    assert!(r.starts_with("250"), "{r}");
    let got = s.wait_for_messages(DEMO, 1);
    let delivered = harness::read(&got[0]);
    assert!(delivered.contains("Hello from aligned.test"), "{delivered}");
    // Our own domain fails DMARC from this IP, but an authenticated submission is not checked.
    let r = send(s.ports.smtp, DEMO, &message("example.test"));
    assert!(r.starts_with("550 5.7.1"), "{r}");
    let out = harness::python(
        SUBMIT,
        &[&s.ports.submission.to_string(), DEMO, DEMO_PASSWORD],
    );
    assert!(text(&out.stdout).starts_with("OK"), "{}", text(&out.stderr));
    let got = s.wait_for_messages(DEMO, 2);
    assert!(got
        .iter()
        .any(|m| harness::read(m).contains("submitted by a user")));
}

/// The `Authentication-Results` field spam-scan added for us, unfolded; empty if none.
/// (Maildir stores lines ending in LF.)
fn auth_results(message: &str) -> String {
    let mut lines = message.lines();
    let mut field = String::new();
    for l in lines.by_ref() {
        if l.is_empty() {
            return field;
        }
        if l.starts_with("Authentication-Results: mail.example.test;") {
            field.push_str(l);
            break;
        }
    }
    for l in lines.take_while(|l| l.starts_with([' ', '\t'])) {
        field.push(' ');
        field.push_str(l.trim());
    }
    field
}

#[test]
fn delivered_message_carries_authentication_results() {
    let dns = Dns::start(
        &["test"],
        &[
            Record::Txt("aligned.test", "v=spf1 ip4:127.0.0.1 -all"),
            Record::Txt("_dmarc.aligned.test", "v=DMARC1; p=reject"),
        ],
    );
    let mut s = server(&dns, "");
    s.run();
    let r = send(s.ports.smtp, "alice@aligned.test", &message("aligned.test"));
    assert!(r.starts_with("250"), "{r}");
    let delivered = harness::read(&s.wait_for_messages(DEMO, 1)[0]);
    let ar = auth_results(&delivered);
    assert!(
        ar.contains("spf=pass") && ar.contains("smtp.mailfrom=alice@aligned.test"),
        "{delivered}"
    );
    assert!(ar.contains("dkim=none"), "{ar}");
    assert!(ar.contains("dmarc=pass header.from=aligned.test"), "{ar}");
}
