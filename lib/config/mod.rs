//! Config: reads `mail.toml` once into a checked, typed `Config` that every program receives
//! by reference. Relative paths are relative to the config file's own directory, so a config
//! copied into `./var` describes `./var`. Does no I/O beyond reading the one file.
//! Errors: `config::Error`, always permanent (an admin must fix the file); messages name the
//! file and, where toml knows it, the line and key.
//!
//! Chosen with `--config FILE`, else `$MAIL_CONFIG`, else `/etc/mail/mail.toml`.
//! Domains (`[domains.NAME]`, domain aliases) are checked in `domains`; where an error is
//! (line and key) is worked out in `errors`.

mod errors;
mod raw;

pub mod bounce;
pub mod dkim;
pub mod dns;
pub mod domains;
pub mod outbound;
pub mod policy;
pub mod scan;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use domains::Domain;

/// Where the config is looked for when neither `--config` nor `$MAIL_CONFIG` is given.
pub const DEFAULT_PATH: &str = "/etc/mail/mail.toml";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    /// A TOML syntax or type error at a known place.
    #[error("{path}:{line}: {key}: {message}")]
    Syntax {
        path: String,
        line: usize,
        key: String,
        message: String,
    },
    /// A value that parsed but is not acceptable; `path` is `file:line` when the line is known.
    #[error("{path}: {key}: {message}")]
    Invalid {
        path: String,
        key: String,
        message: String,
    },
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was read from.
    pub path: PathBuf,
    /// Our name in banners, Received: headers and generated Message-IDs.
    pub hostname: String,
    pub spool_dir: PathBuf,
    /// Maildirs live at `mail_root/<domain>/<localpart>` (that directory holds cur/ new/ tmp/).
    pub mail_root: PathBuf,
    pub users_file: PathBuf,
    pub aliases_file: Option<PathBuf>,
    /// Where sibling programs are found; defaults to the running executable's directory.
    pub bin_dir: Option<PathBuf>,
    pub run_as: Option<String>,
    /// `+` in `user+tag@domain`; `None` disables plus-addressing.
    pub recipient_delimiter: Option<char>,
    /// Local domains (lower case) and their settings, domain aliases included
    /// (`canonical_domain` resolves them).
    pub domains: BTreeMap<String, Domain>,
    pub tls: Option<Tls>,
    pub smtpd: Smtpd,
    pub queue: Queue,
    pub delivery: Delivery,
    pub listeners: Vec<Listener>,
    pub dns: dns::Dns,
    pub outbound: outbound::Outbound,
    pub bounce: bounce::Bounce,
    pub dkim: dkim::Dkim,
    pub scan: scan::Scan,
    pub policy: policy::Policy,
}

#[derive(Debug, Clone)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Smtpd {
    pub max_message_size: u64,
    pub max_recipients: usize,
    pub command_timeout: Duration,
    pub data_timeout: Duration,
    /// Errors tolerated before the session is dropped (421).
    pub max_errors: u32,
    /// Allow AUTH without TLS when the client is on a loopback address.
    pub allow_plaintext_auth_on_loopback: bool,
}

#[derive(Debug, Clone)]
pub struct Queue {
    pub scan_interval: Duration,
    pub retry_base: Duration,
    pub retry_max: Duration,
    pub max_lifetime: Duration,
    pub max_parallel_deliveries: usize,
    pub allow_pipe_aliases: bool,
    pub allow_include_aliases: bool,
}

#[derive(Debug, Clone)]
pub struct Delivery {
    /// Quota in bytes for a new Maildir's `maildirsize`; `None` means unlimited.
    pub default_quota: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Listener {
    pub name: String,
    /// A program name from bins/ (`smtpd`, `imapd`, …), found in `bin_dir`.
    pub program: String,
    pub address: SocketAddr,
    /// Extra arguments, e.g. `["--role", "submission"]`.
    pub args: Vec<String>,
    pub max_connections: usize,
    pub max_per_ip: usize,
    pub enabled: bool,
}

impl Config {
    /// Picks the config path: the explicit one, else `$MAIL_CONFIG`, else the default.
    pub fn locate(explicit: Option<&Path>) -> PathBuf {
        if let Some(p) = explicit {
            return p.to_path_buf();
        }
        match std::env::var_os("MAIL_CONFIG") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => PathBuf::from(DEFAULT_PATH),
        }
    }

    /// Reads and checks the file.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse(path, &text)
    }

    /// Checks config text as if read from `path` (relative paths resolve beside it).
    pub fn parse(path: &Path, text: &str) -> Result<Config, Error> {
        let shown = path.display().to_string();
        let raw: raw::Raw = toml::from_str(text).map_err(|e| syntax_error(&shown, text, &e))?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Checker { base, shown, text }.check(path, raw)
    }

    /// The Maildir of a local user, or `None` if the address cannot name a safe path.
    /// The only place a mailbox path is built from an address.
    pub fn maildir_path(&self, address: &str) -> Option<PathBuf> {
        let (local, domain) = address.rsplit_once('@')?;
        if !safe_component(local) || !safe_component(domain) {
            return None;
        }
        Some(
            self.mail_root
                .join(domain.to_ascii_lowercase())
                .join(local.to_lowercase()),
        )
    }

    /// True for one of our domains (case-insensitive).
    pub fn is_local_domain(&self, domain: &str) -> bool {
        self.domains.contains_key(&domain.to_ascii_lowercase())
    }

    /// Path of a sibling program such as `local-deliver`.
    pub fn program_path(&self, program: &str) -> PathBuf {
        let dir = self.bin_dir.clone().or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
        });
        match dir {
            Some(d) => d.join(program),
            None => PathBuf::from(program),
        }
    }
}

/// A name usable as one path component: no separators, no dot-names, no control bytes.
pub fn safe_component(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && !s.starts_with('.')
        && !s.chars().any(|c| c == '/' || c == '\\' || c.is_control())
}

/// Resolves paths beside the config file and names the file in errors; section files
/// (`dns.rs`, `outbound.rs`, …) check their part with it.
pub struct Checker<'a> {
    base: &'a Path,
    shown: String,
    text: &'a str,
}

impl Checker<'_> {
    fn check(&self, path: &Path, raw: raw::Raw) -> Result<Config, Error> {
        let delimiter = match raw.recipient_delimiter.as_deref() {
            None | Some("") => None,
            Some(d) if d.chars().count() == 1 => d.chars().next(),
            Some(_) => return Err(self.invalid("recipient_delimiter", "must be one character")),
        };
        let domains: BTreeMap<String, Domain> = domains::check(raw.domains, self)?;
        Ok(Config {
            path: path.to_path_buf(),
            hostname: raw.hostname,
            spool_dir: self.path(&raw.spool_dir),
            mail_root: self.path(&raw.mail_root),
            users_file: self.path(&raw.users_file),
            aliases_file: raw.aliases_file.as_deref().map(|p| self.path(p)),
            bin_dir: raw.bin_dir.as_deref().map(|p| self.path(p)),
            run_as: raw.run_as,
            recipient_delimiter: delimiter,
            domains,
            tls: raw.tls.map(|t| Tls {
                cert: self.path(&t.cert),
                key: self.path(&t.key),
            }),
            smtpd: Smtpd {
                max_message_size: raw.smtpd.max_message_size.unwrap_or(25 * 1024 * 1024),
                max_recipients: raw.smtpd.max_recipients.unwrap_or(100),
                command_timeout: secs(raw.smtpd.command_timeout_secs, 300),
                data_timeout: secs(raw.smtpd.data_timeout_secs, 600),
                max_errors: raw.smtpd.max_errors.unwrap_or(10),
                allow_plaintext_auth_on_loopback: raw
                    .smtpd
                    .allow_plaintext_auth_on_loopback
                    .unwrap_or(false),
            },
            queue: Queue {
                scan_interval: secs(raw.queue.scan_interval_secs, 60),
                retry_base: secs(raw.queue.retry_base_secs, 300),
                retry_max: secs(raw.queue.retry_max_secs, 4000),
                max_lifetime: secs(raw.queue.max_lifetime_secs, 5 * 86400),
                max_parallel_deliveries: raw.queue.max_parallel_deliveries.unwrap_or(4).max(1),
                allow_pipe_aliases: raw.queue.allow_pipe_aliases.unwrap_or(false),
                allow_include_aliases: raw.queue.allow_include_aliases.unwrap_or(false),
            },
            delivery: Delivery {
                default_quota: match raw.delivery.default_quota.as_deref() {
                    None => None,
                    Some(q) => Some(
                        parse_size(q)
                            .ok_or_else(|| self.invalid("delivery.default_quota", "bad size"))?,
                    ),
                },
            },
            listeners: raw
                .listeners
                .into_iter()
                .map(|l| self.listener(l))
                .collect::<Result<_, _>>()?,
            dns: dns::check(raw.dns, self)?,
            outbound: outbound::check(raw.outbound, self)?,
            bounce: bounce::check(raw.bounce, self)?,
            dkim: dkim::check(raw.dkim, self)?,
            scan: scan::check(raw.scan, self)?,
            policy: policy::check(raw.policy, self)?,
        })
    }

    fn listener(&self, l: raw::RawListener) -> Result<Listener, Error> {
        let address = l.address.parse().map_err(|_| {
            self.invalid(
                &format!("listen.{}.address", l.name),
                "expected IP:PORT, e.g. 127.0.0.1:2525 or [::1]:2525",
            )
        })?;
        Ok(Listener {
            name: l.name,
            program: l.program,
            address,
            args: l.args,
            max_connections: l.max_connections.unwrap_or(100),
            max_per_ip: l.max_per_ip.unwrap_or(10),
            enabled: l.enabled.unwrap_or(true),
        })
    }

    pub fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    /// An error about `key` (dotted, e.g. `dns.servers`), naming the file and, when it can
    /// be found, the line.
    pub fn invalid(&self, key: &str, message: &str) -> Error {
        let path = match errors::line_of_key(self.text, key) {
            Some(line) => format!("{}:{line}", self.shown),
            None => self.shown.clone(),
        };
        Error::Invalid {
            path,
            key: key.to_string(),
            message: message.to_string(),
        }
    }
}

/// toml's error as `file:line: key: message`; without a place, `file: message`.
fn syntax_error(shown: &str, text: &str, e: &toml::de::Error) -> Error {
    let message = e.message().trim().replace('\n', " ");
    let span = e.span();
    let key = span
        .as_ref()
        .and_then(|s| errors::key_at(text, s))
        .or_else(|| errors::key_in_message(&message));
    match (span, key) {
        (Some(s), Some(key)) => Error::Syntax {
            path: shown.to_string(),
            line: errors::line_of(text, s.start),
            key,
            message,
        },
        _ => Error::Parse {
            path: shown.to_string(),
            message,
        },
    }
}

pub fn secs(v: Option<u64>, default: u64) -> Duration {
    Duration::from_secs(v.unwrap_or(default))
}

/// Parses `1024`, `500K`, `20M`, `2G` (powers of 1024) into bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 1u64 << 10),
        'm' | 'M' => (&s[..s.len() - 1], 1 << 20),
        'g' | 'G' => (&s[..s.len() - 1], 1 << 30),
        't' | 'T' => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
hostname = "mx.example.test"
spool_dir = "spool"
mail_root = "/srv/mail"
users_file = "users"
[domains."Example.TEST"]
catch_all = "demo@example.test"
[[listen]]
name = "smtp"
program = "smtpd"
address = "127.0.0.1:2525"
"#;

    #[test]
    fn relative_paths_resolve_beside_the_file() {
        let c = Config::parse(Path::new("/var/x/mail.toml"), MINIMAL).unwrap();
        assert_eq!(c.spool_dir, Path::new("/var/x/spool"));
        assert_eq!(c.mail_root, Path::new("/srv/mail"));
        assert!(c.is_local_domain("example.test"));
        assert_eq!(c.listeners[0].address.port(), 2525);
        assert_eq!(c.smtpd.max_recipients, 100);
    }

    #[test]
    fn unknown_key_names_file_and_key() {
        let text = format!("{MINIMAL}\nbogus = 1\n");
        let e = Config::parse(Path::new("/x/mail.toml"), &text).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("/x/mail.toml") && msg.contains("bogus"),
            "{msg}"
        );
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let text = format!("{MINIMAL}[smtpd]\nmax_errors = \"many\"\n");
        let e = Config::parse(Path::new("/x/mail.toml"), &text).unwrap_err();
        let line = text
            .lines()
            .position(|l| l.starts_with("max_errors"))
            .unwrap()
            + 1;
        assert_eq!(
            e.to_string().split(": ").take(2).collect::<Vec<_>>(),
            vec![
                format!("/x/mail.toml:{line}"),
                "smtpd.max_errors".to_string()
            ],
            "{e}"
        );
        let text = MINIMAL.replace("127.0.0.1:2525", "nowhere");
        let e = Config::parse(Path::new("/x/mail.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/x/mail.toml:11: listen.smtp.address: "),
            "{e}"
        );
        let e = Config::parse(Path::new("/x/mail.toml"), "hostname = \n").unwrap_err();
        assert!(
            e.to_string().starts_with("/x/mail.toml:1: hostname: "),
            "{e}"
        );
    }

    #[test]
    fn maildir_path_refuses_escapes() {
        let c = Config::parse(Path::new("/x/mail.toml"), MINIMAL).unwrap();
        assert_eq!(
            c.maildir_path("Demo@Example.test").unwrap(),
            Path::new("/srv/mail/example.test/demo")
        );
        assert!(c.maildir_path("../etc@example.test").is_none());
        assert!(c.maildir_path("a/b@example.test").is_none());
        assert!(c.maildir_path("a@..").is_none());
        assert!(c.maildir_path("noat").is_none());
    }

    #[test]
    fn shipped_example_config_is_valid() {
        let text = include_str!("../../etc/mail.toml");
        let c = Config::parse(Path::new("/srv/var/mail.toml"), text).unwrap();
        assert!(c.is_local_domain("example.test"));
        let enabled: Vec<u16> = c
            .listeners
            .iter()
            .filter(|l| l.enabled)
            .map(|l| l.address.port())
            .collect();
        assert_eq!(enabled, vec![2525, 2587, 2465, 2143, 2993, 2110, 2995]);
        assert_eq!(c.tls.unwrap().cert, Path::new("/srv/var/tls/cert.pem"));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("500k"), Some(500 << 10));
        assert_eq!(parse_size("12"), Some(12));
        assert_eq!(parse_size("x"), None);
    }
}
