//! `[scan]`: what spam-scan checks (clamd, scoring, thresholds).
//! The raw section as written and its checked form; checked by `check`.

use super::{Checker, Error};
use serde::Deserialize;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawScan {}

#[derive(Debug, Clone, Default)]
pub struct Scan {}

pub fn check(_raw: RawScan, _c: &Checker) -> Result<Scan, Error> {
    Ok(Scan {})
}
