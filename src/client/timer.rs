//! One process-wide timer thread that fires [`AppendSignal`]s at given instants: what lets an
//! async consumer, which has no thread of its own and no particular runtime, check in with its
//! group when a group timer is due even if no record arrives. Started when an entry is added
//! and none is running, it exits when no entry is left; it holds signals weakly, and drops the
//! entries of consumers that are gone.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Weak};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use crate::partition::AppendSignal;

struct Entry {
    at: Instant,
    signal: Weak<AppendSignal>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.at.cmp(&other.at)
    }
}

struct Queue {
    entries: BinaryHeap<Reverse<Entry>>,
    /// A thread is serving the queue. It exits once the queue is empty: no log, no consumer
    /// leaves a thread behind; the next `fire_at` starts another.
    running: bool,
}

struct Timer {
    queue: Mutex<Queue>,
    wake: Condvar,
}

static TIMER: Timer =
    Timer { queue: Mutex::new(Queue { entries: BinaryHeap::new(), running: false }), wake: Condvar::new() };

fn run() {
    let mut queue = TIMER.queue.lock();
    loop {
        let now = Instant::now();
        while queue.entries.peek().is_some_and(|Reverse(e)| e.at <= now || e.signal.strong_count() == 0) {
            let Reverse(entry) = queue.entries.pop().expect("peeked");
            if let Some(signal) = entry.signal.upgrade() {
                signal.notify(); // (a waker's panic is caught inside)
            }
        }
        match queue.entries.peek() {
            Some(Reverse(next)) => {
                let at = next.at;
                TIMER.wake.wait_until(&mut queue, at);
            }
            None => {
                queue.running = false;
                return;
            }
        }
    }
}

/// Fires `signal` at `at` (or soon after).
pub(crate) fn fire_at(at: Instant, signal: &Arc<AppendSignal>) {
    let mut queue = TIMER.queue.lock();
    let earliest = queue.entries.peek().is_none_or(|Reverse(e)| at < e.at);
    queue.entries.push(Reverse(Entry { at, signal: Arc::downgrade(signal) }));
    if queue.running {
        if earliest {
            TIMER.wake.notify_one();
        }
        return;
    }
    match std::thread::Builder::new().name("partlog-timer".into()).spawn(run) {
        Ok(_) => queue.running = true,
        Err(_) => {
            // No thread to wait for them: wake every consumer now, so that each looks again
            // (and asks again) instead of missing its group's deadline.
            let entries = std::mem::take(&mut queue.entries);
            drop(queue);
            for Reverse(entry) in entries {
                if let Some(signal) = entry.signal.upgrade() {
                    signal.notify();
                }
            }
        }
    }
}

/// Whether a timer thread is running (for tests).
#[cfg(test)]
fn running() -> bool {
    TIMER.queue.lock().running
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_timer_thread_fires_and_exits_when_nothing_is_left_to_fire() {
        let signal = AppendSignal::new();
        fire_at(Instant::now() + Duration::from_millis(20), &signal);
        assert!(running());
        assert!(signal.wait(Duration::from_secs(5)), "fired");
        let deadline = Instant::now() + Duration::from_secs(5);
        while running() {
            assert!(Instant::now() < deadline, "the timer thread outlived its last entry");
            std::thread::sleep(Duration::from_millis(5));
        }
        // And starts again when asked.
        fire_at(Instant::now(), &signal);
        assert!(signal.wait(Duration::from_secs(5)), "fired again");
    }
}
