//! APPEND: a message from the client (synchronising or LITERAL+ literal, CRLF) stored with
//! LF line ends through `Maildir::deliver` (tmp → fsync → new/, quota checked), then given
//! its flags and keywords (a rename into cur/; keywords lettered as in `keywords`) and its
//! internal date (the file's mtime), answered with
//! UIDPLUS `APPENDUID`. A missing mailbox is `NO [TRYCREATE]`.

use std::time::{Duration, SystemTime};

use crate::imap::imap_types::datetime::DateTime;
use crate::imap::imap_types::extensions::binary::LiteralOrLiteral8;
use crate::imap::imap_types::flag::Flag;
use crate::imap::imap_types::mailbox::Mailbox;
use crate::imap::reply::Status;
use crate::maildir::imap_keywords::Keywords;
use crate::maildir::store;
use crate::maildir::uidlist::{base_of, UidList};

use super::commands::Done;
use super::{keywords, names, select, store::new_entry, Account};

pub fn append(
    account: &mut Account,
    mailbox: &Mailbox,
    flags: &[Flag<'static>],
    date: Option<&DateTime>,
    message: &LiteralOrLiteral8<'static>,
) -> Done {
    let folder = match names::parse(mailbox) {
        Ok(f) => f,
        Err(e) => return Done::new(Status::No, "CANNOT", &e),
    };
    if !select::exists(account, folder.as_ref()) {
        return Done::new(Status::No, "TRYCREATE", "no such mailbox");
    }
    let data = match message {
        LiteralOrLiteral8::Literal(l) => l.data(),
        LiteralOrLiteral8::Literal8(_) => {
            return Done::new(Status::No, "CANNOT", "BINARY is not supported")
        }
    };
    if data.len() as u64 > account.max_message_size {
        return Done::new(Status::No, "TOOBIG", "message too big");
    }
    if data.is_empty() {
        return Done::no("empty message");
    }
    let dir = account.maildir.folder_path(folder.as_ref());
    let mut kw = match Keywords::load(&dir) {
        Ok(k) => k,
        Err(e) => return Done::storage(&account.user, &e),
    };
    if let Err(e) = keywords::define(&dir, &mut kw, flags) {
        return Done::storage(&account.user, &e);
    }
    if keywords::overflow(flags, &kw) {
        return Done::new(Status::No, "LIMIT", "too many keywords in this mailbox");
    }
    let letters = keywords::letters(flags, &kw);
    let stored = from_crlf(data);
    let done = match account
        .maildir
        .deliver(folder.as_ref(), &stored, &account.quota)
    {
        Ok(d) => d,
        Err(e) => return Done::storage(&account.user, &e),
    };
    let mut path = done.path.clone();
    let mut name = done.name.clone();
    if !letters.is_empty() {
        match store::set_flags(&dir, &new_entry(&done.name, done.size), &letters) {
            Ok(n) => {
                path = dir.join("cur").join(&n);
                name = n;
            }
            Err(e) => return Done::storage(&account.user, &e),
        }
    }
    if let Some(d) = date {
        let secs = d.as_ref().timestamp();
        let when = if secs >= 0 {
            SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64)
        } else {
            SystemTime::UNIX_EPOCH
        };
        let _ = std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(when));
    }
    let code = match UidList::sync(&dir) {
        Ok(list) => list
            .entries
            .iter()
            .find(|e| e.base == base_of(&name))
            .map(|e| format!("APPENDUID {} {}", list.uidvalidity, e.uid))
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    Done::new(Status::Ok, &code, "APPEND completed")
}

/// CRLF → LF, as Maildir files are stored; lone CRs stay.
pub fn from_crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'\r' && data.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(data[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn crlf_to_lf() {
        assert_eq!(super::from_crlf(b"a\r\nb\rc\n"), b"a\nb\rc\n");
    }
}
