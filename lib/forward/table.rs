//! A small TOML state file beside the config (`forwards.toml`, `lists.toml`), read whole and
//! replaced whole: changes take `users::lock` on the file (`<file>.lock`), load, edit, write
//! `<file>.tmp`, fsync, rename over, fsync the directory. A missing file is an empty table.
//! Shared by `forward` and `mlist`; `vacation` uses `write_atomic` for its own files.
//! Errors: a message naming the file (and toml's line) for the admin.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The file `name` in the config file's directory.
pub fn beside_config(config: &Path, name: &str) -> PathBuf {
    config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(name)
}

/// Reads a table; a missing file gives `T::default()`.
pub fn load<T: DeserializeOwned + Default>(path: &Path) -> Result<T, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|e| {
            format!(
                "{}: {}",
                path.display(),
                e.to_string().trim_end().replace('\n', " | ")
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Locks, loads, applies `change`, writes back atomically. Nothing is written when
/// `change` fails.
pub fn modify<T, R>(
    path: &Path,
    change: impl FnOnce(&mut T) -> Result<R, String>,
) -> Result<R, String>
where
    T: DeserializeOwned + Serialize + Default,
{
    let _lock = crate::users::lock(path).map_err(|e| e.to_string())?;
    let mut table: T = load(path)?;
    let out = change(&mut table)?;
    let text = toml::to_string(&table).map_err(|e| format!("{}: {e}", path.display()))?;
    write_atomic(path, text.as_bytes(), 0o644)?;
    Ok(out)
}

/// Writes `bytes` to `path` via `<path>.tmp`, fsync, rename, directory fsync.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    let shown = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(shown)?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(shown)?;
    std::fs::rename(&tmp, path).map_err(shown)?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir).and_then(|d| d.sync_all()).map_err(shown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn modify_round_trips_and_failed_change_writes_nothing() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.toml");
        let t: BTreeMap<String, u32> = load(&p).unwrap();
        assert!(t.is_empty());
        modify(&p, |t: &mut BTreeMap<String, u32>| {
            t.insert("a".into(), 1);
            Ok(())
        })
        .unwrap();
        let r: Result<(), String> = modify(&p, |t: &mut BTreeMap<String, u32>| {
            t.insert("b".into(), 2);
            Err("no".into())
        });
        assert!(r.is_err());
        let t: BTreeMap<String, u32> = load(&p).unwrap();
        assert_eq!(t.len(), 1);
        std::fs::write(&p, "a = [").unwrap();
        assert!(load::<BTreeMap<String, u32>>(&p)
            .unwrap_err()
            .contains("t.toml"));
    }
}
