//! `[outbound]`: how queue-runner delivers to other domains' servers (routing, smarthost, TLS, limits).
//! The raw section as written and its checked form; checked by `check`.

use super::{Checker, Error};
use serde::Deserialize;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawOutbound {}

#[derive(Debug, Clone, Default)]
pub struct Outbound {}

pub fn check(_raw: RawOutbound, _c: &Checker) -> Result<Outbound, Error> {
    Ok(Outbound {})
}
