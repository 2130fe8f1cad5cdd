//! Config changes while the stack runs: queue-runner and spam-scan notice the edited config
//! file, re-execute themselves under the same PID, and deliver for a domain added with
//! `mailctl domain add` without any restart; an invalid edit leaves them running.

use crate::harness::*;
use crate::ops_common::*;

/// The one PID of `program` in the stack.
fn pid(server: &Server, program: &str) -> i32 {
    let pids = server.pids_of(program);
    assert_eq!(pids.len(), 1, "{program}: {pids:?}");
    pids[0]
}

/// Waits until `pid` of `program` logged `text` at least `n` times.
fn wait_logged(server: &Server, program: &str, pid: i32, text: &str, n: usize) {
    let needle = format!("{program}[{pid}]: {text}");
    wait_until(&needle, || server.log().matches(&needle).count() >= n);
}

/// Writes the config as editors and mailctl do (new file, rename), so no stage reads half.
fn replace(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("edit-tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn new_domain_is_delivered_without_restart_and_bad_edits_are_ignored() {
    let server = Server::start();
    let (qr, ss) = (pid(&server, "queue-runner"), pid(&server, "spam-scan"));
    wait_logged(&server, "queue-runner", qr, "started", 1);
    wait_logged(&server, "spam-scan", ss, "started", 1);

    ok(server.mailctl(&["domain", "add", "new.test"], ""));
    server.add_user("u@new.test", "pw");
    for (prog, p) in [("queue-runner", qr), ("spam-scan", ss)] {
        wait_logged(&server, prog, p, "config changed: re-executing", 1);
        // The new image, same PID, is up.
        wait_logged(&server, prog, p, "started", 2);
    }
    send_seq(&server, "u@new.test", 1, 1);
    server.wait_for_messages("u@new.test", 1);
    assert_eq!(seqs(&server.maildir("u@new.test")), vec![1]);
    assert_eq!(pid(&server, "queue-runner"), qr, "queue-runner restarted");
    assert_eq!(pid(&server, "spam-scan"), ss, "spam-scan restarted");

    // A broken edit: logged, ignored, nothing restarts.
    let cfg = server.config();
    let good = read(&cfg);
    replace(&cfg, &format!("{good}\n[broken\n"));
    for (prog, p) in [("queue-runner", qr), ("spam-scan", ss)] {
        wait_logged(&server, prog, p, "config changed but is invalid", 1);
    }
    // Back to the running text: no change to act on.
    replace(&cfg, &good);
    send_seq(&server, "u@new.test", 2, 1);
    server.wait_for_messages("u@new.test", 2);
    assert_eq!(seqs(&server.maildir("u@new.test")), vec![1, 2]);
    assert_eq!(pid(&server, "queue-runner"), qr);
    assert_eq!(pid(&server, "spam-scan"), ss);
    let log = server.log();
    for (prog, p) in [("queue-runner", qr), ("spam-scan", ss)] {
        let prefix = format!("{prog}[{p}]: ");
        assert_eq!(
            log.matches(&format!("{prefix}config changed: re-executing"))
                .count(),
            1,
            "{log}"
        );
        assert_eq!(log.matches(&format!("{prefix}started")).count(), 2);
    }
    assert!(!log.contains("restarting queue-runner"), "{log}");
}
