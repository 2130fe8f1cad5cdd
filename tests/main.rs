//! Integration tests: real binaries on loopback sockets, real clients (Python smtplib,
//! swaks, mblaze), one module per thing a user sees. See `harness` for the setup.

mod harness;

mod bad_input;
mod durability;
mod imap_interop;
mod imap_read;
mod local_delivery;
mod mail_launch;
mod mailctl_admin;
mod pop3_fetch;
mod receive_mail;
mod routing;
mod socket_activation;
mod submission_auth;
mod swaks_sessions;
