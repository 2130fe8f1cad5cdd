//! The verdict on one message: parse it with mail-parser, count MIME parts, note problems
//! (unparsable, no From, no Date, 8-bit header bytes), run the static rules, and hold the
//! score the later checks (clamd, Bayes, spamd, authentication) add to. Renders the header
//! block spam-scan puts on top (see `headers`). Pure: bytes in, report out.

use super::rules;
use mail_parser::MessageParser;

/// The header field spam-scan puts first; its presence at the top marks a scanned message.
pub const HEADER: &str = "X-Spam-Scan";

/// Largest header section looked at for problems (the parser sees the whole message).
const MAX_HEADER: usize = 256 * 1024;

/// One test that matched, with its score contribution.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub name: String,
    pub score: f64,
}

impl Hit {
    pub fn new(name: impl Into<String>, score: f64) -> Hit {
        Hit {
            name: name.into(),
            score,
        }
    }
}

/// What happens to the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Delivered to the inbox.
    Pass,
    /// Delivered, filed into `.Junk` by local-deliver (score at or above `junk_score`).
    Junk,
    /// Held in `spool/quarantine` (score at or above `quarantine_score`).
    Quarantine,
    /// Held in `spool/quarantine`: clamd found a virus.
    Virus,
    /// Was held, then released by the admin (`mailctl quarantine release`): delivered to
    /// the inbox, never scanned again.
    Released,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Junk => "junk",
            Verdict::Quarantine => "quarantine",
            Verdict::Virus => "virus",
            Verdict::Released => "released",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        [
            Verdict::Pass,
            Verdict::Junk,
            Verdict::Quarantine,
            Verdict::Virus,
            Verdict::Released,
        ]
        .into_iter()
        .find(|v| v.name() == s)
    }

    pub fn is_held(self) -> bool {
        matches!(self, Verdict::Quarantine | Verdict::Virus)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// MIME parts, the message itself included (1 for a plain text message).
    pub parts: usize,
    pub verdict: Verdict,
    /// Short tags such as `unparsable`, `no-from`; empty when all is well.
    pub problems: Vec<&'static str>,
    /// Tests that matched, in order.
    pub hits: Vec<Hit>,
    /// The virus clamd named, for `Verdict::Virus`.
    pub virus: Option<String>,
    /// The junk threshold the status header shows as `required=`.
    pub required: f64,
    /// Extra header fields to add below ours (e.g. `Authentication-Results`), name and value.
    pub extra_headers: Vec<(String, String)>,
}

/// Looks at a message: structure problems and the static rules. Verdict `Pass` until
/// `decide` is called.
pub fn analyze(message: &[u8]) -> Report {
    let mut problems = Vec::new();
    let mut hits = Vec::new();
    let parts = match MessageParser::default().parse(message) {
        Some(m) => {
            if m.from()
                .and_then(|f| f.first())
                .and_then(|a| a.address())
                .is_none()
            {
                problems.push("no-from");
            }
            if m.date().is_none() {
                problems.push("no-date");
            }
            hits = rules::check(&m, message);
            m.parts.len().max(1)
        }
        None => {
            problems.push("unparsable");
            hits.push(rules::hit("MIME_UNPARSABLE"));
            0
        }
    };
    if header_section(message).iter().any(|b| *b >= 0x80) {
        problems.push("8bit-header");
        hits.push(rules::hit("HEADER_8BIT"));
    }
    Report {
        parts,
        verdict: Verdict::Pass,
        problems,
        hits,
        virus: None,
        required: 5.0,
        extra_headers: Vec::new(),
    }
}

impl Report {
    /// The sum of the hits, rounded to one decimal.
    pub fn score(&self) -> f64 {
        let s: f64 = self.hits.iter().map(|h| h.score).sum();
        // `+ 0.0` turns the empty sum's -0.0 into 0.0.
        (s * 10.0).round() / 10.0 + 0.0
    }

    /// Sets the verdict from the score and thresholds (a virus stays a virus).
    pub fn decide(&mut self, junk: f64, quarantine: f64) {
        self.required = junk;
        if self.virus.is_some() {
            self.verdict = Verdict::Virus;
            return;
        }
        let s = self.score();
        self.verdict = match s {
            s if s >= quarantine => Verdict::Quarantine,
            s if s >= junk => Verdict::Junk,
            _ => Verdict::Pass,
        };
    }

    /// `X-Spam-Scan` value: `<host>; parts=<n>; verdict=<v>[; virus=<name>][; problems=a,b]`.
    pub fn value(&self, hostname: &str) -> String {
        let mut v = format!(
            "{hostname}; parts={}; verdict={}",
            self.parts,
            self.verdict.name()
        );
        if let Some(virus) = &self.virus {
            v.push_str(&format!("; virus={virus}"));
        }
        if !self.problems.is_empty() {
            v.push_str(&format!("; problems={}", self.problems.join(",")));
        }
        v
    }

    /// `X-Spam-Status` value: `Yes, score=5.3 required=5.0 tests=GTUBE,MISSING_DATE`.
    pub fn status(&self) -> String {
        let spam = matches!(
            self.verdict,
            Verdict::Junk | Verdict::Quarantine | Verdict::Virus
        );
        let tests = match self.hits.is_empty() {
            true => "none".to_string(),
            false => self
                .hits
                .iter()
                .map(|h| h.name.as_str())
                .collect::<Vec<_>>()
                .join(","),
        };
        format!(
            "{}, score={:.1} required={:.1} tests={tests}",
            if spam { "Yes" } else { "No" },
            self.score(),
            self.required
        )
    }

    /// The header block spam-scan puts on top, in order.
    pub fn headers(&self, hostname: &str) -> Vec<(String, String)> {
        let mut h = vec![
            (HEADER.to_string(), self.value(hostname)),
            ("X-Spam-Score".to_string(), format!("{:.1}", self.score())),
            ("X-Spam-Status".to_string(), self.status()),
        ];
        h.extend(self.extra_headers.iter().cloned());
        h
    }
}

/// The header section (up to the first empty line), bounded.
fn header_section(message: &[u8]) -> &[u8] {
    let head = &message[..message.len().min(MAX_HEADER)];
    let end = find(head, b"\r\n\r\n")
        .or_else(|| find(head, b"\n\n"))
        .unwrap_or(head.len());
    &head[..end]
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
#[path = "verdict_tests.rs"]
mod tests;
