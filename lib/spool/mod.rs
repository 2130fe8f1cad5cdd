//! Spool: the only code that creates, renames or deletes files under `spool_dir`.
//!
//! Layout: `tmp/ incoming/ queue/ quarantine/ bounce/ hold/`. Each message is one directory
//! `<stage>/<ID>/` holding `message` (the RFC 5322 bytes) and `envelope` (TOML).
//!
//! Commit protocol: a draft is built in `tmp/<ID>/`; the message and envelope are written
//! and fsynced, the draft directory and `tmp/` are fsynced, then the directory is renamed into
//! its stage and the stage directory fsynced. The rename is the commit point: a stage only
//! ever holds complete message directories, each with its envelope. A stage moves a message by
//! renaming its directory (atomic, both files at once). Envelope updates write
//! `envelope.new`, fsync, and rename it over `envelope`.
//!
//! Does not parse messages or talk to the network.
//! Errors: `spool::Error`; all are temporary except `BadId` and `Corrupt`.

mod batch;
mod envelope;
pub mod id;

pub use batch::Advance;
pub use envelope::{Envelope, RcptState, Recipient};

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("spool I/O on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("bad queue id {0:?}")]
    BadId(String),
    #[error("corrupt envelope {path}: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("no message {id} in {stage}")]
    NotFound { stage: &'static str, id: String },
}

impl Error {
    pub fn is_temporary(&self) -> bool {
        matches!(self, Error::Io { .. })
    }
}

pub type Result<T> = std::result::Result<T, Error>;

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A stage directory a committed message can sit in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Accepted by smtpd, waiting for spam-scan.
    Incoming,
    /// Scanned, waiting for (or between) delivery attempts by queue-runner.
    Queue,
    /// Held back by spam-scan (virus, reject score); never delivered unless released.
    Quarantine,
    /// Has permanently failed recipients waiting for a bounce to be written.
    Bounce,
    /// Put on hold by the admin.
    Hold,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::Incoming,
        Stage::Queue,
        Stage::Quarantine,
        Stage::Bounce,
        Stage::Hold,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Incoming => "incoming",
            Stage::Queue => "queue",
            Stage::Quarantine => "quarantine",
            Stage::Bounce => "bounce",
            Stage::Hold => "hold",
        }
    }
}

const MESSAGE: &str = "message";
const ENVELOPE: &str = "envelope";

/// A handle on one spool directory.
#[derive(Debug, Clone)]
pub struct Spool {
    root: PathBuf,
}

impl Spool {
    /// Opens the spool, creating its directories when missing.
    pub fn open(root: &Path) -> Result<Spool> {
        let spool = Spool {
            root: root.to_path_buf(),
        };
        for dir in std::iter::once("tmp").chain(Stage::ALL.iter().map(|s| s.name())) {
            let p = root.join(dir);
            fs::create_dir_all(&p).map_err(io_err(&p))?;
        }
        Ok(spool)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of a stage, for inotify watches.
    pub fn stage_dir(&self, stage: Stage) -> PathBuf {
        self.root.join(stage.name())
    }

    fn entry(&self, stage: Stage, id: &str) -> Result<PathBuf> {
        if !id::is_valid(id) {
            return Err(Error::BadId(id.to_string()));
        }
        Ok(self.stage_dir(stage).join(id))
    }

    /// Starts a new message in `tmp/`. Write the message into the draft, then `commit`.
    pub fn draft(&self) -> Result<Draft> {
        let tmp = self.root.join("tmp");
        loop {
            let id = id::mint();
            let dir = tmp.join(&id);
            match fs::create_dir(&dir) {
                Ok(()) => {
                    let path = dir.join(MESSAGE);
                    let file = create_new(&path)?;
                    return Ok(Draft {
                        spool: self.clone(),
                        id,
                        dir,
                        out: BufWriter::with_capacity(64 * 1024, file),
                        committed: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_err(&dir)(e)),
            }
        }
    }

    /// Commits a whole message in one call; returns its queue id.
    pub fn enqueue(&self, stage: Stage, env: &Envelope, message: &[u8]) -> Result<String> {
        let mut d = self.draft()?;
        d.write_all(message).map_err(io_err(&d.dir))?;
        d.commit(stage, env)
    }

    /// Ids in a stage, oldest first (ids sort by arrival time).
    pub fn list(&self, stage: Stage) -> Result<Vec<String>> {
        let dir = self.stage_dir(stage);
        let mut ids: Vec<String> = fs::read_dir(&dir)
            .map_err(io_err(&dir))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| id::is_valid(n))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Reads the envelope of a committed message.
    pub fn read_envelope(&self, stage: Stage, id: &str) -> Result<Envelope> {
        let path = self.entry(stage, id)?.join(ENVELOPE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::NotFound {
                    stage: stage.name(),
                    id: id.to_string(),
                })
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        Envelope::from_toml(&text).map_err(|message| Error::Corrupt { path, message })
    }

    /// Replaces the envelope atomically (write new, fsync, rename over).
    pub fn write_envelope(&self, stage: Stage, id: &str, env: &Envelope) -> Result<()> {
        let dir = self.entry(stage, id)?;
        replace_file(&dir, ENVELOPE, env.to_toml().as_bytes())
    }

    /// Opens the message bytes for reading.
    pub fn open_message(&self, stage: Stage, id: &str) -> Result<File> {
        let path = self.entry(stage, id)?.join(MESSAGE);
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::NotFound {
                stage: stage.name(),
                id: id.to_string(),
            },
            _ => io_err(&path)(e),
        })
    }

    /// Reads the whole message into memory.
    pub fn read_message(&self, stage: Stage, id: &str) -> Result<Vec<u8>> {
        let mut f = self.open_message(stage, id)?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)
            .map_err(io_err(&self.stage_dir(stage)))?;
        Ok(buf)
    }

    /// Path of the message file, for handing to a child on stdin.
    pub fn message_path(&self, stage: Stage, id: &str) -> Result<PathBuf> {
        Ok(self.entry(stage, id)?.join(MESSAGE))
    }

    /// Replaces the message bytes atomically (e.g. spam-scan adding headers).
    pub fn replace_message(&self, stage: Stage, id: &str, message: &[u8]) -> Result<()> {
        let dir = self.entry(stage, id)?;
        replace_file(&dir, MESSAGE, message)
    }

    /// Moves a committed message to another stage with one rename.
    pub fn move_to(&self, id: &str, from: Stage, to: Stage) -> Result<()> {
        let src = self.entry(from, id)?;
        let dst = self.entry(to, id)?;
        fs::rename(&src, &dst).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::NotFound {
                stage: from.name(),
                id: id.to_string(),
            },
            _ => io_err(&src)(e),
        })?;
        fsync_dir(&self.stage_dir(to))?;
        fsync_dir(&self.stage_dir(from))
    }

    /// Removes a message: renamed out of its stage first (atomic: readers never see half a
    /// message), then deleted from tmp/. No fsync: callers remove only what is finished
    /// (delivered durably, or discarded on purpose), so if a crash undoes the removal the
    /// message comes back and is delivered again: a duplicate, never a loss. On journalled
    /// file systems (ext4, xfs) the rename and the unlinks commit in order, so no half-removed
    /// entry can reappear either.
    pub fn remove(&self, stage: Stage, id: &str) -> Result<()> {
        let src = self.entry(stage, id)?;
        let doomed = self.root.join("tmp").join(format!("{id}.del"));
        fs::rename(&src, &doomed).map_err(io_err(&src))?;
        fs::remove_dir_all(&doomed).map_err(io_err(&doomed))
    }

    /// Deletes drafts in `tmp/` older than `age`: left by a crash before commit, never
    /// acknowledged with 250, so safe to discard.
    pub fn clean_tmp(&self, age: Duration) -> Result<usize> {
        let tmp = self.root.join("tmp");
        let now = SystemTime::now();
        let mut n = 0;
        for e in fs::read_dir(&tmp).map_err(io_err(&tmp))?.flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .map(|t| now.duration_since(t).unwrap_or_default() > age)
                .unwrap_or(false);
            if old && fs::remove_dir_all(e.path()).is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }
}

/// A message being written in `tmp/`; dropped without `commit`, it is deleted.
pub struct Draft {
    spool: Spool,
    id: String,
    dir: PathBuf,
    out: BufWriter<File>,
    committed: bool,
}

impl Draft {
    /// The id the message will have once committed.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Fsyncs message and envelope, then renames the draft into `stage`. Only after this
    /// returns Ok may smtpd say 250.
    pub fn commit(mut self, stage: Stage, env: &Envelope) -> Result<String> {
        let mut env = env.clone();
        env.id = self.id.clone();
        let msg = self.dir.join(MESSAGE);
        self.out.flush().map_err(io_err(&msg))?;
        self.out.get_ref().sync_all().map_err(io_err(&msg))?;
        write_synced(&self.dir.join(ENVELOPE), env.to_toml().as_bytes())?;
        fsync_dir(&self.dir)?;
        let dst = self.spool.stage_dir(stage).join(&self.id);
        fs::rename(&self.dir, &dst).map_err(io_err(&dst))?;
        fsync_dir(&self.spool.stage_dir(stage))?;
        self.committed = true;
        Ok(self.id.clone())
    }
}

impl Write for Draft {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl Drop for Draft {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn create_new(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))
}

fn write_synced(path: &Path, data: &[u8]) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    f.write_all(data).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

fn replace_file(dir: &Path, name: &str, data: &[u8]) -> Result<()> {
    let tmp = dir.join(format!("{name}.new"));
    let dst = dir.join(name);
    if !dir.is_dir() {
        return Err(io_err(dir)(io::Error::from(io::ErrorKind::NotFound)));
    }
    write_synced(&tmp, data)?;
    fs::rename(&tmp, &dst).map_err(io_err(&dst))?;
    fsync_dir(dir)
}

/// Fsyncs a directory so a rename or create in it survives power loss.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(to: &str) -> Envelope {
        Envelope {
            sender: "a@example.test".into(),
            recipients: vec![Recipient::new(to)],
            ..Envelope::default()
        }
    }

    #[test]
    fn commit_move_update_remove() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let id = spool
            .enqueue(
                Stage::Incoming,
                &env("b@example.test"),
                b"Subject: x\r\n\r\nhi\r\n",
            )
            .unwrap();
        assert_eq!(spool.list(Stage::Incoming).unwrap(), vec![id.clone()]);
        assert_eq!(spool.read_envelope(Stage::Incoming, &id).unwrap().id, id);
        spool.move_to(&id, Stage::Incoming, Stage::Queue).unwrap();
        assert!(spool.list(Stage::Incoming).unwrap().is_empty());
        let mut e = spool.read_envelope(Stage::Queue, &id).unwrap();
        e.recipients[0].state = RcptState::Delivered;
        spool.write_envelope(Stage::Queue, &id, &e).unwrap();
        assert!(spool.read_envelope(Stage::Queue, &id).unwrap().is_done());
        assert_eq!(
            spool.read_message(Stage::Queue, &id).unwrap(),
            b"Subject: x\r\n\r\nhi\r\n"
        );
        spool.remove(Stage::Queue, &id).unwrap();
        assert!(spool.list(Stage::Queue).unwrap().is_empty());
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn dropped_draft_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let mut d = spool.draft().unwrap();
        d.write_all(b"partial").unwrap();
        drop(d);
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        assert!(spool.list(Stage::Incoming).unwrap().is_empty());
    }

    #[test]
    fn bad_ids_never_become_paths() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        assert!(matches!(
            spool.read_envelope(Stage::Queue, "../../etc"),
            Err(Error::BadId(_))
        ));
    }
}
