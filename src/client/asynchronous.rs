//! The async consumer (the `async` feature): `poll` as a future and records as a `Stream`, for
//! any executor. Waiting is the consumer's [`AppendSignal`] with the task's waker registered:
//! an append to any assigned partition, a group change, a `wakeup`, or a group timer (fired by
//! one process-wide timer thread) wakes the task; nothing polls.
//!
//! The executor's thread never blocks on the consumer's work: records already fetched are
//! handed out on it (memory only), and everything else a poll does (the group step and its
//! rebalance callbacks, commits and their fsyncs, fetches from disk) runs on the consumer's
//! own worker thread, which wakes the task when it is done. The consumer moves to that thread
//! for the job and back.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use super::consumer::{Consumer, ConsumerRecord};
use super::timer;
use crate::error::{Error, Result};

/// What a poll job hands back: records, or none and when the group next needs a check-in.
type Outcome = Result<(Vec<ConsumerRecord>, Option<Instant>)>;

/// The consumer's place while a job runs, and the job's outcome.
#[derive(Default)]
struct Slot {
    /// With the worker while a job is queued or running; back here when it is done.
    consumer: Option<Box<Consumer>>,
    /// A poll to run, for at most this many records.
    job: Option<usize>,
    outcome: Option<Outcome>,
    /// The task to wake when the job is done.
    waker: Option<Waker>,
    /// The future that started the job was dropped: when the job is done, the consumer leaves
    /// `poll` (nobody is waiting for records any more).
    orphaned: bool,
    /// The consumer left `poll` for a dropped future, while away.
    left_poll: bool,
    stop: bool,
}

struct Shared {
    slot: Mutex<Slot>,
    /// A job or `stop` was put in the slot.
    work: Condvar,
    /// A job's outcome was put in the slot.
    done: Condvar,
}

/// The thread that runs polls' blocking work, started by the first job.
struct Worker {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// A job was handed over and its outcome not yet taken back.
    in_flight: bool,
}

impl Worker {
    fn run(shared: Arc<Shared>) {
        let mut slot = shared.slot.lock();
        loop {
            if slot.stop {
                return;
            }
            let Some(max_records) = slot.job.take() else {
                shared.work.wait(&mut slot);
                continue;
            };
            let Some(mut consumer) = slot.consumer.take() else { continue };
            drop(slot);
            // The consumer catches its callbacks' panics; anything else is a bug of ours,
            // reported instead of losing the consumer with the thread.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| consumer.poll_now(max_records)))
                .unwrap_or(Err(Error::InvalidState { what: "the async consumer's poll panicked" }));
            slot = shared.slot.lock();
            if std::mem::take(&mut slot.orphaned) {
                consumer.wake_parts().1.leave_poll();
                slot.left_poll = true;
            }
            slot.consumer = Some(consumer);
            slot.outcome = Some(outcome);
            let waker = slot.waker.take();
            shared.done.notify_all();
            drop(slot);
            if let Some(waker) = waker {
                // The executor's code: its panic must not end this thread (every later job,
                // and whoever waits for one, would hang).
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| waker.wake()));
            }
            slot = shared.slot.lock();
        }
    }

    /// Hands `consumer` over with a job; the task behind `waker` is woken when it is done.
    fn start(
        &mut self,
        consumer: Box<Consumer>,
        max_records: usize,
        waker: &Waker,
    ) -> std::result::Result<(), Box<Consumer>> {
        if self.thread.is_none() {
            let shared = self.shared.clone();
            match std::thread::Builder::new().name("partlog-async-consumer".into()).spawn(move || Worker::run(shared)) {
                Ok(thread) => self.thread = Some(thread),
                Err(_) => return Err(consumer),
            }
        }
        let mut slot = self.shared.slot.lock();
        slot.consumer = Some(consumer);
        slot.job = Some(max_records);
        slot.waker = Some(waker.clone());
        self.in_flight = true;
        self.shared.work.notify_one();
        Ok(())
    }

    /// The consumer, the outcome of the job in flight and whether the consumer left `poll`
    /// meanwhile, if it is done; else `waker` is woken when it is.
    fn finished(&mut self, waker: &Waker) -> Option<(Box<Consumer>, Outcome, bool)> {
        let mut slot = self.shared.slot.lock();
        if slot.outcome.is_none() {
            slot.waker = Some(waker.clone());
            return None;
        }
        self.in_flight = false;
        Some(take_done(&mut slot))
    }

    /// Waits for the job in flight to finish (a poll's work is bounded: it never waits for
    /// records).
    fn wait(&mut self) -> (Box<Consumer>, Outcome, bool) {
        let mut slot = self.shared.slot.lock();
        while slot.outcome.is_none() {
            self.shared.done.wait(&mut slot);
        }
        self.in_flight = false;
        take_done(&mut slot)
    }

    /// The future that started the job in flight is gone: the consumer leaves `poll` when the
    /// job is done (at once, if it is). Does not wait: a dropped future never blocks its
    /// executor.
    fn orphan(&mut self) {
        let mut slot = self.shared.slot.lock();
        if slot.outcome.is_some() {
            if let Some(consumer) = &slot.consumer {
                consumer.wake_parts().1.leave_poll();
                slot.left_poll = true;
            }
        } else {
            slot.orphaned = true;
        }
    }
}

/// What a finished job left in `slot`: the consumer, the outcome, whether it left `poll`.
fn take_done(slot: &mut Slot) -> (Box<Consumer>, Outcome, bool) {
    slot.orphaned = false;
    let left_poll = std::mem::take(&mut slot.left_poll);
    let outcome = slot.outcome.take().expect("the job is done");
    (slot.consumer.take().expect("returned with its outcome"), outcome, left_poll)
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.shared.slot.lock().stop = true;
        self.shared.work.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A [`Consumer`] for async code (rust-rdkafka's `StreamConsumer`): [`poll`](Self::poll) is a
/// future, [`stream`](Self::stream) yields records one by one. Runtime-agnostic.
///
/// While a poll is pending the consumer counts as polling for `max.poll.interval.ms`, as a
/// blocked `Consumer::poll` does; between polls, as in Kafka, the time the application takes
/// counts against it.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{AsyncConsumer, Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
/// let mut consumer = AsyncConsumer::new(Consumer::new(&log, ConsumerConfig::default())?);
/// consumer.consumer().assign(&[TopicPartition::new("t", 0)])?;
/// let writer = std::thread::spawn(move || {
///     std::thread::sleep(std::time::Duration::from_millis(20));
///     p.append(&[Record::new(b"hello")])
/// });
/// // Any executor; a minimal one here.
/// let records = futures_executor_block_on(consumer.poll())?;
/// assert_eq!(records[0].value.as_deref(), Some(&b"hello"[..]));
/// writer.join().unwrap()?;
/// # fn futures_executor_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     use std::task::{Context, Poll, Wake, Waker};
/// #     struct Unpark(std::thread::Thread);
/// #     impl Wake for Unpark { fn wake(self: std::sync::Arc<Self>) { self.0.unpark() } }
/// #     let waker = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
/// #     let mut f = std::pin::pin!(f);
/// #     loop {
/// #         if let Poll::Ready(v) = f.as_mut().poll(&mut Context::from_waker(&waker)) { return v }
/// #         std::thread::park();
/// #     }
/// # }
/// # Ok::<(), partlog::Error>(())
/// ```
pub struct AsyncConsumer {
    /// Here, unless a poll's job has it on the worker thread.
    consumer: Option<Box<Consumer>>,
    worker: Worker,
    /// The error of a job whose outcome no future awaited: returned by the next poll.
    deferred: Option<Error>,
    /// The consumer is marked as in `poll` (`max.poll.interval.ms`) for a pending future.
    polling: bool,
}

impl Drop for AsyncConsumer {
    fn drop(&mut self) {
        // Records a job handed out that nobody took go back before the consumer closes (its
        // auto-commit covers only what the application received).
        if self.worker.in_flight {
            self.reclaim();
        }
    }
}

impl std::fmt::Debug for AsyncConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncConsumer")
            .field("consumer", &self.consumer)
            .field("in_flight", &self.worker.in_flight)
            .finish_non_exhaustive()
    }
}

impl AsyncConsumer {
    /// Wraps `consumer`.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{AsyncConsumer, Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a")])?;
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("auto.offset.reset", "earliest")?)?;
    /// consumer.assign(&[TopicPartition::new("t", 0)])?;
    /// let mut consumer = AsyncConsumer::new(consumer);
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap(); // or any executor
    /// let records = rt.block_on(consumer.poll())?;
    /// assert_eq!(records[0].value.as_deref(), Some(&b"a"[..]));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn new(consumer: Consumer) -> AsyncConsumer {
        let shared = Arc::new(Shared { slot: Mutex::new(Slot::default()), work: Condvar::new(), done: Condvar::new() });
        AsyncConsumer {
            consumer: Some(Box::new(consumer)),
            worker: Worker { shared, thread: None, in_flight: false },
            deferred: None,
            polling: false,
        }
    }

    /// The consumer: subscribe, assign, commit, seek, close.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{AsyncConsumer, Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b")])?;
    /// let mut consumer = AsyncConsumer::new(Consumer::new(&log, ConsumerConfig::default())?);
    /// let tp = TopicPartition::new("t", 0);
    /// consumer.consumer().assign(&[tp.clone()])?;
    /// consumer.consumer().seek(&tp, 1)?;
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// assert_eq!(rt.block_on(consumer.poll())?[0].value.as_deref(), Some(&b"b"[..]));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn consumer(&mut self) -> &mut Consumer {
        self.reclaim()
    }

    /// The consumer, back from the worker if a job has it: waits for the job (bounded: a poll's
    /// work never waits for records); records it handed out that no future took are handed out
    /// again (the positions move back to them), and its error is kept for the next poll.
    fn reclaim(&mut self) -> &mut Consumer {
        if self.worker.in_flight {
            let (mut consumer, outcome, left_poll) = self.worker.wait();
            if left_poll {
                self.polling = false;
            }
            match outcome {
                Ok((records, _)) => consumer.give_back(records),
                Err(e) => {
                    self.deferred.get_or_insert(e);
                }
            }
            self.consumer = Some(consumer);
        }
        self.consumer.as_mut().expect("here when no job is in flight")
    }

    /// The consumer, unwrapped. Records fetched but not yet yielded stay with it: its
    /// position is the next record the application gets, as for every consumer.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{AsyncConsumer, Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b")])?;
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("auto.offset.reset", "earliest")?)?;
    /// let tp = TopicPartition::new("t", 0);
    /// consumer.assign(&[tp.clone()])?;
    /// let mut consumer = AsyncConsumer::new(consumer);
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// assert_eq!(rt.block_on(consumer.recv())?.offset, 0);
    /// let mut consumer = consumer.into_inner();
    /// assert_eq!(consumer.position(&tp)?, 1); // "b" was not handed out: it comes next
    /// assert_eq!(consumer.poll(std::time::Duration::ZERO)?[0].value.as_deref(), Some(&b"b"[..]));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn into_inner(mut self) -> Consumer {
        self.reclaim();
        *self.consumer.take().expect("reclaimed")
    }

    /// Resolves to the next records (at most `max.poll.records`, at least one), as
    /// `Consumer::poll` returns them, or an error.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{AsyncConsumer, Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b"), Record::new(b"c")])?;
    /// let config = ConsumerConfig::default().set("auto.offset.reset", "earliest")?.set("max.poll.records", "2")?;
    /// let mut consumer = Consumer::new(&log, config)?;
    /// consumer.assign(&[TopicPartition::new("t", 0)])?;
    /// let mut consumer = AsyncConsumer::new(consumer);
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// assert_eq!(rt.block_on(consumer.poll())?.len(), 2); // max.poll.records
    /// assert_eq!(rt.block_on(consumer.poll())?[0].offset, 2);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn poll(&mut self) -> PollFuture<'_> {
        let max_records = self.reclaim().config().max_poll_records;
        PollFuture { inner: self, pending: Pending::default(), max_records }
    }

    /// The records one by one, as a `futures_core::Stream` of `Result<ConsumerRecord>`; never
    /// ends by itself. (`partlog::futures_core` is the `futures-core` it implements.)
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::pin::Pin;
    /// use partlog::futures_core::Stream;
    /// use partlog::{AsyncConsumer, Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b"), Record::new(b"c")])?;
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("auto.offset.reset", "earliest")?)?;
    /// consumer.assign(&[TopicPartition::new("t", 0)])?;
    /// let mut consumer = AsyncConsumer::new(consumer);
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let offsets = rt.block_on(async {
    ///     let mut stream = consumer.stream();
    ///     let mut offsets = Vec::new();
    ///     while offsets.len() < 3 {
    ///         let next = std::future::poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await;
    ///         offsets.push(next.expect("never ends")?.offset);
    ///     }
    ///     Ok::<_, partlog::Error>(offsets)
    /// })?;
    /// assert_eq!(offsets, [0, 1, 2]); // one record at a time
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn stream(&mut self) -> RecordStream<'_> {
        RecordStream { inner: self, pending: Pending::default() }
    }

    /// The next record (rust-rdkafka's `StreamConsumer::recv`), without a `Stream` adapter.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{AsyncConsumer, Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b")])?;
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("auto.offset.reset", "earliest")?)?;
    /// consumer.assign(&[TopicPartition::new("t", 0)])?;
    /// let mut consumer = AsyncConsumer::new(consumer);
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let first = rt.block_on(consumer.recv())?;
    /// assert_eq!((first.offset, first.value.as_deref()), (0, Some(&b"a"[..])));
    /// assert_eq!(rt.block_on(consumer.recv())?.offset, 1);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub async fn recv(&mut self) -> Result<ConsumerRecord> {
        let mut stream = self.stream();
        std::future::poll_fn(|cx| {
            futures_core::Stream::poll_next(Pin::new(&mut stream), cx).map(|r| r.expect("the stream never ends"))
        })
        .await
    }
}

/// A pending poll's state: the group deadline the timer thread will wake it at.
#[derive(Debug, Default)]
struct Pending {
    armed: Option<std::time::Instant>,
}

impl AsyncConsumer {
    /// One look for records, never blocking the calling thread: buffered records at once; else
    /// the poll's work on the worker thread, whose outcome a later call takes. The task is
    /// registered before any look, so that nothing arriving after it is missed.
    fn poll_once(
        &mut self,
        pending: &mut Pending,
        max_records: usize,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Vec<ConsumerRecord>>> {
        let outcome = if self.worker.in_flight {
            let Some((consumer, outcome, left_poll)) = self.worker.finished(cx.waker()) else {
                return Poll::Pending;
            };
            if left_poll {
                self.polling = false;
            }
            self.consumer = Some(consumer);
            outcome
        } else {
            if let Some(e) = self.deferred.take() {
                return self.ready(Err(e));
            }
            let consumer = self.consumer.as_mut().expect("here when no job is in flight");
            consumer.wake_parts().1.touch();
            if let Some(records) = consumer.take_buffered(max_records) {
                return self.ready(Ok(records));
            }
            self.enter_pending();
            let consumer = self.consumer.take().expect("here when no job is in flight");
            consumer.wake_parts().0.register_waker(cx.waker());
            if let Err(consumer) = self.worker.start(consumer, max_records, cx.waker()) {
                // No thread for the work: do it here, as a blocking poll would.
                let consumer = self.consumer.insert(consumer);
                let outcome = consumer.poll_now(max_records);
                return self.settle(pending, outcome, cx);
            }
            return Poll::Pending;
        };
        self.settle(pending, outcome, cx)
    }

    /// Records, an error, or nothing yet: then the task waits for an append, a group change or
    /// the group's next deadline (unless something arrived while the job looked).
    fn settle(
        &mut self,
        pending: &mut Pending,
        outcome: Outcome,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Vec<ConsumerRecord>>> {
        match outcome {
            Ok((records, next_check)) if records.is_empty() => {
                self.enter_pending();
                let consumer = self.consumer.as_mut().expect("back from the job");
                let (signal, _) = consumer.wake_parts();
                // Registered before the look: a notify since the job's look (which may have
                // taken the waker registered before the job) wakes this task.
                signal.register_waker(cx.waker());
                if signal.is_fired() {
                    // Notified after the job's look: look again.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                // One timer entry per deadline, not one per wake-up.
                if let Some(at) = next_check.filter(|at| pending.armed != Some(*at)) {
                    timer::fire_at(at, signal);
                    pending.armed = Some(at);
                }
                Poll::Pending
            }
            other => self.ready(other.map(|(records, _)| records)),
        }
    }

    fn enter_pending(&mut self) {
        if !self.polling {
            let consumer = self.consumer.as_ref().expect("called while the consumer is here");
            consumer.wake_parts().1.enter_poll();
            self.polling = true;
        }
    }

    fn ready(&mut self, result: Result<Vec<ConsumerRecord>>) -> Poll<Result<Vec<ConsumerRecord>>> {
        if self.polling {
            if let Some(consumer) = &self.consumer {
                consumer.wake_parts().1.leave_poll();
            }
            self.polling = false;
        }
        Poll::Ready(result)
    }

    /// A future is dropped: the consumer leaves `poll`, now or when its job is done, without
    /// waiting for it (the job's records are given back when the consumer is next used).
    fn leave_pending(&mut self) {
        if !self.polling {
            return;
        }
        match &self.consumer {
            Some(consumer) => {
                consumer.wake_parts().1.leave_poll();
                self.polling = false;
            }
            None => self.worker.orphan(),
        }
    }
}

/// The future of [`AsyncConsumer::poll`]: pending until records arrive (an append wakes it),
/// without blocking the executor's thread meanwhile.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::time::Duration;
/// use partlog::{AsyncConsumer, Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
/// let mut consumer = AsyncConsumer::new(Consumer::new(&log, ConsumerConfig::default())?);
/// consumer.consumer().assign(&[TopicPartition::new("t", 0)])?;
/// let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
/// let records = rt.block_on(async {
///     let future = consumer.poll(); // nothing to read yet: pending
///     let appender = async {
///         tokio::time::sleep(Duration::from_millis(20)).await; // the executor runs this meanwhile
///         p.append(&[Record::new(b"a")]).unwrap(); // wakes the pending poll
///     };
///     let (records, ()) = tokio::join!(future, appender);
///     records
/// })?;
/// assert_eq!(records[0].value.as_deref(), Some(&b"a"[..]));
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct PollFuture<'a> {
    inner: &'a mut AsyncConsumer,
    pending: Pending,
    max_records: usize,
}

impl Future for PollFuture<'_> {
    type Output = Result<Vec<ConsumerRecord>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.inner.poll_once(&mut this.pending, this.max_records, cx)
    }
}

impl Drop for PollFuture<'_> {
    fn drop(&mut self) {
        self.inner.leave_pending();
    }
}

/// The stream of [`AsyncConsumer::stream`]: one record per item, pending until one arrives.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::pin::Pin;
/// use std::time::Duration;
/// use partlog::futures_core::Stream;
/// use partlog::{AsyncConsumer, Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
/// let mut consumer = AsyncConsumer::new(Consumer::new(&log, ConsumerConfig::default())?);
/// consumer.consumer().assign(&[TopicPartition::new("t", 0)])?;
/// let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
/// let record = rt.block_on(async {
///     let mut stream = consumer.stream();
///     let next = std::future::poll_fn(|cx| Pin::new(&mut stream).poll_next(cx));
///     let appender = async {
///         tokio::time::sleep(Duration::from_millis(20)).await;
///         p.append(&[Record::new(b"a"), Record::new(b"b")]).unwrap();
///     };
///     let (record, ()) = tokio::join!(next, appender);
///     record.expect("never ends")
/// })?;
/// assert_eq!(record.value.as_deref(), Some(&b"a"[..])); // "b" waits, not yet handed out
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct RecordStream<'a> {
    inner: &'a mut AsyncConsumer,
    pending: Pending,
}

impl futures_core::Stream for RecordStream<'_> {
    type Item = Result<ConsumerRecord>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        // One record at a time: the rest stay in the consumer's fetch buffer, not yet handed
        // out, so a commit never covers them.
        match this.inner.poll_once(&mut this.pending, 1, cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok(mut records)) => {
                // More than one only from a job a dropped `poll()` future started: the rest
                // go back to the consumer, not yet handed out.
                let rest = records.split_off(records.len().min(1));
                if !rest.is_empty() {
                    this.inner.reclaim().give_back(rest);
                }
                Poll::Ready(records.pop().map(Ok))
            }
        }
    }
}

impl Drop for RecordStream<'_> {
    fn drop(&mut self) {
        self.inner.leave_pending();
    }
}
