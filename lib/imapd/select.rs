//! Opening and closing mailboxes: SELECT, EXAMINE, CLOSE, UNSELECT, STATUS, and EXPUNGE
//! (with UID EXPUNGE from UIDPLUS). Messages are removed only through `maildir::store`.
//! SELECT/EXAMINE always report HIGHESTMODSEQ (CONDSTORE); after ENABLE IMAP4rev2 they send
//! the mailbox's LIST response instead of RECENT and UNSEEN, and `[CLOSED]` when leaving
//! another mailbox (RFC 9051 6.3.2).

use crate::imap::imap_types::mailbox::Mailbox;
use crate::imap::imap_types::sequence::SequenceSet;
use crate::imap::imap_types::status::StatusDataItemName;
use crate::imap::reply::{self, Status};
use crate::maildir::uidlist::UidList;
use crate::maildir::{store, FolderName};

use super::commands::Done;
use super::mailbox::Selected;
use super::{names, Account};

/// True when the folder (or INBOX) exists as a Maildir.
pub fn exists(account: &Account, folder: Option<&FolderName>) -> bool {
    account.maildir.folder_path(folder).join("cur").is_dir()
}

/// SELECT (`read_only` false) or EXAMINE. On failure no mailbox is selected.
pub fn select(
    account: &mut Account,
    mailbox: &Mailbox,
    read_only: bool,
    out: &mut Vec<u8>,
) -> Done {
    // RFC 9051 6.3.2: a rev2 client is told that the previous mailbox was left.
    if account.selected.take().is_some() && names::rev2() {
        out.extend(reply::untagged_status(
            Status::Ok,
            "CLOSED",
            "previous mailbox closed",
        ));
    }
    let folder = match names::parse(mailbox) {
        Ok(f) => f,
        Err(e) => return Done::no(&e),
    };
    if !exists(account, folder.as_ref()) {
        return Done::new(Status::No, "NONEXISTENT", "no such mailbox");
    }
    let sel = match Selected::open(&account.maildir, folder, read_only) {
        Ok(s) => s,
        Err(e) => return Done::storage(&account.user, &e),
    };
    super::keywords::announce(&sel.keywords, read_only, out);
    out.extend(reply::untagged(&format!("{} EXISTS", sel.exists())));
    if names::rev2() {
        // RFC 9051 6.3.2: the mailbox's LIST response instead of RECENT and UNSEEN.
        let mut line = b"* LIST () \".\" ".to_vec();
        names::put(&mut line, &names::wire(sel.folder.as_ref()));
        line.extend_from_slice(b"\r\n");
        out.extend(line);
    } else {
        out.extend(reply::untagged(&format!("{} RECENT", sel.recent())));
    }
    let first_unseen = sel.msgs.iter().position(|m| !m.has('S'));
    if let Some(i) = first_unseen.filter(|_| !names::rev2()) {
        out.extend(reply::untagged_status(
            Status::Ok,
            &format!("UNSEEN {}", i + 1),
            "first unseen",
        ));
    }
    out.extend(reply::untagged_status(
        Status::Ok,
        &format!("UIDVALIDITY {}", sel.uidvalidity),
        "UIDs valid",
    ));
    out.extend(reply::untagged_status(
        Status::Ok,
        &format!("UIDNEXT {}", sel.next_uid),
        "predicted next UID",
    ));
    // RFC 7162 3.1.2.1: with persistent modseqs, on every SELECT/EXAMINE.
    out.extend(reply::untagged_status(
        Status::Ok,
        &format!("HIGHESTMODSEQ {}", sel.highest_modseq),
        "highest",
    ));
    account.selected = Some(sel);
    if read_only {
        Done::new(Status::Ok, "READ-ONLY", "EXAMINE completed")
    } else {
        Done::new(Status::Ok, "READ-WRITE", "SELECT completed")
    }
}

/// CLOSE (`expunge`: remove `\Deleted` messages silently first) or UNSELECT.
pub fn close(account: &mut Account, expunge: bool) -> Done {
    if let Some(sel) = account.selected.take() {
        if expunge && !sel.read_only {
            for m in sel.msgs.iter().filter(|m| m.has('T')) {
                if let Err(e) = store::delete(&sel.dir, &m.entry) {
                    return Done::storage(&account.user, &e);
                }
            }
        }
    }
    Done::ok("mailbox closed")
}

/// EXPUNGE, or UID EXPUNGE limited to `uids`.
pub fn expunge(account: &mut Account, uids: Option<&SequenceSet>, out: &mut Vec<u8>) -> Done {
    let Some(sel) = account.selected.as_mut() else {
        return Done::bad("no mailbox selected");
    };
    if sel.read_only {
        return Done::new(Status::No, "READ-ONLY", "mailbox is read-only");
    }
    let wanted: Option<Vec<usize>> = uids.map(|set| sel.resolve(set, true));
    let mut doomed: Vec<usize> = (0..sel.msgs.len())
        .filter(|&i| sel.msgs[i].has('T'))
        .filter(|i| wanted.as_ref().is_none_or(|w| w.binary_search(i).is_ok()))
        .collect();
    doomed.reverse();
    for i in doomed {
        if let Err(e) = sel.delete_file(i) {
            return Done::storage(&account.user, &e);
        }
        sel.msgs.remove(i);
        out.extend(reply::untagged(&format!("{} EXPUNGE", i + 1)));
    }
    Done::ok("EXPUNGE completed")
}

/// STATUS: counts read from the folder without selecting it.
pub fn status(
    account: &mut Account,
    mailbox: &Mailbox,
    items: &[StatusDataItemName],
    out: &mut Vec<u8>,
) -> Done {
    let folder = match names::parse(mailbox) {
        Ok(f) => f,
        Err(e) => return Done::no(&e),
    };
    status_of(account, folder.as_ref(), items, out)
}

/// STATUS of a folder already parsed (also used by LIST-STATUS).
pub fn status_of(
    account: &mut Account,
    folder: Option<&FolderName>,
    items: &[StatusDataItemName],
    out: &mut Vec<u8>,
) -> Done {
    if !exists(account, folder) {
        return Done::new(Status::No, "NONEXISTENT", "no such mailbox");
    }
    let list = match UidList::sync(&account.maildir.folder_path(folder)) {
        Ok(l) => l,
        Err(e) => return Done::storage(&account.user, &e),
    };
    let count = |f: &dyn Fn(&crate::maildir::uidlist::UidEntry) -> bool| {
        list.entries.iter().filter(|e| f(e)).count()
    };
    let mut parts = Vec::new();
    for item in items {
        let value = match item {
            StatusDataItemName::Messages => list.entries.len() as u64,
            StatusDataItemName::Recent => count(&|e| e.in_new) as u64,
            StatusDataItemName::UidNext => u64::from(list.next_uid),
            StatusDataItemName::UidValidity => u64::from(list.uidvalidity),
            StatusDataItemName::Unseen => count(&|e| !e.flags.contains('S')) as u64,
            StatusDataItemName::Deleted => count(&|e| e.flags.contains('T')) as u64,
            StatusDataItemName::DeletedStorage => list
                .entries
                .iter()
                .filter(|e| e.flags.contains('T'))
                .map(|e| e.size)
                .sum(),
            StatusDataItemName::HighestModSeq => list.highest_modseq,
        };
        parts.push(format!("{} {value}", item_name(item)));
    }
    let mut line = b"* STATUS ".to_vec();
    names::put(&mut line, &names::wire(folder));
    line.extend(format!(" ({})\r\n", parts.join(" ")).as_bytes());
    out.extend(line);
    Done::ok("STATUS completed")
}

fn item_name(item: &StatusDataItemName) -> &'static str {
    match item {
        StatusDataItemName::Messages => "MESSAGES",
        StatusDataItemName::Recent => "RECENT",
        StatusDataItemName::UidNext => "UIDNEXT",
        StatusDataItemName::UidValidity => "UIDVALIDITY",
        StatusDataItemName::Unseen => "UNSEEN",
        StatusDataItemName::Deleted => "DELETED",
        StatusDataItemName::DeletedStorage => "DELETED-STORAGE",
        StatusDataItemName::HighestModSeq => "HIGHESTMODSEQ",
    }
}
