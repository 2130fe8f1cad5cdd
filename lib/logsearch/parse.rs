//! One log line, as our programs write it (`program[pid]: [ID: ]text`, see `log.rs`),
//! optionally behind what a log collector adds in front: an ISO 8601 time
//! (`journalctl -o short-iso`, `2026-11-28T06:23:47+0000 host `) or a syslog one
//! (`Nov 28 06:23:47 host `). Pure functions; a line that is not ours is `None`.

/// One parsed line.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Seconds since the epoch (UTC), when the line carries a time.
    pub time: Option<i64>,
    pub program: String,
    /// The queue id the line is about (16 hex digits opening the text).
    pub id: Option<String>,
    /// The text after `program[pid]: ` and the id.
    pub text: String,
}

/// Parses one line; `year` completes syslog times, which have none.
pub fn parse_line(line: &str, year: i64) -> Option<Entry> {
    let (head, body) = split_program(line)?;
    let (prefix, program) = match head.rsplit_once(' ') {
        Some((p, prog)) => (p, prog),
        None => ("", head),
    };
    let (id, text) = match body.split_once(": ") {
        Some((id, rest)) if crate::spool::id::is_valid(id) => (Some(id.to_string()), rest),
        _ => (None, body),
    };
    Some(Entry {
        time: parse_time(prefix.trim(), year),
        program: program.to_string(),
        id,
        text: text.trim_end().to_string(),
    })
}

/// `… prog[123]: body` → (`… prog`, `body`).
fn split_program(line: &str) -> Option<(&str, &str)> {
    let mut from = 0;
    while let Some(at) = line[from..].find("]: ") {
        let end = from + at;
        if let Some(open) = line[..end].rfind('[') {
            let pid = &line[open + 1..end];
            if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) && open > 0 {
                return Some((&line[..open], &line[end + 3..]));
            }
        }
        from = end + 3;
    }
    None
}

/// The time at the start of a collector's prefix, if any.
fn parse_time(prefix: &str, year: i64) -> Option<i64> {
    let first = prefix.split_whitespace().next()?;
    if let Some(t) = parse_iso(first) {
        return Some(t);
    }
    let mut f = prefix.split_whitespace();
    let (mon, day, hms) = (f.next()?, f.next()?, f.next()?);
    let m = crate::date::MONTHS.iter().position(|x| *x == mon)? as i64 + 1;
    let d: i64 = day.parse().ok()?;
    Some(crate::date::days_from_civil(year, m, d) * 86400 + hms_secs(hms)?)
}

/// `2026-11-28`, `2026-11-28T06:23[:47[.123]]`, with `Z`, `+0000` or `+00:00`.
pub fn parse_iso(s: &str) -> Option<i64> {
    let (date, rest) = match s.find(['T', ' ']) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    let mut d = date.split('-');
    let (y, m, day) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let mut secs = crate::date::days_from_civil(y, m, day) * 86400;
    if rest.is_empty() {
        return Some(secs);
    }
    let (clock, offset) = split_offset(rest);
    secs += hms_secs(clock.split('.').next()?)?;
    Some(secs - offset?)
}

/// `06:23:47+0000` → (`06:23:47`, offset seconds); no zone is UTC.
fn split_offset(s: &str) -> (&str, Option<i64>) {
    if let Some(c) = s.strip_suffix('Z') {
        return (c, Some(0));
    }
    match s.rfind(['+', '-']) {
        Some(i) => {
            let z: String = s[i + 1..].chars().filter(char::is_ascii_digit).collect();
            let sign = if s[i..].starts_with('-') { -1 } else { 1 };
            let off = match (
                z.get(..2).and_then(|h| h.parse::<i64>().ok()),
                z.get(2..4).and_then(|m| m.parse::<i64>().ok()),
            ) {
                (Some(h), Some(m)) => Some(sign * (h * 3600 + m * 60)),
                _ => None,
            };
            (&s[..i], off)
        }
        None => (s, Some(0)),
    }
}

fn hms_secs(s: &str) -> Option<i64> {
    let mut f = s.split(':');
    let h: i64 = f.next()?.parse().ok()?;
    let m: i64 = f.next()?.parse().ok()?;
    let sec: i64 = f.next().map_or(Some(0), |x| x.parse().ok())?;
    (h < 24 && m < 60 && sec < 61).then_some(h * 3600 + m * 60 + sec)
}

/// The value of `key=<…>` or `key=word` in a line's text, lower-cased for addresses.
pub fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(at) = text[from..].find(key) {
        let start = from + at;
        let ok_before = start == 0 || text.as_bytes()[start - 1] == b' ';
        let rest = &text[start + key.len()..];
        if ok_before {
            if let Some(r) = rest.strip_prefix("=<") {
                return r.find('>').map(|e| &r[..e]);
            }
            if let Some(r) = rest.strip_prefix('=') {
                return Some(r.split(' ').next().unwrap_or(r));
            }
        }
        from = start + key.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_lines_with_and_without_collector_prefixes() {
        let e = parse_line(
            "smtpd[42]: 0123456789ABCDEF: client=127.0.0.1 from=<A@x.test> size=3",
            2026,
        )
        .unwrap();
        assert_eq!(e.program, "smtpd");
        assert_eq!(e.id.as_deref(), Some("0123456789ABCDEF"));
        assert_eq!(field(&e.text, "from"), Some("A@x.test"));
        assert_eq!(field(&e.text, "size"), Some("3"));
        assert_eq!(e.time, None);
        let e = parse_line("2026-11-28T06:23:47+0100 mx queue-runner[7]: 0123456789ABCDEF: to=<b@x> orig_to=<c@x> status=sent (250 ok)", 0).unwrap();
        assert_eq!(e.time, Some(parse_iso("2026-11-28T05:23:47Z").unwrap()));
        assert_eq!(field(&e.text, "to"), Some("b@x"));
        assert_eq!(field(&e.text, "orig_to"), Some("c@x"));
        let e = parse_line("Nov 28 06:23:47 mx spam-scan[9]: started spool=/x", 2026).unwrap();
        assert_eq!(e.time, parse_iso("2026-11-28T06:23:47"));
        assert_eq!(e.id, None);
        assert!(parse_line("random text", 2026).is_none());
    }

    #[test]
    fn iso_dates() {
        assert_eq!(parse_iso("1970-01-02"), Some(86400));
        assert_eq!(
            parse_iso("2026-11-28 00:00:01"),
            Some(crate::date::days_from_civil(2026, 11, 28) * 86400 + 1)
        );
        assert_eq!(
            crate::date::civil_from_days(crate::date::days_from_civil(2024, 2, 29)),
            (2024, 2, 29)
        );
        assert_eq!(parse_iso("2026-13-01"), None);
    }
}
