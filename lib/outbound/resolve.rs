//! DNS for outbound routing (RFC 5321 section 5.1): a route's MX hosts in preference order
//! (equal preferences shuffled), each host's IPv4 and IPv6 addresses, the implicit MX (the
//! domain's own A/AAAA) when the domain has no MX (NODATA), and RFC 7505 null MX.
//!
//! Fails permanently for NXDOMAIN (5.1.2), a null MX (5.1.10) and a domain with neither MX
//! nor addresses (5.1.2); temporarily (4.4.3) when DNS does not answer or no MX host
//! resolves. Lookups are async (hickory); the caller runs them on its runtime.

use super::client::Failure;
use super::route::{Route, Target};
use crate::spool::RcptState;
use hickory_resolver::net::NetError;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;
use rand::seq::SliceRandom;
use std::net::{IpAddr, SocketAddr};

/// At most this many addresses are tried per delivery attempt (Postfix's default is 5).
pub const MAX_ADDRESSES: usize = 10;

/// One address to try, with the host name it stands for (TLS checks that name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub name: String,
    pub addr: SocketAddr,
}

/// What an MX lookup said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MxAnswer {
    /// Exchange names, best first.
    Hosts(Vec<String>),
    /// RFC 7505: the domain accepts no mail.
    Null,
    /// No MX records (NODATA): use the domain itself.
    Implicit,
}

/// Orders MX records: lowest preference first, equal preferences shuffled; a lone "."
/// exchange is a null MX; "." among others is dropped.
pub fn order_mx(mut records: Vec<(u16, String)>, rng: &mut impl rand::Rng) -> MxAnswer {
    if records.is_empty() {
        return MxAnswer::Implicit;
    }
    let is_root = |n: &str| n.is_empty() || n == ".";
    if records.iter().all(|(_, n)| is_root(n)) {
        return MxAnswer::Null;
    }
    records.retain(|(_, n)| !is_root(n));
    records.shuffle(rng);
    // A stable sort keeps the shuffled order within one preference.
    records.sort_by_key(|(p, _)| *p);
    let mut names: Vec<String> = Vec::new();
    for (_, n) in records {
        let n = n.trim_end_matches('.').to_ascii_lowercase();
        if !names.contains(&n) {
            names.push(n);
        }
    }
    MxAnswer::Hosts(names)
}

fn temp(reply: String) -> Failure {
    Failure {
        state: RcptState::Deferred,
        reply,
    }
}

fn perm(reply: String) -> Failure {
    Failure {
        state: RcptState::Failed,
        reply,
    }
}

/// Addresses (and names) to try for `route`, in order, at most `MAX_ADDRESSES`.
pub async fn hops(res: &TokioResolver, route: &Route, mx_port: u16) -> Result<Vec<Hop>, Failure> {
    let (name, port, mx) = match &route.target {
        Target::Mx(d) => (d.as_str(), mx_port, true),
        Target::Host { host, mx } => (host.host.as_str(), host.port, *mx),
    };
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(vec![Hop {
            name: name.to_string(),
            addr: SocketAddr::new(ip, port),
        }]);
    }
    let hosts = match mx {
        false => vec![name.to_string()],
        true => match mx_lookup(res, name).await? {
            MxAnswer::Null => {
                return Err(perm(format!(
                    "556 5.1.10 {name} accepts no mail (null MX, RFC 7505)"
                )))
            }
            MxAnswer::Implicit => {
                let addrs = addresses(res, name).await?;
                if addrs.is_empty() {
                    return Err(perm(format!(
                        "550 5.1.2 {name} has no MX or address records"
                    )));
                }
                return Ok(to_hops(name, &addrs, port));
            }
            MxAnswer::Hosts(h) => h,
        },
    };
    let mut out = Vec::new();
    let mut last_err = None;
    for h in &hosts {
        if out.len() >= MAX_ADDRESSES {
            break;
        }
        match addresses(res, h).await {
            Ok(a) if a.is_empty() => last_err = Some(temp(format!("451 4.4.3 {h}: no address"))),
            Ok(a) => out.extend(to_hops(h, &a, port)),
            Err(f) => last_err = Some(f),
        }
    }
    out.truncate(MAX_ADDRESSES);
    if out.is_empty() {
        let f = last_err.unwrap_or_else(|| temp(format!("451 4.4.3 {name}: no host to try")));
        // A host that does not exist may appear later (DNS being fixed): never permanent.
        return Err(temp(f.reply.replacen("550 5.", "451 4.", 1)));
    }
    Ok(out)
}

fn to_hops(name: &str, addrs: &[IpAddr], port: u16) -> Vec<Hop> {
    addrs
        .iter()
        .map(|ip| Hop {
            name: name.to_string(),
            addr: SocketAddr::new(*ip, port),
        })
        .collect()
}

async fn mx_lookup(res: &TokioResolver, domain: &str) -> Result<MxAnswer, Failure> {
    match res.mx_lookup(fqdn(domain)).await {
        Ok(l) => {
            let records = l
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
                    _ => None,
                })
                .collect();
            Ok(order_mx(records, &mut rand::thread_rng()))
        }
        Err(e) if e.is_nx_domain() => {
            Err(perm(format!("550 5.1.2 domain {domain} does not exist")))
        }
        Err(e) if e.is_no_records_found() => Ok(MxAnswer::Implicit),
        Err(e) => Err(temp(format!(
            "451 4.4.3 MX lookup for {domain} failed: {}",
            short(&e)
        ))),
    }
}

/// IPv4 and IPv6 addresses of `host` (IPv4 first); empty when it has neither.
async fn addresses(res: &TokioResolver, host: &str) -> Result<Vec<IpAddr>, Failure> {
    let name = fqdn(host);
    let (v4, v6) = tokio::join!(res.ipv4_lookup(name.clone()), res.ipv6_lookup(name));
    let mut out = Vec::new();
    let mut nx = 0;
    for r in [v4, v6] {
        match r {
            Ok(l) => out.extend(l.answers().iter().filter_map(|r| match &r.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                _ => None,
            })),
            Err(e) if e.is_nx_domain() => nx += 1,
            Err(e) if e.is_no_records_found() => {}
            Err(e) => {
                return Err(temp(format!(
                    "451 4.4.3 address lookup for {host} failed: {}",
                    short(&e)
                )))
            }
        }
    }
    if nx == 2 {
        return Err(perm(format!("550 5.1.2 host {host} does not exist")));
    }
    Ok(out)
}

/// Absolute name, so no search domain of resolv.conf is appended.
fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

fn short(e: &NetError) -> String {
    let s = e.to_string();
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn mx(v: &[(u16, &str)]) -> Vec<(u16, String)> {
        v.iter().map(|(p, n)| (*p, n.to_string())).collect()
    }

    #[test]
    fn preference_order_with_equal_ones_shuffled() {
        let mut seen_first = std::collections::HashSet::new();
        for seed in 0..40 {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let r = order_mx(
                mx(&[(20, "c."), (10, "a."), (10, "B."), (30, "d.")]),
                &mut rng,
            );
            let MxAnswer::Hosts(h) = r else { panic!() };
            assert_eq!(h.len(), 4);
            assert!(h[..2].contains(&"a".to_string()) && h[..2].contains(&"b".to_string()));
            assert_eq!(h[2..], ["c".to_string(), "d".to_string()]);
            seen_first.insert(h[0].clone());
        }
        assert_eq!(seen_first.len(), 2, "equal preferences never shuffled");
    }

    #[test]
    fn null_and_implicit_mx() {
        let mut rng = rand::thread_rng();
        assert_eq!(order_mx(mx(&[(0, ".")]), &mut rng), MxAnswer::Null);
        assert_eq!(order_mx(vec![], &mut rng), MxAnswer::Implicit);
        assert_eq!(
            order_mx(mx(&[(0, "."), (10, "mx.b.test.")]), &mut rng),
            MxAnswer::Hosts(vec!["mx.b.test".into()])
        );
    }
}
