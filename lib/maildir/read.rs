//! Reading a mailbox directory: the messages in new/ and cur/ with the flags in their names.
//! Minimal for now; imapd and pop3d build on it.

use super::error::{Error, Result};
use super::name;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// One message file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// File name (with `:2,FLAGS` when in cur/).
    pub name: String,
    pub path: PathBuf,
    /// True while still in new/ (not yet seen by any client).
    pub is_new: bool,
    /// Maildir flags (`D F P R S T`), as in the name.
    pub flags: String,
    /// From the `,S=` in the name, else from stat.
    pub size: u64,
}

/// Lists new/ then cur/ of `dir`, each sorted by name.
pub fn list(dir: &Path) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for (sub, is_new) in [("new", true), ("cur", false)] {
        let d = dir.join(sub);
        let entries = match fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("read", &d)(e)),
        };
        let mut here = Vec::new();
        for entry in entries {
            let entry = entry.map_err(Error::io("read", &d))?;
            let Some(fname) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if fname.starts_with('.') {
                continue;
            }
            let size = match name::size(&fname) {
                Some(s) => s,
                None => match entry.metadata() {
                    Ok(m) => m.len(),
                    Err(_) => continue,
                },
            };
            here.push(Entry {
                flags: name::flags(&fname).to_string(),
                path: entry.path(),
                name: fname,
                is_new,
                size,
            });
        }
        here.sort_by(|a, b| a.name.cmp(&b.name));
        out.extend(here);
    }
    Ok(out)
}
