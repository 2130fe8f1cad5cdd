//! The aliases grammar: logical lines (continuations joined), `name: targets`, and one target.
//! Pure functions over text; errors are plain messages the caller decorates with file and line.

use super::{Entry, Target};
use std::path::PathBuf;

/// Joins continuation lines; yields (first line number, text) per entry.
pub(super) fn logical_lines(text: &str) -> Result<Vec<(usize, String)>, (usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if raw.starts_with([' ', '\t']) {
            match out.last_mut() {
                Some((_, cur)) => {
                    cur.push(' ');
                    cur.push_str(trimmed);
                }
                None => return Err((n, "continuation line without an alias before it".into())),
            }
        } else {
            out.push((n, trimmed.to_string()));
        }
    }
    Ok(out)
}

/// Parses `name: target, …`.
pub(super) fn entry(logical: &str, line: usize) -> Result<Entry, String> {
    let (name, rest) = logical
        .split_once(':')
        .ok_or_else(|| "expected `name: target, …`".to_string())?;
    let name = alias_name(name.trim())?;
    let targets = parse_targets(rest)?;
    if targets.is_empty() {
        return Err(format!("alias {name:?} has no targets"));
    }
    Ok(Entry {
        name,
        targets,
        line,
    })
}

fn alias_name(name: &str) -> Result<String, String> {
    let bad = name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\"\\,<>|/".contains(c));
    if bad {
        return Err(format!("bad alias name {name:?}"));
    }
    if let Some((local, domain)) = name.rsplit_once('@') {
        if local.is_empty() || domain.is_empty() {
            return Err(format!(
                "bad alias name {name:?}: expected local or local@domain"
            ));
        }
    }
    Ok(name.to_lowercase())
}

/// Parses a comma-separated list of targets (empty items are skipped).
pub fn parse_targets(text: &str) -> Result<Vec<Target>, String> {
    split_targets(text)?
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .map(target)
        .collect()
}

/// Splits on commas outside double quotes; `\` escapes the next character inside quotes.
pub fn split_targets(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => {
                cur.push(c);
                match chars.next() {
                    Some(n) => cur.push(n),
                    None => break,
                }
                continue;
            }
            ',' if !quoted => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if quoted {
        return Err("unterminated quote".into());
    }
    out.push(cur);
    Ok(out)
}

/// Interprets one trimmed, non-empty target.
fn target(token: &str) -> Result<Target, String> {
    if let Some(inner) = whole_quoted(token) {
        let inner = inner.trim();
        if inner.starts_with(['|', '/', '\\']) || starts_with_include(inner) {
            return special(inner);
        }
        return address(token).map(Target::Address);
    }
    special(token)
}

fn special(t: &str) -> Result<Target, String> {
    if let Some(cmd) = t.strip_prefix('|') {
        let cmd = cmd.trim();
        if cmd.is_empty() {
            return Err("empty |command".into());
        }
        return Ok(Target::Pipe(cmd.to_string()));
    }
    if starts_with_include(t) {
        let path = t[":include:".len()..].trim();
        if path.is_empty() {
            return Err(":include: without a path".into());
        }
        return Ok(Target::Include(PathBuf::from(path)));
    }
    if t.starts_with('/') {
        return Ok(Target::File(PathBuf::from(t)));
    }
    if let Some(m) = t.strip_prefix('\\') {
        return address(m).map(Target::Mailbox);
    }
    let t = match t.strip_prefix('<').and_then(|r| r.strip_suffix('>')) {
        Some(inner) => inner.trim(),
        None => t,
    };
    address(t).map(Target::Address)
}

fn starts_with_include(t: &str) -> bool {
    t.len() >= 9 && t.is_char_boundary(9) && t[..9].eq_ignore_ascii_case(":include:")
}

/// The inside of a token that is one quoted string, unescaped.
fn whole_quoted(t: &str) -> Option<String> {
    let inner = t.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            _ => out.push(c),
        }
    }
    Some(out)
}

/// Checks an address target: `local` or `local@domain`, no stray specials.
fn address(t: &str) -> Result<String, String> {
    let (local, domain) = match t.rsplit_once('@') {
        Some((l, d)) => (l, Some(d)),
        None => (t, None),
    };
    let bad_local = local.is_empty()
        || local.chars().any(|c| c.is_control())
        || (!local.starts_with('"')
            && local
                .chars()
                .any(|c| c.is_whitespace() || "<>()[];:,@\"\\".contains(c)));
    let bad_domain = domain.is_some_and(|d| {
        d.is_empty()
            || d.chars()
                .any(|c| c.is_whitespace() || c.is_control() || "<>();:,@\"\\".contains(c))
    });
    if bad_local || bad_domain {
        return Err(format!("bad target {t:?}"));
    }
    Ok(t.to_string())
}
