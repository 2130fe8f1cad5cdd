//! `mailctl man --dir DIR [--bin-dir DIR]`: writes the man pages `make install` installs.
//! mailctl's own pages (`mailctl.8`, `mailctl-user.8`, …) come from its clap definitions
//! through clap_mangen. The other programs keep their clap definitions in `bins/`, out of
//! mailctl's reach, so their pages are made from what their clap definitions print for
//! `--help` and `--version` (run from `--bin-dir`, default: mailctl's own directory).
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
        match from_help(&exe, prog) {
            Some(page) => {
                let path = dir.join(format!("{prog}.8"));
                std::fs::write(&path, page).map_err(io_err(&path))?;
                written.push(path);
            }
            None => writeln!(out, "skipped {prog}: cannot run {} --help", exe.display())
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
    clap_mangen::Man::new(cmd)
        .section("8")
        .source(format!("mailserver {}", env!("CARGO_PKG_VERSION")))
        .manual("Mail server")
        .render(&mut buf)
        .map_err(io_err(&path))?;
    std::fs::write(&path, buf).map_err(io_err(&path))?;
    Ok(path)
}

/// A section-8 page from a program's `--help` and `--version` output.
fn from_help(exe: &Path, prog: &str) -> Option<String> {
    let run = |arg: &str| {
        Process::new(exe)
            .arg(arg)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let help = run("--help")?;
    let version = run("--version").unwrap_or_default();
    Some(help_page(prog, version.trim(), &help))
}

/// Turns clap's help text into roff: NAME from its first line, SYNOPSIS from `Usage:`,
/// the rest kept as preformatted text.
pub fn help_page(prog: &str, version: &str, help: &str) -> String {
    let mut lines = help.lines();
    let about = lines.next().unwrap_or(prog).trim().to_string();
    let rest: Vec<&str> = lines.collect();
    let usage = rest
        .iter()
        .find_map(|l| l.strip_prefix("Usage: "))
        .unwrap_or(prog);
    let body: Vec<&str> = rest
        .iter()
        .copied()
        .filter(|l| !l.starts_with("Usage: "))
        .collect();
    let mut page = format!(
        ".TH {} 8 \"\" \"{}\" \"Mail server\"\n.SH NAME\n{} \\- {}\n.SH SYNOPSIS\n{}\n.SH DESCRIPTION\n.nf\n",
        prog.to_uppercase(),
        roff(version),
        roff(prog),
        roff(&about),
        roff(usage)
    );
    for l in body {
        page.push_str(&roff(l));
        page.push('\n');
    }
    page.push_str(".fi\n");
    page
}

/// Escapes text for roff: backslashes, and a leading `.` or `'` (a request otherwise).
fn roff(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with(['.', '\'']) {
        format!("\\&{s}")
    } else {
        s
    }
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

    #[test]
    fn help_text_becomes_roff() {
        let p = help_page(
            "smtpd",
            "smtpd 0.1.0",
            "SMTP server\n\nUsage: smtpd [OPTIONS]\n\nOptions:\n  --role <ROLE>  .x \\y\n",
        );
        assert!(p.starts_with(".TH SMTPD 8 \"\" \"smtpd 0.1.0\""), "{p}");
        assert!(
            p.contains(".SH NAME\nsmtpd \\- SMTP server\n.SH SYNOPSIS\nsmtpd [OPTIONS]\n"),
            "{p}"
        );
        assert!(p.contains("  \\-\\-role <ROLE>  .x \\ey\n"), "{p}");
    }
}
