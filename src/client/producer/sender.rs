//! The producer's own thread (what is left of Kafka's `Sender` in-process): it appends batches
//! whose `linger.ms` ran out, fails batches past `delivery.timeout.ms`, runs delivery callbacks
//! in order, and on `close` delivers what waits and stops.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::accumulator;
use super::delivery::CallbackJob;
use super::{Shared, SENDER_OF};
use crate::error::Error;

#[derive(Default)]
pub(super) struct SenderState {
    /// Callbacks of completed batches, in completion order.
    jobs: VecDeque<CallbackJob>,
    jobs_queued: u64,
    jobs_done: u64,
    /// When a lingering batch is due, as far as the thread knows.
    wake_at: Option<Instant>,
    /// The thread waits for work (only then do others need to wake it).
    idle: bool,
    /// `close` was called: deliver everything, then stop.
    closing: bool,
    /// `close` ran out of time: fail what is left, then stop.
    abort: bool,
    /// The thread has stopped: callbacks queued later run where they are queued.
    stopped: bool,
    /// A `close` ran out of time while the thread was inside an append (a disk that hangs) and
    /// left it: later closes (and the drop) do not wait for it either.
    detached: bool,
}

impl Shared {
    /// Wakes the producer's thread by `at` (a batch lingers until then).
    pub(super) fn wake_sender_by(&self, at: Instant) {
        let mut sender = self.sender.lock();
        if sender.wake_at.is_none_or(|w| at < w) {
            sender.wake_at = Some(at);
            if sender.idle {
                self.work.notify_one();
            }
        }
    }

    pub(super) fn wake_sender(&self) {
        let _sender = self.sender.lock();
        self.work.notify_one();
    }

    /// Queues a batch's callbacks for the producer's thread (run here if it has stopped).
    pub(super) fn run_behind(&self, job: CallbackJob) {
        let mut sender = self.sender.lock();
        if sender.stopped {
            drop(sender);
            job.run();
            return;
        }
        sender.jobs.push_back(job);
        sender.jobs_queued += 1;
        if sender.idle {
            self.work.notify_one();
        }
    }
}

/// Starts the producer's thread.
pub(super) fn spawn(shared: &Arc<Shared>) -> crate::Result<JoinHandle<()>> {
    let for_thread = shared.clone();
    std::thread::Builder::new()
        .name("partlog-producer".into())
        .spawn(move || run(&for_thread))
        .map_err(|source| Error::Io { op: "spawn the producer thread", path: Default::default(), source })
}

fn run(shared: &Shared) {
    SENDER_OF.with(|s| s.set(shared as *const Shared as usize));
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_loop(shared))) {
        // A bug: nothing on this thread but callbacks (contained) should panic.
        shared.stop_after_panic(super::panic_message(&*panic));
    }
    let left = {
        let mut sender = shared.sender.lock();
        sender.stopped = true;
        std::mem::take(&mut sender.jobs)
    };
    for job in left {
        job.run();
    }
    finish_jobs(shared, u64::MAX);
    SENDER_OF.with(|s| s.set(0));
}

/// Counts `n` callbacks jobs done (all, for `u64::MAX`) and wakes who waits for them.
fn finish_jobs(shared: &Shared, n: u64) {
    let mut sender = shared.sender.lock();
    sender.jobs_done = if n == u64::MAX { sender.jobs_queued } else { sender.jobs_done + n };
    drop(sender);
    shared.batches_done();
}

fn run_loop(shared: &Shared) {
    loop {
        let mut sender = shared.sender.lock();
        if let Some(job) = sender.jobs.pop_front() {
            drop(sender);
            job.run();
            finish_jobs(shared, 1);
            continue;
        }
        let now = Instant::now();
        if sender.abort {
            drop(sender);
            let error = Arc::new(Error::Closed { what: "producer (closed before the record was appended)".into() });
            let queues = shared.queues.lock().clone();
            // What a thread is still appending is left to it; its callbacks run where queued.
            for queue in queues {
                accumulator::abort(shared, &queue, &error);
            }
            let sender = shared.sender.lock();
            if sender.jobs.is_empty() {
                return;
            }
            continue;
        }
        let closing = sender.closing;
        if closing || sender.wake_at.is_some_and(|w| w <= now) {
            sender.wake_at = None;
            drop(sender);
            let queues = shared.queues.lock().clone();
            let next = queues.iter().filter_map(|q| accumulator::tend(shared, q, now, closing)).min();
            let mut sender = shared.sender.lock();
            if let Some(next) = next {
                sender.wake_at = Some(sender.wake_at.map_or(next, |w| w.min(next)));
            }
            if closing && sender.jobs.is_empty() && queues.iter().all(|q| accumulator::is_empty(q)) {
                return;
            }
            if closing && sender.jobs.is_empty() {
                // Another thread is appending a batch: look again shortly.
                sender.wake_at = Some(now + Duration::from_millis(1));
            }
            continue;
        }
        sender.idle = true;
        match sender.wake_at {
            Some(at) => {
                shared.work.wait_until(&mut sender, at);
            }
            None => shared.work.wait(&mut sender),
        }
        sender.idle = false;
    }
}

/// Waits until the callbacks of batches completed so far have run.
pub(super) fn wait_for_callbacks(shared: &Shared) {
    let target = shared.sender.lock().jobs_queued;
    shared.wait_progress(|| {
        let sender = shared.sender.lock();
        sender.jobs_done >= target || sender.stopped
    });
}

/// Stops sends, lets the producer's thread deliver what waits until `timeout` (forever for
/// `None`), then has it fail what is left and waits for it to stop. On that thread itself (from a
/// callback) nothing can be waited for: a timeout there fails what is left once the callback
/// returns (Kafka's `close(0)`); without one everything is delivered first.
pub(super) fn close(shared: &Shared, thread: &Mutex<Option<JoinHandle<()>>>, timeout: Option<Duration>) {
    shared.closed.store(true, Ordering::SeqCst);
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    {
        let mut sender = shared.sender.lock();
        sender.closing = true;
        if shared.on_own_thread() {
            sender.abort |= timeout.is_some();
            shared.work.notify_one();
            return;
        }
        shared.work.notify_one();
    }
    if shared.sender.lock().detached {
        return;
    }
    let stopped = || shared.sender.lock().stopped;
    shared.progress_waiters.fetch_add(1, Ordering::SeqCst);
    loop {
        let seen = *shared.progress.lock();
        if stopped() {
            break;
        }
        if deadline.is_some_and(|d| d <= Instant::now()) {
            shared.sender.lock().abort = true;
            shared.wake_sender();
            // The thread fails what is left and stops, unless it is inside an append (a hung
            // disk): that is not waited for past a moment's grace; the thread stops when the
            // append returns.
            let grace = Instant::now() + Duration::from_millis(100);
            while !stopped() && Instant::now() < grace {
                let mut progress = shared.progress.lock();
                shared.progressed.wait_for(&mut progress, Duration::from_millis(10));
            }
            if !stopped() {
                shared.sender.lock().detached = true;
                shared.progress_waiters.fetch_sub(1, Ordering::SeqCst);
                drop(thread.lock().take());
                return;
            }
            break;
        }
        let mut progress = shared.progress.lock();
        if *progress == seen {
            let wait = deadline.map_or(Duration::from_millis(50), |d| {
                d.saturating_duration_since(Instant::now()).min(Duration::from_millis(50))
            });
            shared.progressed.wait_for(&mut progress, wait);
        }
    }
    shared.progress_waiters.fetch_sub(1, Ordering::SeqCst);
    let thread = thread.lock().take();
    if let Some(thread) = thread {
        let _ = thread.join();
    }
}
