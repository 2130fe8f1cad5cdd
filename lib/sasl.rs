//! SASL PLAIN (RFC 4616) decoding, shared by smtpd, imapd and pop3d: the base64-decoded
//! `authzid NUL authcid NUL passwd`. We log in only as ourselves, so an authzid must be
//! empty or equal the authcid. Knows nothing of passwords' validity; never logs.

/// Why a PLAIN response was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainError {
    /// Not three NUL-separated UTF-8 fields with a non-empty user.
    Malformed,
    /// An authzid naming someone else (proxy login): refused.
    ProxyLogin,
}

/// Splits a decoded PLAIN response into (user, password).
pub fn decode_plain(decoded: &[u8]) -> Result<(String, String), PlainError> {
    let mut parts = decoded.split(|b| *b == 0);
    let mut field = || {
        parts
            .next()
            .and_then(|p| std::str::from_utf8(p).ok())
            .ok_or(PlainError::Malformed)
    };
    let (authz, user, pass) = (field()?, field()?, field()?);
    if parts.next().is_some() || user.is_empty() {
        return Err(PlainError::Malformed);
    }
    if !(authz.is_empty() || authz == user) {
        return Err(PlainError::ProxyLogin);
    }
    Ok((user.to_string(), pass.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_fields() {
        let ok = decode_plain;
        assert_eq!(ok(b"\0u@x\0pw"), Ok(("u@x".into(), "pw".into())));
        assert_eq!(ok(b"u@x\0u@x\0pw"), Ok(("u@x".into(), "pw".into())));
        assert_eq!(ok(b"admin\0u@x\0pw"), Err(PlainError::ProxyLogin));
        assert_eq!(ok(b"\0\0pw"), Err(PlainError::Malformed));
        assert_eq!(ok(b"\0u@x"), Err(PlainError::Malformed));
        assert_eq!(ok(b"\0u@x\0pw\0extra"), Err(PlainError::Malformed));
        assert_eq!(ok(b"\0u\xff\0pw"), Err(PlainError::Malformed));
    }
}
