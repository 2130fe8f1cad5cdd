//! Every reply smtpd's policy checks give (lists, DNSBL, DMARC, rate limits), in one place
//! beside the protocol's own replies in `smtp::reply`, so 554 versus 451 is decided here once.

use crate::smtp::reply::Reply;

/// Connect: the client IP is on the block list (RFC 5321 3.1: 554 instead of 220).
pub fn client_blocked(host: &str, ip: &str) -> Reply {
    Reply::new(
        554,
        format!("5.7.1 {host} Service unavailable; client [{ip}] blocked by local policy"),
    )
}

/// Connect: a DNS block list names the client.
pub fn client_dnsbl(host: &str, ip: &str, zone: &str) -> Reply {
    Reply::new(
        554,
        format!("5.7.1 {host} Service unavailable; client [{ip}] listed by {zone}"),
    )
}

/// After a 554 greeting, any command but QUIT (RFC 5321 3.1).
pub fn no_service() -> Reply {
    Reply::new(503, "5.5.1 No SMTP service here")
}

/// MAIL: the sender is on the block list.
pub fn sender_blocked(sender: &str) -> Reply {
    Reply::new(
        550,
        format!("5.7.1 Sender <{sender}> blocked by local policy"),
    )
}

/// RCPT: the recipient's own block list names the sender or client.
pub fn recipient_blocks(rcpt: &str) -> Reply {
    Reply::new(
        550,
        format!("5.7.1 <{rcpt}> does not accept mail from this sender"),
    )
}

/// After DATA: DMARC failed and the From domain asks for rejection.
pub fn dmarc_reject(domain: &str) -> Reply {
    Reply::new(
        550,
        format!("5.7.1 Message rejected: DMARC policy of {domain} says reject"),
    )
}

/// MAIL: the client or user sent its hourly allowance of messages.
pub fn too_many_messages(who: &str, limit: u32) -> Reply {
    Reply::new(
        451,
        format!("4.7.1 Rate limit: {who} may send {limit} messages per hour, try later"),
    )
}

/// RCPT: the client or user reached its hourly allowance of recipients.
pub fn too_many_recipients(who: &str, limit: u32) -> Reply {
    Reply::new(
        451,
        format!("4.7.1 Rate limit: {who} may send to {limit} recipients per hour, try later"),
    )
}

/// A post to a members-only list from someone who is not a member.
pub fn list_members_only(list: &str) -> Reply {
    Reply::new(
        550,
        format!("5.7.1 <{list}>: only members may post to this list"),
    )
}
