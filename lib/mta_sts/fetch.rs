//! Network side of MTA-STS: the `_mta-sts.DOMAIN` TXT lookup (hickory over `[dns]`, record
//! parsed by mail-auth) and the policy fetch `GET https://mta-sts.DOMAIN/.well-known/mta-sts.txt`.
//!
//! The HTTPS client is hand-written (one fixed request over rustls) instead of ureq or
//! hyper: RFC 8461 wants exactly one GET, no redirects, no cookies, no proxies, a 64 KiB
//! cap, and the host resolved through our own `[dns]` servers (the system resolver may be
//! unusable); a general HTTP client would need most of that switched off and would add a
//! dependency tree. The request is HTTP/1.0 with `Host:` so the reply is never chunked in
//! practice; chunked bodies are still decoded in case a server insists.
//! Errors are one-line strings; every failure means "no fresh policy".

use super::policy::MAX_POLICY_BYTES;
use crate::config::dns::Dns;
use hickory_resolver::proto::rr::RData;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::mta_sts::MtaSts;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the TXT lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Txt {
    /// A valid `v=STSv1; id=...` record.
    Id(String),
    /// No record (NXDOMAIN, NODATA, or no valid STSv1 record).
    Absent,
    /// The lookup failed (timeout, SERVFAIL): keep using a cached policy.
    Failed(String),
}

/// Looks up `_mta-sts.DOMAIN`. More than one valid record is treated as none (RFC 8461 3.1).
pub async fn txt(resolver: &hickory_resolver::TokioResolver, domain: &str) -> Txt {
    let name = format!("_mta-sts.{domain}.");
    let lookup = match resolver.txt_lookup(name.as_str()).await {
        Ok(l) => l,
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => return Txt::Absent,
        Err(e) => return Txt::Failed(format!("{name}: {e}")),
    };
    let ids: Vec<String> = lookup
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(t) => Some(t.txt_data.concat()),
            _ => None,
        })
        .filter(|bytes| bytes.starts_with(b"v=STSv1"))
        .filter_map(|bytes| MtaSts::parse(&bytes).ok().map(|r| r.id))
        .collect();
    match ids.as_slice() {
        [id] => Txt::Id(id.clone()),
        _ => Txt::Absent,
    }
}

/// A and AAAA addresses of `host` through our resolver.
pub async fn addresses(
    resolver: &hickory_resolver::TokioResolver,
    host: &str,
) -> Result<Vec<IpAddr>, String> {
    let lookup = resolver
        .lookup_ip(format!("{host}.").as_str())
        .await
        .map_err(|e| format!("{host}: {e}"))?;
    Ok(lookup.iter().collect())
}

/// Resolver wrapper so callers need not name hickory.
pub fn resolver(dns: &Dns) -> Result<hickory_resolver::TokioResolver, String> {
    crate::dns::resolver(dns)
}

/// Fetches the policy body from `https://HOST:PORT/.well-known/mta-sts.txt`, trying each
/// address in turn, within `timeout` per address.
pub fn get_policy(
    tls: &Arc<rustls::ClientConfig>,
    host: &str,
    addrs: &[IpAddr],
    port: u16,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let mut last = format!("{host}: no addresses");
    for ip in addrs {
        match get_one(tls, host, SocketAddr::new(*ip, port), timeout) {
            Ok(body) => return Ok(body),
            Err(e) => last = format!("{host} [{ip}]:{port}: {e}"),
        }
    }
    Err(last)
}

fn get_one(
    tls: &Arc<rustls::ClientConfig>,
    host: &str,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + timeout;
    let sock = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(timeout)).ok();
    sock.set_write_timeout(Some(timeout)).ok();
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| format!("bad host name: {e}"))?;
    let conn = rustls::ClientConnection::new(tls.clone(), name).map_err(|e| e.to_string())?;
    let mut stream = rustls::StreamOwned::new(conn, sock);
    let request = format!(
        "GET /.well-known/mta-sts.txt HTTP/1.0\r\nHost: {host}\r\n\
         User-Agent: mailserver-mta-sts/1\r\nAccept: text/plain\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.flush())
        .map_err(|e| e.to_string())?;
    let raw = read_capped(&mut stream, deadline)?;
    parse_response(&raw)
}

/// Reads until EOF, the size cap, or the deadline. A TLS close without close_notify counts
/// as EOF (many servers do that; a truncated policy fails to parse or allows fewer hosts).
fn read_capped(r: &mut impl Read, deadline: Instant) -> Result<Vec<u8>, String> {
    let cap = MAX_POLICY_BYTES + 16 * 1024;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if Instant::now() > deadline {
            return Err("timed out".into());
        }
        match r.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.len() > cap {
                    return Err("response too large".into());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(out),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Checks an HTTP response (status 200, text/plain) and returns its body. Redirects are
/// failures (RFC 8461 3.3).
pub fn parse_response(raw: &[u8]) -> Result<Vec<u8>, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of HTTP headers")?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| "HTTP headers not UTF-8")?;
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or("");
    let code = status.split_whitespace().nth(1).unwrap_or("");
    if !status.starts_with("HTTP/1.") || code != "200" {
        return Err(format!("HTTP status {status:?}"));
    }
    let (mut ctype, mut length, mut chunked) = (None, None, false);
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k.trim().to_ascii_lowercase().as_str() {
            "content-type" => ctype = Some(v.to_ascii_lowercase()),
            "content-length" => length = v.parse::<usize>().ok(),
            "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
            _ => {}
        }
    }
    if !ctype
        .as_deref()
        .is_some_and(|t| t.starts_with("text/plain"))
    {
        return Err(format!("content type {ctype:?}, want text/plain"));
    }
    if chunked {
        body = dechunk(&body)?;
    } else if let Some(n) = length {
        if body.len() < n {
            return Err("body shorter than Content-Length".into());
        }
        body.truncate(n);
    }
    if body.len() > MAX_POLICY_BYTES {
        return Err("policy larger than 64 KiB".into());
    }
    Ok(body)
}

/// Decodes a chunked body (chunk extensions and trailers ignored).
fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("bad chunk")?;
        let size_text = std::str::from_utf8(&data[..eol]).map_err(|_| "bad chunk")?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "bad chunk size")?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 || out.len() + size > MAX_POLICY_BYTES {
            return Err("bad or oversized chunk".into());
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// A rustls client config trusting the system's roots plus `extra_ca` (PEM), if given.
pub fn client_config(extra_ca: Option<&std::path::Path>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = extra_ca {
        let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let certs = rustls_pemfile::certs(&mut text.as_slice())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("{}: no certificate", path.display()));
        }
        let (_, bad) = roots.add_parsable_certificates(certs);
        if bad > 0 {
            return Err(format!("{}: unusable certificate", path.display()));
        }
    }
    rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_200() {
        let r = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\nhello trailing";
        assert_eq!(parse_response(r).unwrap(), b"hello");
    }

    #[test]
    fn refuses_redirects_and_wrong_types() {
        let r = b"HTTP/1.1 301 Moved\r\nLocation: https://x/\r\nContent-Type: text/plain\r\n\r\n";
        assert!(parse_response(r).unwrap_err().contains("301"));
        let r = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>";
        assert!(parse_response(r).unwrap_err().contains("text/html"));
        assert!(parse_response(b"garbage").is_err());
        let r = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 50\r\n\r\nshort";
        assert!(parse_response(r).is_err());
    }

    #[test]
    fn decodes_chunked() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n";
        assert_eq!(parse_response(r).unwrap(), b"hello world");
        let r = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert!(parse_response(r).is_err());
    }
}
