//! The config file as written: serde structs mirroring `mail.toml`, every field optional
//! where a default exists, unknown keys refused so a typo is an error, not a silent default.

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    pub hostname: String,
    pub spool_dir: String,
    pub mail_root: String,
    pub users_file: String,
    pub aliases_file: Option<String>,
    pub bin_dir: Option<String>,
    /// Unix user the long-running stages and per-connection programs run as when started as root.
    pub run_as: Option<String>,
    pub recipient_delimiter: Option<String>,
    #[serde(default)]
    pub domains: BTreeMap<String, RawDomain>,
    pub tls: Option<RawTls>,
    #[serde(default)]
    pub smtpd: RawSmtpd,
    #[serde(default)]
    pub queue: RawQueue,
    #[serde(default)]
    pub delivery: RawDelivery,
    #[serde(default, rename = "listen")]
    pub listeners: Vec<RawListener>,
    // Sections in their own files (lib/config/<section>.rs), each with its own checks.
    #[serde(default)]
    pub dns: super::dns::RawDns,
    #[serde(default)]
    pub outbound: super::outbound::RawOutbound,
    #[serde(default)]
    pub bounce: super::bounce::RawBounce,
    #[serde(default)]
    pub dkim: super::dkim::RawDkim,
    #[serde(default)]
    pub scan: super::scan::RawScan,
    #[serde(default)]
    pub policy: super::policy::RawPolicy,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDomain {
    pub catch_all: Option<String>,
    /// This domain is another name for the one named here: `user@this` is `user@that`.
    pub alias_of: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert: String,
    pub key: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawSmtpd {
    pub max_message_size: Option<u64>,
    pub max_recipients: Option<usize>,
    pub command_timeout_secs: Option<u64>,
    pub data_timeout_secs: Option<u64>,
    pub max_errors: Option<u32>,
    pub allow_plaintext_auth_on_loopback: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawQueue {
    pub scan_interval_secs: Option<u64>,
    pub retry_base_secs: Option<u64>,
    pub retry_max_secs: Option<u64>,
    pub max_lifetime_secs: Option<u64>,
    pub max_parallel_deliveries: Option<usize>,
    pub allow_pipe_aliases: Option<bool>,
    pub allow_include_aliases: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDelivery {
    pub default_quota: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListener {
    pub name: String,
    pub program: String,
    pub address: String,
    #[serde(default)]
    pub args: Vec<String>,
    pub max_connections: Option<usize>,
    pub max_per_ip: Option<usize>,
    pub enabled: Option<bool>,
}
