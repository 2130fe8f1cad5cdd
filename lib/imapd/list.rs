//! The mailbox list: LIST and LSUB (with `*`/`%` patterns, CHILDREN and SPECIAL-USE
//! attributes, implied parents as `\Noselect`), CREATE, DELETE, RENAME, SUBSCRIBE and
//! UNSUBSCRIBE. Patterns are matched against wire (modified UTF-7) names, INBOX case-blind.

use std::collections::BTreeMap;

use crate::imap::imap_types::mailbox::{ListMailbox, Mailbox};
use crate::imap::reply::{self, Status};
use crate::maildir::imap_folders;
use crate::maildir::FolderName;

use super::commands::Done;
use super::{names, select, Account, SPECIAL_USE};

/// LIST (`lsub` false) or LSUB.
pub fn list(
    account: &mut Account,
    reference: &Mailbox,
    pattern: &ListMailbox,
    lsub: bool,
    out: &mut Vec<u8>,
) -> Done {
    let reference = match reference {
        Mailbox::Inbox => "INBOX".to_string(),
        Mailbox::Other(o) => String::from_utf8_lossy(o.as_ref()).into_owned(),
    };
    let pattern = match pattern {
        ListMailbox::Token(t) => String::from_utf8_lossy(t.as_ref()).into_owned(),
        ListMailbox::String(s) => String::from_utf8_lossy(s.as_ref()).into_owned(),
    };
    let verb = if lsub { "LSUB" } else { "LIST" };
    if pattern.is_empty() && !lsub {
        out.extend(reply::untagged("LIST (\\Noselect) \".\" \"\""));
        return Done::ok("LIST completed");
    }
    let full = format!("{reference}{pattern}");
    let boxes = match mailboxes(account, lsub) {
        Ok(b) => b,
        Err(e) => return Done::storage(&account.user, &e),
    };
    for (name, attrs) in &boxes {
        if matches(full.as_bytes(), name.as_bytes()) {
            let mut line = format!("* {verb} ({attrs}) \".\" ").into_bytes();
            names::put(&mut line, name);
            line.extend_from_slice(b"\r\n");
            out.extend(line);
        }
    }
    Done::ok(&format!("{verb} completed"))
}

/// Wire name → attributes of every mailbox (or subscribed name for LSUB).
pub(super) fn mailboxes(
    account: &Account,
    lsub: bool,
) -> crate::maildir::Result<BTreeMap<String, String>> {
    let folders = account.maildir.folders()?;
    let mut names: Vec<String> = folders.iter().map(|f| f.as_str().to_string()).collect();
    let mut out = BTreeMap::new();
    if lsub {
        for n in imap_folders::subscriptions(&account.maildir)? {
            let wire = if n.eq_ignore_ascii_case("INBOX") {
                "INBOX".to_string()
            } else {
                names::encode(&n)
            };
            out.insert(wire, String::new());
        }
        return Ok(out);
    }
    out.insert("INBOX".to_string(), "\\HasNoChildren".to_string());
    // Parents that exist only as a prefix (`Archive` for `Archive.2026`).
    let mut implied = Vec::new();
    for n in &names {
        let mut prefix = n.as_str();
        while let Some((p, _)) = prefix.rsplit_once('.') {
            if !names.iter().any(|x| x == p) {
                implied.push(p.to_string());
            }
            prefix = p;
        }
    }
    implied.sort();
    implied.dedup();
    for n in &names {
        let children = names.iter().any(|c| c.starts_with(&format!("{n}.")))
            || implied.iter().any(|c| c.starts_with(&format!("{n}.")));
        let mut attrs = vec![if children {
            "\\HasChildren"
        } else {
            "\\HasNoChildren"
        }];
        if let Some((_, a)) = SPECIAL_USE.iter().find(|(s, _)| s == n) {
            attrs.push(a);
        }
        out.insert(names::encode(n), attrs.join(" "));
    }
    for n in implied.drain(..) {
        out.insert(names::encode(&n), "\\Noselect \\HasChildren".to_string());
    }
    names.clear();
    Ok(out)
}

/// RFC 3501 6.3.8 matching: `*` anything, `%` anything but the delimiter; INBOX case-blind.
/// Dynamic programming, so hostile patterns (`*a*a*a…`) cost O(pattern × name).
pub fn matches(pattern: &[u8], name: &[u8]) -> bool {
    let fold = |s: &[u8]| -> Vec<u8> {
        if s.len() >= 5
            && s[..5].eq_ignore_ascii_case(b"INBOX")
            && s.get(5).is_none_or(|&c| c == b'.')
        {
            [&b"INBOX"[..], &s[5..]].concat()
        } else {
            s.to_vec()
        }
    };
    let (p, n) = (fold(pattern), fold(name));
    // row[j]: pattern prefix so far matches name[..j].
    let mut row = vec![false; n.len() + 1];
    row[0] = true;
    for &c in &p {
        let mut next = vec![false; n.len() + 1];
        match c {
            b'*' | b'%' => {
                let mut reach = false;
                for j in 0..=n.len() {
                    if c == b'%' && j > 0 && n[j - 1] == b'.' {
                        reach = false;
                    }
                    reach |= row[j];
                    next[j] = reach;
                }
            }
            _ => {
                for j in 1..=n.len() {
                    next[j] = row[j - 1] && n[j - 1] == c;
                }
            }
        }
        row = next;
    }
    row[n.len()]
}

/// A folder name for CREATE/DELETE/RENAME: INBOX and bad names refused.
fn folder_arg(mailbox: &Mailbox, what: &str) -> Result<FolderName, Done> {
    let raw: Vec<u8> = match mailbox {
        Mailbox::Inbox => {
            return Err(Done::new(
                Status::No,
                "CANNOT",
                &format!("cannot {what} INBOX"),
            ))
        }
        Mailbox::Other(o) => o.as_ref().to_vec(),
    };
    // CREATE "Foo." means a folder that will hold subfolders; Maildir++ needs no marker.
    let trimmed = raw.strip_suffix(b".").unwrap_or(&raw);
    match names::parse_bytes(trimmed) {
        Ok(Some(f)) => Ok(f),
        Ok(None) => Err(Done::new(
            Status::No,
            "CANNOT",
            &format!("cannot {what} INBOX"),
        )),
        Err(e) => Err(Done::new(Status::No, "CANNOT", &e)),
    }
}

pub fn create(account: &mut Account, mailbox: &Mailbox) -> Done {
    let f = match folder_arg(mailbox, "create") {
        Ok(f) => f,
        Err(d) => return d,
    };
    if select::exists(account, Some(&f)) {
        return Done::new(Status::No, "ALREADYEXISTS", "mailbox exists");
    }
    match account.maildir.create_folder(&f) {
        Ok(_) => Done::ok("CREATE completed"),
        Err(e) => Done::storage(&account.user, &e),
    }
}

pub fn delete(account: &mut Account, mailbox: &Mailbox) -> Done {
    let f = match folder_arg(mailbox, "delete") {
        Ok(f) => f,
        Err(d) => return d,
    };
    if !select::exists(account, Some(&f)) {
        return Done::new(Status::No, "NONEXISTENT", "no such mailbox");
    }
    if account
        .selected
        .as_ref()
        .is_some_and(|s| s.folder.as_ref() == Some(&f))
    {
        return Done::new(Status::No, "INUSE", "close the mailbox first");
    }
    match imap_folders::delete_folder(&account.maildir, &f) {
        Ok(()) => Done::ok("DELETE completed"),
        Err(e) => Done::storage(&account.user, &e),
    }
}

pub fn rename(account: &mut Account, from: &Mailbox, to: &Mailbox) -> Done {
    if matches!(names::parse(from), Ok(None)) {
        return rename_inbox(account, to);
    }
    let (a, b) = match (folder_arg(from, "rename"), folder_arg(to, "rename to")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(d), _) | (_, Err(d)) => return d,
    };
    if !select::exists(account, Some(&a)) {
        return Done::new(Status::No, "NONEXISTENT", "no such mailbox");
    }
    if select::exists(account, Some(&b)) {
        return Done::new(Status::No, "ALREADYEXISTS", "target mailbox exists");
    }
    match imap_folders::rename_folder(&account.maildir, &a, &b) {
        Ok(()) => Done::ok("RENAME completed"),
        Err(e) => Done::storage(&account.user, &e),
    }
}

/// RENAME INBOX (RFC 3501 6.3.5): its messages move to the new folder, INBOX stays empty.
fn rename_inbox(account: &mut Account, to: &Mailbox) -> Done {
    let b = match folder_arg(to, "rename to") {
        Ok(b) => b,
        Err(d) => return d,
    };
    if select::exists(account, Some(&b)) {
        return Done::new(Status::No, "ALREADYEXISTS", "target mailbox exists");
    }
    match imap_folders::move_inbox(&account.maildir, &b) {
        Ok(()) => Done::ok("RENAME completed"),
        Err(e) => Done::storage(&account.user, &e),
    }
}

/// SUBSCRIBE (`on`) or UNSUBSCRIBE. The name is stored in UTF-8.
pub fn subscribe(account: &mut Account, mailbox: &Mailbox, on: bool) -> Done {
    let name = match names::parse(mailbox) {
        Ok(None) => "INBOX".to_string(),
        Ok(Some(f)) => f.as_str().to_string(),
        Err(e) => return Done::new(Status::No, "CANNOT", &e),
    };
    match imap_folders::set_subscribed(&account.maildir, &name, on) {
        Ok(()) => Done::ok("done"),
        Err(e) => Done::storage(&account.user, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches(b"*", b"Archive.2026"));
        assert!(!matches(b"%", b"Archive.2026"));
        assert!(matches(b"%", b"Archive"));
        assert!(matches(b"Archive.%", b"Archive.2026"));
        assert!(matches(b"inbox", b"INBOX"));
        assert!(matches(b"S*", b"Sent"));
        assert!(!matches(b"S*", b"Junk"));
    }
}
