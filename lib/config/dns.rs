//! `[dns]`: which DNS servers every lookup asks (MX routing, SPF/DKIM/DMARC, DNSBL).
//! Empty `servers` means the system's `/etc/resolv.conf`.
//!
//! ```toml
//! [dns]
//! servers = ["127.0.0.1:53", "[::1]:53"]   # a port may be left out: 53
//! timeout_secs = 5
//! ```

use super::{secs, Checker, Error};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDns {
    #[serde(default)]
    pub servers: Vec<String>,
    pub timeout_secs: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct Dns {
    /// Servers to ask, in order; empty: the system resolver configuration.
    pub servers: Vec<SocketAddr>,
    /// Per-query timeout.
    pub timeout: Duration,
}

pub fn check(raw: RawDns, c: &Checker) -> Result<Dns, Error> {
    let servers = raw
        .servers
        .iter()
        .map(|s| {
            parse_server(s)
                .ok_or_else(|| c.invalid("dns.servers", &format!("{s:?}: expected IP or IP:PORT")))
        })
        .collect::<Result<_, _>>()?;
    Ok(Dns {
        servers,
        timeout: secs(raw.timeout_secs, 5),
    })
}

fn parse_server(s: &str) -> Option<SocketAddr> {
    s.parse::<SocketAddr>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)))
}
