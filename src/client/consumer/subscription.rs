//! What the consumer reads (Kafka's `SubscriptionState`): the subscription or manual
//! assignment, and each assigned partition's position, pending reset and pause; seeks, and
//! the offsets of partitions looked up by position or time.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{CommitMode, Consumer, OffsetReset, RebalanceListener};
use crate::coordinator::types::TopicPartition;
use crate::error::{Error, Result};
use crate::partition::{Partition, TimestampOffset, Watch};

/// An assigned partition, as the consumer reads it: its position, pending reset and pause
/// (this file), and its part of the fetch buffer (`fetcher.rs`).
pub(super) struct PartState {
    pub(super) partition: Partition,
    pub(super) topic: Arc<str>,
    /// Wakes the consumer's `poll` on appends; `None` while paused, so that appends to a
    /// paused partition do not wake it.
    pub(super) watch: Option<Watch>,
    /// The offset of the next record handed to the application (Kafka's position).
    pub(super) position: Option<u64>,
    pub(super) reset: Option<OffsetReset>,
    pub(super) paused: bool,
    /// Batches fetched and not yet handed out, from `position` on (Kafka's `CompletedFetch`):
    /// each is read and checked once, and served across polls. Dropped by anything that moves
    /// the position or stops the partition being read.
    pub(super) buffered: super::fetcher::Buffered,
    /// Where the buffered records end: the next fetch starts here.
    pub(super) fetched_to: u64,
}

impl PartState {
    /// Moves the position to `offset` (`None`: to be reset), dropping buffered records.
    fn reposition(&mut self, offset: Option<u64>) {
        self.position = offset;
        self.buffered.clear();
    }
}

/// How the partitions read were chosen: none yet, by hand, or by the group for a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Mode {
    None,
    Assigned,
    Subscribed(BTreeSet<String>),
}

impl Consumer {
    /// Joins the consumer group `group.id` for `topics` (replacing an earlier subscription;
    /// an empty list unsubscribes). Partitions are assigned by the next [`poll`](Self::poll).
    /// Topics that do not exist yet are assigned once they are created.
    ///
    /// Errors: [`Error::InvalidState`] without a `group.id` or after [`assign`](Self::assign);
    /// [`Error::InvalidTopicName`].
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{Consumer, ConsumerConfig, Error, Log, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("group.id", "billing")?)?;
    /// consumer.subscribe(&["orders"])?;
    /// consumer.poll(Duration::from_millis(10))?; // joins; "orders" does not exist yet
    /// assert!(consumer.assignment().is_empty());
    /// log.create_topic("orders", 2, TopicConfig::default())?;
    /// consumer.poll(Duration::from_millis(10))?;
    /// assert_eq!(consumer.assignment().len(), 2);
    /// // Without a group.id, only assign.
    /// let mut alone = Consumer::new(&log, ConsumerConfig::default())?;
    /// assert!(matches!(alone.subscribe(&["orders"]), Err(Error::InvalidState { .. })));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn subscribe(&mut self, topics: &[&str]) -> Result<()> {
        self.check_usable()?;
        self.group()?;
        if self.mode == Mode::Assigned {
            return Err(Error::InvalidState { what: "subscribe after assign: unsubscribe first" });
        }
        if topics.is_empty() {
            return self.unsubscribe();
        }
        for t in topics {
            crate::log::topic::validate_topic_name(t)?;
        }
        let set: BTreeSet<String> = topics.iter().map(|t| t.to_string()).collect();
        if self.mode != Mode::Subscribed(set.clone()) {
            self.rejoin = self.member.is_some();
            self.mode = Mode::Subscribed(set);
        }
        Ok(())
    }

    /// [`subscribe`](Self::subscribe) with callbacks for partitions revoked, assigned and lost.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use partlog::{Consumer, ConsumerConfig, Log, RebalanceListener, TopicConfig, TopicPartition};
    /// struct Track(Arc<Mutex<Vec<TopicPartition>>>);
    /// impl RebalanceListener for Track {
    ///     fn on_partitions_assigned(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) -> partlog::ListenerResult {
    ///         self.0.lock().unwrap().extend_from_slice(partitions);
    ///         Ok(())
    ///     }
    /// }
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 2, TopicConfig::default())?;
    /// let assigned = Arc::new(Mutex::new(Vec::new()));
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("group.id", "billing")?)?;
    /// consumer.subscribe_with_listener(&["orders"], Track(assigned.clone()))?;
    /// consumer.poll(Duration::from_millis(100))?; // joins the group; the callback runs here
    /// assert_eq!(*assigned.lock().unwrap(), [TopicPartition::new("orders", 0), TopicPartition::new("orders", 1)]);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn subscribe_with_listener(
        &mut self,
        topics: &[&str],
        listener: impl RebalanceListener + 'static,
    ) -> Result<()> {
        self.subscribe(topics)?;
        self.listener = Some(Box::new(listener));
        Ok(())
    }

    /// Leaves the group (revoking every partition first) or drops the manual assignment.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Consumer, ConsumerConfig, Log, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 1, TopicConfig::default())?;
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("group.id", "billing")?)?;
    /// consumer.subscribe(&["orders"])?;
    /// assert_eq!(consumer.subscription(), ["orders"]);
    /// consumer.unsubscribe()?;
    /// assert!(consumer.subscription().is_empty() && consumer.assignment().is_empty());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn unsubscribe(&mut self) -> Result<()> {
        self.check_usable()?;
        let result = self.leave_group();
        self.set_parts(&[]);
        self.mode = Mode::None;
        result.and(self.take_callback_error())
    }

    /// Reads exactly `partitions`, without a group (Kafka's `assign`): positions of partitions
    /// kept from the previous assignment stay; new ones start from the group's committed
    /// offset if there is a `group.id`, else by `auto.offset.reset`. Commits need a `group.id`
    /// and are accepted only while the group has no members. An empty list unassigns.
    ///
    /// Errors: [`Error::InvalidState`] after [`subscribe`](Self::subscribe);
    /// [`Error::UnknownTopic`], [`Error::UnknownPartition`].
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// let topic = log.create_topic("orders", 2, TopicConfig::default())?;
    /// topic.partition(1)?.append(&[Record::new(b"a"), Record::new(b"b")])?;
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("auto.offset.reset", "earliest")?)?;
    /// consumer.assign(&[TopicPartition::new("orders", 1)])?;
    /// assert_eq!(consumer.assignment(), [TopicPartition::new("orders", 1)]);
    /// let records = consumer.poll(Duration::from_millis(100))?;
    /// assert_eq!(records.iter().map(|r| r.offset).collect::<Vec<_>>(), [0, 1]);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn assign(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.check_usable()?;
        if matches!(self.mode, Mode::Subscribed(_)) {
            return Err(Error::InvalidState { what: "assign after subscribe: unsubscribe first" });
        }
        for tp in partitions {
            self.log.partition(&tp.topic, tp.partition)?;
        }
        if self.config.auto_commit() && !self.parts.is_empty() {
            // Kafka commits the old assignment's progress first.
            let _ = self.auto_commit(CommitMode::Async);
        }
        self.set_parts(partitions);
        self.mode = if partitions.is_empty() { Mode::None } else { Mode::Assigned };
        Ok(())
    }

    /// The partitions assigned to this consumer now.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Consumer, ConsumerConfig, Log, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 2, TopicConfig::default())?;
    /// let (p0, p1) = (TopicPartition::new("orders", 0), TopicPartition::new("orders", 1));
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default())?;
    /// assert!(consumer.assignment().is_empty());
    /// consumer.assign(&[p1.clone(), p0.clone()])?;
    /// assert_eq!(consumer.assignment(), [p0, p1]); // in order
    /// consumer.assign(&[])?;
    /// assert!(consumer.assignment().is_empty());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.order.clone()
    }

    /// The subscribed topics (empty without a subscription).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Consumer, ConsumerConfig, Log};
    /// let log = Log::open(dir.path())?;
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("group.id", "billing")?)?;
    /// consumer.subscribe(&["orders", "invoices"])?;
    /// assert_eq!(consumer.subscription(), ["invoices", "orders"]); // sorted
    /// consumer.subscribe(&[])?; // an empty list unsubscribes
    /// assert!(consumer.subscription().is_empty());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn subscription(&self) -> Vec<String> {
        match &self.mode {
            Mode::Subscribed(topics) => topics.iter().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// Replaces the assigned partitions, keeping the state of those that stay.
    pub(super) fn set_parts(&mut self, partitions: &[TopicPartition]) {
        let wanted: BTreeSet<&TopicPartition> = partitions.iter().collect();
        self.parts.retain(|tp, _| wanted.contains(tp));
        for tp in partitions {
            if self.parts.contains_key(tp) {
                continue;
            }
            // A partition that vanished (its topic deleted) since the assignment is skipped;
            // the group notices the change and rebalances.
            let Ok(partition) = self.log.partition(&tp.topic, tp.partition) else { continue };
            let watch = partition.watch(&self.signal);
            self.parts.insert(
                tp.clone(),
                PartState {
                    partition,
                    topic: Arc::from(tp.topic.as_str()),
                    watch: Some(watch),
                    position: None,
                    reset: None,
                    paused: false,
                    buffered: Default::default(),
                    fetched_to: 0,
                },
            );
        }
        self.order = self.parts.keys().cloned().collect();
        self.cursor = 0;
    }

    /// Positions for partitions that have none: the committed offset, else `auto.offset.reset`;
    /// and the lazy seeks to the beginning or end.
    pub(super) fn init_positions(&mut self) -> Result<()> {
        let missing: Vec<TopicPartition> = self
            .parts
            .iter()
            .filter(|(_, s)| s.position.is_none() && s.reset.is_none())
            .map(|(tp, _)| tp.clone())
            .collect();
        if !missing.is_empty() {
            let committed = match self.config.group_id.clone() {
                Some(group) => self.coordinator()?.fetch_offsets(&group, &missing),
                None => vec![None; missing.len()],
            };
            for (tp, committed) in missing.iter().zip(committed) {
                let state = self.parts.get_mut(tp).expect("listed above");
                match committed {
                    Some(c) => state.position = Some(c.offset),
                    None => match self.config.auto_offset_reset {
                        OffsetReset::None => return Err(Error::NoOffsetForPartition { partition: tp.to_string() }),
                        reset => state.reset = Some(reset),
                    },
                }
            }
        }
        for state in self.parts.values_mut() {
            if let Some(reset) = state.reset.take() {
                state.position = Some(match reset {
                    OffsetReset::Earliest => state.partition.log_start_offset(),
                    _ => state.partition.log_end_offset(),
                });
            }
        }
        Ok(())
    }

    fn state(&self, tp: &TopicPartition) -> Result<&PartState> {
        self.parts.get(tp).ok_or(Error::InvalidState { what: "the partition is not assigned to this consumer" })
    }

    fn state_mut(&mut self, tp: &TopicPartition) -> Result<&mut PartState> {
        self.parts.get_mut(tp).ok_or(Error::InvalidState { what: "the partition is not assigned to this consumer" })
    }

    /// The offset of the next record `poll` returns from `partition` (initialised from the
    /// committed offset or `auto.offset.reset` if it has none yet).
    ///
    /// Errors: [`Error::InvalidState`] if the partition is not assigned;
    /// [`Error::NoOffsetForPartition`].
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{Consumer, ConsumerConfig, Error, Log, Record, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("orders", 2, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b"), Record::new(b"c")])?;
    /// let tp = TopicPartition::new("orders", 0);
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("auto.offset.reset", "earliest")?)?;
    /// consumer.assign(&[tp.clone()])?;
    /// assert_eq!(consumer.position(&tp)?, 0); // auto.offset.reset=earliest
    /// assert_eq!(consumer.poll(Duration::from_millis(100))?.len(), 3);
    /// assert_eq!(consumer.position(&tp)?, 3); // past the records returned
    /// let unassigned = consumer.position(&TopicPartition::new("orders", 1));
    /// assert!(matches!(unassigned, Err(Error::InvalidState { .. })));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn position(&mut self, partition: &TopicPartition) -> Result<u64> {
        self.state(partition)?;
        self.init_positions()?;
        Ok(self.state(partition)?.position.expect("initialised above"))
    }

    /// Sets the position of `partition`: the next `poll` reads from `offset`. Nothing is
    /// committed; an offset out of range is found by the next `poll` (and reset by
    /// `auto.offset.reset`).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// let topic = log.create_topic("orders", 1, TopicConfig::default())?;
    /// topic.partition(0)?.append(&[Record::new(b"a"), Record::new(b"b"), Record::new(b"c")])?;
    /// let tp = TopicPartition::new("orders", 0);
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default())?;
    /// consumer.assign(&[tp.clone()])?;
    /// assert_eq!(consumer.position(&tp)?, 3); // auto.offset.reset=latest
    /// consumer.seek(&tp, 1)?;
    /// assert_eq!(consumer.poll(Duration::from_millis(100))?[0].value.as_deref(), Some(&b"b"[..]));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn seek(&mut self, partition: &TopicPartition, offset: u64) -> Result<()> {
        if offset > i64::MAX as u64 {
            return Err(Error::OffsetOverflow("a position must fit an int64"));
        }
        let state = self.state_mut(partition)?;
        state.reposition(Some(offset));
        state.reset = None;
        Ok(())
    }

    /// Applies `change` to each of `partitions` once all of them are known to be assigned: a
    /// call with one unassigned partition changes nothing.
    fn change_each(&mut self, partitions: &[TopicPartition], change: impl Fn(&mut PartState)) -> Result<()> {
        for tp in partitions {
            self.state(tp)?;
        }
        for tp in partitions {
            change(self.state_mut(tp)?);
        }
        Ok(())
    }

    fn seek_all(&mut self, partitions: &[TopicPartition], reset: OffsetReset) -> Result<()> {
        let list = if partitions.is_empty() { self.order.clone() } else { partitions.to_vec() };
        self.change_each(&list, |s| {
            s.buffered.clear();
            s.reset = Some(reset);
        })
    }

    /// Moves the positions of `partitions` (all assigned ones if empty) to the log start
    /// offset, lazily: at the next `poll` or `position`.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// let topic = log.create_topic("orders", 1, TopicConfig::default())?;
    /// topic.partition(0)?.append(&[Record::new(b"a"), Record::new(b"b")])?;
    /// let tp = TopicPartition::new("orders", 0);
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default())?;
    /// consumer.assign(&[tp.clone()])?;
    /// consumer.seek_to_beginning(&[])?; // every assigned partition
    /// assert_eq!(consumer.position(&tp)?, 0);
    /// consumer.seek_to_end(&[tp.clone()])?;
    /// assert_eq!(consumer.position(&tp)?, 2);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn seek_to_beginning(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.seek_all(partitions, OffsetReset::Earliest)
    }

    /// Moves the positions of `partitions` (all assigned ones if empty) to the log end
    /// offset, lazily: at the next `poll` or `position`.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("orders", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b")])?;
    /// let tp = TopicPartition::new("orders", 0);
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("auto.offset.reset", "earliest")?)?;
    /// consumer.assign(&[tp.clone()])?;
    /// consumer.seek_to_end(&[])?; // every assigned partition
    /// p.append(&[Record::new(b"c")])?;
    /// assert_eq!(consumer.position(&tp)?, 3); // lazily: the end as it is now, after "c"
    /// assert!(consumer.poll(Duration::from_millis(10))?.is_empty());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn seek_to_end(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.seek_all(partitions, OffsetReset::Latest)
    }

    /// For each partition, the earliest offset whose timestamp is at or after the target
    /// (milliseconds), with that record's timestamp; `None` if there is none. Positions do
    /// not change. Any partition of the log may be asked about.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Consumer, ConsumerConfig, Log, Record, TimestampOffset, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// let topic = log.create_topic("orders", 1, TopicConfig::default())?;
    /// topic.partition(0)?.append(&[Record::new(b"a").with_timestamp(1000), Record::new(b"b").with_timestamp(2000)])?;
    /// let consumer = Consumer::new(&log, ConsumerConfig::default())?;
    /// let tp = TopicPartition::new("orders", 0);
    /// let found = consumer.offsets_for_times(&[(tp.clone(), 1500), (tp, 3000)])?;
    /// assert_eq!(found, [Some(TimestampOffset { offset: 1, timestamp: 2000 }), None]);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn offsets_for_times(&self, query: &[(TopicPartition, i64)]) -> Result<Vec<Option<TimestampOffset>>> {
        query.iter().map(|(tp, ts)| self.log.partition(&tp.topic, tp.partition)?.offset_for_timestamp(*ts)).collect()
    }

    /// The log start offsets of `partitions`.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Consumer, ConsumerConfig, Error, Log, Record, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("orders", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b"), Record::new(b"c")])?;
    /// p.delete_records(2)?; // the log now starts at offset 2
    /// let consumer = Consumer::new(&log, ConsumerConfig::default())?;
    /// assert_eq!(consumer.beginning_offsets(&[TopicPartition::new("orders", 0)])?, [2]);
    /// let unknown = consumer.beginning_offsets(&[TopicPartition::new("refunds", 0)]);
    /// assert!(matches!(unknown, Err(Error::UnknownTopic { .. })));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn beginning_offsets(&self, partitions: &[TopicPartition]) -> Result<Vec<u64>> {
        partitions.iter().map(|tp| Ok(self.log.partition(&tp.topic, tp.partition)?.log_start_offset())).collect()
    }

    /// The log end offsets of `partitions`.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// let topic = log.create_topic("orders", 2, TopicConfig::default())?;
    /// topic.partition(0)?.append(&[Record::new(b"a"), Record::new(b"b")])?;
    /// let consumer = Consumer::new(&log, ConsumerConfig::default())?;
    /// let partitions = [TopicPartition::new("orders", 0), TopicPartition::new("orders", 1)];
    /// assert_eq!(consumer.beginning_offsets(&partitions)?, [0, 0]);
    /// assert_eq!(consumer.end_offsets(&partitions)?, [2, 0]);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn end_offsets(&self, partitions: &[TopicPartition]) -> Result<Vec<u64>> {
        partitions.iter().map(|tp| Ok(self.log.partition(&tp.topic, tp.partition)?.log_end_offset())).collect()
    }

    /// Stops returning records from `partitions` until [`resume`](Self::resume); positions and
    /// group membership are unaffected. A pause lasts while the partition stays assigned.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// let topic = log.create_topic("orders", 1, TopicConfig::default())?;
    /// topic.partition(0)?.append(&[Record::new(b"a")])?;
    /// let tp = TopicPartition::new("orders", 0);
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("auto.offset.reset", "earliest")?)?;
    /// consumer.assign(&[tp.clone()])?;
    /// consumer.pause(&[tp.clone()])?;
    /// assert_eq!(consumer.paused(), [tp.clone()]);
    /// assert!(consumer.poll(Duration::from_millis(50))?.is_empty());
    /// consumer.resume(&[tp])?;
    /// assert_eq!(consumer.poll(Duration::from_millis(100))?.len(), 1);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn pause(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.change_each(partitions, |s| {
            // Kafka drops a paused partition's fetched records: read again on resume.
            s.buffered.clear();
            s.paused = true;
            s.watch = None;
        })
    }

    /// Returns records from `partitions` again.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{Consumer, ConsumerConfig, Error, Log, Record, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("orders", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a")])?;
    /// let tp = TopicPartition::new("orders", 0);
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("auto.offset.reset", "earliest")?)?;
    /// consumer.assign(&[tp.clone()])?;
    /// consumer.pause(&[tp.clone()])?;
    /// // One partition not assigned: nothing changes.
    /// let refused = consumer.resume(&[tp.clone(), TopicPartition::new("orders", 1)]);
    /// assert!(matches!(refused, Err(Error::InvalidState { .. })));
    /// assert_eq!(consumer.paused(), [tp.clone()]);
    /// consumer.resume(&[tp])?;
    /// assert_eq!(consumer.poll(Duration::from_millis(100))?.len(), 1);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn resume(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        let signal = self.signal.clone();
        self.change_each(partitions, |s| {
            s.paused = false;
            if s.watch.is_none() {
                s.watch = Some(s.partition.watch(&signal));
            }
        })?;
        // Appends made while it was paused wake no one: look now.
        self.signal.notify();
        Ok(())
    }

    /// The paused partitions.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Consumer, ConsumerConfig, Log, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 2, TopicConfig::default())?;
    /// let (p0, p1) = (TopicPartition::new("orders", 0), TopicPartition::new("orders", 1));
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default())?;
    /// consumer.assign(&[p0.clone(), p1.clone()])?;
    /// consumer.pause(&[p1.clone()])?;
    /// assert_eq!(consumer.paused(), [p1.clone()]);
    /// consumer.assign(&[p0.clone()])?;
    /// consumer.assign(&[p0, p1])?;
    /// assert!(consumer.paused().is_empty()); // a pause lasts while the partition stays assigned
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn paused(&self) -> Vec<TopicPartition> {
        self.parts.iter().filter(|(_, s)| s.paused).map(|(tp, _)| tp.clone()).collect()
    }
}
