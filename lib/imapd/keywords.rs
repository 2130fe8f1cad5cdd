//! IMAP keywords over `maildir::imap_keywords` (Dovecot's `dovecot-keywords` + lowercase
//! flag letters): turning STORE/APPEND flag lists into Maildir letters (defining new
//! keywords in the folder on the way), the FLAGS and PERMANENTFLAGS responses (with `\*`
//! while a letter is free), and carrying keywords across folders on COPY/MOVE, where the
//! same keyword may have another letter. Errors: `maildir::Error` (temporary).

use std::path::Path;

use crate::imap::imap_types::flag::Flag;
use crate::imap::reply::{self, Status};
use crate::maildir::imap_keywords::Keywords;
use crate::maildir::Result;

use super::mailbox::{letter, SYSTEM_FLAGS};

/// The keyword names in a flag list.
pub fn names<'a>(flags: &'a [Flag<'static>]) -> Vec<&'a str> {
    flags
        .iter()
        .filter_map(|f| match f {
            Flag::Keyword(a) => Some(a.inner()),
            _ => None,
        })
        .collect()
}

/// Maildir letters for `flags`: system flags and keywords `kw` defines; others are dropped.
pub fn letters(flags: &[Flag<'static>], kw: &Keywords) -> String {
    flags
        .iter()
        .filter_map(|f| match f {
            Flag::Keyword(a) => kw.letter(a.inner()),
            other => letter(other),
        })
        .collect()
}

/// Defines the keywords of `flags` in the folder at `dir`; `Ok(true)` when `kw` changed.
pub fn define(dir: &Path, kw: &mut Keywords, flags: &[Flag<'static>]) -> Result<bool> {
    let wanted = names(flags);
    if wanted.iter().all(|w| kw.letter(w).is_some()) {
        return Ok(false);
    }
    let now = Keywords::define(dir, &wanted)?;
    let changed = now != *kw;
    *kw = now;
    Ok(changed)
}

/// Whether a keyword of `flags` could not get a letter (the folder has 26).
pub fn overflow(flags: &[Flag<'static>], kw: &Keywords) -> bool {
    names(flags).iter().any(|n| kw.letter(n).is_none())
}

/// `* FLAGS (…)` and `* OK [PERMANENTFLAGS (…)]` for the mailbox's current keywords.
pub fn announce(kw: &Keywords, read_only: bool, out: &mut Vec<u8>) {
    let mut all = SYSTEM_FLAGS.to_string();
    for n in kw.names() {
        all.push(' ');
        all.push_str(n);
    }
    out.extend(reply::untagged(&format!("FLAGS ({all})")));
    let perm = match (read_only, kw.is_full()) {
        (true, _) => String::new(),
        (false, true) => all,
        (false, false) => format!("{all} \\*"),
    };
    out.extend(reply::untagged_status(
        Status::Ok,
        &format!("PERMANENTFLAGS ({perm})"),
        "flags permitted",
    ));
}

/// The letters of a message moving from a folder with keywords `from` into the folder at
/// `to_dir`: system letters stay, keyword letters are re-mapped (defining the keywords there).
pub fn translate(letters: &str, from: &Keywords, to_dir: &Path) -> Result<String> {
    let wanted: Vec<&str> = letters.chars().filter_map(|c| from.name(c)).collect();
    let to = if wanted.is_empty() {
        Keywords::default()
    } else {
        Keywords::define(to_dir, &wanted)?
    };
    Ok(letters
        .chars()
        .filter_map(|c| match c {
            'a'..='z' => from.name(c).and_then(|n| to.letter(n)),
            other => Some(other),
        })
        .collect())
}

/// How many keywords of messages with `letters_each` (named by `from`) the folder at
/// `to_dir` lacks beyond what its 26 letters can hold (0: they all fit).
pub fn overflow_in(letters_each: &[&str], from: &Keywords, to_dir: &Path) -> Result<usize> {
    let mut wanted: Vec<&str> = letters_each
        .iter()
        .flat_map(|l| l.chars())
        .filter_map(|c| from.name(c))
        .collect();
    if wanted.is_empty() {
        return Ok(0);
    }
    wanted.sort_unstable();
    wanted.dedup();
    let to = Keywords::load(to_dir)?;
    let have = to.names().count();
    let missing = wanted.iter().filter(|n| to.letter(n).is_none()).count();
    Ok((have + missing).saturating_sub(crate::maildir::imap_keywords::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::imap_types::core::Atom;

    fn kw(name: &str) -> Flag<'static> {
        Flag::Keyword(Atom::try_from(name.to_string()).unwrap())
    }

    #[test]
    fn letters_and_translation() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(b.join("dovecot-keywords"), "0 Other\n").unwrap();
        let mut k = Keywords::default();
        let flags = [Flag::Seen, kw("$Forwarded"), kw("Work")];
        assert!(define(&a, &mut k, &flags).unwrap());
        assert!(!define(&a, &mut k, &flags).unwrap());
        assert_eq!(letters(&flags, &k), "Sab");
        assert!(!overflow(&flags, &k));
        assert_eq!(translate("Sab", &k, &b).unwrap(), "Sbc");
        let mut out = Vec::new();
        announce(&k, false, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text
            .contains("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded Work)"));
        assert!(text.contains("Work \\*)]"));
    }
}
