//! Runs one mailbox command for a logged-in session: picks the handler, writes its untagged
//! data, the untagged updates from other sessions the command may carry (EXISTS, EXPUNGE,
//! FETCH FLAGS), and the tagged result. Every handler returns a `Done`; storage errors are
//! logged here and answered `NO [UNAVAILABLE]` without paths or details.

use crate::imap::imap_types::command::{CommandBody, SelectParameter};
use crate::imap::reply::{self, Status};
use crate::imap::{esearch, Session};
use crate::mlog;

use super::{append, fetch, list, list_ext, names, quota, search, select, store, Account};

/// The tagged result of a command.
pub struct Done {
    pub status: Status,
    pub code: String,
    pub text: String,
}

impl Done {
    pub fn ok(text: &str) -> Done {
        Done::new(Status::Ok, "", text)
    }
    pub fn no(text: &str) -> Done {
        Done::new(Status::No, "", text)
    }
    pub fn bad(text: &str) -> Done {
        Done::new(Status::Bad, "", text)
    }
    pub fn new(status: Status, code: &str, text: &str) -> Done {
        Done {
            status,
            code: code.to_string(),
            text: text.to_string(),
        }
    }
    /// A storage failure: logged with detail, answered without.
    pub fn storage(user: &str, e: &crate::maildir::Error) -> Done {
        mlog!("error: user={user}: {e}");
        match e {
            crate::maildir::Error::OverQuota { .. } => {
                Done::new(Status::No, "OVERQUOTA", "mailbox full")
            }
            crate::maildir::Error::BadFolder { reason, .. } => Done::new(
                Status::No,
                "CANNOT",
                &format!("invalid mailbox name: {reason}"),
            ),
            _ => Done::new(Status::No, "UNAVAILABLE", "temporary failure, try again"),
        }
    }
}

/// Runs `body` and writes everything it answers into the session's output.
pub fn run(
    session: &mut Session,
    account: &mut Account,
    tag: &str,
    body: CommandBody<'static>,
    esearch: Option<esearch::Return>,
) {
    use CommandBody as C;
    let mut out = Vec::new();
    // Sequence-number FETCH/STORE/SEARCH/COPY may not see EXPUNGE responses (RFC 3501 7.4.1).
    let allow_expunge = !matches!(
        body,
        C::Fetch { uid: false, .. }
            | C::Store { uid: false, .. }
            | C::Search { uid: false, .. }
            | C::Copy { uid: false, .. }
    );
    names::set_utf8(session.rev2());
    let was_selected = account.selected.is_some();
    if enables_condstore(&body) {
        session.enable_condstore();
    }
    if let Some(sel) = account.selected.as_mut() {
        if session.condstore() && !sel.condstore {
            // From now on modseqs must be exact: read the folder before the command.
            sel.enable_condstore();
            updates(account, allow_expunge, &mut out);
        }
    }
    let done = match body {
        C::Noop | C::Check => Done::ok("done"),
        C::Select { parameters, .. } | C::Examine { parameters, .. }
            if parameters
                .iter()
                .any(|p| matches!(p, SelectParameter::QResync { .. })) =>
        {
            Done::bad("QRESYNC is not supported")
        }
        C::Select { mailbox, .. } => {
            let d = select::select(account, &mailbox, false, &mut out);
            select_done(session, account);
            d
        }
        C::Examine { mailbox, .. } => {
            let d = select::select(account, &mailbox, true, &mut out);
            select_done(session, account);
            d
        }
        C::Close => {
            let d = select::close(account, true);
            session.unselect();
            d
        }
        C::Unselect => {
            let d = select::close(account, false);
            session.unselect();
            d
        }
        C::Status {
            mailbox,
            item_names,
        } => select::status(account, &mailbox, &item_names, &mut out),
        C::Expunge => select::expunge(account, None, &mut out),
        C::ExpungeUid { sequence_set } => select::expunge(account, Some(&sequence_set), &mut out),
        C::List {
            reference,
            mailbox_wildcard,
        } => list::list(account, &reference, &mailbox_wildcard, false, &mut out),
        C::Lsub {
            reference,
            mailbox_wildcard,
        } => list::list(account, &reference, &mailbox_wildcard, true, &mut out),
        C::Create { mailbox } => list::create(account, &mailbox),
        C::Delete { mailbox } => list::delete(account, &mailbox),
        C::Rename { from, to } => list::rename(account, &from, &to),
        C::Subscribe { mailbox } => list::subscribe(account, &mailbox, true),
        C::Unsubscribe { mailbox } => list::subscribe(account, &mailbox, false),
        C::Append {
            mailbox,
            flags,
            date,
            message,
        } => append::append(account, &mailbox, &flags, date.as_ref(), &message),
        C::Fetch {
            sequence_set,
            macro_or_item_names,
            uid,
            modifiers,
        } => fetch::fetch(
            account,
            &sequence_set,
            &macro_or_item_names,
            uid,
            &modifiers,
            &mut out,
        ),
        C::Store {
            sequence_set,
            kind,
            response,
            flags,
            uid,
            modifiers,
        } => store::store(
            account,
            &store::StoreCmd {
                set: &sequence_set,
                kind,
                response,
                flags: &flags,
                uid,
                modifiers: &modifiers,
            },
            &mut out,
        ),
        C::Copy {
            sequence_set,
            mailbox,
            uid,
        } => store::copy(account, &sequence_set, &mailbox, uid, false, &mut out),
        C::Move {
            sequence_set,
            mailbox,
            uid,
        } => store::copy(account, &sequence_set, &mailbox, uid, true, &mut out),
        C::Search {
            charset,
            criteria,
            uid,
        } => {
            // IMAP4rev2 answers every SEARCH with ESEARCH (RFC 9051 6.4.4).
            let esearch = esearch.or_else(|| {
                session.rev2().then_some(esearch::Return {
                    all: true,
                    ..esearch::Return::default()
                })
            });
            let ret = esearch.map(|r| (tag, r));
            let criteria = criteria.as_ref();
            search::search(account, charset.as_ref(), criteria, uid, ret, &mut out)
        }
        C::GetQuotaRoot { mailbox } => quota::getquotaroot(account, &mailbox, &mut out),
        C::GetQuota { root } => quota::getquota(account, &root, &mut out),
        C::SetQuota { .. } => quota::setquota(),
        other => Done::bad(&format!("{} not supported", other.name())),
    };
    if was_selected {
        updates(account, allow_expunge, &mut out);
    }
    session.write(&out);
    session.write(&reply::tagged(tag, done.status, &done.code, &done.text));
}

/// An extended LIST (LIST-EXTENDED, LIST-STATUS), with the same updates as any command.
pub fn run_list_extended(
    session: &mut Session,
    account: &mut Account,
    tag: &str,
    l: &crate::imap::list_ext::ListExtended,
) {
    names::set_utf8(session.rev2());
    let mut out = Vec::new();
    if l.returns.status.as_ref().is_some_and(|items| {
        items.contains(&crate::imap::imap_types::status::StatusDataItemName::HighestModSeq)
    }) {
        session.enable_condstore();
    }
    let done = list_ext::list_extended(account, l, &mut out);
    updates(account, true, &mut out);
    session.write(&out);
    session.write(&reply::tagged(tag, done.status, &done.code, &done.text));
}

/// After SELECT/EXAMINE: the session's state, and CONDSTORE for the new mailbox when on.
fn select_done(session: &mut Session, account: &mut Account) {
    session.select_done(account.selected.as_ref().map(|s| s.read_only));
    if let Some(sel) = account.selected.as_mut() {
        // Freshly read: its modseqs are exact already.
        sel.condstore = session.condstore();
    }
}

/// Whether a command turns CONDSTORE on (RFC 7162 3.1: SELECT/EXAMINE (CONDSTORE), FETCH
/// MODSEQ or CHANGEDSINCE, STORE UNCHANGEDSINCE, SEARCH MODSEQ, STATUS HIGHESTMODSEQ).
fn enables_condstore(body: &CommandBody) -> bool {
    use crate::imap::imap_types::fetch::{MacroOrMessageDataItemNames as M, MessageDataItemName};
    use crate::imap::imap_types::status::StatusDataItemName;
    use CommandBody as C;
    match body {
        C::Select { parameters, .. } | C::Examine { parameters, .. } => {
            parameters.contains(&SelectParameter::CondStore)
        }
        C::Fetch {
            modifiers,
            macro_or_item_names,
            ..
        } => {
            !modifiers.is_empty()
                || matches!(macro_or_item_names, M::MessageDataItemNames(v)
                    if v.contains(&MessageDataItemName::ModSeq))
        }
        C::Store { modifiers, .. } => !modifiers.is_empty(),
        C::Search { criteria, .. } => criteria.as_ref().iter().any(search::uses_modseq),
        C::Status { item_names, .. } => item_names.contains(&StatusDataItemName::HighestModSeq),
        _ => false,
    }
}

/// Untagged news from other sessions and deliveries for the still-selected mailbox.
pub fn updates(account: &mut Account, allow_expunge: bool, out: &mut Vec<u8>) {
    let Some(sel) = account.selected.as_mut() else {
        return;
    };
    match sel.refresh(allow_expunge) {
        Ok(news) => out.extend(news),
        Err(e) => mlog!("error: user={} refresh: {e}", account.user),
    }
}
