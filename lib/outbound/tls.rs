//! TLS for outbound SMTP (rustls, ring): one client config per connection whose certificate
//! verifier records a verification error instead of aborting the handshake, so opportunistic
//! STARTTLS still encrypts to peers with self-signed or mismatched certificates (RFC 7435),
//! while the session decides, from the recorded result, whether that is acceptable (it is
//! not where TLS is required). Handshake signatures are always checked.
//!
//! Trust anchors: the system's (rustls-native-certs, read once per process) plus, when
//! `[outbound] ca_file` is set, the PEM certificates in that file (a private CA), read at
//! each handshake so a replaced file needs no restart. An unreadable or empty `ca_file`
//! makes every certificate count as unverified, with that reason in the verdict (logged;
//! fatal only where TLS is required). With no roots at all, likewise.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

/// The system's roots, loaded once per process.
fn native_roots() -> &'static rustls::RootCertStore {
    static R: OnceLock<rustls::RootCertStore> = OnceLock::new();
    R.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        roots
    })
}

/// The verifier over the system roots alone (built once), or why there is none.
fn webpki_native() -> Result<Arc<WebPkiServerVerifier>, String> {
    static V: OnceLock<Result<Arc<WebPkiServerVerifier>, String>> = OnceLock::new();
    V.get_or_init(|| build(native_roots().clone())).clone()
}

/// The verifier over the system roots plus the certificates of `extra_ca`, if given.
fn webpki(extra_ca: Option<&Path>) -> Result<Arc<WebPkiServerVerifier>, String> {
    let Some(path) = extra_ca else {
        return webpki_native();
    };
    let mut roots = native_roots().clone();
    let pem = std::fs::read(path).map_err(|e| format!("ca_file {}: {e}", path.display()))?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!("ca_file {}: no usable certificate", path.display()));
    }
    build(roots)
}

fn build(roots: rustls::RootCertStore) -> Result<Arc<WebPkiServerVerifier>, String> {
    if roots.is_empty() {
        return Err("no trusted root certificates on this system".into());
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), crate::tls::provider())
        .build()
        .map_err(|e| e.to_string())
}

/// Verifies like webpki, but lets the handshake go on and keeps the verdict.
#[derive(Debug)]
struct Recording {
    inner: Result<Arc<WebPkiServerVerifier>, String>,
    verdict: Arc<Mutex<Option<Result<(), String>>>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let v = match &self.inner {
            Ok(w) => w
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.clone()),
        };
        if let Ok(mut slot) = self.verdict.lock() {
            *slot = Some(v);
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A client config for one connection and the slot its verification verdict lands in;
/// `extra_ca` (`[outbound] ca_file`) adds trust anchors to the system's.
pub fn client_config(
    extra_ca: Option<&Path>,
) -> Result<(Arc<rustls::ClientConfig>, Verdict), String> {
    let provider = crate::tls::provider();
    let verdict = Arc::new(Mutex::new(None));
    let verifier = Recording {
        inner: webpki(extra_ca),
        verdict: verdict.clone(),
        provider: provider.clone(),
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok((Arc::new(config), Verdict(verdict)))
}

/// Where the certificate check's result is kept for the session to read.
#[derive(Debug, Clone)]
pub struct Verdict(Arc<Mutex<Option<Result<(), String>>>>);

impl Verdict {
    /// The result; a handshake that never checked a certificate counts as unverified.
    pub fn result(&self) -> Result<(), String> {
        self.0
            .lock()
            .ok()
            .and_then(|g| g.clone())
            .unwrap_or_else(|| Err("no certificate checked".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_file_adds_roots_and_reports_trouble() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = webpki(Some(&missing)).unwrap_err();
        assert!(e.contains("ca_file") && e.contains("missing.pem"), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        assert!(webpki(Some(&empty))
            .unwrap_err()
            .contains("no usable certificate"));
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".to_string()]).unwrap();
        let good = dir.path().join("ca.pem");
        std::fs::write(&good, ca.cert.pem()).unwrap();
        assert!(webpki(Some(&good)).is_ok());
        // Unverifiable: the verdict records why, the config itself is still made.
        let (_, verdict) = client_config(Some(&missing)).unwrap();
        assert!(verdict.result().is_err());
    }
}
