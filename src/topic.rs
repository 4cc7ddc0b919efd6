//! A topic: a name, a configuration and a fixed set of partitions.

use std::fmt;
use std::sync::Arc;

use crate::config::TopicConfig;
use crate::error::{Error, Result};
use crate::partition::Partition;

/// The longest topic name Kafka accepts.
pub const MAX_TOPIC_NAME_LEN: usize = 249;
/// The most partitions one topic may have.
pub const MAX_PARTITIONS: u32 = 65_536;

/// Checks a topic name the way Kafka does (`Topic.validate`): 1 to 249 characters from
/// `[a-zA-Z0-9._-]`, and not `.` or `..`. This also guarantees the name cannot escape the
/// data directory.
///
/// # Example
/// ```
/// use partlog::validate_topic_name;
/// assert!(validate_topic_name("orders.v2_eu-west").is_ok());
/// assert!(validate_topic_name("../etc").is_err());
/// assert!(validate_topic_name("..").is_err());
/// assert!(validate_topic_name(&"x".repeat(250)).is_err());
/// ```
pub fn validate_topic_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "the name is empty"
    } else if name == "." || name == ".." {
        "\".\" and \"..\" are not allowed"
    } else if name.len() > MAX_TOPIC_NAME_LEN {
        "longer than 249 characters"
    } else if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        "only ASCII letters, digits, '.', '_' and '-' are allowed"
    } else {
        return Ok(());
    };
    Err(Error::InvalidTopicName { name: name.to_owned(), reason })
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
        f.debug_struct("Topic").field("name", &self.inner.name).field("partitions", &self.inner.partitions.len()).finish()
    }
}

impl Topic {
    /// The topic name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The topic configuration.
    pub fn config(&self) -> &TopicConfig {
        &self.inner.config
    }

    /// Number of partitions.
    pub fn partition_count(&self) -> u32 {
        self.inner.partitions.len() as u32
    }

    /// Partition `id`, or [`Error::UnknownPartition`].
    pub fn partition(&self, id: u32) -> Result<Partition> {
        self.inner.partitions.get(id as usize).cloned().ok_or_else(|| Error::UnknownPartition {
            topic: self.inner.name.clone(),
            partition: id,
            partitions: self.partition_count(),
        })
    }

    /// All partitions, in order.
    pub fn partitions(&self) -> &[Partition] {
        &self.inner.partitions
    }
}
