//! `mailctl dkim keygen DOMAIN [--selector S] [--algorithm rsa|ed25519] [--force]` writes a
//! signing key into `[dkim] key_dir` (mode 0600, never over an existing key unless forced)
//! and prints the DNS TXT record to publish; `mailctl dkim show DOMAIN [--selector S]
//! [--value]` prints it again. Run as root with `run_as` set, the key is given to that user
//! (queue-runner reads it after dropping privileges). Key files are handled by
//! `crate::dkim::keys`; queue-runner picks a new key up without a restart.

use std::io::Write;

use super::Error;
use crate::config::{dkim::valid_selector, safe_component, Config};
use crate::dkim::keys::{self, Algorithm};

#[derive(Debug, clap::Subcommand)]
pub enum DkimCmd {
    /// Generate a signing key for DOMAIN and print its DNS TXT record.
    Keygen {
        domain: String,
        /// Selector (DNS label under _domainkey); default `[dkim] selector`.
        #[arg(long)]
        selector: Option<String>,
        /// rsa (2048 bit, rsa-sha256) or ed25519 (ed25519-sha256).
        #[arg(long, default_value = "rsa")]
        algorithm: String,
        /// Replace an existing key (its DNS record must be replaced too).
        #[arg(long)]
        force: bool,
    },
    /// Print the DNS TXT record of DOMAIN's key(s).
    Show {
        domain: String,
        #[arg(long)]
        selector: Option<String>,
        /// Print only the record's value (`v=DKIM1; k=...; p=...`).
        #[arg(long)]
        value: bool,
    },
}

pub fn run(cfg: &Config, cmd: DkimCmd, out: &mut dyn Write) -> Result<(), Error> {
    match cmd {
        DkimCmd::Keygen {
            domain,
            selector,
            algorithm,
            force,
        } => keygen(cfg, &domain, selector, &algorithm, force, out),
        DkimCmd::Show {
            domain,
            selector,
            value,
        } => show(cfg, &domain, selector, value, out),
    }
}

/// A domain as key files name it: lower case, IDNs as A-labels.
fn check_domain(domain: &str) -> Result<String, Error> {
    let d = crate::dkim::ascii_domain(domain).unwrap_or_default();
    let ok = safe_component(&d)
        && d.contains('.')
        && d.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if ok {
        Ok(d)
    } else {
        Err(Error::Input(format!("{domain:?}: not a domain name")))
    }
}

fn check_selector(s: &str) -> Result<(), Error> {
    if valid_selector(s) {
        Ok(())
    } else {
        Err(Error::Input(format!(
            "{s:?}: selector must be letters, digits, '-' or '_'"
        )))
    }
}

fn keygen(
    cfg: &Config,
    domain: &str,
    selector: Option<String>,
    algorithm: &str,
    force: bool,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let domain = check_domain(domain)?;
    let selector = selector.unwrap_or_else(|| cfg.dkim.selector.clone());
    check_selector(&selector)?;
    let alg = Algorithm::parse(algorithm)
        .ok_or_else(|| Error::Input(format!("{algorithm:?}: algorithm must be rsa or ed25519")))?;
    if !cfg.is_local_domain(&domain) {
        eprintln!("mailctl: note: {domain} is not in [domains]; mail From: it is signed anyway");
    }
    let pem = keys::generate(alg).map_err(Error::System)?;
    let key = keys::parse(&pem).map_err(Error::System)?;
    let path = keys::key_path(&cfg.dkim.key_dir, &domain, &selector);
    keys::write(&path, &pem, force).map_err(Error::Input)?;
    give_to_run_as(cfg, &path)?;
    crate::mlog!("dkim: wrote {} ({})", path.display(), alg.name());
    print_record(out, &domain, &selector, &key.record(), false)
}

/// When root writes a key and the config names `run_as`, the key (and its directory) go
/// to that user: queue-runner signs as `run_as` and must read the 0600 file.
fn give_to_run_as(cfg: &Config, key: &std::path::Path) -> Result<(), Error> {
    let Some(name) = cfg.run_as.as_deref() else {
        return Ok(());
    };
    if !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let user = nix::unistd::User::from_name(name)
        .map_err(|e| Error::System(format!("user {name}: {e}")))?
        .ok_or_else(|| Error::Input(format!("run_as user {name} does not exist")))?;
    for p in [Some(key), key.parent()].into_iter().flatten() {
        nix::unistd::chown(p, Some(user.uid), Some(user.gid))
            .map_err(|e| Error::System(format!("chown {}: {e}", p.display())))?;
    }
    Ok(())
}

fn show(
    cfg: &Config,
    domain: &str,
    selector: Option<String>,
    value_only: bool,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let domain = check_domain(domain)?;
    let selectors = match selector {
        Some(s) => {
            check_selector(&s)?;
            vec![s]
        }
        None => selectors_of(cfg, &domain)?,
    };
    if selectors.is_empty() {
        return Err(Error::Input(format!(
            "no DKIM key for {domain} in {} (mailctl dkim keygen {domain})",
            cfg.dkim.key_dir.display()
        )));
    }
    for s in selectors {
        let key =
            keys::load(&keys::key_path(&cfg.dkim.key_dir, &domain, &s)).map_err(Error::Input)?;
        print_record(out, &domain, &s, &key.record(), value_only)?;
    }
    Ok(())
}

/// Selectors with a key file for `domain`, sorted.
fn selectors_of(cfg: &Config, domain: &str) -> Result<Vec<String>, Error> {
    let dir = &cfg.dkim.key_dir;
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(super::io_err(dir)(e)),
    };
    let mut found: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(keys::parse_file_name))
        .filter(|(d, _)| d == domain)
        .map(|(_, s)| s)
        .collect();
    found.sort();
    Ok(found)
}

/// `S._domainkey.DOMAIN. IN TXT "v=DKIM1; ..."` (zone-file syntax; most DNS panels want the
/// name and the quoted value separately, and split values over 255 octets themselves).
fn print_record(
    out: &mut dyn Write,
    domain: &str,
    selector: &str,
    value: &str,
    value_only: bool,
) -> Result<(), Error> {
    let line = if value_only {
        format!("{value}\n")
    } else {
        format!("{selector}._domainkey.{domain}. IN TXT \"{value}\"\n")
    };
    out.write_all(line.as_bytes())
        .map_err(|e| Error::System(format!("stdout: {e}")))
}
