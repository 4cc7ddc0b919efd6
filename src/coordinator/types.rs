//! The public value types of consumer groups, used by the coordinator and by the clients above
//! it alike: a partition ([`TopicPartition`]), a committed offset ([`OffsetAndMetadata`]) and a
//! group's state ([`GroupState`]). Plain values with no logic; they live at the bottom of the
//! coordinator layer, the lower of the two that use them, so that both import them downwards
//! (`docs/design.md`, Layers).

use std::fmt;

/// A topic and partition (Kafka's `TopicPartition`), ordered by topic then partition.
///
/// # Example
/// ```
/// use partlog::TopicPartition;
/// let tp = TopicPartition::new("orders", 3);
/// assert_eq!(tp.to_string(), "orders-3");
/// assert!(TopicPartition::new("a", 9) < TopicPartition::new("b", 0));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic.
    pub topic: String,
    /// The partition number.
    pub partition: u32,
}

impl TopicPartition {
    /// A topic and partition.
    ///
    /// # Example
    /// ```
    /// use partlog::TopicPartition;
    /// let tp = TopicPartition::new("orders", 3);
    /// assert_eq!((tp.topic.as_str(), tp.partition), ("orders", 3));
    /// assert_eq!(tp, TopicPartition::new(String::from("orders"), 3)); // any `Into<String>`
    /// ```
    pub fn new(topic: impl Into<String>, partition: u32) -> TopicPartition {
        TopicPartition { topic: topic.into(), partition }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// A committed offset (Kafka's `OffsetAndMetadata`): the offset of the next record to read,
/// with the committer's metadata string.
///
/// # Example
/// ```
/// use partlog::OffsetAndMetadata;
/// let committed = OffsetAndMetadata::new(42).with_metadata("host-a");
/// assert_eq!((committed.offset, committed.metadata.as_str()), (42, "host-a"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    /// The next offset to read.
    pub offset: u64,
    /// Free-form metadata, at most 4096 characters (`offset.metadata.max.bytes`).
    pub metadata: String,
}

impl OffsetAndMetadata {
    /// An offset with empty metadata.
    ///
    /// # Example
    /// ```
    /// use partlog::OffsetAndMetadata;
    /// let committed = OffsetAndMetadata::new(42);
    /// assert_eq!((committed.offset, committed.metadata.as_str()), (42, ""));
    /// ```
    pub fn new(offset: u64) -> OffsetAndMetadata {
        OffsetAndMetadata { offset, metadata: String::new() }
    }

    /// With metadata.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{CommitMode, Consumer, ConsumerConfig, Error, Log, OffsetAndMetadata, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 1, TopicConfig::default())?;
    /// let tp = TopicPartition::new("orders", 0);
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("group.id", "billing")?)?;
    /// let offset = OffsetAndMetadata::new(7).with_metadata("host-a");
    /// consumer.commit_offsets(&[(tp.clone(), offset)], CommitMode::Sync)?;
    /// assert_eq!(consumer.committed(&[tp.clone()])?[0].as_ref().unwrap().metadata, "host-a"); // kept with it
    /// // At most 4096 characters (offset.metadata.max.bytes).
    /// let too_long = OffsetAndMetadata::new(7).with_metadata("x".repeat(4097));
    /// let refused = consumer.commit_offsets(&[(tp, too_long)], CommitMode::Sync);
    /// assert!(matches!(refused, Err(Error::OffsetMetadataTooLarge { chars: 4097, .. })));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn with_metadata(mut self, metadata: impl Into<String>) -> OffsetAndMetadata {
        self.metadata = metadata.into();
        self
    }
}

/// A group's state (Kafka's `ClassicGroupState`), as `kafka-consumer-groups --describe`
/// prints it.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::time::Duration;
/// use partlog::{Admin, Consumer, ConsumerConfig, GroupState, Log, TopicConfig};
/// let log = Log::open(dir.path())?;
/// log.create_topic("orders", 1, TopicConfig::default())?;
/// let admin = Admin::new(&log);
/// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("group.id", "billing")?)?;
/// consumer.subscribe(&["orders"])?;
/// consumer.poll(Duration::from_millis(10))?; // joins and takes its assignment
/// assert_eq!(admin.describe_group("billing")?.state, GroupState::Stable);
/// consumer.close()?; // the only member leaves
/// assert_eq!(admin.describe_group("billing")?.state, GroupState::Empty);
/// assert_eq!(GroupState::Empty.to_string(), "Empty"); // as kafka-consumer-groups prints it
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members; committed offsets may remain.
    Empty,
    /// Members are (re)joining: a member came, left, or changed its subscription.
    PreparingRebalance,
    /// Assignments are being handed out. The in-process coordinator computes them in the same
    /// step that ends the join phase, so a group is never seen in this state.
    CompletingRebalance,
    /// Every member holds its assignment for the current generation.
    Stable,
    /// The group was deleted.
    Dead,
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        })
    }
}
