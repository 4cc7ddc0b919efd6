//! The producer's settings (Kafka's `ProducerConfig`) and the partitioner hook (`partitioner.class`).

use crate::error::Error;

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
    /// `delivery.timeout.ms` (default 120000, two minutes): a batch whose append has not
    /// started this long after it opened (its first record's send) fails with
    /// [`Error::DeliveryTimeout`] and is never appended. What holds a batch up in-process is
    /// an append of the same partition that does not return (a disk that hangs): the futures
    /// of the batches behind it hear the timeout at their deadline, their callbacks once that
    /// append returns. A batch that only waited for its turn (a busy producer thread, as Kafka's
    /// sender drains ready batches before it expires any) is appended. Kafka requires it to be at least
    /// `linger.ms + request.timeout.ms`; with no requests here, at least `linger.ms`
    /// ([`Producer::new`](super::Producer::new) refuses less, and raises the default to
    /// `linger.ms`, as Kafka raises its default).
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
    /// (`delivery.timeout.ms` at least `linger.ms`) is checked by [`Producer::new`](crate::Producer::new).
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
    pub(super) fn validated(mut self) -> crate::Result<Self> {
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
/// `partitioner.class`); see [`Producer::with_partitioner`](crate::Producer::with_partitioner). A partition number the topic does
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
