//! Integration tests: real binaries on loopback sockets, real clients (Python smtplib,
//! swaks, mblaze), one module per thing a user sees. See `harness` for the setup.

mod harness;

mod access;
mod authres;
mod bad_input;
mod dkim;
mod dsn;
mod durability;
mod futurerelease;
mod imap_interop;
mod imap_read;
mod local_delivery;
mod mail_launch;
mod mailctl_admin;
mod mailctl_queue;
mod mta_sts;
mod ops_admin;
mod ops_backup;
mod ops_common;
mod ops_forward;
mod ops_install;
mod ops_lists;
mod ops_logs;
mod ops_reload;
mod ops_users;
mod ops_vacation;
mod outbound;
mod outbound_common;
mod outbound_relay;
mod pop3_fetch;
mod ratelimit;
mod receive_mail;
mod routing;
mod socket_activation;
mod spam_allowlist;
mod spam_clamav;
mod spam_scoring;
mod submission_auth;
mod swaks_sessions;
