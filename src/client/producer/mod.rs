//! Kafka's producer, in-process (`KafkaProducer`, `RecordAccumulator`, `BuiltInPartitioner`):
//! records are partitioned as Kafka partitions them and encoded once, at `send`, on the sending
//! thread, into the open batch of their partition; a batch is appended when it reaches
//! `batch.size` or has waited `linger.ms`. Built on the public [`Log`] / [`Partition`] API, plus
//! the partition's append of a batch the producer built (not decoded again).
//!
//! Who appends: the thread that fills a batch, a `flush`, a sender waiting for `buffer.memory`,
//! or, when `linger.ms` runs out, the producer's own thread. One thread at a time appends a
//! partition's batches, in send order; the others go on encoding into the next batch. Delivery
//! callbacks run on the producer's own thread, in send order per partition; futures resolve as
//! soon as their batch is appended. `buffer.memory` bounds what waits; when it is spent, `send`
//! blocks up to `max.block.ms` (appending what lingers meanwhile); `delivery.timeout.ms` bounds
//! how long a batch waits for its append.
//!
//! So that nothing waits forever:
//! - a panic inside an append (a bug) fails that batch and everything waiting, and closes the
//!   producer: later sends fail at once; `flush`, `close` and `Drop` return. Callbacks' and
//!   executor wakers' panics are contained where they run;
//! - from a delivery callback, `flush` fails at once with [`Error::InvalidState`] (it would wait
//!   for the callbacks of its own thread, as Kafka 4.0 refuses it); waiting there for a record of
//!   the same producer appends the record's batch at once rather than waiting out `linger.ms`;
//! - a batch waiting behind an append of its partition that does not return (a disk that
//!   hangs) fails with [`Error::DeliveryTimeout`] once `delivery.timeout.ms` passed since it
//!   opened, and is never appended.
//!
//! A batch that a lowered `max.message.bytes` makes too large is split and appended again
//! (Kafka's `splitAndReenqueue`), in order; only a record too large on its own fails.

mod accumulator;
mod config;
mod delivery;
mod record;
mod sender;

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};

use self::accumulator::{Memory, PartitionQueue, TopicQueues};
pub use self::config::{Partitioner, ProducerConfig};
pub use self::delivery::DeliveryFuture;
use self::delivery::{BatchCompletion, Callback};
pub use self::record::{DeliveryError, DeliveryResult, ProducerRecord, RecordMetadata};
use crate::error::Error;
use crate::format::record::{Header, Record};
use crate::log::Log;
#[cfg(doc)]
use crate::partition::Partition;

thread_local! {
    /// On a producer's own thread, the address of that producer's [`Shared`]; 0 elsewhere. What
    /// lets a call made from a delivery callback see that it runs there.
    static SENDER_OF: Cell<usize> = const { Cell::new(0) };
}

/// What the producer's handles and threads share.
struct Shared {
    log: Log,
    config: ProducerConfig,
    partitioner: Option<Arc<dyn Partitioner>>,
    /// Topics as resolved, by name.
    topics: RwLock<HashMap<String, Arc<TopicQueues>>>,
    /// Every queue made, for `flush`, `close` and the producer's thread to tend.
    queues: Mutex<Vec<Arc<PartitionQueue>>>,
    memory: Memory,
    closed: AtomicBool,
    /// Why the producer stopped itself: a panic in an append (its message).
    failure: Mutex<Option<String>>,
    sender: Mutex<sender::SenderState>,
    /// Wakes the producer's thread.
    work: Condvar,
    /// Bumped when batches or callbacks complete, while anyone waits for that.
    progress: Mutex<u64>,
    progressed: Condvar,
    progress_waiters: AtomicUsize,
}

impl Shared {
    /// Whether this is the producer's own thread (a delivery callback runs here).
    fn on_own_thread(&self) -> bool {
        SENDER_OF.with(Cell::get) == self as *const Shared as usize
    }

    /// The error of a send to a closed producer.
    fn closed_error(&self) -> Error {
        match &*self.failure.lock() {
            Some(panic) => Error::Closed { what: format!("producer (a thread panicked appending: {panic})") },
            None => Error::Closed { what: "producer".into() },
        }
    }

    /// Why batches must fail rather than be appended: the producer stopped after a panic.
    fn stopped(&self) -> Option<Error> {
        let failure = self.failure.lock();
        failure.as_ref().map(|panic| Error::Closed {
            what: format!("producer (a thread panicked appending: {panic}; the record was not appended)"),
        })
    }

    /// After a panic in an append: closes the producer and fails what waits.
    fn stop_after_panic(&self, message: String) {
        self.failure.lock().get_or_insert(message);
        self.closed.store(true, Ordering::SeqCst);
        let error = Arc::new(self.stopped().expect("just set"));
        let queues = self.queues.lock().clone();
        for queue in queues {
            accumulator::abort(self, &queue, &error);
        }
        self.wake_sender();
        self.batches_done();
    }

    /// Records that batches or callbacks completed, waking who waits for that.
    fn batches_done(&self) {
        if self.progress_waiters.load(Ordering::SeqCst) > 0 {
            *self.progress.lock() += 1;
            self.progressed.notify_all();
        }
    }

    /// Waits until `done` holds, looking again whenever batches complete.
    fn wait_progress(&self, done: impl Fn() -> bool) {
        self.progress_waiters.fetch_add(1, Ordering::SeqCst);
        loop {
            let seen = *self.progress.lock();
            if done() {
                break;
            }
            let mut progress = self.progress.lock();
            if *progress == seen {
                // Bounded: a completion that raced the check is seen on the next look.
                self.progressed.wait_for(&mut progress, Duration::from_millis(50));
            }
        }
        self.progress_waiters.fetch_sub(1, Ordering::SeqCst);
    }

    /// Waits, in turn, up to `max.block.ms` for `bytes` of `buffer.memory`, appending what
    /// lingers meanwhile (that is what frees memory).
    fn wait_for_memory(&self, bytes: usize) -> crate::Result<()> {
        let deadline = Instant::now().checked_add(Duration::from_millis(self.config.max_block_ms));
        let help = || {
            // Cloned first: no lock is held while appending.
            let queues = self.queues.lock().clone();
            for queue in queues {
                accumulator::push_all(self, &queue);
            }
        };
        match self.memory.take(bytes, deadline, help) {
            true => Ok(()),
            false => Err(Error::BufferFull {
                waited_ms: self.config.max_block_ms,
                buffer_memory: self.config.buffer_memory as u64,
            }),
        }
    }

    /// The queues of topic `name`, looked up again if the log's topics changed since they were
    /// (a partition's queue is kept while the partition is the same).
    fn topic(&self, name: &str) -> crate::Result<Arc<TopicQueues>> {
        let version = self.log.topics_version();
        if let Some(topic) = self.topics.read().get(name).filter(|t| t.is_current(version)) {
            return Ok(topic.clone());
        }
        let topic = self.log.topic(name)?;
        let mut topics = self.topics.write();
        let known = topics.get(name).cloned();
        if let Some(known) = known.as_ref().filter(|k| k.same_partitions(&topic) || k.checked_after(version)) {
            // The same partitions, or looked up by another thread since this one read the log:
            // never replaced by an older view.
            known.confirm(version);
            return Ok(known.clone());
        }
        let queues = Arc::new(TopicQueues::new(topic, version, known.as_deref()));
        if let Some(known) = known {
            known.replace_with(queues.clone());
        }
        let mut all = self.queues.lock();
        // Queues of deleted partitions go once they are empty.
        all.retain(|q| !q.partition.is_deleted() || !accumulator::is_empty(q));
        for queue in &queues.queues {
            if !all.iter().any(|q| Arc::ptr_eq(q, queue)) {
                all.push(queue.clone());
            }
        }
        topics.insert(name.to_owned(), queues.clone());
        Ok(queues)
    }

    /// `queues` (or what replaced them) if the log's topics did not change since they were
    /// checked, borrowed: no reference count shared by the sending threads is touched; else the
    /// latest, looked up.
    fn current<'a>(&self, queues: &'a Arc<TopicQueues>) -> crate::Result<std::borrow::Cow<'a, Arc<TopicQueues>>> {
        let current = queues.current();
        match current.is_current(self.log.topics_version()) {
            true => Ok(std::borrow::Cow::Borrowed(current)),
            false => self.topic(current.topic.name()).map(std::borrow::Cow::Owned),
        }
    }

    /// Sends `record` to `topic`: its partition chosen, encoded into that partition's open batch.
    fn send(
        self: &Arc<Self>,
        topic: &TopicQueues,
        partition: Option<u32>,
        record: &Record<'_>,
        callback: Option<Callback>,
    ) -> std::result::Result<(Arc<BatchCompletion>, u32), (Error, Option<Callback>)> {
        if self.closed.load(Ordering::Acquire) {
            return Err((self.closed_error(), callback));
        }
        let count = topic.topic.partition_count();
        // A custom partitioner is the application's code: it runs before any lock.
        let chosen = match (partition, &self.partitioner) {
            (None, Some(partitioner)) => partitioner.partition(topic.topic.name(), record.key, record.value, count),
            _ => None,
        };
        let mut sticky = false;
        let partition = match partition.or(chosen) {
            Some(p) if p < count => p,
            Some(p) => {
                let error =
                    Error::UnknownPartition { topic: topic.topic.name().to_owned(), partition: p, partitions: count };
                return Err((error, callback));
            }
            None => match record.key.filter(|_| !self.config.partitioner_ignore_keys) {
                Some(key) => topic.topic.partition_for_key(key).id(),
                None => {
                    sticky = true;
                    topic.sticky_partition()
                }
            },
        };
        let timestamp = record.timestamp.unwrap_or_else(now_ms);
        let size = accumulator::record_size(record);
        let send = accumulator::Send { record, timestamp, size, callback };
        let added = accumulator::add(self, topic, partition, send);
        if sticky && added.is_ok() {
            topic.sent_sticky(partition, size, self.config.batch_size);
        }
        added
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(message), _) => (*message).to_owned(),
        (_, Some(message)) => message.clone(),
        _ => "a panic without a message".to_owned(),
    }
}

/// A record refused at `send`, handed back to its future or callback.
fn refused(error: Error, record: ProducerRecord, callback: Option<Callback>) -> DeliveryFuture {
    let result = Err(DeliveryError { error: Arc::new(error), record: Box::new(record) });
    match callback {
        Some(callback) => {
            // At once, on this thread; a panicking callback is contained.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| callback(result)));
            DeliveryFuture::ready(Err(DeliveryError {
                error: Arc::new(Error::InvalidState { what: "the outcome went to the record's callback" }),
                record: Box::default(),
            }))
        }
        None => DeliveryFuture::ready(result),
    }
}

/// `record` as a [`ProducerRecord`] of `topic` (to hand back a record refused at `send`).
fn to_producer_record(topic: &str, partition: Option<u32>, record: &Record<'_>) -> ProducerRecord {
    ProducerRecord {
        topic: topic.to_owned(),
        partition,
        key: record.key.map(<[u8]>::to_vec),
        value: record.value.map(<[u8]>::to_vec),
        timestamp: record.timestamp,
        headers: record
            .headers
            .iter()
            .map(|h| crate::format::record::OwnedHeader { key: h.key.to_vec(), value: h.value.map(<[u8]>::to_vec) })
            .collect(),
    }
}

/// Kafka's producer over a [`Log`]: cheap to clone, `Send + Sync`. See the module docs.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Log, Producer, ProducerConfig, ProducerRecord, TopicConfig};
/// let log = Log::open(dir.path())?;
/// log.create_topic("orders", 3, TopicConfig::default())?;
/// let producer = Producer::new(&log, ProducerConfig::default())?;
///
/// // Synchronous: wait for the outcome.
/// let meta = producer.send(ProducerRecord::new("orders", b"first".to_vec()).key(b"k".to_vec())).wait().unwrap();
/// assert_eq!(meta.partition, log.topic("orders")?.partition_for_key(b"k").id());
/// // Asynchronous: a callback, run on the producer's thread.
/// let (tx, rx) = std::sync::mpsc::channel();
/// producer.send_with_callback(ProducerRecord::new("orders", b"second".to_vec()), move |r| tx.send(r).unwrap());
/// producer.flush()?;
/// assert!(rx.recv().unwrap().is_ok());
/// producer.close(std::time::Duration::from_secs(5));
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Clone)]
pub struct Producer {
    handle: Arc<Handle>,
}

/// Closes the producer when the last clone goes.
struct Handle {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        sender::close(&self.shared, &self.thread, None);
    }
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").field("config", &self.handle.shared.config).finish_non_exhaustive()
    }
}

impl Producer {
    /// A producer appending to `log`'s topics, with its own thread (linger, callbacks). A
    /// `delivery.timeout.ms` below `linger.ms` is [`Error::InvalidConfig`] (left at its default,
    /// it is raised to `linger.ms`, as Kafka raises it).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Error, Log, Producer, ProducerConfig, ProducerRecord, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 1, TopicConfig::default())?;
    /// let producer = Producer::new(&log, ProducerConfig::default().set("linger.ms", "0")?)?;
    /// let meta = producer.send(ProducerRecord::new("orders", b"x".to_vec())).wait().unwrap();
    /// assert_eq!((&*meta.topic, meta.partition, meta.offset), ("orders", 0, 0));
    /// // A record may linger 10 s for its batch: it cannot have to be appended within 5 s.
    /// let config = ProducerConfig::default().set("linger.ms", "10000")?.set("delivery.timeout.ms", "5000")?;
    /// assert!(matches!(Producer::new(&log, config), Err(Error::InvalidConfig { .. })));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn new(log: &Log, config: ProducerConfig) -> crate::Result<Producer> {
        Producer::build(log, config, None)
    }

    /// A producer whose records without an explicit partition are placed by `partitioner`
    /// (Kafka's `partitioner.class`); where it returns `None`, Kafka's built-in choice applies.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Partitioner, Producer, ProducerConfig, ProducerRecord, TopicConfig};
    /// /// Orders of VIP customers go to partition 0; the rest as Kafka places them.
    /// struct Vip;
    /// impl Partitioner for Vip {
    ///     fn partition(&self, _topic: &str, key: Option<&[u8]>, _value: Option<&[u8]>, _partitions: u32) -> Option<u32> {
    ///         key.filter(|k| k.starts_with(b"vip-")).map(|_| 0)
    ///     }
    /// }
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 8, TopicConfig::default())?;
    /// let producer = Producer::with_partitioner(&log, ProducerConfig::default(), Vip)?;
    /// let meta = producer.send(ProducerRecord::new("orders", b"x".to_vec()).key(b"vip-42".to_vec())).wait().unwrap();
    /// assert_eq!(meta.partition, 0);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn with_partitioner(
        log: &Log,
        config: ProducerConfig,
        partitioner: impl Partitioner + 'static,
    ) -> crate::Result<Producer> {
        Producer::build(log, config, Some(Arc::new(partitioner)))
    }

    fn build(log: &Log, config: ProducerConfig, partitioner: Option<Arc<dyn Partitioner>>) -> crate::Result<Producer> {
        let config = config.validated()?;
        let shared = Arc::new(Shared {
            log: log.clone(),
            memory: Memory::new(config.buffer_memory),
            config,
            partitioner,
            topics: RwLock::new(HashMap::new()),
            queues: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            failure: Mutex::new(None),
            sender: Mutex::new(sender::SenderState::default()),
            work: Condvar::new(),
            progress: Mutex::new(0),
            progressed: Condvar::new(),
            progress_waiters: AtomicUsize::new(0),
        });
        let thread = sender::spawn(&shared)?;
        Ok(Producer { handle: Arc::new(Handle { shared, thread: Mutex::new(Some(thread)) }) })
    }

    /// A handle on `topic` for sending borrowed records ([`ProducerTopic`]): the topic is
    /// resolved once, and a send copies the record's bytes only into its batch.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Producer, ProducerConfig, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 1, TopicConfig::default())?;
    /// let producer = Producer::new(&log, ProducerConfig::default())?;
    /// let orders = producer.topic("orders")?;
    /// for i in 0..3u32 {
    ///     drop(orders.send(&Record::new(&i.to_be_bytes()).with_key(b"k"))); // fire and forget
    /// }
    /// producer.flush()?;
    /// assert_eq!(log.partition("orders", 0)?.log_end_offset(), 3);
    /// assert!(producer.topic("refunds").is_err()); // unknown topic
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn topic(&self, topic: &str) -> crate::Result<ProducerTopic> {
        let queues = self.handle.shared.topic(topic)?;
        Ok(ProducerTopic { producer: self.clone(), queues })
    }

    /// Sends `record`; the returned future resolves to where it was appended, or why not. A
    /// record that can never be appended (unknown topic or partition, too large, a full buffer
    /// past `max.block.ms`, a closed producer) fails its own future, and no other.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Error, Log, Producer, ProducerConfig, ProducerRecord, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 2, TopicConfig::default())?;
    /// let producer = Producer::new(&log, ProducerConfig::default())?;
    /// let bad = producer.send(ProducerRecord::new("orders", b"x".to_vec()).partition(7));
    /// let good = producer.send(ProducerRecord::new("orders", b"y".to_vec()).partition(1));
    /// assert!(matches!(*bad.wait().unwrap_err().error, Error::UnknownPartition { .. }));
    /// assert_eq!(good.wait().unwrap().partition, 1); // only the bad record failed
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn send(&self, record: ProducerRecord) -> DeliveryFuture {
        self.send_owned(record, None)
    }

    /// Sends `record` and calls `callback` with its outcome: on the producer's thread once it is
    /// appended, in send order for records of one partition; at once on this thread if it
    /// cannot be sent.
    ///
    /// Callbacks run one after another on the producer's thread, so they should be quick.
    /// [`flush`](Self::flush) from a callback fails at once ([`Error::InvalidState`]); a panicking
    /// callback is contained.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::sync::mpsc;
    /// use partlog::{Log, Producer, ProducerConfig, ProducerRecord};
    /// let log = Log::open(dir.path())?;
    /// let producer = Producer::new(&log, ProducerConfig::default())?;
    /// let (tx, rx) = mpsc::channel();
    /// producer.send_with_callback(ProducerRecord::new("no-such-topic", b"x".to_vec()), move |r| tx.send(r).unwrap());
    /// // A record that cannot be sent is reported at once, on this thread.
    /// assert!(rx.try_recv().unwrap().is_err());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn send_with_callback(&self, record: ProducerRecord, callback: impl FnOnce(DeliveryResult) + Send + 'static) {
        drop(self.send_owned(record, Some(Box::new(callback))));
    }

    fn send_owned(&self, record: ProducerRecord, callback: Option<Callback>) -> DeliveryFuture {
        let shared = &self.handle.shared;
        let topic = match shared.topic(&record.topic) {
            Ok(topic) => topic,
            Err(error) => return refused(error, record, callback),
        };
        let headers: Vec<Header<'_>> =
            record.headers.iter().map(|h| Header::from_bytes(&h.key, h.value.as_deref())).collect();
        let borrowed = Record {
            key: record.key.as_deref(),
            value: record.value.as_deref(),
            timestamp: record.timestamp,
            headers: &headers,
        };
        let sent = shared.send(&topic, record.partition, &borrowed, callback);
        drop(headers);
        match sent {
            Ok((completion, index)) => DeliveryFuture::in_batch(completion, index),
            Err((error, callback)) => {
                let mut record = record;
                record.timestamp = Some(record.timestamp.unwrap_or_else(now_ms));
                refused(error, record, callback)
            }
        }
    }

    /// Appends every record sent before the call (whatever `linger.ms` says) and returns once
    /// each has its outcome and its callback has run (Kafka's `flush`). From a delivery
    /// callback, which runs on the producer's own thread, it could never return:
    /// [`Error::InvalidState`] (as Kafka 4.0).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Producer, ProducerConfig, ProducerRecord, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("orders", 1, TopicConfig::default())?.partition(0)?;
    /// let producer = Producer::new(&log, ProducerConfig::default().set("linger.ms", "60000")?)?;
    /// let future = producer.send(ProducerRecord::new("orders", b"x".to_vec()));
    /// producer.flush()?; // does not wait out the minute of linger.ms
    /// assert!(future.is_done());
    /// assert_eq!(p.log_end_offset(), 1);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn flush(&self) -> crate::Result<()> {
        let shared = &self.handle.shared;
        if shared.on_own_thread() {
            return Err(Error::InvalidState { what: "flush() from a delivery callback, on the producer's own thread" });
        }
        let queues = shared.queues.lock().clone();
        let targets: Vec<(Arc<PartitionQueue>, u64)> =
            queues.into_iter().map(|q| (accumulator::push_all(shared, &q), q)).map(|(t, q)| (q, t)).collect();
        // Pushed out again while waiting: a thread appending a queue may hand the rest on to the
        // producer's thread, which may be busy.
        shared.wait_progress(|| {
            targets.iter().all(|(q, target)| {
                accumulator::done(q, *target) || {
                    accumulator::push_all(shared, q);
                    accumulator::done(q, *target)
                }
            })
        });
        sender::wait_for_callbacks(shared);
        Ok(())
    }

    /// Stops accepting records, delivers what waits for up to `timeout`, then fails what is
    /// left (each record's future or callback says so) and stops the producer's thread. Later
    /// sends fail with [`Error::Closed`]. From a delivery callback it cannot wait: what waits is
    /// delivered (or, with a timeout, failed) once the callback returns (Kafka's `close(0)`).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{Error, Log, Producer, ProducerConfig, ProducerRecord, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("orders", 1, TopicConfig::default())?.partition(0)?;
    /// let producer = Producer::new(&log, ProducerConfig::default().set("linger.ms", "60000")?)?;
    /// let sent = producer.send(ProducerRecord::new("orders", b"x".to_vec()));
    /// producer.close(Duration::from_secs(5)); // delivers what waits
    /// assert!(sent.wait().is_ok() && p.log_end_offset() == 1);
    /// let late = producer.send(ProducerRecord::new("orders", b"y".to_vec())).wait();
    /// assert!(matches!(*late.unwrap_err().error, Error::Closed { .. }));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn close(&self, timeout: Duration) {
        sender::close(&self.handle.shared, &self.handle.thread, Some(timeout));
    }
}

/// A topic of a [`Producer`], resolved once, for sending borrowed records (Kafka's send path
/// without building a `ProducerRecord`): a send copies the key, value and headers only into the
/// partition's open batch. Cheap to clone; sends as [`Producer::send`] does otherwise.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Header, Log, Producer, ProducerConfig, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// log.create_topic("clicks", 4, TopicConfig::default())?;
/// let producer = Producer::new(&log, ProducerConfig::default())?;
/// let clicks = producer.topic("clicks")?;
/// let headers = [Header::new("source", b"web")];
/// let meta = clicks.send(&Record::new(b"/home").with_key(b"user-7").with_headers(&headers)).wait().unwrap();
/// assert_eq!(meta.partition, log.topic("clicks")?.partition_for_key(b"user-7").id());
/// let meta = clicks.send_to(2, &Record::new(b"/cart")).wait().unwrap();
/// assert_eq!((meta.partition, meta.offset), (2, 0));
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Clone)]
pub struct ProducerTopic {
    producer: Producer,
    queues: Arc<TopicQueues>,
}

impl std::fmt::Debug for ProducerTopic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerTopic").field("topic", &self.queues.topic.name()).finish_non_exhaustive()
    }
}

impl ProducerTopic {
    /// The topic's name.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Producer, ProducerConfig, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 1, TopicConfig::default())?;
    /// let producer = Producer::new(&log, ProducerConfig::default())?;
    /// assert_eq!(producer.topic("orders")?.name(), "orders");
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        self.queues.topic.name()
    }

    /// Sends `record`, partitioned as [`Producer::send`] partitions a record without an explicit
    /// partition (its key's murmur2, or the sticky partition for null keys, or the custom
    /// partitioner). The record's `timestamp` `None` is the time of the send.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Producer, ProducerConfig, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 1, TopicConfig::default())?;
    /// let producer = Producer::new(&log, ProducerConfig::default())?;
    /// let orders = producer.topic("orders")?;
    /// let meta = orders.send(&Record::new(b"pizza").with_timestamp(1_700_000_000_000)).wait().unwrap();
    /// assert_eq!((meta.offset, meta.timestamp), (0, 1_700_000_000_000));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn send(&self, record: &Record<'_>) -> DeliveryFuture {
        self.send_borrowed(None, record, None)
    }

    /// Sends `record` to partition `partition`; a partition the topic does not have fails this
    /// record alone ([`Error::UnknownPartition`]).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Error, Log, Producer, ProducerConfig, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 2, TopicConfig::default())?;
    /// let producer = Producer::new(&log, ProducerConfig::default())?;
    /// let orders = producer.topic("orders")?;
    /// assert_eq!(orders.send_to(1, &Record::new(b"a")).wait().unwrap().partition, 1);
    /// let failed = orders.send_to(9, &Record::new(b"b")).wait().unwrap_err();
    /// assert!(matches!(*failed.error, Error::UnknownPartition { partition: 9, .. }));
    /// assert_eq!(failed.record.value.as_deref(), Some(&b"b"[..])); // handed back
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn send_to(&self, partition: u32, record: &Record<'_>) -> DeliveryFuture {
        self.send_borrowed(Some(partition), record, None)
    }

    /// Sends `record` (partitioned as [`send`](Self::send) does) and calls `callback` with its
    /// outcome, as [`Producer::send_with_callback`] does.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// use partlog::{Log, Producer, ProducerConfig, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 1, TopicConfig::default())?;
    /// let producer = Producer::new(&log, ProducerConfig::default())?;
    /// let orders = producer.topic("orders")?;
    /// let delivered = Arc::new(AtomicU64::new(0));
    /// for _ in 0..10 {
    ///     let delivered = delivered.clone();
    ///     orders.send_with_callback(&Record::new(b"x"), move |r| {
    ///         r.unwrap();
    ///         delivered.fetch_add(1, Ordering::SeqCst);
    ///     });
    /// }
    /// producer.flush()?; // returns once the callbacks ran
    /// assert_eq!(delivered.load(Ordering::SeqCst), 10);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn send_with_callback(&self, record: &Record<'_>, callback: impl FnOnce(DeliveryResult) + Send + 'static) {
        drop(self.send_borrowed(None, record, Some(Box::new(callback))));
    }

    fn send_borrowed(&self, partition: Option<u32>, record: &Record<'_>, callback: Option<Callback>) -> DeliveryFuture {
        let shared = &self.producer.handle.shared;
        let queues = match shared.current(&self.queues) {
            Ok(queues) => queues,
            Err(error) => return refused(error, to_producer_record(self.name(), partition, record), callback),
        };
        match shared.send(&queues, partition, record, callback) {
            Ok((completion, index)) => DeliveryFuture::in_batch(completion, index),
            Err((error, callback)) => {
                let mut refused_record = to_producer_record(self.name(), partition, record);
                refused_record.timestamp = Some(record.timestamp.unwrap_or_else(now_ms));
                refused(error, refused_record, callback)
            }
        }
    }
}
