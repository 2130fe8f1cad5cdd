//! The selected mailbox as this session sees it: messages in sequence-number order with
//! their UIDs (from `maildir::uidlist`), Maildir flags (keywords as Dovecot's lowercase
//! letters, named by the folder's `dovecot-keywords`) and this session's `\Recent` set, and
//! `refresh`, which brings the view up to date with the disk and reports the difference as
//! untagged EXISTS, RECENT, EXPUNGE and FETCH FLAGS responses (and FLAGS/PERMANENTFLAGS when
//! another session defined a keyword).
//! `refresh` costs nothing when the folder did not change (`maildir::imap_watch`, kept for the
//! whole selection; this session's own renames and unlinks are announced to it, so they do
//! not count), takes others' flag changes from the watch's file names, and reads the whole
//! folder (`UidList::sync`) only for anything else: deliveries, expunges, keyword files.
//!
//! `\Recent`: a read-write SELECT moves messages from new/ to cur/ (keeping their flags) as
//! it first sees them; the session that moved a message is the one that sees it `\Recent`.
//! EXAMINE moves nothing and shows new/ messages as recent.
//! Expunges by others are only reported when the command allows it (RFC 3501 7.4.1: not
//! during FETCH, STORE or SEARCH); until then the message stays in the view as a ghost.
//! CONDSTORE: each message carries its modseq from the index; once CONDSTORE is on, others'
//! flag changes are read through the index (so they get their modseqs) and reported with UID
//! and MODSEQ, and this session's own changes take theirs with `take_modseqs`.
//! Errors: `maildir::Error` (temporary).

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::imap::imap_types::flag::Flag;
use crate::imap::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};
use crate::maildir::imap_keywords::Keywords;
use crate::maildir::imap_watch::{Changes, FolderWatch};
use crate::maildir::uidlist::{UidEntry, UidList};
use crate::maildir::{store, FolderName, Maildir, Result};

/// One message in the view.
#[derive(Debug, Clone)]
pub struct Msg {
    pub entry: UidEntry,
    pub recent: bool,
}

impl Msg {
    pub fn uid(&self) -> u32 {
        self.entry.uid
    }

    pub fn has(&self, letter: char) -> bool {
        self.entry.flags.contains(letter)
    }

    /// `\Seen \Flagged $Forwarded …` for FETCH FLAGS.
    pub fn flag_list(&self, kw: &Keywords) -> String {
        flag_list(&self.entry.flags, self.recent, kw)
    }
}

pub struct Selected {
    pub folder: Option<FolderName>,
    pub dir: PathBuf,
    pub read_only: bool,
    pub uidvalidity: u32,
    pub next_uid: u32,
    /// HIGHESTMODSEQ as of the last read of the folder (CONDSTORE).
    pub highest_modseq: u64,
    /// CONDSTORE is on for the session: flag changes by others are read from the index (with
    /// their new modseqs) rather than taken from file names, and reported with MODSEQ.
    pub condstore: bool,
    pub msgs: Vec<Msg>,
    /// The folder's keywords (`dovecot-keywords`), re-read on every refresh that re-syncs.
    pub keywords: Keywords,
    /// Tells `refresh` whether the folder changed since it last looked.
    pub watch: FolderWatch,
    /// Messages gone from disk but kept as ghosts (an EXPUNGE not yet allowed to be sent).
    ghosts: bool,
    /// A change was seen but not yet read (the last re-sync failed).
    dirty: bool,
}

/// The flags a mailbox offers, for FLAGS and PERMANENTFLAGS.
pub const SYSTEM_FLAGS: &str = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";

/// The Maildir letter of an IMAP system flag; `None` for keywords and others.
pub fn letter(flag: &Flag) -> Option<char> {
    match flag {
        Flag::Answered => Some('R'),
        Flag::Deleted => Some('T'),
        Flag::Draft => Some('D'),
        Flag::Flagged => Some('F'),
        Flag::Seen => Some('S'),
        _ => None,
    }
}

/// `\Answered \Seen $Junk …` from Maildir letters (keywords from `kw`) and `\Recent`.
pub fn flag_list(letters: &str, recent: bool, kw: &Keywords) -> String {
    let mut out: Vec<&str> = Vec::new();
    for (l, name) in [
        ('R', "\\Answered"),
        ('F', "\\Flagged"),
        ('T', "\\Deleted"),
        ('S', "\\Seen"),
        ('D', "\\Draft"),
    ] {
        if letters.contains(l) {
            out.push(name);
        }
    }
    // IMAP4rev2 has no \\Recent (RFC 9051 appendix E).
    if recent && !super::names::rev2() {
        out.push("\\Recent");
    }
    out.extend(letters.chars().filter_map(|c| kw.name(c)));
    out.join(" ")
}

impl Selected {
    /// Opens a mailbox. `read_only` (EXAMINE) changes nothing on disk but the UID index.
    pub fn open(
        maildir: &Maildir,
        folder: Option<FolderName>,
        read_only: bool,
    ) -> Result<Selected> {
        let dir = maildir.folder_path(folder.as_ref());
        // Watch first: a change made while the folder is read is then seen by `refresh`.
        let watch = FolderWatch::new(&dir);
        let list = UidList::sync(&dir)?;
        let keywords = Keywords::load(&dir)?;
        let mut sel = Selected {
            keywords,
            folder,
            dir,
            read_only,
            uidvalidity: list.uidvalidity,
            next_uid: list.next_uid,
            highest_modseq: list.highest_modseq,
            condstore: false,
            msgs: Vec::with_capacity(list.entries.len()),
            watch,
            ghosts: false,
            dirty: false,
        };
        for e in list.entries {
            let m = sel.adopt(e);
            sel.msgs.push(m);
        }
        Ok(sel)
    }

    /// A message first seen: moved new/ → cur/ in read-write mode, `\Recent` if it was new.
    fn adopt(&mut self, mut entry: UidEntry) -> Msg {
        let recent = entry.in_new;
        if entry.in_new && !self.read_only {
            if let Ok(name) = store::mark_seen_moved(&self.dir, &entry) {
                self.watch.expect_rename(&entry, &name);
                entry.file_name = name;
                entry.in_new = false;
            }
        }
        Msg { entry, recent }
    }

    /// Gives message `i` exactly `flags` (Maildir letters) on disk and in the view.
    pub fn set_flags(&mut self, i: usize, flags: &str) -> Result<()> {
        let e = &mut self.msgs[i].entry;
        let name = store::set_flags(&self.dir, e, flags)?;
        self.watch.expect_rename(e, &name);
        e.flags = crate::maildir::name::flags(&name).to_string();
        e.file_name = name;
        e.in_new = false;
        Ok(())
    }

    /// Deletes message `i` from disk (already gone is fine); the view keeps it.
    pub fn delete_file(&mut self, i: usize) -> Result<()> {
        let e = &self.msgs[i].entry;
        if store::delete(&self.dir, e)? {
            self.watch.expect_removal(e);
        }
        Ok(())
    }

    /// Turns CONDSTORE on (RFC 7162 3.1: ENABLE, SELECT (CONDSTORE), or a first command
    /// using modseqs): from now on the view is refreshed from the index, so modseqs are exact.
    pub fn enable_condstore(&mut self) {
        if !self.condstore {
            self.condstore = true;
            self.dirty = true;
        }
    }

    /// After this session changed messages `changed` (indices): records the changes in the
    /// index and takes their new modseqs into the view. Other sessions' changes stay for
    /// `refresh` to report. CONDSTORE only (it costs a folder scan).
    pub fn take_modseqs(&mut self, changed: &[usize]) -> Result<()> {
        let list = UidList::sync(&self.dir)?;
        for &i in changed {
            let m = &mut self.msgs[i];
            if let Some(e) = list.get(m.uid()) {
                if e.file_name == m.entry.file_name {
                    m.entry.modseq = e.modseq;
                }
            }
        }
        Ok(())
    }

    pub fn exists(&self) -> usize {
        self.msgs.len()
    }

    pub fn recent(&self) -> usize {
        self.msgs.iter().filter(|m| m.recent).count()
    }

    /// Re-reads the folder if it changed (see `FolderWatch`) or holds ghosts that may now be
    /// expunged; returns the untagged responses for what changed. Messages gone from disk are
    /// dropped (with `* n EXPUNGE`) only when `allow_expunge`.
    pub fn refresh(&mut self, allow_expunge: bool) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        match self.watch.changes() {
            Changes::None => {}
            Changes::Renamed(names) if !self.dirty && !self.condstore => {
                self.dirty = !self.apply_renames(&names, &mut out);
            }
            Changes::Renamed(_) | Changes::Unknown => self.dirty = true,
        }
        let ghosts_due = allow_expunge && self.ghosts;
        if !self.dirty && !ghosts_due {
            return Ok(out);
        }
        out.extend(self.resync(allow_expunge)?);
        self.dirty = false;
        Ok(out)
    }

    /// Takes other sessions' flag changes (files renamed in cur/, see `Changes::Renamed`)
    /// into the view without reading the folder; false if a name is not a message in the
    /// view (then the folder must be read).
    fn apply_renames(&mut self, names: &[String], out: &mut Vec<u8>) -> bool {
        let mut found = Vec::with_capacity(names.len());
        for name in names {
            let base = crate::maildir::uidlist::base_of(name);
            let Some(i) = self.msgs.iter().rposition(|m| m.entry.base == base) else {
                return false;
            };
            found.push((i, name));
        }
        found.sort_unstable(); // FETCH responses in sequence order
        for (i, name) in found {
            let mut letters: Vec<char> = crate::maildir::name::flags(name).chars().collect();
            letters.sort_unstable();
            letters.dedup();
            let flags: String = letters.into_iter().collect();
            let m = &mut self.msgs[i];
            m.entry.file_name.clone_from(name);
            m.entry.in_new = false;
            if flags != m.entry.flags {
                m.entry.flags = flags;
                let line = format!("{} FETCH (FLAGS ({}))", i + 1, m.flag_list(&self.keywords));
                out.extend(crate::imap::reply::untagged(&line));
            }
        }
        true
    }

    /// Reads the folder and merges it into the view (see `refresh`).
    fn resync(&mut self, allow_expunge: bool) -> Result<Vec<u8>> {
        let list = UidList::sync(&self.dir)?;
        self.next_uid = list.next_uid;
        self.highest_modseq = list.highest_modseq;
        let mut out = Vec::new();
        let keywords = Keywords::load(&self.dir)?;
        if keywords != self.keywords {
            self.keywords = keywords;
            super::keywords::announce(&self.keywords, self.read_only, &mut out);
        }
        // Both lists are in UID order: one merge pass, no map of the whole folder.
        let mut on_disk = list.entries.into_iter().peekable();
        let mut gone = Vec::new();
        for (i, m) in self.msgs.iter_mut().enumerate() {
            // A UID below ours that the view lacks was expunged here already: skip it.
            while on_disk.next_if(|e| e.uid < m.uid()).is_some() {}
            match on_disk.next_if(|e| e.uid == m.uid()) {
                None => gone.push(i),
                Some(e) => {
                    let changed =
                        e.flags != m.entry.flags || (self.condstore && e.modseq != m.entry.modseq);
                    m.entry = e;
                    if changed {
                        let flags = m.flag_list(&self.keywords);
                        let line = if self.condstore {
                            format!(
                                "{} FETCH (UID {} FLAGS ({flags}) MODSEQ ({}))",
                                i + 1,
                                m.uid(),
                                m.entry.modseq
                            )
                        } else {
                            format!("{} FETCH (FLAGS ({flags}))", i + 1)
                        };
                        out.extend(crate::imap::reply::untagged(&line));
                    }
                }
            }
        }
        self.ghosts = !allow_expunge && !gone.is_empty();
        if allow_expunge && !gone.is_empty() {
            // Highest first, so each sequence number is still right when the client applies it.
            for &i in gone.iter().rev() {
                out.extend(crate::imap::reply::untagged(&format!("{} EXPUNGE", i + 1)));
            }
            let mut i = 0;
            let mut doomed = gone.iter().peekable();
            self.msgs.retain(|_| {
                i += 1;
                doomed.next_if_eq(&&(i - 1)).is_none()
            });
        }
        // What is left has UIDs above every message in the view: new arrivals.
        let fresh: Vec<UidEntry> = on_disk.collect();
        if !fresh.is_empty() {
            for e in fresh {
                let m = self.adopt(e);
                self.msgs.push(m);
            }
            out.extend(crate::imap::reply::untagged(&format!(
                "{} EXISTS",
                self.exists()
            )));
            if !super::names::rev2() {
                out.extend(crate::imap::reply::untagged(&format!(
                    "{} RECENT",
                    self.recent()
                )));
            }
        }
        Ok(out)
    }

    /// Indices into `msgs` named by a sequence set (`uid`: by UID), ascending, no duplicates.
    /// Works on ranges, so `1:4294967295` costs no more than `1:*`.
    pub fn resolve(&self, set: &SequenceSet, uid: bool) -> Vec<usize> {
        let mut out = BTreeSet::new();
        let Some(last) = self.msgs.last() else {
            return Vec::new();
        };
        let largest = if uid {
            last.uid()
        } else {
            self.msgs.len() as u32
        };
        let value = |s: &SeqOrUid| match s {
            SeqOrUid::Value(v) => v.get(),
            SeqOrUid::Asterisk => largest,
        };
        for seq in set.0.as_ref() {
            let (a, b) = match seq {
                Sequence::Single(s) => (value(s), value(s)),
                Sequence::Range(a, b) => (value(a), value(b)),
            };
            let (lo, hi) = (a.min(b), a.max(b));
            if uid {
                let start = self.msgs.partition_point(|m| m.uid() < lo);
                let end = self.msgs.partition_point(|m| m.uid() <= hi);
                out.extend(start..end);
            } else {
                let hi = hi.min(largest) as usize;
                out.extend((lo as usize).saturating_sub(1)..hi);
            }
        }
        out.into_iter().collect()
    }

    /// Whether a sequence-number set names messages that do not exist (a BAD per RFC 3501).
    pub fn seq_out_of_range(&self, set: &SequenceSet) -> bool {
        let n = self.msgs.len() as u32;
        set.0.as_ref().iter().any(|seq| {
            let over = |s: &SeqOrUid| matches!(s, SeqOrUid::Value(v) if v.get() > n);
            match seq {
                Sequence::Single(s) => over(s),
                Sequence::Range(a, b) => over(a) && over(b),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::imap_types::sequence::SequenceSet;

    fn set(s: &str) -> SequenceSet {
        SequenceSet::try_from(s).unwrap()
    }

    fn text(b: Vec<u8>) -> String {
        String::from_utf8(b).unwrap()
    }

    fn maildir_with(n: usize) -> (tempfile::TempDir, Maildir) {
        let t = tempfile::tempdir().unwrap();
        let md = Maildir::create(t.path().join("m")).unwrap();
        for i in 0..n {
            md.deliver(
                None,
                format!("Subject: {i}\n\nx\n").as_bytes(),
                &Default::default(),
            )
            .unwrap();
        }
        (t, md)
    }

    #[test]
    fn select_moves_new_to_cur_and_marks_recent() {
        let (_t, md) = maildir_with(3);
        let sel = Selected::open(&md, None, false).unwrap();
        assert_eq!((sel.exists(), sel.recent()), (3, 3));
        assert!(md.list(None).unwrap().iter().all(|e| !e.is_new));
        let again = Selected::open(&md, None, false).unwrap();
        assert_eq!(again.recent(), 0, "only the first session sees \\Recent");
    }

    #[test]
    fn examine_changes_nothing() {
        let (_t, md) = maildir_with(2);
        let sel = Selected::open(&md, None, true).unwrap();
        assert_eq!(sel.recent(), 2);
        assert!(md.list(None).unwrap().iter().all(|e| e.is_new));
    }

    #[test]
    fn resolves_sequence_and_uid_ranges() {
        let (_t, md) = maildir_with(4);
        let sel = Selected::open(&md, None, false).unwrap();
        assert_eq!(sel.resolve(&set("2:*"), false), [1, 2, 3]);
        assert_eq!(sel.resolve(&set("*:3"), false), [2, 3]);
        assert_eq!(sel.resolve(&set("1,3,9"), false), [0, 2]);
        assert_eq!(sel.resolve(&set("3:4294967295"), true), [2, 3]);
        assert_eq!(sel.resolve(&set("*"), true), [3]);
        assert_eq!(sel.resolve(&set("5:9"), true), Vec::<usize>::new());
        assert!(sel.seq_out_of_range(&set("5")));
        assert!(!sel.seq_out_of_range(&set("1:*")));
    }

    #[test]
    fn refresh_reports_other_sessions_changes() {
        others_changes_are_seen(false);
    }

    #[test]
    fn refresh_without_inotify_reports_other_sessions_changes() {
        others_changes_are_seen(true);
    }

    #[test]
    fn quiet_folder_is_not_reread() {
        let (_t, md) = maildir_with(2);
        let mut a = Selected::open(&md, None, false).unwrap();
        assert_eq!(text(a.refresh(true).unwrap()), "");
        // A change the watch cannot see (the index rewritten in place) is not picked up...
        let index = a.dir.join(crate::maildir::uidlist::FILE);
        std::fs::write(&index, "garbage").unwrap();
        assert_eq!(text(a.refresh(true).unwrap()), "");
        // ...until something in new/ or cur/ changes.
        md.deliver(None, b"Subject: new\n\nx\n", &Default::default())
            .unwrap();
        assert!(text(a.refresh(true).unwrap()).contains("EXISTS"));
    }

    #[test]
    fn several_expunges_keep_the_rest_in_order() {
        let (_t, md) = maildir_with(5);
        let mut a = Selected::open(&md, None, false).unwrap();
        for i in [1, 3] {
            store::delete(&a.dir, &a.msgs[i].entry).unwrap();
        }
        md.deliver(None, b"Subject: new\n\nx\n", &Default::default())
            .unwrap();
        let news = text(a.refresh(true).unwrap());
        assert_eq!(
            news,
            "* 4 EXPUNGE\r\n* 2 EXPUNGE\r\n* 4 EXISTS\r\n* 4 RECENT\r\n"
        );
        let uids: Vec<u32> = a.msgs.iter().map(Msg::uid).collect();
        assert_eq!(uids, [1, 3, 5, 6]);
    }

    #[test]
    fn others_flag_changes_are_taken_without_rereading() {
        let (_t, md) = maildir_with(3);
        let mut a = Selected::open(&md, None, false).unwrap();
        let mut b = Selected::open(&md, None, false).unwrap();
        b.set_flags(0, "F").unwrap();
        // link + unlink, as the rename fallback does: appear first, then vanish.
        let old = a.dir.join("cur").join(&a.msgs[2].entry.file_name);
        let new_name = format!("{}:2,S", a.msgs[2].entry.base);
        std::fs::hard_link(&old, a.dir.join("cur").join(&new_name)).unwrap();
        std::fs::remove_file(&old).unwrap();
        // Proof that the folder is not re-read: a broken index would give new UIDs.
        let index = a.dir.join(crate::maildir::uidlist::FILE);
        std::fs::write(&index, "garbage").unwrap();
        let news = text(a.refresh(true).unwrap());
        assert_eq!(
            news,
            "* 1 FETCH (FLAGS (\\Flagged \\Recent))\r\n* 3 FETCH (FLAGS (\\Seen \\Recent))\r\n"
        );
        assert_eq!(a.msgs[2].entry.file_name, new_name);
        assert!(store::open(&a.dir, &a.msgs[0].entry).unwrap().is_some());
        // An expunge is not a rename: the folder is read (and the broken index rebuilt).
        b.delete_file(1).unwrap();
        assert!(text(a.refresh(true).unwrap()).contains("EXPUNGE"));
    }

    fn others_changes_are_seen(stamps: bool) {
        let (_t, md) = maildir_with(3);
        let mut a = Selected::open(&md, None, false).unwrap();
        if stamps {
            a.watch = FolderWatch::by_stamps(&a.dir);
        }
        let b = Selected::open(&md, None, false).unwrap();
        store::set_flags(&b.dir, &b.msgs[0].entry, "F").unwrap();
        store::delete(&b.dir, &b.msgs[1].entry).unwrap();
        md.deliver(None, b"Subject: new\n\nx\n", &Default::default())
            .unwrap();
        // Not allowed to expunge: the gone message stays as a ghost.
        let news = text(a.refresh(false).unwrap());
        assert_eq!(
            news,
            "* 1 FETCH (FLAGS (\\Flagged \\Recent))\r\n* 4 EXISTS\r\n* 4 RECENT\r\n"
        );
        assert_eq!(a.exists(), 4);
        let news = text(a.refresh(true).unwrap());
        assert_eq!(news, "* 2 EXPUNGE\r\n");
        assert_eq!(a.exists(), 3);
        assert_eq!(text(a.refresh(true).unwrap()), "");
    }
}
