//! Tailing: readers blocked in [`Partition::wait_for`] are woken by the append that publishes
//! the offset they wait for, not by polling.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Partition;
use crate::error::Result;

impl Partition {
    pub(super) fn wake_waiters(&self) {
        let inner = &*self.inner;
        // Pairs with the SeqCst increment in wait_for: either the waiter sees the new end
        // offset, or this load sees the waiter and the notify reaches it under the lock.
        if inner.waiters.load(Ordering::SeqCst) > 0 {
            let _guard = inner.wait_lock.lock();
            inner.wait_cond.notify_all();
        }
    }

    /// Blocks until the log end offset passes `offset` (a record at `offset` exists) or
    /// `timeout` elapses, woken by the append itself. Returns whether the offset exists.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// assert!(!p.wait_for(0, Duration::from_millis(10))?);
    ///
    /// let writer = p.clone();
    /// let t = std::thread::spawn(move || writer.append(&[Record::new(b"hello")]));
    /// assert!(p.wait_for(0, Duration::from_secs(10))?);
    /// t.join().unwrap()?;
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn wait_for(&self, offset: u64, timeout: Duration) -> Result<bool> {
        let inner = &*self.inner;
        if inner.log_end_offset.load(Ordering::Acquire) > offset {
            return Ok(true);
        }
        // A timeout too long to add to now (`Duration::MAX`) waits without one.
        let deadline = Instant::now().checked_add(timeout);
        let mut guard = inner.wait_lock.lock();
        inner.waiters.fetch_add(1, Ordering::SeqCst);
        let result = loop {
            if inner.log_end_offset.load(Ordering::SeqCst) > offset {
                break Ok(true);
            }
            if let Err(e) = self.check_open() {
                break Err(e);
            }
            match deadline {
                Some(deadline) => {
                    if inner.wait_cond.wait_until(&mut guard, deadline).timed_out() {
                        break Ok(inner.log_end_offset.load(Ordering::SeqCst) > offset);
                    }
                }
                None => inner.wait_cond.wait(&mut guard),
            }
        };
        inner.waiters.fetch_sub(1, Ordering::SeqCst);
        result
    }
}
