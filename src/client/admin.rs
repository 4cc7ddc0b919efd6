//! Administration of consumer groups (the group half of Kafka's `Admin` client and of
//! `kafka-consumer-groups`): list, describe with lag, read and alter committed offsets, delete.

use super::group::{Coordinator, GroupDescription, GroupState, OffsetAndMetadata, TopicPartition};
use crate::error::Result;
use crate::log::Log;

/// Consumer-group administration over a [`Log`] (Kafka's `Admin` client, group methods).
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Admin, GroupState, Log, OffsetAndMetadata, Record, TopicConfig, TopicPartition};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("orders", 1, TopicConfig::default())?.partition(0)?;
/// p.append(&[Record::new(b"a"), Record::new(b"b"), Record::new(b"c")])?;
///
/// let admin = Admin::new(&log);
/// let tp = TopicPartition::new("orders", 0);
/// // kafka-consumer-groups --reset-offsets: allowed while the group has no members.
/// admin.alter_group_offsets("billing", &[(tp.clone(), OffsetAndMetadata::new(1))])?;
/// let group = admin.describe_group("billing")?;
/// assert_eq!(group.state, GroupState::Empty);
/// assert_eq!((group.partitions[0].committed, group.partitions[0].lag), (Some(1), Some(2)));
/// admin.delete_group("billing")?;
/// assert!(admin.list_groups()?.is_empty());
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Admin {
    log: Log,
}

impl Admin {
    /// Administration of `log`'s consumer groups.
    pub fn new(log: &Log) -> Admin {
        Admin { log: log.clone() }
    }

    fn coordinator(&self) -> Result<std::sync::Arc<Coordinator>> {
        Coordinator::of(&self.log)
    }

    /// Every consumer group, with its state, by name.
    pub fn list_groups(&self) -> Result<Vec<(String, GroupState)>> {
        Ok(self.coordinator()?.list())
    }

    /// A group's state, members, assignment, committed offsets and lag
    /// (`kafka-consumer-groups --describe`). Errors: [`Error::UnknownGroup`](crate::Error::UnknownGroup).
    pub fn describe_group(&self, group: &str) -> Result<GroupDescription> {
        self.coordinator()?.describe(&self.log, group)
    }

    /// A group's committed offsets.
    pub fn list_group_offsets(&self, group: &str) -> Result<Vec<(TopicPartition, OffsetAndMetadata)>> {
        let description = self.describe_group(group)?;
        let partitions: Vec<TopicPartition> =
            description.partitions.iter().filter(|p| p.committed.is_some()).map(|p| p.partition.clone()).collect();
        let committed = self.coordinator()?.committed(group, &partitions);
        Ok(partitions.into_iter().zip(committed).filter_map(|(tp, c)| c.map(|c| (tp, c))).collect())
    }

    /// Sets a group's committed offsets (`kafka-consumer-groups --reset-offsets`), durably.
    /// Allowed only while the group has no members, as Kafka allows it; creates the group if
    /// it does not exist.
    pub fn alter_group_offsets(&self, group: &str, offsets: &[(TopicPartition, OffsetAndMetadata)]) -> Result<()> {
        for (tp, _) in offsets {
            self.log.partition(&tp.topic, tp.partition)?;
        }
        match self.coordinator()?.commit(&self.log, group, None, None, offsets)? {
            Some((partition, upto)) => partition.flush_to(upto),
            None => Ok(()),
        }
    }

    /// Deletes an empty group and its committed offsets (tombstones in `__consumer_offsets`).
    /// Errors: [`Error::NonEmptyGroup`](crate::Error::NonEmptyGroup),
    /// [`Error::UnknownGroup`](crate::Error::UnknownGroup).
    pub fn delete_group(&self, group: &str) -> Result<()> {
        self.coordinator()?.delete_group(&self.log, group)
    }

    /// Runs Kafka's offset expiry now (it also runs by itself every 10 minutes of the log's
    /// clock, `offsets.retention.check.interval.ms`): committed offsets of topics a group no
    /// longer subscribes to expire `offsets.retention.minutes` (7 days) after the group became
    /// empty, or after the commit for groups without members' protocol.
    pub fn expire_offsets(&self) -> Result<()> {
        self.coordinator()?.expire_offsets_now()
    }
}
