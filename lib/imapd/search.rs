//! SEARCH and UID SEARCH over the selected mailbox, with RFC 3501's criteria: flags (SEEN,
//! ANSWERED, … NEW, OLD, RECENT), sequence and UID sets, sizes, internal dates (BEFORE, ON,
//! SINCE: the file's mtime, UTC days), sent dates (SENTBEFORE/SENTON/SENTSINCE: the Date:
//! header's own calendar date, whatever its zone, as RFC 3501 asks), header fields (FROM, TO,
//! CC, BCC, SUBJECT, HEADER) matched against both raw and decoded values, BODY and TEXT
//! matched against decoded text parts (mail-parser) and the raw body, KEYWORD/UNKEYWORD
//! (the folder's `dovecot-keywords` letters), NOT, OR and lists. With ESEARCH `RETURN`
//! options the answer is `* ESEARCH` (RFC 4731) instead of `* SEARCH`. CONDSTORE (RFC 7162):
//! MODSEQ n matches messages whose modseq is at least n, and then the answer carries the
//! highest modseq of the hits (`* SEARCH 2 5 (MODSEQ 9)`, `MODSEQ 9` in ESEARCH).
//! Matching is a case-insensitive substring test. Charset: UTF-8 or US-ASCII.
//! A message's file is read only when a criterion needs its content.

use std::os::unix::fs::MetadataExt;

use crate::imap::esearch::{self, Return};
use crate::imap::imap_types::core::{AString, Charset};
use crate::imap::imap_types::datetime::NaiveDate;
use crate::imap::imap_types::search::SearchKey;
use crate::imap::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};
use crate::imap::reply::Status;
use crate::maildir::{name, store};

use super::commands::Done;
use super::mailbox::{Msg, Selected};
use super::{section, structure, Account};

pub fn search(
    account: &mut Account,
    charset: Option<&Charset<'static>>,
    criteria: &[SearchKey<'static>],
    uid: bool,
    esearch: Option<(&str, Return)>,
    out: &mut Vec<u8>,
) -> Done {
    if let Some(cs) = charset {
        let cs = match cs {
            Charset::Atom(a) => a.as_ref().to_string(),
            Charset::Quoted(q) => q.as_ref().to_string(),
        };
        if !cs.eq_ignore_ascii_case("UTF-8") && !cs.eq_ignore_ascii_case("US-ASCII") {
            return Done::new(
                Status::No,
                "BADCHARSET (UTF-8 US-ASCII)",
                "charset not supported",
            );
        }
    }
    let Some(sel) = account.selected.as_ref() else {
        return Done::bad("no mailbox selected");
    };
    let mut hits = Vec::new();
    for i in 0..sel.msgs.len() {
        let mut m = Lazy::new(sel, i);
        if criteria.iter().all(|k| matches(&mut m, k)) {
            let n = if uid { sel.msgs[i].uid() } else { i as u32 + 1 };
            hits.push(n);
        }
    }
    // RFC 7162 3.1.5: with MODSEQ in the criteria, the highest modseq of the hits.
    let modseq = if criteria.iter().any(uses_modseq) {
        hits_modseq(sel, &hits, uid)
    } else {
        None
    };
    if let Some((tag, ret)) = esearch {
        out.extend(esearch::response(tag, uid, ret, &hits, modseq));
        return Done::ok("SEARCH completed");
    }
    let mut line = String::from("* SEARCH");
    for h in hits {
        line.push(' ');
        line.push_str(&h.to_string());
    }
    if let Some(m) = modseq {
        line.push_str(&format!(" (MODSEQ {m})"));
    }
    line.push_str("\r\n");
    out.extend(line.into_bytes());
    Done::ok("SEARCH completed")
}

/// Whether a criterion (or one nested in it) is MODSEQ.
pub fn uses_modseq(key: &SearchKey) -> bool {
    use SearchKey as K;
    match key {
        K::ModSequence { .. } => true,
        K::And(keys) => keys.as_ref().iter().any(uses_modseq),
        K::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        K::Not(k) => uses_modseq(k),
        _ => false,
    }
}

/// The highest modseq among the hits (sequence numbers or UIDs); `None` without hits.
fn hits_modseq(sel: &Selected, hits: &[u32], uid: bool) -> Option<u64> {
    hits.iter()
        .filter_map(|&h| {
            let i = if uid {
                sel.msgs.binary_search_by_key(&h, Msg::uid).ok()?
            } else {
                (h as usize).checked_sub(1)?
            };
            sel.msgs.get(i).map(|m| m.entry.modseq)
        })
        .max()
}

/// One message with its content read on first need.
struct Lazy<'a> {
    sel: &'a Selected,
    i: usize,
    raw: Option<Vec<u8>>,
    mtime: Option<i64>,
    decoded: Option<String>,
}

impl<'a> Lazy<'a> {
    fn new(sel: &'a Selected, i: usize) -> Lazy<'a> {
        Lazy {
            sel,
            i,
            raw: None,
            mtime: None,
            decoded: None,
        }
    }

    fn msg(&self) -> &Msg {
        &self.sel.msgs[self.i]
    }

    /// The message with CRLF line ends; empty when it cannot be read.
    fn raw(&mut self) -> &[u8] {
        if self.raw.is_none() {
            let mut data = Vec::new();
            if let Ok(Some(mut f)) = store::open(&self.sel.dir, &self.msg().entry) {
                self.mtime = f.metadata().ok().map(|m| m.mtime());
                let _ = std::io::Read::read_to_end(&mut f, &mut data);
            }
            self.raw = Some(section::to_crlf(&data));
        }
        self.raw.as_deref().unwrap_or_default()
    }

    fn header(&mut self) -> Vec<u8> {
        structure::message_header(self.raw()).to_vec()
    }

    fn mtime(&mut self) -> i64 {
        if self.mtime.is_none() {
            let path = self.sel.dir.join(if self.msg().entry.in_new {
                "new"
            } else {
                "cur"
            });
            let m = std::fs::metadata(path.join(&self.msg().entry.file_name)).ok();
            self.mtime = match m {
                Some(m) => Some(m.mtime()),
                None => {
                    self.raw();
                    Some(self.mtime.unwrap_or(0))
                }
            };
        }
        self.mtime.unwrap_or(0)
    }

    fn size(&mut self) -> u64 {
        match name::vsize(&self.msg().entry.file_name) {
            Some(s) => s,
            None => self.raw().len() as u64,
        }
    }

    /// Decoded text of every text part, lower-cased.
    fn body_text(&mut self) -> &str {
        if self.decoded.is_none() {
            let raw = self.raw().to_vec();
            let mut text = String::new();
            if let Some(m) = mail_parser::MessageParser::default().parse(&raw) {
                for i in 0..m.text_body_count() {
                    text.push_str(&m.body_text(i).unwrap_or_default());
                    text.push('\n');
                }
                for i in 0..m.html_body_count() {
                    text.push_str(&m.body_html(i).unwrap_or_default());
                    text.push('\n');
                }
            }
            self.decoded = Some(text.to_lowercase());
        }
        self.decoded.as_deref().unwrap_or_default()
    }

    /// Raw and decoded values of every header field `name`, lower-cased.
    fn field(&mut self, field: &str) -> Vec<String> {
        let header = self.header();
        let mut out = Vec::new();
        if let Some(raw) = structure::raw_field(&header, field) {
            out.push(raw.to_lowercase());
        }
        if let Some(m) = mail_parser::MessageParser::default().parse_headers(&header) {
            for h in m.headers() {
                if h.name().eq_ignore_ascii_case(field) {
                    out.push(value_text(h.value()).to_lowercase());
                }
            }
        }
        out
    }
}

fn value_text(v: &mail_parser::HeaderValue) -> String {
    use mail_parser::{Address, HeaderValue as V};
    match v {
        V::Text(t) => t.to_string(),
        V::TextList(l) => l.join(" "),
        V::Address(Address::List(a)) => a
            .iter()
            .map(|a| {
                format!(
                    "{} <{}>",
                    a.name.as_deref().unwrap_or(""),
                    a.address.as_deref().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
        V::Address(Address::Group(g)) => g
            .iter()
            .flat_map(|g| g.addresses.iter())
            .map(|a| {
                format!(
                    "{} <{}>",
                    a.name.as_deref().unwrap_or(""),
                    a.address.as_deref().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    }
}

fn text(a: &AString) -> String {
    String::from_utf8_lossy(a.as_ref()).to_lowercase()
}

/// Days since 1970-01-01 of an IMAP date.
fn day(d: &NaiveDate) -> i64 {
    d.as_ref()
        .and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp())
        .div_euclid(86_400)
}

fn in_set(sel: &Selected, set: &SequenceSet, value: u32, uid: bool) -> bool {
    let largest = if uid {
        sel.msgs.last().map_or(0, Msg::uid)
    } else {
        sel.msgs.len() as u32
    };
    let v = |s: &SeqOrUid| match s {
        SeqOrUid::Value(v) => v.get(),
        SeqOrUid::Asterisk => largest,
    };
    set.0.as_ref().iter().any(|s| match s {
        Sequence::Single(a) => v(a) == value,
        Sequence::Range(a, b) => (v(a).min(v(b))..=v(a).max(v(b))).contains(&value),
    })
}

/// Whether the message carries keyword `name` (never, when the folder does not define it).
fn keyword(m: &Lazy, name: &str) -> bool {
    m.sel.keywords.letter(name).is_some_and(|c| m.msg().has(c))
}

fn matches(m: &mut Lazy, key: &SearchKey) -> bool {
    use SearchKey as K;
    let flag = |m: &Lazy, c: char| m.msg().has(c);
    match key {
        K::All => true,
        K::And(keys) => keys.as_ref().iter().all(|k| matches(m, k)),
        K::Or(a, b) => matches(m, a) || matches(m, b),
        K::Not(k) => !matches(m, k),
        K::SequenceSet(set) => in_set(m.sel, set, m.i as u32 + 1, false),
        K::Uid(set) => in_set(m.sel, set, m.msg().uid(), true),
        K::Answered => flag(m, 'R'),
        K::Deleted => flag(m, 'T'),
        K::Draft => flag(m, 'D'),
        K::Flagged => flag(m, 'F'),
        K::Seen => flag(m, 'S'),
        K::Unanswered => !flag(m, 'R'),
        K::Undeleted => !flag(m, 'T'),
        K::Undraft => !flag(m, 'D'),
        K::Unflagged => !flag(m, 'F'),
        K::Unseen => !flag(m, 'S'),
        K::Recent => m.msg().recent,
        K::New => m.msg().recent && !flag(m, 'S'),
        K::Old => !m.msg().recent,
        K::Keyword(k) => keyword(m, k.inner()),
        K::Unkeyword(k) => !keyword(m, k.inner()),
        K::Larger(n) => m.size() > u64::from(*n),
        K::Smaller(n) => m.size() < u64::from(*n),
        K::Before(d) => m.mtime().div_euclid(86_400) < day(d),
        K::On(d) => m.mtime().div_euclid(86_400) == day(d),
        K::Since(d) => m.mtime().div_euclid(86_400) >= day(d),
        K::SentBefore(d) => sent_day(m).is_some_and(|s| s < day(d)),
        K::SentOn(d) => sent_day(m).is_some_and(|s| s == day(d)),
        K::SentSince(d) => sent_day(m).is_some_and(|s| s >= day(d)),
        K::From(s) => field_has(m, "From", s),
        K::To(s) => field_has(m, "To", s),
        K::Cc(s) => field_has(m, "Cc", s),
        K::Bcc(s) => field_has(m, "Bcc", s),
        K::Subject(s) => field_has(m, "Subject", s),
        K::Header(name, s) => {
            let name = String::from_utf8_lossy(name.as_ref()).into_owned();
            let values = m.field(&name);
            let want = text(s);
            !values.is_empty() && values.iter().any(|v| v.contains(&want))
        }
        K::Body(s) => body_has(m, &text(s)),
        K::Text(s) => {
            let want = text(s);
            let header = String::from_utf8_lossy(&m.header()).to_lowercase();
            header.contains(&want) || body_has(m, &want)
        }
        // Per-flag entry names (`"/flags/\\seen" all`) are accepted and ignored: one
        // modseq per message serves them all (RFC 7162 3.1.5 allows that).
        K::ModSequence { modseq, .. } => m.msg().entry.modseq >= *modseq,
    }
}

fn field_has(m: &mut Lazy, field: &str, s: &AString) -> bool {
    let want = text(s);
    m.field(field).iter().any(|v| v.contains(&want))
}

fn body_has(m: &mut Lazy, want: &str) -> bool {
    if m.body_text().contains(want) {
        return true;
    }
    let raw = m.raw();
    let body = &raw[section::header_end(raw)..];
    String::from_utf8_lossy(body).to_lowercase().contains(want)
}

/// The Date: header's own calendar day (its zone ignored, RFC 3501 6.4.4), as days since
/// 1970-01-01.
fn sent_day(m: &mut Lazy) -> Option<i64> {
    let header = m.header();
    let parsed = mail_parser::MessageParser::default().parse_headers(&header)?;
    let d = parsed.date()?;
    if !(1..=12).contains(&d.month) || !(1..=31).contains(&d.day) {
        return None;
    }
    Some(crate::date::days_from_civil(
        i64::from(d.year),
        i64::from(d.month),
        i64::from(d.day),
    ))
}
