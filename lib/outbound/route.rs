//! Routing: which kind of destination a recipient domain has, before any DNS: a per-domain
//! transport (`[outbound] transports`), the smarthost (`relayhost`), or the domain's MX
//! hosts. Also the TLS and AUTH demands that come with it. Pure; `resolve` does the lookups.
//! Fails (permanently, 5.1.2) only for a domain that cannot be a DNS name at all.

use super::client::Failure;
use crate::config::outbound::{ascii_domain, HostPort, Outbound};
use crate::spool::RcptState;

/// Where a domain's mail goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The domain's MX hosts (A/AAAA of the domain itself when it has none).
    Mx(String),
    /// One host (its A/AAAA), or with `mx` the MX hosts of the name, at a fixed port.
    Host { host: HostPort, mx: bool },
}

/// The route for one recipient domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The domain, IDNA ASCII, lower case.
    pub domain: String,
    /// Names the destination for connection reuse and limits (same key, same servers).
    pub key: String,
    pub target: Target,
    /// TLS with a verified certificate or no delivery.
    pub require_tls: bool,
    /// AUTH PLAIN with the relayhost's credentials.
    pub auth: bool,
}

/// The route for `domain` per `[outbound]`.
pub fn route(cfg: &Outbound, domain: &str) -> Result<Route, Failure> {
    let ascii = to_ascii(domain)?;
    let require = cfg.requires_tls(&ascii);
    if let Some(hp) = cfg.transports.get(&ascii) {
        return Ok(Route {
            key: format!("transport:{}:{}", hp.host, hp.port),
            target: Target::Host {
                host: hp.clone(),
                mx: false,
            },
            domain: ascii,
            require_tls: require,
            auth: false,
        });
    }
    if let Some(r) = &cfg.relayhost {
        return Ok(Route {
            key: format!("relay:{}:{}", r.host.host, r.host.port),
            target: Target::Host {
                host: r.host.clone(),
                mx: r.mx_lookup,
            },
            domain: ascii,
            // A smarthost gets credentials: never over plaintext or to an unverified peer.
            require_tls: true,
            auth: r.auth.is_some(),
        });
    }
    Ok(Route {
        key: format!("mx:{ascii}"),
        target: Target::Mx(ascii.clone()),
        domain: ascii,
        require_tls: require,
        auth: false,
    })
}

/// IDNA A-labels (hickory's `Name` applies UTS 46), refusing what is not a host name.
fn to_ascii(domain: &str) -> Result<String, Failure> {
    let bad = || Failure {
        state: RcptState::Failed,
        reply: format!("550 5.1.2 bad destination domain {domain:?}"),
    };
    if domain.is_empty() || domain.starts_with('[') || domain.len() > 253 {
        // Address literals (user@[192.0.2.1]) are not routed: RFC 5321 leaves them optional.
        return Err(bad());
    }
    let ascii = ascii_domain(domain);
    let ok = ascii.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    if !ok {
        return Err(bad());
    }
    Ok(ascii)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::outbound::{parse_host_port, Relayhost};

    #[test]
    fn transports_then_relayhost_then_mx() {
        let mut o = Outbound::default();
        o.transports.insert(
            "b.test".into(),
            parse_host_port("127.0.0.1:2626", 25).unwrap(),
        );
        o.require_tls_domains.insert("xn--bcher-kva.test".into());
        let r = route(&o, "B.Test").unwrap();
        assert_eq!(r.key, "transport:127.0.0.1:2626");
        assert!(!r.require_tls);
        let r = route(&o, "bücher.test").unwrap();
        assert_eq!(r.target, Target::Mx("xn--bcher-kva.test".into()));
        assert!(r.require_tls);
        o.relayhost = Some(Relayhost {
            host: parse_host_port("smtp.example.net:587", 25).unwrap(),
            mx_lookup: false,
            auth: None,
        });
        let r = route(&o, "c.test").unwrap();
        assert_eq!(r.key, "relay:smtp.example.net:587");
        assert!(r.require_tls);
        assert_eq!(route(&o, "b.test").unwrap().key, "transport:127.0.0.1:2626");
    }

    #[test]
    fn impossible_domains_fail_permanently() {
        let o = Outbound::default();
        for d in ["", "[127.0.0.1]", "a..b", "a b.test", &"x".repeat(300)] {
            let f = route(&o, d).unwrap_err();
            assert_eq!(f.state, RcptState::Failed, "{d}");
            assert!(f.reply.starts_with("550 5.1.2"));
        }
    }
}
