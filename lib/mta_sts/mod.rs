//! MTA-STS (RFC 8461): which MX hosts of a domain may receive its mail, and whether TLS to
//! them must be verified. Used by outbound delivery before it connects.
//!
//! `Cache::policy(domain)`: looks up `_mta-sts.DOMAIN` TXT; when its `id` matches the cached
//! policy's, the cached one is used; otherwise the policy is fetched over HTTPS from
//! `mta-sts.DOMAIN` (see `fetch`), parsed (`policy`), and cached on disk in
//! `<spool_dir>/mta-sts/<domain>` until `max_age` runs out. When the TXT lookup or the fetch
//! fails, an unexpired cached policy still applies (RFC 8461 section 5.1), so an attacker
//! who blocks DNS or HTTPS cannot switch enforcement off.
//!
//! Owns only `<spool_dir>/mta-sts/` (one small TOML file per domain, replaced by rename; a
//! lost or corrupt file just means a fetch). Test/ops knobs live in `[dkim]`
//! (`mta_sts_https_port`, `mta_sts_ca_file`; see `config::dkim`).
//! Failures never error: no usable policy is `None` (deliver as without MTA-STS), and the
//! reason is logged.

pub mod fetch;
pub mod policy;

pub use policy::{Mode, Policy};

use crate::config::{dns::Dns, safe_component, Config};
use crate::mlog;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The policy cache for one spool. Cheap to share; every call reads the disk cache.
pub struct Cache {
    dir: PathBuf,
    dns: Dns,
    port: u16,
    timeout: Duration,
    tls: Arc<rustls::ClientConfig>,
}

/// One cached policy on disk.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    /// The TXT record's `id` when the policy was fetched.
    txt_id: String,
    /// Unix seconds of the fetch.
    fetched_at: u64,
    /// The policy body as served.
    body: String,
}

impl Cache {
    /// A cache under `<spool_dir>/mta-sts`, fetching with the system's CA roots plus
    /// `[dkim] mta_sts_ca_file`. Fails only when that CA file is unusable.
    pub fn new(cfg: &Config) -> Result<Cache, String> {
        let tls = fetch::client_config(cfg.dkim.mta_sts_ca_file.as_deref())?;
        Ok(Cache {
            dir: cfg.spool_dir.join("mta-sts"),
            dns: cfg.dns.clone(),
            port: cfg.dkim.mta_sts_https_port,
            timeout: Duration::from_secs(30).min(cfg.dns.timeout.max(Duration::from_secs(1)) * 6),
            tls: Arc::new(tls),
        })
    }

    /// The domain's policy, from a synchronous caller (builds a small runtime; must not be
    /// called from inside a tokio runtime: use `policy_async` there).
    pub fn policy(&self, domain: &str) -> Option<Policy> {
        let rt = match crate::dns::runtime() {
            Ok(rt) => rt,
            Err(e) => {
                mlog!("mta-sts: no runtime: {e}");
                return self.cached(&normalize(domain)?, now()).map(|(_, p)| p);
            }
        };
        rt.block_on(self.policy_async(domain))
    }

    /// The domain's policy (mode `none` included: it is a policy, `enforce()` is false).
    /// The HTTPS fetch itself blocks the calling thread (rare: only when the TXT id changes
    /// or the cache expired; bounded by a timeout).
    pub async fn policy_async(&self, domain: &str) -> Option<Policy> {
        let domain = normalize(domain)?;
        let now = now();
        let cached = self.cached(&domain, now);
        let resolver = match fetch::resolver(&self.dns) {
            Ok(r) => r,
            Err(e) => {
                mlog!("mta-sts: {domain}: {e}");
                return cached.map(|(_, p)| p);
            }
        };
        let id = match fetch::txt(&resolver, &domain).await {
            fetch::Txt::Id(id) => id,
            fetch::Txt::Absent => return cached.map(|(_, p)| p),
            fetch::Txt::Failed(e) => {
                mlog!("mta-sts: {domain}: TXT lookup failed, using cache if any: {e}");
                return cached.map(|(_, p)| p);
            }
        };
        if let Some((cached_id, p)) = &cached {
            if *cached_id == id {
                return Some(p.clone());
            }
        }
        match self.fetch(&resolver, &domain).await {
            Ok((body, policy)) => {
                self.store(&domain, &id, now, &body);
                mlog!(
                    "mta-sts: {domain}: policy id={id} mode={:?} max_age={}",
                    policy.mode,
                    policy.max_age
                );
                Some(policy)
            }
            Err(e) => {
                mlog!("mta-sts: {domain}: policy fetch failed: {e}");
                cached.map(|(_, p)| p)
            }
        }
    }

    async fn fetch(
        &self,
        resolver: &hickory_resolver::TokioResolver,
        domain: &str,
    ) -> Result<(String, Policy), String> {
        let host = format!("mta-sts.{domain}");
        let addrs = fetch::addresses(resolver, &host).await?;
        let body = fetch::get_policy(&self.tls, &host, &addrs, self.port, self.timeout)?;
        let policy = Policy::parse(&body).map_err(|e| format!("invalid policy: {e}"))?;
        let text = String::from_utf8(body).map_err(|_| "policy is not UTF-8")?;
        Ok((text, policy))
    }

    fn path(&self, domain: &str) -> PathBuf {
        self.dir.join(domain)
    }

    /// The cached, unexpired policy with its TXT id.
    fn cached(&self, domain: &str, now: u64) -> Option<(String, Policy)> {
        let text = std::fs::read_to_string(self.path(domain)).ok()?;
        let entry: Entry = toml::from_str(&text).ok()?;
        let policy = Policy::parse(entry.body.as_bytes()).ok()?;
        (entry.fetched_at.saturating_add(policy.max_age) > now).then_some((entry.txt_id, policy))
    }

    /// Writes the cache file by rename; failures are logged (next time fetches again).
    fn store(&self, domain: &str, id: &str, now: u64, body: &str) {
        let entry = Entry {
            txt_id: id.to_string(),
            fetched_at: now,
            body: body.to_string(),
        };
        let result = toml::to_string(&entry)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                std::fs::create_dir_all(&self.dir).map_err(|e| e.to_string())?;
                let tmp = self
                    .dir
                    .join(format!(".{domain}.{}.tmp", std::process::id()));
                std::fs::write(&tmp, text).map_err(|e| e.to_string())?;
                std::fs::rename(&tmp, self.path(domain)).map_err(|e| e.to_string())
            });
        if let Err(e) = result {
            mlog!(
                "mta-sts: {domain}: cannot cache policy in {}: {e}",
                self.dir.display()
            );
        }
    }
}

/// Lower case without a trailing dot, and usable as a file name; `None` otherwise.
fn normalize(domain: &str) -> Option<String> {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    (safe_component(&d) && d.contains('.')).then_some(d)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_round_trip_and_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache {
            dir: dir.path().join("mta-sts"),
            dns: Dns::default(),
            port: 443,
            timeout: Duration::from_secs(1),
            tls: Arc::new(fetch::client_config(None).unwrap()),
        };
        let body = "version: STSv1\nmode: enforce\nmx: mx.a.test\nmax_age: 100\n";
        cache.store("a.test", "id1", 1000, body);
        let (id, p) = cache.cached("a.test", 1050).unwrap();
        assert_eq!(id, "id1");
        assert!(p.enforce() && p.allows_mx("mx.a.test"));
        assert!(cache.cached("a.test", 1100).is_none(), "expired");
        assert!(cache.cached("b.test", 1050).is_none());
    }

    #[test]
    fn domains_must_be_file_names() {
        assert_eq!(normalize("Example.COM.").as_deref(), Some("example.com"));
        assert!(normalize("../x").is_none());
        assert!(normalize("a/b.c").is_none());
        assert!(normalize("localhost").is_none());
    }
}
