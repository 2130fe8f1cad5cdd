//! Password hashes in the schemes Dovecot's passwd-file uses: making `{SHA512-CRYPT}`
//! hashes, and checking `{SHA512-CRYPT}`, `{SHA256-CRYPT}`, `{CRYPT}` or none (`$6$`/`$5$`),
//! and `{PLAIN}`/`{CLEARTEXT}`. Comparisons run in constant time; an unknown scheme or a
//! locked (empty) hash still costs one SHA512-CRYPT. Never logs, never fails: a hash it
//! cannot read verifies nothing.

/// A valid SHA512-CRYPT hash (from glibc crypt(3)), checked for unknown users.
pub const DUMMY_HASH: &str = "$6$mzYqBqbKLc3NV7b3$1JmgwJxIU3UDjptmSUhQdB.NVAzS4XN6gHz1MYzVS7KTa2b2zDuFAAo7CsFliE5Rqyp4A0IvrgUVyPcIPYjzN1";

/// Hashes a password for storage: `{SHA512-CRYPT}$6$salt$hash` (5000 rounds, Dovecot's
/// default, so the rounds field is omitted).
pub fn hash_password(password: &str) -> String {
    let params = sha_crypt::Sha512Params::default();
    match sha_crypt::sha512_simple(password, &params) {
        Ok(h) => format!("{{SHA512-CRYPT}}{h}"),
        // Only fails on a bad rounds value or a non-UTF-8 salt, neither possible here;
        // an empty hash verifies nothing, so failure locks the account rather than opening it.
        Err(_) => String::new(),
    }
}

/// Checks `password` against one stored value (`{SCHEME}data` or a bare crypt string).
pub fn verify_hash(stored: &str, password: &str) -> bool {
    let (scheme, data) = split_scheme(stored);
    match scheme.as_str() {
        "SHA512-CRYPT" | "SHA256-CRYPT" | "CRYPT" | "" => verify_crypt(data, password),
        "PLAIN" | "CLEARTEXT" => ct_eq(data.as_bytes(), password.as_bytes()),
        _ => {
            let _ = verify_crypt(DUMMY_HASH, password);
            false
        }
    }
}

fn verify_crypt(data: &str, password: &str) -> bool {
    if data.starts_with("$6$") {
        sha_crypt::sha512_check(password, data).is_ok()
    } else if data.starts_with("$5$") {
        sha_crypt::sha256_check(password, data).is_ok()
    } else {
        // Empty (locked) or an unsupported crypt: spend the time anyway.
        let _ = sha_crypt::sha512_check(password, DUMMY_HASH);
        false
    }
}

/// `{SHA512-CRYPT}$6$…` → (`SHA512-CRYPT`, `$6$…`); no braces → (``, all).
fn split_scheme(stored: &str) -> (String, &str) {
    if let Some(rest) = stored.strip_prefix('{') {
        if let Some((scheme, data)) = rest.split_once('}') {
            return (scheme.to_ascii_uppercase(), data);
        }
    }
    (String::new(), stored)
}

/// Compares without an early exit; only the lengths' equality leaks.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0xff);
        diff |= x ^ y;
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_has_scheme_and_verifies() {
        let h = hash_password("s3cret");
        assert!(h.starts_with("{SHA512-CRYPT}$6$"), "{h}");
        assert!(verify_hash(&h, "s3cret"));
        assert!(!verify_hash(&h, "s3cret "));
        assert_ne!(h, hash_password("s3cret"), "salt must differ");
    }

    #[test]
    fn schemes() {
        let h6 = sha_crypt::sha512_simple("pw", &Default::default()).unwrap();
        let h5 = sha_crypt::sha256_simple("pw", &Default::default()).unwrap();
        assert!(verify_hash(&h6, "pw"));
        assert!(verify_hash(&format!("{{CRYPT}}{h6}"), "pw"));
        assert!(verify_hash(&format!("{{SHA256-CRYPT}}{h5}"), "pw"));
        assert!(verify_hash(&h5, "pw"));
        assert!(!verify_hash(&h5, "pwx"));
        assert!(!verify_hash("{MD5}whatever", "pw"));
        assert!(!verify_hash("", ""));
        assert!(!verify_hash("{PLAIN}", "x"));
        assert!(verify_hash("{PLAIN}", ""));
        assert!(!verify_hash("{PLAIN}ab", "abc"));
    }

    #[test]
    fn dummy_is_a_real_glibc_hash() {
        // Made by glibc crypt(3): proves interop, and that unknown users pay a full hash.
        assert!(verify_hash(DUMMY_HASH, "not-a-password-anyone-types"));
    }

    #[test]
    fn ct_eq_works() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(!ct_eq(b"", b"\xff"));
        assert!(ct_eq(b"", b""));
    }
}
