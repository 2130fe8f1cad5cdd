//! Where in `mail.toml` an error is: the line and the dotted key (`smtpd.max_recipients`),
//! found from toml's byte span, or for a checked value by walking the document's spans.
//! Pure functions over the file text; when a place cannot be found they say so with `None`
//! and the message goes out without it.

use std::ops::Range;

/// 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The dotted key written on the line holding `span`, prefixed with the table header above
/// it (`[smtpd]` + `max_errors = "x"` → `smtpd.max_errors`). For a header line itself: the
/// header's name.
pub fn key_at(text: &str, span: &Range<usize>) -> Option<String> {
    let line_no = line_of(text, span.start);
    let lines: Vec<&str> = text.lines().collect();
    let line = lines.get(line_no.checked_sub(1)?)?.trim();
    if let Some(h) = header(line) {
        return Some(h);
    }
    let key = unquote(line.split_once('=')?.0.trim());
    if key.is_empty() {
        return None;
    }
    let table = lines[..line_no - 1]
        .iter()
        .rev()
        .find_map(|l| header(l.trim()));
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key,
    })
}

/// `[a."b"]` or `[[a]]` → `a.b` / `a`.
fn header(line: &str) -> Option<String> {
    let inner = line.strip_prefix('[')?;
    let inner = inner.strip_prefix('[').unwrap_or(inner);
    let end = inner.find(']')?;
    Some(unquote(inner[..end].trim()))
}

fn unquote(key: &str) -> String {
    key.split('.')
        .map(|p| p.trim().trim_matches(['"', '\'']))
        .collect::<Vec<_>>()
        .join(".")
}

/// The key named in a serde message such as "missing field `hostname`" or
/// "unknown field `bogus`, expected …".
pub fn key_in_message(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_string())
}

/// The line where the dotted `key` is written (`domains.example.test.alias_of`,
/// `listen.smtp.address` where `smtp` is a `[[listen]]` entry's `name`), or the line of
/// its deepest part that exists.
pub fn line_of_key(text: &str, key: &str) -> Option<usize> {
    use toml_edit::{Item, TableLike, Value};
    let doc = text.parse::<toml_edit::Document<String>>().ok()?;
    let parts: Vec<&str> = key.split('.').collect();
    let mut table: &dyn TableLike = doc.as_table();
    let mut best = None;
    let mut i = 0;
    while i < parts.len() {
        // Domain names hold dots: try the longest run of parts that is one key.
        let Some((j, k, item)) = (i + 1..=parts.len()).rev().find_map(|j| {
            table
                .get_key_value(&parts[i..j].join("."))
                .map(|(k, v)| (j, k, v))
        }) else {
            break;
        };
        if let Some(s) = k.span().or_else(|| item.span()) {
            best = Some(line_of(text, s.start));
        }
        i = j;
        table = match item {
            Item::Table(t) => t,
            Item::Value(Value::InlineTable(t)) => t,
            Item::ArrayOfTables(a) if i < parts.len() => {
                let named =
                    |t: &&toml_edit::Table| t.get("name").and_then(Item::as_str) == Some(parts[i]);
                let Some(t) = a.iter().find(named) else { break };
                if let Some(s) = t.get_key_value("name").and_then(|(k, _)| k.span()) {
                    best = Some(line_of(text, s.start));
                }
                i += 1;
                t
            }
            _ => break,
        };
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "hostname = 'h'\n[smtpd]\nmax_errors = 'x'\n[domains.\"a.test\"]\nalias_of = 'b'\n[[listen]]\nname = 'smtp'\naddress = 'bad'\n";

    #[test]
    fn key_and_line_from_a_span() {
        let at = TEXT.find("'x'").unwrap();
        assert_eq!(line_of(TEXT, at), 3);
        assert_eq!(
            key_at(TEXT, &(at..at + 3)).as_deref(),
            Some("smtpd.max_errors")
        );
        let h = TEXT.find("[domains").unwrap();
        assert_eq!(key_at(TEXT, &(h..h + 1)).as_deref(), Some("domains.a.test"));
    }

    #[test]
    fn line_of_checked_keys() {
        assert_eq!(line_of_key(TEXT, "domains.a.test.alias_of"), Some(5));
        assert_eq!(line_of_key(TEXT, "listen.smtp.address"), Some(8));
        assert_eq!(line_of_key(TEXT, "smtpd.max_errors"), Some(3));
        assert_eq!(line_of_key(TEXT, "nothing.here"), None);
    }

    #[test]
    fn keys_in_serde_messages() {
        assert_eq!(
            key_in_message("missing field `hostname`").as_deref(),
            Some("hostname")
        );
        assert_eq!(key_in_message("plain"), None);
    }
}
