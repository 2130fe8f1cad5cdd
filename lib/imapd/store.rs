//! Changing messages: STORE (+FLAGS, -FLAGS, FLAGS, .SILENT) as Maildir flag letters in
//! file names (`\Seen` S, `\Answered` R, `\Flagged` F, `\Deleted` T, `\Draft` D, keywords
//! a–z as Dovecot assigns them in `dovecot-keywords`; other letters such as P are kept),
//! and COPY/MOVE into another folder with UIDPLUS COPYUID. Copies go through
//! `Maildir::deliver` (tmp → fsync → new/, quota checked) and keep their flags and keywords
//! (re-lettered for the destination); MOVE deletes the originals only after every copy is
//! safe. A new keyword when the folder has 26 is `NO [LIMIT]`, on STORE as on COPY/MOVE
//! (checked before anything is copied, so no keyword is ever dropped).
//! A message copied or moved into Junk is learned as spam by `bayes`, one moved out of Junk
//! (except into Trash) as ham; a learning failure is only logged.
//! CONDSTORE (RFC 7162 3.1.3): STORE (UNCHANGEDSINCE n) leaves messages whose modseq is above
//! n alone and names them in `OK [MODIFIED set]`; with CONDSTORE on, the FETCH responses carry
//! the new MODSEQ (also after .SILENT).

use std::io::Read;

use crate::imap::imap_types::command::StoreModifier;
use crate::imap::imap_types::flag::{Flag, StoreResponse, StoreType};
use crate::imap::imap_types::mailbox::Mailbox;
use crate::imap::imap_types::sequence::SequenceSet;
use crate::imap::reply::{self, Status};
use crate::maildir::store;
use crate::maildir::uidlist::{base_of, UidEntry, UidList};

use super::commands::Done;
use super::{keywords, names, select, Account};

/// Letters this server stores for IMAP flags (keywords are a–z).
const IMAP_LETTERS: &str = "DFRST";

fn is_imap_letter(c: char) -> bool {
    IMAP_LETTERS.contains(c) || c.is_ascii_lowercase()
}

/// A STORE command's arguments.
pub struct StoreCmd<'a> {
    pub set: &'a SequenceSet,
    pub kind: StoreType,
    pub response: StoreResponse,
    pub flags: &'a [Flag<'static>],
    pub uid: bool,
    pub modifiers: &'a [StoreModifier],
}

pub fn store(account: &mut Account, cmd: &StoreCmd, out: &mut Vec<u8>) -> Done {
    let StoreCmd {
        set,
        kind,
        response,
        flags,
        uid,
        modifiers,
    } = *cmd;
    let user = account.user.clone();
    let Some(sel) = account.selected.as_mut() else {
        return Done::bad("no mailbox selected");
    };
    if sel.read_only {
        return Done::new(Status::No, "READ-ONLY", "mailbox is read-only");
    }
    if !uid && sel.seq_out_of_range(set) {
        return Done::bad("no such message");
    }
    let unchanged_since = modifiers
        .iter()
        .map(|m| match m {
            StoreModifier::UnchangedSince(n) => *n,
        })
        .next();
    if unchanged_since.is_some() {
        // The test needs today's modseqs: take others' changes first (reported as usual).
        match sel.refresh(false) {
            Ok(news) => out.extend(news),
            Err(e) => return Done::storage(&user, &e),
        }
    }
    if kind != StoreType::Remove {
        match keywords::define(&sel.dir, &mut sel.keywords, flags) {
            Ok(true) => keywords::announce(&sel.keywords, false, out),
            Ok(false) => {}
            Err(e) => return Done::storage(&user, &e),
        }
        if keywords::overflow(flags, &sel.keywords) {
            return Done::new(Status::No, "LIMIT", "too many keywords in this mailbox");
        }
    }
    let given = keywords::letters(flags, &sel.keywords);
    let (mut done, mut changed, mut modified) = (Vec::new(), Vec::new(), Vec::new());
    for i in sel.resolve(set, uid) {
        if unchanged_since.is_some_and(|n| sel.msgs[i].entry.modseq > n) {
            modified.push(if uid { sel.msgs[i].uid() } else { i as u32 + 1 });
            continue;
        }
        let old = sel.msgs[i].entry.flags.clone();
        let new: String = match kind {
            StoreType::Replace => old
                .chars()
                .filter(|c| !is_imap_letter(*c))
                .chain(given.chars())
                .collect(),
            StoreType::Add => old.chars().chain(given.chars()).collect(),
            StoreType::Remove => old.chars().filter(|c| !given.contains(*c)).collect(),
        };
        if sorted(&new) != sorted(&old) {
            if let Err(e) = sel.set_flags(i, &new) {
                return Done::storage(&user, &e);
            }
            changed.push(i);
        }
        done.push(i);
    }
    if sel.condstore && !changed.is_empty() {
        if let Err(e) = sel.take_modseqs(&changed) {
            return Done::storage(&user, &e);
        }
    }
    for i in done {
        let m = &sel.msgs[i];
        let mut items = Vec::new();
        if uid {
            items.push(format!("UID {}", m.uid()));
        }
        if response == StoreResponse::Answer {
            items.push(format!("FLAGS ({})", m.flag_list(&sel.keywords)));
        }
        let silent_news = sel.condstore && changed.binary_search(&i).is_ok();
        if sel.condstore && (response == StoreResponse::Answer || silent_news) {
            items.push(format!("MODSEQ ({})", m.entry.modseq));
        }
        if response == StoreResponse::Answer || silent_news {
            out.extend(reply::untagged(&format!(
                "{} FETCH ({})",
                i + 1,
                items.join(" ")
            )));
        }
    }
    if !modified.is_empty() {
        let set = crate::imap::esearch::compress(&modified);
        return Done::new(
            Status::Ok,
            &format!("MODIFIED {set}"),
            "conditional STORE failed",
        );
    }
    Done::ok("STORE completed")
}

fn sorted(s: &str) -> String {
    let mut v: Vec<char> = s.chars().collect();
    v.sort_unstable();
    v.dedup();
    v.into_iter().collect()
}

/// COPY (`moving` false) or MOVE.
pub fn copy(
    account: &mut Account,
    set: &SequenceSet,
    mailbox: &Mailbox,
    uid: bool,
    moving: bool,
    out: &mut Vec<u8>,
) -> Done {
    let dest = match names::parse(mailbox) {
        Ok(f) => f,
        Err(e) => return Done::new(Status::No, "CANNOT", &e),
    };
    if !select::exists(account, dest.as_ref()) {
        return Done::new(Status::No, "TRYCREATE", "no such mailbox");
    }
    let Some(sel) = account.selected.as_ref() else {
        return Done::bad("no mailbox selected");
    };
    if moving && sel.read_only {
        return Done::new(Status::No, "READ-ONLY", "mailbox is read-only");
    }
    if !uid && sel.seq_out_of_range(set) {
        return Done::bad("no such message");
    }
    let picked = sel.resolve(set, uid);
    if picked.is_empty() {
        return Done::ok("nothing to do");
    }
    // Keywords are never dropped on the way: refuse up front when the target has no room.
    let dest_dir = account.maildir.folder_path(dest.as_ref());
    let letters: Vec<&str> = picked
        .iter()
        .map(|&i| sel.msgs[i].entry.flags.as_str())
        .collect();
    match keywords::overflow_in(&letters, &sel.keywords, &dest_dir) {
        Ok(0) => {}
        Ok(n) => {
            return Done::new(
                Status::No,
                "LIMIT",
                &format!("target mailbox has no room for {n} more keywords (26 at most)"),
            )
        }
        Err(e) => return Done::storage(&account.user, &e),
    }
    let learn = bayes_verdict(sel.folder.as_ref(), dest.as_ref());
    // Copy everything first; only then may originals go.
    let mut copied: Vec<(u32, String)> = Vec::new();
    for &i in &picked {
        let entry = &sel.msgs[i].entry;
        let mut data = Vec::new();
        match store::open(&sel.dir, entry) {
            Ok(Some(mut f)) => {
                if let Err(e) = f.read_to_end(&mut data) {
                    crate::mlog!("error: user={} copy read: {e}", account.user);
                    return Done::new(Status::No, "UNAVAILABLE", "temporary failure, try again");
                }
            }
            Ok(None) => return Done::no("some messages were expunged meanwhile"),
            Err(e) => return Done::storage(&account.user, &e),
        }
        let done = match account
            .maildir
            .deliver(dest.as_ref(), &data, &account.quota)
        {
            Ok(d) => d,
            Err(e) => return Done::storage(&account.user, &e),
        };
        if let Some(spam) = learn {
            if let Err(e) = crate::bayes::learn(account.maildir.root(), &data, spam) {
                crate::mlog!("warning: user={} bayes learning failed: {e}", account.user);
            }
        }
        let flags: String = entry
            .flags
            .chars()
            .filter(|c| *c != 'T' || !moving)
            .collect();
        let flags = match keywords::translate(&flags, &sel.keywords, &dest_dir) {
            Ok(f) => f,
            Err(e) => return Done::storage(&account.user, &e),
        };
        let mut name = done.name.clone();
        if !flags.is_empty() {
            let fresh = new_entry(&done.name, done.size);
            if let Ok(n) = store::set_flags(&dest_dir, &fresh, &flags) {
                name = n;
            }
        }
        copied.push((entry.uid, base_of(&name).to_string()));
    }
    let code = copyuid(account, dest.as_ref(), &copied);
    if !moving {
        return Done::new(Status::Ok, &code, "COPY completed");
    }
    out.extend(reply::untagged_status(Status::Ok, &code, "moved"));
    let user = account.user.clone();
    let Some(sel) = account.selected.as_mut() else {
        return Done::bad("no mailbox selected");
    };
    for &i in picked.iter().rev() {
        if let Err(e) = sel.delete_file(i) {
            return Done::storage(&user, &e);
        }
        sel.msgs.remove(i);
        out.extend(reply::untagged(&format!("{} EXPUNGE", i + 1)));
    }
    Done::ok("MOVE completed")
}

/// The user's verdict a COPY/MOVE carries for the Bayes filter: into Junk is spam, out of
/// Junk into any folder but Trash is ham (deleting spam says nothing); else none.
fn bayes_verdict(
    from: Option<&crate::maildir::FolderName>,
    to: Option<&crate::maildir::FolderName>,
) -> Option<bool> {
    let is =
        |f: Option<&crate::maildir::FolderName>, name: &str| f.is_some_and(|f| f.as_str() == name);
    match (is(from, "Junk"), is(to, "Junk")) {
        (false, true) => Some(true),
        (true, false) if !is(to, "Trash") => Some(false),
        _ => None,
    }
}

/// A `UidEntry` for a file just delivered into new/ (before it has a UID).
pub fn new_entry(file_name: &str, size: u64) -> UidEntry {
    UidEntry {
        uid: 0,
        base: base_of(file_name).to_string(),
        file_name: file_name.to_string(),
        in_new: true,
        flags: String::new(),
        size,
        modseq: 0,
    }
}

/// `COPYUID <validity> <src uids> <dst uids>` after assigning UIDs in the destination;
/// empty when that fails (the copy itself succeeded).
fn copyuid(
    account: &Account,
    dest: Option<&crate::maildir::FolderName>,
    copied: &[(u32, String)],
) -> String {
    let Ok(list) = UidList::sync(&account.maildir.folder_path(dest)) else {
        return String::new();
    };
    let mut src = Vec::new();
    let mut dst = Vec::new();
    for (uid, base) in copied {
        if let Some(e) = list.entries.iter().find(|e| &e.base == base) {
            src.push(uid.to_string());
            dst.push(e.uid.to_string());
        }
    }
    if src.is_empty() {
        return String::new();
    }
    format!(
        "COPYUID {} {} {}",
        list.uidvalidity,
        src.join(","),
        dst.join(",")
    )
}
