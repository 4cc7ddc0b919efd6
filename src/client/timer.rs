//! One process-wide timer thread that fires [`AppendSignal`]s at given instants: what lets an
//! async consumer, which has no thread of its own and no particular runtime, check in with its
//! group when a group timer is due even if no record arrives. Started on first use; it holds
//! signals weakly, so a dropped consumer leaves nothing behind but a stale entry.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, OnceLock, Weak};
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

struct Timer {
    queue: Mutex<BinaryHeap<Reverse<Entry>>>,
    wake: Condvar,
}

fn timer() -> &'static Timer {
    static TIMER: OnceLock<&'static Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let timer: &'static Timer =
            Box::leak(Box::new(Timer { queue: Mutex::new(BinaryHeap::new()), wake: Condvar::new() }));
        std::thread::Builder::new()
            .name("partlog-timer".into())
            .spawn(move || run(timer))
            .expect("spawning the timer thread");
        timer
    })
}

fn run(timer: &'static Timer) {
    let mut queue = timer.queue.lock();
    loop {
        let now = Instant::now();
        while queue.peek().is_some_and(|Reverse(e)| e.at <= now) {
            let Reverse(entry) = queue.pop().expect("peeked");
            if let Some(signal) = entry.signal.upgrade() {
                signal.notify();
            }
        }
        match queue.peek() {
            Some(Reverse(next)) => {
                let at = next.at;
                timer.wake.wait_until(&mut queue, at);
            }
            None => timer.wake.wait(&mut queue),
        }
    }
}

/// Fires `signal` at `at` (or soon after).
pub(crate) fn fire_at(at: Instant, signal: &Arc<AppendSignal>) {
    let timer = timer();
    let mut queue = timer.queue.lock();
    let earliest = queue.peek().is_none_or(|Reverse(e)| at < e.at);
    queue.push(Reverse(Entry { at, signal: Arc::downgrade(signal) }));
    if earliest {
        timer.wake.notify_one();
    }
}
