//! FUTURERELEASE (RFC 4865): the `HOLDFOR=<seconds>` and `HOLDUNTIL=<RFC 3339 date-time>`
//! parameters of MAIL, their limits and the EHLO keyword `FUTURERELEASE <max-interval>
//! <max-datetime>`. Pure: the caller passes the current time (unix seconds). Knows nothing
//! of who may use it (the session offers it on submission only) or of the queue.
//! Errors: the `Reply` to send (`501 5.5.4` for bad syntax or a hold past the limit).

use super::reply::{self, Reply};

/// Longest hold we accept and advertise: 7 days.
pub const MAX_HOLD_SECS: u64 = 7 * 86400;

/// A requested hold, as given on MAIL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// HOLDFOR: seconds from now.
    For(u64),
    /// HOLDUNTIL: unix seconds.
    Until(u64),
}

impl Hold {
    /// HOLDFOR value: 1 to 9 digits (RFC 4865 3).
    pub fn parse_for(v: &str) -> Result<Hold, Reply> {
        if v.is_empty() || v.len() > 9 || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(reply::syntax("HOLDFOR=<seconds>"));
        }
        v.parse()
            .map(Hold::For)
            .map_err(|_| reply::syntax("HOLDFOR=<seconds>"))
    }

    /// HOLDUNTIL value: an RFC 3339 date-time with its offset (`Z` or `±hh:mm`).
    pub fn parse_until(v: &str) -> Result<Hold, Reply> {
        parse_rfc3339(v).map(Hold::Until).ok_or_else(|| {
            reply::syntax("HOLDUNTIL=<RFC 3339 date-time, e.g. 2026-12-01T08:00:00Z>")
        })
    }

    /// When to release, given `now`: `Ok(0)` for no hold (zero or past times release at
    /// once), `Err(501)` past `max_secs` from now.
    pub fn release_at(self, now: u64, max_secs: u64) -> Result<u64, Reply> {
        let at = match self {
            Hold::For(0) => return Ok(0),
            Hold::For(s) => now.saturating_add(s),
            Hold::Until(t) if t <= now => return Ok(0),
            Hold::Until(t) => t,
        };
        if at - now > max_secs {
            return Err(reply::hold_too_long(max_secs));
        }
        Ok(at)
    }
}

/// The EHLO keyword with its limits as of `now`.
pub fn keyword(now: u64, max_secs: u64) -> String {
    format!(
        "FUTURERELEASE {max_secs} {}",
        rfc3339(now.saturating_add(max_secs))
    )
}

/// `2026-11-28T06:00:00Z`.
pub fn rfc3339(unix: u64) -> String {
    let days = (unix / 86400) as i64;
    let rem = unix % 86400;
    let (y, m, d) = crate::date::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` into unix seconds (fractions dropped).
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || !b[10].eq_ignore_ascii_case(&b'T') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let sep = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let ok = (1..=12).contains(&mo)
        && (1..=days_in_month(y, mo)).contains(&d)
        && h < 24
        && mi < 60
        && sec <= 60;
    if !ok {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let offset = match rest.as_bytes() {
        [z] if z.eq_ignore_ascii_case(&b'Z') => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (oh, om) = (
                rest[1..3].parse::<i64>().ok()?,
                rest[4..6].parse::<i64>().ok()?,
            );
            if !rest[1..3]
                .bytes()
                .chain(rest[4..6].bytes())
                .all(|c| c.is_ascii_digit())
                || oh > 23
                || om > 59
            {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    let t = crate::date::days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
    u64::try_from(t).ok()
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_both_ways() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(
            parse_rfc3339("2023-11-15t00:13:20.5+02:00"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_rfc3339("2000-02-29T00:00:00-00:30"),
            Some(951_784_200)
        );
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        for bad in [
            "2023-11-14 22:13:20Z",
            "2023-11-14T22:13:20",
            "2023-02-29T00:00:00Z",
            "2023-11-14T24:00:00Z",
            "2023-11-14T22:13:20+2:00",
            "2023-11-14T22:13:20.Z",
            "+023-11-14T22:13:20Z",
            "1969-12-31T23:59:59Z",
            "2023-11-14T22:13:20Zjunk",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn holds_and_limits() {
        let now = 1_000_000;
        assert_eq!(
            Hold::parse_for("120").unwrap().release_at(now, 600),
            Ok(now + 120)
        );
        assert_eq!(Hold::parse_for("0").unwrap().release_at(now, 600), Ok(0));
        assert_eq!(Hold::For(601).release_at(now, 600).unwrap_err().code, 501);
        assert_eq!(Hold::Until(now - 5).release_at(now, 600), Ok(0));
        assert_eq!(Hold::Until(now + 600).release_at(now, 600), Ok(now + 600));
        assert_eq!(Hold::parse_for("1234567890").unwrap_err().code, 501);
        assert_eq!(Hold::parse_for("-1").unwrap_err().code, 501);
        assert_eq!(Hold::parse_until("tomorrow").unwrap_err().code, 501);
        assert_eq!(
            keyword(1_700_000_000, 86400),
            "FUTURERELEASE 86400 2023-11-15T22:13:20Z"
        );
    }
}
