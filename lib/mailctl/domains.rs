//! `mailctl domain add|del|list`: edits `[domains.NAME]` in mail.toml itself, with
//! toml_edit so every comment and layout choice in the file is kept. The edit runs under
//! `mail.toml.lock`, the new text must pass the full config check before it replaces the
//! file atomically (`users::file::replace`), so a running server never reads a half-written
//! or invalid config.
//!
//! Who sees a change: smtpd, imapd and pop3d read the config per connection, so new
//! connections see it at once; spam-scan and queue-runner read it at start: restart them
//! (`systemctl restart queue-runner spam-scan`, or restart `mailctl run`) after adding or
//! removing a domain. `del` refuses while users of the domain exist (`--force` removes
//! them from the users file; their Maildirs stay) and while another domain is its alias.

use std::io::Write;
use std::path::Path;

use toml_edit::{DocumentMut, Item, Table};

use super::{io_err, Error};
use crate::config::Config;
use crate::users::{file, AppPasswords, UserDb};

#[derive(Debug, clap::Subcommand)]
pub enum DomainCmd {
    /// Add a local domain (or, with --alias-of, a domain alias).
    Add {
        name: String,
        /// Make NAME another name for this domain: user@NAME is user@TARGET.
        #[arg(long, value_name = "TARGET")]
        alias_of: Option<String>,
        /// Where mail for unknown local parts of NAME goes.
        #[arg(long, value_name = "ADDRESS")]
        catch_all: Option<String>,
    },
    /// Remove a domain; refused while it has users unless --force.
    Del {
        name: String,
        /// Also remove the domain's users from the users file (Maildirs are left in place).
        #[arg(long)]
        force: bool,
    },
    /// List domains with their users, catch-all and aliases.
    List,
}

pub fn run(cfg: &Config, cmd: DomainCmd, out: &mut dyn Write) -> Result<(), Error> {
    let say = |out: &mut dyn Write, t: String| {
        writeln!(out, "{t}").map_err(|e| Error::System(format!("stdout: {e}")))
    };
    match cmd {
        DomainCmd::Add {
            name,
            alias_of,
            catch_all,
        } => {
            let name = name.trim().to_ascii_lowercase();
            edit(&cfg.path, |doc| {
                add(doc, &name, alias_of.as_deref(), catch_all.as_deref())
            })?;
            say(out, format!("added domain {name}"))?;
            say(out, RESTART_NOTE.into())
        }
        DomainCmd::Del { name, force } => {
            let name = name.trim().to_ascii_lowercase();
            let removed = del(cfg, &name, force)?;
            say(out, format!("removed domain {name}"))?;
            for u in removed {
                say(out, format!("removed user {u} (Maildir left in place)"))?;
            }
            say(out, RESTART_NOTE.into())
        }
        DomainCmd::List => {
            let users = UserDb::load(&cfg.users_file)?;
            for (name, d) in &cfg.domains {
                let mut line = name.clone();
                match &d.alias_of {
                    Some(t) => line.push_str(&format!("  alias of {t}")),
                    None => {
                        line.push_str(&format!("  users={}", users_in(&users, name).len()));
                        if let Some(c) = &d.catch_all {
                            line.push_str(&format!("  catch-all={c}"));
                        }
                    }
                }
                say(out, line)?;
            }
            Ok(())
        }
    }
}

const RESTART_NOTE: &str =
    "new SMTP/IMAP/POP3 connections see it now; restart queue-runner and spam-scan to apply it there";

fn users_in(db: &UserDb, domain: &str) -> Vec<String> {
    db.users
        .iter()
        .filter(|u| u.address.rsplit_once('@').is_some_and(|(_, d)| d == domain))
        .map(|u| u.address.clone())
        .collect()
}

/// Locks mail.toml, applies `change` to the document, checks the result as a config and
/// replaces the file atomically.
pub fn edit(
    path: &Path,
    change: impl FnOnce(&mut DocumentMut) -> Result<(), Error>,
) -> Result<(), Error> {
    let _lock = file::lock(path).map_err(io_err(path))?;
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
    change(&mut doc)?;
    let new = doc.to_string();
    Config::parse(path, &new)?;
    file::replace(path, &new, 0o644).map_err(io_err(path))
}

fn add(
    doc: &mut DocumentMut,
    name: &str,
    alias_of: Option<&str>,
    catch_all: Option<&str>,
) -> Result<(), Error> {
    let domains = doc
        .entry("domains")
        .or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        })
        .as_table_mut()
        .ok_or_else(|| Error::Input("`domains` in the config is not a table".into()))?;
    if domains.iter().any(|(k, _)| k.eq_ignore_ascii_case(name)) {
        return Err(Error::Input(format!("domain {name} exists already")));
    }
    // Sorted right after the last domain rather than at the end of the file.
    let last = domains
        .iter()
        .filter_map(|(_, v)| v.as_table().and_then(Table::position))
        .max();
    let mut t = Table::new();
    t.set_position(last);
    if let Some(a) = alias_of {
        t.insert("alias_of", toml_edit::value(a.trim().to_ascii_lowercase()));
    }
    if let Some(c) = catch_all {
        t.insert("catch_all", toml_edit::value(c.trim()));
    }
    domains.insert(name, Item::Table(t));
    Ok(())
}

/// Removes the domain (after the checks); returns the users removed with `--force`.
fn del(cfg: &Config, name: &str, force: bool) -> Result<Vec<String>, Error> {
    if !cfg.domains.contains_key(name) {
        return Err(Error::Input(format!("no domain {name}")));
    }
    if let Some((alias, _)) = cfg
        .domains
        .iter()
        .find(|(_, d)| d.alias_of.as_deref() == Some(name))
    {
        return Err(Error::Input(format!(
            "{alias} is an alias of {name}; remove it first"
        )));
    }
    let users = users_in(&UserDb::load(&cfg.users_file)?, name);
    if !users.is_empty() && !force {
        return Err(Error::Input(format!(
            "domain {name} has {} users ({}…); remove them or use --force",
            users.len(),
            users[0]
        )));
    }
    edit(&cfg.path, |doc| {
        let domains = doc
            .get_mut("domains")
            .and_then(Item::as_table_like_mut)
            .ok_or_else(|| Error::Input("no [domains] in the config".into()))?;
        let key = domains
            .iter()
            .map(|(k, _)| k.to_string())
            .find(|k| k.eq_ignore_ascii_case(name))
            .ok_or_else(|| Error::Input(format!("no domain {name}")))?;
        domains.remove(&key);
        Ok(())
    })?;
    if !users.is_empty() {
        UserDb::modify(&cfg.users_file, |db| {
            db.users.retain(|u| !users.contains(&u.address));
            Ok(())
        })?;
        AppPasswords::modify(&cfg.users_file, |a| {
            a.entries.retain(|e| !users.contains(&e.address));
            Ok(())
        })?;
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = "# top comment\nhostname='h'\nspool_dir='s'\nmail_root='m'\nusers_file='users'\n\n[domains.\"example.test\"]\n# catch_all = \"x\"\n\n[smtpd]\nmax_errors = 3 # keep\n";

    fn setup() -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mail.toml");
        std::fs::write(&p, TOML).unwrap();
        let cfg = Config::load(&p).unwrap();
        (dir, cfg)
    }

    fn cmd(cfg: &Config, c: DomainCmd) -> Result<String, Error> {
        let mut out = Vec::new();
        run(cfg, c, &mut out).map(|()| String::from_utf8_lossy(&out).into_owned())
    }

    #[test]
    fn add_alias_list_and_del_keep_comments() {
        let (_d, cfg) = setup();
        cmd(
            &cfg,
            DomainCmd::Add {
                name: "Second.TEST".into(),
                alias_of: None,
                catch_all: Some("a@second.test".into()),
            },
        )
        .unwrap();
        let cfg = Config::load(&cfg.path).unwrap();
        cmd(
            &cfg,
            DomainCmd::Add {
                name: "alias.test".into(),
                alias_of: Some("second.test".into()),
                catch_all: None,
            },
        )
        .unwrap();
        let text = std::fs::read_to_string(&cfg.path).unwrap();
        assert!(
            text.starts_with("# top comment\n") && text.contains("max_errors = 3 # keep"),
            "{text}"
        );
        assert!(
            text.find("[domains.\"second.test\"]").unwrap() < text.find("[smtpd]").unwrap(),
            "{text}"
        );
        let cfg = Config::load(&cfg.path).unwrap();
        assert_eq!(cfg.canonical_domain("alias.test"), Some("second.test"));
        let listed = cmd(&cfg, DomainCmd::List).unwrap();
        assert!(
            listed.contains("alias.test  alias of second.test"),
            "{listed}"
        );
        assert!(cmd(
            &cfg,
            DomainCmd::Add {
                name: "bad.test".into(),
                alias_of: Some("nowhere.test".into()),
                catch_all: None
            }
        )
        .is_err());
        assert!(cmd(
            &cfg,
            DomainCmd::Add {
                name: "second.test".into(),
                alias_of: None,
                catch_all: None
            }
        )
        .is_err());
        assert!(
            cmd(
                &cfg,
                DomainCmd::Del {
                    name: "second.test".into(),
                    force: true
                }
            )
            .is_err(),
            "aliased"
        );
        cmd(
            &cfg,
            DomainCmd::Del {
                name: "alias.test".into(),
                force: false,
            },
        )
        .unwrap();
        let cfg = Config::load(&cfg.path).unwrap();
        assert!(!cfg.is_local_domain("alias.test"));
    }

    #[test]
    fn del_refuses_with_users_unless_forced() {
        let (_d, cfg) = setup();
        UserDb::modify(&cfg.users_file, |db| db.add("u@example.test", "pw")).unwrap();
        let e = cmd(
            &cfg,
            DomainCmd::Del {
                name: "example.test".into(),
                force: false,
            },
        );
        assert!(e.unwrap_err().to_string().contains("--force"));
        let out = cmd(
            &cfg,
            DomainCmd::Del {
                name: "example.test".into(),
                force: true,
            },
        )
        .unwrap();
        assert!(out.contains("removed user u@example.test"), "{out}");
        assert!(UserDb::load(&cfg.users_file).unwrap().users.is_empty());
        let text = std::fs::read_to_string(&cfg.path).unwrap();
        assert!(
            !text.contains("example.test") && text.contains("max_errors = 3 # keep"),
            "{text}"
        );
    }
}
