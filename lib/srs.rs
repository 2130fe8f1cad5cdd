//! SRS (Sender Rewriting Scheme, the libsrs2/postsrsd `SRS0` form): when we forward a
//! message to another domain, its envelope sender becomes an address of ours, so SPF still
//! passes at the next hop, and a bounce sent to it comes back to us and is turned back into
//! the original sender.
//!
//! `SRS0=HHHH=TT=domain=local@our-domain`: `TT` is the day (two base32 characters, days since
//! the epoch modulo 1024), `HHHH` the first four base64 characters of HMAC-SHA1(secret,
//! `TT` + `domain` + `local`, lower-cased). A reversed address older than `MAX_AGE_DAYS` or
//! with a wrong hash is refused. The hash is compared case-insensitively, as libsrs2 does,
//! because some MTAs lower-case local parts.
//!
//! Owns the secret file (`srs.secret` beside the config, 32 random bytes in hex, created once
//! with O_EXCL and never rewritten). Does no other I/O. `SRS1` (re-forwarding an SRS0
//! address of another forwarder) is not produced: such a sender is wrapped as a new SRS0.
//! Errors: `load*` return `io::Error`; `reverse` returns a `Refused` reason.

use base64::Engine;
use ring::hmac;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A reversed address older than this many days is refused (libsrs2's default).
pub const MAX_AGE_DAYS: u64 = 21;
/// File name of the secret, beside the config file.
pub const SECRET_FILE: &str = "srs.secret";

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const HASH_LEN: usize = 4;

/// Why an SRS address cannot be reversed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("not an SRS0 address")]
    NotSrs,
    #[error("malformed SRS0 address")]
    Malformed,
    #[error("SRS hash does not match")]
    BadHash,
    #[error("SRS address expired")]
    Expired,
}

/// The rewriting key.
#[derive(Clone)]
pub struct Srs {
    key: hmac::Key,
}

impl std::fmt::Debug for Srs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Srs(<secret>)")
    }
}

/// Where the secret lives for the config file `config`.
pub fn secret_path(config: &Path) -> PathBuf {
    config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(SECRET_FILE)
}

/// True when `local` (a local part) has the SRS0 form and may be reversed.
pub fn is_srs0(local: &str) -> bool {
    local.len() > 5 && local[..5].eq_ignore_ascii_case("SRS0=")
}

impl Srs {
    pub fn new(secret: &[u8]) -> Srs {
        Srs {
            key: hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret),
        }
    }

    /// Reads the secret file; `Ok(None)` when it does not exist yet.
    pub fn load(path: &Path) -> io::Result<Option<Srs>> {
        match std::fs::read_to_string(path) {
            Ok(t) => {
                let secret = t.trim();
                if secret.len() < 16 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: secret too short", path.display()),
                    ));
                }
                Ok(Some(Srs::new(secret.as_bytes())))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads the secret, creating it first when missing (race-free: O_EXCL on a temporary
    /// name, then a hard link that fails if another process won).
    pub fn load_or_create(path: &Path) -> io::Result<Srs> {
        if let Some(s) = Srs::load(path)? {
            return Ok(s);
        }
        let bytes: [u8; 32] = rand::random();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o640)
            .open(&tmp)?;
        f.write_all(format!("{hex}\n").as_bytes())
            .and_then(|_| f.sync_all())?;
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        Srs::load(path)?.ok_or_else(|| io::Error::other("secret vanished"))
    }

    /// Rewrites `sender` (`local@domain`) into an SRS0 address at `our_domain`, stamped with
    /// the day of `now` (Unix seconds). The null sender and senders without `@` are returned
    /// unchanged (nothing to bounce to / nothing to protect).
    pub fn forward(&self, sender: &str, our_domain: &str, now: u64) -> String {
        let Some((local, domain)) = sender.rsplit_once('@') else {
            return sender.to_string();
        };
        if local.is_empty() || domain.eq_ignore_ascii_case(our_domain) {
            return sender.to_string();
        }
        let tt = timestamp(now);
        let hash = self.hash(&tt, domain, local);
        format!("SRS0={hash}={tt}={domain}={local}@{our_domain}")
    }

    /// The original sender of an SRS0 address (`SRS0=…@our-domain`), checked at `now`.
    pub fn reverse(&self, address: &str, now: u64) -> Result<String, Refused> {
        let local = address.rsplit_once('@').map_or(address, |(l, _)| l);
        if !is_srs0(local) {
            return Err(Refused::NotSrs);
        }
        // The original local part may itself hold '=', so split only the first fields.
        let mut parts = local[5..].splitn(4, '=');
        let (Some(hash), Some(tt), Some(domain), Some(orig)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Refused::Malformed);
        };
        if hash.len() != HASH_LEN || tt.len() != 2 || domain.is_empty() || orig.is_empty() {
            return Err(Refused::Malformed);
        }
        let day = decode_timestamp(tt).ok_or(Refused::Malformed)?;
        if !self.hash(tt, domain, orig).eq_ignore_ascii_case(hash) {
            return Err(Refused::BadHash);
        }
        let today = (now / 86_400) % 1024;
        if (today + 1024 - day) % 1024 > MAX_AGE_DAYS {
            return Err(Refused::Expired);
        }
        Ok(format!("{orig}@{domain}"))
    }

    fn hash(&self, tt: &str, domain: &str, local: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(tt.to_ascii_uppercase().as_bytes());
        ctx.update(domain.to_lowercase().as_bytes());
        ctx.update(local.to_lowercase().as_bytes());
        let tag = ctx.sign();
        let b64 = base64::engine::general_purpose::STANDARD.encode(tag.as_ref());
        b64[..HASH_LEN].to_string()
    }
}

/// Two base32 characters: days since the epoch, modulo 1024.
fn timestamp(now: u64) -> String {
    let day = (now / 86_400) % 1024;
    let hi = BASE32[(day >> 5) as usize] as char;
    let lo = BASE32[(day & 31) as usize] as char;
    format!("{hi}{lo}")
}

fn decode_timestamp(tt: &str) -> Option<u64> {
    let val = |c: u8| {
        BASE32
            .iter()
            .position(|&b| b == c.to_ascii_uppercase())
            .map(|p| p as u64)
    };
    let b = tt.as_bytes();
    Some(val(b[0])? << 5 | val(b[1])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_795_000_000;

    #[test]
    fn round_trip() {
        let s = Srs::new(b"0123456789abcdef0123");
        let a = s.forward("Alice=x@Remote.Test", "example.test", NOW);
        assert!(a.starts_with("SRS0="), "{a}");
        assert!(a.ends_with("=Remote.Test=Alice=x@example.test"), "{a}");
        assert_eq!(s.reverse(&a, NOW).unwrap(), "Alice=x@Remote.Test");
        // Lower-cased by some MTA on the way back: still accepted.
        assert_eq!(
            s.reverse(&a.to_lowercase(), NOW).unwrap(),
            "alice=x@remote.test"
        );
    }

    #[test]
    fn refuses_bad_hash_expired_and_malformed() {
        let s = Srs::new(b"0123456789abcdef0123");
        let a = s.forward("alice@remote.test", "example.test", NOW);
        let other = Srs::new(b"another secret, long enough");
        assert_eq!(other.reverse(&a, NOW), Err(Refused::BadHash));
        assert_eq!(
            s.reverse(&a, NOW + (MAX_AGE_DAYS + 1) * 86_400),
            Err(Refused::Expired)
        );
        assert!(s.reverse(&a, NOW + MAX_AGE_DAYS * 86_400).is_ok());
        assert_eq!(s.reverse("bob@example.test", NOW), Err(Refused::NotSrs));
        for bad in ["SRS0=abc@x", "SRS0=abcd=A=d=l@x", "SRS0=abcd=11=d=l@x"] {
            assert_eq!(s.reverse(bad, NOW), Err(Refused::Malformed), "{bad}");
        }
    }

    #[test]
    fn leaves_null_and_own_senders_alone() {
        let s = Srs::new(b"0123456789abcdef0123");
        assert_eq!(s.forward("", "example.test", NOW), "");
        assert_eq!(
            s.forward("me@example.test", "example.test", NOW),
            "me@example.test"
        );
    }

    #[test]
    fn timestamp_wraps() {
        assert_eq!(
            decode_timestamp(&timestamp(NOW)),
            Some((NOW / 86_400) % 1024)
        );
        assert_eq!(timestamp(0), "AA");
    }

    #[test]
    fn secret_created_once() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(SECRET_FILE);
        let a = Srs::load_or_create(&p).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let b = Srs::load_or_create(&p).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), text);
        let addr = a.forward("x@r.test", "e.test", NOW);
        assert!(b.reverse(&addr, NOW).is_ok());
    }
}
