//! What is sent and what comes back: `ProducerRecord`, `RecordMetadata`, `DeliveryError`.

use std::sync::Arc;

use crate::error::Error;
use crate::format::record::OwnedHeader;

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
/// assert_eq!((&*meta.topic, meta.partition, meta.offset), ("orders", 1, 1));
/// assert_eq!(meta.timestamp, 1_700_000_000_000); // CreateTime, as sent
/// assert_eq!(p.read(meta.offset, 1 << 20)?[0].value.as_deref(), Some(&b"pizza"[..]));
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic (shared by the records of a batch, as [`ConsumerRecord`](crate::ConsumerRecord)'s).
    pub topic: Arc<str>,
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
