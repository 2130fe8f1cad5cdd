//! DNS for every program that looks things up (queue-runner's MX routing, spam-scan's
//! SPF/DKIM/DMARC, smtpd's DNSBL): one place that turns `[dns]` into a hickory resolver
//! configuration, so a test's local DNS server or an admin's choice applies everywhere.
//! Builds resolvers; does no lookups itself. Lookups are async (hickory); sync programs run
//! them on a small current-thread tokio runtime (`runtime()`).

use crate::config::dns::Dns;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;

/// The resolver configuration `[dns]` describes: its servers (UDP, then TCP for truncated
/// answers), or `/etc/resolv.conf` when none are set.
pub fn resolver_config(dns: &Dns) -> Result<(ResolverConfig, ResolverOpts), String> {
    let (config, mut opts) = if dns.servers.is_empty() {
        hickory_resolver::system_conf::read_system_conf()
            .map_err(|e| format!("reading /etc/resolv.conf: {e}"))?
    } else {
        let servers = dns
            .servers
            .iter()
            .map(|addr| {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                ns.connections = vec![udp, tcp];
                ns
            })
            .collect();
        (
            ResolverConfig::from_name_servers(servers),
            ResolverOpts::default(),
        )
    };
    opts.timeout = dns.timeout;
    // Mail needs fresh answers more than a second cache: hickory's own cache is enough.
    opts.attempts = 2;
    Ok((config, opts))
}

/// A hickory resolver for `[dns]`. Must be used inside a tokio runtime.
pub fn resolver(dns: &Dns) -> Result<TokioResolver, String> {
    let (config, opts) = resolver_config(dns)?;
    TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
        .with_options(opts)
        .build()
        .map_err(|e| format!("DNS resolver: {e}"))
}

/// mail-auth's authenticator (SPF, DKIM, DMARC, MTA-STS lookups) over the same servers.
pub fn authenticator(dns: &Dns) -> Result<mail_auth::MessageAuthenticator, String> {
    let (config, opts) = resolver_config(dns)?;
    mail_auth::MessageAuthenticator::new(config, opts).map_err(|e| format!("DNS resolver: {e}"))
}

/// A current-thread tokio runtime for running lookups from synchronous code.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn configured_servers_keep_their_ports() {
        let dns = Dns {
            servers: vec!["127.0.0.1:5353".parse().unwrap()],
            timeout: Duration::from_secs(3),
        };
        let (config, opts) = resolver_config(&dns).unwrap();
        let ns = &config.name_servers()[0];
        assert_eq!(ns.ip.to_string(), "127.0.0.1");
        assert!(ns.connections.iter().all(|c| c.port == 5353));
        assert_eq!(opts.timeout, Duration::from_secs(3));
    }
}
