//! The Maildir write protocol for one message into one mailbox directory: tmp/ → fsync →
//! link() into new/ (never overwrite) → fsync new/ → unlink the tmp name.

use super::error::{Error, Result};
use super::{name, sync_dir};
use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Names tried before giving up; each try has a new counter and random part.
const ATTEMPTS: usize = 10;

/// A message safely in `new/`.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// The file name in `new/`.
    pub name: String,
    /// Full path of the file.
    pub path: PathBuf,
    /// Bytes on disk.
    pub size: u64,
    /// Something that went wrong after the message was safe (e.g. quota file not updated).
    pub warning: Option<String>,
}

/// Writes `message` into `dir/new/` following the Maildir protocol.
pub fn write(dir: &Path, message: &[u8]) -> Result<Delivered> {
    let size = message.len() as u64;
    let vsize = size + bare_lf_count(message);
    let host = name::system_hostname();
    let (tmp_name, tmp_path) = write_tmp(dir, message, &host, size, vsize)?;
    let linked = link_new(dir, &tmp_path, &tmp_name, &host, size, vsize)
        .and_then(|(n, p)| sync_dir(&dir.join("new")).map(|()| (n, p)));
    // The tmp name goes either way: after success it is a second link, after failure junk.
    let _ = fs::remove_file(&tmp_path);
    let (name, path) = linked?;
    Ok(Delivered {
        name,
        path,
        size,
        warning: None,
    })
}

/// Creates a fresh file in tmp/ (O_EXCL, 0600), writes and fsyncs it.
fn write_tmp(
    dir: &Path,
    message: &[u8],
    host: &str,
    size: u64,
    vsize: u64,
) -> Result<(String, PathBuf)> {
    for _ in 0..ATTEMPTS {
        let fname = name::unique(host, size, vsize);
        let path = dir.join("tmp").join(&fname);
        let mut file = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io("create", &path)(e)),
        };
        let written = file
            .write_all(message)
            .map_err(Error::io("write", &path))
            .and_then(|()| file.sync_all().map_err(Error::io("fsync", &path)));
        if let Err(e) = written {
            drop(file);
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        return Ok((fname, path));
    }
    Err(Error::NoUniqueName(dir.join("tmp")))
}

/// Links the tmp file into new/, under its own name if free, else under a fresh one.
fn link_new(
    dir: &Path,
    tmp_path: &Path,
    tmp_name: &str,
    host: &str,
    size: u64,
    vsize: u64,
) -> Result<(String, PathBuf)> {
    let mut fname = tmp_name.to_string();
    for _ in 0..ATTEMPTS {
        let path = dir.join("new").join(&fname);
        match fs::hard_link(tmp_path, &path) {
            Ok(()) => return Ok((fname, path)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                fname = name::unique(host, size, vsize);
            }
            Err(e) => return Err(Error::io("link", &path)(e)),
        }
    }
    Err(Error::NoUniqueName(dir.join("new")))
}

/// LFs not preceded by CR: what the size grows by when line ends become CRLF.
fn bare_lf_count(data: &[u8]) -> u64 {
    let mut n = 0;
    let mut prev = 0u8;
    for &b in data {
        if b == b'\n' && prev != b'\r' {
            n += 1;
        }
        prev = b;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vsize_counts_bare_lf_only() {
        assert_eq!(bare_lf_count(b"a\nb\r\nc\n"), 2);
        assert_eq!(bare_lf_count(b""), 0);
    }

    #[test]
    fn existing_name_in_new_is_never_overwritten() {
        let t = tempfile::tempdir().unwrap();
        for s in ["cur", "new", "tmp"] {
            fs::create_dir(t.path().join(s)).unwrap();
        }
        let tmp = t.path().join("tmp/x");
        fs::write(&tmp, b"new message").unwrap();
        fs::write(t.path().join("new/x"), b"old message").unwrap();
        let (n, p) = link_new(t.path(), &tmp, "x", "h", 11, 11).unwrap();
        assert_ne!(n, "x");
        assert_eq!(fs::read(t.path().join("new/x")).unwrap(), b"old message");
        assert_eq!(fs::read(p).unwrap(), b"new message");
    }
}
