//! Kafka's producer, in-process (`KafkaProducer`, `RecordAccumulator`, `BuiltInPartitioner`):
//! records are partitioned as Kafka partitions them, gathered per partition, and appended as one
//! batch per partition when the batch reaches `batch.size` or has waited `linger.ms`, by one
//! sender thread. `buffer.memory` bounds what waits; a full buffer blocks `send` up to
//! `max.block.ms`. Built on the public [`Log`] / [`Partition`] API only.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::task::Waker;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::error::Error;
use crate::format::batch::TimestampType;
use crate::format::record::{Header, OwnedHeader, Record};
use crate::log::Log;
use crate::partition::Partition;

/// The producer settings partlog keeps from Kafka's (`ProducerConfig`), with Kafka's names and
/// defaults (Kafka 4.0's `linger.ms` of 5). What exists only because of the network (`acks`,
/// retries, request timeouts, in-flight limits) has no meaning in-process: an append is the
/// acknowledgement, and the topic's flush settings say when it is durable.
///
/// # Example
/// ```
/// use partlog::ProducerConfig;
/// let config = ProducerConfig::default().set("linger.ms", "20")?.set("batch.size", "65536")?;
/// assert_eq!((config.linger_ms, config.batch_size), (20, 65536));
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
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            batch_size: 16384,
            linger_ms: 5,
            buffer_memory: 33554432,
            max_block_ms: 60000,
            max_request_size: 1048576,
            partitioner_ignore_keys: false,
        }
    }
}

impl ProducerConfig {
    /// Sets a setting by Kafka's name. Settings that exist only because of the network or the
    /// JVM (`acks`, `retries`, `retry.backoff.ms`, `request.timeout.ms`,
    /// `max.in.flight.requests.per.connection`, `enable.idempotence`, `bootstrap.servers`,
    /// `client.id`, `key.serializer`, `value.serializer`, adaptive partitioning, metadata ages)
    /// are accepted and ignored, so that a Kafka producer's configuration carries over. Not yet
    /// kept, and ignored for now: `delivery.timeout.ms`. `compression.type` other than `none` is
    /// refused: the topic's `compression.type` decides how batches are stored. Others are
    /// [`Error::InvalidConfig`].
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
            | "delivery.timeout.ms"
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
#[must_use = "dropping it is fire-and-forget: the outcome is not looked at"]
pub struct DeliveryFuture {
    slot: Arc<Slot>,
}

#[derive(Debug, Default)]
struct Slot {
    result: Mutex<Option<DeliveryResult>>,
    done: Condvar,
    /// The task awaiting it, if it is awaited.
    waker: Mutex<Option<Waker>>,
}

impl Slot {
    fn complete(&self, result: DeliveryResult) {
        *self.result.lock() = Some(result);
        self.done.notify_all();
        if let Some(waker) = self.waker.lock().take() {
            waker.wake();
        }
    }
}

/// Awaiting a delivery (any executor): resolves as [`DeliveryFuture::wait`] returns, without
/// blocking a thread.
impl std::future::Future for DeliveryFuture {
    type Output = DeliveryResult;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<DeliveryResult> {
        if let Some(r) = self.slot.result.lock().take() {
            return std::task::Poll::Ready(r);
        }
        *self.slot.waker.lock() = Some(cx.waker().clone());
        // Completed between the check and the registration: its wake found no waker.
        match self.slot.result.lock().take() {
            Some(r) => std::task::Poll::Ready(r),
            None => std::task::Poll::Pending,
        }
    }
}

impl DeliveryFuture {
    fn ready(result: DeliveryResult) -> Self {
        let slot = Arc::new(Slot::default());
        slot.complete(result);
        DeliveryFuture { slot }
    }

    /// Blocks until the record is appended (and, on a synchronous topic, fsynced) or has failed.
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
        let mut result = self.slot.result.lock();
        loop {
            if let Some(r) = result.take() {
                return r;
            }
            self.slot.done.wait(&mut result);
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
    /// // The record lingers for its batch: still pending after 1 ms.
    /// let future = future.wait_timeout(Duration::from_millis(1)).unwrap_err();
    /// producer.flush()?;
    /// let meta = future.wait_timeout(Duration::ZERO).ok().unwrap().unwrap();
    /// assert_eq!(meta.offset, 0);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn wait_timeout(self, timeout: Duration) -> std::result::Result<DeliveryResult, DeliveryFuture> {
        let deadline = Instant::now().checked_add(timeout);
        {
            let mut result = self.slot.result.lock();
            loop {
                if let Some(r) = result.take() {
                    return Ok(r);
                }
                match deadline {
                    Some(d) => {
                        if self.slot.done.wait_until(&mut result, d).timed_out() && result.is_none() {
                            break;
                        }
                    }
                    None => self.slot.done.wait(&mut result),
                }
            }
        }
        Err(self)
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
        self.slot.result.lock().is_some()
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

/// A record waiting for its outcome. One dropped without it (the sender thread panicked, or the
/// producer went away first) completes as failed, so that no future waits forever.
struct Pending {
    record: ProducerRecord,
    size: usize,
    seq: u64,
    notify: Option<Notify>,
}

impl Pending {
    fn complete(mut self, result: std::result::Result<RecordMetadata, Arc<Error>>) {
        if let Some(notify) = self.notify.take() {
            let result =
                result.map_err(|error| DeliveryError { error, record: Box::new(std::mem::take(&mut self.record)) });
            notify.complete(result);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(notify) = self.notify.take() {
            let error =
                Arc::new(Error::Closed { what: "producer (its sender stopped before the record was appended)".into() });
            notify.complete(Err(DeliveryError { error, record: Box::new(std::mem::take(&mut self.record)) }));
        }
    }
}

/// Records waiting for one partition.
struct Queue {
    partition: Partition,
    records: VecDeque<Pending>,
    bytes: usize,
    /// When its oldest record arrived: `linger.ms` counts from here.
    since: Instant,
    /// Bytes of records per batch: `batch.size`, within the topic's `max.message.bytes`.
    batch_limit: usize,
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
    /// The sender thread is waiting for work (only then do sends need to wake it).
    sender_idle: bool,
    /// `close` ran out of time: the sender fails what is left, in order, and stops.
    abort: bool,
    rng: u64,
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
    sender_id: std::thread::ThreadId,
}

impl Handle {
    fn on_sender_thread(&self) -> bool {
        std::thread::current().id() == self.sender_id
    }
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
    /// A producer appending to `log`'s topics, with its sender thread.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Producer, ProducerConfig, ProducerRecord, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 1, TopicConfig::default())?;
    /// let producer = Producer::new(&log, ProducerConfig::default().set("linger.ms", "0")?)?;
    /// let meta = producer.send(ProducerRecord::new("orders", b"x".to_vec())).wait().unwrap();
    /// assert_eq!((meta.topic.as_str(), meta.partition, meta.offset), ("orders", 0, 0));
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
        let sender_id = sender.thread().id();
        Ok(Producer { handle: Arc::new(Handle { shared, sender: Mutex::new(Some(sender)), sender_id }) })
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
        let slot = Arc::new(Slot::default());
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
        // What the partition would refuse is refused here, for this record alone: in a batch
        // with others it would fail them all.
        let size = record.size();
        let topic_config = topic.partitions()[0].config();
        // The topic's limit is on the batch: this record alone, with a batch header.
        let topic_limit = (topic_config.max_message_bytes as usize).saturating_sub(BATCH_OVERHEAD);
        let limits = [
            (size, config.max_request_size, "max.request.size"),
            (size, config.buffer_memory, "buffer.memory"),
            (size + BATCH_OVERHEAD, topic_config.max_message_bytes as usize, "max.message.bytes"),
        ];
        if let Some(&(size, limit, setting)) = limits.iter().find(|(size, limit, _)| size > limit) {
            return fail(Error::BatchTooLarge { size: size as u64, limit: limit as u64, setting }, record, notify);
        }
        if record.timestamp.is_some_and(|t| t < 0) {
            let error = Error::InvalidRecord { index: 0, reason: "a record's timestamp must not be negative" };
            return fail(error, record, notify);
        }
        if topic_config.cleanup_policy.compacts() && record.key.is_none() {
            let error = Error::InvalidRecord { index: 0, reason: "compacted topics reject records without a key" };
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
        let deadline = Instant::now().checked_add(Duration::from_millis(config.max_block_ms));
        let mut state = shared.state.lock();
        // Space in the buffer, waited for in turn up to `max.block.ms`.
        while !state.closed && state.buffered + size > config.buffer_memory {
            state.blocked += 1;
            shared.work.notify_one();
            let timed_out = match deadline {
                Some(d) => shared.progress.wait_until(&mut state, d).timed_out(),
                None => {
                    shared.progress.wait(&mut state);
                    false
                }
            };
            state.blocked -= 1;
            if timed_out && state.buffered + size > config.buffer_memory {
                drop(state);
                let error =
                    Error::BufferFull { waited_ms: config.max_block_ms, buffer_memory: config.buffer_memory as u64 };
                return fail(error, record, notify);
            }
        }
        if state.closed {
            drop(state);
            return fail(Error::Closed { what: "producer".into() }, record, notify);
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
        let key = (record.topic.clone(), partition);
        let handle = topic.partition(partition).expect("checked against the count");
        let batch_limit = config.batch_size.min(topic_limit).max(1);
        let queue = state.queues.entry(key).or_insert_with(|| Queue {
            partition: handle.clone(),
            records: VecDeque::new(),
            bytes: 0,
            since: Instant::now(),
            batch_limit,
        });
        if queue.records.is_empty() {
            // A new batch: it lingers from now, and goes to the topic as it is now (a topic
            // deleted and created again has new partitions).
            queue.since = Instant::now();
            queue.partition = handle;
            queue.batch_limit = batch_limit;
        }
        queue.bytes += size;
        let full = queue.bytes >= queue.batch_limit;
        queue.records.push_back(Pending { record, size, seq, notify: Some(notify) });
        // Wake the sender only if it sleeps: a busy one scans every queue when it comes back.
        // A new batch may need it to wake earlier, for its linger.
        if (full || config.linger_ms == 0 || queue.records.len() == 1) && state.sender_idle {
            shared.work.notify_one();
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
        if self.handle.on_sender_thread() {
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
    if handle.on_sender_thread() {
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

/// The sender thread: appends each ready queue as batches of up to `batch.size` bytes, one
/// `append` per batch, and completes its records.
fn run_sender(shared: &Shared) {
    let config = &shared.config;
    let linger = Duration::from_millis(config.linger_ms);
    let mut state = shared.state.lock();
    loop {
        if state.abort {
            // What is left fails, in send order per partition, after what was appended.
            let left: Vec<Pending> = state.queues.drain().flat_map(|(_, q)| q.records).collect();
            for p in &left {
                state.incomplete.remove(&p.seq);
                state.buffered -= p.size;
            }
            shared.progress.notify_all();
            drop(state);
            for p in left {
                let error = Arc::new(Error::Closed { what: "producer (closed before the record was appended)".into() });
                p.complete(Err(error));
            }
            return;
        }
        let now = Instant::now();
        let urgent = state.closed || state.flushing > 0 || state.blocked > 0;
        let mut ready = Vec::new();
        let mut next_wake: Option<Instant> = None;
        for (key, queue) in &state.queues {
            if queue.records.is_empty() {
                continue;
            }
            let due = queue.since.checked_add(linger).unwrap_or(now);
            if urgent || queue.bytes >= queue.batch_limit || due <= now {
                ready.push(key.clone());
            } else {
                next_wake = Some(next_wake.map_or(due, |w| w.min(due)));
            }
        }
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
        // Take the ready batches out, then append without the lock. A queue ready only because
        // it filled a batch gives its full batches; the rest lingers as a new batch.
        let mut work = Vec::new();
        for key in ready {
            let Some(queue) = state.queues.get_mut(&key) else { continue };
            let lingered = queue.since.checked_add(linger).is_none_or(|due| due <= now);
            let mut batches = Vec::new();
            while !queue.records.is_empty() {
                let mut batch = Vec::new();
                let mut bytes = 0;
                while let Some(p) = queue.records.front() {
                    if !batch.is_empty() && bytes + p.size > queue.batch_limit {
                        break;
                    }
                    bytes += p.size;
                    batch.push(queue.records.pop_front().expect("a front"));
                }
                let full = bytes >= queue.batch_limit || !queue.records.is_empty();
                if !(full || urgent || lingered) {
                    // A partial batch that has not waited linger.ms: back in front, to wait.
                    for p in batch.into_iter().rev() {
                        queue.records.push_front(p);
                    }
                    queue.since = now;
                    break;
                }
                queue.bytes -= bytes;
                batches.push(batch);
            }
            work.push((queue.partition.clone(), batches));
        }
        drop(state);
        let mut done = Vec::new();
        for (partition, batches) in work {
            for batch in batches {
                deliver(&partition, batch, &mut done);
            }
        }
        state = shared.state.lock();
        for (seq, size) in done {
            state.incomplete.remove(&seq);
            state.buffered -= size;
        }
        shared.progress.notify_all();
    }
}

/// Appends one batch of records to `partition` and completes each; records `(seq, size)` of
/// each in `done`.
fn deliver(partition: &Partition, batch: Vec<Pending>, done: &mut Vec<(u64, usize)>) {
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
    let log_append_time = partition.config().message_timestamp_type == TimestampType::LogAppendTime;
    match outcome {
        Ok(info) => {
            for (i, p) in batch.into_iter().enumerate() {
                done.push((p.seq, p.size));
                let timestamp = if log_append_time { info.max_timestamp } else { p.record.timestamp.unwrap_or(-1) };
                let meta = RecordMetadata {
                    topic: p.record.topic.clone(),
                    partition: partition.id(),
                    offset: info.first_offset + i as u64,
                    timestamp,
                };
                p.complete(Ok(meta));
            }
        }
        Err(e) => {
            let error = Arc::new(e);
            for p in batch {
                done.push((p.seq, p.size));
                p.complete(Err(error.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            notify: Some(Notify::Future(slot)),
        };
        drop(pending);
        let failed = future.wait_timeout(Duration::from_secs(5)).expect("resolved").unwrap_err();
        assert!(matches!(*failed.error, Error::Closed { .. }));
        assert_eq!(failed.record.value.as_deref(), Some(&b"v"[..]), "the record comes back");
    }
}
