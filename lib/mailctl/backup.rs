//! `mailctl backup --to FILE [--since PREVIOUS]` and `mailctl backup verify FILE`: the CLI
//! over `lib/backup`. A progress bar (indicatif) shows on long work when stderr is a
//! terminal; otherwise nothing but the summary line is printed.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use super::Error;
use crate::backup;
use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum BackupCmd {
    /// Check every file of a backup against the checksums in its manifest.
    Verify { file: PathBuf },
}

/// A progress bar on stderr when it is a terminal, else a hidden one.
pub fn bar(what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} files ({eta})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

pub fn run(
    cfg: Option<&Config>,
    cmd: Option<BackupCmd>,
    to: Option<&Path>,
    since: Option<&Path>,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let say = |out: &mut dyn Write, t: String| {
        writeln!(out, "{t}").map_err(|e| Error::System(format!("stdout: {e}")))
    };
    if let Some(BackupCmd::Verify { file }) = cmd {
        let v = backup::verify(&file, &bar("verifying"))?;
        return say(
            out,
            format!(
                "{}: OK, {} files ({} messages), {} bytes",
                file.display(),
                v.files,
                v.messages,
                v.bytes
            ),
        );
    }
    let to = to.ok_or_else(|| Error::Input("give --to FILE (or `backup verify FILE`)".into()))?;
    let cfg = cfg.ok_or_else(|| Error::Input("no config".into()))?;
    let s = backup::create(cfg, to, since, &bar("backing up"))?;
    say(
        out,
        format!(
            "{}: {} files ({} messages, {} unchanged since the previous backup), {} bytes",
            to.display(),
            s.files,
            s.messages,
            s.unchanged,
            s.bytes
        ),
    )
}
