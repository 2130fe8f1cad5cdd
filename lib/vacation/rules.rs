//! RFC 3834 section 2: when an automatic reply must not be sent. Pure decision over the
//! envelope sender and the message header; the reason is logged when it says no.
//! Never reply to: the null sender; `Auto-Submitted` other than `no`; `Precedence: bulk`,
//! `list` or `junk`; any `List-*` field; `X-Auto-Response-Suppress: All|OOF`; system and
//! list-robot senders (`MAILER-DAEMON`, `postmaster`, `owner-…`, `…-request`, `…-bounces`,
//! `…-owner`, `listserv`, `majordomo`, `noreply`); the user themself; a message whose `To:`
//! or `Cc:` does not name one of the user's addresses (Bcc, lists, forwards).

use mail_parser::MessageParser;

/// `Ok(())` when a reply may go; otherwise why not.
pub fn may_reply(sender: &str, header: &[u8], own: &[&str]) -> Result<(), String> {
    if sender.is_empty() {
        return Err("null sender".into());
    }
    if own.iter().any(|a| a.eq_ignore_ascii_case(sender)) {
        return Err("sender is the user".into());
    }
    robot_sender(sender)?;
    let Some(msg) = MessageParser::default().parse_headers(header) else {
        return Err("unparsable header".into());
    };
    for (name, value) in msg.headers_raw() {
        let v = value.trim().to_ascii_lowercase();
        match name.to_ascii_lowercase().as_str() {
            "auto-submitted" if first_token(&v) != "no" => {
                return Err(format!("Auto-Submitted: {v}"));
            }
            "precedence" if ["bulk", "list", "junk"].contains(&v.as_str()) => {
                return Err(format!("Precedence: {v}"));
            }
            "x-auto-response-suppress" if v.contains("all") || v.contains("oof") => {
                return Err("X-Auto-Response-Suppress".into());
            }
            n if n.starts_with("list-") => return Err(format!("list header {name} present")),
            _ => {}
        }
    }
    let named = msg
        .all_to()
        .chain(msg.all_cc())
        .flat_map(|a| a.iter())
        .filter_map(|a| a.address())
        .any(|a| own.iter().any(|o| o.eq_ignore_ascii_case(a)));
    if !named {
        return Err("user not named in To: or Cc:".into());
    }
    Ok(())
}

/// `no` of `no (comment)` or `no; x=y`.
fn first_token(v: &str) -> &str {
    v.split(|c: char| c == ';' || c == '(' || c.is_whitespace())
        .next()
        .unwrap_or("")
}

fn robot_sender(sender: &str) -> Result<(), String> {
    let local = sender
        .rsplit_once('@')
        .map_or(sender, |(l, _)| l)
        .to_ascii_lowercase();
    let exact = [
        "mailer-daemon",
        "postmaster",
        "listserv",
        "majordomo",
        "noreply",
        "no-reply",
    ];
    let robot = exact.contains(&local.as_str())
        || local.starts_with("owner-")
        || local.ends_with("-request")
        || local.ends_with("-bounces")
        || local.ends_with("-owner")
        || local.starts_with("srs0=") && local.contains("mailer-daemon");
    if robot {
        return Err(format!("automated sender {sender}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &[&str] = &["demo@example.test", "info@example.test"];

    fn check(sender: &str, header: &str) -> Result<(), String> {
        may_reply(sender, header.as_bytes(), OWN)
    }

    #[test]
    fn replies_to_a_person_writing_to_the_user() {
        assert!(check(
            "bob@remote.test",
            "To: Demo <DEMO@example.test>\r\nSubject: x\r\n\r\n"
        )
        .is_ok());
        assert!(check(
            "bob@remote.test",
            "To: a@b.test\r\nCc: info@example.test\r\n\r\n"
        )
        .is_ok());
        assert!(check(
            "bob@remote.test",
            "Auto-Submitted: no\r\nTo: demo@example.test\r\n\r\n"
        )
        .is_ok());
    }

    #[test]
    fn refuses_what_rfc_3834_forbids() {
        let to = "To: demo@example.test\r\n";
        for (sender, extra) in [
            ("", ""),
            ("demo@example.test", ""),
            ("MAILER-DAEMON@remote.test", ""),
            ("owner-list@remote.test", ""),
            ("list-request@remote.test", ""),
            ("list-bounces@remote.test", ""),
            ("bob@remote.test", "Auto-Submitted: auto-replied\r\n"),
            ("bob@remote.test", "Auto-Submitted: auto-generated\r\n"),
            ("bob@remote.test", "Auto-Submitted: nothanks\r\n"),
            ("bob@remote.test", "Precedence: bulk\r\n"),
            ("bob@remote.test", "Precedence: List\r\n"),
            ("bob@remote.test", "Precedence: junk\r\n"),
            ("bob@remote.test", "List-Id: <a.b>\r\n"),
            ("bob@remote.test", "List-Unsubscribe: <mailto:x@y>\r\n"),
            ("bob@remote.test", "X-Auto-Response-Suppress: OOF\r\n"),
        ] {
            let h = format!("{extra}{to}\r\n");
            assert!(check(sender, &h).is_err(), "{sender} {extra}");
        }
        assert!(check(
            "bob@remote.test",
            "To: someone@else.test\r\nBcc: demo@example.test\r\n\r\n"
        )
        .is_err());
    }
}
