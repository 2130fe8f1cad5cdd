//! `mailctl man --dir DIR [--bin-dir DIR]`: writes the man pages `make install` installs.
//! Every page comes from a clap definition through clap_mangen: mailctl's own pages
//! (`mailctl.8`, `mailctl-user.8`, …) from its subcommands here; the other programs, whose
//! clap definitions live in `bins/`, print their own page when run with
//! `cli::MAN_PAGE_ENV` set (from `--bin-dir`, default: mailctl's own directory).
//! Writes only into DIR; a program that cannot be run is reported and skipped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

use super::{io_err, Error};

/// The programs besides mailctl that get a page.
pub const PROGRAMS: [&str; 7] = [
    "smtpd",
    "spam-scan",
    "queue-runner",
    "local-deliver",
    "mail-launch",
    "imapd",
    "pop3d",
];

/// mailctl's clap command, rebuilt here from the library's subcommands (the binary adds
/// only `--config`, mirrored here).
pub fn mailctl_command() -> clap::Command {
    let cmd = clap::Command::new("mailctl")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Administer the mail server: users, domains, aliases, queue, backup, logs")
        .arg(
            clap::Arg::new("config")
                .long("config")
                .global(true)
                .value_name("FILE")
                .help("Config file (default: $MAIL_CONFIG, else /etc/mail/mail.toml)"),
        );
    <super::Command as clap::Subcommand>::augment_subcommands(cmd)
}

pub fn run(dir: &Path, bin_dir: Option<&Path>, out: &mut dyn Write) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut written = Vec::new();
    let top = mailctl_command();
    written.push(write_clap(dir, top.clone(), "mailctl")?);
    for sub in top.get_subcommands() {
        let name = format!("mailctl-{}", sub.get_name());
        let cmd = sub
            .clone()
            .display_name(name.clone())
            .bin_name(format!("mailctl {}", sub.get_name()));
        written.push(write_clap(dir, cmd, &name)?);
    }
    let bins = bin_dir.map(Path::to_path_buf).or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
    });
    for prog in PROGRAMS {
        let exe = bins
            .as_ref()
            .map_or_else(|| PathBuf::from(prog), |d| d.join(prog));
        match own_page(&exe) {
            Some(page) => {
                let path = dir.join(format!("{prog}.8"));
                std::fs::write(&path, page).map_err(io_err(&path))?;
                written.push(path);
            }
            None => writeln!(out, "skipped {prog}: cannot run {}", exe.display())
                .map_err(|e| Error::System(format!("stdout: {e}")))?,
        }
    }
    for p in written {
        writeln!(out, "wrote {}", p.display())
            .map_err(|e| Error::System(format!("stdout: {e}")))?;
    }
    Ok(())
}

fn write_clap(dir: &Path, cmd: clap::Command, name: &str) -> Result<PathBuf, Error> {
    let path = dir.join(format!("{name}.8"));
    let mut buf = Vec::new();
    crate::cli::man_page(cmd, &mut buf).map_err(io_err(&path))?;
    std::fs::write(&path, buf).map_err(io_err(&path))?;
    Ok(path)
}

/// The page a program prints of itself (see `cli::MAN_PAGE_ENV`).
fn own_page(exe: &Path) -> Option<Vec<u8>> {
    Process::new(exe)
        .env(crate::cli::MAN_PAGE_ENV, "1")
        .output()
        .ok()
        .filter(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains(".TH "))
        .map(|o| o.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_pages_name_every_subcommand() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        run(dir.path(), Some(&dir.path().join("nothing")), &mut out).unwrap();
        let page = std::fs::read_to_string(dir.path().join("mailctl.8")).unwrap();
        assert!(
            page.contains(".TH mailctl 8"),
            "{}",
            &page[..200.min(page.len())]
        );
        for sub in ["backup", "restore", "domain", "alias", "user"] {
            assert!(
                dir.path().join(format!("mailctl-{sub}.8")).is_file(),
                "{sub}"
            );
        }
        assert!(String::from_utf8_lossy(&out).contains("skipped smtpd"));
    }
}
