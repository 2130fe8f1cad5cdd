//! `[outbound]`: how queue-runner delivers to other domains' servers (routing, smarthost, TLS,
//! limits, timeouts). The raw section as written and its checked form; checked by `check`,
//! which fails with `Error::Invalid` naming the key.
//!
//! ```toml
//! [outbound]
//! helo_name = "mail.example.test"       # default: hostname
//! port = 25                             # port of MX hosts
//! # relayhost = "[smtp.example.net]:587" # all remote mail via a smarthost ([ ] = no MX lookup)
//! # relayhost_auth = { user = "me", password_file = "relay.password" }
//! # transports = { "b.test" = "127.0.0.1:2626", "c.test" = "mx.c.test:2525" }
//! # require_tls_domains = ["bank.test"] # verified TLS or no delivery (temporary failure)
//! # ca_file = "private-ca.pem"          # extra trusted roots (PEM) besides the system's
//! max_connections = 20                  # open SMTP connections, all destinations
//! max_per_destination = 4               # open SMTP connections to one destination
//! idle_secs = 10                        # an idle connection is kept this long for reuse
//! # RFC 5321 4.5.3.2 timeouts (seconds): connect 30, greeting 300, helo 300, mail 300,
//! # rcpt 300, data_init 120, data_block 180, data_end 600
//! # timeouts = { connect = 30, data_end = 600 }
//! ```

use super::{Checker, Error};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawOutbound {
    pub helo_name: Option<String>,
    pub port: Option<u16>,
    pub relayhost: Option<String>,
    pub relayhost_auth: Option<RawRelayAuth>,
    #[serde(default)]
    pub transports: BTreeMap<String, String>,
    #[serde(default)]
    pub require_tls_domains: Vec<String>,
    pub ca_file: Option<String>,
    pub max_connections: Option<usize>,
    pub max_per_destination: Option<usize>,
    pub idle_secs: Option<u64>,
    #[serde(default)]
    pub timeouts: RawTimeouts,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRelayAuth {
    pub user: String,
    pub password_file: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawTimeouts {
    pub connect: Option<u64>,
    pub greeting: Option<u64>,
    pub helo: Option<u64>,
    pub mail: Option<u64>,
    pub rcpt: Option<u64>,
    pub data_init: Option<u64>,
    pub data_block: Option<u64>,
    pub data_end: Option<u64>,
}

/// A host (name or IP literal, without brackets) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

/// The smarthost every remote message goes through.
#[derive(Debug, Clone)]
pub struct Relayhost {
    pub host: HostPort,
    /// Written without brackets: the host is a domain whose MX records are looked up.
    pub mx_lookup: bool,
    pub auth: Option<RelayAuth>,
}

#[derive(Debug, Clone)]
pub struct RelayAuth {
    pub user: String,
    /// File whose first line is the password (kept out of mail.toml).
    pub password_file: PathBuf,
}

/// Per-phase timeouts of the SMTP client (RFC 5321 section 4.5.3.2).
#[derive(Debug, Clone)]
pub struct Timeouts {
    pub connect: Duration,
    pub greeting: Duration,
    /// EHLO/HELO, STARTTLS, AUTH, RSET, QUIT replies.
    pub helo: Duration,
    pub mail: Duration,
    pub rcpt: Duration,
    pub data_init: Duration,
    /// Each write of the message body.
    pub data_block: Duration,
    pub data_end: Duration,
}

#[derive(Debug, Clone)]
pub struct Outbound {
    /// Name sent in EHLO/HELO; `None`: the config's hostname.
    pub helo_name: Option<String>,
    /// Port of MX (and implicit-MX) hosts.
    pub port: u16,
    pub relayhost: Option<Relayhost>,
    /// Domain (lower case, ASCII) → where its mail goes instead of its MX hosts.
    pub transports: BTreeMap<String, HostPort>,
    /// Domains (lower case, ASCII) whose mail needs TLS with a verified certificate.
    pub require_tls_domains: BTreeSet<String>,
    /// PEM file of extra trust anchors for peer certificates (a private CA of a smarthost
    /// or partner), added to the system's roots; read at each TLS handshake.
    pub ca_file: Option<PathBuf>,
    pub max_connections: usize,
    pub max_per_destination: usize,
    /// How long an idle connection is kept for the next message to the same destination.
    pub idle: Duration,
    pub timeouts: Timeouts,
}

impl Default for Outbound {
    fn default() -> Outbound {
        Outbound {
            helo_name: None,
            port: 25,
            relayhost: None,
            transports: BTreeMap::new(),
            require_tls_domains: BTreeSet::new(),
            ca_file: None,
            max_connections: 20,
            max_per_destination: 4,
            idle: Duration::from_secs(10),
            timeouts: timeouts(&RawTimeouts::default()),
        }
    }
}

impl Outbound {
    /// True when mail to `domain` (lower-case ASCII) must travel over verified TLS.
    pub fn requires_tls(&self, domain: &str) -> bool {
        self.require_tls_domains.contains(domain)
    }
}

pub fn check(raw: RawOutbound, c: &Checker) -> Result<Outbound, Error> {
    let port = raw.port.unwrap_or(25);
    if raw.relayhost.as_deref().is_none_or(|r| r.trim().is_empty()) && raw.relayhost_auth.is_some()
    {
        return Err(c.invalid("outbound.relayhost_auth", "needs relayhost"));
    }
    let relayhost = match raw.relayhost.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(r) => {
            let host = parse_host_port(r, 25).ok_or_else(|| {
                c.invalid(
                    "outbound.relayhost",
                    "expected HOST, HOST:PORT, [HOST]:PORT or [IP]:PORT",
                )
            })?;
            Some(Relayhost {
                host,
                mx_lookup: !r.starts_with('['),
                auth: raw.relayhost_auth.map(|a| RelayAuth {
                    user: a.user,
                    password_file: c.path(&a.password_file),
                }),
            })
        }
    };
    let mut transports = BTreeMap::new();
    for (domain, target) in raw.transports {
        let hp = parse_host_port(&target, port).ok_or_else(|| {
            c.invalid(
                &format!("outbound.transports.{domain}"),
                "expected HOST:PORT, [IPv6]:PORT or HOST",
            )
        })?;
        transports.insert(ascii_domain(&domain), hp);
    }
    let helo_name = match raw.helo_name {
        Some(h) if h.is_empty() || h.chars().any(|ch| ch.is_whitespace() || ch.is_control()) => {
            return Err(c.invalid("outbound.helo_name", "must be a host name"))
        }
        h => h,
    };
    let ca_file = match raw.ca_file.as_deref().map(str::trim) {
        None => None,
        Some("") => return Err(c.invalid("outbound.ca_file", "must name a PEM file")),
        Some(p) => Some(c.path(p)),
    };
    Ok(Outbound {
        helo_name,
        port,
        relayhost,
        transports,
        require_tls_domains: raw
            .require_tls_domains
            .iter()
            .map(|d| ascii_domain(d))
            .collect(),
        ca_file,
        max_connections: raw.max_connections.unwrap_or(20).max(1),
        max_per_destination: raw.max_per_destination.unwrap_or(4).max(1),
        idle: Duration::from_secs(raw.idle_secs.unwrap_or(10)),
        timeouts: timeouts(&raw.timeouts),
    })
}

fn timeouts(t: &RawTimeouts) -> Timeouts {
    let s = |v: Option<u64>, d: u64| Duration::from_secs(v.unwrap_or(d).max(1));
    Timeouts {
        connect: s(t.connect, 30),
        greeting: s(t.greeting, 300),
        helo: s(t.helo, 300),
        mail: s(t.mail, 300),
        rcpt: s(t.rcpt, 300),
        data_init: s(t.data_init, 120),
        data_block: s(t.data_block, 180),
        data_end: s(t.data_end, 600),
    }
}

/// A domain as the routing tables key it: lower case, IDNA A-labels, no trailing dot.
/// Left as written (lower-cased) when it is not a valid IDNA name; routing then refuses it.
pub fn ascii_domain(d: &str) -> String {
    let d = d.trim().trim_end_matches('.');
    match hickory_resolver::proto::rr::Name::from_utf8(d) {
        Ok(n) => n.to_ascii().trim_end_matches('.').to_ascii_lowercase(),
        Err(_) => d.to_lowercase(),
    }
}

/// `host`, `host:port`, `[host]:port`, `[v6]:port`, `v6` (bare IPv6 gets `default`).
pub fn parse_host_port(s: &str, default: u16) -> Option<HostPort> {
    let s = s.trim();
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after {
            "" => default,
            p => p.strip_prefix(':')?.parse().ok()?,
        };
        (host, port)
    } else if s.parse::<std::net::Ipv6Addr>().is_ok() {
        (s, default)
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().ok()?),
            None => (s, default),
        }
    };
    let host = host.trim_end_matches('.');
    let ok = !host.is_empty()
        && port != 0
        && host
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && c != '/' && c != '[');
    ok.then(|| HostPort {
        host: host.to_string(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    fn hp(h: &str, p: u16) -> Option<HostPort> {
        Some(HostPort {
            host: h.into(),
            port: p,
        })
    }

    #[test]
    fn host_port_forms() {
        assert_eq!(
            parse_host_port("[smtp.example.net]:587", 25),
            hp("smtp.example.net", 587)
        );
        assert_eq!(parse_host_port("127.0.0.1:2626", 25), hp("127.0.0.1", 2626));
        assert_eq!(parse_host_port("[::1]:2626", 25), hp("::1", 2626));
        assert_eq!(parse_host_port("::1", 25), hp("::1", 25));
        assert_eq!(parse_host_port("mx.b.test", 25), hp("mx.b.test", 25));
        assert_eq!(parse_host_port("[x]", 26), hp("x", 26));
        assert_eq!(parse_host_port("x:0", 25), None);
        assert_eq!(parse_host_port("x:y", 25), None);
        assert_eq!(parse_host_port("[x", 25), None);
        assert_eq!(parse_host_port("", 25), None);
    }

    #[test]
    fn idna_keys() {
        assert_eq!(ascii_domain("Bücher.Example."), "xn--bcher-kva.example");
        assert_eq!(ascii_domain("B.TEST"), "b.test");
    }

    const BASE: &str =
        "hostname = \"h\"\nspool_dir = \"s\"\nmail_root = \"m\"\nusers_file = \"u\"\n";

    #[test]
    fn section_checks() {
        let text = format!(
            "{BASE}[outbound]\nrelayhost = \"[smtp.example.net]:587\"\n\
             relayhost_auth = {{ user = \"me\", password_file = \"pw\" }}\n\
             transports = {{ \"B.test\" = \"127.0.0.1:2626\" }}\n\
             require_tls_domains = [\"Bank.test\"]\ntimeouts = {{ connect = 3 }}\n\
             ca_file = \"ca.pem\"\n"
        );
        let c = Config::parse(Path::new("/x/mail.toml"), &text).unwrap();
        let o = &c.outbound;
        let r = o.relayhost.as_ref().unwrap();
        assert!(!r.mx_lookup);
        assert_eq!(
            r.host,
            HostPort {
                host: "smtp.example.net".into(),
                port: 587
            }
        );
        assert_eq!(r.auth.as_ref().unwrap().password_file, Path::new("/x/pw"));
        assert_eq!(o.transports["b.test"].port, 2626);
        assert!(o.requires_tls("bank.test"));
        assert_eq!(o.timeouts.connect.as_secs(), 3);
        assert_eq!(o.timeouts.data_end.as_secs(), 600);
        assert_eq!(o.ca_file.as_deref(), Some(Path::new("/x/ca.pem")));
        let bad = format!("{BASE}[outbound]\ntransports = {{ \"b.test\" = \"x:y\" }}\n");
        let e = Config::parse(Path::new("/x/mail.toml"), &bad).unwrap_err();
        assert!(e.to_string().contains("outbound.transports.b.test"), "{e}");
        let bad = format!(
            "{BASE}[outbound]\nrelayhost_auth = {{ user = \"a\", password_file = \"p\" }}\n"
        );
        assert!(Config::parse(Path::new("/x/mail.toml"), &bad).is_err());
    }
}
