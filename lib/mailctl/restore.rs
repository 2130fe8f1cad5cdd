//! `mailctl restore FILE [--user ADDRESS] [--spool]`: the CLI over `backup::restore`.
//! Messages already present are skipped, so running it twice adds nothing the second time.

use std::io::Write;
use std::path::Path;

use super::Error;
use crate::backup::restore::{self, Options};
use crate::config::Config;

pub fn run(cfg: &Config, file: &Path, opts: &Options, out: &mut dyn Write) -> Result<(), Error> {
    let r = restore::restore(cfg, file, opts, &super::backup::bar("restoring"))?;
    let mut line = format!(
        "restored {} messages ({} already present), {} other files, {} users",
        r.messages, r.present, r.files, r.users
    );
    if opts.spool {
        line.push_str(&format!(", {} spool messages", r.spool));
    }
    writeln!(out, "{line}").map_err(|e| Error::System(format!("stdout: {e}")))?;
    for k in r.kept {
        writeln!(
            out,
            "kept the current {k} (the backup's copy is in the archive)"
        )
        .map_err(|e| Error::System(format!("stdout: {e}")))?;
    }
    Ok(())
}
