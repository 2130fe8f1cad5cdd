//! Parsed statistics kept between messages for a long-running reader (spam-scan), so a
//! user's file is parsed once per change instead of once per message. A file is reloaded
//! when its inode, size or mtime differ (every save is a rename to a new inode). Bounded:
//! past `MAX_USERS` entries the cache starts over. Single-threaded (`RefCell`).

use super::store::Stats;
use super::{classify, tokens, FILE};
use std::cell::RefCell;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

const MAX_USERS: usize = 1000;

/// (inode, size, mtime seconds, mtime nanoseconds) of a statistics file.
type Stamp = (u64, u64, i64, i64);

#[derive(Default)]
pub struct Cache {
    entries: RefCell<HashMap<PathBuf, (Stamp, Rc<Stats>)>>,
}

impl Cache {
    pub fn new() -> Cache {
        Cache::default()
    }

    /// Like `bayes::probability`, from the cached statistics when the file is unchanged.
    pub fn probability(&self, user_maildir: &Path, message: &[u8]) -> Option<f64> {
        let stats = self.stats(&user_maildir.join(FILE))?;
        classify::probability(&stats, &tokens::tokens(message))
    }

    fn stats(&self, path: &Path) -> Option<Rc<Stats>> {
        let m = std::fs::metadata(path).ok()?;
        let stamp = (m.ino(), m.len(), m.mtime(), m.mtime_nsec());
        let mut entries = self.entries.borrow_mut();
        if let Some((s, stats)) = entries.get(path) {
            if *s == stamp {
                return Some(stats.clone());
            }
        }
        let stats = Rc::new(Stats::load(path).ok()?);
        if entries.len() >= MAX_USERS {
            entries.clear();
        }
        entries.insert(path.to_path_buf(), (stamp, stats.clone()));
        Some(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_replacements() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new();
        let m = |i: usize, s: bool| {
            format!(
                "Message-ID: <{i}{s}>\nSubject: {}\n\n{} {i}\n",
                if s { "win cash" } else { "lunch plan" },
                if s {
                    "prize money casino"
                } else {
                    "sandwich salad soup"
                }
            )
            .into_bytes()
        };
        assert_eq!(cache.probability(dir.path(), &m(0, true)), None);
        for i in 0..super::super::MIN_TRAINED as usize {
            super::super::learn(dir.path(), &m(i, true), true).unwrap();
            super::super::learn(dir.path(), &m(i, false), false).unwrap();
        }
        let p = cache.probability(dir.path(), &m(99, true)).unwrap();
        assert!(p > 0.9, "{p}");
        for i in 0..super::super::MIN_TRAINED as usize {
            super::super::unlearn(dir.path(), &m(i, true)).unwrap();
        }
        assert_eq!(
            cache.probability(dir.path(), &m(99, true)),
            None,
            "reloaded"
        );
    }
}
