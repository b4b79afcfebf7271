//! When to try a deferred message again, when it expires, and when the
//! sender is told it is delayed. Pure: times in milliseconds since the Unix
//! epoch in, decisions out.
//!
//! The schedule, from the TransportService settings:
//! - the first `TransientFailureRetryCount` retries come after
//!   `TransientFailureRetryInterval` (quick retries, 6 × 5 min by default);
//! - after that, a message that failed on a **connection** (no host of the
//!   next hop could be reached or set up) waits
//!   `OutboundConnectionFailureRetryInterval` (10 min); any other temporary
//!   failure waits `MessageRetryInterval` (15 min);
//! - no retry is scheduled past the expiry (`received +
//!   MessageExpirationTimeout`): the last one is at the expiry, and a
//!   failure at or after it makes the message [`Decision::Expired`] (a
//!   non-delivery report is due);
//! - one delay notification is due once `DelayNotificationTimeout` has
//!   passed since the message arrived, unless it has expired by then.

use xshell_core::model::TransportService;

/// What kind of temporary failure the last attempt had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// No session could be set up with any host of the next hop.
    Connection,
    /// The session was set up; the server (or a later step) deferred.
    Message,
}

/// What to do after a temporary failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Try again at this time.
    RetryAt(u64),
    /// The message has expired: fail the remaining recipients and send a
    /// non-delivery report.
    Expired,
}

/// The retry settings, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub transient_interval_ms: u64,
    pub transient_attempts: u32,
    pub connection_failure_interval_ms: u64,
    pub message_retry_interval_ms: u64,
    pub expiration_ms: u64,
    pub delay_notification_ms: u64,
}

const fn ms(secs: u64) -> u64 {
    secs.saturating_mul(1000)
}

impl Schedule {
    /// The schedule of a transport server.
    pub fn from_service(s: &TransportService) -> Self {
        Schedule {
            transient_interval_ms: ms(s.transient_failure_retry_interval.as_secs()),
            transient_attempts: s.transient_failure_retry_count,
            connection_failure_interval_ms: ms(s
                .outbound_connection_failure_retry_interval
                .as_secs()),
            message_retry_interval_ms: ms(s.message_retry_interval.as_secs()),
            expiration_ms: ms(s.message_expiration_timeout.as_secs()),
            delay_notification_ms: ms(s.delay_notification_timeout.as_secs()),
        }
    }

    /// When a message received at `received_ms` expires.
    pub fn expires_at(&self, received_ms: u64) -> u64 {
        received_ms.saturating_add(self.expiration_ms)
    }

    /// True at or after the expiry.
    pub fn is_expired(&self, received_ms: u64, now_ms: u64) -> bool {
        now_ms >= self.expires_at(received_ms)
    }

    /// The wait after the `attempts`-th attempt (1 = the first delivery
    /// attempt) failed with `kind`.
    pub fn interval(&self, attempts: u32, kind: FailureKind) -> u64 {
        if attempts <= self.transient_attempts {
            return self.transient_interval_ms;
        }
        match kind {
            FailureKind::Connection => self.connection_failure_interval_ms,
            FailureKind::Message => self.message_retry_interval_ms,
        }
    }

    /// After the `attempts`-th attempt failed temporarily at `now_ms`.
    pub fn after_failure(
        &self,
        received_ms: u64,
        attempts: u32,
        kind: FailureKind,
        now_ms: u64,
    ) -> Decision {
        if self.is_expired(received_ms, now_ms) {
            return Decision::Expired;
        }
        let next = now_ms.saturating_add(self.interval(attempts, kind).max(1));
        Decision::RetryAt(next.min(self.expires_at(received_ms)))
    }

    /// True when the (single) delay notification should be sent now.
    pub fn delay_notice_due(&self, received_ms: u64, now_ms: u64, already_sent: bool) -> bool {
        !already_sent
            && now_ms >= received_ms.saturating_add(self.delay_notification_ms)
            && !self.is_expired(received_ms, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    fn defaults() -> Schedule {
        Schedule::from_service(&TransportService::default())
    }

    #[test]
    fn defaults_follow_the_service() {
        let s = defaults();
        assert_eq!(s.transient_interval_ms, 5 * MIN);
        assert_eq!(s.transient_attempts, 6);
        assert_eq!(s.connection_failure_interval_ms, 10 * MIN);
        assert_eq!(s.message_retry_interval_ms, 15 * MIN);
        assert_eq!(s.expiration_ms, 2 * 24 * 60 * MIN);
        assert_eq!(s.delay_notification_ms, 4 * 60 * MIN);
    }

    #[test]
    fn quick_retries_then_the_longer_interval() {
        let s = defaults();
        let t0 = 1_000_000;
        let mut now = t0;
        let mut waits = Vec::new();
        for attempt in 1..=9 {
            let Decision::RetryAt(next) = s.after_failure(t0, attempt, FailureKind::Message, now)
            else {
                panic!("expired too early")
            };
            waits.push((next - now) / MIN);
            now = next;
        }
        assert_eq!(waits, [5, 5, 5, 5, 5, 5, 15, 15, 15]);
        assert_eq!(s.interval(7, FailureKind::Connection), 10 * MIN);
        assert_eq!(s.interval(2, FailureKind::Connection), 5 * MIN);
    }

    #[test]
    fn expiry_caps_the_last_retry_then_expires() {
        let s = defaults();
        let t0 = 0;
        let exp = s.expires_at(t0);
        let near = exp - MIN;
        assert_eq!(
            s.after_failure(t0, 100, FailureKind::Message, near),
            Decision::RetryAt(exp)
        );
        assert_eq!(
            s.after_failure(t0, 101, FailureKind::Message, exp),
            Decision::Expired
        );
    }

    #[test]
    fn one_delay_notice_after_the_timeout() {
        let s = defaults();
        let t0 = 0;
        let four_h = 4 * 60 * MIN;
        assert!(!s.delay_notice_due(t0, four_h - 1, false));
        assert!(s.delay_notice_due(t0, four_h, false));
        assert!(!s.delay_notice_due(t0, four_h, true));
        // none once the message has expired (the NDR says it all)
        assert!(!s.delay_notice_due(t0, s.expires_at(t0), false));
    }
}
