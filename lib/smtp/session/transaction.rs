//! MAIL, RCPT and DATA for the session: sequencing checks, the questions to the caller
//! (`Event::Mail`, `Event::Recipient`), and the complete `Message` handed over at the end of
//! DATA (BDAT is in `chunking`). Extension parameters are checked in `extensions`.

use super::{Event, Message, Pending, Session, State};
use crate::smtp::command::{MailFrom, RcptTo};
use crate::smtp::data::DataReceiver;
use crate::smtp::reply;

impl Session {
    pub(super) fn mail(&mut self, m: MailFrom) {
        self.arg = m.sender.text.clone();
        if self.helo.is_none() {
            return self.reply(reply::need_helo());
        }
        if self.txn.is_some() {
            return self.reply(reply::nested_mail());
        }
        if self.settings.auth_required && self.auth_user.is_none() {
            return self.reply(reply::auth_required());
        }
        if m.size.is_some_and(|s| s > self.settings.max_message_size) {
            return self.reply(reply::message_size_exceeds(self.settings.max_message_size));
        }
        match self.check_mail_extensions(&m) {
            Ok(hold_until) => self.ask(Pending::Mail(m.clone(), hold_until), Event::Mail(m)),
            Err(r) => self.reply(r),
        }
    }

    pub(super) fn rcpt(&mut self, r: RcptTo) {
        let a = &r;
        self.arg = a.text.clone();
        let Some(txn) = self.txn.as_ref() else {
            return self.reply(reply::need_mail());
        };
        if txn.chunking {
            return self.reply(reply::bdat_expected());
        }
        if txn.recipients.len() >= self.settings.max_recipients {
            return self.reply(reply::too_many_recipients());
        }
        if a.utf8 && !txn.smtputf8 {
            return self.reply(reply::utf8_address_without_smtputf8());
        }
        let ev = Event::Recipient(a.text.clone());
        self.ask(Pending::Recipient(r), ev);
    }

    pub(super) fn data(&mut self) {
        match (&self.state, self.txn.as_ref()) {
            (_, Some(t)) if t.chunking => self.reply(reply::data_after_bdat()),
            (State::Rcpt, Some(_)) => {
                let recv = DataReceiver::new(self.settings.max_message_size);
                self.state = State::Data(Box::new(recv));
                self.reply(reply::start_data());
            }
            (State::Mail, Some(_)) => self.reply(reply::no_valid_recipients()),
            (_, None) if self.helo.is_none() => self.reply(reply::need_helo()),
            _ => self.reply(reply::need_mail()),
        }
    }

    pub(super) fn finish_data(&mut self) {
        let State::Data(recv) = std::mem::replace(&mut self.state, State::Ready) else {
            return;
        };
        if let Some(flaw) = recv.flaw() {
            self.end_transaction();
            return self.reply(flaw.reply());
        }
        self.deliver(recv.body);
    }

    pub(super) fn deliver(&mut self, body: Vec<u8>) {
        let Some(txn) = self.txn.as_mut() else { return };
        let msg = Message {
            sender: txn.sender.clone(),
            recipients: txn.recipients.clone(),
            body,
            eight_bit: txn.eight_bit,
            smtputf8: txn.smtputf8,
            recipient_dsn: txn.recipient_dsn.clone(),
            ret: txn.ret,
            envid: txn.envid.clone(),
            hold_until: txn.hold_until,
            require_tls: txn.require_tls,
        };
        self.ask(Pending::Message, Event::Message(msg));
    }
}
