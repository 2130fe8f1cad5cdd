//! QUOTA (RFC 9208, formerly RFC 2087): GETQUOTAROOT and GETQUOTA from the Maildir++
//! `maildirsize` (via `maildir::imap_quota`). The whole Maildir is one quota root named `""`
//! with the resources STORAGE (KiB, rounded up) and MESSAGE; a resource without a limit is
//! left out, and an account without any limit has no quota root (as Dovecot does). SETQUOTA
//! is refused: limits come from the config and `mailctl`, not from users.

use crate::imap::imap_types::core::AString;
use crate::imap::imap_types::mailbox::Mailbox;
use crate::imap::reply::{self, Status};
use crate::maildir::imap_quota;
use crate::maildir::quota::{Limit, Usage};

use super::commands::Done;
use super::{names, Account};

/// `QUOTA "" (STORAGE u l MESSAGE u l)`, or `None` when nothing is limited.
fn quota_line(usage: Usage, limit: Limit) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(l) = limit.bytes {
        let used = usage.bytes.max(0).unsigned_abs().div_ceil(1024);
        parts.push(format!("STORAGE {used} {}", l / 1024));
    }
    if let Some(l) = limit.messages {
        parts.push(format!("MESSAGE {} {l}", usage.messages.max(0)));
    }
    (!parts.is_empty()).then(|| format!("QUOTA \"\" ({})", parts.join(" ")))
}

fn current(account: &Account) -> Result<Option<String>, Done> {
    match imap_quota::report(account.maildir.root(), &account.quota) {
        Ok((usage, limit)) => Ok(quota_line(usage, limit)),
        Err(e) => Err(Done::storage(&account.user, &e)),
    }
}

pub fn getquotaroot(account: &mut Account, mailbox: &Mailbox, out: &mut Vec<u8>) -> Done {
    let folder = match names::parse(mailbox) {
        Ok(f) => f,
        Err(e) => return Done::no(&e),
    };
    let line = match current(account) {
        Ok(l) => l,
        Err(d) => return d,
    };
    let mut root = b"* QUOTAROOT ".to_vec();
    reply::astring(&mut root, names::wire(folder.as_ref()).as_bytes());
    if line.is_some() {
        root.extend_from_slice(b" \"\"");
    }
    root.extend_from_slice(b"\r\n");
    out.extend(root);
    if let Some(l) = line {
        out.extend(reply::untagged(&l));
    }
    Done::ok("GETQUOTAROOT completed")
}

pub fn getquota(account: &mut Account, root: &AString, out: &mut Vec<u8>) -> Done {
    let name: &[u8] = root.as_ref();
    let line = match current(account) {
        Ok(l) => l,
        Err(d) => return d,
    };
    match line {
        Some(l) if name.is_empty() => {
            out.extend(reply::untagged(&l));
            Done::ok("GETQUOTA completed")
        }
        _ => Done::new(Status::No, "NONEXISTENT", "no such quota root"),
    }
}

pub fn setquota() -> Done {
    Done::new(
        Status::No,
        "NOPERM",
        "quota limits are set by the administrator",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kib_rounded_up_and_unlimited_left_out() {
        let u = Usage {
            bytes: 1025,
            messages: 3,
        };
        let l = Limit {
            bytes: Some(10 * 1024),
            messages: Some(100),
        };
        assert_eq!(
            quota_line(u, l).unwrap(),
            "QUOTA \"\" (STORAGE 2 10 MESSAGE 3 100)"
        );
        assert_eq!(
            quota_line(u, Limit::bytes(2048)).unwrap(),
            "QUOTA \"\" (STORAGE 2 2)"
        );
        assert_eq!(quota_line(u, Limit::default()), None);
    }
}
