//! Expansion step: replaces each not yet expanded recipient of an envelope by its final
//! targets (`Directory::expand`), keeping the address the client gave in `original`.
//! Runs before any delivery and is written in one envelope write, so it happens once.
//! Also the hop check: a message with more than `MAX_HOPS` `Received:` headers is looping
//! and fails for every open recipient.

use crate::config::Config;
use crate::directory::{Directory, Target};
use crate::spool::{Envelope, RcptState, Recipient};
use std::io::{BufRead, BufReader, Read};

/// More `Received:` headers than this means a mail loop (RFC 5321 6.3 suggests ~100;
/// Postfix uses 50).
pub const MAX_HOPS: usize = 50;

/// Expands in place; returns the recipients that became final (failed) on the way, for
/// logging. `hops` is the message's `Received:` count.
pub fn expand_envelope(
    dir: &Directory,
    cfg: &Config,
    env: &mut Envelope,
    hops: usize,
) -> Vec<Recipient> {
    let mut out: Vec<Recipient> = Vec::new();
    let mut failed = Vec::new();
    for r in std::mem::take(&mut env.recipients) {
        if r.expanded || r.state.is_final() {
            out.push(r);
            continue;
        }
        let original = r.original.clone().unwrap_or_else(|| r.address.clone());
        if hops > MAX_HOPS {
            let f = Recipient {
                state: RcptState::Failed,
                reply: Some(format!(
                    "554 5.4.6 too many hops ({hops} Received: headers)"
                )),
                expanded: true,
                ..r
            };
            failed.push(f.clone());
            out.push(f);
            continue;
        }
        match dir.expand(cfg, &r.address) {
            Err(reply) => out.push(Recipient {
                state: RcptState::Deferred,
                reply: Some(reply),
                ..r
            }),
            Ok(targets) => {
                for t in targets {
                    let n = recipient(t, &original);
                    if n.state == RcptState::Failed {
                        failed.push(n.clone());
                    }
                    if !out.iter().any(|o| same(o, &n)) {
                        out.push(n);
                    }
                }
            }
        }
    }
    env.recipients = out;
    failed
}

fn recipient(t: Target, original: &str) -> Recipient {
    let (address, state, reply) = match t {
        Target::Local(a) | Target::Remote(a) => (a, RcptState::Pending, None),
        Target::Pipe(cmd) => (format!("|{cmd}"), RcptState::Pending, None),
        Target::Failed { address, reply } => (address, RcptState::Failed, Some(reply)),
    };
    Recipient {
        original: (address != original).then(|| original.to_string()),
        address,
        state,
        reply,
        expanded: true,
    }
}

/// Two expanded recipients that would deliver to the same place.
fn same(a: &Recipient, b: &Recipient) -> bool {
    a.expanded
        && b.expanded
        && a.address.eq_ignore_ascii_case(&b.address)
        && a.state != RcptState::Failed
}

/// Counts `Received:` header fields (the header ends at the first empty line).
pub fn count_received(r: impl Read) -> std::io::Result<usize> {
    let mut reader = BufReader::new(r.take(4 << 20));
    let mut line = Vec::new();
    let mut n = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(n);
        }
        if line == b"\r\n" || line == b"\n" {
            return Ok(n);
        }
        if line.len() >= 9 && line[..9].eq_ignore_ascii_case(b"received:") {
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aliases::Aliases;
    use crate::users::UserDb;
    use std::path::Path;

    fn setup() -> (Config, Directory) {
        let cfg = Config::parse(
            Path::new("/x/mail.toml"),
            "hostname = \"h\"\nspool_dir = \"s\"\nmail_root = \"m\"\nusers_file = \"u\"\n\
             recipient_delimiter = \"+\"\n[domains.\"example.test\"]\n",
        )
        .unwrap();
        let users = UserDb::parse(
            Path::new("/x/u"),
            "demo@example.test:x::::::\nbob@example.test:x::::::\n",
        )
        .unwrap();
        let aliases =
            Aliases::parse(Path::new("/x/a"), "team: demo, bob, x@remote.test, |cat\n").unwrap();
        (cfg, Directory::new(users, aliases))
    }

    #[test]
    fn replaces_recipients_once_and_keeps_original() {
        let (cfg, dir) = setup();
        let mut env = Envelope {
            recipients: vec![
                Recipient::new("Team@example.test"),
                Recipient::new("demo+news@example.test"),
                Recipient::new("ghost@example.test"),
            ],
            ..Envelope::default()
        };
        let failed = expand_envelope(&dir, &cfg, &mut env, 3);
        let got: Vec<(&str, Option<&str>, RcptState)> = env
            .recipients
            .iter()
            .map(|r| (r.address.as_str(), r.original.as_deref(), r.state))
            .collect();
        use RcptState::*;
        assert_eq!(
            got,
            vec![
                ("demo@example.test", Some("Team@example.test"), Pending),
                ("bob@example.test", Some("Team@example.test"), Pending),
                ("x@remote.test", Some("Team@example.test"), Pending),
                ("team@example.test", Some("Team@example.test"), Failed),
                ("ghost@example.test", None, Failed),
            ]
        );
        assert_eq!(failed.len(), 2);
        assert!(env.recipients.iter().all(|r| r.expanded));
        let before = env.clone();
        expand_envelope(&dir, &cfg, &mut env, 3);
        assert_eq!(env, before, "expansion happens once");
    }

    #[test]
    fn too_many_hops_fail() {
        let (cfg, dir) = setup();
        let mut env = Envelope {
            recipients: vec![Recipient::new("demo@example.test")],
            ..Envelope::default()
        };
        let failed = expand_envelope(&dir, &cfg, &mut env, MAX_HOPS + 1);
        assert_eq!(failed.len(), 1);
        assert!(env.recipients[0]
            .reply
            .as_deref()
            .unwrap()
            .starts_with("554 5.4.6 too many hops"));
    }

    #[test]
    fn counts_received_in_the_header_only() {
        let msg = "Received: a\r\nreceived: b\r\n\tcont\r\nSubject: x\r\n\r\nReceived: body\r\n";
        assert_eq!(count_received(msg.as_bytes()).unwrap(), 2);
    }
}
