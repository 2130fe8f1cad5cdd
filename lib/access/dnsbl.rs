//! DNS block and allow lists (RFC 5782): is the client's IP listed in a zone? The query is
//! the reversed address under the zone (`7.2.0.192.zen.example.` for 192.0.2.7, nibbles for
//! IPv6); a listing is an A record in 127.0.0.0/8. Answers in 127.255.255.0/24 are list
//! operators' error codes (e.g. "query refused"), not listings. A lookup that fails counts
//! as not listed: a DNS outage must not turn into refused mail.

use std::net::IpAddr;
use std::time::Duration;

use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;

use crate::config::Config;

/// The name to ask for `ip` in `zone` (absolute, with the final dot).
pub fn query_name(ip: IpAddr, zone: &str) -> String {
    let reversed = match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => return query_name(IpAddr::V4(v4), zone),
            None => {
                let hex: Vec<String> = v6
                    .octets()
                    .iter()
                    .rev()
                    .flat_map(|b| [b & 0xf, b >> 4])
                    .map(|n| format!("{n:x}"))
                    .collect();
                hex.join(".")
            }
        },
    };
    format!("{reversed}.{}.", zone.trim_end_matches('.'))
}

/// True when an A answer means "listed".
pub fn is_listing(a: std::net::Ipv4Addr) -> bool {
    let o = a.octets();
    o[0] == 127 && !(o[1] == 255 && o[2] == 255)
}

/// The zones (of `zones`) that list `ip`, asked concurrently, in `zones` order.
pub async fn listed(res: &TokioResolver, zones: &[String], ip: IpAddr) -> Vec<String> {
    let mut asks = tokio::task::JoinSet::new();
    for (i, zone) in zones.iter().enumerate() {
        let (res, name) = (res.clone(), query_name(ip, zone));
        asks.spawn(async move {
            let hit = res.ipv4_lookup(name).await.is_ok_and(|l| {
                l.answers().iter().any(|r| match &r.data {
                    RData::A(a) => is_listing(a.0),
                    _ => false,
                })
            });
            (i, hit)
        });
    }
    let mut hits: Vec<usize> = Vec::new();
    while let Some(done) = asks.join_next().await {
        if let Ok((i, true)) = done {
            hits.push(i);
        }
    }
    hits.sort_unstable();
    hits.into_iter().map(|i| zones[i].clone()).collect()
}

/// Blocking lookup of `ip` in `zones` with `[dns]`; the whole check is bounded by twice the
/// per-query timeout. `Err` only when no resolver could be built.
pub fn check(cfg: &Config, zones: &[String], ip: IpAddr) -> Result<Vec<String>, String> {
    if zones.is_empty() {
        return Ok(Vec::new());
    }
    let rt = crate::dns::runtime().map_err(|e| format!("tokio runtime: {e}"))?;
    let res = {
        let _guard = rt.enter();
        crate::dns::resolver(&cfg.dns)?
    };
    let limit = cfg
        .dns
        .timeout
        .saturating_mul(2)
        .max(Duration::from_secs(1));
    Ok(rt.block_on(async {
        tokio::time::timeout(limit, listed(&res, zones, ip))
            .await
            .unwrap_or_default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_names() {
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(query_name(ip, "zen.example"), "7.2.0.192.zen.example.");
        let mapped: IpAddr = "::ffff:127.0.0.2".parse().unwrap();
        assert_eq!(query_name(mapped, "bl.test."), "2.0.0.127.bl.test.");
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(
            query_name(v6, "bl.test"),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test."
        );
    }

    #[test]
    fn listing_codes() {
        assert!(is_listing("127.0.0.2".parse().unwrap()));
        assert!(is_listing("127.0.0.10".parse().unwrap()));
        assert!(!is_listing("127.255.255.254".parse().unwrap()));
        assert!(!is_listing("10.0.0.2".parse().unwrap()));
    }
}
