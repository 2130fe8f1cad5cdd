//! LIST-EXTENDED (RFC 5258, with RFC 6154's SPECIAL-USE options) and LIST-STATUS (RFC 5819):
//! parsing `LIST (selection options) reference (patterns) RETURN (return options)`.
//!
//! Hand-written because imap-codec 2.0.0-alpha.10 parses only the RFC 3501 form of LIST
//! (`LIST reference pattern`): selection options, pattern lists and RETURN are a syntax error
//! there. `parse` looks at the command's first line only; a LIST in the plain form (or one
//! carrying a literal, which extended LISTs from real clients do not use) is left to
//! imap-codec (`None`). Unknown options and bad syntax are an `Err` for a BAD. Pure; no I/O.

use imap_codec::imap_types::status::StatusDataItemName;

/// Selection options (RFC 5258 3.1, RFC 6154 5.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Selection {
    pub subscribed: bool,
    pub remote: bool,
    pub recursive_match: bool,
    pub special_use: bool,
}

/// Return options (RFC 5258 3.2, RFC 6154 5.2, RFC 5819).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Returns {
    pub subscribed: bool,
    pub children: bool,
    pub special_use: bool,
    /// `STATUS (…)`: the items for a STATUS response after each selectable mailbox.
    pub status: Option<Vec<StatusDataItemName>>,
}

/// An extended LIST command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListExtended {
    pub selection: Selection,
    pub reference: Vec<u8>,
    pub patterns: Vec<Vec<u8>>,
    pub returns: Returns,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Open,
    Close,
    /// An atom or list-mailbox (unquoted).
    Atom(Vec<u8>),
    Quoted(Vec<u8>),
}

/// `tag LIST …` in the extended form: `Some(Ok)`; a plain LIST or another command: `None`;
/// an extended LIST that does not parse: `Some(Err(reason))`.
pub fn parse(msg: &[u8]) -> Option<Result<ListExtended, String>> {
    let end = msg.iter().position(|&b| b == b'\r' || b == b'\n')?;
    let line = &msg[..end];
    let mut words = line.splitn(3, |&b| b == b' ');
    let _tag = words.next()?;
    if !words.next()?.eq_ignore_ascii_case(b"LIST") {
        return None;
    }
    let rest = words.next()?;
    if rest.ends_with(b"}") {
        return None; // a literal follows: only the plain form is expected here
    }
    let toks = match tokenize(rest) {
        Ok(t) => t,
        Err(e) => return extended_guess(rest).then_some(Err(e)),
    };
    let plain = matches!(
        toks.as_slice(),
        [Tok::Atom(_) | Tok::Quoted(_), Tok::Atom(_) | Tok::Quoted(_)]
    );
    if plain {
        return None;
    }
    Some(grammar(&toks))
}

/// Whether an untokenizable LIST line looks extended (so the error is ours to report).
fn extended_guess(rest: &[u8]) -> bool {
    rest.starts_with(b"(") || rest.windows(2).any(|w| w == b" (")
}

fn tokenize(s: &[u8]) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b' ' => i += 1,
            b'(' => {
                out.push(Tok::Open);
                i += 1;
            }
            b')' => {
                out.push(Tok::Close);
                i += 1;
            }
            b'"' => {
                let mut v = Vec::new();
                i += 1;
                loop {
                    match s.get(i) {
                        None => return Err("unterminated quoted string".into()),
                        Some(b'"') => break,
                        Some(b'\\') => {
                            let Some(&c) = s.get(i + 1).filter(|c| matches!(c, b'"' | b'\\'))
                            else {
                                return Err("bad escape in quoted string".into());
                            };
                            v.push(c);
                            i += 2;
                        }
                        Some(&c) => {
                            v.push(c);
                            i += 1;
                        }
                    }
                }
                i += 1;
                out.push(Tok::Quoted(v));
            }
            _ => {
                let start = i;
                while i < s.len() && !matches!(s[i], b' ' | b'(' | b')' | b'"') {
                    if s[i] < 0x20 || s[i] == 0x7f {
                        return Err("control character in LIST".into());
                    }
                    i += 1;
                }
                out.push(Tok::Atom(s[start..i].to_vec()));
            }
        }
    }
    Ok(out)
}

/// A cursor over the tokens.
struct Cur<'a> {
    toks: &'a [Tok],
    at: usize,
}

impl Cur<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }
    fn next(&mut self) -> Option<&Tok> {
        self.at += 1;
        self.toks.get(self.at - 1)
    }
    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == Some(t) {
            self.at += 1;
            return true;
        }
        false
    }
    fn string(&mut self, what: &str) -> Result<Vec<u8>, String> {
        match self.next() {
            Some(Tok::Atom(a)) | Some(Tok::Quoted(a)) => Ok(a.clone()),
            _ => Err(format!("expected {what}")),
        }
    }
    fn atom(&mut self, what: &str) -> Result<String, String> {
        match self.next() {
            Some(Tok::Atom(a)) => Ok(String::from_utf8_lossy(a).to_ascii_uppercase()),
            _ => Err(format!("expected {what}")),
        }
    }
    /// `( atom atom … )`, the opening parenthesis already taken.
    fn atoms(&mut self, what: &str) -> Result<Vec<String>, String> {
        let mut v = Vec::new();
        while !self.eat(&Tok::Close) {
            v.push(self.atom(what)?);
        }
        Ok(v)
    }
}

fn grammar(toks: &[Tok]) -> Result<ListExtended, String> {
    let mut c = Cur { toks, at: 0 };
    let mut selection = Selection::default();
    if c.eat(&Tok::Open) {
        for o in c.atoms("selection option")? {
            match o.as_str() {
                "SUBSCRIBED" => selection.subscribed = true,
                "REMOTE" => selection.remote = true,
                "RECURSIVEMATCH" => selection.recursive_match = true,
                "SPECIAL-USE" => selection.special_use = true,
                other => return Err(format!("unknown selection option {other}")),
            }
        }
    }
    // RFC 5258 3.1: RECURSIVEMATCH alone (or with only REMOTE) is an error.
    if selection.recursive_match && !selection.subscribed && !selection.special_use {
        return Err("RECURSIVEMATCH needs another selection option".into());
    }
    let reference = c.string("reference")?;
    let mut patterns = Vec::new();
    if c.eat(&Tok::Open) {
        while !c.eat(&Tok::Close) {
            patterns.push(c.string("mailbox pattern")?);
        }
        if patterns.is_empty() {
            return Err("empty pattern list".into());
        }
    } else {
        patterns.push(c.string("mailbox pattern")?);
    }
    let mut returns = Returns {
        subscribed: selection.subscribed,
        ..Returns::default()
    };
    if c.peek().is_some() {
        if c.atom("RETURN")? != "RETURN" || !c.eat(&Tok::Open) {
            return Err("expected RETURN (…)".into());
        }
        while !c.eat(&Tok::Close) {
            match c.atom("return option")?.as_str() {
                "SUBSCRIBED" => returns.subscribed = true,
                "CHILDREN" => returns.children = true,
                "SPECIAL-USE" => returns.special_use = true,
                "STATUS" => {
                    if !c.eat(&Tok::Open) {
                        return Err("expected STATUS (…)".into());
                    }
                    let items = c
                        .atoms("status item")?
                        .iter()
                        .map(|a| status_item(a))
                        .collect::<Result<Vec<_>, _>>()?;
                    if items.is_empty() {
                        return Err("empty STATUS list".into());
                    }
                    returns.status = Some(items);
                }
                other => return Err(format!("unknown return option {other}")),
            }
        }
        if c.peek().is_some() {
            return Err("unexpected text after RETURN options".into());
        }
    }
    Ok(ListExtended {
        selection,
        reference,
        patterns,
        returns,
    })
}

fn status_item(name: &str) -> Result<StatusDataItemName, String> {
    use StatusDataItemName as S;
    Ok(match name {
        "MESSAGES" => S::Messages,
        "RECENT" => S::Recent,
        "UIDNEXT" => S::UidNext,
        "UIDVALIDITY" => S::UidValidity,
        "UNSEEN" => S::Unseen,
        "DELETED" => S::Deleted,
        "DELETED-STORAGE" => S::DeletedStorage,
        "HIGHESTMODSEQ" => S::HighestModSeq,
        other => return Err(format!("unknown STATUS item {other}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<Result<ListExtended, String>> {
        parse(format!("{s}\r\n").as_bytes())
    }

    #[test]
    fn plain_lists_are_left_to_the_codec() {
        assert!(p("a LIST \"\" *").is_none());
        assert!(p("a LIST \"\" \"%\"").is_none());
        assert!(p("a LSUB \"\" *").is_none());
        assert!(p("a LIST \"\" {5}").is_none());
        assert!(p("a FETCH 1 (FLAGS)").is_none());
    }

    #[test]
    fn parses_selection_patterns_and_returns() {
        let l = p("a1 list (subscribed RECURSIVEMATCH) \"\" (\"INBOX\" Sent* %) RETURN (CHILDREN special-use STATUS (MESSAGES unseen HIGHESTMODSEQ))")
            .unwrap()
            .unwrap();
        assert!(l.selection.subscribed && l.selection.recursive_match);
        assert!(!l.selection.special_use);
        assert_eq!(l.reference, b"");
        assert_eq!(l.patterns, [&b"INBOX"[..], b"Sent*", b"%"]);
        assert!(l.returns.subscribed && l.returns.children && l.returns.special_use);
        assert_eq!(
            l.returns.status,
            Some(vec![
                StatusDataItemName::Messages,
                StatusDataItemName::Unseen,
                StatusDataItemName::HighestModSeq
            ])
        );
        let l = p("a2 LIST \"\" * RETURN ()").unwrap().unwrap();
        assert_eq!(l.selection, Selection::default());
        assert_eq!(l.returns, Returns::default());
        let l = p("a3 LIST () \"\" \"a\\\"b\"").unwrap().unwrap();
        assert_eq!(l.patterns, [b"a\"b".to_vec()]);
    }

    #[test]
    fn bad_extended_lists_are_errors() {
        for bad in [
            "a LIST (RECURSIVEMATCH) \"\" *",
            "a LIST (BOGUS) \"\" *",
            "a LIST \"\" () RETURN ()",
            "a LIST \"\" * RETURN (BOGUS)",
            "a LIST \"\" * RETURN (STATUS (SIZE))",
            "a LIST \"\" * RETURN (STATUS ())",
            "a LIST \"\" * RETURN (CHILDREN) extra",
            "a LIST \"\" * EXTRA (x)",
            "a LIST (SUBSCRIBED \"\" *",
        ] {
            assert!(matches!(p(bad), Some(Err(_))), "{bad}");
        }
    }
}
