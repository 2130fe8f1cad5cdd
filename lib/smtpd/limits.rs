//! smtpd's rate limits (`[policy] rate_limit_*`): messages and recipients per hour per
//! client IP and per authenticated user, counted in `ratelimit` files shared by all smtpd
//! processes. Checked at MAIL (messages) and RCPT (recipients, counting this transaction's),
//! counted when a message is queued. Concurrent sessions of one client can overshoot by the
//! messages they have in flight. Loopback clients are exempt from the per-IP limits unless
//! `rate_limit_loopback`. Unreadable state is logged and lets mail through.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use super::refusals;
use crate::config::policy::RateLimits;
use crate::config::Config;
use crate::mlog;
use crate::ratelimit::{Key, Limiter, Usage};
use crate::smtp::reply::Reply;

pub struct Limits {
    limiter: Limiter,
    rate: RateLimits,
    /// `None`: the client is exempt from (or has no) per-IP limits.
    ip: Option<IpAddr>,
}

impl Limits {
    pub fn new(cfg: &Config, ip: Option<IpAddr>) -> Limits {
        let rate = cfg.policy.rate.clone();
        let per_ip = rate.messages_per_hour_ip > 0 || rate.recipients_per_hour_ip > 0;
        let ip = ip.filter(|ip| per_ip && (rate.loopback || !ip.is_loopback()));
        Limits {
            limiter: Limiter::new(&cfg.spool_dir),
            rate,
            ip,
        }
    }

    /// MAIL FROM: refused when the IP or user already sent its messages for the hour.
    pub fn mail(&self, user: Option<&str>) -> Result<(), Reply> {
        for (key, who, msgs, _) in self.keys(user) {
            if msgs > 0 && self.usage(&key).messages >= u64::from(msgs) {
                return Err(refusals::too_many_messages(&who, msgs));
            }
        }
        Ok(())
    }

    /// RCPT TO: `accepted` recipients of this transaction are already counted in.
    pub fn recipient(&self, user: Option<&str>, accepted: usize) -> Result<(), Reply> {
        for (key, who, _, rcpts) in self.keys(user) {
            if rcpts > 0 && self.usage(&key).recipients + accepted as u64 >= u64::from(rcpts) {
                return Err(refusals::too_many_recipients(&who, rcpts));
            }
        }
        Ok(())
    }

    /// A message with `recipients` recipients was queued.
    pub fn record(&self, user: Option<&str>, recipients: usize) {
        for (key, _, _, _) in self.keys(user) {
            if let Err(e) = self.limiter.record(&key, now(), recipients as u64) {
                mlog!("warning: rate limit state not updated for {key:?}: {e}");
            }
        }
    }

    /// The keys that apply, with how to name them and their message and recipient limits.
    fn keys(&self, user: Option<&str>) -> Vec<(Key, String, u32, u32)> {
        let r = &self.rate;
        let mut keys = Vec::new();
        if let Some(ip) = self.ip {
            let who = format!("client [{ip}]");
            keys.push((
                Key::Ip(ip),
                who,
                r.messages_per_hour_ip,
                r.recipients_per_hour_ip,
            ));
        }
        let per_user = r.messages_per_hour_user > 0 || r.recipients_per_hour_user > 0;
        if let Some(u) = user.filter(|_| per_user) {
            let (m, n) = (r.messages_per_hour_user, r.recipients_per_hour_user);
            keys.push((Key::User(u.to_lowercase()), format!("user {u}"), m, n));
        }
        keys
    }

    fn usage(&self, key: &Key) -> Usage {
        self.limiter.usage(key, now()).unwrap_or_else(|e| {
            mlog!("warning: rate limit state unreadable for {key:?}: {e}");
            Usage::default()
        })
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
