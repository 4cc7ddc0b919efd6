//! Kafka's producer, in-process (`KafkaProducer`, `RecordAccumulator`, `BuiltInPartitioner`):
//! records are partitioned as Kafka partitions them, gathered per partition, and appended as one
//! batch per partition when the batch reaches `batch.size` or has waited `linger.ms`, by one
//! sender thread. `buffer.memory` bounds what waits; a full buffer blocks `send` up to
//! `max.block.ms`; `delivery.timeout.ms` bounds how long a record waits for its append. Built on
//! the public [`Log`] / [`Partition`] API only.
//!
//! The sender thread is the only thread that appends, and the one that runs delivery callbacks.
//! So that nothing waits forever on it:
//! - a panic on it (a callback's or an executor waker's is contained where it runs) fails every
//!   waiting record and closes the producer: later sends fail at once; `flush`, `close` and
//!   `Drop` return;
//! - from a callback, what only that thread could finish fails at once with
//!   [`Error::InvalidState`]: `flush`, a `send` into a full buffer, and waiting for a record of
//!   the same producer that is still queued (that record fails, and comes back in the error);
//! - a record whose append has not started `delivery.timeout.ms` after its send fails with
//!   [`Error::DeliveryTimeout`] and is never appended.
//!
//! A batch that a lowered `max.message.bytes` makes too large is split and appended again
//! (Kafka's `splitAndReenqueue`), in order; only a record too large on its own fails.

use std::cell::Cell;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Weak};
use std::task::Waker;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::error::Error;
use crate::format::batch::TimestampType;
use crate::format::record::{Header, OwnedHeader, Record};
use crate::log::Log;
use crate::partition::{AppendInfo, Partition};

/// The producer settings partlog keeps from Kafka's (`ProducerConfig`), with Kafka's names and
/// defaults (Kafka 4.0's `linger.ms` of 5). What exists only because of the network (`acks`,
/// retries, request timeouts, in-flight limits) has no meaning in-process: an append is the
/// acknowledgement, and the topic's flush settings say when it is durable. No append error is
/// worth retrying in-process (a failed write or fsync stops the partition's writes until the log
/// is reopened; a deleted partition stays deleted), so a failed append fails its records at once.
///
/// # Example
/// ```
/// use partlog::ProducerConfig;
/// let config = ProducerConfig::default().set("linger.ms", "20")?.set("batch.size", "65536")?;
/// assert_eq!((config.linger_ms, config.batch_size), (20, 65536));
/// let config = config.set("delivery.timeout.ms", "30000")?; // fail what waits 30 s unappended
/// assert_eq!(config.delivery_timeout_ms, 30_000);
/// assert!(ProducerConfig::default().set("linger.ms", "-1").is_err());
/// assert!(ProducerConfig::default().set("no.such.setting", "1").is_err());
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProducerConfig {
    /// `batch.size`: bytes of records gathered per partition before they are appended.
    pub batch_size: usize,
    /// `linger.ms`: how long records wait for more to join their batch.
    pub linger_ms: u64,
    /// `buffer.memory`: bytes of records waiting to be appended, at most.
    pub buffer_memory: usize,
    /// `max.block.ms`: how long `send` blocks for buffer space before it fails.
    pub max_block_ms: u64,
    /// `max.request.size`: the largest record accepted (its estimated batch size).
    pub max_request_size: usize,
    /// `partitioner.ignore.keys`: partition keyed records as null-keyed ones.
    pub partitioner_ignore_keys: bool,
    /// `delivery.timeout.ms` (default 120000, two minutes): a record whose append has not
    /// started this long after its `send` returned fails with [`Error::DeliveryTimeout`] and is
    /// never appended. What holds records up in-process is the producer's one thread: a slow
    /// delivery callback, or an append stuck on a slow disk (another partition's fsync). Kafka
    /// requires it to be at least `linger.ms + request.timeout.ms`; with no requests here, at
    /// least `linger.ms` ([`Producer::new`] refuses less, and raises the default to `linger.ms`,
    /// as Kafka raises its default).
    pub delivery_timeout_ms: u64,
}

/// Kafka's default `delivery.timeout.ms`.
const DEFAULT_DELIVERY_TIMEOUT_MS: u64 = 120_000;

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            batch_size: 16384,
            linger_ms: 5,
            buffer_memory: 33554432,
            max_block_ms: 60000,
            max_request_size: 1048576,
            partitioner_ignore_keys: false,
            delivery_timeout_ms: DEFAULT_DELIVERY_TIMEOUT_MS,
        }
    }
}

impl ProducerConfig {
    /// Sets a setting by Kafka's name. Settings that exist only because of the network or the
    /// JVM (`acks`, `retries`, `retry.backoff.ms`, `request.timeout.ms`,
    /// `max.in.flight.requests.per.connection`, `enable.idempotence`, `bootstrap.servers`,
    /// `client.id`, `key.serializer`, `value.serializer`, adaptive partitioning, metadata ages)
    /// are accepted and ignored, so that a Kafka producer's configuration carries over.
    /// `compression.type` other than `none` is refused: the topic's `compression.type` decides
    /// how batches are stored. Others are [`Error::InvalidConfig`]. How settings relate
    /// (`delivery.timeout.ms` at least `linger.ms`) is checked by [`Producer::new`].
    ///
    /// # Example
    /// ```
    /// use partlog::{Error, ProducerConfig};
    /// let config = ProducerConfig::default().set("acks", "all")?.set("retries", "3")?; // ignored
    /// assert_eq!(config, ProducerConfig::default());
    /// // Compression is the topic's setting, not the producer's.
    /// let refused = ProducerConfig::default().set("compression.type", "zstd");
    /// assert!(matches!(refused, Err(Error::InvalidConfig { .. })));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn set(mut self, key: &str, value: &str) -> crate::Result<Self> {
        let invalid = |reason: &str| Error::InvalidConfig {
            key: key.to_owned(),
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        let number = || value.trim().parse::<u64>().map_err(|_| invalid("must be a non-negative integer"));
        match key {
            "batch.size" => self.batch_size = (number()? as usize).max(1),
            "linger.ms" => self.linger_ms = number()?,
            "buffer.memory" => self.buffer_memory = number()? as usize,
            "max.block.ms" => self.max_block_ms = number()?,
            "max.request.size" => self.max_request_size = number()? as usize,
            "delivery.timeout.ms" => self.delivery_timeout_ms = number()?,
            "partitioner.ignore.keys" => {
                self.partitioner_ignore_keys = value.trim().parse().map_err(|_| invalid("must be true or false"))?
            }
            "acks"
            | "key.serializer"
            | "value.serializer"
            | "partitioner.adaptive.partitioning.enable"
            | "partitioner.availability.timeout.ms"
            | "retry.backoff.max.ms"
            | "metadata.max.age.ms"
            | "retries"
            | "request.timeout.ms"
            | "max.in.flight.requests.per.connection"
            | "enable.idempotence"
            | "bootstrap.servers"
            | "client.id"
            | "retry.backoff.ms" => {}
            "compression.type" => {
                // Batches are compressed by the topic's compression.type; silently ignoring a
                // producer's codec would surprise, so only "none" (and "producer") pass.
                if !matches!(value.trim(), "none" | "producer") {
                    return Err(invalid(
                        "partlog compresses batches by the topic's compression.type: set it on the topic",
                    ));
                }
            }
            _ => return Err(invalid("not a producer setting partlog knows")),
        }
        Ok(self)
    }

    /// The config as a producer runs it: `delivery.timeout.ms` below `linger.ms` is refused, or
    /// raised to it when it is the default (Kafka's `configureDeliveryTimeout`, with no request
    /// timeout in-process).
    fn validated(mut self) -> crate::Result<Self> {
        if self.delivery_timeout_ms < self.linger_ms {
            if self.delivery_timeout_ms != DEFAULT_DELIVERY_TIMEOUT_MS {
                return Err(Error::InvalidConfig {
                    key: "delivery.timeout.ms".into(),
                    value: self.delivery_timeout_ms.to_string(),
                    reason: format!(
                        "must be at least linger.ms ({}): a record may wait that long for its batch",
                        self.linger_ms
                    ),
                });
            }
            self.delivery_timeout_ms = self.linger_ms;
        }
        Ok(self)
    }
}

/// Chooses the partition of a record sent without one (Kafka's `Partitioner`, set with
/// `partitioner.class`); see [`Producer::with_partitioner`]. A partition number the topic does
/// not have fails that record alone ([`Error::UnknownPartition`]).
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Log, Partitioner, Producer, ProducerConfig, ProducerRecord, TopicConfig};
/// /// Keys starting "eu-" go to partition 0, "us-" to 1; other records as Kafka places them.
/// struct ByRegion;
/// impl Partitioner for ByRegion {
///     fn partition(&self, _topic: &str, key: Option<&[u8]>, _value: Option<&[u8]>, _partitions: u32) -> Option<u32> {
///         match key? {
///             k if k.starts_with(b"eu-") => Some(0),
///             k if k.starts_with(b"us-") => Some(1),
///             _ => None,
///         }
///     }
/// }
/// let log = Log::open(dir.path())?;
/// let topic = log.create_topic("orders", 4, TopicConfig::default())?;
/// let producer = Producer::with_partitioner(&log, ProducerConfig::default(), ByRegion)?;
/// let send = |key: &str| producer.send(ProducerRecord::new("orders", "x").key(key)).wait().unwrap().partition;
/// assert_eq!(send("us-7"), 1);
/// assert_eq!(send("ca-7"), topic.partition_for_key(b"ca-7").id()); // `None`: Kafka's murmur2 of the key
/// assert_eq!(producer.send(ProducerRecord::new("orders", "x").key("eu-1").partition(3)).wait().unwrap().partition, 3);
/// # Ok::<(), partlog::Error>(())
/// ```
pub trait Partitioner: Send + Sync {
    /// The partition for a record of `topic`, which has `partitions` partitions; `None` leaves
    /// the choice to Kafka's built-in partitioner (murmur2 of the key, uniform sticky without).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Error, Log, Partitioner, Producer, ProducerConfig, ProducerRecord, TopicConfig};
    /// /// Every record to the last partition, or past it.
    /// struct Last(u32);
    /// impl Partitioner for Last {
    ///     fn partition(&self, _: &str, _: Option<&[u8]>, _: Option<&[u8]>, partitions: u32) -> Option<u32> {
    ///         Some(partitions - 1 + self.0)
    ///     }
    /// }
    /// assert_eq!(Last(0).partition("orders", None, Some(&b"x"[..]), 8), Some(7));
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 3, TopicConfig::default())?;
    /// let producer = Producer::with_partitioner(&log, ProducerConfig::default(), Last(1))?;
    /// let failed = producer.send(ProducerRecord::new("orders", "x")).wait().unwrap_err();
    /// assert!(matches!(*failed.error, Error::UnknownPartition { partition: 3, .. })); // this record alone
    /// # Ok::<(), partlog::Error>(())
    /// ```
    fn partition(&self, topic: &str, key: Option<&[u8]>, value: Option<&[u8]>, partitions: u32) -> Option<u32>;
}

/// A record to send (Kafka's `ProducerRecord`): owned, so that it can wait in the producer.
///
/// # Example
/// ```
/// use partlog::ProducerRecord;
/// let r = ProducerRecord::new("orders", b"42 pizzas".to_vec()).key(b"customer-7".to_vec()).partition(3);
/// assert_eq!((r.topic.as_str(), r.partition, r.key.as_deref()), ("orders", Some(3), Some(&b"customer-7"[..])));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProducerRecord {
    /// The topic.
    pub topic: String,
    /// An explicit partition; `None` lets the partitioner choose.
    pub partition: Option<u32>,
    /// The key; `None` is a null key.
    pub key: Option<Vec<u8>>,
    /// The value; `None` is a null value (a tombstone).
    pub value: Option<Vec<u8>>,
    /// CreateTime in milliseconds; `None` is the time of `send`.
    pub timestamp: Option<i64>,
    /// Headers, in order.
    pub headers: Vec<OwnedHeader>,
}

impl ProducerRecord {
    /// A record with a value for `topic`.
    ///
    /// # Example
    /// ```
    /// use partlog::ProducerRecord;
    /// let r = ProducerRecord::new("orders", "42 pizzas"); // a value of anything `Into<Vec<u8>>`
    /// assert_eq!((r.topic.as_str(), r.value.as_deref()), ("orders", Some(&b"42 pizzas"[..])));
    /// // No key, partition or timestamp: the partitioner chooses, the send time is used.
    /// assert_eq!((r.key, r.partition, r.timestamp, r.headers.len()), (None, None, None, 0));
    /// ```
    pub fn new(topic: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            key: None,
            value: Some(value.into()),
            timestamp: None,
            headers: Vec::new(),
        }
    }

    /// A tombstone (null value) for `key`.
    ///
    /// # Example
    /// ```
    /// use partlog::ProducerRecord;
    /// let r = ProducerRecord::tombstone("users", b"user-7".to_vec());
    /// assert_eq!((r.key.as_deref(), r.value), (Some(&b"user-7"[..]), None));
    /// ```
    pub fn tombstone(topic: impl Into<String>, key: impl Into<Vec<u8>>) -> Self {
        ProducerRecord { value: None, ..ProducerRecord::new(topic, Vec::new()).key(key) }
    }

    /// With a key.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Producer, ProducerConfig, ProducerRecord, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let topic = log.create_topic("orders", 4, TopicConfig::default())?;
    /// let producer = Producer::new(&log, ProducerConfig::default())?;
    /// let record = ProducerRecord::new("orders", "pizza").key("customer-7");
    /// assert_eq!(record.key.as_deref(), Some(&b"customer-7"[..]));
    /// let first = producer.send(record.clone()).wait().unwrap();
    /// let second = producer.send(record).wait().unwrap();
    /// // One key, one partition (Kafka's murmur2): a key's records stay in order.
    /// assert_eq!(first.partition, second.partition);
    /// assert_eq!(first.partition, topic.partition_for_key(b"customer-7").id());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// To an explicit partition.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Producer, ProducerConfig, ProducerRecord, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let topic = log.create_topic("orders", 4, TopicConfig::default())?;
    /// let producer = Producer::new(&log, ProducerConfig::default())?;
    /// let by_key = topic.partition_for_key(b"customer-7").id();
    /// let explicit = (by_key + 1) % 4;
    /// let record = ProducerRecord::new("orders", "pizza").key("customer-7").partition(explicit);
    /// assert_eq!(producer.send(record).wait().unwrap().partition, explicit); // the partition wins over the key
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn partition(mut self, partition: u32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// With a CreateTime timestamp.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Producer, ProducerConfig, ProducerRecord, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 1, TopicConfig::default())?;
    /// let producer = Producer::new(&log, ProducerConfig::default())?;
    /// let record = ProducerRecord::new("orders", b"x".to_vec()).timestamp(1_700_000_000_000);
    /// let meta = producer.send(record).wait().unwrap();
    /// assert_eq!(meta.timestamp, 1_700_000_000_000);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn timestamp(mut self, timestamp_ms: i64) -> Self {
        self.timestamp = Some(timestamp_ms);
        self
    }

    /// With a header.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, OwnedHeader, Producer, ProducerConfig, ProducerRecord, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("orders", 1, TopicConfig::default())?.partition(0)?;
    /// let producer = Producer::new(&log, ProducerConfig::default())?;
    /// let record = ProducerRecord::new("orders", b"x".to_vec())
    ///     .header("source", Some(b"web".to_vec()))
    ///     .header("trace", None);
    /// producer.send(record).wait().unwrap();
    /// let headers = &p.read(0, 1 << 20)?[0].headers;
    /// assert_eq!(headers[0], OwnedHeader { key: b"source".to_vec(), value: Some(b"web".to_vec()) });
    /// assert_eq!((headers.len(), headers[1].value.as_ref()), (2, None));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn header(mut self, key: impl Into<Vec<u8>>, value: Option<Vec<u8>>) -> Self {
        self.headers.push(OwnedHeader { key: key.into(), value });
        self
    }

    /// Kafka's estimate of the record's bytes in a batch (`DefaultRecord.sizeInBytes` upper
    /// bound): what `batch.size` and `buffer.memory` count.
    fn size(&self) -> usize {
        let headers: usize = self.headers.iter().map(|h| h.key.len() + h.value.as_ref().map_or(0, Vec::len) + 10).sum();
        21 + self.key.as_ref().map_or(0, Vec::len) + self.value.as_ref().map_or(0, Vec::len) + headers
    }
}

/// Where a record was appended (Kafka's `RecordMetadata`).
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Log, Producer, ProducerConfig, ProducerRecord, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("orders", 2, TopicConfig::default())?.partition(1)?;
/// p.append(&[Record::new(b"earlier")])?;
/// let producer = Producer::new(&log, ProducerConfig::default())?;
/// let record = ProducerRecord::new("orders", "pizza").partition(1).timestamp(1_700_000_000_000);
/// let meta = producer.send(record).wait().unwrap();
/// assert_eq!((meta.topic.as_str(), meta.partition, meta.offset), ("orders", 1, 1));
/// assert_eq!(meta.timestamp, 1_700_000_000_000); // CreateTime, as sent
/// assert_eq!(p.read(meta.offset, 1 << 20)?[0].value.as_deref(), Some(&b"pizza"[..]));
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The record's offset.
    pub offset: u64,
    /// Its timestamp: the record's CreateTime, or the append time on a LogAppendTime topic.
    pub timestamp: i64,
}

/// Why a record was not appended, with the record, so that nothing is lost silently.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Error, Log, Producer, ProducerConfig, ProducerRecord};
/// let log = Log::open(dir.path())?;
/// let producer = Producer::new(&log, ProducerConfig::default())?;
/// let failed = producer.send(ProducerRecord::new("no-such-topic", b"x".to_vec())).wait().unwrap_err();
/// assert!(matches!(*failed.error, Error::UnknownTopic { .. }));
/// assert_eq!(failed.record.value.as_deref(), Some(&b"x"[..])); // the record comes back
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("record for topic {} not delivered: {error}", record.topic)]
pub struct DeliveryError {
    /// What went wrong.
    pub error: Arc<Error>,
    /// The record, as it was sent (with its timestamp filled in when it had none).
    pub record: Box<ProducerRecord>,
}

/// The outcome of a send.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{DeliveryResult, Error, Log, Producer, ProducerConfig, ProducerRecord, TopicConfig};
/// let log = Log::open(dir.path())?;
/// log.create_topic("orders", 1, TopicConfig::default())?;
/// let producer = Producer::new(&log, ProducerConfig::default())?;
/// let delivered: DeliveryResult = producer.send(ProducerRecord::new("orders", "pizza")).wait();
/// assert_eq!(delivered.map(|meta| meta.offset).ok(), Some(0));
/// let failed: DeliveryResult = producer.send(ProducerRecord::new("refunds", "pizza")).wait();
/// assert!(matches!(failed, Err(e) if matches!(*e.error, Error::UnknownTopic { .. })));
/// # Ok::<(), partlog::Error>(())
/// ```
pub type DeliveryResult = std::result::Result<RecordMetadata, DeliveryError>;

/// The pending outcome of a [`Producer::send`]: wait on it for a synchronous send, `.await` it
/// (it is a `Future`, for any executor), or drop it (the record is still delivered; only its
/// outcome is not looked at).
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
    slot: Arc<Slot>,
}

/// How long [`Slot::wait_until`] waits.
#[derive(Debug, Clone, Copy)]
enum Wait {
    Forever,
    /// Until then (`None`: an instant too far to represent, as good as forever, but bounded).
    Until(Option<Instant>),
}

/// Where a record's outcome meets whoever waits for it.
#[derive(Debug, Default)]
struct Slot {
    state: Mutex<SlotState>,
    done: Condvar,
    /// The producer the record was sent to (none for a record failed at `send`): a wait on its
    /// own thread, or past the record's delivery deadline, takes the record out of its queue.
    producer: Weak<Shared>,
}

#[derive(Debug, Default)]
struct SlotState {
    result: Option<DeliveryResult>,
    /// The task awaiting it, if it is awaited.
    waker: Option<Waker>,
    /// Set when the record joins its queue.
    ticket: Option<Ticket>,
}

/// A queued record, as its waiters find it.
#[derive(Debug, Clone, Copy)]
struct Ticket {
    seq: u64,
    /// Its send plus `delivery.timeout.ms`; `None` if that does not fit an `Instant`.
    deadline: Option<Instant>,
}

impl Slot {
    fn complete(&self, result: DeliveryResult) {
        let waker = {
            let mut state = self.state.lock();
            state.result = Some(result);
            state.waker.take()
        };
        self.done.notify_all();
        if let Some(waker) = waker {
            // An executor's waker is not ours to trust: one that panics must not take the
            // producer's thread down (issue 24).
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| waker.wake()));
        }
    }

    /// The producer whose thread this is, if the record was sent to it.
    fn own_producer_here(&self) -> Option<Arc<Shared>> {
        let here = SENDER_OF.with(Cell::get);
        (here != 0 && Weak::as_ptr(&self.producer) as usize == here).then(|| self.producer.upgrade()).flatten()
    }

    /// Fails the record with `error` if it is still queued; `false` if it is not (appended or
    /// being appended, or already failed).
    fn fail_if_queued(&self, producer: &Shared, error: impl FnOnce(&Pending, u32) -> Error) -> bool {
        let Some(ticket) = self.state.lock().ticket else { return false };
        let Some((pending, partition)) = producer.take_queued(ticket.seq) else { return false };
        let error = Arc::new(error(&pending, partition));
        let (seq, size) = (pending.seq, pending.size);
        pending.complete(Err(error));
        producer.finish(&[seq], size);
        true
    }

    /// Waits for the outcome, returning `None` when a bounded wait ends first. On the producer's
    /// own thread a queued record could never be appended while it waits: an unbounded wait
    /// fails it at once ([`Error::InvalidState`]), a bounded one returns at once. Past the
    /// record's delivery deadline, a record still queued fails with [`Error::DeliveryTimeout`]
    /// even while the producer's thread is held up; one whose append has started is waited for.
    fn wait_until(&self, wait: Wait) -> Option<DeliveryResult> {
        let (bounded, until) = match wait {
            Wait::Forever => (false, None),
            Wait::Until(until) => (true, until),
        };
        let mut deadline_passed = false;
        loop {
            let mut state = self.state.lock();
            if let Some(result) = state.result.take() {
                return Some(result);
            }
            if let Some(producer) = self.own_producer_here() {
                drop(state);
                if bounded {
                    return None;
                }
                let failed = self.fail_if_queued(&producer, |_, _| Error::InvalidState {
                    what: "waiting for a record from a delivery callback of its own producer: only \
                           that callback's thread could append it (the record was not sent)",
                });
                // Every record of the producer is queued or has its outcome while a callback
                // runs (`complete_all` resolves futures before it runs callbacks).
                assert!(failed || self.state.lock().result.is_some(), "a record neither queued nor complete");
                continue;
            }
            let deadline = state.ticket.and_then(|t| t.deadline).filter(|_| !deadline_passed);
            let wake_at = match (until, deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let timed_out = match wake_at {
                Some(at) => self.done.wait_until(&mut state, at).timed_out(),
                None => {
                    self.done.wait(&mut state);
                    false
                }
            };
            if !timed_out || state.result.is_some() {
                continue;
            }
            drop(state);
            let now = Instant::now();
            if deadline.is_some_and(|d| d <= now) {
                deadline_passed = true;
                if let Some(producer) = self.producer.upgrade() {
                    self.fail_if_queued(&producer, |p, partition| p.timeout_error(partition, &producer.config));
                }
                continue;
            }
            if until.is_some_and(|u| u <= now) {
                return None;
            }
        }
    }
}

/// Awaiting a delivery (any executor): resolves as [`DeliveryFuture::wait`] returns, without
/// blocking a thread. The delivery deadline is enforced by the producer's thread here (an
/// executor's own timeout bounds the wait).
impl std::future::Future for DeliveryFuture {
    type Output = DeliveryResult;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<DeliveryResult> {
        let mut state = self.slot.state.lock();
        if let Some(r) = state.result.take() {
            return std::task::Poll::Ready(r);
        }
        if self.slot.own_producer_here().is_some() {
            // Polled on the producer's thread (an executor blocking in a callback): nothing
            // else could wake it.
            drop(state);
            return match self.slot.wait_until(Wait::Forever) {
                Some(r) => std::task::Poll::Ready(r),
                None => std::task::Poll::Pending,
            };
        }
        if !state.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            state.waker = Some(cx.waker().clone());
        }
        std::task::Poll::Pending
    }
}

impl DeliveryFuture {
    fn ready(result: DeliveryResult) -> Self {
        let slot = Arc::new(Slot::default());
        slot.complete(result);
        DeliveryFuture { slot }
    }

    /// Blocks until the record is appended (and, on a synchronous topic, fsynced) or has failed.
    /// It returns by `delivery.timeout.ms` after the send ([`Error::DeliveryTimeout`]) unless the
    /// record's append has started by then. From a delivery callback of the record's own
    /// producer, a record still queued could never be appended while that thread waits: it fails
    /// at once with [`Error::InvalidState`] and comes back in the error, not sent.
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
        match self.slot.wait_until(Wait::Forever) {
            Some(result) => result,
            None => unreachable!("an unbounded wait ends with the outcome"),
        }
    }

    /// [`wait`](Self::wait) for at most `timeout`; `Err(self)` if it is still pending. From a
    /// delivery callback of the record's own producer, a record still queued cannot be appended
    /// while that thread waits: `Err(self)` at once.
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
    /// // The record lingers for its batch: still pending after 1 ms.
    /// let future = future.wait_timeout(Duration::from_millis(1)).unwrap_err();
    /// producer.flush()?;
    /// let meta = future.wait_timeout(Duration::ZERO).ok().unwrap().unwrap();
    /// assert_eq!(meta.offset, 0);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn wait_timeout(self, timeout: Duration) -> std::result::Result<DeliveryResult, DeliveryFuture> {
        let until = Instant::now().checked_add(timeout);
        match self.slot.wait_until(Wait::Until(until)) {
            Some(result) => Ok(result),
            None => Err(self),
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
        self.slot.state.lock().result.is_some()
    }
}

/// What to do with a record's outcome.
enum Notify {
    Future(Arc<Slot>),
    Callback(Box<dyn FnOnce(DeliveryResult) + Send>),
}

impl Notify {
    fn complete(self, result: DeliveryResult) {
        match self {
            Notify::Future(slot) => slot.complete(result),
            // A panicking callback must not take the sender thread, and every later record, down.
            Notify::Callback(callback) => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| callback(result)));
            }
        }
    }
}

/// A record's outcome, before it is handed to whoever waits for it.
type Outcome = std::result::Result<RecordMetadata, Arc<Error>>;

/// A record waiting for its outcome. One dropped without it (the sender thread panicked while
/// appending it) completes as failed, so that no future waits forever.
struct Pending {
    record: ProducerRecord,
    size: usize,
    seq: u64,
    /// When `send` queued it: `delivery.timeout.ms` counts from here.
    sent: Instant,
    notify: Option<Notify>,
}

impl Pending {
    fn complete(mut self, result: Outcome) {
        self.complete_in_place(result);
    }

    /// Hands `result` to whoever waits (once: a completed record's `Drop` does nothing).
    fn complete_in_place(&mut self, result: Outcome) {
        if let Some(notify) = self.notify.take() {
            let result =
                result.map_err(|error| DeliveryError { error, record: Box::new(std::mem::take(&mut self.record)) });
            notify.complete(result);
        }
    }

    fn has_callback(&self) -> bool {
        matches!(self.notify, Some(Notify::Callback(_)))
    }

    /// Whether it waited `delivery.timeout.ms` by `now`.
    fn expired(&self, timeout: Duration, now: Instant) -> bool {
        self.sent.checked_add(timeout).is_some_and(|deadline| deadline <= now)
    }

    /// Its failure for waiting `delivery.timeout.ms` in the queue of `partition`.
    fn timeout_error(&self, partition: u32, config: &ProducerConfig) -> Error {
        let partition = format!("{}-{partition}", self.record.topic);
        Error::DeliveryTimeout { partition, timeout_ms: config.delivery_timeout_ms }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(notify) = self.notify.take() {
            let error = Arc::new(Error::Closed {
                what:
                    "producer (its thread stopped while appending the record: read the partition to see whether it was)"
                        .into(),
            });
            notify.complete(Err(DeliveryError { error, record: Box::new(std::mem::take(&mut self.record)) }));
        }
    }
}

/// Completes records with their outcomes, in order, futures first: while a callback runs, every
/// record of the producer is either queued or has its outcome, so that a callback waiting for
/// one ([`Slot::wait_until`]) never waits for a record its own thread holds.
fn complete_all(outcomes: Vec<(Pending, Outcome)>) {
    let mut callbacks = Vec::new();
    for (pending, result) in outcomes {
        match pending.has_callback() {
            true => callbacks.push((pending, result)),
            false => pending.complete(result),
        }
    }
    for (pending, result) in callbacks {
        pending.complete(result);
    }
}

/// Records waiting for one partition, in send order.
struct Queue {
    partition: Partition,
    records: VecDeque<Pending>,
    bytes: usize,
    /// When its oldest record arrived: `linger.ms` counts from here.
    since: Instant,
    /// Bytes of records per batch: `batch.size`, within the topic's `max.message.bytes` and
    /// `segment.bytes`.
    batch_limit: usize,
    /// Records per batch at most: halved each time a batch of the partition was refused as too
    /// large (the limit lowered again, or records larger than estimated), so that splitting
    /// ends, at one record; reset when the queue empties.
    record_cap: usize,
}

impl Queue {
    /// Takes out the records of the next batch: up to `batch_limit` bytes and `record_cap`
    /// records, at least one. A partial batch is taken only if `partial_ok`; otherwise it stays,
    /// to linger from `now`.
    fn take_batch(&mut self, partial_ok: bool, now: Instant) -> Option<Vec<Pending>> {
        let mut batch = Vec::new();
        let mut bytes = 0;
        while let Some(p) = self.records.front() {
            if !batch.is_empty() && (bytes + p.size > self.batch_limit || batch.len() >= self.record_cap) {
                break;
            }
            bytes += p.size;
            batch.push(self.records.pop_front().expect("a front"));
        }
        let full = bytes >= self.batch_limit || !self.records.is_empty();
        if batch.is_empty() || !(full || partial_ok) {
            // A partial batch that has not waited linger.ms: back in front, to wait.
            for p in batch.into_iter().rev() {
                self.records.push_front(p);
            }
            self.since = now;
            return None;
        }
        self.bytes -= bytes;
        if self.records.is_empty() {
            self.record_cap = usize::MAX;
        }
        Some(batch)
    }

    /// Puts a batch refused as too large back in front, and halves what the next batch takes.
    fn put_back_split(&mut self, batch: Vec<Pending>) {
        self.record_cap = (batch.len() / 2).max(1);
        for p in batch.into_iter().rev() {
            self.bytes += p.size;
            self.records.push_front(p);
        }
    }
}

/// Bytes of records per batch for a partition whose config is `topic`: `batch.size`, within
/// what the partition accepts as one batch.
fn batch_limit(batch_size: usize, topic: &crate::config::TopicConfig) -> usize {
    let topic_limit = (topic.max_message_bytes.min(topic.segment_bytes) as usize).saturating_sub(BATCH_OVERHEAD);
    batch_size.min(topic_limit).max(1)
}

#[derive(Default)]
struct State {
    queues: HashMap<(String, u32), Queue>,
    /// Per topic: the sticky partition for null keys, and the bytes sent to it (KIP-794).
    sticky: HashMap<String, (u32, usize)>,
    buffered: usize,
    next_seq: u64,
    /// Records sent and not yet completed, by sequence number: `flush` waits for those before it.
    incomplete: BTreeSet<u64>,
    /// Senders waiting for buffer space.
    blocked: usize,
    /// `flush` calls in progress: every queue is ready.
    flushing: usize,
    closed: bool,
    /// Why the producer closed itself: its thread panicked (the panic's message).
    failure: Option<String>,
    /// The sender thread is waiting for work (only then do sends need to wake it).
    sender_idle: bool,
    /// `close` ran out of time: the sender fails what is left, in order, and stops.
    abort: bool,
    rng: u64,
}

impl State {
    /// Whether a queue should go now, whatever its linger: a flush, a close, or a send waiting
    /// for buffer space needs it.
    fn urgent(&self) -> bool {
        self.closed || self.flushing > 0 || self.blocked > 0
    }

    /// Records that `seqs` have their outcomes (`flush` and `close` wait for that), and frees
    /// their `bytes` of the buffer.
    fn finish(&mut self, seqs: &[u64], bytes: usize) {
        for seq in seqs {
            self.incomplete.remove(seq);
        }
        self.buffered -= bytes;
    }

    /// The error of a send to a closed producer.
    fn closed_error(&self) -> Error {
        match &self.failure {
            Some(panic) => Error::Closed { what: format!("producer (its thread panicked: {panic})") },
            None => Error::Closed { what: "producer".into() },
        }
    }

    /// Takes out every record that waited `delivery.timeout.ms` by `now` (a prefix of each
    /// queue: records are queued in send order), failed.
    fn take_expired(&mut self, config: &ProducerConfig, now: Instant) -> Vec<(Pending, Outcome)> {
        let timeout = Duration::from_millis(config.delivery_timeout_ms);
        let mut expired = Vec::new();
        for (&(_, partition), queue) in self.queues.iter_mut() {
            while queue.records.front().is_some_and(|p| p.expired(timeout, now)) {
                let p = queue.records.pop_front().expect("a front");
                queue.bytes -= p.size;
                let error = Arc::new(p.timeout_error(partition, config));
                expired.push((p, Err(error)));
            }
        }
        expired
    }
}

struct Shared {
    log: Log,
    config: ProducerConfig,
    partitioner: Option<Arc<dyn Partitioner>>,
    state: Mutex<State>,
    /// Wakes the sender thread.
    work: Condvar,
    /// Wakes senders waiting for space, and `flush` / `close` waiting for completions.
    progress: Condvar,
}

thread_local! {
    /// On a producer's sender thread, the address of that producer's [`Shared`]; 0 elsewhere.
    /// What lets a call made from a delivery callback see that it would wait for its own thread.
    static SENDER_OF: Cell<usize> = const { Cell::new(0) };
}

impl Shared {
    /// Whether this is the producer's own thread (a delivery callback runs here).
    fn on_own_thread(&self) -> bool {
        SENDER_OF.with(Cell::get) == self as *const Shared as usize
    }

    /// Takes record `seq` out of its queue if it is still there (its append has not started),
    /// with the queue's partition.
    fn take_queued(&self, seq: u64) -> Option<(Pending, u32)> {
        let mut state = self.state.lock();
        let state = &mut *state;
        for (&(_, partition), queue) in state.queues.iter_mut() {
            let Ok(at) = queue.records.binary_search_by_key(&seq, |p| p.seq) else { continue };
            let pending = queue.records.remove(at).expect("found");
            queue.bytes -= pending.size;
            return Some((pending, partition));
        }
        None
    }

    /// [`State::finish`], under the lock, waking who waits for it.
    fn finish(&self, seqs: &[u64], bytes: usize) {
        self.state.lock().finish(seqs, bytes);
        self.progress.notify_all();
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
    sender: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        close(self, None);
    }
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").field("config", &self.handle.shared.config).finish_non_exhaustive()
    }
}

impl Producer {
    /// A producer appending to `log`'s topics, with its sender thread. A `delivery.timeout.ms`
    /// below `linger.ms` is [`Error::InvalidConfig`] (left at its default, it is raised to
    /// `linger.ms`, as Kafka raises it).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Error, Log, Producer, ProducerConfig, ProducerRecord, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 1, TopicConfig::default())?;
    /// let producer = Producer::new(&log, ProducerConfig::default().set("linger.ms", "0")?)?;
    /// let meta = producer.send(ProducerRecord::new("orders", b"x".to_vec())).wait().unwrap();
    /// assert_eq!((meta.topic.as_str(), meta.partition, meta.offset), ("orders", 0, 0));
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
        let seed =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
        let shared = Arc::new(Shared {
            log: log.clone(),
            config,
            partitioner,
            state: Mutex::new(State { rng: seed | 1, ..State::default() }),
            work: Condvar::new(),
            progress: Condvar::new(),
        });
        let for_thread = shared.clone();
        let sender = std::thread::Builder::new()
            .name("partlog-producer".into())
            .spawn(move || run_sender(&for_thread))
            .map_err(|source| Error::Io { op: "spawn the producer thread", path: Default::default(), source })?;
        Ok(Producer { handle: Arc::new(Handle { shared, sender: Mutex::new(Some(sender)) }) })
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
        let slot = Arc::new(Slot { producer: Arc::downgrade(&self.handle.shared), ..Slot::default() });
        match self.enqueue(record, Notify::Future(slot.clone())) {
            Ok(()) => DeliveryFuture { slot },
            Err(failed) => {
                let (error, record) = *failed;
                DeliveryFuture::ready(Err(DeliveryError { error: Arc::new(error), record: Box::new(record) }))
            }
        }
    }

    /// Sends `record` and calls `callback` with its outcome: on the producer's thread once it is
    /// appended, in send order for records of one partition; at once on this thread if it
    /// cannot be sent.
    ///
    /// The callback runs on the thread that appends every record, so it should be quick. What
    /// only that thread could finish fails at once from a callback ([`Error::InvalidState`]):
    /// [`flush`](Self::flush), a send while `buffer.memory` is full, and waiting for a record of
    /// this producer that is still queued. A panicking callback is contained.
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
        // With a callback, `enqueue` reports a failure through it and returns `Ok`.
        let _ = self.enqueue(record, Notify::Callback(Box::new(callback)));
    }

    fn enqueue(
        &self,
        mut record: ProducerRecord,
        notify: Notify,
    ) -> std::result::Result<(), Box<(Error, ProducerRecord)>> {
        let shared = &self.handle.shared;
        let config = &shared.config;
        let fail = |error: Error,
                    record: ProducerRecord,
                    notify: Notify|
         -> std::result::Result<(), Box<(Error, ProducerRecord)>> {
            match notify {
                Notify::Callback(callback) => {
                    Notify::Callback(callback)
                        .complete(Err(DeliveryError { error: Arc::new(error), record: Box::new(record) }));
                    Ok(())
                }
                Notify::Future(_) => Err(Box::new((error, record))),
            }
        };
        let topic = match shared.log.topic(&record.topic) {
            Ok(topic) => topic,
            Err(e) => return fail(e, record, notify),
        };
        let size = record.size();
        let topic_config = topic.partitions()[0].config();
        if let Err(error) = check_record(&record, size, config, &topic_config) {
            return fail(error, record, notify);
        }
        record.timestamp = Some(record.timestamp.unwrap_or_else(now_ms));
        // A custom partitioner runs before the lock: it is the application's code.
        let chosen = match (&record.partition, &shared.partitioner) {
            (None, Some(partitioner)) => partitioner.partition(
                &record.topic,
                record.key.as_deref(),
                record.value.as_deref(),
                topic.partition_count(),
            ),
            _ => None,
        };
        let mut sent = Instant::now();
        let mut state = shared.state.lock();
        if !state.closed && state.buffered + size > config.buffer_memory {
            if let Err(error) = self.wait_for_space(&mut state, size, sent) {
                drop(state);
                return fail(error, record, notify);
            }
            // Kafka's delivery timeout counts from when the record joins its batch.
            sent = Instant::now();
        }
        if state.closed {
            let error = state.closed_error();
            drop(state);
            return fail(error, record, notify);
        }
        let count = topic.partition_count();
        let partition = match record.partition.or(chosen) {
            Some(p) if p < count => p,
            Some(p) => {
                drop(state);
                let error = Error::UnknownPartition { topic: record.topic.clone(), partition: p, partitions: count };
                return fail(error, record, notify);
            }
            None => match record.key.as_deref().filter(|_| !config.partitioner_ignore_keys) {
                Some(key) => topic.partition_for_key(key).id(),
                None => sticky_partition(&mut state, &record.topic, count, size, config.batch_size),
            },
        };
        let seq = state.next_seq;
        state.next_seq += 1;
        state.incomplete.insert(seq);
        state.buffered += size;
        if let Notify::Future(slot) = &notify {
            let deadline = sent.checked_add(Duration::from_millis(config.delivery_timeout_ms));
            slot.state.lock().ticket = Some(Ticket { seq, deadline });
        }
        let key = (record.topic.clone(), partition);
        let handle = topic.partition(partition).expect("checked against the count");
        let queue = state.queues.entry(key).or_insert_with(|| Queue {
            partition: handle.clone(),
            records: VecDeque::new(),
            bytes: 0,
            since: sent,
            batch_limit: 1,
            record_cap: usize::MAX,
        });
        if queue.records.is_empty() {
            // A new batch: it lingers from now, and goes to the topic as it is now (a topic
            // deleted and created again has new partitions).
            queue.since = sent;
            queue.partition = handle;
        }
        // The topic's limits as they are now: an alter lowering them applies to what waits.
        queue.batch_limit = batch_limit(config.batch_size, &topic_config);
        queue.bytes += size;
        let full = queue.bytes >= queue.batch_limit;
        queue.records.push_back(Pending { record, size, seq, sent, notify: Some(notify) });
        // Wake the sender only if it sleeps: a busy one scans every queue when it comes back.
        // A new batch may need it to wake earlier, for its linger.
        if (full || config.linger_ms == 0 || queue.records.len() == 1) && state.sender_idle {
            shared.work.notify_one();
        }
        Ok(())
    }

    /// Waits, in turn, up to `max.block.ms` from `since` for `size` bytes of space in the
    /// buffer (or for the producer to close). From a delivery callback it fails at once: only
    /// that callback's thread, the producer's, frees space.
    fn wait_for_space(&self, state: &mut MutexGuard<'_, State>, size: usize, since: Instant) -> crate::Result<()> {
        let shared = &self.handle.shared;
        let config = &shared.config;
        if shared.on_own_thread() {
            return Err(Error::InvalidState {
                what: "send() from a delivery callback while buffer.memory is full: only the producer's own \
                       thread, which runs the callback, frees space",
            });
        }
        let deadline = since.checked_add(Duration::from_millis(config.max_block_ms));
        while !state.closed && state.buffered + size > config.buffer_memory {
            state.blocked += 1;
            shared.work.notify_one();
            let timed_out = match deadline {
                Some(d) => shared.progress.wait_until(state, d).timed_out(),
                None => {
                    shared.progress.wait(state);
                    false
                }
            };
            state.blocked -= 1;
            if timed_out && state.buffered + size > config.buffer_memory {
                return Err(Error::BufferFull {
                    waited_ms: config.max_block_ms,
                    buffer_memory: config.buffer_memory as u64,
                });
            }
        }
        Ok(())
    }

    /// Appends every record sent before the call (whatever `linger.ms` says) and returns once
    /// each has its outcome (Kafka's `flush`). From a delivery callback, which runs on the
    /// producer's own thread, it could never return: [`Error::InvalidState`] (as Kafka 4.0).
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
        if self.handle.shared.on_own_thread() {
            return Err(Error::InvalidState { what: "flush() from a delivery callback, on the producer's own thread" });
        }
        let mut state = shared.state.lock();
        let Some(upto) = state.next_seq.checked_sub(1) else { return Ok(()) };
        state.flushing += 1;
        shared.work.notify_one();
        while state.incomplete.first().is_some_and(|&first| first <= upto) {
            shared.progress.wait(&mut state);
        }
        state.flushing -= 1;
        Ok(())
    }

    /// Stops accepting records, delivers what waits for up to `timeout`, then fails what is
    /// left (each record's future or callback says so) and stops the sender thread. Later
    /// sends fail with [`Error::Closed`].
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
        close(&self.handle, Some(timeout));
    }
}

/// A batch's bytes besides its records (its 61-byte header).
const BATCH_OVERHEAD: usize = 61;

/// Refuses, for this record alone, what the partition would refuse (in a batch with others it
/// would fail them all) and what could never fit the producer's limits.
fn check_record(
    record: &ProducerRecord,
    size: usize,
    config: &ProducerConfig,
    topic: &crate::config::TopicConfig,
) -> crate::Result<()> {
    // The topic's limit is on the batch: this record alone, with a batch header.
    let limits = [
        (size, config.max_request_size, "max.request.size"),
        (size, config.buffer_memory, "buffer.memory"),
        (size + BATCH_OVERHEAD, topic.max_message_bytes as usize, "max.message.bytes"),
    ];
    if let Some(&(size, limit, setting)) = limits.iter().find(|(size, limit, _)| size > limit) {
        return Err(Error::BatchTooLarge { size: size as u64, limit: limit as u64, setting });
    }
    if record.timestamp.is_some_and(|t| t < 0) {
        return Err(Error::InvalidRecord { index: 0, reason: "a record's timestamp must not be negative" });
    }
    if topic.cleanup_policy.compacts() && record.key.is_none() {
        return Err(Error::InvalidRecord { index: 0, reason: "compacted topics reject records without a key" });
    }
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// KIP-794's uniform sticky partitioner: null-keyed records of a topic go to one partition until
/// `batch.size` bytes went there, then to a partition drawn at random.
fn sticky_partition(state: &mut State, topic: &str, count: u32, size: usize, batch_size: usize) -> u32 {
    let current = state.sticky.get(topic).copied().filter(|&(p, produced)| p < count && produced < batch_size);
    let (partition, produced) = current.unwrap_or_else(|| {
        // xorshift64*
        let mut x = state.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.rng = x;
        ((x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as u32 % count, 0)
    });
    state.sticky.insert(topic.to_owned(), (partition, produced + size));
    partition
}

/// Stops sends, lets the sender deliver what waits until `timeout` (forever for `None`), then
/// has it fail what is left, in order, after what it is appending, and waits for it to stop.
/// On the sender thread itself (from a callback) nothing can be waited for: a timeout there
/// fails what is left once the callback returns (Kafka's `close(0)`), and the last handle
/// dropped there lets the sender deliver everything before it stops.
fn close(handle: &Handle, timeout: Option<Duration>) {
    let shared = &handle.shared;
    let mut state = shared.state.lock();
    state.closed = true;
    shared.work.notify_all();
    shared.progress.notify_all();
    if handle.shared.on_own_thread() {
        state.abort |= timeout.is_some();
        return;
    }
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    while !state.incomplete.is_empty() && !state.abort {
        match deadline {
            Some(d) => {
                if shared.progress.wait_until(&mut state, d).timed_out() {
                    break;
                }
            }
            None => shared.progress.wait(&mut state),
        }
    }
    state.abort = true;
    shared.work.notify_all();
    drop(state);
    let thread = handle.sender.lock().take();
    if let Some(thread) = thread {
        let _ = thread.join();
    }
}

/// The sender thread. A panic anywhere on it (a bug: callbacks' and wakers' panics are contained
/// where they run) fails every waiting record and closes the producer, so that nothing waits
/// for a thread that is gone (issue 24).
fn run_sender(shared: &Shared) {
    SENDER_OF.with(|s| s.set(shared as *const Shared as usize));
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| send_loop(shared))) {
        stop_after_panic(shared, panic_message(&*panic));
    }
    SENDER_OF.with(|s| s.set(0));
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(message), _) => (*message).to_owned(),
        (_, Some(message)) => message.clone(),
        _ => "a panic without a message".to_owned(),
    }
}

/// After a panic on the sender thread: closes the producer and fails what waits. The records
/// being appended when it panicked were failed as the unwinding dropped them (`Pending`'s
/// `Drop`). Nothing here can panic but callbacks, which are contained.
fn stop_after_panic(shared: &Shared, message: String) {
    let mut state = shared.state.lock();
    state.closed = true;
    state.abort = true;
    let error = Arc::new(Error::Closed {
        what: format!("producer (its thread panicked: {message}; the record was not appended)"),
    });
    state.failure = Some(message);
    let left: Vec<(Pending, Outcome)> =
        state.queues.drain().flat_map(|(_, q)| q.records).map(|p| (p, Err(error.clone()))).collect();
    shared.progress.notify_all();
    drop(state);
    complete_all(left);
    let mut state = shared.state.lock();
    state.incomplete.clear();
    state.buffered = 0;
    shared.progress.notify_all();
}

/// The sender's loop: fails what waited `delivery.timeout.ms`, appends each ready queue as
/// batches, one `append` per batch, and sleeps until the next linger or deadline.
fn send_loop(shared: &Shared) {
    let config = &shared.config;
    loop {
        let mut state = shared.state.lock();
        if state.abort {
            // What is left fails, in send order per partition, after what was appended.
            let error = Arc::new(Error::Closed { what: "producer (closed before the record was appended)".into() });
            let left: Vec<(Pending, Outcome)> =
                state.queues.drain().flat_map(|(_, q)| q.records).map(|p| (p, Err(error.clone()))).collect();
            drop(state);
            finish_all(shared, left);
            return;
        }
        let now = Instant::now();
        let expired = state.take_expired(config, now);
        if !expired.is_empty() {
            drop(state);
            finish_all(shared, expired);
            continue;
        }
        let (ready, next_wake) = ready_queues(&state, config, now);
        if ready.is_empty() {
            if state.closed && state.queues.values().all(|q| q.records.is_empty()) {
                return;
            }
            state.sender_idle = true;
            match next_wake {
                Some(at) => {
                    shared.work.wait_until(&mut state, at);
                }
                None => shared.work.wait(&mut state),
            }
            state.sender_idle = false;
            continue;
        }
        drop(state);
        for (key, records) in ready {
            send_queue(shared, &key, records);
        }
    }
}

/// The queues to send from now, each with its number of records then (what it may send before
/// the others get their turn, so that a queue refilled as fast as it goes holds no other up);
/// else when to look again: the next linger or delivery deadline.
#[allow(clippy::type_complexity)]
fn ready_queues(
    state: &State,
    config: &ProducerConfig,
    now: Instant,
) -> (Vec<((String, u32), usize)>, Option<Instant>) {
    let linger = Duration::from_millis(config.linger_ms);
    let timeout = Duration::from_millis(config.delivery_timeout_ms);
    let urgent = state.urgent();
    let mut ready = Vec::new();
    let mut next_wake: Option<Instant> = None;
    for (key, queue) in &state.queues {
        let Some(oldest) = queue.records.front() else { continue };
        let due = queue.since.checked_add(linger).unwrap_or(now);
        if urgent || queue.bytes >= queue.batch_limit || due <= now {
            ready.push((key.clone(), queue.records.len()));
            continue;
        }
        for at in [Some(due), oldest.sent.checked_add(timeout)].into_iter().flatten() {
            next_wake = Some(next_wake.map_or(at, |w| w.min(at)));
        }
    }
    (ready, next_wake)
}

/// Appends batches of the queue `key` until it has none ready or `budget` records went. A batch
/// refused as too large goes back in front and is split (Kafka's `splitAndReenqueue`): records
/// keep their order, and only a record too large on its own fails.
fn send_queue(shared: &Shared, key: &(String, u32), mut budget: usize) {
    let config = &shared.config;
    let linger = Duration::from_millis(config.linger_ms);
    let timeout = Duration::from_millis(config.delivery_timeout_ms);
    // What the last batch leaves to record, recorded under the next batch's lock.
    let mut done: Option<(Vec<u64>, usize)> = None;
    loop {
        let mut state = shared.state.lock();
        if let Some((seqs, bytes)) = done.take() {
            state.finish(&seqs, bytes);
            shared.progress.notify_all();
        }
        let now = Instant::now();
        let urgent = state.urgent();
        if budget == 0 || state.abort {
            return;
        }
        let Some(queue) = state.queues.get_mut(key) else { return };
        if queue.records.front().is_some_and(|p| p.expired(timeout, now)) {
            return; // the loop fails it first
        }
        let lingered = queue.since.checked_add(linger).is_none_or(|due| due <= now);
        let Some(batch) = queue.take_batch(urgent || lingered, now) else { return };
        let partition = queue.partition.clone();
        drop(state);
        budget = budget.saturating_sub(batch.len());
        match append_batch(&partition, batch) {
            Appended::TooLarge(batch) => {
                budget += batch.len();
                // The partition's limits as they are now: an alter lowered them under the batch.
                let limit = batch_limit(config.batch_size, &partition.config());
                let mut state = shared.state.lock();
                let queue = state.queues.get_mut(key).expect("only this thread removes queues");
                queue.batch_limit = limit;
                queue.put_back_split(batch);
            }
            Appended::Done(batch, appended) => done = Some(complete_batch(&partition, batch, appended)),
        }
    }
}

/// Completes records taken out of their queues, then frees their space and records that they
/// are done (as Kafka frees a batch's buffer after its callbacks).
fn finish_all(shared: &Shared, outcomes: Vec<(Pending, Outcome)>) {
    let seqs: Vec<u64> = outcomes.iter().map(|(p, _)| p.seq).collect();
    let bytes = outcomes.iter().map(|(p, _)| p.size).sum();
    complete_all(outcomes);
    shared.finish(&seqs, bytes);
}

/// What became of a batch given to [`append_batch`].
enum Appended {
    /// Appended, or failed as a whole: its records and the append's outcome.
    Done(Vec<Pending>, std::result::Result<AppendInfo, Arc<Error>>),
    /// Refused as too large: the records, to split (never a single record).
    TooLarge(Vec<Pending>),
}

/// Appends one batch of records to `partition`.
fn append_batch(partition: &Partition, batch: Vec<Pending>) -> Appended {
    let headers: Vec<Vec<Header<'_>>> = batch
        .iter()
        .map(|p| p.record.headers.iter().map(|h| Header::from_bytes(&h.key, h.value.as_deref())).collect())
        .collect();
    let records: Vec<Record<'_>> = batch
        .iter()
        .zip(&headers)
        .map(|(p, headers)| Record {
            key: p.record.key.as_deref(),
            value: p.record.value.as_deref(),
            timestamp: p.record.timestamp,
            headers,
        })
        .collect();
    let outcome = partition.append(&records);
    drop(records);
    drop(headers);
    match outcome {
        Err(Error::BatchTooLarge { .. }) if batch.len() > 1 => Appended::TooLarge(batch),
        outcome => Appended::Done(batch, outcome.map_err(Arc::new)),
    }
}

/// Completes the records of a batch appended to `partition` (record `i` at `first_offset + i`),
/// or failed as a whole, in order, futures first (see [`complete_all`]); returns the records'
/// sequence numbers and bytes, for [`State::finish`].
fn complete_batch(
    partition: &Partition,
    mut batch: Vec<Pending>,
    appended: std::result::Result<AppendInfo, Arc<Error>>,
) -> (Vec<u64>, usize) {
    let log_append_time = partition.config().message_timestamp_type == TimestampType::LogAppendTime;
    let outcome = |i: usize, p: &Pending| -> Outcome {
        let info = appended.as_ref().map_err(Arc::clone)?;
        let timestamp = if log_append_time { info.max_timestamp } else { p.record.timestamp.unwrap_or(-1) };
        Ok(RecordMetadata {
            topic: p.record.topic.clone(),
            partition: partition.id(),
            offset: info.first_offset + i as u64,
            timestamp,
        })
    };
    for callbacks in [false, true] {
        for (i, p) in batch.iter_mut().enumerate() {
            if p.has_callback() == callbacks {
                let result = outcome(i, p);
                p.complete_in_place(result);
            }
        }
    }
    let seqs = batch.iter().map(|p| p.seq).collect();
    (seqs, batch.iter().map(|p| p.size).sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(seq: u64, value_bytes: usize) -> Pending {
        let record = ProducerRecord::new("t", vec![0; value_bytes]);
        Pending { size: record.size(), record, seq, sent: Instant::now(), notify: None }
    }

    /// A batch refused as too large comes back in order and the next batches take half as many
    /// records, and half again if refused again, down to one: splitting ends even where the
    /// size estimate is wrong.
    #[test]
    fn a_batch_refused_as_too_large_is_taken_again_in_halves_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path()).unwrap();
        let partition = log.create_topic("t", 1, crate::config::TopicConfig::default()).unwrap().partition(0).unwrap();
        let now = Instant::now();
        let mut queue = Queue {
            partition,
            records: (0..10).map(|seq| pending(seq, 10)).collect(),
            bytes: 310,
            since: now,
            batch_limit: 1 << 20,
            record_cap: usize::MAX,
        };
        let seqs = |batch: &[Pending]| batch.iter().map(|p| p.seq).collect::<Vec<_>>();
        let all = queue.take_batch(true, now).unwrap();
        assert_eq!((all.len(), queue.bytes), (10, 0));
        queue.put_back_split(all);
        let first = queue.take_batch(true, now).unwrap();
        assert_eq!(seqs(&first), [0, 1, 2, 3, 4]);
        queue.put_back_split(first);
        let smaller = queue.take_batch(true, now).unwrap();
        assert_eq!(seqs(&smaller), [0, 1]);
        let next = queue.take_batch(true, now).unwrap();
        assert_eq!(seqs(&next), [2, 3], "the cap holds until the queue empties");
        queue.put_back_split(next);
        assert_eq!(seqs(&queue.take_batch(true, now).unwrap()), [2]);
        let rest: Vec<u64> = std::iter::from_fn(|| queue.take_batch(true, now)).flat_map(|b| seqs(&b)).collect();
        assert_eq!(rest, [3, 4, 5, 6, 7, 8, 9], "in order, one at a time");
        assert_eq!((queue.bytes, queue.record_cap), (0, usize::MAX), "reset once empty");
    }

    /// A record dropped without its outcome (a sender thread that panicked mid-append drops its
    /// batch while unwinding) fails its future instead of leaving it waiting forever.
    #[test]
    fn a_pending_record_dropped_without_an_outcome_fails_its_future() {
        let slot = Arc::new(Slot::default());
        let future = DeliveryFuture { slot: slot.clone() };
        let pending = Pending {
            record: ProducerRecord::new("t", b"v".to_vec()),
            size: 22,
            seq: 0,
            sent: Instant::now(),
            notify: Some(Notify::Future(slot)),
        };
        drop(pending);
        let failed = future.wait_timeout(Duration::from_secs(5)).expect("resolved").unwrap_err();
        assert!(matches!(*failed.error, Error::Closed { .. }));
        assert_eq!(failed.record.value.as_deref(), Some(&b"v"[..]), "the record comes back");
    }
}
