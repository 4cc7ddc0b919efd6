//! Tailing: readers blocked in [`Partition::wait_for`] are woken by the append that publishes
//! the offset they wait for, not by polling.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::Partition;
use crate::error::Result;

impl Partition {
    pub(super) fn wake_waiters(&self) {
        let inner = &*self.inner;
        // Pairs with the SeqCst increment in wait_for: either the waiter sees the new end
        // offset, or this load sees the waiter and the notify reaches it under the lock.
        if inner.waiters.load(Ordering::SeqCst) > 0 {
            // Taking and releasing the lock is what orders this with a waiter's check; the
            // notify comes after, so the woken reader does not then wait for this lock.
            drop(inner.wait_lock.lock());
            inner.wait_cond.notify_all();
        }
        self.notify_watchers();
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

    /// [`wait_for`](Self::wait_for) for latency-critical tailers: first spins for up to `spin`,
    /// re-reading the log end offset (one core busy meanwhile), then parks as `wait_for` does
    /// for the rest of `timeout`. A record appended during the spin is seen within the time
    /// one core takes to see another's store, instead of a wake-up through the scheduler.
    /// Worth it only where a core is free to spin; `spin` of zero is `wait_for`.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// let writer = p.clone();
    /// let t = std::thread::spawn(move || writer.append(&[Record::new(b"tick")]));
    /// assert!(p.wait_for_spinning(0, Duration::from_micros(100), Duration::from_secs(10))?);
    /// t.join().unwrap()?;
    /// assert!(!p.wait_for_spinning(1, Duration::from_micros(10), Duration::from_millis(1))?);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn wait_for_spinning(&self, offset: u64, spin: Duration, timeout: Duration) -> Result<bool> {
        let inner = &*self.inner;
        let start = Instant::now();
        let spin = spin.min(timeout);
        loop {
            for _ in 0..64 {
                if inner.log_end_offset.load(Ordering::Acquire) > offset {
                    return Ok(true);
                }
                std::hint::spin_loop();
            }
            self.check_open()?;
            if start.elapsed() >= spin {
                break;
            }
        }
        self.wait_for(offset, timeout.saturating_sub(start.elapsed()))
    }
}

/// A wake-up shared by many partitions: one waiter (a consumer, an event loop) watches any
/// number of partitions with [`Partition::watch`] and sleeps on one signal until an append to
/// any of them (or a [`notify`](Self::notify) from elsewhere) fires it. No thread per
/// partition, and no polling: an idle waiter uses no CPU.
///
/// The signal is a flag, not a count: [`wait`](Self::wait) and [`take`](Self::take) clear it.
/// To miss nothing, clear it *before* looking for new records, then wait only if there were
/// none: an append that lands after the look fires the signal again and the wait returns at
/// once.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::time::Duration;
/// use partlog::{AppendSignal, Log, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let topic = log.create_topic("t", 4, TopicConfig::default())?;
/// let signal = AppendSignal::new();
/// let _watches: Vec<_> = topic.partitions().iter().map(|p| p.watch(&signal)).collect();
///
/// assert!(!signal.wait(Duration::from_millis(10))); // nothing appended yet
/// let writer = topic.partition(3)?;
/// let t = std::thread::spawn(move || writer.append(&[Record::new(b"hello")]));
/// assert!(signal.wait(Duration::from_secs(10)));    // woken by partition 3's append
/// t.join().unwrap()?;
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct AppendSignal {
    fired: AtomicBool,
    lock: Mutex<Option<Waker>>,
    cond: Condvar,
}

impl AppendSignal {
    /// A new signal, not fired.
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// use partlog::AppendSignal;
    /// let signal = AppendSignal::new();
    /// assert!(!signal.is_fired());
    /// assert!(!signal.wait(Duration::from_millis(1)));
    /// ```
    pub fn new() -> Arc<AppendSignal> {
        Arc::new(AppendSignal::default())
    }

    /// Fires the signal: wakes a thread blocked in [`wait`](Self::wait) and the task whose
    /// waker was [registered](Self::register_waker).
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// use partlog::AppendSignal;
    /// let signal = AppendSignal::new();
    /// let notifier = signal.clone();
    /// let t = std::thread::spawn(move || notifier.notify()); // e.g. to stop a waiting consumer
    /// assert!(signal.wait(Duration::from_secs(10)));
    /// t.join().unwrap();
    /// signal.notify();
    /// signal.notify(); // a flag, not a count: two notifies, one wake-up
    /// assert!(signal.take());
    /// assert!(!signal.take());
    /// ```
    pub fn notify(&self) {
        // Either the waiter's check under the lock sees `fired`, or it is asleep by the time
        // this takes the lock, and the notify reaches it.
        if self.fired.swap(true, Ordering::SeqCst) {
            return; // already fired: whoever fired it woke the waiter
        }
        let mut guard = self.lock.lock();
        let waker = guard.take();
        self.cond.notify_all();
        drop(guard);
        if let Some(waker) = waker {
            // An executor's waker is foreign code: its panic must not unwind into the appender
            // (or the group coordinator) that notified.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| waker.wake()));
        }
    }

    /// Clears the signal and says whether it was fired.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{AppendSignal, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// let signal = AppendSignal::new();
    /// let _watch = p.watch(&signal);
    /// assert!(!signal.take());
    /// p.append(&[Record::new(b"a")])?;
    /// assert!(signal.take()); // clear it before looking for the new records...
    /// assert_eq!(p.read(0, 1 << 20)?.len(), 1);
    /// assert!(!signal.take()); // ...so that only a later append fires it again
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn take(&self) -> bool {
        self.fired.swap(false, Ordering::SeqCst)
    }

    /// Whether the signal is fired (without clearing it).
    ///
    /// # Example
    /// ```
    /// use partlog::AppendSignal;
    /// let signal = AppendSignal::new();
    /// assert!(!signal.is_fired());
    /// signal.notify();
    /// assert!(signal.is_fired());
    /// assert!(signal.is_fired()); // still fired: looking does not clear it
    /// assert!(signal.take());
    /// assert!(!signal.is_fired());
    /// ```
    pub fn is_fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }

    /// Blocks until the signal fires or `timeout` passes, and clears it. Returns whether it
    /// fired.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{AppendSignal, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// let signal = AppendSignal::new();
    /// let _watch = p.watch(&signal);
    /// assert!(!signal.wait(Duration::from_millis(1))); // timed out
    /// p.append(&[Record::new(b"a")])?;
    /// assert!(signal.wait(Duration::from_secs(10))); // fired already: returns at once
    /// assert!(!signal.is_fired()); // and cleared
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn wait(&self, timeout: Duration) -> bool {
        if self.take() {
            return true;
        }
        let deadline = Instant::now().checked_add(timeout);
        let mut guard = self.lock.lock();
        loop {
            if self.take() {
                return true;
            }
            match deadline {
                Some(deadline) => {
                    if self.cond.wait_until(&mut guard, deadline).timed_out() {
                        return self.take();
                    }
                }
                None => self.cond.wait(&mut guard),
            }
        }
    }

    /// Registers `waker` to be woken (once) by the next [`notify`](Self::notify); an async
    /// waiter's `poll` calls this, then checks [`take`](Self::take) once more before returning
    /// `Pending`.
    ///
    /// # Example
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use std::task::{Wake, Waker};
    /// use partlog::AppendSignal;
    ///
    /// struct CountWakes(AtomicUsize);
    /// impl Wake for CountWakes {
    ///     fn wake(self: Arc<Self>) {
    ///         self.0.fetch_add(1, Ordering::SeqCst);
    ///     }
    /// }
    /// let wakes = Arc::new(CountWakes(AtomicUsize::new(0)));
    /// let signal = AppendSignal::new();
    /// signal.register_waker(&Waker::from(wakes.clone()));
    /// signal.notify();
    /// assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
    /// assert!(signal.take());
    /// signal.notify(); // not registered again: woken once only
    /// assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
    /// ```
    pub fn register_waker(&self, waker: &Waker) {
        let mut guard = self.lock.lock();
        match &mut *guard {
            Some(old) if old.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
    }
}

/// A partition watched by an [`AppendSignal`]: every append to it fires the signal, until this
/// is dropped. Made by [`Partition::watch`].
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{AppendSignal, Log, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
/// let signal = AppendSignal::new();
/// let watch = p.watch(&signal);
/// p.append(&[Record::new(b"a")])?;
/// assert!(signal.take());
/// drop(watch); // the watch ends
/// p.append(&[Record::new(b"b")])?;
/// assert!(!signal.take());
/// # Ok::<(), partlog::Error>(())
/// ```
#[must_use = "the watch ends when this is dropped"]
pub struct Watch {
    partition: Partition,
    id: u64,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch").field("partition", &self.partition.name()).finish()
    }
}

impl Watch {
    /// The watched partition.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{AppendSignal, Log, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let topic = log.create_topic("t", 2, TopicConfig::default())?;
    /// let signal = AppendSignal::new();
    /// let watches: Vec<_> = topic.partitions().iter().map(|p| p.watch(&signal)).collect();
    /// let names: Vec<_> = watches.iter().map(|w| w.partition().name()).collect();
    /// assert_eq!(names, ["t-0", "t-1"]);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn partition(&self) -> &Partition {
        &self.partition
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let inner = &*self.partition.inner;
        let mut watchers = inner.watchers.lock();
        let kept: Vec<_> = watchers.iter().filter(|(id, _)| *id != self.id).cloned().collect();
        inner.watcher_count.store(kept.len(), Ordering::SeqCst);
        *watchers = kept.into();
    }
}

/// The signals watching a partition, by watch id: replaced whole on change, so that appends
/// iterate a snapshot.
pub(super) type Watchers = Arc<[(u64, Arc<AppendSignal>)]>;

static NEXT_WATCH_ID: AtomicU64 = AtomicU64::new(0);

impl Partition {
    /// Fires `signal` on every append to this partition (and when it is closed or deleted),
    /// until the returned [`Watch`] is dropped. One signal can watch many partitions; see
    /// [`AppendSignal`].
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{AppendSignal, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let orders = log.create_topic("orders", 1, TopicConfig::default())?.partition(0)?;
    /// let payments = log.create_topic("payments", 1, TopicConfig::default())?.partition(0)?;
    /// let signal = AppendSignal::new();
    /// let (_a, _b) = (orders.watch(&signal), payments.watch(&signal)); // one signal, two partitions
    /// payments.append(&[Record::new(b"paid")])?;
    /// assert!(signal.take());
    /// orders.append(&[Record::new(b"ordered")])?;
    /// assert!(signal.take());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn watch(&self, signal: &Arc<AppendSignal>) -> Watch {
        let inner = &*self.inner;
        let id = NEXT_WATCH_ID.fetch_add(1, Ordering::Relaxed);
        let mut watchers = inner.watchers.lock();
        let mut list = watchers.to_vec();
        list.push((id, signal.clone()));
        inner.watcher_count.store(list.len(), Ordering::SeqCst);
        *watchers = list.into();
        Watch { partition: self.clone(), id }
    }

    /// Fires the signals watching this partition.
    pub(super) fn notify_watchers(&self) {
        let inner = &*self.inner;
        // Pairs with the SeqCst store in `watch`: a watch made after this load began after the
        // append was published, and its owner looks for records after making it.
        if inner.watcher_count.load(Ordering::SeqCst) > 0 {
            // A snapshot, so that a waker run here may watch or unwatch this partition.
            let watchers = inner.watchers.lock().clone();
            for (_, signal) in watchers.iter() {
                signal.notify();
            }
        }
    }
}
