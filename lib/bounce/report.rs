//! Builds one delivery status notification: an RFC 3464 `multipart/report;
//! report-type=delivery-status` with a human-readable part, the `message/delivery-status`
//! part (per-message fields, then one group per recipient) and the returned message
//! (`message/rfc822`) or its header (`text/rfc822-headers`). Pure: bytes in, bytes out.
//!
//! Written by hand rather than with mail-builder: the report's layout is fixed by the RFC,
//! its middle part is a field list no builder models, and the returned message must go in
//! byte for byte (no re-encoding, no re-folding); all that is left is joining lines, which
//! is all this file does. Every value taken from the envelope is stripped of CR and LF, so
//! nothing a client sent can add a header or a part.

use crate::spool::{Envelope, Recipient};

/// Which notification this is (RFC 3464 2.3.3 `Action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Failed,
    Delayed,
    Delivered,
}

impl Kind {
    fn action(self) -> &'static str {
        match self {
            Kind::Failed => "failed",
            Kind::Delayed => "delayed",
            Kind::Delivered => "delivered",
        }
    }

    fn default_status(self) -> &'static str {
        match self {
            Kind::Failed => "5.0.0",
            Kind::Delayed => "4.0.0",
            Kind::Delivered => "2.0.0",
        }
    }

    fn subject(self) -> &'static str {
        match self {
            Kind::Failed => "Undelivered Mail Returned to Sender",
            Kind::Delayed => "Delayed Mail (still being retried)",
            Kind::Delivered => "Successful Mail Delivery Report",
        }
    }

    fn explanation(self) -> &'static str {
        match self {
            Kind::Failed => {
                "I'm sorry to have to inform you that your message could not\r\n\
                 be delivered to one or more recipients. It's attached below.\r\n"
            }
            Kind::Delayed => {
                "This is just a warning: your message could not yet be delivered\r\n\
                 to one or more recipients. Delivery will be retried; you do not\r\n\
                 need to resend the message.\r\n"
            }
            Kind::Delivered => {
                "Your message was successfully delivered to the destination(s)\r\n\
                 listed below.\r\n"
            }
        }
    }
}

/// What goes in the third part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Full,
    Headers,
}

/// Everything one report says.
pub struct Report<'a> {
    pub kind: Kind,
    /// Our host name (Reporting-MTA, From: MAILER-DAEMON@…).
    pub hostname: &'a str,
    /// Who the report goes to (the original sender, or the postmaster).
    pub to: &'a str,
    pub env: &'a Envelope,
    /// The recipients reported on, each with its Original-Recipient (ORCPT) if known.
    pub recipients: Vec<(&'a Recipient, Option<String>)>,
    /// `Date:` text (RFC 5322) and the Arrival-Date text.
    pub date: &'a str,
    pub arrival_date: &'a str,
    pub message_id: &'a str,
    /// Multipart boundary; must not occur in `original` (see `boundary_ok`).
    pub boundary: &'a str,
    pub returned: Returned,
}

/// The header block of a message (up to and including the blank line, or all of it).
pub fn header_of(message: &[u8]) -> &[u8] {
    for (i, w) in message.windows(2).enumerate() {
        if w == b"\n\n" {
            return &message[..i + 2];
        }
        if w == b"\n\r" && message.get(i + 2) == Some(&b'\n') {
            return &message[..i + 3];
        }
    }
    message
}

/// True when `boundary` cannot be mistaken for a delimiter inside `content`.
pub fn boundary_ok(boundary: &str, content: &[u8]) -> bool {
    let b = boundary.as_bytes();
    !content.windows(b.len()).any(|w| w == b)
}

/// One line of text with CR, LF and other control characters replaced by spaces.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The enhanced status code in a reply (`550 5.1.1 …` → `5.1.1`), if any.
pub fn status_of(reply: &str) -> Option<&str> {
    reply.split_whitespace().take(3).find(|w| {
        let parts: Vec<&str> = w.split('.').collect();
        parts.len() == 3
            && matches!(parts[0], "2" | "4" | "5")
            && parts[1..]
                .iter()
                .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit()))
    })
}

/// The RFC 3464 address type for an address: `utf-8` for non-ASCII (RFC 6533).
fn typed(addr: &str) -> String {
    let kind = if addr.is_ascii() { "rfc822" } else { "utf-8" };
    format!("{kind};{}", clean(addr))
}

/// The whole report, ready to commit.
pub fn build(r: &Report<'_>, original: &[u8]) -> Vec<u8> {
    let returned: &[u8] = match r.returned {
        Returned::Full => original,
        Returned::Headers => header_of(original),
    };
    let eight_bit = !returned.is_ascii();
    let mut out = String::new();
    let h = |out: &mut String, name: &str, value: &str| {
        out.push_str(&format!("{name}: {}\r\n", clean(value)));
    };
    h(
        &mut out,
        "From",
        &format!("Mail Delivery System <MAILER-DAEMON@{}>", r.hostname),
    );
    h(&mut out, "To", &format!("<{}>", r.to));
    h(&mut out, "Subject", r.kind.subject());
    h(&mut out, "Date", r.date);
    h(&mut out, "Message-ID", r.message_id);
    h(&mut out, "Auto-Submitted", "auto-replied");
    h(&mut out, "MIME-Version", "1.0");
    out.push_str(&format!(
        "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{}\"\r\n",
        r.boundary
    ));
    if eight_bit {
        h(&mut out, "Content-Transfer-Encoding", "8bit");
    }
    out.push_str("\r\nThis is a MIME-encapsulated message.\r\n\r\n");
    human_part(&mut out, r);
    status_part(&mut out, r);
    out.push_str(&format!("--{}\r\n", r.boundary));
    let (desc, ctype) = match (r.kind, r.returned) {
        (_, Returned::Headers) => ("Message Headers", "text/rfc822-headers"),
        (Kind::Failed, Returned::Full) => ("Undelivered Message", "message/rfc822"),
        (_, Returned::Full) => ("Message", "message/rfc822"),
    };
    h(&mut out, "Content-Description", desc);
    h(&mut out, "Content-Type", ctype);
    if eight_bit {
        h(&mut out, "Content-Transfer-Encoding", "8bit");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(returned);
    if !returned.ends_with(b"\n") {
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(format!("\r\n--{}--\r\n", r.boundary).as_bytes());
    bytes
}

fn human_part(out: &mut String, r: &Report<'_>) {
    out.push_str(&format!(
        "--{}\r\nContent-Description: Notification\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
        r.boundary
    ));
    out.push_str(&format!(
        "This is the mail system at host {}.\r\n\r\n{}\r\n",
        clean(r.hostname),
        r.kind.explanation()
    ));
    out.push_str("For further assistance, please send mail to postmaster.\r\n\r\n");
    for (rcpt, _) in &r.recipients {
        let why = rcpt.reply.as_deref().unwrap_or(r.kind.action());
        out.push_str(&format!("<{}>: {}\r\n", clean(&rcpt.address), clean(why)));
    }
    out.push_str("\r\n");
}

fn status_part(out: &mut String, r: &Report<'_>) {
    out.push_str(&format!(
        "--{}\r\nContent-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n",
        r.boundary
    ));
    out.push_str(&format!("Reporting-MTA: dns; {}\r\n", clean(r.hostname)));
    out.push_str(&format!("X-Queue-ID: {}\r\n", clean(&r.env.id)));
    if let Some(envid) = &r.env.envid {
        out.push_str(&format!("Original-Envelope-Id: {}\r\n", clean(envid)));
    }
    if !r.env.sender.is_empty() {
        out.push_str(&format!("X-Original-Sender: {}\r\n", typed(&r.env.sender)));
    }
    out.push_str(&format!("Arrival-Date: {}\r\n", clean(r.arrival_date)));
    for (rcpt, orcpt) in &r.recipients {
        out.push_str("\r\n");
        out.push_str(&format!("Final-Recipient: {}\r\n", typed(&rcpt.address)));
        if let Some(o) = orcpt {
            out.push_str(&format!("Original-Recipient: {}\r\n", clean(o)));
        }
        out.push_str(&format!("Action: {}\r\n", r.kind.action()));
        let reply = rcpt.reply.as_deref().unwrap_or("");
        let status = status_of(reply).unwrap_or(r.kind.default_status());
        out.push_str(&format!("Status: {status}\r\n"));
        if reply.len() >= 3 && reply.as_bytes()[..3].iter().all(u8::is_ascii_digit) {
            out.push_str(&format!("Diagnostic-Code: smtp; {}\r\n", clean(reply)));
        } else if !reply.is_empty() {
            out.push_str(&format!("Diagnostic-Code: X-Local; {}\r\n", clean(reply)));
        }
    }
    out.push_str("\r\n");
}
