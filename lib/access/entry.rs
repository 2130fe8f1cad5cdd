//! One list entry and what it matches: an IP address, a CIDR range, a full address
//! (`user@example.org`) or a domain (`example.org`, also matching its subdomains;
//! `@example.org` is the same domain). Parsing is strict: anything else is refused, so a
//! typo in `mailctl block add` is an error, not a silent no-op.

use std::fmt;
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Ip(IpAddr),
    Cidr(IpAddr, u8),
    Address(String),
    Domain(String),
}

impl Entry {
    /// Parses an entry as an admin writes it; `Err` says why it is not one.
    pub fn parse(text: &str) -> Result<Entry, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("empty entry".into());
        }
        if let Ok(ip) = t.parse::<IpAddr>() {
            return Ok(Entry::Ip(canonical(ip)));
        }
        if let Some((net, bits)) = t.split_once('/') {
            let ip = net
                .parse::<IpAddr>()
                .map_err(|_| format!("{t:?}: not an IP range"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = bits
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("{t:?}: prefix length must be 0-{max}"))?;
            return Ok(Entry::Cidr(ip, bits));
        }
        let lower = t.to_lowercase();
        if let Some(domain) = lower.strip_prefix('@') {
            return domain_entry(domain, t);
        }
        match lower.rsplit_once('@') {
            Some((local, domain)) if !local.is_empty() && is_domain(domain) => {
                Ok(Entry::Address(lower))
            }
            Some(_) => Err(format!("{t:?}: not an address")),
            None => domain_entry(&lower, t),
        }
    }

    /// True when this entry names the client IP.
    pub fn matches_ip(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match self {
            Entry::Ip(e) => *e == ip,
            Entry::Cidr(net, bits) => in_range(ip, *net, *bits),
            _ => false,
        }
    }

    /// True when this entry names the address (or its domain or a parent domain).
    pub fn matches_address(&self, addr: &str) -> bool {
        let addr = addr.to_lowercase();
        match self {
            Entry::Address(e) => *e == addr,
            Entry::Domain(d) => addr.rsplit_once('@').is_some_and(|(_, dom)| {
                dom == d
                    || dom
                        .strip_suffix(d.as_str())
                        .is_some_and(|p| p.ends_with('.'))
            }),
            _ => false,
        }
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Ip(ip) => write!(f, "{ip}"),
            Entry::Cidr(ip, bits) => write!(f, "{ip}/{bits}"),
            Entry::Address(a) => f.write_str(a),
            Entry::Domain(d) => f.write_str(d),
        }
    }
}

fn domain_entry(domain: &str, shown: &str) -> Result<Entry, String> {
    let domain = domain.trim_end_matches('.');
    if is_domain(domain) {
        Ok(Entry::Domain(domain.to_string()))
    } else {
        Err(format!(
            "{shown:?}: not an IP, range (1.2.3.0/24), address or domain"
        ))
    }
}

fn is_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && l.chars()
                    .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        })
}

/// `::ffff:192.0.2.1` is `192.0.2.1`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn in_range(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, canonical(net)) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn kinds_parse() {
        assert_eq!(Entry::parse("192.0.2.7"), Ok(Entry::Ip(ip("192.0.2.7"))));
        assert_eq!(
            Entry::parse("192.0.2.0/24"),
            Ok(Entry::Cidr(ip("192.0.2.0"), 24))
        );
        assert_eq!(
            Entry::parse("Bad@Example.ORG"),
            Ok(Entry::Address("bad@example.org".into()))
        );
        assert_eq!(
            Entry::parse("@Example.org."),
            Ok(Entry::Domain("example.org".into()))
        );
        for bad in [
            "",
            "192.0.2.0/33",
            "a@",
            "@",
            "a b",
            "x/y",
            "-bad.test",
            "a@b@",
        ] {
            assert!(Entry::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn matching() {
        let net = Entry::parse("192.0.2.0/24").unwrap();
        assert!(net.matches_ip(ip("192.0.2.200")));
        assert!(net.matches_ip(ip("::ffff:192.0.2.1")));
        assert!(!net.matches_ip(ip("192.0.3.1")));
        assert!(Entry::parse("0.0.0.0/0").unwrap().matches_ip(ip("8.8.8.8")));
        assert!(Entry::parse("2001:db8::/32")
            .unwrap()
            .matches_ip(ip("2001:db8:1::5")));
        let dom = Entry::parse("example.org").unwrap();
        assert!(dom.matches_address("x@Example.org"));
        assert!(dom.matches_address("x@mail.example.org"));
        assert!(!dom.matches_address("x@badexample.org"));
        assert!(!dom.matches_address("example.org"));
        let addr = Entry::parse("bad@example.org").unwrap();
        assert!(addr.matches_address("BAD@example.org"));
        assert!(!addr.matches_address("good@example.org"));
        assert!(!addr.matches_ip(ip("127.0.0.1")));
    }
}
