//! Every POP3 status line the server sends, in one place, with the RFC 2449 / RFC 3206
//! response codes: `[AUTH]` (credentials), `[SYS/TEMP]` (try later), `[SYS/PERM]` (will not
//! work), `[IN-USE]` (mailbox held by another POP3 session). Each function returns the whole
//! line with CRLF.

pub fn ok(text: &str) -> String {
    format!("+OK {text}\r\n")
}

pub fn err(text: &str) -> String {
    format!("-ERR {text}\r\n")
}

pub fn greeting(hostname: &str) -> String {
    ok(&format!("{hostname} POP3 server ready"))
}

pub fn unknown_command() -> String {
    err("Unknown command")
}

pub fn syntax(what: &str) -> String {
    err(&format!("Syntax error: {what}"))
}

pub fn line_too_long() -> String {
    err("Line too long")
}

pub fn too_many_errors() -> String {
    err("[SYS/PERM] Too many errors, closing connection")
}

pub fn wrong_state() -> String {
    err("Command not valid in this state")
}

pub fn need_user() -> String {
    err("USER first")
}

pub fn user_accepted() -> String {
    ok("Send PASS")
}

pub fn plaintext_refused() -> String {
    err("[AUTH] Plaintext authentication disallowed on non-secure connections; use STLS first")
}

pub fn auth_failed() -> String {
    err("[AUTH] Authentication failed")
}

pub fn auth_cancelled() -> String {
    err("[AUTH] Authentication cancelled")
}

pub fn auth_bad_base64() -> String {
    err("[AUTH] Invalid base64 data")
}

pub fn auth_mechanism_unknown() -> String {
    err("[AUTH] Unsupported authentication mechanism")
}

pub fn auth_continue() -> String {
    "+ \r\n".to_string()
}

pub fn in_use() -> String {
    err("[IN-USE] Mailbox locked by another POP3 session")
}

pub fn temp_failure(what: &str) -> String {
    err(&format!("[SYS/TEMP] {what}"))
}

pub fn logged_in(count: usize, octets: u64) -> String {
    ok(&format!("Logged in, {count} messages ({octets} octets)"))
}

pub fn no_such_message() -> String {
    err("No such message")
}

pub fn already_deleted() -> String {
    err("Message already deleted")
}

pub fn stls_unavailable() -> String {
    err("STLS not available")
}

pub fn stls_already() -> String {
    err("TLS already active")
}

pub fn stls_go() -> String {
    ok("Begin TLS negotiation")
}

pub fn message_gone() -> String {
    err("[SYS/PERM] Message was removed by another session")
}

pub fn bye() -> String {
    ok("Bye")
}

pub fn idle_timeout() -> String {
    err("[SYS/TEMP] Autologout; idle for too long")
}

pub fn not_all_deleted(failed: usize) -> String {
    err(&format!(
        "[SYS/TEMP] {failed} messages could not be deleted, try again"
    ))
}
