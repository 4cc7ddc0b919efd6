//! What `poll` returns (Kafka's `ConsumerRecord`).

use std::sync::Arc;

use crate::coordinator::types::TopicPartition;
use crate::format::batch::TimestampType;
use crate::format::record::OwnedHeader;

/// A record returned by [`Consumer::poll`](crate::Consumer::poll) (Kafka's `ConsumerRecord`).
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::time::Duration;
/// use partlog::{Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("orders", 1, TopicConfig::default())?.partition(0)?;
/// p.append(&[Record::new(b"42 pizzas").with_key(b"customer-7").with_timestamp(1_000)])?;
/// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("auto.offset.reset", "earliest")?)?;
/// consumer.assign(&[TopicPartition::new("orders", 0)])?;
/// let record = consumer.poll(Duration::from_millis(100))?.remove(0);
/// assert_eq!((&*record.topic, record.partition, record.offset, record.timestamp), ("orders", 0, 0, 1_000));
/// assert_eq!(record.key.as_deref(), Some(&b"customer-7"[..]));
/// assert_eq!((record.value.as_deref(), record.headers.len()), (Some(&b"42 pizzas"[..]), 0));
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: u32,
    /// The record's offset.
    pub offset: u64,
    /// Its timestamp in milliseconds: the producer's, or the log's append time, as
    /// [`timestamp_type`](Self::timestamp_type) says.
    pub timestamp: i64,
    /// What the timestamp is (Kafka's `ConsumerRecord.timestampType()`): `CreateTime`, or
    /// `LogAppendTime` for records of a batch the log stamped (a topic with
    /// `message.timestamp.type=LogAppendTime`).
    pub timestamp_type: TimestampType,
    /// The key; `None` is null.
    pub key: Option<Vec<u8>>,
    /// The value; `None` is null (a tombstone).
    pub value: Option<Vec<u8>>,
    /// Headers, in order.
    pub headers: Vec<OwnedHeader>,
}

impl ConsumerRecord {
    /// The record's topic and partition.
    ///
    /// # Example
    /// ```
    /// use partlog::{ConsumerRecord, TimestampType, TopicPartition};
    /// let record = ConsumerRecord {
    ///     topic: "orders".into(),
    ///     partition: 2,
    ///     offset: 7,
    ///     timestamp: 0,
    ///     timestamp_type: TimestampType::CreateTime,
    ///     key: None,
    ///     value: Some(b"order".to_vec()),
    ///     headers: Vec::new(),
    /// };
    /// assert_eq!(record.topic_partition(), TopicPartition::new("orders", 2));
    /// ```
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(&*self.topic, self.partition)
    }
}
