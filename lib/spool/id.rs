//! Queue ids: 16 upper-case hex digits, microseconds since the epoch then random bits,
//! so ids sort by arrival and two programs minting at once still differ. Uniqueness is
//! finally guaranteed by `mkdir` refusing an existing name.

use rand::Rng;
use std::time::{SystemTime, UNIX_EPOCH};

pub fn mint() -> String {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0);
    let r: u16 = rand::thread_rng().gen();
    format!("{:012X}{:04X}", micros & 0xFFFF_FFFF_FFFF, r)
}

/// True for a well-formed id; anything else never becomes a path.
pub fn is_valid(id: &str) -> bool {
    id.len() == 16
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}
