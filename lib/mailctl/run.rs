//! `mailctl run`: starts and supervises the whole stack from the config, in the
//! foreground: `spam-scan`, `queue-runner`, and one `mail-launch` per enabled `[[listen]]`.
//! Children inherit stderr (their log lines show on the terminal) and get /dev/null on
//! stdin. A child that exits without being asked is restarted after a backoff (1 s,
//! doubling to 30 s; back to 1 s once it ran for a minute). SIGINT/SIGTERM: SIGTERM every
//! child, SIGKILL after 5 s, exit 0. A program whose binary is missing is skipped with a
//! log line (e.g. `imapd` before it exists).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::Error;
use crate::config::Config;
use crate::mail_launch::signals;
use crate::mlog;

const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A child that ran this long is considered healthy again.
const HEALTHY_AFTER: Duration = Duration::from_secs(60);
const GRACE: Duration = Duration::from_secs(5);
const TICK: Duration = Duration::from_millis(200);

/// One supervised program.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// For listeners: `smtp 127.0.0.1:2525 (smtpd --role mx)`.
    pub banner: Option<String>,
}

/// What to start, and a log line for each thing skipped.
pub fn plan(cfg: &Config) -> (Vec<Spec>, Vec<String>) {
    let config = std::path::absolute(&cfg.path).unwrap_or_else(|_| cfg.path.clone());
    let mut specs = Vec::new();
    let mut skipped = Vec::new();
    for stage in ["spam-scan", "queue-runner"] {
        let program = cfg.program_path(stage);
        if !program.is_file() {
            skipped.push(format!("skipping {stage}: {} not found", program.display()));
            continue;
        }
        specs.push(Spec {
            name: stage.into(),
            program,
            args: vec!["--config".into(), config.clone().into()],
            banner: None,
        });
    }
    let launcher = cfg.program_path("mail-launch");
    for l in cfg.listeners.iter().filter(|l| l.enabled) {
        let program = cfg.program_path(&l.program);
        if !program.is_file() {
            skipped.push(format!(
                "skipping listener {}: {} not found",
                l.name,
                program.display()
            ));
            continue;
        }
        let mut args: Vec<OsString> = vec![
            "--config".into(),
            config.clone().into(),
            "--max-connections".into(),
            l.max_connections.to_string().into(),
            "--max-per-ip".into(),
            l.max_per_ip.to_string().into(),
            "--".into(),
            l.address.to_string().into(),
            program.into(),
            "--config".into(),
            config.clone().into(),
        ];
        args.extend(l.args.iter().map(OsString::from));
        let shown = std::iter::once(l.program.as_str())
            .chain(l.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        specs.push(Spec {
            name: format!("mail-launch {}", l.name),
            program: launcher.clone(),
            args,
            banner: Some(format!("{} {} ({shown})", l.name, l.address)),
        });
    }
    (specs, skipped)
}

/// The next backoff after a child that ran for `ran` exited: `current` doubled up to 30 s,
/// or back to 1 s when it had run long enough to count as healthy. Returns (wait now, next).
pub fn backoff(current: Duration, ran: Duration) -> (Duration, Duration) {
    let now = if ran >= HEALTHY_AFTER {
        BACKOFF_MIN
    } else {
        current.clamp(BACKOFF_MIN, BACKOFF_MAX)
    };
    (now, (now * 2).min(BACKOFF_MAX))
}

struct Service {
    spec: Spec,
    child: Option<Child>,
    started: Instant,
    backoff: Duration,
    restart_at: Option<Instant>,
}

impl Service {
    fn start(&mut self) {
        self.restart_at = None;
        self.started = Instant::now();
        let spawned = Command::new(&self.spec.program)
            .args(&self.spec.args)
            .stdin(Stdio::null())
            .spawn();
        match spawned {
            Ok(c) => {
                mlog!("started {} pid={}", self.spec.name, c.id());
                self.child = Some(c);
            }
            Err(e) => {
                mlog!("cannot start {}: {e}", self.spec.name);
                self.schedule_restart();
            }
        }
    }

    fn schedule_restart(&mut self) {
        let (wait, next) = backoff(self.backoff, self.started.elapsed());
        self.backoff = next;
        self.restart_at = Some(Instant::now() + wait);
    }

    /// Notices an unasked exit and schedules the restart; starts it when due.
    fn tend(&mut self) {
        if let Some(child) = &mut self.child {
            match child.try_wait() {
                Ok(None) => return,
                Ok(Some(status)) => {
                    self.child = None;
                    let (wait, _) = backoff(self.backoff, self.started.elapsed());
                    mlog!(
                        "restarting {} ({status}) in {}s",
                        self.spec.name,
                        wait.as_secs()
                    );
                    self.schedule_restart();
                }
                Err(e) => {
                    mlog!("waiting for {}: {e}", self.spec.name);
                    return;
                }
            }
        }
        if self.restart_at.is_some_and(|t| Instant::now() >= t) {
            self.start();
        }
    }
}

pub fn run(cfg: &Config) -> Result<(), Error> {
    signals::install().map_err(|e| Error::System(format!("sigaction: {e}")))?;
    crate::mail_launch::exec::cloexec_inherited();
    let (specs, skipped) = plan(cfg);
    for s in &skipped {
        mlog!("{s}");
    }
    if specs.is_empty() {
        return Err(Error::System(
            "nothing to run (no program binaries found)".into(),
        ));
    }
    for b in specs.iter().filter_map(|s| s.banner.as_ref()) {
        println!("{b}");
    }
    let mut services: Vec<Service> = specs
        .into_iter()
        .map(|spec| Service {
            spec,
            child: None,
            started: Instant::now(),
            backoff: BACKOFF_MIN,
            restart_at: None,
        })
        .collect();
    for s in &mut services {
        s.start();
    }
    while !signals::terminating() {
        std::thread::sleep(TICK);
        signals::take_child();
        if signals::terminating() {
            break;
        }
        for s in &mut services {
            s.tend();
        }
    }
    stop_all(&mut services);
    Ok(())
}

/// SIGTERM every child, wait up to `GRACE`, then SIGKILL and reap the rest.
fn stop_all(services: &mut [Service]) {
    mlog!("stopping");
    let children = || services_children(services);
    for pid in children() {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    }
    let deadline = Instant::now() + GRACE;
    loop {
        let mut running = 0;
        for s in services.iter_mut() {
            if let Some(c) = &mut s.child {
                match c.try_wait() {
                    Ok(None) => running += 1,
                    _ => s.child = None,
                }
            }
        }
        if running == 0 {
            break;
        }
        if Instant::now() >= deadline {
            for s in services.iter_mut() {
                if let Some(mut c) = s.child.take() {
                    mlog!("killing {} pid={}", s.spec.name, c.id());
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    mlog!("stopped");
}

fn services_children(services: &[Service]) -> Vec<nix::unistd::Pid> {
    services
        .iter()
        .filter_map(|s| s.child.as_ref())
        .map(|c| nix::unistd::Pid::from_raw(c.id() as i32))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// An executable stand-in for a program in bin_dir.
    fn touch_exec(p: &Path) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn backoff_doubles_caps_and_resets() {
        let s = Duration::from_secs;
        assert_eq!(backoff(s(1), s(0)), (s(1), s(2)));
        assert_eq!(backoff(s(16), s(3)), (s(16), s(30)));
        assert_eq!(backoff(s(30), s(3)), (s(30), s(30)));
        assert_eq!(backoff(s(30), s(61)), (s(1), s(2)));
    }

    #[test]
    fn plan_skips_missing_programs_and_builds_launch_lines() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        for p in ["queue-runner", "mail-launch", "smtpd"] {
            touch_exec(&bin.join(p));
        }
        let text = format!(
            "hostname='h'\nspool_dir='s'\nmail_root='m'\nusers_file='u'\nbin_dir='{}'\n\
             [[listen]]\nname='smtp'\nprogram='smtpd'\naddress='127.0.0.1:2525'\nargs=['--role','mx']\nmax_per_ip=3\n\
             [[listen]]\nname='imap'\nprogram='imapd'\naddress='127.0.0.1:2143'\n\
             [[listen]]\nname='off'\nprogram='smtpd'\naddress='127.0.0.1:1'\nenabled=false\n",
            bin.display()
        );
        let cfg = Config::parse(&dir.path().join("mail.toml"), &text).unwrap();
        let (specs, skipped) = plan(&cfg);
        let names: Vec<_> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["queue-runner", "mail-launch smtp"]);
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        assert!(skipped[0].contains("spam-scan") && skipped[1].contains("imap"));
        let smtp = &specs[1];
        assert_eq!(smtp.program, bin.join("mail-launch"));
        assert_eq!(
            smtp.banner.as_deref(),
            Some("smtp 127.0.0.1:2525 (smtpd --role mx)")
        );
        let args: Vec<_> = smtp.args.iter().map(|a| a.to_string_lossy()).collect();
        let cfgp = dir.path().join("mail.toml").display().to_string();
        assert_eq!(
            args,
            [
                "--config",
                &cfgp,
                "--max-connections",
                "100",
                "--max-per-ip",
                "3",
                "--",
                "127.0.0.1:2525",
                &bin.join("smtpd").display().to_string(),
                "--config",
                &cfgp,
                "--role",
                "mx"
            ]
        );
    }
}
