//! DKIM signing (RFC 6376, RFC 8463) of outbound mail from our domains, with mail-auth.
//!
//! Owns: the key directory `[dkim] key_dir` (files `<domain>.<selector>.key`, see `keys`)
//! and the `DKIM-Signature` header a sender prepends. `Signer::sign` picks the key by the
//! domain of the message's first `From:` address; a domain is "ours" for signing exactly when
//! the admin put a key for it in the directory (`mailctl dkim keygen`). Canonicalization is
//! relaxed/relaxed; the signed headers are `[dkim] sign_headers` present in the message.
//! The directory is re-read when its modification time changes, so a new key signs without
//! a restart.
//!
//! Leaves alone: verification (spam-scan's job), DNS publication (the admin's).
//! Failures: an unreadable key is logged once per reload and that domain goes unsigned;
//! `sign` never fails a delivery, it returns `None` (unsigned mail still goes out).

pub mod keys;

use crate::config::Config;
use crate::mlog;
use keys::Key;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Canonicalization, DkimSigner, Done};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// A ready signer for one domain.
enum DomainSigner {
    Rsa(Box<DkimSigner<RsaKey<Sha256>, Done>>),
    Ed25519(Box<DkimSigner<Ed25519Key, Done>>),
}

/// The keys found in the directory at one modification time.
#[derive(Default)]
struct Loaded {
    stamp: Option<SystemTime>,
    signers: BTreeMap<String, Arc<DomainSigner>>,
}

/// Signs outbound messages for every domain with a key. Cheap to share between threads.
pub struct Signer {
    dir: PathBuf,
    headers: Vec<String>,
    selectors: BTreeMap<String, String>,
    loaded: Mutex<Loaded>,
}

impl Signer {
    /// Reads the key directory (missing is fine: nothing is signed until a key appears).
    /// Fails only when the directory exists but cannot be listed.
    pub fn load(cfg: &Config) -> Result<Signer, String> {
        let signer = Signer {
            dir: cfg.dkim.key_dir.clone(),
            headers: cfg.dkim.sign_headers.clone(),
            selectors: cfg.dkim.selectors.clone(),
            loaded: Mutex::new(Loaded::default()),
        };
        let fresh = signer.read_dir()?;
        if let Ok(mut g) = signer.loaded.lock() {
            *g = fresh;
        }
        Ok(signer)
    }

    /// Domains that currently have a signing key, lower case.
    pub fn domains(&self) -> Vec<String> {
        self.refresh();
        self.loaded
            .lock()
            .map(|g| g.signers.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// A complete `DKIM-Signature: ...\r\n` header to prepend to `message`, or `None` when
    /// the From: domain has no key (or the message has no usable From:).
    pub fn sign(&self, message: &[u8]) -> Option<String> {
        let domain = from_domain(message)?;
        self.refresh();
        // Cloned out so that workers sign in parallel, not under the lock.
        let signer = self.loaded.lock().ok()?.signers.get(&domain)?.clone();
        let result = match signer.as_ref() {
            DomainSigner::Rsa(s) => s.sign(message),
            DomainSigner::Ed25519(s) => s.sign(message),
        };
        match result {
            Ok(sig) => Some(sig.to_header()),
            Err(e) => {
                mlog!("dkim: cannot sign for {domain}: {e}");
                None
            }
        }
    }

    /// Re-reads the directory when its modification time changed.
    fn refresh(&self) {
        let stamp = dir_stamp(&self.dir);
        let current = self.loaded.lock().map(|g| g.stamp).unwrap_or(None);
        if stamp == current {
            return;
        }
        match self.read_dir() {
            Ok(fresh) => {
                if let Ok(mut g) = self.loaded.lock() {
                    *g = fresh;
                }
            }
            Err(e) => mlog!("dkim: keeping old keys: {e}"),
        }
    }

    fn read_dir(&self) -> Result<Loaded, String> {
        let stamp = dir_stamp(&self.dir);
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Loaded::default()),
            Err(e) => return Err(format!("{}: {e}", self.dir.display())),
        };
        // domain → selectors present, sorted.
        let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for e in entries.flatten() {
            let name = e.file_name();
            if let Some((d, s)) = name.to_str().and_then(keys::parse_file_name) {
                found.entry(d).or_default().push(s);
            }
        }
        let mut signers = BTreeMap::new();
        for (domain, mut sels) in found {
            sels.sort();
            let selector = self.pick_selector(&domain, &sels);
            let path = keys::key_path(&self.dir, &domain, &selector);
            match keys::load(&path) {
                Ok(key) => {
                    let signer = Arc::new(self.build(key, &domain, &selector));
                    signers.insert(domain.clone(), signer);
                }
                Err(e) => mlog!("dkim: {domain} unsigned: {e}"),
            }
        }
        Ok(Loaded { stamp, signers })
    }

    /// The configured selector if its key exists, else the default-named one, else the last
    /// in sort order (logged, so the admin can pin one with `[dkim.selectors]`).
    fn pick_selector(&self, domain: &str, present: &[String]) -> String {
        if let Some(s) = self.selectors.get(domain) {
            if present.contains(s) {
                return s.clone();
            }
            mlog!("dkim: {domain}: configured selector {s} has no key file");
        }
        if present.len() > 1 {
            mlog!(
                "dkim: {domain} has keys {present:?}; signing with the last (set [dkim.selectors])"
            );
        }
        present.last().cloned().unwrap_or_default()
    }

    fn build(&self, key: Key, domain: &str, selector: &str) -> DomainSigner {
        let h = self.headers.clone();
        let relaxed = Canonicalization::Relaxed;
        match key {
            Key::Rsa(k) => DomainSigner::Rsa(Box::new(
                DkimSigner::from_key(k)
                    .domain(domain)
                    .selector(selector)
                    .headers(h)
                    .header_canonicalization(relaxed)
                    .body_canonicalization(relaxed),
            )),
            Key::Ed25519(k) => DomainSigner::Ed25519(Box::new(
                DkimSigner::from_key(k)
                    .domain(domain)
                    .selector(selector)
                    .headers(h)
                    .header_canonicalization(relaxed)
                    .body_canonicalization(relaxed),
            )),
        }
    }
}

fn dir_stamp(dir: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(dir).and_then(|m| m.modified()).ok()
}

/// The domain of the first From: address, lower case, IDNs as A-labels (key files and
/// `d=` use that form), if any.
pub fn from_domain(message: &[u8]) -> Option<String> {
    let parsed = mail_parser::MessageParser::default().parse_headers(message)?;
    let addr = parsed.from()?.first()?.address()?;
    let (_, domain) = addr.rsplit_once('@')?;
    ascii_domain(domain)
}

/// `Bücher.Example.` → `xn--bcher-kva.example`; `None` for what cannot be a domain.
pub fn ascii_domain(domain: &str) -> Option<String> {
    let d = domain.trim().trim_end_matches('.');
    let name = hickory_resolver::proto::rr::Name::from_utf8(d).ok()?;
    let ascii = name.to_ascii().trim_end_matches('.').to_ascii_lowercase();
    (!ascii.is_empty()).then_some(ascii)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_domain_takes_the_first_address() {
        let m = b"From: \"A\" <a@Example.COM>, b@other.test\r\nTo: x@y\r\n\r\nbody\r\n";
        assert_eq!(from_domain(m).as_deref(), Some("example.com"));
        assert_eq!(from_domain(b"To: x@y\r\n\r\nbody\r\n"), None);
        assert_eq!(from_domain(b"From: nobody\r\n\r\n"), None);
        let idn = "From: x@B\u{fc}cher.Example\r\n\r\n".as_bytes();
        assert_eq!(from_domain(idn).as_deref(), Some("xn--bcher-kva.example"));
    }

    #[test]
    fn signer_is_shared_between_workers() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Signer>();
    }
}
