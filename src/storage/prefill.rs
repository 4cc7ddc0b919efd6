//! Zero-filling ahead of appends on a background thread.
//!
//! Appends to an active segment copy batches into its mapping, inside space that was zero-filled
//! with positioned writes first (see the `segment` module docs). That zero-fill is a large part
//! of an uncompressed append (the README's performance section has the numbers): the kernel
//! copies the zeros and reserves a block for every page. A `Log` runs one thread that does it ahead of the appenders: when an
//! append leaves less than half a chunk of zero-filled space, the segment asks the thread for the
//! next chunk, and the thread fills it and touches each of its pages through the mapping, so the
//! appender's copy takes no page faults either. An appender that gets there first fills the space
//! itself, as it does without the thread; a failed background fill is dropped and the appender's
//! own attempt reports the error.
//!
//! A second thread, started with the first job, runs work that may take long behind the
//! appends: the fsync of a segment sealed by a roll (as Kafka flushes a rolled segment in the
//! background), so that neither the appender nor the zero-fills wait for it.

use std::sync::{Arc, Weak};
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};

/// Work the prefill thread does for an active segment: zero-fill its next chunk.
pub(crate) trait FillAhead: Send + Sync {
    /// Zero-fills the next chunk, if there still is one to fill; failures are left to the
    /// appender.
    fn fill_ahead(&self);
}

/// Work done behind the appends that may take long (the fsync of a segment sealed by a roll):
/// on a thread of its own, so that no zero-fill waits behind it.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// The queue of segments waiting for a chunk, shared by the appenders and the thread; and the
/// queue of jobs for the second thread, started with the first job.
#[derive(Default)]
pub(crate) struct Prefill {
    state: Mutex<State>,
    wake: Condvar,
    thread: Mutex<Option<JoinHandle<()>>>,
    jobs: Mutex<JobState>,
    jobs_wake: Condvar,
    jobs_thread: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Default)]
struct State {
    queue: Vec<Weak<dyn FillAhead>>,
    stopped: bool,
}

#[derive(Default)]
struct JobState {
    queue: std::collections::VecDeque<Job>,
    stopped: bool,
}

impl std::fmt::Debug for Prefill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.lock();
        f.debug_struct("Prefill")
            .field("queued", &state.queue.len())
            .field("jobs", &self.jobs.lock().queue.len())
            .field("stopped", &state.stopped)
            .finish()
    }
}

impl Prefill {
    /// Starts the thread. Requests made before are served once it runs.
    pub(crate) fn start(self: &Arc<Self>) -> std::io::Result<()> {
        let shared = self.clone();
        let handle = std::thread::Builder::new().name("partlog-prefill".into()).spawn(move || shared.run())?;
        *self.thread.lock() = Some(handle);
        Ok(())
    }

    /// Queues `segment` for its next chunk. False once stopped: the appender fills for itself.
    pub(crate) fn request(&self, segment: Weak<dyn FillAhead>) -> bool {
        let mut state = self.state.lock();
        if state.stopped {
            return false;
        }
        state.queue.push(segment);
        drop(state);
        self.wake.notify_one();
        true
    }

    /// Runs `job` on the jobs thread (started now if it is not running yet). Gives the job back
    /// once stopped, or if the thread cannot be started: the caller does the work itself.
    pub(crate) fn run_behind(self: &Arc<Self>, job: Job) -> std::result::Result<(), Job> {
        let mut jobs = self.jobs.lock();
        if jobs.stopped {
            return Err(job);
        }
        let mut thread = self.jobs_thread.lock();
        if thread.is_none() {
            let shared = self.clone();
            match std::thread::Builder::new().name("partlog-flush".into()).spawn(move || shared.run_jobs()) {
                Ok(handle) => *thread = Some(handle),
                Err(_) => return Err(job),
            }
        }
        jobs.queue.push_back(job);
        drop((thread, jobs));
        self.jobs_wake.notify_one();
        Ok(())
    }

    /// Stops both threads (a chunk being filled and a job running are finished first; jobs not
    /// started are dropped) and waits for them.
    pub(crate) fn stop(&self) {
        self.state.lock().stopped = true;
        self.wake.notify_one();
        self.jobs.lock().stopped = true;
        self.jobs_wake.notify_one();
        if let Some(handle) = self.thread.lock().take() {
            let _ = handle.join();
        }
        if let Some(handle) = self.jobs_thread.lock().take() {
            let _ = handle.join();
        }
        self.jobs.lock().queue.clear();
    }

    fn run_jobs(&self) {
        loop {
            let job = {
                let mut jobs = self.jobs.lock();
                loop {
                    if jobs.stopped {
                        return;
                    }
                    if let Some(job) = jobs.queue.pop_front() {
                        break job;
                    }
                    self.jobs_wake.wait(&mut jobs);
                }
            };
            // A job that panics must not take the thread, and the jobs queued after it, along.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
        }
    }

    fn run(&self) {
        let mut batch = Vec::new();
        loop {
            {
                let mut state = self.state.lock();
                while state.queue.is_empty() && !state.stopped {
                    self.wake.wait(&mut state);
                }
                if state.stopped {
                    return;
                }
                std::mem::swap(&mut batch, &mut state.queue);
            }
            for segment in batch.drain(..) {
                if let Some(segment) = segment.upgrade() {
                    segment.fill_ahead();
                }
            }
        }
    }
}
