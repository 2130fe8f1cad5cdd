//! `[policy]`: SMTP-time policy in smtpd (sender authentication checks, DNSBL, allow/block lists, rate limits).
//! The raw section as written and its checked form; checked by `check`.

use super::{Checker, Error};
use serde::Deserialize;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {}

#[derive(Debug, Clone, Default)]
pub struct Policy {}

pub fn check(_raw: RawPolicy, _c: &Checker) -> Result<Policy, Error> {
    Ok(Policy {})
}
