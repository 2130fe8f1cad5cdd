//! The statistics file: message counts, per-token spam/ham counts, and the digests of
//! learned messages. Text, one record per line, so an admin can read it:
//!
//! ```text
//! mailserver-bayes 1
//! messages <spam> <ham>
//! seen <digest> spam|ham
//! token <spam-count> <ham-count> <token>
//! ```
//!
//! `save` replaces it atomically (tmp, fsync, rename, fsync dir); callers hold `lock`.

use nix::fcntl::{Flock, FlockArg};
use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

const MAGIC: &str = "mailserver-bayes 1";
/// Above this many distinct tokens, tokens seen only once are dropped on save.
const MAX_STORED: usize = 200_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    Spam,
    Ham,
}

impl Class {
    fn name(self) -> &'static str {
        match self {
            Class::Spam => "spam",
            Class::Ham => "ham",
        }
    }
}

#[derive(Debug, Default)]
pub struct Stats {
    pub spam_messages: u64,
    pub ham_messages: u64,
    /// Token → (spam count, ham count): in how many learned messages of each class it occurs.
    pub tokens: HashMap<String, (u64, u64)>,
    /// Digest of each learned message → its class.
    pub seen: HashMap<String, Class>,
}

impl Stats {
    /// Reads the file; a missing file is empty statistics.
    pub fn load(path: &Path) -> Result<Stats, String> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Stats::default()),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        Stats::parse(&text).map_err(|(n, what)| format!("{}:{n}: {what}", path.display()))
    }

    /// Parses the text; the error is the line number and what is wrong.
    pub fn parse(text: &str) -> Result<Stats, (usize, &'static str)> {
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, MAGIC)) => {}
            _ => return Err((1, "not a mailserver-bayes 1 file")),
        }
        let mut s = Stats::default();
        for (i, line) in lines {
            s.parse_line(line).ok_or((i + 1, "malformed line"))?;
        }
        Ok(s)
    }

    fn parse_line(&mut self, line: &str) -> Option<()> {
        let mut f = line.splitn(4, ' ');
        match f.next()? {
            "messages" => {
                self.spam_messages = f.next()?.parse().ok()?;
                self.ham_messages = f.next()?.parse().ok()?;
            }
            "seen" => {
                let digest = f.next()?.to_string();
                let class = match f.next()? {
                    "spam" => Class::Spam,
                    "ham" => Class::Ham,
                    _ => return None,
                };
                self.seen.insert(digest, class);
            }
            "token" => {
                let spam = f.next()?.parse().ok()?;
                let ham = f.next()?.parse().ok()?;
                self.tokens.insert(f.next()?.to_string(), (spam, ham));
            }
            _ => return None,
        }
        Some(())
    }

    /// Counts one message of `class` with these tokens.
    pub fn add(&mut self, digest: String, class: Class, toks: &BTreeSet<String>) {
        self.seen.insert(digest, class);
        *self.messages(class) += 1;
        for t in toks {
            let e = self.tokens.entry(t.clone()).or_default();
            match class {
                Class::Spam => e.0 += 1,
                Class::Ham => e.1 += 1,
            }
        }
    }

    /// Takes back one message of `class` with these tokens.
    pub fn remove(&mut self, digest: &str, class: Class, toks: &BTreeSet<String>) {
        self.seen.remove(digest);
        let n = self.messages(class);
        *n = n.saturating_sub(1);
        for t in toks {
            if let Some(e) = self.tokens.get_mut(t) {
                match class {
                    Class::Spam => e.0 = e.0.saturating_sub(1),
                    Class::Ham => e.1 = e.1.saturating_sub(1),
                }
                if *e == (0, 0) {
                    self.tokens.remove(t);
                }
            }
        }
    }

    fn messages(&mut self, class: Class) -> &mut u64 {
        match class {
            Class::Spam => &mut self.spam_messages,
            Class::Ham => &mut self.ham_messages,
        }
    }

    fn render(&self) -> String {
        let mut out = format!(
            "{MAGIC}\nmessages {} {}\n",
            self.spam_messages, self.ham_messages
        );
        let mut seen: Vec<_> = self.seen.iter().collect();
        seen.sort();
        for (d, c) in seen {
            out.push_str(&format!("seen {d} {}\n", c.name()));
        }
        let prune = self.tokens.len() > MAX_STORED;
        let mut toks: Vec<_> = self.tokens.iter().collect();
        toks.sort();
        for (t, (s, h)) in toks {
            if !(prune && s + h <= 1) {
                out.push_str(&format!("token {s} {h} {t}\n"));
            }
        }
        out
    }

    /// Replaces the file atomically: `<path>.tmp`, fsync, rename, fsync the directory.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let err = |what: &str, p: &Path| {
            let p = p.display().to_string();
            let what = what.to_string();
            move |e: std::io::Error| format!("{what} {p}: {e}")
        };
        let tmp = path.with_extension("tmp");
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(err("create", &tmp))?;
        f.write_all(self.render().as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(err("write", &tmp))?;
        fs::rename(&tmp, path).map_err(err("rename", path))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(err("fsync", dir))
    }
}

/// The exclusive lock serialising writers: a flock on `<path>.lock`, released on drop.
/// Creates the Maildir root if it does not exist yet (a user who never got mail).
pub fn lock(path: &Path) -> Result<Flock<File>, String> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let lock_path = path.with_extension("lock");
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|e| format!("{}: {e}", lock_path.display()))?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, e)| format!("flock {}: {e}", lock_path.display()))
}
