//! IMAP keywords (`$Forwarded`, `$Junk`, custom ones) stored the Dovecot way, so an existing
//! Dovecot Maildir keeps its keywords and mblaze, Dovecot and this server agree: a per-folder
//! `dovecot-keywords` file of `<index> <name>` lines, and the lowercase letter `'a' + index`
//! in the `:2,` flags of a message's file name. At most 26 keywords per folder.
//!
//! Reading is lock-free (a missing file is an empty set; lines that do not parse are skipped).
//! `define` is the only writer: it holds an exclusive flock on `mailserver-keywords.lock`
//! (not Dovecot's dotlock name, which Dovecot creates with O_EXCL), re-reads the file, gives
//! new names free indexes and replaces the file atomically (tmp, fsync, rename). Names
//! compare case-insensitively, as IMAP flags do. Does not rename message files (see
//! `store::set_flags`). Errors: `maildir::Error::Io` (temporary).

use super::error::{Error, Result};
use nix::fcntl::{Flock, FlockArg};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::Path;

/// The keyword file in a folder directory (Dovecot's name and format).
pub const FILE: &str = "dovecot-keywords";
/// Our lock while changing `FILE`.
const LOCK: &str = "mailserver-keywords.lock";
/// Letters `a`..`z`.
pub const MAX: usize = 26;

/// The keywords of one folder, by index (letter `'a' + index`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keywords {
    names: Vec<Option<String>>,
}

impl Keywords {
    /// Reads `FILE` in `folder_dir`; missing means none.
    pub fn load(folder_dir: &Path) -> Result<Keywords> {
        let path = folder_dir.join(FILE);
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Keywords::parse(&text)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Keywords::default()),
            Err(e) if e.kind() == ErrorKind::InvalidData => Ok(Keywords::default()),
            Err(e) => Err(Error::io("read", &path)(e)),
        }
    }

    /// Parses `<index> <name>` lines; bad lines, indexes over 25 and repeats are skipped.
    pub fn parse(text: &str) -> Keywords {
        let mut k = Keywords::default();
        for line in text.lines() {
            let Some((idx, name)) = line.split_once(' ') else {
                continue;
            };
            let (Ok(idx), name) = (idx.parse::<usize>(), name.trim()) else {
                continue;
            };
            if idx >= MAX || !valid(name) || k.letter(name).is_some() {
                continue;
            }
            if k.names.len() <= idx {
                k.names.resize(idx + 1, None);
            }
            if k.names[idx].is_none() {
                k.names[idx] = Some(name.to_string());
            }
        }
        k
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (i, n) in self.names.iter().enumerate() {
            if let Some(n) = n {
                out.push_str(&format!("{i} {n}\n"));
            }
        }
        out
    }

    /// The letter of a keyword, if defined.
    pub fn letter(&self, name: &str) -> Option<char> {
        let i = self
            .names
            .iter()
            .position(|n| n.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name)))?;
        char::from_u32('a' as u32 + i as u32)
    }

    /// The keyword a lowercase letter stands for, if defined.
    pub fn name(&self, letter: char) -> Option<&str> {
        if !letter.is_ascii_lowercase() {
            return None;
        }
        let i = (letter as u8 - b'a') as usize;
        self.names.get(i)?.as_deref()
    }

    /// Defined keywords in index order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().filter_map(|n| n.as_deref())
    }

    /// No letter left for a new keyword.
    pub fn is_full(&self) -> bool {
        self.names().count() >= MAX
    }

    /// Gives every name in `wanted` a letter (those already defined keep theirs), writing
    /// `FILE` when something was added. Names that do not fit (26 in use) or are not valid
    /// atoms stay undefined: check with `letter`. Returns the folder's keywords now.
    pub fn define(folder_dir: &Path, wanted: &[&str]) -> Result<Keywords> {
        let mut k = Keywords::load(folder_dir)?;
        if wanted.iter().all(|w| k.letter(w).is_some() || !valid(w)) {
            return Ok(k);
        }
        let lock_path = folder_dir.join(LOCK);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(Error::io("open", &lock_path))?;
        let _lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::io("flock", &lock_path)(e.into()))?;
        k = Keywords::load(folder_dir)?;
        let before = k.clone();
        for w in wanted {
            if k.letter(w).is_none() && valid(w) {
                k.add(w);
            }
        }
        if k != before {
            write_atomic(folder_dir, &k.render())?;
        }
        Ok(k)
    }

    fn add(&mut self, name: &str) {
        match self.names.iter().position(Option::is_none) {
            Some(i) => self.names[i] = Some(name.to_string()),
            None if self.names.len() < MAX => self.names.push(Some(name.to_string())),
            None => {}
        }
    }
}

/// An IMAP atom without `\` (a keyword, not a system flag), short enough to be sane.
fn valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b))
}

fn write_atomic(folder_dir: &Path, text: &str) -> Result<()> {
    let tmp = folder_dir.join(format!("{FILE}.tmp.{}", std::process::id()));
    let dst = folder_dir.join(FILE);
    let mut f = File::create(&tmp).map_err(Error::io("create", &tmp))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(Error::io("write", &tmp))?;
    fs::rename(&tmp, &dst).map_err(Error::io("rename", &dst))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dovecot_files() {
        let k = Keywords::parse("0 $Forwarded\n2 Work\nx bad\n30 Far\n3 work\n1\n");
        assert_eq!(k.letter("$forwarded"), Some('a'));
        assert_eq!(k.letter("Work"), Some('c'));
        assert_eq!(k.name('c'), Some("Work"));
        assert_eq!(k.name('b'), None);
        assert_eq!(k.name('S'), None);
        assert_eq!(k.letter("Far"), None);
        assert_eq!(k.names().collect::<Vec<_>>(), ["$Forwarded", "Work"]);
        assert_eq!(k.render(), "0 $Forwarded\n2 Work\n");
    }

    #[test]
    fn define_fills_free_indexes_and_persists() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        assert_eq!(Keywords::load(d).unwrap(), Keywords::default());
        fs::write(d.join(FILE), "1 $Junk\n").unwrap();
        let k = Keywords::define(d, &["$Junk", "$Forwarded", "bad\\", "Custom"]).unwrap();
        assert_eq!(k.letter("$junk"), Some('b'));
        assert_eq!(k.letter("$Forwarded"), Some('a'));
        assert_eq!(k.letter("Custom"), Some('c'));
        assert_eq!(k.letter("bad\\"), None);
        assert_eq!(
            fs::read_to_string(d.join(FILE)).unwrap(),
            "0 $Forwarded\n1 $Junk\n2 Custom\n"
        );
        assert_eq!(Keywords::load(d).unwrap(), k);
    }

    #[test]
    fn at_most_26() {
        let t = tempfile::tempdir().unwrap();
        let names: Vec<String> = (0..30).map(|i| format!("k{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let k = Keywords::define(t.path(), &refs).unwrap();
        assert!(k.is_full());
        assert_eq!(k.letter("k25"), Some('z'));
        assert_eq!(k.letter("k26"), None);
    }
}
