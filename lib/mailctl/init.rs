//! `mailctl init DIR [--from ETC]`: makes DIR a runnable installation. Copies
//! `ETC/mail.toml` and `ETC/aliases` when absent, creates the users file with
//! `demo@example.test` / `demo` when absent, a self-signed certificate when the config
//! names one that is missing, the SRS secret (`srs.secret` beside the config, so smtpd and
//! queue-runner only ever read it), the spool and the mail root. Never overwrites anything, so
//! running it again changes nothing; prints one line per thing it created.

use std::fs;
use std::io::Write;
use std::path::Path;

use super::{io_err, Error};
use crate::config::Config;
use crate::spool::Spool;
use crate::users::UserDb;

/// The demo account `make run` logs in with.
pub const DEMO_USER: &str = "demo@example.test";
pub const DEMO_PASSWORD: &str = "demo";

pub fn run(dir: &Path, from: &Path, out: &mut dyn Write) -> Result<(), Error> {
    for line in init(dir, from)? {
        writeln!(out, "created {line}").map_err(|e| Error::System(format!("stdout: {e}")))?;
    }
    Ok(())
}

/// Does the work; returns what was created, for the caller to print.
pub fn init(dir: &Path, from: &Path) -> Result<Vec<String>, Error> {
    let mut created = Vec::new();
    if !dir.is_dir() {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        created.push(dir.display().to_string());
    }
    for name in ["mail.toml", "aliases"] {
        let dst = dir.join(name);
        if !dst.exists() {
            copy_atomic(&from.join(name), &dst)?;
            created.push(dst.display().to_string());
        }
    }
    let cfg_path = dir.join("mail.toml");
    let cfg = Config::load(&cfg_path)?;
    let secret = crate::srs::secret_path(&cfg_path);
    if !secret.exists() {
        crate::srs::Srs::load_or_create(&secret).map_err(io_err(&secret))?;
        created.push(format!("{} (SRS secret)", secret.display()));
    }
    if !cfg.users_file.exists() {
        UserDb::modify(&cfg.users_file, |db| db.add(DEMO_USER, DEMO_PASSWORD))?;
        created.push(format!(
            "{} (user {DEMO_USER}, password {DEMO_PASSWORD})",
            cfg.users_file.display()
        ));
    }
    if let Some(tls) = &cfg.tls {
        if !tls.cert.exists() || !tls.key.exists() {
            crate::tls::generate_self_signed(&cfg.hostname, &tls.cert, &tls.key)?;
            created.push(format!(
                "{} and {} (self-signed for {})",
                tls.cert.display(),
                tls.key.display(),
                cfg.hostname
            ));
        }
    }
    if !cfg.spool_dir.is_dir() {
        Spool::open(&cfg.spool_dir)?;
        created.push(cfg.spool_dir.display().to_string());
    } else {
        Spool::open(&cfg.spool_dir)?; // completes a partial spool quietly
    }
    if !cfg.mail_root.is_dir() {
        fs::create_dir_all(&cfg.mail_root).map_err(io_err(&cfg.mail_root))?;
        created.push(cfg.mail_root.display().to_string());
    }
    Ok(created)
}

/// Copies via a temporary name and rename, so an interrupted init never leaves a
/// half-written file that the next run would take as present.
fn copy_atomic(src: &Path, dst: &Path) -> Result<(), Error> {
    let data = fs::read(src).map_err(io_err(src))?;
    let tmp = dst.with_extension("init-tmp");
    fs::write(&tmp, data)
        .and_then(|_| fs::rename(&tmp, dst))
        .map_err(io_err(dst))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_is_idempotent_and_usable() {
        let tmp = tempfile::tempdir().unwrap();
        let etc = Path::new(env!("CARGO_MANIFEST_DIR")).join("etc");
        let dir = tmp.path().join("var");
        let first = init(&dir, &etc).unwrap();
        assert!(first.len() >= 6, "{first:?}");
        let cfg = Config::load(&dir.join("mail.toml")).unwrap();
        assert!(UserDb::load(&cfg.users_file)
            .unwrap()
            .verify(DEMO_USER, DEMO_PASSWORD));
        let tls = cfg.tls.as_ref().unwrap();
        assert!(crate::tls::server_config(tls).is_ok());
        assert!(cfg.spool_dir.join("incoming").is_dir());
        assert!(cfg.mail_root.is_dir());
        assert!(dir.join("aliases").is_file());
        let secret = crate::srs::secret_path(&dir.join("mail.toml"));
        let srs_text = fs::read_to_string(&secret).unwrap();
        assert!(crate::srs::Srs::load(&secret).unwrap().is_some());

        fs::write(&cfg.users_file, "x@example.test:{PLAIN}x::::::\n").unwrap();
        let second = init(&dir, &etc).unwrap();
        assert!(second.is_empty(), "{second:?}");
        let kept = fs::read_to_string(&cfg.users_file).unwrap();
        assert_eq!(kept, "x@example.test:{PLAIN}x::::::\n", "never overwrites");
        assert_eq!(
            fs::read_to_string(&secret).unwrap(),
            srs_text,
            "secret kept"
        );
    }

    #[test]
    fn missing_source_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let e = init(&tmp.path().join("d"), &tmp.path().join("nope")).unwrap_err();
        assert!(e.to_string().contains("nope/mail.toml"), "{e}");
    }
}
