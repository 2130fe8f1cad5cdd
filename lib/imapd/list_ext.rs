//! Extended LIST (RFC 5258 LIST-EXTENDED, RFC 6154 SPECIAL-USE options, RFC 5819
//! LIST-STATUS): several patterns, selection by subscription (listing subscribed names that no
//! longer exist as `\NonExistent`) or special use, RECURSIVEMATCH's `CHILDINFO`, `\Subscribed`
//! on request, and a STATUS response after each selectable mailbox listed. The parsing is in
//! `imap::list_ext`; the mailbox list comes from `list::mailboxes`. REMOTE is accepted and
//! changes nothing (there are no remote mailboxes).

use std::collections::{BTreeMap, BTreeSet};

use crate::imap::list_ext::ListExtended;
use crate::maildir::imap_folders;

use super::commands::Done;
use super::{list, names, select, Account};

/// One mailbox to list: its attributes and whether it carries `CHILDINFO ("SUBSCRIBED")`.
#[derive(Default)]
struct Row {
    attrs: Vec<String>,
    childinfo: bool,
}

pub fn list_extended(account: &mut Account, l: &ListExtended, out: &mut Vec<u8>) -> Done {
    if l.patterns.iter().all(Vec::is_empty) {
        out.extend(b"* LIST (\\Noselect) \".\" \"\"\r\n");
        return Done::ok("LIST completed");
    }
    let pats: Vec<Vec<u8>> = l
        .patterns
        .iter()
        .map(|p| [l.reference.as_slice(), p].concat())
        .collect();
    let wanted = |name: &str| pats.iter().any(|p| list::matches(p, name.as_bytes()));
    let all = match list::mailboxes(account, false) {
        Ok(b) => b,
        Err(e) => return Done::storage(&account.user, &e),
    };
    let subs: BTreeSet<String> = match imap_folders::subscriptions(&account.maildir) {
        Ok(s) => s
            .iter()
            .map(|n| {
                if n.eq_ignore_ascii_case("INBOX") {
                    "INBOX".to_string()
                } else {
                    names::encode(n)
                }
            })
            .collect(),
        Err(e) => return Done::storage(&account.user, &e),
    };
    let attrs_of = |name: &str| -> Vec<String> {
        match all.get(name) {
            Some(a) => a
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            None => vec!["\\NonExistent".to_string()],
        }
    };
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    if l.selection.subscribed {
        for s in subs.iter().filter(|s| wanted(s)) {
            rows.entry(s.clone()).or_default().attrs = attrs_of(s);
        }
        if l.selection.recursive_match {
            for s in &subs {
                let mut prefix = s.as_str();
                while let Some((parent, _)) = prefix.rsplit_once('.') {
                    if wanted(parent) {
                        let row = rows.entry(parent.to_string()).or_default();
                        if row.attrs.is_empty() {
                            row.attrs = attrs_of(parent);
                        }
                        row.childinfo = true;
                    }
                    prefix = parent;
                }
            }
        }
    } else {
        for name in all.keys().filter(|n| wanted(n)) {
            rows.entry(name.clone()).or_default().attrs = attrs_of(name);
        }
    }
    if l.selection.special_use {
        rows.retain(|_, r| r.attrs.iter().any(|a| is_special_use(a)));
    }
    if l.returns.subscribed {
        for (name, row) in rows.iter_mut() {
            if subs.contains(name) {
                row.attrs.push("\\Subscribed".to_string());
            }
        }
    }
    for (name, row) in &rows {
        let mut line = format!("* LIST ({}) \".\" ", row.attrs.join(" ")).into_bytes();
        names::put(&mut line, name);
        if row.childinfo {
            line.extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
        }
        line.extend_from_slice(b"\r\n");
        out.extend(line);
        let Some(items) = &l.returns.status else {
            continue;
        };
        let selectable = !row
            .attrs
            .iter()
            .any(|a| a == "\\Noselect" || a == "\\NonExistent");
        if selectable {
            if let Ok(folder) = names::parse_bytes(name.as_bytes()) {
                // A failure here leaves out that STATUS only (RFC 5819 section 2).
                let _ = select::status_of(account, folder.as_ref(), items, out);
            }
        }
    }
    Done::ok("LIST completed")
}

fn is_special_use(attr: &str) -> bool {
    super::SPECIAL_USE.iter().any(|(_, a)| *a == attr)
}
