//! smtpd policy: which recipients a client may use (local ones always, remote ones only when
//! authenticated: never an open relay) and which senders an authenticated user may claim
//! (their own address, with or without a `+tag`, or an address the directory maps to them).
//! Pure decisions over the directory and config; answers are replies from `smtp::reply`.

use crate::config::Config;
use crate::directory::{Directory, Lookup};
use crate::smtp::reply::{self, Reply};

/// `postmaster` without a domain (RFC 5321 4.5.1) means the postmaster of our first domain.
pub fn canonical_recipient(cfg: &Config, addr: &str) -> String {
    if addr.contains('@') {
        return addr.to_string();
    }
    let domain = cfg
        .domains
        .keys()
        .next()
        .cloned()
        .unwrap_or_else(|| cfg.hostname.clone());
    format!("{addr}@{domain}")
}

/// RCPT TO: accept local users and aliases; refuse unknown local parts; relay only for
/// authenticated clients. `dir` is `None` when the directory could not be loaded.
pub fn recipient(
    cfg: &Config,
    dir: Option<&Directory>,
    addr: &str,
    authenticated: bool,
) -> Result<(), Reply> {
    let Some(dir) = dir else {
        return Err(reply::lookup_failed());
    };
    match dir.lookup(cfg, &canonical_recipient(cfg, addr)) {
        Lookup::Local(_) | Lookup::Alias => Ok(()),
        Lookup::Unknown => Err(reply::unknown_user(addr)),
        Lookup::Remote if authenticated => Ok(()),
        Lookup::Remote => Err(reply::relay_denied(addr)),
    }
}

/// MAIL FROM: unauthenticated clients may use any sender (checking it is spam-scan's job);
/// an authenticated user only their own addresses or the null sender.
pub fn sender(
    cfg: &Config,
    dir: Option<&Directory>,
    auth_user: Option<&str>,
    sender: &str,
) -> Result<(), Reply> {
    match auth_user {
        None => Ok(()),
        Some(_) if sender.is_empty() => Ok(()),
        Some(user) if owns(cfg, dir, user, sender) => Ok(()),
        Some(_) => Err(reply::sender_not_owned(sender)),
    }
}

fn owns(cfg: &Config, dir: Option<&Directory>, user: &str, sender: &str) -> bool {
    let same = |a: &str, b: &str| a.to_lowercase() == b.to_lowercase();
    if same(user, sender) || same(user, &strip_tag(cfg, sender)) {
        return true;
    }
    match dir.map(|d| d.lookup(cfg, sender)) {
        Some(Lookup::Local(canonical)) => same(&canonical, user),
        _ => false,
    }
}

/// `user+tag@domain` → `user@domain` (with the configured delimiter).
fn strip_tag(cfg: &Config, addr: &str) -> String {
    let (Some(delim), Some((local, domain))) = (cfg.recipient_delimiter, addr.rsplit_once('@'))
    else {
        return addr.to_string();
    };
    match local.split_once(delim) {
        Some((base, _)) if !base.is_empty() => format!("{base}@{domain}"),
        _ => addr.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg() -> Config {
        let text = r#"
hostname = "mx.example.test"
spool_dir = "spool"
mail_root = "mail"
users_file = "users"
recipient_delimiter = "+"
[domains."example.test"]
"#;
        Config::parse(Path::new("/x/mail.toml"), text).unwrap()
    }

    #[test]
    fn sender_ownership() {
        let c = cfg();
        let d = Directory::default();
        let u = Some("demo@example.test");
        assert!(sender(&c, Some(&d), None, "anyone@else.test").is_ok());
        assert!(sender(&c, Some(&d), u, "").is_ok());
        assert!(sender(&c, Some(&d), u, "Demo@Example.TEST").is_ok());
        assert!(sender(&c, Some(&d), u, "demo+lists@example.test").is_ok());
        let e = sender(&c, Some(&d), u, "boss@example.test").unwrap_err();
        assert_eq!(e.code, 553);
        assert!(sender(&c, Some(&d), u, "+demo@example.test").is_err());
    }

    #[test]
    fn recipients_without_directory_are_deferred() {
        let c = cfg();
        assert_eq!(
            recipient(&c, None, "a@example.test", false)
                .unwrap_err()
                .code,
            451
        );
        assert_eq!(
            canonical_recipient(&c, "postmaster"),
            "postmaster@example.test"
        );
    }
}
