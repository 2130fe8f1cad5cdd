//! TLS for outbound SMTP (rustls, ring): one client config per connection whose certificate
//! verifier records a verification error instead of aborting the handshake, so opportunistic
//! STARTTLS still encrypts to peers with self-signed or mismatched certificates (RFC 7435),
//! while the session decides, from the recorded result, whether that is acceptable (it is
//! not where TLS is required). Handshake signatures are always checked.
//!
//! Trust anchors: the system's (rustls-native-certs, read once per process). With none
//! available every certificate counts as unverified.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::{Arc, Mutex, OnceLock};

/// The verifier over the system roots, or why there is none.
fn webpki() -> Result<Arc<WebPkiServerVerifier>, String> {
    static V: OnceLock<Result<Arc<WebPkiServerVerifier>, String>> = OnceLock::new();
    V.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        for c in found.certs {
            let _ = roots.add(c);
        }
        if roots.is_empty() {
            return Err("no trusted root certificates on this system".into());
        }
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), crate::tls::provider())
            .build()
            .map_err(|e| e.to_string())
    })
    .clone()
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

/// A client config for one connection and the slot its verification verdict lands in.
pub fn client_config() -> Result<(Arc<rustls::ClientConfig>, Verdict), String> {
    let provider = crate::tls::provider();
    let verdict = Arc::new(Mutex::new(None));
    let verifier = Recording {
        inner: webpki(),
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
