//! Liveness without a network: a consumer handle closed or dropped leaves at once (a dynamic
//! member) or is kept for `session.timeout.ms` (a static one, which may come back); a handle
//! that stops calling `poll` for `max.poll.interval.ms` is removed. Timers are checked when any
//! member of the group calls in, and members sleeping in `poll` wake for the next deadline.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::classic::Group;
use super::Coordinator;
use crate::error::Result;
use crate::log::Log;

/// A member's liveness, updated by its handle without the coordinator's lock: the in-process
/// stand-in for Kafka's heartbeats, and part of the group protocol (`protocol.rs`). The member
/// marks its polls (the `pub(crate)` methods); the coordinator reads them and marks group
/// changes (the `pub(super)` ones, private to the coordinator).
#[derive(Debug)]
pub(crate) struct Liveness {
    epoch: Instant,
    /// Nanoseconds from `epoch` of the last `poll` call.
    last_poll: AtomicU64,
    /// Inside `poll` (waiting for records counts as polling).
    in_poll: AtomicBool,
    /// The group changed since the member's last group step (a rebalance began or ended):
    /// the async consumer's shortcut through buffered records stops for a group step.
    group_changed: AtomicBool,
}

impl Liveness {
    pub(crate) fn new() -> Arc<Liveness> {
        Arc::new(Liveness {
            epoch: Instant::now(),
            last_poll: AtomicU64::new(0),
            in_poll: AtomicBool::new(false),
            group_changed: AtomicBool::new(false),
        })
    }

    pub(crate) fn enter_poll(&self) {
        self.in_poll.store(true, Ordering::Release);
        self.touch();
    }

    pub(crate) fn leave_poll(&self) {
        self.touch();
        self.in_poll.store(false, Ordering::Release);
    }

    /// Whether the group changed since [`clear_group_change`](Self::clear_group_change).
    #[cfg(feature = "async")]
    pub(crate) fn group_changed(&self) -> bool {
        self.group_changed.load(Ordering::Acquire)
    }

    /// Clears the group-changed mark: a group step is about to look.
    pub(crate) fn clear_group_change(&self) {
        self.group_changed.store(false, Ordering::Release);
    }

    /// Inside `poll` now.
    pub(crate) fn in_poll(&self) -> bool {
        self.in_poll.load(Ordering::Acquire)
    }

    /// Records a poll now (`max.poll.interval.ms` counts from here).
    pub(crate) fn touch(&self) {
        self.last_poll.store(self.epoch.elapsed().as_nanos() as u64, Ordering::Release);
    }

    /// Marks a group change (a rebalance began or ended) for the member's next look.
    pub(super) fn mark_group_changed(&self) {
        self.group_changed.store(true, Ordering::Release);
    }

    /// Whether the handle has been out of `poll` for longer than `limit`.
    pub(super) fn expired(&self, limit: Duration) -> bool {
        let limit = u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX);
        !self.in_poll.load(Ordering::Acquire)
            && self.epoch.elapsed().as_nanos() as u64 > self.last_poll.load(Ordering::Acquire).saturating_add(limit)
    }

    /// When it will expire, if it stays out of `poll`. In `poll` now, it cannot expire before
    /// `limit` from now: that is when to look again (it may leave `poll`, for a rebalance
    /// callback that hangs, without anyone else calling in).
    pub(super) fn deadline(&self, limit: Duration) -> Option<Instant> {
        if self.in_poll.load(Ordering::Acquire) {
            return Instant::now().checked_add(limit);
        }
        (self.epoch + Duration::from_nanos(self.last_poll.load(Ordering::Acquire))).checked_add(limit)
    }
}

impl Coordinator {
    /// Checks the group's timers: members out of `poll` too long, static members whose handle
    /// has been gone for their session timeout, a join phase past its deadline.
    pub(super) fn expire(&self, log: &Log, name: &str, g: &mut Group) -> Result<()> {
        let now = Instant::now();
        let mut changed = false;
        let mut removed = Vec::new();
        for (id, m) in g.members.iter_mut() {
            if let Some((_, liveness)) = &m.handle {
                if liveness.expired(m.max_poll_interval) {
                    if m.instance_id.is_some() {
                        // A static member stops "heartbeating"; its session timer runs.
                        m.handle = None;
                        m.detached_at = Some(now);
                    } else {
                        removed.push(id.clone());
                    }
                }
            }
            if let Some(since) = m.detached_at {
                if now.saturating_duration_since(since) >= m.session_timeout {
                    removed.push(id.clone());
                }
            }
        }
        for id in removed {
            g.members.remove(&id);
            changed = true;
        }
        if changed {
            self.prepare_rebalance(g, now);
        }
        self.try_complete(log, name, g, now)
    }
}

/// The earliest time a timer of the group may fire.
pub(super) fn next_deadline(g: &Group) -> Option<Instant> {
    let mut next = g.rebalance_deadline;
    let mut consider = |t: Option<Instant>| {
        if let Some(t) = t {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
    };
    for m in g.members.values() {
        if let Some((_, liveness)) = &m.handle {
            consider(liveness.deadline(m.max_poll_interval));
        }
        consider(m.detached_at.and_then(|d| d.checked_add(m.session_timeout)));
    }
    next
}
