//! A list post as it goes out: our `List-Id` (RFC 2919), `List-Post` and `List-Unsubscribe`
//! (RFC 2369) and `Precedence: list` at the top, any such fields from an earlier list
//! removed, the rest of the message byte for byte. Also the loop test: a message that
//! already carries this list's `List-Id` is not exploded again.
//! Pure functions over message bytes (CRLF, as the spool stores them); never fails.

/// Header fields a list replaces.
const REPLACED: [&str; 8] = [
    "list-id",
    "list-post",
    "list-unsubscribe",
    "list-subscribe",
    "list-help",
    "list-owner",
    "list-archive",
    "precedence",
];

/// `<local.domain>` for `local@domain` (RFC 2919 list identifier).
pub fn list_id(list: &str) -> String {
    format!("<{}>", list.to_lowercase().replacen('@', ".", 1))
}

/// The header fields a post gets.
pub fn headers(list: &str) -> String {
    let request = super::request_address(list);
    format!(
        "List-Id: {}\r\nList-Post: <mailto:{list}>\r\n\
         List-Unsubscribe: <mailto:{request}?subject=unsubscribe>\r\nPrecedence: list\r\n",
        list_id(list)
    )
}

/// The message as the members get it.
pub fn prepare(message: &[u8], list: &str) -> Vec<u8> {
    let (fields, body_at) = fields(message);
    let mut out = headers(list).into_bytes();
    for (name, range) in fields {
        if !REPLACED.contains(&name.to_ascii_lowercase().as_str()) {
            out.extend_from_slice(&message[range]);
        }
    }
    out.extend_from_slice(&message[body_at..]);
    out
}

/// True when some `List-Id:` field names this list.
pub fn carries_list_id(message: &[u8], list: &str) -> bool {
    let id = list_id(list);
    let (fields, _) = fields(message);
    fields.into_iter().any(|(name, range)| {
        name.eq_ignore_ascii_case("list-id")
            && String::from_utf8_lossy(&message[range])
                .to_lowercase()
                .contains(&id)
    })
}

/// Header fields (name, byte range including continuation lines and line end) and where
/// the blank line before the body starts (or the end, with no body).
pub fn fields(message: &[u8]) -> (Vec<(String, std::ops::Range<usize>)>, usize) {
    let mut out: Vec<(String, std::ops::Range<usize>)> = Vec::new();
    let mut at = 0;
    while at < message.len() {
        let end = message[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(message.len(), |p| at + p + 1);
        let line = &message[at..end];
        if line == b"\r\n" || line == b"\n" {
            return (out, at);
        }
        match (line.first(), out.last_mut()) {
            (Some(b' ' | b'\t'), Some(last)) => last.1.end = end,
            _ => {
                let name = line
                    .iter()
                    .position(|&b| b == b':')
                    .map(|p| String::from_utf8_lossy(&line[..p]).trim().to_string())
                    .unwrap_or_default();
                out.push((name, at..end));
            }
        }
        at = end;
    }
    (out, message.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_ours_and_drops_theirs() {
        let msg = b"Received: x\r\nList-Id: other\r\n <other.list>\r\nSubject: hi\r\nPrecedence: bulk\r\n\r\nList-Id: body\r\n";
        let out = String::from_utf8(prepare(msg, "Team@example.test")).unwrap();
        assert!(
            out.starts_with(
                "List-Id: <team.example.test>\r\nList-Post: <mailto:Team@example.test>\r\n"
            ),
            "{out}"
        );
        assert!(out.contains(
            "List-Unsubscribe: <mailto:Team-request@example.test?subject=unsubscribe>\r\n"
        ));
        assert!(
            out.contains("Received: x\r\nSubject: hi\r\n\r\nList-Id: body\r\n"),
            "{out}"
        );
        assert!(!out.contains("other"));
        assert!(!out.contains("bulk"));
        assert!(carries_list_id(out.as_bytes(), "team@example.test"));
        assert!(!carries_list_id(msg, "team@example.test"));
        assert!(!carries_list_id(
            b"Subject: x\r\n\r\nList-Id: <team.example.test>\r\n",
            "team@example.test"
        ));
    }

    #[test]
    fn header_only_message() {
        let (f, body) = fields(b"Subject: a\r\n b\r\nX: y");
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].1, 0..16);
        assert_eq!(body, 20);
    }
}
