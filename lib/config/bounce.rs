//! `[bounce]`: delivery status notifications (bounces, delay warnings).
//! The raw section as written and its checked form; checked by `check`.

use super::{Checker, Error};
use serde::Deserialize;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawBounce {}

#[derive(Debug, Clone, Default)]
pub struct Bounce {}

pub fn check(_raw: RawBounce, _c: &Checker) -> Result<Bounce, Error> {
    Ok(Bounce {})
}
