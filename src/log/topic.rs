//! A topic: a name, a configuration and a fixed set of partitions.

use std::fmt;
use std::sync::Arc;

use crate::config::TopicConfig;
use crate::error::{Error, Result};
use crate::partition::Partition;

/// The longest topic name Kafka accepts.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Error, Log, TopicConfig, MAX_TOPIC_NAME_LEN};
/// let log = Log::open(dir.path())?;
/// log.create_topic(&"t".repeat(MAX_TOPIC_NAME_LEN), 1, TopicConfig::default())?;
/// let too_long = "t".repeat(MAX_TOPIC_NAME_LEN + 1);
/// assert!(matches!(log.create_topic(&too_long, 1, TopicConfig::default()), Err(Error::InvalidTopicName { .. })));
/// # Ok::<(), partlog::Error>(())
/// ```
pub const MAX_TOPIC_NAME_LEN: usize = 249;
/// The most partitions one topic may have.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Error, Log, TopicConfig, MAX_PARTITIONS};
/// let log = Log::open(dir.path())?;
/// let refused = log.create_topic("t", MAX_PARTITIONS + 1, TopicConfig::default());
/// assert!(matches!(refused, Err(Error::InvalidConfig { .. })));
/// # Ok::<(), partlog::Error>(())
/// ```
pub const MAX_PARTITIONS: u32 = 65_536;

/// Kafka's internal topic of consumer groups' offsets (kept by `crate::client`): its partition
/// count places every group, so it never grows.
pub(crate) const GROUP_OFFSETS_TOPIC: &str = "__consumer_offsets";

/// The topic of a KRaft broker's metadata log: never a partlog topic, so a broker's `log.dir`
/// opens without it (Kafka's `LogManager` skips it too).
const KRAFT_METADATA_TOPIC: &str = "__cluster_metadata";

/// Checks a topic name the way Kafka does (`Topic.validate`): 1 to 249 characters from
/// `[a-zA-Z0-9._-]`, and not `.` or `..`. This also guarantees the name cannot escape the
/// data directory. `__cluster_metadata`, a KRaft broker's metadata log, is reserved.
///
/// # Example
/// ```
/// use partlog::validate_topic_name;
/// assert!(validate_topic_name("orders.v2_eu-west").is_ok());
/// assert!(validate_topic_name("../etc").is_err());
/// assert!(validate_topic_name("..").is_err());
/// assert!(validate_topic_name(&"x".repeat(250)).is_err());
/// assert!(validate_topic_name("__cluster_metadata").is_err());
/// ```
pub fn validate_topic_name(name: &str) -> Result<()> {
    let reason = if name == KRAFT_METADATA_TOPIC {
        "reserved: a KRaft broker keeps its metadata log in `__cluster_metadata-0`, which partlog leaves alone"
    } else {
        match kafka_name_problem(name) {
            Some(reason) => reason,
            None => return Ok(()),
        }
    };
    Err(Error::InvalidTopicName { name: name.to_owned(), reason })
}

/// Whether a broker can have a topic of this name: Kafka's rule, without partlog's reserved
/// name. A broker's offset checkpoints list `__cluster_metadata`, which partlog keeps as it is.
pub(crate) fn is_kafka_topic_name(name: &str) -> bool {
    kafka_name_problem(name).is_none()
}

/// What Kafka's `Topic.validate` finds wrong with a name.
fn kafka_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("the name is empty")
    } else if name == "." || name == ".." {
        Some("\".\" and \"..\" are not allowed")
    } else if name.len() > MAX_TOPIC_NAME_LEN {
        Some("longer than 249 characters")
    } else if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        Some("only ASCII letters, digits, '.', '_' and '-' are allowed")
    } else {
        None
    }
}

pub(crate) struct TopicInner {
    pub name: String,
    pub config: Arc<TopicConfig>,
    pub partitions: Vec<Partition>,
}

/// A topic of a [`Log`](crate::Log): its configuration and partitions. Cheap to clone.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Log, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let topic = log.create_topic("clicks", 3, TopicConfig::default())?;
/// assert_eq!(topic.name(), "clicks");
/// assert_eq!(topic.partition_count(), 3);
/// assert_eq!(topic.partition(2)?.name(), "clicks-2");
/// assert!(matches!(topic.partition(3), Err(partlog::Error::UnknownPartition { partitions: 3, .. })));
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Clone)]
pub struct Topic {
    pub(crate) inner: Arc<TopicInner>,
}

impl fmt::Debug for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topic")
            .field("name", &self.inner.name)
            .field("partitions", &self.inner.partitions.len())
            .finish()
    }
}

impl Topic {
    /// The topic name.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let topic = log.create_topic("orders", 1, TopicConfig::default())?;
    /// assert_eq!(topic.name(), "orders");
    /// assert_eq!(topic.partition(0)?.name(), "orders-0"); // its directory's name
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The topic configuration, as it was when this handle was taken: after
    /// [`Log::alter_topic_config`](crate::Log::alter_topic_config), take the topic again (or read
    /// [`Partition::config`], which is always the one in force).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let topic = log.create_topic("events", 1, TopicConfig::event_store())?;
    /// assert_eq!(topic.config().retention_ms, -1);
    /// let config = topic.config().clone().set("retention.ms", "86400000")?;
    /// log.alter_topic_config("events", config)?;
    /// assert_eq!(topic.config().retention_ms, -1); // this handle: as it was
    /// assert_eq!(log.topic("events")?.config().retention_ms, 86_400_000);
    /// assert_eq!(topic.partition(0)?.config().retention_ms, 86_400_000);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn config(&self) -> &TopicConfig {
        &self.inner.config
    }

    /// Number of partitions, as it was when this handle was taken (see
    /// [`Log::add_partitions`](crate::Log::add_partitions)).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let topic = log.create_topic("t", 3, TopicConfig::default())?;
    /// assert_eq!(topic.partition_count(), 3);
    /// log.add_partitions("t", 5)?;
    /// assert_eq!(topic.partition_count(), 3);
    /// assert_eq!(log.topic("t")?.partition_count(), 5);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn partition_count(&self) -> u32 {
        self.inner.partitions.len() as u32
    }

    /// Partition `id`, or [`Error::UnknownPartition`].
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Error, Log, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let topic = log.create_topic("t", 2, TopicConfig::default())?;
    /// assert_eq!(topic.partition(1)?.id(), 1);
    /// match topic.partition(2) {
    ///     Err(Error::UnknownPartition { partition, partitions, .. }) => assert_eq!((partition, partitions), (2, 2)),
    ///     other => panic!("expected UnknownPartition, got {other:?}"),
    /// }
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn partition(&self, id: u32) -> Result<Partition> {
        self.inner.partitions.get(id as usize).cloned().ok_or_else(|| Error::UnknownPartition {
            topic: self.inner.name.clone(),
            partition: id,
            partitions: self.partition_count(),
        })
    }

    /// All partitions, in order.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let topic = log.create_topic("t", 3, TopicConfig::default())?;
    /// for p in topic.partitions() {
    ///     p.append(&[Record::new(b"one each")])?;
    /// }
    /// let ids: Vec<u32> = topic.partitions().iter().map(|p| p.id()).collect();
    /// assert_eq!(ids, [0, 1, 2]);
    /// assert!(topic.partitions().iter().all(|p| p.log_end_offset() == 1));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn partitions(&self) -> &[Partition] {
        &self.inner.partitions
    }

    /// The partition Kafka's default partitioner picks for a non-null `key`:
    /// `toPositive(murmur2(key)) % partitions`, so keys land where a Kafka producer puts them.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let topic = log.create_topic("t", 10, TopicConfig::default())?;
    /// assert_eq!(topic.partition_for_key(b"foobar").id(), 6); // as Kafka's Java producer
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn partition_for_key(&self, key: &[u8]) -> &Partition {
        let positive = murmur2(key) & 0x7fff_ffff;
        &self.inner.partitions[positive as usize % self.inner.partitions.len()]
    }
}

/// Kafka's 32-bit MurmurHash2 (`Utils.murmur2`): seed `0x9747b28c`, little-endian blocks.
pub(crate) fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h = SEED ^ data.len() as u32;
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_le_bytes(block.try_into().expect("4-byte block"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate().rev() {
            h ^= (b as u32) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^ (h >> 15)
}

#[cfg(test)]
mod tests {
    use super::murmur2;

    #[test]
    fn murmur2_matches_kafkas_test_vectors() {
        // clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java
        for (key, want) in [
            ("21", -973_932_308),
            ("foobar", -790_332_482),
            ("abc", 479_470_107),
            ("a-little-bit-long-string", -985_981_536),
        ] {
            assert_eq!(murmur2(key.as_bytes()) as i32, want, "{key}");
        }
    }
}
