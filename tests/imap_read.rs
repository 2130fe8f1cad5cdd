//! IMAP: filled in by its owner.
