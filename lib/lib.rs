//! The mail server library: every program in `bins/` is a thin `main` over a module here.
//!
//! Shared topics: `config`, `spool`, `maildir`, `users`, `aliases`, `directory`, `tls`,
//! `peer`, `privs`, `exit`, `log`. Protocols (sans-I/O): `smtp`, `imap`, `pop3`. Program
//! drivers, one per binary: `smtpd`, `imapd`, `pop3d`, `spam_scan`, `queue_runner`,
//! `local_deliver`, `mail_launch`, `mailctl`.

pub mod access;
pub mod aliases;
pub mod authres;
pub mod backup;
pub mod bayes;
pub mod bounce;
pub mod cli;
pub mod config;
pub mod conn;
pub mod date;
pub mod directory;
pub mod dkim;
pub mod dns;
pub mod exit;
pub mod forward;
pub mod imap;
pub mod imapd;
pub mod local_deliver;
pub mod log;
pub mod logsearch;
pub mod mail_launch;
pub mod mailctl;
pub mod maildir;
pub mod mlist;
pub mod mta_sts;
pub mod outbound;
pub mod peer;
pub mod pop3;
pub mod pop3d;
pub mod privs;
pub mod queue_runner;
pub mod ratelimit;
pub mod sasl;
pub mod scheduled;
pub mod smtp;
pub mod smtpd;
pub mod spam_scan;
pub mod spool;
pub mod srs;
pub mod tls;
pub mod users;
pub mod vacation;
