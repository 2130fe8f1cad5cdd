//! The start and end of every program's `main`, so each bin keeps only what is its own:
//! arguments parsed with clap (`--help`/`--version` exit 0; misuse exits 64, EX_USAGE,
//! rather than clap's 2, which qmail would read as temporary), the log named, the config
//! loaded (a broken config exits 78 with a line naming the file and key), and a program's
//! result turned into its exit status with one log line on failure.

use std::path::Path;
use std::process::ExitCode;

use crate::config::Config;
use crate::exit::Exit;

/// Names the log, parses the arguments and runs `body`; an `Err` from it is the exit status.
pub fn main<A: clap::Parser>(
    program: &str,
    body: impl FnOnce(A) -> Result<ExitCode, ExitCode>,
) -> ExitCode {
    crate::log::init(program);
    let args = match A::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage.into()
            } else {
                Exit::Ok.into()
            };
        }
    };
    body(args).unwrap_or_else(|code| code)
}

/// Loads the config named by `--config`, else `$MAIL_CONFIG`, else the default path.
pub fn config(explicit: Option<&Path>) -> Result<Config, ExitCode> {
    Config::load(&Config::locate(explicit)).map_err(|e| {
        crate::mlog!("fatal: {e}");
        Exit::Config.into()
    })
}

/// A program's result as its exit status; a failure is logged and mapped by `exit`.
pub fn finish<E: std::fmt::Display>(
    result: Result<(), E>,
    exit: impl FnOnce(&E) -> Exit,
) -> Result<ExitCode, ExitCode> {
    match result {
        Ok(()) => Ok(Exit::Ok.into()),
        Err(e) => {
            crate::mlog!("fatal: {e}");
            Err(exit(&e).into())
        }
    }
}
