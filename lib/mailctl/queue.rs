//! `mailctl queue list`: every message in every spool stage, like `postqueue -p`: id,
//! stage, age, size, sender, then each recipient with its state and last reply.
//! Read-only: uses the spool's read APIs and never changes a file. A message that moves or
//! leaves while we look is skipped; a corrupt one is listed as such.

use std::io::Write;

use super::Error;
use crate::config::Config;
use crate::spool::{Envelope, RcptState, Spool, Stage};

/// One listed message.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    pub stage: Stage,
    /// Seconds since it was received.
    pub age: u64,
    pub size: u64,
    /// `None` when the envelope could not be read (the reason is in `problem`).
    pub envelope: Option<Envelope>,
    pub problem: Option<String>,
}

pub fn list(cfg: &Config, out: &mut dyn Write) -> Result<(), Error> {
    let spool = Spool::open(&cfg.spool_dir)?;
    let entries = collect(&spool, unix_now())?;
    let w = |out: &mut dyn Write, s: &str| {
        out.write_all(s.as_bytes())
            .map_err(|e| Error::System(format!("stdout: {e}")))
    };
    if entries.is_empty() {
        return w(out, "Mail queue is empty\n");
    }
    w(
        out,
        &format!(
            "{:<20} {:<10} {:>5} {:>9}  Sender\n",
            "ID", "Stage", "Age", "Size"
        ),
    )?;
    for e in &entries {
        w(out, &format_entry(e))?;
    }
    let total: u64 = entries.iter().map(|e| e.size).sum();
    w(
        out,
        &format!("-- {} messages, {} bytes\n", entries.len(), total),
    )
}

/// Reads every stage, oldest first within a stage.
pub fn collect(spool: &Spool, now: u64) -> Result<Vec<Entry>, Error> {
    let mut all = Vec::new();
    for stage in Stage::ALL {
        for id in spool.list(stage)? {
            let size = spool
                .message_path(stage, &id)
                .ok()
                .and_then(|p| std::fs::metadata(p).ok())
                .map_or(0, |m| m.len());
            let (envelope, problem) = match spool.read_envelope(stage, &id) {
                Ok(env) => (Some(env), None),
                Err(crate::spool::Error::NotFound { .. }) => continue,
                Err(e) => (None, Some(e.to_string())),
            };
            let received = envelope.as_ref().map_or(now, |e| e.received_at);
            all.push(Entry {
                id,
                stage,
                age: now.saturating_sub(received),
                size,
                envelope,
                problem,
            });
        }
    }
    Ok(all)
}

/// The lines for one message: a summary, then one indented line per recipient.
pub fn format_entry(e: &Entry) -> String {
    let sender = match &e.envelope {
        Some(env) if env.sender.is_empty() => "<>".to_string(),
        Some(env) => format!("<{}>", env.sender),
        None => "?".to_string(),
    };
    let mut s = format!(
        "{:<20} {:<10} {:>5} {:>9}  {}\n",
        e.id,
        e.stage.name(),
        fmt_age(e.age),
        e.size,
        sender
    );
    if let Some(p) = &e.problem {
        s.push_str(&format!("    unreadable envelope: {p}\n"));
    }
    if let Some(env) = &e.envelope {
        if env.attempts > 0 {
            s.push_str(&format!("    attempts={}\n", env.attempts));
        }
        for r in &env.recipients {
            s.push_str(&format!("    <{}> {}", r.address, state_name(r.state)));
            if let Some(o) = &r.original {
                s.push_str(&format!(" (for <{o}>)"));
            }
            if let Some(reply) = &r.reply {
                s.push_str(&format!(" {reply}"));
            }
            s.push('\n');
        }
    }
    s
}

fn state_name(s: RcptState) -> &'static str {
    match s {
        RcptState::Pending => "pending",
        RcptState::Deferred => "deferred",
        RcptState::Delivered => "delivered",
        RcptState::Failed => "failed",
    }
}

/// `45s`, `12m`, `3h`, `2d`.
pub fn fmt_age(secs: u64) -> String {
    match secs {
        0..=119 => format!("{secs}s"),
        120..=7199 => format!("{}m", secs / 60),
        7200..=172_799 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::Recipient;

    #[test]
    fn ages() {
        assert_eq!(fmt_age(5), "5s");
        assert_eq!(fmt_age(600), "10m");
        assert_eq!(fmt_age(3 * 3600), "3h");
        assert_eq!(fmt_age(3 * 86400), "3d");
    }

    #[test]
    fn lists_every_stage_with_recipients() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let mut r2 = Recipient::new("b@example.test");
        r2.state = RcptState::Deferred;
        r2.reply = Some("451 4.2.2 mailbox full".into());
        let env = Envelope {
            sender: "s@x.test".into(),
            recipients: vec![Recipient::new("a@example.test"), r2],
            received_at: 1000,
            ..Envelope::default()
        };
        spool
            .enqueue(Stage::Queue, &env, b"Subject: x\r\n\r\nhi\r\n")
            .unwrap();
        let bounce = Envelope {
            received_at: 1000,
            recipients: vec![Recipient::new("s@x.test")],
            ..Envelope::default()
        };
        spool.enqueue(Stage::Bounce, &bounce, b"x").unwrap();
        let entries = collect(&spool, 1600).unwrap();
        assert_eq!(entries.len(), 2);
        let q = &entries[0];
        assert_eq!((q.stage, q.size, q.age), (Stage::Queue, 18, 600));
        let text = format_entry(q);
        assert!(text.contains("queue") && text.contains("10m") && text.contains("<s@x.test>"));
        assert!(text.contains("    <a@example.test> pending\n"), "{text}");
        assert!(text.contains("<b@example.test> deferred 451 4.2.2 mailbox full"));
        assert!(format_entry(&entries[1]).contains("bounce"));
        assert!(format_entry(&entries[1]).contains(" <>\n"));
    }
}
