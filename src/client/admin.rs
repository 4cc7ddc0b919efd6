//! Administration of consumer groups (the group half of Kafka's `Admin` client and of
//! `kafka-consumer-groups`): list, describe with lag, read and alter committed offsets, delete.

use crate::coordinator::describe::GroupDescription;
use crate::coordinator::protocol::CommitRequest;
use crate::coordinator::types::{GroupState, OffsetAndMetadata, TopicPartition};
use crate::coordinator::Coordinator;
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
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Admin, Log};
    /// let log = Log::open(dir.path())?;
    /// let admin = Admin::new(&log);
    /// assert!(admin.list_groups()?.is_empty()); // a new log has no consumer groups
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn new(log: &Log) -> Admin {
        Admin { log: log.clone() }
    }

    fn coordinator(&self) -> Result<std::sync::Arc<Coordinator>> {
        Coordinator::of(&self.log)
    }

    /// Every consumer group, with its state, by name.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{Admin, Consumer, ConsumerConfig, GroupState, Log, OffsetAndMetadata, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 1, TopicConfig::default())?;
    /// let admin = Admin::new(&log);
    /// admin.alter_group_offsets("audit", &[(TopicPartition::new("orders", 0), OffsetAndMetadata::new(0))])?;
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("group.id", "billing")?)?;
    /// consumer.subscribe(&["orders"])?;
    /// consumer.poll(Duration::from_millis(10))?; // joins the group
    /// let groups = admin.list_groups()?;
    /// assert_eq!(groups, [("audit".to_string(), GroupState::Empty), ("billing".to_string(), GroupState::Stable)]);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn list_groups(&self) -> Result<Vec<(String, GroupState)>> {
        Ok(self.coordinator()?.list())
    }

    /// A group's state, members, assignment, committed offsets and lag
    /// (`kafka-consumer-groups --describe`). Errors: [`Error::UnknownGroup`](crate::Error::UnknownGroup).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{Admin, Consumer, ConsumerConfig, Error, GroupState, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("orders", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b"), Record::new(b"c")])?;
    /// let config = ConsumerConfig::default().set("group.id", "billing")?.set("client.id", "biller")?;
    /// let mut consumer = Consumer::new(&log, config)?;
    /// consumer.subscribe(&["orders"])?;
    /// consumer.poll(Duration::from_millis(10))?; // joins; auto.offset.reset=latest: starts at 3
    /// consumer.commit_sync()?;
    /// p.append(&[Record::new(b"d")])?;
    ///
    /// let admin = Admin::new(&log);
    /// let group = admin.describe_group("billing")?;
    /// assert_eq!((group.state, group.protocol.as_deref()), (GroupState::Stable, Some("range")));
    /// assert_eq!(group.members[0].client_id, "biller");
    /// assert_eq!((group.partitions[0].committed, group.partitions[0].lag), (Some(3), Some(1)));
    /// assert!(matches!(admin.describe_group("nobody"), Err(Error::UnknownGroup { .. })));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn describe_group(&self, group: &str) -> Result<GroupDescription> {
        self.coordinator()?.describe(&self.log, group)
    }

    /// A group's committed offsets.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Admin, Log, OffsetAndMetadata, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 2, TopicConfig::default())?;
    /// let admin = Admin::new(&log);
    /// let committed = (TopicPartition::new("orders", 1), OffsetAndMetadata::new(5).with_metadata("reset"));
    /// admin.alter_group_offsets("billing", &[committed.clone()])?;
    /// // Only partitions with a committed offset are listed.
    /// assert_eq!(admin.list_group_offsets("billing")?, [committed]);
    /// # Ok::<(), partlog::Error>(())
    /// ```
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
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{Admin, Consumer, ConsumerConfig, Error, Log, OffsetAndMetadata, Record, TopicConfig};
    /// use partlog::TopicPartition;
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("orders", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b"), Record::new(b"c")])?;
    /// let (admin, tp) = (Admin::new(&log), TopicPartition::new("orders", 0));
    /// admin.alter_group_offsets("billing", &[(tp.clone(), OffsetAndMetadata::new(2))])?; // creates the group
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("group.id", "billing")?)?;
    /// consumer.subscribe(&["orders"])?;
    /// assert_eq!(consumer.poll(Duration::from_millis(100))?[0].offset, 2); // resumes at the reset offset
    /// // Not while the group has members.
    /// let refused = admin.alter_group_offsets("billing", &[(tp, OffsetAndMetadata::new(0))]);
    /// assert!(matches!(refused, Err(Error::CommitFailed { .. })));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn alter_group_offsets(&self, group: &str, offsets: &[(TopicPartition, OffsetAndMetadata)]) -> Result<()> {
        for (tp, _) in offsets {
            self.log.partition(&tp.topic, tp.partition)?;
        }
        let request = CommitRequest { member: None, instance_id: None, offsets };
        match self.coordinator()?.commit(&self.log, group, request)? {
            Some(written) => written.make_durable(),
            None => Ok(()),
        }
    }

    /// Deletes an empty group and its committed offsets (tombstones in `__consumer_offsets`).
    /// Errors: [`Error::NonEmptyGroup`](crate::Error::NonEmptyGroup),
    /// [`Error::UnknownGroup`](crate::Error::UnknownGroup).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{Admin, Consumer, ConsumerConfig, Error, Log, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 1, TopicConfig::default())?;
    /// let admin = Admin::new(&log);
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("group.id", "billing")?)?;
    /// consumer.subscribe(&["orders"])?;
    /// consumer.poll(Duration::from_millis(10))?; // joins the group
    /// assert!(matches!(admin.delete_group("billing"), Err(Error::NonEmptyGroup { members: 1, .. })));
    /// consumer.close()?; // leaves: the group is empty
    /// admin.delete_group("billing")?;
    /// assert!(matches!(admin.describe_group("billing"), Err(Error::UnknownGroup { .. })));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn delete_group(&self, group: &str) -> Result<()> {
        self.coordinator()?.delete_group(&self.log, group)
    }

    /// Runs Kafka's offset expiry now: committed offsets of topics a group no longer subscribes
    /// to expire `offsets.retention.minutes` (7 days) after the group became empty, or after the
    /// commit for groups without members' protocol. It also runs when a member joins or
    /// commits, at most once per 10 minutes of the log's clock
    /// (`offsets.retention.check.interval.ms`); no timer runs it, so where no group is active,
    /// expired offsets stay until this is called.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::sync::Arc;
    /// use partlog::{Admin, Log, LogOptions, ManualClock, OffsetAndMetadata, TopicConfig, TopicPartition};
    /// let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    /// let log = Log::open_with(dir.path(), LogOptions::default().clock(clock.clone()))?;
    /// log.create_topic("orders", 1, TopicConfig::default())?;
    /// let admin = Admin::new(&log);
    /// // Set from outside, by a group that never had members: they expire 7 days after the commit.
    /// admin.alter_group_offsets("billing", &[(TopicPartition::new("orders", 0), OffsetAndMetadata::new(1))])?;
    /// clock.advance_ms(6 * 24 * 3600 * 1000);
    /// admin.expire_offsets()?;
    /// assert_eq!(admin.list_group_offsets("billing")?.len(), 1); // 6 days: kept
    /// clock.advance_ms(24 * 3600 * 1000);
    /// admin.expire_offsets()?;
    /// assert!(admin.list_groups()?.is_empty()); // expired, and the group with nothing left is gone
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn expire_offsets(&self) -> Result<()> {
        self.coordinator()?.expire_offsets_now()
    }
}
