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

use std::sync::{Arc, Weak};
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};

/// Work the prefill thread does for an active segment: zero-fill its next chunk.
pub(crate) trait FillAhead: Send + Sync {
    /// Zero-fills the next chunk, if there still is one to fill; failures are left to the
    /// appender.
    fn fill_ahead(&self);
}

/// The queue of segments waiting for a chunk, shared by the appenders and the thread.
#[derive(Default)]
pub(crate) struct Prefill {
    state: Mutex<State>,
    wake: Condvar,
    thread: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Default)]
struct State {
    queue: Vec<Weak<dyn FillAhead>>,
    stopped: bool,
}

impl std::fmt::Debug for Prefill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.lock();
        f.debug_struct("Prefill").field("queued", &state.queue.len()).field("stopped", &state.stopped).finish()
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

    /// Stops the thread (a chunk being filled is finished first) and waits for it.
    pub(crate) fn stop(&self) {
        self.state.lock().stopped = true;
        self.wake.notify_one();
        if let Some(handle) = self.thread.lock().take() {
            let _ = handle.join();
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
