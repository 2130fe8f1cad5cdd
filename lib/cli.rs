//! The start and end of every program's `main`, so each bin keeps only what is its own:
//! arguments parsed with clap (`--help`/`--version` exit 0; misuse exits 64, EX_USAGE,
//! rather than clap's 2, which qmail would read as temporary), the log named, the config
//! loaded (a broken config exits 78 with a line naming the file and key), and a program's
//! result turned into its exit status with one log line on failure.

use std::path::Path;
use std::process::ExitCode;

use crate::config::Config;
use crate::exit::Exit;

/// Set in a program's environment by `mailctl man`: the program prints its section-8 man
/// page, rendered from its own clap definition by clap_mangen, and exits. (The bins' clap
/// definitions live in `bins/`, out of mailctl's reach; this keeps one source for both.)
pub const MAN_PAGE_ENV: &str = "MAIL_PRINT_MAN_PAGE";

/// Writes `cmd`'s man page to stdout (see `MAN_PAGE_ENV`).
fn print_man_page(cmd: clap::Command) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match man_page(cmd, &mut out) {
        Ok(()) => Exit::Ok.into(),
        Err(e) => {
            crate::mlog!("man page: {e}");
            Exit::TempFail.into()
        }
    }
}

/// Renders `cmd` as a section-8 page in our manual.
pub fn man_page(cmd: clap::Command, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    clap_mangen::Man::new(cmd)
        .section("8")
        .source(format!("mailserver {}", env!("CARGO_PKG_VERSION")))
        .manual("Mail server")
        .render(out)
}

/// Names the log, parses the arguments and runs `body`; an `Err` from it is the exit status.
pub fn main<A: clap::Parser>(
    program: &str,
    body: impl FnOnce(A) -> Result<ExitCode, ExitCode>,
) -> ExitCode {
    crate::log::init(program);
    if std::env::var_os(MAN_PAGE_ENV).is_some() {
        return print_man_page(A::command());
    }
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
