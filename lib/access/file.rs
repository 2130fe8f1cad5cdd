//! Editing the access file for `mailctl allow|block`: under an exclusive flock on
//! `<file>.lock`, read, change, write a temporary file, fsync, rename over the old one (so
//! smtpd never reads half a file). Comments and other lines are kept as they are.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use super::{Error, Lists, Rule};

/// Adds the rule unless an equal one is there; true if the file changed.
pub fn add(path: &Path, rule: &Rule) -> Result<bool, Error> {
    edit(path, |lines| {
        if parsed(lines).any(|r| r == *rule) {
            return false;
        }
        lines.push(rule.line());
        true
    })
}

/// Removes every line equal to the rule; true if one was there.
pub fn del(path: &Path, rule: &Rule) -> Result<bool, Error> {
    edit(path, |lines| {
        let before = lines.len();
        lines.retain(|l| Rule::parse(strip(l)).ok().as_ref() != Some(rule));
        lines.len() != before
    })
}

fn strip(line: &str) -> &str {
    line.split('#').next().unwrap_or("").trim()
}

fn parsed(lines: &[String]) -> impl Iterator<Item = Rule> + '_ {
    lines.iter().filter_map(|l| Rule::parse(strip(l)).ok())
}

fn edit(path: &Path, change: impl FnOnce(&mut Vec<String>) -> bool) -> Result<bool, Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let _lock = lock(path)?;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io(e)),
    };
    // Refuse to rewrite a file smtpd could not read either.
    Lists::parse(path, &text)?;
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if !change(&mut lines) {
        return Ok(false);
    }
    let tmp = sibling(path, ".tmp");
    let mut f = File::create(&tmp).map_err(io)?;
    let mut body = lines.join("\n");
    body.push('\n');
    f.write_all(body.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent() {
        File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(true)
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn lock(path: &Path) -> Result<Flock<File>, Error> {
    let lock_path = sibling(path, ".lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| Error::Io {
            path: lock_path.clone(),
            source,
        })?;
    Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| Error::Io {
        path: lock_path,
        source: e.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_and_del_keep_comments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access");
        std::fs::write(&path, "# keep me\nblock a.test\n").unwrap();
        let r = Rule::parse("block 10.0.0.0/8 for demo@example.test").unwrap();
        assert!(add(&path, &r).unwrap());
        assert!(!add(&path, &r).unwrap());
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "# keep me\nblock a.test\nblock 10.0.0.0/8 for demo@example.test\n"
        );
        assert!(del(&path, &Rule::parse("block a.test").unwrap()).unwrap());
        assert!(!del(&path, &Rule::parse("block a.test").unwrap()).unwrap());
        let l = Lists::load(&path).unwrap();
        assert_eq!(l.rules, vec![r]);
        std::fs::write(&path, "garbage\n").unwrap();
        assert!(add(&path, &Rule::parse("allow b.test").unwrap()).is_err());
    }
}
