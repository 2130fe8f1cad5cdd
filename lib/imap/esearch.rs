//! ESEARCH (RFC 4731): the `RETURN (MIN MAX ALL COUNT)` options of SEARCH and UID SEARCH,
//! and the `* ESEARCH (TAG "t") [UID] MIN n MAX n COUNT n ALL set` response.
//!
//! imap-codec parses SEARCH without return options, so `split_return` takes them out of the
//! command's first line (they always sit right after `SEARCH`, before any literal) and the
//! rest is parsed as a plain SEARCH. Unknown options (SAVE, PARTIAL, …) are an error for a
//! BAD. Pure functions; no I/O.

/// The result options a client asked for; all false is `RETURN ()`, which means ALL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Return {
    pub min: bool,
    pub max: bool,
    pub all: bool,
    pub count: bool,
}

/// For a command `tag [UID] SEARCH RETURN (opts) …`: the command without ` RETURN (opts)` and
/// the options (`Err` for an unknown one). `None` when the command is something else.
pub fn split_return(msg: &[u8]) -> Option<Result<(Vec<u8>, Return), String>> {
    let first_line_end = msg.iter().position(|&b| b == b'\r' || b == b'\n')?;
    let line = &msg[..first_line_end];
    let mut words = line.splitn(4, |&b| b == b' ');
    let _tag = words.next()?;
    let mut cmd = words.next()?;
    let mut at = 2;
    if cmd.eq_ignore_ascii_case(b"UID") {
        cmd = words.next()?;
        at = 3;
    }
    if !cmd.eq_ignore_ascii_case(b"SEARCH") {
        return None;
    }
    // Byte offset just after "SEARCH".
    let head: usize = line
        .split(|&b| b == b' ')
        .take(at)
        .map(|w| w.len() + 1)
        .sum::<usize>()
        - 1;
    let rest = &line[head..];
    let prefix = b" RETURN (";
    if rest.len() < prefix.len() || !rest[..prefix.len()].eq_ignore_ascii_case(prefix) {
        return None;
    }
    let Some(close) = rest.iter().position(|&b| b == b')') else {
        return Some(Err("RETURN options not closed".into()));
    };
    let opts = match parse_opts(&rest[prefix.len()..close]) {
        Ok(o) => o,
        Err(e) => return Some(Err(e)),
    };
    let mut out = msg[..head].to_vec();
    out.extend_from_slice(&msg[head + close + 1..]);
    Some(Ok((out, opts)))
}

fn parse_opts(list: &[u8]) -> Result<Return, String> {
    let mut r = Return::default();
    let text = String::from_utf8_lossy(list);
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        match word.to_ascii_uppercase().as_str() {
            "MIN" => r.min = true,
            "MAX" => r.max = true,
            "ALL" => r.all = true,
            "COUNT" => r.count = true,
            other => return Err(format!("unsupported RETURN option {other}")),
        }
    }
    if r == Return::default() {
        r.all = true;
    }
    Ok(r)
}

/// The ESEARCH response for ascending `hits` (sequence numbers or UIDs); `modseq` is
/// CONDSTORE's highest modseq of the hits (RFC 7162 3.1.5), sent when given.
pub fn response(tag: &str, uid: bool, ret: Return, hits: &[u32], modseq: Option<u64>) -> Vec<u8> {
    let mut line = String::from("* ESEARCH (TAG ");
    let mut quoted = Vec::new();
    super::reply::string(&mut quoted, tag.as_bytes());
    line.push_str(&String::from_utf8_lossy(&quoted));
    line.push(')');
    if uid {
        line.push_str(" UID");
    }
    if let (true, Some(v)) = (ret.min, hits.first()) {
        line.push_str(&format!(" MIN {v}"));
    }
    if let (true, Some(v)) = (ret.max, hits.last()) {
        line.push_str(&format!(" MAX {v}"));
    }
    if ret.count {
        line.push_str(&format!(" COUNT {}", hits.len()));
    }
    if ret.all && !hits.is_empty() {
        line.push_str(&format!(" ALL {}", compress(hits)));
    }
    if let Some(m) = modseq {
        line.push_str(&format!(" MODSEQ {m}"));
    }
    line.push_str("\r\n");
    line.into_bytes()
}

/// `1:3,7,9:10` from ascending numbers.
pub fn compress(hits: &[u32]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < hits.len() {
        let start = hits[i];
        let mut end = start;
        while i + 1 < hits.len() && hits[i + 1] == end + 1 {
            i += 1;
            end = hits[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
        i += 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Option<Result<(String, Return), String>> {
        split_return(s.as_bytes()).map(|r| r.map(|(b, o)| (String::from_utf8(b).unwrap(), o)))
    }

    #[test]
    fn splits_return_options() {
        let (cmd, o) = split("a1 SEARCH RETURN (MIN count) UNSEEN\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(cmd, "a1 SEARCH UNSEEN\r\n");
        assert!(o.min && o.count && !o.max && !o.all);
        let (cmd, o) = split("a2 uid search return () CHARSET UTF-8 TEXT {3}\r\nabc\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(cmd, "a2 uid search CHARSET UTF-8 TEXT {3}\r\nabc\r\n");
        assert!(o.all && !o.min);
        assert!(split("a3 SEARCH RETURN (SAVE) ALL\r\n").unwrap().is_err());
        assert!(split("a3 SEARCH RETURN (MIN ALL\r\n").unwrap().is_err());
        assert!(split("a4 SEARCH UNSEEN\r\n").is_none());
        assert!(split("a5 FETCH 1 FLAGS\r\n").is_none());
        assert!(split("a6 UID FETCH 1 FLAGS\r\n").is_none());
        assert!(split("a7\r\n").is_none());
    }

    #[test]
    fn responses() {
        let all = Return {
            min: true,
            max: true,
            all: true,
            count: true,
        };
        assert_eq!(
            String::from_utf8(response("a1", true, all, &[1, 2, 3, 7, 9, 10], None)).unwrap(),
            "* ESEARCH (TAG \"a1\") UID MIN 1 MAX 10 COUNT 6 ALL 1:3,7,9:10\r\n"
        );
        assert_eq!(
            String::from_utf8(response("a2", false, all, &[], Some(5))).unwrap(),
            "* ESEARCH (TAG \"a2\") COUNT 0 MODSEQ 5\r\n"
        );
    }
}
