//! Who got an auto-reply when: `vacation.seen` in the user's Maildir directory (beside
//! `cur/ new/ tmp/`), one `<unix-seconds> <sender>` line per sender, senders lower-cased.
//! `claim` checks and records under the file's lock (`users::lock`), so two deliveries in
//! parallel reply once; entries older than the interval are dropped on each write.
//! Errors: a message naming the file (the caller then does not reply: better no reply than
//! a reply storm).

use std::path::Path;

/// File name inside the Maildir directory.
pub const FILE: &str = "vacation.seen";

/// True (and recorded at `now`) when `sender` got no reply in the last `days` days.
pub fn claim(path: &Path, sender: &str, now: u64, days: u32) -> Result<bool, String> {
    let _lock = crate::users::lock(path).map_err(|e| e.to_string())?;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let window = u64::from(days) * 86_400;
    let who = sender.to_lowercase();
    let mut kept: Vec<(u64, String)> = parse(&text)
        .filter(|(t, _)| now.saturating_sub(*t) < window && *t <= now)
        .collect();
    if kept.iter().any(|(_, s)| *s == who) {
        return Ok(false);
    }
    kept.push((now, who));
    let out: String = kept.iter().map(|(t, s)| format!("{t} {s}\n")).collect();
    crate::forward::table::write_atomic(path, out.as_bytes(), 0o600)?;
    Ok(true)
}

fn parse(text: &str) -> impl Iterator<Item = (u64, String)> + '_ {
    text.lines().filter_map(|l| {
        let (t, s) = l.split_once(' ')?;
        Some((t.parse().ok()?, s.trim().to_string()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_interval() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(FILE);
        let day = 86_400;
        assert!(claim(&p, "Bob@remote.test", 1000 * day, 7).unwrap());
        assert!(!claim(&p, "bob@remote.test", 1000 * day + 10, 7).unwrap());
        assert!(claim(&p, "carol@remote.test", 1001 * day, 7).unwrap());
        assert!(!claim(&p, "bob@remote.test", 1006 * day, 7).unwrap());
        assert!(claim(&p, "bob@remote.test", 1007 * day, 7).unwrap());
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
    }
}
