//! Session tests: each script is fed whole, per line and one byte at a time, and must give
//! the same output and events every way.

use super::*;

fn settings() -> Settings {
    Settings {
        starttls: true,
        tls_active: false,
        plaintext_auth: true,
        max_command_size: 1000,
        max_errors: 5,
    }
}

/// Runs `input` through a session, answering every Login with `ok` for user "u"/"p" and
/// every other command with `tag OK`. Returns the output and the event names.
fn run(input: &[u8], chunks: &[usize], s: Settings) -> (String, Vec<String>) {
    let mut sess = Session::new(s, "ready");
    let mut out = sess.take_output();
    let mut events = Vec::new();
    let mut pos = 0;
    let mut ci = 0;
    loop {
        match sess.next_event() {
            Event::NeedInput => {
                out.extend(sess.take_output());
                if pos >= input.len() {
                    break;
                }
                let n = chunks
                    .get(ci)
                    .copied()
                    .unwrap_or(input.len())
                    .min(input.len() - pos);
                ci += 1;
                sess.feed(&input[pos..pos + n]);
                pos += n;
            }
            Event::Login {
                tag,
                user,
                password,
            } => {
                events.push(format!("login {user}"));
                sess.login_result(&tag, user == "u" && password == "p");
            }
            Event::StartTls => {
                events.push("starttls".into());
                sess.tls_started();
            }
            Event::Command { tag, body, esearch } => {
                match esearch {
                    Some(r) => events.push(format!("cmd {} {r:?}", body.name())),
                    None => events.push(format!("cmd {}", body.name())),
                }
                if body.name() == "SELECT" {
                    sess.select_done(Some(false));
                }
                sess.write(format!("{tag} OK done\r\n").as_bytes());
            }
            Event::ListExtended { tag, list } => {
                events.push(format!("list-ext {}", list.patterns.len()));
                sess.write(format!("{tag} OK done\r\n").as_bytes());
            }
            Event::Idle => events.push("idle".into()),
            Event::Close => {
                events.push("close".into());
                break;
            }
        }
    }
    out.extend(sess.take_output());
    (String::from_utf8_lossy(&out).into_owned(), events)
}

/// Feeds whole, per line, and byte by byte; all three must agree.
fn every_split(input: &str, s: Settings) -> (String, Vec<String>) {
    let b = input.as_bytes();
    let whole = run(b, &[b.len()], s.clone());
    let lines: Vec<usize> = input.split_inclusive('\n').map(str::len).collect();
    assert_eq!(run(b, &lines, s.clone()), whole, "per line");
    assert_eq!(run(b, &vec![1; b.len()], s), whole, "byte by byte");
    whole
}

#[test]
fn greeting_capability_login_logout() {
    let (out, ev) = every_split(
        "a1 CAPABILITY\r\na2 LOGIN u p\r\na3 SELECT INBOX\r\na4 LOGOUT\r\n",
        settings(),
    );
    assert!(out.starts_with("* OK [CAPABILITY IMAP4rev1 "), "{out}");
    assert!(out.contains("* CAPABILITY IMAP4rev1 ") && out.contains("AUTH=PLAIN"));
    assert!(out.contains("a2 OK [CAPABILITY ") && out.contains("UIDPLUS"));
    assert!(out.contains("a3 OK done") && out.contains("* BYE") && out.contains("a4 OK"));
    assert_eq!(ev, ["login u", "cmd SELECT", "close"]);
}

#[test]
fn state_rules_are_enforced() {
    let (out, ev) = every_split(
        "a1 SELECT INBOX\r\na2 FETCH 1 FLAGS\r\na3 NOOP\r\n",
        settings(),
    );
    assert!(out.contains("a3 OK NOOP"), "{out}");
    assert!(out.contains("a1 BAD SELECT not allowed now"), "{out}");
    assert!(out.contains("a2 BAD FETCH not allowed now"), "{out}");
    assert!(ev.is_empty());
    let (out, _) = every_split("a1 LOGIN u p\r\na2 FETCH 1 FLAGS\r\n", settings());
    assert!(out.contains("a2 BAD FETCH not allowed now"), "{out}");
}

#[test]
fn login_disabled_without_tls() {
    let s = Settings {
        plaintext_auth: false,
        ..settings()
    };
    let (out, ev) = every_split("a1 LOGIN u p\r\na2 AUTHENTICATE PLAIN AHUAcA==\r\n", s);
    assert!(out.contains("LOGINDISABLED") && !out.contains("AUTH=PLAIN"));
    assert!(out.contains("a1 NO [PRIVACYREQUIRED]") && out.contains("a2 NO [PRIVACYREQUIRED]"));
    assert!(ev.is_empty());
}

#[test]
fn authenticate_plain_with_and_without_initial_response() {
    let (out, ev) = every_split("a1 AUTHENTICATE PLAIN AHUAcA==\r\n", settings());
    assert!(out.contains("a1 OK [CAPABILITY"), "{out}");
    assert_eq!(ev, ["login u"]);
    let (out, ev) = every_split("a1 AUTHENTICATE PLAIN\r\nAHUAeA==\r\n", settings());
    assert!(
        out.contains("+ \r\n") && out.contains("a1 NO [AUTHENTICATIONFAILED]"),
        "{out}"
    );
    assert_eq!(ev, ["login u"]);
    let (out, _) = every_split("a1 AUTHENTICATE PLAIN\r\n*\r\n", settings());
    assert!(out.contains("a1 BAD authentication cancelled"), "{out}");
}

#[test]
fn synchronising_literal_gets_continuation_literal_plus_does_not() {
    let (out, ev) = every_split(
        "a1 LOGIN {1}\r\nu {1}\r\np\r\na2 APPEND INBOX {5+}\r\nhello\r\n",
        settings(),
    );
    assert_eq!(out.matches("+ go ahead\r\n").count(), 2, "{out}");
    assert_eq!(ev, ["login u", "cmd APPEND"]);
}

#[test]
fn oversized_literal_refused_and_session_goes_on() {
    let (out, ev) = every_split(
        "a1 LOGIN u p\r\na2 APPEND INBOX {5000}\r\na3 NOOP\r\n",
        settings(),
    );
    assert!(out.contains("a2 NO [TOOBIG]"), "{out}");
    assert!(!out.contains("+ go ahead"));
    assert_eq!(ev, ["login u", "cmd NOOP"]);
}

#[test]
fn big_literal_before_login_refused() {
    let s = Settings {
        max_command_size: 100_000,
        ..settings()
    };
    let (out, ev) = every_split("a1 LOGIN {9000}\r\na2 NOOP\r\n", s);
    assert!(
        out.contains("a1 NO [TOOBIG]") && out.contains("a2 OK"),
        "{out}"
    );
    assert!(ev.is_empty());
}

#[test]
fn starttls_discards_pipelined_input() {
    // Sent in one packet with STARTTLS: plaintext injection, dropped. (Split feeds would
    // model bytes arriving after the handshake, which are legitimate.)
    let input = b"a1 STARTTLS\r\na2 LOGIN u p\r\n";
    let (out, ev) = run(input, &[input.len()], settings());
    assert!(out.contains("a1 OK begin TLS"), "{out}");
    assert_eq!(ev, ["starttls"]);
}

#[test]
fn idle_and_done() {
    let (out, ev) = every_split("a1 LOGIN u p\r\na2 IDLE\r\nDONE\r\na3 NOOP\r\n", settings());
    assert!(
        out.contains("+ idling\r\n") && out.contains("a2 OK IDLE terminated"),
        "{out}"
    );
    assert_eq!(ev, ["login u", "idle", "cmd NOOP"]);
}

#[test]
fn garbage_is_bad_and_too_much_ends_the_session() {
    let (out, ev) = every_split(
        "a1 FOO\r\n\r\n)\r\nx y z\r\na5 BAR\r\na6 NOOP\r\n",
        settings(),
    );
    assert_eq!(out.matches(" BAD ").count(), 5, "{out}");
    assert!(out.contains("* BYE too many errors"));
    assert_eq!(ev, ["close"]);
}

#[test]
fn search_return_options_reach_the_caller() {
    let (out, ev) = every_split(
        "a1 LOGIN u p\r\na2 SELECT INBOX\r\na3 UID SEARCH RETURN (COUNT) TEXT {3}\r\nabc\r\n\
         a4 SEARCH RETURN (SAVE) ALL\r\na5 SEARCH RETURN () ALL\r\na6 SEARCH ALL\r\n",
        settings(),
    );
    assert!(
        out.contains("a4 BAD unsupported RETURN option SAVE"),
        "{out}"
    );
    assert!(
        out.contains("a3 OK done") && out.contains("a5 OK done"),
        "{out}"
    );
    assert_eq!(
        ev,
        [
            "login u",
            "cmd SELECT",
            "cmd SEARCH Return { min: false, max: false, all: false, count: true }",
            "cmd SEARCH Return { min: false, max: false, all: true, count: false }",
            "cmd SEARCH",
        ]
    );
}

#[test]
fn enable_turns_on_condstore_and_rev2_once() {
    let input = "a LOGIN u p\r\nb ENABLE CONDSTORE X-UNKNOWN imap4rev2\r\nc ENABLE CONDSTORE\r\n\
                 d LIST (SUBSCRIBED) \"\" (* %)\r\ne LIST (BOGUS) \"\" *\r\n";
    let (out, events) = every_split(input, settings());
    assert!(
        out.contains("* ENABLED CONDSTORE IMAP4rev2\r\nb OK"),
        "{out}"
    );
    assert!(out.contains("* ENABLED\r\nc OK"), "{out}");
    assert!(
        out.contains("e BAD unknown selection option BOGUS"),
        "{out}"
    );
    assert_eq!(events, ["login u", "list-ext 2"]);
}
