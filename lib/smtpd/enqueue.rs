//! Enqueue: turns an accepted SMTP message into a committed spool entry in `incoming/`.
//! Prepends `Received:` (RFC 5321 4.4, protocol names of RFC 3848/6531); on submission
//! (or for an authenticated client) adds `Message-ID:` and `Date:` when missing (RFC 6409 8).
//! The spool's commit (fsync, rename) happens before the caller may answer 250.
//! Records the transaction's DSN parameters (RET, ENVID, per-recipient NOTIFY and ORCPT),
//! a FUTURERELEASE hold (`hold_until`, and `next_attempt` so queue-runner waits for it) and
//! REQUIRETLS in the envelope.
//! A held message from an authenticated local user also gets a copy in the user's
//! `.Scheduled` folder (`mail::scheduled`; deleting it recalls the message), its name
//! recorded in the same envelope. The copy is written just before the commit, not after it:
//! once committed, spam-scan may move the entry at any moment, so a later envelope rewrite
//! would race with it. A failed commit removes the copy again; only a crash between the two
//! can leave a copy without a queued message (the client got no 250 and sends again).
//! A copy that cannot be written is logged and the message is queued, not recallable.
//! Errors: `spool::Error`, answered `451 4.3.0` by the caller; a dropped draft leaves nothing.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::smtp::Message;
use crate::spool::{self, Envelope, Recipient, Spool, Stage};

/// What the session knows about the client, for the header and the envelope.
#[derive(Debug, Clone)]
pub struct Client<'a> {
    pub ip: &'a str,
    pub helo: &'a str,
    pub esmtp: bool,
    /// TLS version and cipher when the session is encrypted.
    pub tls: Option<&'a str>,
    pub auth_user: Option<&'a str>,
    /// Submission role: complete missing Message-ID and Date.
    pub submission: bool,
    /// smtpd's policy findings for spam-scan: DNS list zones naming the client, and
    /// whether the sender or client is on the allow list.
    pub dnsbl_hits: &'a [String],
    pub dnswl_hits: &'a [String],
    pub allowlisted: bool,
}

/// Writes and commits the message; returns its queue id.
pub fn enqueue(
    cfg: &Config,
    client: &Client<'_>,
    msg: &Message,
    now: SystemTime,
) -> spool::Result<String> {
    let spool = Spool::open(&cfg.spool_dir)?;
    let mut draft = spool.draft()?;
    let id = draft.id().to_string();
    let date = rfc5322_date(now);
    let mut head = received(cfg, client, msg, &id, &date);
    if client.submission || client.auth_user.is_some() {
        let (has_id, has_date) = header_presence(&msg.body);
        if !has_id {
            head.push_str(&format!("Message-ID: <{id}@{}>\r\n", cfg.hostname));
        }
        if !has_date {
            head.push_str(&format!("Date: {date}\r\n"));
        }
    }
    let tmp = spool.root().join("tmp");
    let io = |source| spool::Error::Io {
        path: tmp.clone(),
        source,
    };
    draft.write_all(head.as_bytes()).map_err(io)?;
    draft.write_all(&msg.body).map_err(io)?;
    let recipients: Vec<Recipient> = msg
        .recipients
        .iter()
        .map(|r| Recipient::new(&super::policy::canonical_recipient(cfg, r)))
        .collect();
    let (dsn_notify, dsn_orcpt) = dsn_maps(&recipients, msg);
    let mut env = Envelope {
        sender: msg.sender.clone(),
        recipients,
        client_ip: Some(client.ip.to_string()),
        client_helo: Some(client.helo.to_string()),
        auth_user: client.auth_user.map(str::to_string),
        received_at: now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        eight_bit: msg.eight_bit || !msg.body.is_ascii(),
        smtputf8: msg.smtputf8,
        ret: msg.ret.map(|r| r.as_str().to_string()),
        envid: msg.envid.clone(),
        dsn_notify,
        dsn_orcpt,
        hold_until: msg.hold_until,
        next_attempt: msg.hold_until,
        require_tls: msg.require_tls,
        dnsbl_hits: client.dnsbl_hits.to_vec(),
        dnswl_hits: client.dnswl_hits.to_vec(),
        allowlisted: client.allowlisted,
        ..Envelope::default()
    };
    let owner = scheduled_owner(cfg, client, msg);
    if let Some(owner) = owner {
        env.scheduled_copy = scheduled_copy(cfg, owner, &id, &head, &msg.body);
    }
    let id = match draft.commit(Stage::Incoming, &env) {
        Ok(id) => id,
        Err(e) => {
            if let (Some(owner), Some(base)) = (owner, &env.scheduled_copy) {
                if let Err(e) = crate::scheduled::remove(cfg, owner, base) {
                    crate::mlog!("{id}: scheduled copy {base} not removed: {e}");
                }
            }
            return Err(e);
        }
    };
    if env.hold_until != 0 {
        let until = crate::smtp::release::rfc3339(env.hold_until);
        crate::mlog!("{id}: held until {until} (FUTURERELEASE)");
    }
    Ok(id)
}

/// The authenticated user whose `.Scheduled` folder gets a copy of a held message.
fn scheduled_owner<'a>(cfg: &Config, client: &Client<'a>, msg: &Message) -> Option<&'a str> {
    let user = client.auth_user?;
    let domain = user.rsplit_once('@').map_or("", |(_, d)| d);
    (msg.hold_until != 0 && cfg.is_local_domain(domain)).then_some(user)
}

/// Stores the copy; its unique name, or `None` (logged) when it could not be written.
fn scheduled_copy(cfg: &Config, owner: &str, id: &str, head: &str, body: &[u8]) -> Option<String> {
    let mut message = Vec::with_capacity(head.len() + body.len());
    message.extend_from_slice(head.as_bytes());
    message.extend_from_slice(body);
    match crate::scheduled::store_copy(cfg, owner, &message) {
        Ok(base) => {
            crate::mlog!("{id}: scheduled copy {base} for {owner}");
            Some(base)
        }
        Err(e) => {
            crate::mlog!("{id}: scheduled copy for {owner} not written, not recallable: {e}");
            None
        }
    }
}

/// NOTIFY and ORCPT keyed by the recorded recipient address (see `Envelope::dsn_notify`).
fn dsn_maps(
    recipients: &[Recipient],
    msg: &Message,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let (mut notify, mut orcpt) = (BTreeMap::new(), BTreeMap::new());
    for (r, d) in recipients.iter().zip(&msg.recipient_dsn) {
        if let Some(n) = d.notify {
            notify.insert(r.address.clone(), n.to_string());
        }
        if let Some(o) = &d.orcpt {
            orcpt.insert(r.address.clone(), o.clone());
        }
    }
    (notify, orcpt)
}

/// RFC 3848 / RFC 6531 `with` keyword.
fn protocol(client: &Client<'_>, smtputf8: bool) -> String {
    if !client.esmtp {
        return "SMTP".into();
    }
    let base = if smtputf8 { "UTF8SMTP" } else { "ESMTP" };
    let s = if client.tls.is_some() { "S" } else { "" };
    let a = if client.auth_user.is_some() { "A" } else { "" };
    format!("{base}{s}{a}")
}

fn received(cfg: &Config, client: &Client<'_>, msg: &Message, id: &str, date: &str) -> String {
    let mut h = format!("Received: from {} ([{}])\r\n", client.helo, client.ip);
    if let Some(tls) = client.tls {
        h.push_str(&format!("\t(using {tls})\r\n"));
    }
    h.push_str(&format!(
        "\tby {} with {} id {id}",
        cfg.hostname,
        protocol(client, msg.smtputf8)
    ));
    if let [only] = msg.recipients.as_slice() {
        h.push_str(&format!("\r\n\tfor <{only}>"));
    }
    h.push_str(&format!("; {date}\r\n"));
    h
}

/// Whether the header block has Message-ID and Date fields.
fn header_presence(body: &[u8]) -> (bool, bool) {
    let (mut id, mut date) = (false, false);
    for line in body.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        id |= lower.starts_with(b"message-id:");
        date |= lower.starts_with(b"date:");
    }
    (id, date)
}

/// `Sat, 28 Nov 2026 03:54:10 +0000` (RFC 5322 3.3, in UTC).
pub fn rfc5322_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let (y, m, d) = crate::date::civil_from_days(days);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    format!(
        "{}, {d} {} {y} {:02}:{:02}:{:02} +0000",
        WD[(days.rem_euclid(7)) as usize],
        crate::date::MONTHS[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::dsn::{Notify, Ret};
    use crate::smtp::session::RcptDsn;
    use std::path::Path;
    use std::time::Duration;

    #[test]
    fn dates() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(rfc5322_date(t), "Tue, 14 Nov 2023 22:13:20 +0000");
        assert_eq!(rfc5322_date(UNIX_EPOCH), "Thu, 1 Jan 1970 00:00:00 +0000");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc5322_date(leap), "Tue, 29 Feb 2000 00:00:00 +0000");
    }

    #[test]
    fn header_checks_stop_at_body() {
        assert_eq!(
            header_presence(b"Date: x\r\nMessage-Id: <a@b>\r\n\r\n"),
            (true, true)
        );
        assert_eq!(
            header_presence(b"Subject: x\r\n\r\nDate: y\r\n"),
            (false, false)
        );
    }

    fn cfg(dir: &Path) -> Config {
        let text = format!(
            "hostname = \"mx.example.test\"\nspool_dir = \"{}\"\nmail_root = \"m\"\nusers_file = \"u\"\n[domains.\"example.test\"]\n",
            dir.join("spool").display()
        );
        Config::parse(&dir.join("mail.toml"), &text).unwrap()
    }

    #[test]
    fn commits_with_headers_and_envelope() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = cfg(dir.path());
        let client = Client {
            ip: "192.0.2.7",
            helo: "client.test",
            esmtp: true,
            tls: Some("TLSv1_3 with cipher X"),
            auth_user: Some("demo@example.test"),
            submission: true,
            dnsbl_hits: &[],
            dnswl_hits: &[],
            allowlisted: false,
        };
        let msg = Message {
            sender: "demo@example.test".into(),
            recipients: vec!["postmaster".into()],
            body: b"Subject: hi\r\n\r\nbody\r\n".to_vec(),
            eight_bit: false,
            smtputf8: false,
            recipient_dsn: vec![RcptDsn {
                notify: Some(Notify::parse("SUCCESS,DELAY").unwrap()),
                orcpt: Some("rfc822;Postmaster@example.test".into()),
            }],
            ret: Some(Ret::Hdrs),
            envid: Some("env 1".into()),
            hold_until: 2_000_000_000,
            require_tls: true,
        };
        let id = enqueue(&cfg, &client, &msg, SystemTime::now()).unwrap();
        let spool = Spool::open(&cfg.spool_dir).unwrap();
        let env = spool.read_envelope(Stage::Incoming, &id).unwrap();
        assert_eq!(env.recipients[0].address, "postmaster@example.test");
        assert_eq!(env.auth_user.as_deref(), Some("demo@example.test"));
        let key = "postmaster@example.test";
        assert_eq!(env.dsn_notify[key], "SUCCESS,DELAY");
        assert_eq!(env.dsn_orcpt[key], "rfc822;Postmaster@example.test");
        assert_eq!(env.ret.as_deref(), Some("HDRS"));
        assert_eq!(env.envid.as_deref(), Some("env 1"));
        assert_eq!(
            (env.hold_until, env.next_attempt),
            (2_000_000_000, 2_000_000_000)
        );
        assert!(env.require_tls);
        // Held and authenticated: a copy in the user's .Scheduled, named in the envelope.
        let base = env.scheduled_copy.as_deref().expect("scheduled copy");
        let copy = crate::scheduled::find(&cfg, "demo@example.test", base).unwrap();
        let copy = std::fs::read_to_string(copy.expect("copy present")).unwrap();
        assert!(copy.starts_with("Received: from client.test ([192.0.2.7])\n"));
        assert!(copy.ends_with("Subject: hi\n\nbody\n"), "{copy}");
        let text = String::from_utf8(spool.read_message(Stage::Incoming, &id).unwrap()).unwrap();
        assert!(
            text.starts_with("Received: from client.test ([192.0.2.7])\r\n"),
            "{text}"
        );
        assert!(
            text.contains(&format!("with ESMTPSA id {id}\r\n\tfor <postmaster>;")),
            "{text}"
        );
        assert!(text.contains(&format!("Message-ID: <{id}@mx.example.test>\r\n")));
        assert!(text.contains("\r\nDate: "));
        assert!(text.ends_with("Subject: hi\r\n\r\nbody\r\n"));
    }
}
