//! Commits (Kafka's `ConsumerCoordinator` commit half): synchronous, asynchronous and
//! automatic commits of positions, made durable after the data they cover, through the group
//! protocol's OffsetCommit and OffsetFetch.

use std::time::{Duration, Instant};

use super::subscription::Mode;
use super::{Consumer, ConsumerRecord};
use crate::coordinator::protocol::{CommitRequest, CommitWritten};
use crate::coordinator::types::{OffsetAndMetadata, TopicPartition};
use crate::error::{Error, Result};
use crate::partition::Partition;

/// How a commit waits (rust-rdkafka's `CommitMode`).
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{CommitMode, Consumer, ConsumerConfig, Log, OffsetAndMetadata, TopicConfig, TopicPartition};
/// let log = Log::open(dir.path())?;
/// log.create_topic("orders", 1, TopicConfig::default())?;
/// let tp = TopicPartition::new("orders", 0);
/// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("group.id", "billing")?)?;
/// consumer.commit_offsets(&[(tp.clone(), OffsetAndMetadata::new(1))], CommitMode::Sync)?; // durable now
/// consumer.commit_offsets(&[(tp.clone(), OffsetAndMetadata::new(2))], CommitMode::Async)?; // fsynced later
/// // Accepted by the coordinator: the group sees an async commit at once.
/// assert_eq!(consumer.committed(&[tp])?[0].as_ref().map(|c| c.offset), Some(2));
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitMode {
    /// Returns when the commit is durable (fsynced), or with its error. The data it covers is
    /// made durable first (each partition up to its committed offset), so that a committed
    /// offset never points past what a power loss leaves.
    Sync,
    /// Returns once the commit is accepted by the coordinator (fenced, written); it is made
    /// durable, after the data it covers, at the start of the next `poll` (or synchronous
    /// commit, or close), sharing fsyncs with the other commits made since, and a failure then
    /// is returned by that call (or given to its callback).
    Async,
}

type CommitCallback = Box<dyn FnOnce(Result<()>) + Send>;

/// An async commit: written (to be made durable) or refused, with its callback.
pub(super) struct PendingCommit {
    /// The data partitions and the offsets committed for them: made durable first.
    data: Vec<(Partition, u64)>,
    target: Option<CommitWritten>,
    error: Option<Error>,
    callback: Option<CommitCallback>,
}

impl Consumer {
    /// The current positions of every assigned partition that has one (Kafka's `allConsumed`).
    fn all_consumed(&self) -> Vec<(TopicPartition, OffsetAndMetadata)> {
        self.parts.iter().filter_map(|(tp, s)| s.position.map(|p| (tp.clone(), OffsetAndMetadata::new(p)))).collect()
    }

    pub(super) fn has_uncommitted(&self) -> bool {
        self.parts.iter().any(|(tp, s)| s.position.is_some_and(|p| self.last_committed.get(tp) != Some(&p)))
    }

    pub(super) fn auto_commit(&mut self, mode: CommitMode) -> Result<()> {
        self.next_auto_commit = Instant::now() + Duration::from_millis(self.config.auto_commit_interval_ms);
        let offsets: Vec<_> =
            self.all_consumed().into_iter().filter(|(tp, o)| self.last_committed.get(tp) != Some(&o.offset)).collect();
        self.commit_with(&offsets, mode, None)
    }

    /// Commits the position of every assigned partition (the offset after the last record
    /// `poll` returned) and waits until it is durable: first the data below each committed
    /// offset (on a page-cache topic, an fsync shared with concurrent appends and commits;
    /// nothing where it is durable already), then the commit. In a group, the commit is fenced: it
    /// fails with [`Error::CommitFailed`] if this member is no longer in the group's current
    /// generation, so that it cannot overwrite a new owner's progress.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("orders", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b")])?;
    /// let config = ConsumerConfig::default().set("group.id", "billing")?.set("auto.offset.reset", "earliest")?;
    /// let mut consumer = Consumer::new(&log, config.set("enable.auto.commit", "false")?)?;
    /// let tp = TopicPartition::new("orders", 0);
    /// consumer.assign(&[tp.clone()])?;
    /// assert_eq!(consumer.poll(Duration::from_millis(100))?.len(), 2);
    /// consumer.commit_sync()?;
    /// // The offset after the last record returned: where the group resumes.
    /// assert_eq!(consumer.committed(&[tp])?[0].as_ref().map(|c| c.offset), Some(2));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn commit_sync(&mut self) -> Result<()> {
        let offsets = self.all_consumed();
        self.commit_with(&offsets, CommitMode::Sync, None)
    }

    /// Commits the given offsets (the next offset to read for each partition, with metadata).
    ///
    /// Errors: [`Error::InvalidState`] without a `group.id`; [`Error::UnknownTopic`] /
    /// [`Error::UnknownPartition`]; [`Error::OffsetMetadataTooLarge`]; the fencing errors
    /// [`Error::CommitFailed`], [`Error::RebalanceInProgress`], [`Error::FencedInstanceId`].
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{CommitMode, Consumer, ConsumerConfig, Log, OffsetAndMetadata, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 1, TopicConfig::default())?;
    /// let tp = TopicPartition::new("orders", 0);
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("group.id", "billing")?)?;
    /// let offset = OffsetAndMetadata::new(5).with_metadata("host-a");
    /// consumer.commit_offsets(&[(tp.clone(), offset.clone())], CommitMode::Sync)?;
    /// assert_eq!(consumer.committed(&[tp])?, [Some(offset)]);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn commit_offsets(&mut self, offsets: &[(TopicPartition, OffsetAndMetadata)], mode: CommitMode) -> Result<()> {
        self.commit_with(offsets, mode, None)
    }

    /// Commits the offset after `record` for its partition (rust-rdkafka's `commit_message`).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{CommitMode, Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// let topic = log.create_topic("orders", 1, TopicConfig::default())?;
    /// topic.partition(0)?.append(&[Record::new(b"a"), Record::new(b"b")])?;
    /// let config = ConsumerConfig::default().set("group.id", "billing")?.set("auto.offset.reset", "earliest")?;
    /// let mut consumer = Consumer::new(&log, config)?;
    /// let tp = TopicPartition::new("orders", 0);
    /// consumer.assign(&[tp.clone()])?;
    /// let records = consumer.poll(Duration::from_millis(100))?;
    /// consumer.commit_message(&records[0], CommitMode::Sync)?;
    /// assert_eq!(consumer.committed(&[tp])?[0].as_ref().map(|c| c.offset), Some(1));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn commit_message(&mut self, record: &ConsumerRecord, mode: CommitMode) -> Result<()> {
        self.commit_with(&[(record.topic_partition(), OffsetAndMetadata::new(record.offset + 1))], mode, None)
    }

    /// Commits the positions of every assigned partition without waiting for durability;
    /// `callback` runs with the outcome on this thread, inside the next `poll` (or commit, or
    /// `close`), after the commit is durable (Kafka's `commitAsync`). Callbacks run in commit
    /// order.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    /// use partlog::{Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// let topic = log.create_topic("orders", 1, TopicConfig::default())?;
    /// topic.partition(0)?.append(&[Record::new(b"a")])?;
    /// let config = ConsumerConfig::default().set("group.id", "billing")?.set("auto.offset.reset", "earliest")?;
    /// let mut consumer = Consumer::new(&log, config)?;
    /// consumer.assign(&[TopicPartition::new("orders", 0)])?;
    /// consumer.poll(Duration::from_millis(100))?;
    /// let (tx, rx) = mpsc::channel();
    /// consumer.commit_async(move |result| tx.send(result.is_ok()).unwrap());
    /// assert!(rx.try_recv().is_err()); // not yet: the callback runs inside the next poll
    /// consumer.poll(Duration::from_millis(10))?;
    /// assert_eq!(rx.try_recv(), Ok(true));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn commit_async(&mut self, callback: impl FnOnce(Result<()>) + Send + 'static) {
        let offsets = self.all_consumed();
        let mut callback: Option<CommitCallback> = Some(Box::new(callback));
        if let Err(e) = self.commit_with(&offsets, CommitMode::Async, Some(&mut callback)) {
            // Refused at once (fencing, bad input): reported in order, after earlier ones.
            self.pending.push(PendingCommit { data: Vec::new(), target: None, error: Some(e), callback });
        }
    }

    fn commit_with(
        &mut self,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
        mode: CommitMode,
        callback: Option<&mut Option<CommitCallback>>,
    ) -> Result<()> {
        if self.log.is_closed() {
            return Err(Error::Closed { what: format!("log {} (the consumer's log)", self.log.dir().display()) });
        }
        if mode == CommitMode::Sync {
            // Earlier async commits report first, in order.
            self.complete_async_commits()?;
        }
        let group = self.group()?.to_owned();
        let mut data = Vec::with_capacity(offsets.len());
        for (tp, o) in offsets {
            data.push((self.log.partition(&tp.topic, tp.partition)?, o.offset));
        }
        if mode == CommitMode::Sync {
            // A committed offset never points past durable data: after a power loss the group
            // would skip the records appended below it. fsyncs are shared with concurrent
            // commits and appends, and cost nothing where the data is durable already.
            make_durable(&data)?;
        }
        let coordinator = self.coordinator()?;
        let member = match (&self.mode, &self.member) {
            (Mode::Subscribed(_), Some(m)) if m.generation >= 0 => Some((m.id.as_str(), m.generation)),
            (Mode::Subscribed(_), _) => return Err(Error::RebalanceInProgress { group }),
            _ => None,
        };
        let request = CommitRequest { member, instance_id: self.config.group_instance_id.as_deref(), offsets };
        let written = coordinator.commit_offsets(&self.log, &group, request)?;
        for (tp, o) in offsets {
            self.last_committed.insert(tp.clone(), o.offset);
        }
        let Some(written) = written else {
            // Nothing to commit: an async callback still reports, in order.
            if let Some(callback) = callback.and_then(Option::take) {
                self.pending.push(PendingCommit {
                    data: Vec::new(),
                    target: None,
                    error: None,
                    callback: Some(callback),
                });
            }
            return Ok(());
        };
        match mode {
            CommitMode::Sync => written.make_durable(),
            CommitMode::Async => {
                let callback = callback.and_then(Option::take);
                self.pending.push(PendingCommit { data, target: Some(written), error: None, callback });
                Ok(())
            }
        }
    }

    /// Makes pending async commits durable (one fsync per offsets partition) and runs their
    /// callbacks in order; returns the first failure of a commit without a callback.
    pub(super) fn complete_async_commits(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let mut first_error = None;
        for commit in pending {
            let result = match (commit.error, commit.target) {
                (Some(e), _) => Err(e),
                (None, Some(written)) => make_durable(&commit.data).and_then(|()| written.make_durable()),
                (None, None) => Ok(()),
            };
            match commit.callback {
                // The application's code: a panic is reported, and the commits after it are
                // still made durable and reported.
                Some(cb) => {
                    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(result))).is_err() {
                        first_error.get_or_insert(Error::InvalidState { what: "a commit_async callback panicked" });
                    }
                }
                None => {
                    if let Err(e) = result {
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The group's committed offsets for `partitions` (`None` where there is none).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{CommitMode, Consumer, ConsumerConfig, Error, Log, OffsetAndMetadata, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 2, TopicConfig::default())?;
    /// let (p0, p1) = (TopicPartition::new("orders", 0), TopicPartition::new("orders", 1));
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("group.id", "billing")?)?;
    /// consumer.commit_offsets(&[(p0.clone(), OffsetAndMetadata::new(3))], CommitMode::Sync)?;
    /// assert_eq!(consumer.committed(&[p0.clone(), p1])?, [Some(OffsetAndMetadata::new(3)), None]);
    /// // Committed offsets belong to a group.
    /// let mut alone = Consumer::new(&log, ConsumerConfig::default())?;
    /// assert!(matches!(alone.committed(&[p0]), Err(Error::InvalidState { .. })));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn committed(&mut self, partitions: &[TopicPartition]) -> Result<Vec<Option<OffsetAndMetadata>>> {
        let group = self.group()?.to_owned();
        Ok(self.coordinator()?.fetch_offsets(&group, partitions))
    }
}

/// Makes each partition durable up to the offset committed for it (clamped to its log end).
fn make_durable(data: &[(Partition, u64)]) -> Result<()> {
    // `flush_to` returns at once where the recovery point is past the offset already.
    data.iter().try_for_each(|(partition, offset)| partition.flush_to(*offset))
}
