//! TLS: turns the configured certificate and key into a rustls server config, and makes
//! self-signed certificates with rcgen for `mailctl init`. Owns no sockets: callers wrap
//! their own streams. Errors: `tls::Error`, permanent (an admin must fix the files).

use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("tls: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("certificate generation: {0}")]
    Generate(String),
}

fn file_err(path: &Path, message: impl ToString) -> Error {
    Error::File {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// The rustls provider every program uses (ring), named once.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Loads a PEM certificate chain and private key into a server config (TLS 1.2 and 1.3).
pub fn server_config(cfg: &crate::config::Tls) -> Result<Arc<rustls::ServerConfig>, Error> {
    let certs = {
        let f = std::fs::File::open(&cfg.cert).map_err(|e| file_err(&cfg.cert, e))?;
        rustls_pemfile::certs(&mut BufReader::new(f))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| file_err(&cfg.cert, e))?
    };
    if certs.is_empty() {
        return Err(file_err(&cfg.cert, "no certificate in file"));
    }
    let key = {
        let f = std::fs::File::open(&cfg.key).map_err(|e| file_err(&cfg.key, e))?;
        rustls_pemfile::private_key(&mut BufReader::new(f))
            .map_err(|e| file_err(&cfg.key, e))?
            .ok_or_else(|| file_err(&cfg.key, "no private key in file"))?
    };
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(Arc::new(config))
}

/// Writes a self-signed certificate for `hostname` (and localhost) and its key, mode 0600.
pub fn generate_self_signed(
    hostname: &str,
    cert_path: &Path,
    key_path: &Path,
) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let names = vec![hostname.to_string(), "localhost".to_string()];
    let ck =
        rcgen::generate_simple_self_signed(names).map_err(|e| Error::Generate(e.to_string()))?;
    for (path, pem, mode) in [
        (cert_path, ck.cert.pem(), 0o644),
        (key_path, ck.signing_key.serialize_pem(), 0o600),
    ] {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| file_err(dir, e))?;
        }
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(path)
            .and_then(|mut f| f.write_all(pem.as_bytes()))
            .map_err(|e| file_err(path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificate_loads() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::config::Tls {
            cert: dir.path().join("tls/cert.pem"),
            key: dir.path().join("tls/key.pem"),
        };
        generate_self_signed("mail.example.test", &cfg.cert, &cfg.key).unwrap();
        server_config(&cfg).unwrap();
    }

    #[test]
    fn missing_files_name_the_path() {
        let cfg = crate::config::Tls {
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
        };
        let msg = server_config(&cfg).unwrap_err().to_string();
        assert!(msg.contains("/nonexistent/cert.pem"), "{msg}");
    }
}
