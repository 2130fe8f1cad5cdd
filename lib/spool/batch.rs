//! Batched stage moves: rewrite the message and/or envelope of several committed messages and
//! move them all to the next stage, paying for a handful of journal commits per batch instead
//! of several per message (spam-scan's hot path).
//!
//! Protocol for a batch moving `from` → `to` (every step only for the items still healthy):
//! 1. write `message.new` and/or `envelope.new` (whichever the item replaces) in the entry
//!    directory and start their write-back at once (`sync_file_range`), so the disk sees the
//!    whole batch together (one journal commit, where there is a journal);
//! 2. fsync every new file (each is fsynced; after the first, most find nothing left to do);
//! 3. rename `message.new` over `message`, then fsync the entry directories: the new message
//!    is durable before an envelope that describes it can be;
//! 4. rename `envelope.new` over `envelope`, fsync the entry directories again: the moved
//!    entry never carries an older envelope than the one we wrote;
//!    (steps 3 and 4 are skipped when no item replaces that file)
//! 5. rename each entry directory into `to`, fsync `to` (the move is durable), then `from`
//!    (so the entry cannot reappear there; cheap once `to`'s fsync committed the rename).
//!
//! Crash safety: before step 5's fsync the message is still in `from`, with the old or the
//! new files (each rename is atomic); the stage re-does its work, which must be idempotent
//! (spam-scan recognises its own header). After it, the message is in `to` with both new
//! files. Nothing is ever lost; a crash may repeat a stage's work.
//! Errors: per item (`NotFound` when the entry vanished, e.g. another runner moved it);
//! a failed item keeps its old files and stays in `from`.

use super::{fsync_dir, io_err, Envelope, Error, Result, Spool, Stage, ENVELOPE, MESSAGE};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// One message to rewrite and move.
#[derive(Debug, Clone)]
pub struct Advance {
    pub id: String,
    /// New message bytes, or `None` to keep the message file as it is.
    pub message: Option<Vec<u8>>,
    /// A new envelope, or `None` to keep the envelope file as it is.
    pub envelope: Option<Envelope>,
}

/// The state of one item while the batch runs.
struct Item<'a> {
    adv: &'a Advance,
    dir: PathBuf,
    files: Vec<File>,
    result: Result<()>,
}

impl Spool {
    /// Rewrites and moves a batch of messages from `from` to `to` (see the module header).
    /// Returns one result per item, in order.
    pub fn advance(&self, from: Stage, to: Stage, batch: &[Advance]) -> Vec<Result<()>> {
        let mut items: Vec<Item> = batch
            .iter()
            .map(|adv| {
                let (dir, result) = match self.entry(from, &adv.id) {
                    Ok(d) if d.is_dir() => (d, Ok(())),
                    Ok(d) => (d, Err(not_found(from, &adv.id))),
                    Err(e) => (PathBuf::new(), Err(e)),
                };
                Item {
                    adv,
                    dir,
                    files: Vec::new(),
                    result,
                }
            })
            .collect();
        for it in items.iter_mut() {
            step(it, write_new);
        }
        for it in items.iter_mut() {
            step(it, sync_files);
        }
        for it in items.iter_mut() {
            step(it, |it| match it.adv.message.is_some() {
                true => rename_in(&it.dir, MESSAGE),
                false => Ok(()),
            });
        }
        if batch.iter().any(|a| a.message.is_some()) {
            sync_dirs(&mut items);
        }
        if batch.iter().any(|a| a.envelope.is_some()) {
            for it in items.iter_mut() {
                step(it, |it| match it.adv.envelope.is_some() {
                    true => rename_in(&it.dir, ENVELOPE),
                    false => Ok(()),
                });
            }
            sync_dirs(&mut items);
        }
        for it in items.iter_mut() {
            let dst = self.stage_dir(to).join(&it.adv.id);
            step(it, |it| {
                fs::rename(&it.dir, &dst).map_err(|e| match e.kind() {
                    io::ErrorKind::NotFound => not_found(from, &it.adv.id),
                    _ => io_err(&dst)(e),
                })
            });
        }
        if items.iter().any(|it| it.result.is_ok()) {
            if let Err(e) = fsync_dir(&self.stage_dir(to)) {
                // Not known to be durable: say so for every moved item (a retry finds
                // them in `to` and does nothing, or in `from` and repeats the work).
                for it in items.iter_mut().filter(|it| it.result.is_ok()) {
                    it.result = Err(copy_err(&e));
                }
            }
            // Best effort: a stale name in `from` after a crash is repeated work, not loss.
            let _ = fsync_dir(&self.stage_dir(from));
        }
        items.into_iter().map(|it| it.result).collect()
    }
}

/// Runs one step for an item that has not failed yet; on failure, drops its `.new` files.
fn step(it: &mut Item, f: impl FnOnce(&mut Item) -> Result<()>) {
    if it.result.is_ok() {
        if let Err(e) = f(it) {
            for name in [MESSAGE, ENVELOPE] {
                let _ = fs::remove_file(it.dir.join(format!("{name}.new")));
            }
            it.files.clear();
            it.result = Err(e);
        }
    }
}

/// Step 1: writes the new files and starts their write-back.
fn write_new(it: &mut Item) -> Result<()> {
    if let Some(msg) = &it.adv.message {
        let f = create_started(&it.dir.join(format!("{MESSAGE}.new")), msg)?;
        it.files.push(f);
    }
    if let Some(env) = &it.adv.envelope {
        let path = it.dir.join(format!("{ENVELOPE}.new"));
        it.files
            .push(create_started(&path, env.to_toml().as_bytes())?);
    }
    Ok(())
}

/// Step 2: fsyncs the new files (they must be on disk before any rename exposes them).
fn sync_files(it: &mut Item) -> Result<()> {
    for f in it.files.drain(..) {
        f.sync_all().map_err(io_err(&it.dir))?;
    }
    Ok(())
}

/// Steps 3 and 4: fsyncs the entry directories of the healthy items, so the renames done in
/// them are durable before the next step.
fn sync_dirs(items: &mut [Item]) {
    for it in items.iter_mut() {
        step(it, |it| fsync_dir(&it.dir));
    }
}

fn rename_in(dir: &Path, name: &str) -> Result<()> {
    let dst = dir.join(name);
    fs::rename(dir.join(format!("{name}.new")), &dst).map_err(io_err(&dst))
}

/// Creates (or truncates a stale) `path`, writes `data` and asks the kernel to start
/// writing it out now; the caller fsyncs it later.
fn create_started(path: &Path, data: &[u8]) -> Result<File> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    f.write_all(data).map_err(io_err(path))?;
    // SAFETY: a valid open descriptor; sync_file_range only starts write-back (a hint: its
    // result does not matter, the fsync later is what we rely on).
    unsafe {
        libc::sync_file_range(f.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
    Ok(f)
}

fn not_found(stage: Stage, id: &str) -> Error {
    Error::NotFound {
        stage: stage.name(),
        id: id.to_string(),
    }
}

/// Errors are not `Clone` (io::Error); an equivalent one for each affected item.
fn copy_err(e: &Error) -> Error {
    match e {
        Error::Io { path, source } => Error::Io {
            path: path.clone(),
            source: io::Error::new(source.kind(), source.to_string()),
        },
        Error::BadId(s) => Error::BadId(s.clone()),
        Error::Corrupt { path, message } => Error::Corrupt {
            path: path.clone(),
            message: message.clone(),
        },
        Error::NotFound { stage, id } => Error::NotFound {
            stage,
            id: id.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::Recipient;

    fn env(to: &str) -> Envelope {
        Envelope {
            sender: "a@example.test".into(),
            recipients: vec![Recipient::new(to)],
            ..Envelope::default()
        }
    }

    fn spool() -> (tempfile::TempDir, Spool) {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        (dir, spool)
    }

    #[test]
    fn moves_a_batch_rewriting_what_is_asked() {
        let (_d, spool) = spool();
        let a = spool
            .enqueue(Stage::Incoming, &env("a@x.test"), b"A\r\n")
            .unwrap();
        let b = spool
            .enqueue(Stage::Incoming, &env("b@x.test"), b"B\r\n")
            .unwrap();
        let mut ea = spool.read_envelope(Stage::Incoming, &a).unwrap();
        ea.scanned = true;
        let eb = spool.read_envelope(Stage::Incoming, &b).unwrap();
        let batch = vec![
            Advance {
                id: a.clone(),
                message: Some(b"H: 1\r\nA\r\n".to_vec()),
                envelope: Some(ea.clone()),
            },
            Advance {
                id: "0000000000000000".into(),
                message: None,
                envelope: None,
            },
            Advance {
                id: b.clone(),
                message: Some(b"B2\r\n".to_vec()),
                envelope: None,
            },
        ];
        let r = spool.advance(Stage::Incoming, Stage::Queue, &batch);
        assert!(r[0].is_ok() && r[2].is_ok(), "{r:?}");
        assert!(matches!(r[1], Err(Error::NotFound { .. })), "{r:?}");
        assert!(spool.list(Stage::Incoming).unwrap().is_empty());
        assert_eq!(
            spool.read_message(Stage::Queue, &a).unwrap(),
            b"H: 1\r\nA\r\n"
        );
        assert_eq!(spool.read_message(Stage::Queue, &b).unwrap(), b"B2\r\n");
        assert_eq!(spool.read_envelope(Stage::Queue, &b).unwrap(), eb);
        assert_eq!(spool.read_envelope(Stage::Queue, &a).unwrap(), ea);
        let names: Vec<_> = fs::read_dir(spool.stage_dir(Stage::Queue).join(&a))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "no .new files left: {names:?}");
    }

    #[test]
    fn rerun_after_a_crash_mid_batch_loses_nothing() {
        let (_d, spool) = spool();
        let id = spool
            .enqueue(Stage::Incoming, &env("a@x.test"), b"old\r\n")
            .unwrap();
        let dir = spool.stage_dir(Stage::Incoming).join(&id);
        // As if killed between steps 3 and 4: message replaced, envelope.new half written.
        fs::write(dir.join("message"), b"new\r\n").unwrap();
        fs::write(dir.join("envelope.new"), b"sender = \"tor").unwrap();
        assert_eq!(spool.list(Stage::Incoming).unwrap(), vec![id.clone()]);
        let mut e = spool.read_envelope(Stage::Incoming, &id).unwrap();
        assert!(!e.scanned, "the old envelope is still the committed one");
        e.scanned = true;
        let batch = [Advance {
            id: id.clone(),
            message: None,
            envelope: Some(e.clone()),
        }];
        let r = spool.advance(Stage::Incoming, Stage::Queue, &batch);
        assert!(r[0].is_ok(), "{r:?}");
        assert_eq!(spool.read_envelope(Stage::Queue, &id).unwrap(), e);
        assert_eq!(spool.read_message(Stage::Queue, &id).unwrap(), b"new\r\n");
        // A second run (crash after the move, before the caller noticed) finds nothing to do.
        let r = spool.advance(Stage::Incoming, Stage::Queue, &batch);
        assert!(matches!(r[0], Err(Error::NotFound { .. })));
        assert_eq!(spool.read_envelope(Stage::Queue, &id).unwrap(), e);
    }
}
