//! TLS: loads the server certificate and key into a rustls config, and makes self-signed
//! certificates with rcgen for `mailctl init`. Placeholder API, filled in by its owner.
