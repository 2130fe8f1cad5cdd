//! FETCH and UID FETCH: FLAGS, UID, INTERNALDATE (the file's mtime), RFC822.SIZE (from the
//! `,W=` in the name, else counted), RFC822, RFC822.HEADER, RFC822.TEXT, ENVELOPE, BODY,
//! BODYSTRUCTURE, BODY[section]<partial> and BODY.PEEK. A non-PEEK body fetch sets `\Seen`
//! (unless read-only) and reports the new FLAGS. Message files are read only when an item
//! needs the content; LF line ends become CRLF on the way out. CONDSTORE (RFC 7162): MODSEQ
//! items, and the CHANGEDSINCE modifier (only messages with a higher modseq, MODSEQ implied).

use std::os::unix::fs::MetadataExt;

use crate::imap::imap_types::command::FetchModifier;
use crate::imap::imap_types::fetch::{Macro, MacroOrMessageDataItemNames, MessageDataItemName};
use crate::imap::imap_types::sequence::SequenceSet;
use crate::imap::reply::literal;
use crate::maildir::{name, store};

use super::commands::Done;
use super::mailbox::{Msg, Selected};
use super::section::Part;
use super::{section, structure, Account};

type Item = MessageDataItemName<'static>;

/// The item list with macros expanded and UID added for UID FETCH.
fn items(names: &MacroOrMessageDataItemNames<'static>, uid: bool) -> Vec<Item> {
    use MessageDataItemName as N;
    let mut items = match names {
        MacroOrMessageDataItemNames::Macro(m) => {
            let mut v = vec![N::Flags, N::InternalDate, N::Rfc822Size];
            match m {
                Macro::Fast => {}
                Macro::All => v.push(N::Envelope),
                Macro::Full => v.extend([N::Envelope, N::Body]),
                _ => {}
            }
            v
        }
        MacroOrMessageDataItemNames::MessageDataItemNames(v) => v.clone(),
    };
    if uid && !items.contains(&N::Uid) {
        items.insert(0, N::Uid);
    }
    items
}

fn needs_content(item: &Item) -> bool {
    !matches!(
        item,
        MessageDataItemName::Flags
            | MessageDataItemName::Uid
            | MessageDataItemName::ModSeq
            | MessageDataItemName::InternalDate
            | MessageDataItemName::Rfc822Size
    )
}

/// Whether fetching `item` sets `\Seen`.
fn sets_seen(item: &Item) -> bool {
    matches!(
        item,
        MessageDataItemName::BodyExt { peek: false, .. }
            | MessageDataItemName::Rfc822
            | MessageDataItemName::Rfc822Text
    )
}

pub fn fetch(
    account: &mut Account,
    set: &SequenceSet,
    names: &MacroOrMessageDataItemNames<'static>,
    uid: bool,
    modifiers: &[FetchModifier],
    out: &mut Vec<u8>,
) -> Done {
    let user = account.user.clone();
    let Some(sel) = account.selected.as_mut() else {
        return Done::bad("no mailbox selected");
    };
    if !uid && sel.seq_out_of_range(set) {
        return Done::bad("no such message");
    }
    let mut items = items(names, uid);
    let mut since = None;
    for m in modifiers {
        match m {
            FetchModifier::ChangedSince(n) => since = Some(n.get()),
            FetchModifier::Vanished => return Done::bad("VANISHED needs QRESYNC"),
        }
    }
    if since.is_some() && !items.contains(&MessageDataItemName::ModSeq) {
        items.push(MessageDataItemName::ModSeq);
    }
    if let Some(bad) = items.iter().find(|i| {
        matches!(
            i,
            MessageDataItemName::Binary { .. } | MessageDataItemName::BinarySize { .. }
        )
    }) {
        return Done::bad(&format!("{bad:?} not supported"));
    }
    let mut missing = false;
    let mut marked = Vec::new();
    for i in sel.resolve(set, uid) {
        if since.is_some_and(|n| sel.msgs[i].entry.modseq <= n) {
            continue;
        }
        let unseen = !sel.msgs[i].has('S');
        match one(sel, i, &items) {
            Ok(Some(bytes)) => out.extend(bytes),
            Ok(None) => missing = true,
            Err(e) => return Done::storage(&user, &e),
        }
        if unseen && sel.msgs[i].has('S') {
            marked.push(i);
        }
    }
    if sel.condstore && !marked.is_empty() {
        // The \Seen just set changed modseqs: one index update for all, then their values.
        if let Err(e) = sel.take_modseqs(&marked) {
            return Done::storage(&user, &e);
        }
        for i in marked {
            let m = &sel.msgs[i];
            let line = format!(
                "{} FETCH (UID {} MODSEQ ({}))",
                i + 1,
                m.uid(),
                m.entry.modseq
            );
            out.extend(crate::imap::reply::untagged(&line));
        }
    }
    if missing {
        // Expunged by another session, not yet reported (RFC 2180 4.1.2).
        return Done::no("some messages were expunged meanwhile");
    }
    Done::ok("FETCH completed")
}

/// The `* n FETCH (…)` response for message index `i`; `None` when its file is gone.
fn one(sel: &mut Selected, i: usize, items: &[Item]) -> crate::maildir::Result<Option<Vec<u8>>> {
    let Some((raw, mtime)) = load(sel, i, items)? else {
        return Ok(None);
    };
    if items.iter().any(sets_seen) && !sel.read_only && !sel.msgs[i].has('S') {
        mark_seen(sel, i)?;
    }
    let raw = raw.unwrap_or_default();
    let tree = section::parse(&raw);
    let msg = &sel.msgs[i];
    let mut parts: Vec<Vec<u8>> = Vec::with_capacity(items.len() + 1);
    for item in items {
        if let Some(p) = item_bytes(item, msg, &raw, &tree, mtime) {
            parts.push(p);
        }
    }
    if items.contains(&MessageDataItemName::Flags) || items.iter().any(sets_seen) {
        parts.push(format!("FLAGS ({})", msg.flag_list(&sel.keywords)).into_bytes());
    }
    let mut line = format!("* {} FETCH (", i + 1).into_bytes();
    line.extend(parts.join(&b' '));
    line.extend_from_slice(b")\r\n");
    Ok(Some(line))
}

/// The message's bytes (CRLF) when an item needs them, and its mtime; `None` when gone.
fn load(
    sel: &Selected,
    i: usize,
    items: &[Item],
) -> crate::maildir::Result<Option<(Option<Vec<u8>>, i64)>> {
    let entry = &sel.msgs[i].entry;
    let content = items.iter().any(needs_content)
        || (items.contains(&MessageDataItemName::Rfc822Size)
            && name::vsize(&entry.file_name).is_none());
    if !content && !items.contains(&MessageDataItemName::InternalDate) {
        return Ok(Some((None, 0)));
    }
    let Some(mut f) = store::open(&sel.dir, entry)? else {
        return Ok(None);
    };
    let mtime = f.metadata().map(|m| m.mtime()).unwrap_or(0);
    if !content {
        return Ok(Some((None, mtime)));
    }
    let mut data = Vec::new();
    std::io::Read::read_to_end(&mut f, &mut data).map_err(|e| crate::maildir::Error::Io {
        op: "read",
        path: sel.dir.join(&entry.file_name),
        source: e,
    })?;
    Ok(Some((Some(section::to_crlf(&data)), mtime)))
}

/// Sets `\Seen` on message `i` (a body was fetched without PEEK).
fn mark_seen(sel: &mut Selected, i: usize) -> crate::maildir::Result<()> {
    let mut flags = sel.msgs[i].entry.flags.clone();
    flags.push('S');
    sel.set_flags(i, &flags)
}

/// One data item of a FETCH response (FLAGS is added by the caller, once).
fn item_bytes(item: &Item, msg: &Msg, raw: &[u8], tree: &Part, mtime: i64) -> Option<Vec<u8>> {
    use MessageDataItemName as N;
    let with_literal = |label: &str, data: &[u8]| {
        let mut v = format!("{label} ").into_bytes();
        literal(&mut v, data);
        v
    };
    let out = match item {
        N::Uid => format!("UID {}", msg.uid()).into_bytes(),
        N::ModSeq => format!("MODSEQ ({})", msg.entry.modseq).into_bytes(),
        N::InternalDate => format!("INTERNALDATE \"{}\"", internal_date(mtime)).into_bytes(),
        N::Rfc822Size => {
            let size = name::vsize(&msg.entry.file_name).unwrap_or(raw.len() as u64);
            format!("RFC822.SIZE {size}").into_bytes()
        }
        N::Rfc822 => with_literal("RFC822", raw),
        N::Rfc822Header => with_literal("RFC822.HEADER", structure::message_header(raw)),
        N::Rfc822Text => with_literal("RFC822.TEXT", &raw[section::header_end(raw)..]),
        N::Envelope => {
            let mut v = b"ENVELOPE ".to_vec();
            structure::envelope(&mut v, structure::message_header(raw));
            v
        }
        N::Body | N::BodyStructure => {
            let extended = matches!(item, N::BodyStructure);
            let mut v = if extended {
                b"BODYSTRUCTURE ".to_vec()
            } else {
                b"BODY ".to_vec()
            };
            structure::body(&mut v, raw, tree, extended);
            v
        }
        N::BodyExt {
            section: sec,
            partial,
            ..
        } => {
            let data = section::extract(raw, tree, sec.as_ref());
            let name = section::name(sec.as_ref());
            match partial {
                Some((start, len)) => {
                    let s = (*start as usize).min(data.len());
                    let e = s.saturating_add(len.get() as usize).min(data.len());
                    with_literal(&format!("BODY[{name}]<{start}>"), &data[s..e])
                }
                None => with_literal(&format!("BODY[{name}]"), &data),
            }
        }
        _ => return None,
    };
    Some(out)
}

/// `17-Jul-1996 02:44:25 +0000` for a Unix time (UTC).
pub fn internal_date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = crate::date::civil_from_days(days);
    format!(
        "{d:02}-{}-{y:04} {:02}:{:02}:{:02} +0000",
        crate::date::MONTHS[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(internal_date(0), "01-Jan-1970 00:00:00 +0000");
        assert_eq!(internal_date(837_571_465), "17-Jul-1996 02:44:25 +0000");
        assert_eq!(internal_date(1_709_164_800), "29-Feb-2024 00:00:00 +0000");
    }
}
