//! Aliases: the classic `/etc/aliases` file (`name: target, target, …`, continuation lines,
//! comments, `|program`, `:include:/path`, `/file`). Placeholder, filled in by its owner.
