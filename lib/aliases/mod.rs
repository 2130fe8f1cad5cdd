//! Aliases: parses the classic `/etc/aliases` file into a table of names and targets.
//!
//! Syntax: `name: target, target, …`; lines starting with whitespace continue the previous
//! entry; lines whose first non-blank character is `#` are comments; blank lines are ignored.
//! A name is `local` (meaning that local part in every local domain) or `local@domain`.
//! Targets: an address (`user@domain`, or a bare `user` in the alias's own domain), `\user`
//! (that mailbox, no further aliasing), `|command`, `:include:/path`, `/path/file`; any of
//! them may be written in double quotes (`"|/bin/prog a, b"`).
//!
//! Owns only the syntax: it never decides what a target may do (pipes, includes and files
//! are policed by `directory` at expansion time) and never touches users or the network.
//! `edit` changes the file as text for `mailctl alias` (locked, atomic, comments kept).
//! Errors: `aliases::Error`, naming file and line. A syntax error is permanent (an admin must
//! fix the file); an unreadable file is temporary. A missing aliases file is an empty table.

pub mod edit;
mod parse;

pub use parse::{parse_targets, split_targets};

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}:{line}: {message}")]
    Parse {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
}

impl Error {
    /// An unreadable file may become readable; a syntax error needs an admin.
    pub fn is_temporary(&self) -> bool {
        matches!(self, Error::Io { .. })
    }
}

/// One target of an alias, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `user@domain`, or a bare `user` qualified with the alias's domain at expansion.
    Address(String),
    /// `\user`: deliver to this mailbox without looking it up as an alias.
    Mailbox(String),
    /// `|command`: run through `sh -c` with the message on stdin.
    Pipe(String),
    /// `:include:/path`: a file of further targets.
    Include(PathBuf),
    /// `/path/file`: append to a file.
    File(PathBuf),
}

/// One `name: targets` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `local` or `local@domain`, lower case.
    pub name: String,
    pub targets: Vec<Target>,
    /// Line where the entry starts, for messages.
    pub line: usize,
}

/// The parsed aliases file.
#[derive(Debug, Clone, Default)]
pub struct Aliases {
    path: PathBuf,
    entries: HashMap<String, Entry>,
}

impl Aliases {
    /// A table without entries (no aliases file configured).
    pub fn empty() -> Aliases {
        Aliases::default()
    }

    /// Reads and parses the file; a missing file is an empty table.
    pub fn load(path: &Path) -> Result<Aliases, Error> {
        match std::fs::read(path) {
            Ok(bytes) => Aliases::parse(path, &String::from_utf8_lossy(&bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Aliases {
                path: path.to_path_buf(),
                entries: HashMap::new(),
            }),
            Err(source) => Err(Error::Io {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// Parses aliases text as if read from `path` (used in messages and for relative includes).
    pub fn parse(path: &Path, text: &str) -> Result<Aliases, Error> {
        let mut entries: HashMap<String, Entry> = HashMap::new();
        for (line, logical) in parse::logical_lines(text).map_err(|(line, m)| err(path, line, m))? {
            let entry = parse::entry(&logical, line).map_err(|m| err(path, line, m))?;
            if let Some(first) = entries.get(&entry.name) {
                let m = format!(
                    "duplicate alias {:?} (first on line {})",
                    entry.name, first.line
                );
                return Err(err(path, line, m));
            }
            entries.insert(entry.name.clone(), entry);
        }
        Ok(Aliases {
            path: path.to_path_buf(),
            entries,
        })
    }

    /// The file this table came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every entry, in file order.
    pub fn entries(&self) -> Vec<&Entry> {
        let mut all: Vec<&Entry> = self.entries.values().collect();
        all.sort_by_key(|e| e.line);
        all
    }

    /// The entry for `local@domain`: an exact `local@domain` name first, then a bare `local`.
    /// The caller checks that `domain` is one of ours.
    pub fn get(&self, local: &str, domain: &str) -> Option<&Entry> {
        let local = local.to_lowercase();
        let full = format!("{local}@{}", domain.to_ascii_lowercase());
        self.entries.get(&full).or_else(|| self.entries.get(&local))
    }

    /// Reads an `:include:` file: targets separated by commas or newlines, `#` comments.
    /// A relative path is taken relative to the aliases file's directory.
    pub fn read_include(&self, path: &Path) -> Result<Vec<Target>, Error> {
        let full = match self.path.parent() {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_path_buf(),
        };
        let bytes = std::fs::read(&full).map_err(|source| Error::Io {
            path: full.display().to_string(),
            source,
        })?;
        let text = String::from_utf8_lossy(&bytes);
        let mut out = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let l = raw.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            out.extend(parse_targets(l).map_err(|m| err(&full, i + 1, m))?);
        }
        Ok(out)
    }
}

fn err(path: &Path, line: usize, message: String) -> Error {
    Error::Parse {
        path: path.display().to_string(),
        line,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Aliases, Error> {
        Aliases::parse(Path::new("/etc/aliases"), text)
    }

    #[test]
    fn lists_continuations_and_comments() {
        let a = parse(
            "# comment\n\nstaff: alice@example.test,\n  bob@example.test\n\t, carol\n  # inner\nPostmaster@Example.TEST: root\n",
        )
        .unwrap();
        assert_eq!(a.len(), 2);
        let staff = a.get("STAFF", "example.test").unwrap();
        assert_eq!(
            staff.targets,
            vec![
                Target::Address("alice@example.test".into()),
                Target::Address("bob@example.test".into()),
                Target::Address("carol".into()),
            ]
        );
        assert_eq!(staff.line, 3);
        assert!(a.get("postmaster", "example.test").is_some());
        assert!(a.get("postmaster", "other.test").is_none());
        assert!(
            a.get("staff", "other.test").is_some(),
            "bare names apply to every domain"
        );
    }

    #[test]
    fn special_targets_and_quotes() {
        let a = parse(
            "x: |/usr/bin/prog, \"|/bin/sh -c 'a, b'\", :include:/etc/list, /var/log/x, \\me, <u@v.test>, \"a b\"@example.test\n",
        )
        .unwrap();
        assert_eq!(
            a.get("x", "d.test").unwrap().targets,
            vec![
                Target::Pipe("/usr/bin/prog".into()),
                Target::Pipe("/bin/sh -c 'a, b'".into()),
                Target::Include("/etc/list".into()),
                Target::File("/var/log/x".into()),
                Target::Mailbox("me".into()),
                Target::Address("u@v.test".into()),
                Target::Address("\"a b\"@example.test".into()),
            ]
        );
    }

    #[test]
    fn errors_name_file_and_line() {
        for (text, line) in [
            ("a: b,\n  c\nno colon here\n", 3),
            (" leading: x\n", 1),
            ("a: b\n\nb:\n", 3),
            ("a: \"unterminated\n", 1),
            ("a: b\nA: c\n", 2),
            ("a b: c\n", 1),
            ("a: |\n", 1),
            ("a: x@\n", 1),
            ("@d: x\n", 1),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("/etc/aliases:{line}: ")),
                "{text:?} gave {e}"
            );
        }
    }

    #[test]
    fn missing_file_is_empty_and_include_files_parse() {
        let dir = tempfile::tempdir().unwrap();
        let a = Aliases::load(&dir.path().join("nope")).unwrap();
        assert!(a.is_empty());
        std::fs::write(dir.path().join("aliases"), "list: :include:members\n").unwrap();
        std::fs::write(
            dir.path().join("members"),
            "# team\na@x.test, b@x.test\nc\n",
        )
        .unwrap();
        let a = Aliases::load(&dir.path().join("aliases")).unwrap();
        let t = a.read_include(Path::new("members")).unwrap();
        assert_eq!(t.len(), 3);
        let e = a.read_include(Path::new("absent")).unwrap_err();
        assert!(e.is_temporary());
    }
}
