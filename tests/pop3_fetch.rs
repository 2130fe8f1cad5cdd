//! POP3: filled in by its owner.
