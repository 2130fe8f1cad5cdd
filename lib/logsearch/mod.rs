//! Log search: follows messages through our log lines (`mailctl log search`). Every program
//! opens a line about a message with its queue id, so grouping lines by id gives a
//! message's whole path: received (smtpd `client=… from=<…>`), scanned (spam-scan
//! `scanned … -> queue|quarantine`), delivered (local-deliver `delivered to=<…>`,
//! queue-runner `to=<…> status=sent`), deferred, bounced, removed.
//!
//! A search for a queue id shows that message; a search for an address shows the messages
//! it sent (`from=<addr>` or `auth=addr`) and received (`to=<addr>`/`orig_to=<addr>`), with
//! each one's path. `since` drops lines whose time is older; lines without a time (stderr
//! of `mailctl run`) are kept. Reads text, writes text; never touches the spool.

pub mod parse;

use std::collections::BTreeMap;
use std::fmt::Write;

use parse::field;
pub use parse::{parse_iso, parse_line, Entry};

/// One message as the log tells it.
#[derive(Debug, Clone, Default)]
pub struct Message {
    pub id: String,
    pub sender: Option<String>,
    pub auth: Option<String>,
    /// Recipient (final address, and the one given if an alias changed it) → last status.
    pub recipients: BTreeMap<String, String>,
    /// Addresses the message was originally sent to (`orig_to`).
    pub original: Vec<String>,
    pub received: Option<i64>,
    pub lines: Vec<Entry>,
}

impl Message {
    fn add(&mut self, e: Entry) {
        let t = &e.text;
        if e.program == "smtpd" && field(t, "client").is_some() {
            self.sender = field(t, "from").map(str::to_lowercase);
            self.auth = field(t, "auth")
                .filter(|a| *a != "-")
                .map(str::to_lowercase);
            self.received = e.time;
        }
        if let Some(to) = field(t, "to") {
            let status = if t.starts_with("delivered ") {
                Some("delivered")
            } else {
                field(t, "status").map(|s| if s == "sent" { "delivered" } else { s })
            };
            if let Some(s) = status {
                let slot = self.recipients.entry(to.to_lowercase()).or_default();
                // smtpd's `received` says only that the recipient was accepted: it never
                // replaces a later state (lines from several programs may interleave).
                if s != "received" || slot.is_empty() {
                    *slot = s.to_string();
                }
            }
            if let Some(o) = field(t, "orig_to").map(str::to_lowercase) {
                if !self.original.contains(&o) {
                    self.original.push(o);
                }
            }
        }
        self.lines.push(e);
    }

    /// `delivered`, `deferred`, `bounced`, `quarantined`, or `received` (nothing later yet).
    pub fn status(&self) -> String {
        if self.lines.iter().any(|l| l.text.ends_with("-> quarantine")) {
            return "quarantined".into();
        }
        let mut states: Vec<&str> = self.recipients.values().map(String::as_str).collect();
        states.sort();
        states.dedup();
        if states.is_empty() {
            return "received".into();
        }
        states.join(",")
    }

    fn sent_by(&self, addr: &str) -> bool {
        self.sender.as_deref() == Some(addr) || self.auth.as_deref() == Some(addr)
    }

    fn received_by(&self, addr: &str) -> bool {
        self.recipients.contains_key(addr) || self.original.iter().any(|o| o == addr)
    }
}

/// Groups the lines that carry a queue id by message, keeping log order.
pub fn collect(text: &str, year: i64, since: Option<i64>) -> BTreeMap<String, Message> {
    let mut out: BTreeMap<String, Message> = BTreeMap::new();
    for e in text.lines().filter_map(|l| parse_line(l, year)) {
        if since.is_some_and(|s| e.time.is_some_and(|t| t < s)) {
            continue;
        }
        let Some(id) = e.id.clone() else { continue };
        let m = out.entry(id.clone()).or_insert_with(|| Message {
            id,
            ..Message::default()
        });
        m.add(e);
    }
    out
}

/// The report for `query` (a queue id or an address) as text; `None` when nothing matched.
pub fn search(text: &str, query: &str, year: i64, since: Option<i64>) -> Option<String> {
    let messages = collect(text, year, since);
    let mut out = String::new();
    if crate::spool::id::is_valid(&query.to_ascii_uppercase()) {
        let m = messages.get(&query.to_ascii_uppercase())?;
        path(&mut out, m);
        return Some(out);
    }
    let addr = query.trim_matches(['<', '>']).to_lowercase();
    let sent: Vec<&Message> = messages.values().filter(|m| m.sent_by(&addr)).collect();
    let got: Vec<&Message> = messages.values().filter(|m| m.received_by(&addr)).collect();
    if sent.is_empty() && got.is_empty() {
        return None;
    }
    let _ = writeln!(out, "sent by {addr}: {}", sent.len());
    for m in &sent {
        let to: Vec<&str> = m.recipients.keys().map(String::as_str).collect();
        let _ = writeln!(
            out,
            "  {}  {}  to={}  {}",
            m.id,
            when(m.received),
            to.join(","),
            m.status()
        );
    }
    let _ = writeln!(out, "received by {addr}: {}", got.len());
    for m in &got {
        let state = match m.recipients.get(&addr) {
            // Accepted and nothing later for this recipient: the message's own state
            // (quarantined, for one) says more.
            Some(s) if s != "received" => s.clone(),
            _ => m.status(),
        };
        let from = m.sender.as_deref().unwrap_or("?");
        let _ = writeln!(
            out,
            "  {}  {}  from=<{from}>  {state}",
            m.id,
            when(m.received)
        );
    }
    let mut shown: Vec<&Message> = sent.into_iter().chain(got).collect();
    shown.sort_by(|a, b| a.id.cmp(&b.id));
    shown.dedup_by(|a, b| a.id == b.id);
    for m in shown {
        out.push('\n');
        path(&mut out, m);
    }
    Some(out)
}

/// A message's header line and every line about it.
fn path(out: &mut String, m: &Message) {
    let _ = writeln!(
        out,
        "{}  from=<{}>  {}",
        m.id,
        m.sender.as_deref().unwrap_or("?"),
        m.status()
    );
    for l in &m.lines {
        let _ = writeln!(out, "  {}  {}: {}", when(l.time), l.program, l.text);
    }
}

/// `2026-11-28 06:23:47` (UTC), or `-` without a time.
fn when(t: Option<i64>) -> String {
    let Some(t) = t else { return "-".into() };
    let (y, m, d) = crate::date::civil_from_days(t.div_euclid(86400));
    let s = t.rem_euclid(86400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// `--since`: an ISO date/time (UTC unless it names a zone) or an age (`30m`, `2h`, `7d`)
/// counted back from `now`.
pub fn parse_since(s: &str, now: i64) -> Option<i64> {
    let s = s.trim();
    let unit = match s.chars().last()? {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        'w' => 7 * 86400,
        _ => return parse_iso(s),
    };
    let n: i64 = s[..s.len() - 1].parse().ok()?;
    Some(now - n * unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
smtpd[1]: connect from=127.0.0.1
smtpd[1]: 00000000000000A1: client=127.0.0.1 helo=x from=<alice@x.test> size=10 nrcpt=2 auth=alice@x.test
spam-scan[2]: 00000000000000A1: scanned parts=1 verdict=clean score=0.0 -> queue
local-deliver[3]: 00000000000000A1: delivered to=<bob@x.test> folder=INBOX size=10 file=1.M1.h
queue-runner[4]: 00000000000000A1: to=<bob@x.test> status=sent (250 2.0.0 delivered)
queue-runner[4]: 00000000000000A1: to=<far@remote.test> status=deferred (451 4.4.1 no answer)
smtpd[5]: 00000000000000B2: client=127.0.0.1 helo=y from=<eve@remote.test> size=5 nrcpt=1 auth=-
queue-runner[4]: 00000000000000B2: to=<alice@x.test> orig_to=<sales@x.test> status=sent (250 ok)
queue-runner[4]: 00000000000000B2: removed
";

    #[test]
    fn a_message_path_by_id() {
        let r = search(LOG, "00000000000000a1", 2026, None).unwrap();
        assert!(
            r.starts_with("00000000000000A1  from=<alice@x.test>  deferred,delivered\n"),
            "{r}"
        );
        assert_eq!(r.lines().count(), 6, "{r}");
        assert!(search(LOG, "00000000000000FF", 2026, None).is_none());
    }

    #[test]
    fn a_users_sent_and_received() {
        let r = search(LOG, "Alice@x.test", 2026, None).unwrap();
        assert!(
            r.contains("sent by alice@x.test: 1\n  00000000000000A1"),
            "{r}"
        );
        assert!(r.contains("received by alice@x.test: 1\n  00000000000000B2  -  from=<eve@remote.test>  delivered"), "{r}");
        let r = search(LOG, "sales@x.test", 2026, None).unwrap();
        assert!(r.contains("received by sales@x.test: 1"), "{r}");
        assert!(search(LOG, "nobody@x.test", 2026, None).is_none());
    }

    #[test]
    fn since_filters_timed_lines() {
        let log = "2026-11-28T06:00:00Z h smtpd[1]: 00000000000000A1: client=1 from=<a@x> size=1\n2026-11-28T08:00:00Z h smtpd[1]: 00000000000000B2: client=1 from=<a@x> size=1\n";
        let since = parse_since("2026-11-28T07:00", 0);
        let m = collect(log, 2026, since);
        assert_eq!(m.keys().collect::<Vec<_>>(), ["00000000000000B2"]);
        assert_eq!(parse_since("2h", 10_000), Some(10_000 - 7200));
        assert_eq!(parse_since("junk", 0), None);
    }
}
