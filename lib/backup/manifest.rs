//! The manifest: the last member (`MANIFEST`) of every backup, listing what the backup
//! covers with a SHA-256 per stored file, so `verify` can check the archive and a later
//! incremental backup knows which messages it already holds.
//!
//! Text, one entry a line, fields separated by one space (paths never hold a newline;
//! they may hold spaces, so the path is the rest of the line):
//! ```text
//! mail-backup 1
//! created 1764311027
//! since full-2026-11-27.tar.gz
//! F <sha256> <size> config/users            a stored file
//! M <sha256> <size> mail/d/u/cur/1.M2.h:2,S a stored Maildir message
//! K - - mail/d/u/1.M0.h                      a message key held by an earlier backup
//! ```

use std::collections::{BTreeMap, BTreeSet};

/// The archive member name of the manifest.
pub const NAME: &str = "MANIFEST";
const MAGIC: &str = "mail-backup 1";

/// One stored member.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub sha256: String,
    pub size: u64,
    /// A Maildir message (`M`) rather than another file (`F`).
    pub message: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Manifest {
    pub created: u64,
    /// The previous backup this one is incremental to, as given on the command line.
    pub since: Option<String>,
    /// Archive path → what was stored there.
    pub stored: BTreeMap<String, Stored>,
    /// Message keys held by an earlier backup of the chain (not stored here).
    pub known: BTreeSet<String>,
}

/// A Maildir message's identity across flag changes and new/ → cur/ moves: its mailbox
/// path plus the unique part of its name (before `:`). `mail/d/u/cur/1.M2.h:2,S` →
/// `mail/d/u/1.M2.h`. `None` for a path that is not a message in cur/ or new/.
pub fn message_key(path: &str) -> Option<String> {
    let (dir, name) = path.rsplit_once('/')?;
    let (mailbox, sub) = dir.rsplit_once('/')?;
    if sub != "cur" && sub != "new" {
        return None;
    }
    Some(format!("{mailbox}/{}", base(name)))
}

/// The unique part of a Maildir file name: everything before the `:2,flags` info.
pub fn base(name: &str) -> &str {
    name.split_once(':').map_or(name, |(b, _)| b)
}

impl Manifest {
    /// Every message key this backup covers, stored here or earlier.
    pub fn message_keys(&self) -> BTreeSet<String> {
        let mut keys = self.known.clone();
        keys.extend(
            self.stored
                .iter()
                .filter(|(_, s)| s.message)
                .filter_map(|(p, _)| message_key(p)),
        );
        keys
    }

    pub fn render(&self) -> String {
        let mut out = format!("{MAGIC}\ncreated {}\n", self.created);
        if let Some(s) = &self.since {
            out.push_str(&format!("since {s}\n"));
        }
        for (path, s) in &self.stored {
            let kind = if s.message { 'M' } else { 'F' };
            out.push_str(&format!("{kind} {} {} {path}\n", s.sha256, s.size));
        }
        for k in &self.known {
            out.push_str(&format!("K - - {k}\n"));
        }
        out
    }

    pub fn parse(text: &str) -> Result<Manifest, String> {
        let mut lines = text.lines();
        if lines.next() != Some(MAGIC) {
            return Err("not a mail backup manifest".into());
        }
        let mut m = Manifest::default();
        for (i, line) in lines.enumerate() {
            let bad = || format!("manifest line {}: {line:?}", i + 2);
            if let Some(v) = line.strip_prefix("created ") {
                m.created = v.parse().map_err(|_| bad())?;
                continue;
            }
            if let Some(v) = line.strip_prefix("since ") {
                m.since = Some(v.to_string());
                continue;
            }
            let mut f = line.splitn(4, ' ');
            let (Some(kind), Some(sha), Some(size), Some(path)) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                return Err(bad());
            };
            match kind {
                "K" => {
                    m.known.insert(path.to_string());
                }
                "F" | "M" => {
                    let size = size.parse().map_err(|_| bad())?;
                    let s = Stored {
                        sha256: sha.to_string(),
                        size,
                        message: kind == "M",
                    };
                    m.stored.insert(path.to_string(), s);
                }
                _ => return Err(bad()),
            }
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_ignore_flags_and_subdir() {
        assert_eq!(
            message_key("mail/d/u/cur/1.M2.h:2,S").as_deref(),
            Some("mail/d/u/1.M2.h")
        );
        assert_eq!(
            message_key("mail/d/u/.Sent/new/1.M2.h").as_deref(),
            Some("mail/d/u/.Sent/1.M2.h")
        );
        assert_eq!(message_key("mail/d/u/maildirsize"), None);
    }

    #[test]
    fn round_trip() {
        let mut m = Manifest {
            created: 5,
            since: Some("prev file.tar.gz".into()),
            ..Manifest::default()
        };
        m.stored.insert(
            "mail/d/u/cur/a b:2,S".into(),
            Stored {
                sha256: "ab".into(),
                size: 3,
                message: true,
            },
        );
        m.known.insert("mail/d/u/old".into());
        let again = Manifest::parse(&m.render()).unwrap();
        assert_eq!(again, m);
        assert_eq!(again.message_keys().len(), 2);
        assert!(Manifest::parse("garbage").is_err());
        assert!(Manifest::parse("mail-backup 1\nX 1 2 p\n").is_err());
    }
}
