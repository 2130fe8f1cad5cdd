//! Retry arithmetic and what happens to a message after an attempt: removed (all delivered),
//! moved to bounce (something failed for good), or rescheduled with exponential backoff.
//! Pure functions over the envelope and the clock the caller passes in.

use crate::config::Queue;
use crate::spool::{Envelope, RcptState};
use std::time::Duration;

/// What to do with a message after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Every recipient delivered: delete it.
    Remove,
    /// Every recipient final, some failed: hand to the bounce stage.
    Bounce,
    /// Something deferred: try again at this time (unix seconds).
    Retry(u64),
}

/// Wait after the `attempts`-th failed attempt (1-based): `retry_base` doubling each time,
/// capped at `retry_max`.
pub fn backoff(q: &Queue, attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(32);
    let wait = q.retry_base.saturating_mul(1u32 << doublings.min(31));
    wait.min(q.retry_max).max(Duration::from_secs(1))
}

/// Settles the envelope after an attempt at time `now`: expires recipients past
/// `max_lifetime`, counts the attempt and sets `next_attempt` when something is still open.
pub fn settle(env: &mut Envelope, q: &Queue, now: u64) -> Next {
    if !env.is_done() && expired(env, q, now) {
        for r in env.recipients.iter_mut().filter(|r| !r.state.is_final()) {
            let last = r.reply.take().unwrap_or_else(|| "never tried".into());
            r.state = RcptState::Failed;
            r.reply = Some(format!("554 5.4.7 delivery time expired (last: {last})"));
        }
    }
    if env.is_done() {
        return match env
            .recipients
            .iter()
            .all(|r| r.state == RcptState::Delivered)
        {
            true => Next::Remove,
            false => Next::Bounce,
        };
    }
    env.attempts = env.attempts.saturating_add(1);
    env.next_attempt = now.saturating_add(backoff(q, env.attempts).as_secs());
    Next::Retry(env.next_attempt)
}

/// True when the message has been queued longer than `max_lifetime`. An envelope without
/// a receive time (0) never expires: better late than bounced by a missing field.
fn expired(env: &Envelope, q: &Queue, now: u64) -> bool {
    // A FUTURERELEASE message's lifetime starts when it is released, not when received.
    let start = env.received_at.max(env.hold_until);
    env.received_at != 0 && now.saturating_sub(start) > q.max_lifetime.as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::Recipient;

    fn queue() -> Queue {
        Queue {
            scan_interval: Duration::from_secs(60),
            retry_base: Duration::from_secs(300),
            retry_max: Duration::from_secs(4000),
            max_lifetime: Duration::from_secs(5 * 86400),
            max_parallel_deliveries: 4,
            allow_pipe_aliases: false,
            allow_include_aliases: false,
        }
    }

    fn env(states: &[RcptState]) -> Envelope {
        Envelope {
            received_at: 1000,
            recipients: states
                .iter()
                .map(|s| Recipient {
                    state: *s,
                    ..Recipient::new("a@b.test")
                })
                .collect(),
            ..Envelope::default()
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let q = queue();
        let secs: Vec<u64> = (1..=6).map(|a| backoff(&q, a).as_secs()).collect();
        assert_eq!(secs, vec![300, 600, 1200, 2400, 4000, 4000]);
        assert_eq!(backoff(&q, 0).as_secs(), 300);
        assert_eq!(backoff(&q, u32::MAX).as_secs(), 4000);
    }

    #[test]
    fn settle_removes_bounces_or_retries() {
        let q = queue();
        use RcptState::*;
        assert_eq!(
            settle(&mut env(&[Delivered, Delivered]), &q, 2000),
            Next::Remove
        );
        assert_eq!(
            settle(&mut env(&[Delivered, Failed]), &q, 2000),
            Next::Bounce
        );
        let mut e = env(&[Delivered, Deferred]);
        e.attempts = 1;
        assert_eq!(settle(&mut e, &q, 2000), Next::Retry(2600));
        assert_eq!(e.attempts, 2);
    }

    #[test]
    fn expired_deferrals_fail() {
        let q = queue();
        let mut e = env(&[RcptState::Delivered, RcptState::Deferred]);
        e.recipients[1].reply = Some("451 4.2.2 full".into());
        assert_eq!(settle(&mut e, &q, 1000 + 5 * 86400 + 1), Next::Bounce);
        let r = e.recipients[1].reply.as_deref().unwrap();
        assert!(
            r.starts_with("554 5.4.7") && r.contains("4.2.2 full"),
            "{r}"
        );
        let mut e = env(&[RcptState::Deferred]);
        e.received_at = 0;
        assert!(matches!(settle(&mut e, &q, u64::MAX / 2), Next::Retry(_)));
    }
}
