//! spam-scan's header block on the message: written on top (`with_headers`), recognised
//! there again (`already_marked`, `read_ours`: only a block that starts the message and
//! names our host counts, so a sender cannot forge a verdict), and copies of our fields from
//! elsewhere removed before scanning (`strip_incoming`). Pure byte work; never fails.

use super::verdict::{Verdict, HEADER};

/// Fields only spam-scan may write; incoming copies are removed.
pub const OURS: &[&str] = &[HEADER, "X-Spam-Score", "X-Spam-Status", "X-Spam-Flag"];

/// What our block at the top of a message says.
#[derive(Debug, Clone, PartialEq)]
pub struct Ours {
    pub verdict: Verdict,
    pub virus: Option<String>,
    pub score: Option<f64>,
    /// `X-Spam-Status: Yes, …`.
    pub spam: bool,
}

/// True when the message starts with our `X-Spam-Scan:` from `hostname` (a rescan after a
/// crash between rewriting the message and moving it on).
pub fn already_marked(message: &[u8], hostname: &str) -> bool {
    let prefix = format!("{HEADER}: {hostname};");
    message.len() >= prefix.len() && message[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// Reads our block at the top of the message: the `X-Spam-Scan` field naming `hostname`
/// first, then the `X-Spam-*` fields right below it. `None` when the message does not start
/// with it.
pub fn read_ours(message: &[u8], hostname: &str) -> Option<Ours> {
    if !already_marked(message, hostname) {
        return None;
    }
    let mut fields = fields(message);
    let (_, scan) = fields.next()?;
    let params: Vec<(&str, &str)> = scan
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .collect();
    let param = |k: &str| params.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    let mut ours = Ours {
        verdict: Verdict::parse(param("verdict")?)?,
        virus: param("virus").map(str::to_string),
        score: None,
        spam: false,
    };
    for (name, value) in fields.take_while(|(n, _)| n.to_ascii_lowercase().starts_with("x-spam-")) {
        if name.eq_ignore_ascii_case("X-Spam-Score") {
            ours.score = value.trim().parse().ok();
        } else if name.eq_ignore_ascii_case("X-Spam-Status") {
            ours.spam = value.trim_start().starts_with("Yes");
        }
    }
    Some(ours)
}

/// The header fields of the header section, unfolded, as (name, value) strings.
fn fields(message: &[u8]) -> impl Iterator<Item = (String, String)> + '_ {
    let text = String::from_utf8_lossy(header_bytes(message));
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((n, v)) = line.split_once(':') {
            out.push((n.trim().to_string(), v.trim().to_string()));
        } else {
            break;
        }
    }
    out.into_iter()
}

/// The header section, without the blank line.
fn header_bytes(message: &[u8]) -> &[u8] {
    &message[..header_end(message)]
}

/// Offset of the blank line ending the header section (or the message length).
fn header_end(message: &[u8]) -> usize {
    let mut start = 0;
    while start < message.len() {
        let end = message[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(message.len(), |i| start + i + 1);
        let line = &message[start..end];
        if line == b"\n" || line == b"\r\n" {
            return start;
        }
        start = end;
    }
    message.len()
}

/// The message without any of `OURS`, nor an `Authentication-Results` claiming `hostname`
/// as its authserv-id (RFC 8601 section 5), in its header section (continuation lines
/// included). `None` when there was nothing to remove.
pub fn strip_incoming(message: &[u8], hostname: &str) -> Option<Vec<u8>> {
    let end = header_end(message);
    let mut out = Vec::with_capacity(message.len());
    let mut skipping = false;
    let mut removed = false;
    let mut start = 0;
    while start < end {
        let stop = message[start..end]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(end, |i| start + i + 1);
        let line = &message[start..stop];
        let continuation = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !continuation {
            skipping = is_ours(line) || claims(line, hostname);
        }
        if skipping {
            removed = true;
        } else {
            out.extend_from_slice(line);
        }
        start = stop;
    }
    out.extend_from_slice(&message[end..]);
    removed.then_some(out)
}

fn is_ours(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return false;
    };
    let name = String::from_utf8_lossy(&line[..colon]);
    OURS.iter().any(|o| o.eq_ignore_ascii_case(name.trim()))
}

/// An `Authentication-Results:` line whose authserv-id is `hostname`.
fn claims(line: &[u8], hostname: &str) -> bool {
    let text = String::from_utf8_lossy(line);
    let Some((name, value)) = text.split_once(':') else {
        return false;
    };
    let id = value
        .trim_start()
        .split(|c: char| c == ';' || c.is_whitespace())
        .next()
        .unwrap_or("");
    name.trim().eq_ignore_ascii_case(crate::authres::HEADER) && id.eq_ignore_ascii_case(hostname)
}

/// The message with the verdict in our top block changed to `released` (so local-deliver
/// files it into the inbox). `None` when the message has no block of ours at the top.
pub fn mark_released(message: &[u8], hostname: &str) -> Option<Vec<u8>> {
    if !already_marked(message, hostname) {
        return None;
    }
    let eol = message.iter().position(|&b| b == b'\n')?;
    let first = String::from_utf8_lossy(&message[..eol]);
    let params: Vec<String> = first
        .split(';')
        .map(|p| match p.trim().starts_with("verdict=") {
            true => " verdict=released".to_string(),
            false => p.to_string(),
        })
        .collect();
    let mut out = params.join(";").into_bytes();
    out.extend_from_slice(&message[eol..]);
    Some(out)
}

/// The message with the fields prepended, using the message's own line ending.
pub fn with_headers(message: &[u8], fields: &[(String, String)]) -> Vec<u8> {
    let eol: &[u8] = match message.iter().position(|&b| b == b'\n') {
        Some(i) if i > 0 && message[i - 1] == b'\r' => b"\r\n",
        Some(_) => b"\n",
        None => b"\r\n",
    };
    let mut out = Vec::with_capacity(message.len() + 256);
    for (name, value) in fields {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        // Folded values (CRLF + tab) take the message's own line ending.
        for (i, part) in value.split("\r\n").enumerate() {
            if i > 0 {
                out.extend_from_slice(eol);
            }
            out.extend_from_slice(part.as_bytes());
        }
        out.extend_from_slice(eol);
    }
    out.extend_from_slice(message);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_reads_back_only_at_the_top_and_for_our_host() {
        let fields = vec![
            (HEADER.to_string(), "h; parts=1; verdict=junk".to_string()),
            ("X-Spam-Score".to_string(), "6.0".to_string()),
            (
                "X-Spam-Status".to_string(),
                "Yes, score=6.0 required=5.0 tests=GTUBE".to_string(),
            ),
        ];
        let msg = with_headers(b"Subject: x\r\n\r\nbody\r\n", &fields);
        let ours = read_ours(&msg, "h").unwrap();
        assert_eq!(ours.verdict, Verdict::Junk);
        assert_eq!(ours.score, Some(6.0));
        assert!(ours.spam);
        assert_eq!(read_ours(&msg, "other"), None);
        let mut later = b"Received: x\r\n".to_vec();
        later.extend_from_slice(&msg);
        assert_eq!(read_ours(&later, "h"), None);
    }

    #[test]
    fn release_rewrites_only_the_verdict() {
        let msg = b"X-Spam-Scan: h; parts=1; verdict=virus; virus=E\r\nX-Spam-Status: Yes, score=0.0\r\n\r\nx\r\n";
        let out = mark_released(msg, "h").unwrap();
        assert_eq!(
            out,
            b"X-Spam-Scan: h; parts=1; verdict=released; virus=E\r\nX-Spam-Status: Yes, score=0.0\r\n\r\nx\r\n"
        );
        assert_eq!(read_ours(&out, "h").unwrap().verdict, Verdict::Released);
        assert_eq!(mark_released(b"Subject: x\r\n\r\n", "h"), None);
    }

    #[test]
    fn virus_name_reads_back() {
        let msg =
            b"X-Spam-Scan: h; parts=1; verdict=virus; virus=Eicar-Test\nX-Spam-Score: 0.0\n\nx\n";
        let ours = read_ours(msg, "h").unwrap();
        assert_eq!(
            (ours.verdict, ours.virus.as_deref()),
            (Verdict::Virus, Some("Eicar-Test"))
        );
    }

    #[test]
    fn strips_forged_fields_with_continuations_but_not_in_the_body() {
        let msg = b"Received: a\r\nX-Spam-Status: Yes,\r\n\tscore=99\r\nSubject: s\r\nx-spam-flag: YES\r\nAuthentication-Results: H;\r\n\tspf=pass\r\nAuthentication-Results: other; spf=fail\r\n\r\nX-Spam-Status: body\r\n";
        let out = strip_incoming(msg, "h").unwrap();
        assert_eq!(
            out,
            b"Received: a\r\nSubject: s\r\nAuthentication-Results: other; spf=fail\r\n\r\nX-Spam-Status: body\r\n"
        );
        assert_eq!(
            strip_incoming(b"Subject: s\n\nX-Spam-Score: 1\n", "h"),
            None
        );
    }
}
