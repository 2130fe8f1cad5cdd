//! DKIM key files: naming (`<key_dir>/<domain>.<selector>.key`), generation (RSA 2048 via
//! mail-auth, Ed25519 via ring), PEM encoding, safe writing (mode 0600, never over an existing
//! key unless forced) and the DNS TXT record for a key's public half.
//!
//! Private keys are PEM: Ed25519 as PKCS#8 (`PRIVATE KEY`), RSA as PKCS#1 (`RSA PRIVATE KEY`,
//! what mail-auth generates); both forms, and PKCS#8 RSA (`openssl genpkey`), are read back.
//! The published RSA key is a SubjectPublicKeyInfo (what OpenDKIM and most verifiers expect).
//! Errors are one-line strings naming the file.

use base64::Engine;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::dkim::generate::DkimKeyPair;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Signing algorithm of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Rsa,
    Ed25519,
}

impl Algorithm {
    /// `rsa` or `ed25519`, as in the record's `k=` tag.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Rsa => "rsa",
            Algorithm::Ed25519 => "ed25519",
        }
    }

    pub fn parse(s: &str) -> Option<Algorithm> {
        match s.to_ascii_lowercase().as_str() {
            "rsa" | "rsa-sha256" => Some(Algorithm::Rsa),
            "ed25519" | "ed25519-sha256" => Some(Algorithm::Ed25519),
            _ => None,
        }
    }
}

/// A loaded private key.
pub enum Key {
    Rsa(RsaKey<Sha256>),
    Ed25519(Ed25519Key),
}

impl Key {
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Key::Rsa(_) => Algorithm::Rsa,
            Key::Ed25519(_) => Algorithm::Ed25519,
        }
    }

    /// The `p=` value: base64 of the SPKI (RSA) or the raw 32-byte key (Ed25519, RFC 8463).
    pub fn public_b64(&self) -> String {
        let der = match self {
            Key::Rsa(k) => rsa_spki(&k.public_key()),
            Key::Ed25519(k) => k.public_key(),
        };
        base64::engine::general_purpose::STANDARD.encode(der)
    }

    /// The TXT record value, `v=DKIM1; k=rsa; p=...`.
    pub fn record(&self) -> String {
        format!(
            "v=DKIM1; k={}; p={}",
            self.algorithm().name(),
            self.public_b64()
        )
    }
}

/// `<dir>/<domain>.<selector>.key`.
pub fn key_path(dir: &Path, domain: &str, selector: &str) -> PathBuf {
    dir.join(format!("{}.{selector}.key", domain.to_ascii_lowercase()))
}

/// Splits a key file name into (domain, selector); `None` for anything else.
pub fn parse_file_name(name: &str) -> Option<(String, String)> {
    let stem = name.strip_suffix(".key")?;
    let (domain, selector) = stem.rsplit_once('.')?;
    if domain.is_empty() || !crate::config::dkim::valid_selector(selector) {
        return None;
    }
    Some((domain.to_ascii_lowercase(), selector.to_string()))
}

/// A new private key as PEM text.
pub fn generate(alg: Algorithm) -> Result<String, String> {
    let (label, der) = match alg {
        Algorithm::Rsa => {
            let pair = DkimKeyPair::generate_rsa(2048).map_err(|e| format!("RSA keygen: {e}"))?;
            ("RSA PRIVATE KEY", pair.private_key().to_vec())
        }
        Algorithm::Ed25519 => {
            let der = Ed25519Key::generate_pkcs8().map_err(|e| format!("Ed25519 keygen: {e}"))?;
            ("PRIVATE KEY", der)
        }
    };
    Ok(pem(label, &der))
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Parses a PEM private key (PKCS#1 RSA, PKCS#8 RSA or Ed25519).
pub fn parse(pem_text: &str) -> Result<Key, String> {
    let mut reader = pem_text.as_bytes();
    let der = rustls_pemfile::private_key(&mut reader)
        .map_err(|e| format!("bad PEM: {e}"))?
        .ok_or("no private key in PEM")?;
    match der {
        PrivateKeyDer::Pkcs1(k) => rsa(PrivateKeyDer::Pkcs1(k)),
        PrivateKeyDer::Pkcs8(k) => {
            match Ed25519Key::from_pkcs8_maybe_unchecked_der(k.secret_pkcs8_der()) {
                Ok(ed) => Ok(Key::Ed25519(ed)),
                Err(_) => rsa(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                    k.secret_pkcs8_der().to_vec(),
                ))),
            }
        }
        _ => Err("unsupported key type (need RSA or Ed25519)".into()),
    }
}

fn rsa(der: PrivateKeyDer<'_>) -> Result<Key, String> {
    RsaKey::<Sha256>::from_key_der(der)
        .map(Key::Rsa)
        .map_err(|e| format!("bad RSA key: {e}"))
}

/// Reads and parses a key file.
pub fn load(path: &Path) -> Result<Key, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes a key with mode 0600. Without `force` an existing file is an error; with it the
/// file is replaced atomically (temporary file, fsync, rename).
pub fn write(path: &Path, pem_text: &str, force: bool) -> Result<(), String> {
    let shown = |e: std::io::Error| format!("{}: {e}", path.display());
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(shown)?;
    }
    let target = if force {
        path.with_extension("key.new")
    } else {
        path.to_path_buf()
    };
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(!force)
        .create(force)
        .truncate(force)
        .mode(0o600)
        .open(&target)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => format!(
                "{} exists; use --force to replace it (the DNS record must change too)",
                path.display()
            ),
            _ => shown(e),
        })?;
    f.write_all(pem_text.as_bytes()).map_err(shown)?;
    f.sync_all().map_err(shown)?;
    if force {
        fs::rename(&target, path).map_err(shown)?;
    }
    Ok(())
}

/// Wraps a PKCS#1 RSAPublicKey into a SubjectPublicKeyInfo (rsaEncryption, NULL params).
/// Hand-written: ring gives only PKCS#1 and this is three fixed DER headers.
fn rsa_spki(pkcs1: &[u8]) -> Vec<u8> {
    const ALG: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bits = vec![0u8];
    bits.extend_from_slice(pkcs1);
    let bit_string = der(0x03, &bits);
    let mut body = ALG.to_vec();
    body.extend_from_slice(&bit_string);
    der(0x30, &body)
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip() {
        let p = key_path(Path::new("/k"), "Example.COM", "mail");
        assert_eq!(p, Path::new("/k/example.com.mail.key"));
        assert_eq!(
            parse_file_name("example.com.mail.key"),
            Some(("example.com".into(), "mail".into()))
        );
        assert_eq!(parse_file_name("example.com.key.new"), None);
        assert_eq!(parse_file_name("mail.key"), None);
        assert_eq!(parse_file_name("x.y.b@d.key"), None);
    }

    #[test]
    fn generated_keys_parse_back() {
        for alg in [Algorithm::Ed25519, Algorithm::Rsa] {
            let pem_text = generate(alg).unwrap();
            let key = parse(&pem_text).unwrap();
            assert_eq!(key.algorithm(), alg);
            let rec = key.record();
            assert!(rec.starts_with(&format!("v=DKIM1; k={}; p=", alg.name())));
        }
    }

    #[test]
    fn rsa_record_is_spki() {
        let key = parse(&generate(Algorithm::Rsa).unwrap()).unwrap();
        let der = base64::engine::general_purpose::STANDARD
            .decode(key.public_b64())
            .unwrap();
        // SEQUENCE (long length) then the rsaEncryption AlgorithmIdentifier.
        assert_eq!(&der[..2], &[0x30, 0x82]);
        assert_eq!(&der[4..8], &[0x30, 0x0d, 0x06, 0x09]);
    }

    #[test]
    fn write_refuses_to_overwrite_without_force() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/example.com.mail.key");
        write(&p, "one", false).unwrap();
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(write(&p, "two", false).unwrap_err().contains("--force"));
        write(&p, "three", true).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "three");
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse("not a key").is_err());
    }
}
