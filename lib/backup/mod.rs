//! Backup: a consistent gzip'd tar of mailboxes, config, users, aliases and spool, taken
//! while the server runs (see `scan` for why no message is missed or doubled), with a
//! `MANIFEST` as its last member (`manifest`): SHA-256 and size of every stored file, and
//! for an incremental backup (`since`) the messages an earlier backup already holds.
//! `restore` puts messages back without duplicating any already present.
//!
//! Archive layout: `config/{mail.toml,users,users.app,aliases}`, `mail/<domain>/<user>/…`
//! (the tree under `mail_root`), `spool/<stage>/<ID>/{message,envelope}`, `MANIFEST`.
//! Reads the server's files, never changes them; `restore` writes only what is missing.
//! Errors: `backup::Error`; I/O is temporary, a damaged or foreign archive is permanent.

pub mod manifest;
pub mod restore;
pub mod scan;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use indicatif::ProgressBar;
use sha2::{Digest, Sha256};

use crate::config::Config;
use manifest::{Manifest, Stored};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    /// Not a backup of ours, or damaged.
    #[error("{path}: {message}")]
    Format { path: String, message: String },
}

impl Error {
    pub fn is_temporary(&self) -> bool {
        matches!(self, Error::Io { .. })
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

fn format_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Format {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// What a backup run did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    pub files: usize,
    pub messages: usize,
    /// Messages left out because the previous backup holds them.
    pub unchanged: usize,
    pub bytes: u64,
}

/// Writes a backup of everything `cfg` names to `to` (via `to.tmp`, renamed when complete).
/// With `since`, messages that backup (or its chain) holds are listed but not stored.
pub fn create(
    cfg: &Config,
    to: &Path,
    since: Option<&Path>,
    bar: &ProgressBar,
) -> Result<Summary, Error> {
    let known = match since {
        Some(p) => read_manifest(p)?.message_keys(),
        None => Default::default(),
    };
    let items = scan::list(cfg).map_err(io_err(&cfg.mail_root))?;
    bar.set_length(items.len() as u64);
    let tmp = crate::users::file::sibling(to, ".tmp");
    let written = write(&tmp, items, known, since, bar);
    let sum = match written {
        Ok(sum) => sum,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, to).map_err(io_err(to))?;
    let dir = to
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    bar.finish_and_clear();
    Ok(sum)
}

/// Writes the archive to `tmp`: every item not in `known`, then the manifest; fsynced.
fn write(
    tmp: &Path,
    items: Vec<scan::Item>,
    known: std::collections::BTreeSet<String>,
    since: Option<&Path>,
    bar: &ProgressBar,
) -> Result<Summary, Error> {
    let file = File::create(tmp).map_err(io_err(tmp))?;
    let gz = flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let mut m = Manifest {
        created: now(),
        since: since.map(|p| p.display().to_string()),
        ..Manifest::default()
    };
    let mut sum = Summary::default();
    for item in items {
        bar.inc(1);
        if item.message {
            if let Some(key) = manifest::message_key(&item.name).filter(|k| known.contains(k)) {
                m.known.insert(key);
                sum.unchanged += 1;
                continue;
            }
        }
        let Some((name, stored)) = append(&mut tar, &item).map_err(io_err(&item.source))? else {
            continue; // gone: expunged, or a spool message that moved on
        };
        sum.files += 1;
        sum.messages += usize::from(stored.message);
        sum.bytes += stored.size;
        m.stored.insert(name, stored);
    }
    let text = m.render();
    let mut h = header(text.len() as u64, 0o600, m.created);
    tar.append_data(&mut h, manifest::NAME, text.as_bytes())
        .map_err(io_err(tmp))?;
    let gz = tar.into_inner().map_err(io_err(tmp))?;
    let buf = gz.finish().map_err(io_err(tmp))?;
    let file = buf.into_inner().map_err(|e| io_err(tmp)(e.into_error()))?;
    file.sync_all().map_err(io_err(tmp))?;
    Ok(sum)
}

/// Appends one file, hashing it on the way; `None` when it vanished before it was read
/// (a message is first looked for under its new name).
fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    item: &scan::Item,
) -> io::Result<Option<(String, Stored)>> {
    let mut name = item.name.clone();
    let file = match File::open(&item.source) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound && item.message => {
            let Some(mailbox) = item.source.parent().and_then(Path::parent) else {
                return Ok(None);
            };
            let fname = item.name.rsplit('/').next().unwrap_or_default();
            let Some((rel, path)) = scan::locate(mailbox, fname) else {
                return Ok(None);
            };
            let prefix = item.name.rsplitn(3, '/').nth(2).unwrap_or_default();
            name = format!("{prefix}/{rel}");
            match File::open(path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let mut h = header(meta.len(), 0o600, mtime);
    let mut hashing = Hashing {
        inner: file.take(meta.len()),
        hash: Sha256::new(),
        size: 0,
    };
    tar.append_data(&mut h, &name, &mut hashing)?;
    let stored = Stored {
        sha256: hex(&hashing.hash.finalize()),
        size: hashing.size,
        message: item.message,
    };
    Ok(Some((name, stored)))
}

fn header(size: u64, mode: u32, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(mtime);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

/// A reader that hashes and counts what passes through.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
    size: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Opens a backup for reading its members in order.
pub fn open(
    path: &Path,
) -> Result<tar::Archive<flate2::read::GzDecoder<io::BufReader<File>>>, Error> {
    let f = File::open(path).map_err(io_err(path))?;
    Ok(tar::Archive::new(flate2::read::GzDecoder::new(
        io::BufReader::new(f),
    )))
}

/// Reads the manifest (the last member) of a backup.
pub fn read_manifest(path: &Path) -> Result<Manifest, Error> {
    check(path, &ProgressBar::hidden())
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub files: usize,
    pub messages: usize,
    pub bytes: u64,
}

/// Reads the whole archive, hashing every member, and compares with the manifest: every
/// listed file present with its size and SHA-256, nothing unlisted.
pub fn verify(path: &Path, bar: &ProgressBar) -> Result<Verified, Error> {
    let m = check(path, bar)?;
    Ok(Verified {
        files: m.stored.len(),
        messages: m.stored.values().filter(|s| s.message).count(),
        bytes: m.stored.values().map(|s| s.size).sum(),
    })
}

fn check(path: &Path, bar: &ProgressBar) -> Result<Manifest, Error> {
    let mut archive = open(path)?;
    let mut seen: Vec<(String, String, u64)> = Vec::new();
    let mut manifest = None;
    for entry in archive.entries().map_err(io_err(path))? {
        let mut e = entry.map_err(io_err(path))?;
        let name = e
            .path()
            .map_err(io_err(path))?
            .to_string_lossy()
            .into_owned();
        if name == manifest::NAME {
            let mut text = String::new();
            e.read_to_string(&mut text).map_err(io_err(path))?;
            manifest = Some(Manifest::parse(&text).map_err(|m| format_err(path, m))?);
            continue;
        }
        let mut h = Hashing {
            inner: &mut e,
            hash: Sha256::new(),
            size: 0,
        };
        io::copy(&mut h, &mut io::sink()).map_err(io_err(path))?;
        seen.push((name, hex(&h.hash.finalize()), h.size));
        bar.inc(1);
    }
    let m = manifest.ok_or_else(|| format_err(path, "no MANIFEST: not a complete backup"))?;
    if seen.len() != m.stored.len() {
        return Err(format_err(
            path,
            format!(
                "{} files in the archive, {} in its manifest",
                seen.len(),
                m.stored.len()
            ),
        ));
    }
    for (name, sha, size) in seen {
        match m.stored.get(&name) {
            Some(s) if s.sha256 == sha && s.size == size => {}
            Some(_) => return Err(format_err(path, format!("{name}: checksum mismatch"))),
            None => return Err(format_err(path, format!("{name}: not in the manifest"))),
        }
    }
    bar.finish_and_clear();
    Ok(m)
}
