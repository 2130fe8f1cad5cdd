//! A user's Maildir++ quota and usage as `mailctl user list` shows them: the definition and
//! the summed deltas of `maildirsize`, read only. Writing it (and deciding when to recount)
//! is `maildir::quota`'s job. A missing or unreadable file is `None`.

use std::path::Path;

use crate::maildir::quota::{Limit, Usage, FILE};

/// The quota definition and usage recorded in the Maildir at `root`.
pub fn read(root: &Path) -> Option<(Limit, Usage)> {
    let text = std::fs::read_to_string(root.join(FILE)).ok()?;
    let mut lines = text.lines();
    let limit = lines
        .next()
        .and_then(Limit::parse_definition)
        .unwrap_or_default();
    let mut usage = Usage::default();
    for l in lines {
        let mut f = l.split_ascii_whitespace();
        if let (Some(b), Some(c)) = (f.next(), f.next()) {
            usage.bytes = usage.bytes.saturating_add(b.parse::<i64>().unwrap_or(0));
            usage.messages = usage.messages.saturating_add(c.parse::<i64>().unwrap_or(0));
        }
    }
    Some((limit, usage))
}

#[cfg(test)]
mod tests {
    #[test]
    fn sums_deltas() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("maildirsize"),
            "2048S,10C\n100 1\n50 1\n-50 -1\n",
        )
        .unwrap();
        let (l, u) = super::read(d.path()).unwrap();
        assert_eq!((l.bytes, l.messages), (Some(2048), Some(10)));
        assert_eq!((u.bytes, u.messages), (100, 1));
        assert!(super::read(&d.path().join("none")).is_none());
    }
}
