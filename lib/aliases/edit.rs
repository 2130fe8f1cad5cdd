//! Editing the aliases file as text, for `mailctl alias add|del`: every line that is not
//! the edited entry stays byte for byte (comments, blank lines, other entries' layout).
//! `modify` runs the edit under the file's lock and replaces the file atomically, and only
//! after the new text parses, so a bad edit never reaches the file.

use std::path::Path;

use super::{parse, Aliases, Error};
use crate::users::file;

/// Lines `[start, end)` of one entry: its first line and its continuation lines (indented
/// comments inside it included), not the comments or blank lines after it.
struct Block {
    name: String,
    start: usize,
    end: usize,
}

fn is_blank_or_comment(l: &str) -> bool {
    let t = l.trim();
    t.is_empty() || t.starts_with('#')
}

fn blocks(lines: &[&str]) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if is_blank_or_comment(l) {
            continue;
        }
        if l.starts_with([' ', '\t']) {
            if let Some(b) = out.last_mut() {
                b.end = i + 1;
            }
            continue;
        }
        let name = l.split_once(':').map(|(n, _)| n.trim().to_lowercase());
        out.push(Block {
            name: name.unwrap_or_default(),
            start: i,
            end: i + 1,
        });
    }
    out
}

/// Adds `targets` (as written, e.g. `bob@example.test`, `"|/bin/prog"`) to alias `name`,
/// creating the entry at the end of the file or extending an existing one; targets it has
/// already are skipped. Returns the new text.
pub fn add(text: &str, name: &str, targets: &[String]) -> Result<String, String> {
    let name = name.trim().to_lowercase();
    for t in targets {
        parse::parse_targets(t)?;
    }
    let lines: Vec<&str> = text.lines().collect();
    let Some(b) = blocks(&lines).into_iter().find(|b| b.name == name) else {
        let mut out = text.to_string();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("{name}: {}\n", targets.join(", ")));
        return Ok(out);
    };
    let logical: String = lines[b.start..b.end]
        .iter()
        .filter(|l| !is_blank_or_comment(l))
        .map(|l| l.trim())
        .collect::<Vec<_>>()
        .join(" ");
    let have = parse::entry(&logical, b.start + 1)?.targets;
    let mut joined = logical.trim_end().trim_end_matches(',').to_string();
    for t in targets {
        let parsed = parse::parse_targets(t)?;
        if parsed.iter().all(|p| have.contains(p)) {
            continue;
        }
        joined.push_str(", ");
        joined.push_str(t.trim());
    }
    Ok(splice(&lines, b.start, b.end, Some(&joined)))
}

/// Removes alias `name` whole (no `targets`) or just the given targets (the entry goes when
/// none is left). Returns the new text, or an error when the alias or a target is absent.
pub fn del(text: &str, name: &str, targets: &[String]) -> Result<String, String> {
    let name = name.trim().to_lowercase();
    let lines: Vec<&str> = text.lines().collect();
    let b = blocks(&lines)
        .into_iter()
        .find(|b| b.name == name)
        .ok_or_else(|| format!("no alias {name:?}"))?;
    if targets.is_empty() {
        return Ok(splice(&lines, b.start, b.end, None));
    }
    let logical: String = lines[b.start..b.end]
        .iter()
        .filter(|l| !is_blank_or_comment(l))
        .map(|l| l.trim())
        .collect::<Vec<_>>()
        .join(" ");
    let (_, rest) = logical.split_once(':').unwrap_or((&logical, ""));
    let mut kept: Vec<String> = parse::split_targets(rest)?
        .into_iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    for t in targets {
        let want = parse::parse_targets(t)?;
        let before = kept.len();
        kept.retain(|k| parse::parse_targets(k).map_or(true, |p| p != want));
        if kept.len() == before {
            return Err(format!("alias {name:?} has no target {t:?}"));
        }
    }
    let line = (!kept.is_empty()).then(|| format!("{name}: {}", kept.join(", ")));
    Ok(splice(&lines, b.start, b.end, line.as_deref()))
}

/// `lines` with `[start, end)` replaced by `with` (or removed).
fn splice(lines: &[&str], start: usize, end: usize, with: Option<&str>) -> String {
    let mut out = String::new();
    for l in &lines[..start] {
        out.push_str(l);
        out.push('\n');
    }
    if let Some(w) = with {
        out.push_str(w);
        out.push('\n');
    }
    for l in &lines[end..] {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// Applies `edit` to the file's text under its lock; writes only text that parses.
pub fn modify(path: &Path, edit: impl FnOnce(&str) -> Result<String, String>) -> Result<(), Error> {
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let _lock = file::lock(path).map_err(io)?;
    let old = file::read_optional(path).map_err(io)?.unwrap_or_default();
    let new = edit(&old).map_err(|message| Error::Parse {
        path: path.display().to_string(),
        line: 0,
        message,
    })?;
    Aliases::parse(path, &new)?;
    file::replace(path, &new, 0o644).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str =
        "# top\nstaff: a@x.test,\n  # inner\n  b@x.test\n\n# about root\nroot: a@x.test\n";

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn add_new_and_extend_keeping_the_rest() {
        let t = add(FILE, "Sales", &v(&["c@x.test", "\"|/bin/prog a, b\""])).unwrap();
        assert!(t.starts_with(FILE) && t.ends_with("sales: c@x.test, \"|/bin/prog a, b\"\n"));
        let t = add(FILE, "staff", &v(&["b@x.test", "c@x.test"])).unwrap();
        assert_eq!(
            t,
            "# top\nstaff: a@x.test, b@x.test, c@x.test\n\n# about root\nroot: a@x.test\n"
        );
        assert!(add(FILE, "x", &v(&["\"unterminated"])).is_err());
    }

    #[test]
    fn del_whole_or_targets() {
        let t = del(FILE, "STAFF", &[]).unwrap();
        assert_eq!(t, "# top\n\n# about root\nroot: a@x.test\n");
        let t = del(FILE, "staff", &v(&["a@x.test"])).unwrap();
        assert!(t.contains("staff: b@x.test\n"), "{t}");
        let t = del(FILE, "root", &v(&["a@x.test"])).unwrap();
        assert!(!t.contains("root:") && t.contains("# about root"));
        assert!(del(FILE, "nobody", &[]).is_err());
        assert!(del(FILE, "root", &v(&["z@x.test"])).is_err());
    }

    #[test]
    fn modify_refuses_text_that_does_not_parse() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("aliases");
        std::fs::write(&p, FILE).unwrap();
        modify(&p, |t| add(t, "new", &v(&["n@x.test"]))).unwrap();
        assert!(std::fs::read_to_string(&p)
            .unwrap()
            .ends_with("new: n@x.test\n"));
        assert!(modify(&p, |_| Ok("broken line\n".into())).is_err());
        assert!(std::fs::read_to_string(&p).unwrap().starts_with("# top\n"));
    }
}
