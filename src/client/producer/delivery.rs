//! Outcomes and who waits for them: one [`BatchCompletion`] per batch, shared by the
//! [`DeliveryFuture`]s of its records (record `i` of a run appended at `base` is at `base + i`),
//! and the batch's callbacks, run in order on the producer's thread. A send costs no allocation
//! of its own: its future is the batch's completion and the record's index.

use std::sync::{Arc, Weak};
use std::task::Waker;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::accumulator::{self, PartitionQueue};
use super::record::{DeliveryError, DeliveryResult, ProducerRecord, RecordMetadata};
use super::Shared;
use crate::error::Error;
use crate::format::builder::BatchBuilder;
use crate::format::record::OwnedHeader;

/// A delivery callback.
pub(super) type Callback = Box<dyn FnOnce(DeliveryResult) + Send>;

/// What became of a run of a batch's records: appended at a base offset (with the append's max
/// timestamp), or failed.
pub(super) type RunResult = std::result::Result<(u64, i64), Arc<Error>>;

/// What became of a batch: its records in runs (one, unless a batch refused as too large was
/// split), each appended or failed.
#[derive(Debug)]
pub(super) struct BatchOutcome {
    /// `(end, result)`: records up to index `end` (exclusive) from the previous run's end.
    pub(super) runs: Vec<(u32, RunResult)>,
    /// Each record's timestamp as sent (CreateTime).
    pub(super) timestamps: Vec<i64>,
    /// Whether the topic stamps records with their append time (the run's max timestamp).
    pub(super) log_append_time: bool,
    /// The records, kept when some failed, to hand back in their errors.
    pub(super) records: Option<BatchBuilder>,
}

impl BatchOutcome {
    /// A whole batch failed with `error`, its records kept.
    pub(super) fn failed(count: u32, error: Arc<Error>, timestamps: Vec<i64>, records: BatchBuilder) -> Self {
        BatchOutcome { runs: vec![(count, Err(error))], timestamps, log_append_time: false, records: Some(records) }
    }

    /// The outcome of record `index`, for `topic`-`partition`.
    fn record_result(&self, topic: &Arc<str>, partition: u32, index: u32) -> DeliveryResult {
        let mut start = 0;
        for (end, result) in &self.runs {
            if index < *end {
                return match result {
                    Ok((base, max_timestamp)) => Ok(RecordMetadata {
                        topic: topic.clone(),
                        partition,
                        offset: base + (index - start) as u64,
                        timestamp: if self.log_append_time {
                            *max_timestamp
                        } else {
                            self.timestamps.get(index as usize).copied().unwrap_or(-1)
                        },
                    }),
                    Err(error) => Err(DeliveryError {
                        error: error.clone(),
                        record: Box::new(self.record(topic, partition, index)),
                    }),
                };
            }
            start = *end;
        }
        unreachable!("record {index} of a batch whose runs end at {start}")
    }

    /// Record `index` as it was sent (to `partition`, with its timestamp filled in).
    fn record(&self, topic: &str, partition: u32, index: u32) -> ProducerRecord {
        let Some(r) = self.records.as_ref().and_then(|b| b.records().nth(index as usize)) else {
            return ProducerRecord { topic: topic.to_owned(), partition: Some(partition), ..ProducerRecord::default() };
        };
        ProducerRecord {
            topic: topic.to_owned(),
            partition: Some(partition),
            key: r.key().map(<[u8]>::to_vec),
            value: r.value().map(<[u8]>::to_vec),
            timestamp: Some(r.timestamp()),
            headers: r
                .headers()
                .map(|h| OwnedHeader { key: h.key.to_vec(), value: h.value.map(<[u8]>::to_vec) })
                .collect(),
        }
    }
}

/// Where a batch's outcome meets the futures of its records.
pub(super) struct BatchCompletion {
    pub(super) topic: Arc<str>,
    pub(super) partition: u32,
    /// The batch's number in its queue.
    pub(super) id: u64,
    /// When the batch opened plus `delivery.timeout.ms`; `None` if that does not fit an `Instant`.
    pub(super) deadline: Option<Instant>,
    state: Mutex<CompletionState>,
    done: Condvar,
    producer: Weak<Shared>,
    queue: Weak<PartitionQueue>,
}

#[derive(Default)]
struct CompletionState {
    outcome: Option<Arc<BatchOutcome>>,
    /// Tasks awaiting records of the batch.
    wakers: Vec<Waker>,
}

impl std::fmt::Debug for BatchCompletion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "batch {} of {}-{}", self.id, self.topic, self.partition)
    }
}

impl BatchCompletion {
    pub(super) fn new(
        queue: &Arc<PartitionQueue>,
        producer: Weak<Shared>,
        id: u64,
        opened: Instant,
        timeout: Duration,
    ) -> Self {
        BatchCompletion {
            topic: queue.topic.clone(),
            partition: queue.partition.id(),
            id,
            deadline: opened.checked_add(timeout),
            state: Mutex::new(CompletionState::default()),
            done: Condvar::new(),
            producer,
            queue: Arc::downgrade(queue),
        }
    }

    /// Hands the outcome to every waiter (once: a second outcome is ignored).
    pub(super) fn complete(&self, outcome: Arc<BatchOutcome>) {
        self.set(outcome).run();
    }

    /// Sets the outcome (once), and wakes blocked waiters; tasks awaiting it are woken by
    /// [`Wake::run`], which the caller runs once it holds no lock.
    pub(super) fn set(&self, outcome: Arc<BatchOutcome>) -> Wake {
        let mut state = self.state.lock();
        if state.outcome.is_some() {
            return Wake(Vec::new());
        }
        state.outcome = Some(outcome);
        let wakers = std::mem::take(&mut state.wakers);
        drop(state);
        self.done.notify_all();
        Wake(wakers)
    }

    pub(super) fn outcome(&self) -> Option<Arc<BatchOutcome>> {
        self.state.lock().outcome.clone()
    }

    /// A thread that blocks for a record sends nothing more meanwhile: the record's batch need not
    /// linger, and goes now (appended here, unless another thread is appending the queue). On
    /// the producer's own thread (a delivery callback) nothing else would append it.
    fn push_out(&self) {
        let (Some(producer), Some(queue)) = (self.producer.upgrade(), self.queue.upgrade()) else { return };
        accumulator::push_out(&producer, &queue, self.id);
    }

    /// Past the delivery deadline: fails the batch if its append has not started (another thread
    /// may be stuck on a slow disk, or the producer's thread in a slow callback).
    fn expire(&self) {
        if let (Some(producer), Some(queue)) = (self.producer.upgrade(), self.queue.upgrade()) {
            accumulator::expire(&producer, &queue, Instant::now());
        }
    }

    /// Waits for the outcome until `until` (`None`: forever), failing the batch at its delivery
    /// deadline if its append has not started by then.
    fn wait_until(&self, until: Option<Instant>) -> Option<Arc<BatchOutcome>> {
        let mut deadline = self.deadline;
        let mut state = self.state.lock();
        loop {
            if let Some(outcome) = &state.outcome {
                return Some(outcome.clone());
            }
            // Pushed out again now and then: a thread appending the queue may hand the rest on
            // to the producer's thread, which may be this one (in a callback) or busy.
            drop(state);
            self.push_out();
            state = self.state.lock();
            if state.outcome.is_some() {
                continue;
            }
            let now = Instant::now();
            let wake_at = [until, deadline].into_iter().flatten().fold(now + PUSH_AGAIN, Instant::min);
            let timed_out = self.done.wait_until(&mut state, wake_at).timed_out();
            if !timed_out || state.outcome.is_some() {
                continue;
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| d <= now) {
                deadline = None;
                drop(state);
                self.expire();
                state = self.state.lock();
                continue;
            }
            if until.is_some_and(|u| u <= now) {
                return None;
            }
        }
    }
}

/// How often a blocked wait for a batch pushes it out again.
const PUSH_AGAIN: Duration = Duration::from_millis(10);

/// Tasks to wake: an outcome was set.
#[must_use]
pub(super) struct Wake(Vec<Waker>);

impl Wake {
    pub(super) fn run(self) {
        for waker in self.0 {
            // An executor's waker is not ours to trust: one that panics must not take the
            // appending thread down (issue 24).
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| waker.wake()));
        }
    }
}

/// The callbacks of a completed batch, run in order on the producer's thread.
pub(super) struct CallbackJob {
    pub(super) completion: Arc<BatchCompletion>,
    pub(super) callbacks: Vec<(u32, Callback)>,
}

impl CallbackJob {
    /// Runs the callbacks; a panicking one is contained.
    pub(super) fn run(self) {
        let outcome = self.completion.outcome().expect("a job is queued after its batch completes");
        for (index, callback) in self.callbacks {
            let result = outcome.record_result(&self.completion.topic, self.completion.partition, index);
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| callback(result)));
        }
    }
}

/// The pending outcome of a [`Producer::send`](super::Producer::send): wait on it for a
/// synchronous send, `.await` it (it is a `Future`, for any executor), or drop it (the record is
/// still delivered; only its outcome is not looked at).
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Log, Producer, ProducerConfig, ProducerRecord, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("orders", 1, TopicConfig::default())?.partition(0)?;
/// let producer = Producer::new(&log, ProducerConfig::default())?;
/// let future = producer.send(ProducerRecord::new("orders", "a"));
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap(); // or any executor
/// assert_eq!(rt.block_on(future).unwrap().offset, 0); // awaited
/// drop(producer.send(ProducerRecord::new("orders", "b"))); // dropped: still delivered
/// producer.flush()?;
/// assert_eq!(p.log_end_offset(), 2);
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug)]
pub struct DeliveryFuture {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    /// Failed before it joined a batch (or already taken).
    Ready(Option<DeliveryResult>),
    InBatch {
        completion: Arc<BatchCompletion>,
        index: u32,
    },
}

impl DeliveryFuture {
    pub(super) fn ready(result: DeliveryResult) -> Self {
        DeliveryFuture { inner: Inner::Ready(Some(result)) }
    }

    pub(super) fn in_batch(completion: Arc<BatchCompletion>, index: u32) -> Self {
        DeliveryFuture { inner: Inner::InBatch { completion, index } }
    }

    /// Blocks until the record is appended (and, on a synchronous topic, fsynced) or has failed.
    /// It returns by `delivery.timeout.ms` after its batch opened ([`Error::DeliveryTimeout`])
    /// unless the batch's append has started by then. A record still lingering for its batch is
    /// not waited out: the thread that waits sends nothing more meanwhile, so the batch goes at
    /// once (awaiting the future, other tasks may still send: it lingers).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Error, Log, Producer, ProducerConfig, ProducerRecord, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("orders", 1, TopicConfig::default())?.partition(0)?;
    /// let producer = Producer::new(&log, ProducerConfig::default().set("linger.ms", "60000")?)?;
    /// let future = producer.send(ProducerRecord::new("orders", "pizza"));
    /// producer.flush()?; // instead of waiting out linger.ms
    /// let meta = future.wait().unwrap();
    /// assert_eq!(p.read(meta.offset, 1 << 20)?[0].value.as_deref(), Some(&b"pizza"[..])); // appended
    /// let failed = producer.send(ProducerRecord::new("orders", "x").partition(5)).wait().unwrap_err();
    /// assert!(matches!(*failed.error, Error::UnknownPartition { .. }));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn wait(self) -> DeliveryResult {
        match self.wait_until(None) {
            Ok(result) => result,
            Err(_) => unreachable!("an unbounded wait ends with the outcome"),
        }
    }

    /// [`wait`](Self::wait) for at most `timeout`; `Err(self)` if it is still pending.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{Log, Producer, ProducerConfig, ProducerRecord, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 1, TopicConfig::default())?;
    /// let producer = Producer::new(&log, ProducerConfig::default().set("linger.ms", "60000")?)?;
    /// let future = producer.send(ProducerRecord::new("orders", b"x".to_vec()));
    /// // A wait sends the lingering batch at once: no minute of linger.ms.
    /// let meta = future.wait_timeout(Duration::from_secs(5)).ok().unwrap().unwrap();
    /// assert_eq!(meta.offset, 0);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn wait_timeout(self, timeout: Duration) -> std::result::Result<DeliveryResult, DeliveryFuture> {
        // A timeout too long to represent is as good as forever.
        self.wait_until(Some(Instant::now().checked_add(timeout)))
    }

    /// `until`: `None` forever; `Some(None)` a bounded wait whose end does not fit an `Instant`.
    fn wait_until(mut self, until: Option<Option<Instant>>) -> std::result::Result<DeliveryResult, DeliveryFuture> {
        match &mut self.inner {
            Inner::Ready(result) => Ok(result.take().expect("a future is waited for once")),
            Inner::InBatch { completion, index } => {
                let outcome = match until {
                    None | Some(None) => completion.wait_until(None),
                    Some(Some(at)) => completion.wait_until(Some(at)),
                };
                match outcome {
                    Some(outcome) => Ok(outcome.record_result(&completion.topic, completion.partition, *index)),
                    None => Err(self),
                }
            }
        }
    }

    /// Whether the outcome is known.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Producer, ProducerConfig, ProducerRecord, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 1, TopicConfig::default())?;
    /// let producer = Producer::new(&log, ProducerConfig::default().set("linger.ms", "60000")?)?;
    /// let lingering = producer.send(ProducerRecord::new("orders", "a"));
    /// assert!(!lingering.is_done()); // waits up to linger.ms for its batch to fill
    /// let refused = producer.send(ProducerRecord::new("refunds", "a"));
    /// assert!(refused.is_done()); // an unknown topic fails at once
    /// producer.flush()?;
    /// assert!(lingering.is_done() && lingering.wait().is_ok());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn is_done(&self) -> bool {
        match &self.inner {
            Inner::Ready(_) => true,
            Inner::InBatch { completion, .. } => completion.state.lock().outcome.is_some(),
        }
    }
}

/// Awaiting a delivery (any executor): resolves as [`DeliveryFuture::wait`] returns, without
/// blocking a thread. The delivery deadline is enforced by the producer's thread here (an
/// executor's own timeout bounds the wait).
impl std::future::Future for DeliveryFuture {
    type Output = DeliveryResult;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<DeliveryResult> {
        let this = self.get_mut();
        let (completion, index) = match &mut this.inner {
            Inner::Ready(result) => {
                return std::task::Poll::Ready(result.take().expect("a future is polled after Ready"));
            }
            Inner::InBatch { completion, index } => (completion, *index),
        };
        // Polled on the producer's own thread (an executor blocking in a callback): nothing
        // else might append the batch, and nothing would wake this task; it is waited for here.
        if completion.producer.upgrade().is_some_and(|p| p.on_own_thread()) {
            let outcome = completion.wait_until(None).expect("an unbounded wait ends with the outcome");
            return std::task::Poll::Ready(outcome.record_result(&completion.topic, completion.partition, index));
        }
        let mut state = completion.state.lock();
        if let Some(outcome) = &state.outcome {
            return std::task::Poll::Ready(outcome.record_result(&completion.topic, completion.partition, index));
        }
        if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            state.wakers.push(cx.waker().clone());
        }
        std::task::Poll::Pending
    }
}
