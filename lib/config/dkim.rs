//! `[dkim]`: DKIM signing of outbound mail from our domains.
//! The raw section as written and its checked form; checked by `check`.

use super::{Checker, Error};
use serde::Deserialize;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDkim {}

#[derive(Debug, Clone, Default)]
pub struct Dkim {}

pub fn check(_raw: RawDkim, _c: &Checker) -> Result<Dkim, Error> {
    Ok(Dkim {})
}
