//! Kafka's consumer, in-process (`KafkaConsumer`, `SubscriptionState`, `ConsumerCoordinator`):
//! manual assignment or a consumer group, `poll` across every assigned partition with one
//! wake-up ([`AppendSignal`]), positions apart from committed offsets, `auto.offset.reset`,
//! seeks, pause and resume, synchronous and asynchronous commits, auto-commit, rebalance
//! callbacks, and `wakeup`. Built on the public [`Log`] / [`Partition`](crate::Partition) API,
//! and on the group protocol (`coordinator/protocol.rs`) for everything the group decides.
//!
//! [`Consumer`] here is the facade (its life, and `poll`); as in Kafka's consumer, a few parts
//! with one job each work behind it: `config.rs`, `record.rs`, `subscription.rs` (assignment,
//! positions, pause, seeks), `fetcher.rs` (the fetch buffer), `commits.rs`, `membership.rs`
//! (the member's side of the group protocol) and `listener.rs` (rebalance callbacks).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::coordinator::protocol::{self, GroupProtocol, Liveness};
use crate::coordinator::types::TopicPartition;
use crate::error::{Error, Result};
use crate::format::record::RecordRef;
use crate::log::Log;
use crate::partition::{AppendSignal, Fetch};
use commits::PendingCommit;
use membership::Membership;
use subscription::{Mode, PartState};

mod commits;
mod config;
mod fetcher;
mod listener;
mod membership;
mod record;
mod subscription;

pub use commits::CommitMode;
pub use config::{ConsumerConfig, OffsetReset};
pub use listener::{ListenerResult, RebalanceListener};
pub use membership::ConsumerGroupMetadata;
pub use record::ConsumerRecord;

/// Interrupts a blocking call of its consumer from another thread (Kafka's `wakeup`): the call
/// in progress, or the next one, returns [`Error::Wakeup`]. Cheap to clone, `Send + Sync`.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::time::Duration;
/// use partlog::{Consumer, ConsumerConfig, Error, Log, TopicConfig, TopicPartition};
/// let log = Log::open(dir.path())?;
/// log.create_topic("orders", 1, TopicConfig::default())?;
/// let mut consumer = Consumer::new(&log, ConsumerConfig::default())?;
/// consumer.assign(&[TopicPartition::new("orders", 0)])?;
/// let handle = consumer.wakeup_handle();
/// let clone = handle.clone(); // any clone wakes the same consumer
/// std::thread::spawn(move || clone.wakeup()).join().unwrap();
/// // Woken before the call: the next one returns at once instead of waiting a minute.
/// assert!(matches!(consumer.poll(Duration::from_secs(60)), Err(Error::Wakeup)));
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct WakeupHandle {
    flag: Arc<AtomicBool>,
    signal: Arc<AppendSignal>,
}

impl WakeupHandle {
    /// Wakes the consumer.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{Consumer, ConsumerConfig, Error, Log, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 1, TopicConfig::default())?;
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default())?;
    /// consumer.assign(&[TopicPartition::new("orders", 0)])?;
    /// let handle = consumer.wakeup_handle();
    /// std::thread::spawn(move || handle.wakeup());
    /// // Would wait a minute for records; the wake-up interrupts it.
    /// assert!(matches!(consumer.poll(Duration::from_secs(60)), Err(Error::Wakeup)));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn wakeup(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.signal.notify();
    }
}

/// A consumer (Kafka's `KafkaConsumer`): reads the partitions it is assigned, by hand
/// ([`assign`](Self::assign)) or as a member of a consumer group
/// ([`subscribe`](Self::subscribe)), from positions it keeps, and commits its progress to the
/// group's committed offsets in `__consumer_offsets`.
///
/// One thread uses a consumer at a time (`&mut self`, as Kafka's single-threaded consumer);
/// [`wakeup_handle`](Self::wakeup_handle) interrupts it from elsewhere. `poll` waits for records
/// on one [`AppendSignal`] watching every assigned partition: an idle consumer uses no CPU.
/// [`close`](Self::close) (or drop) commits, if auto-commit is on, and leaves the group (a
/// static member keeps its slot for `session.timeout.ms`). Once its log is closed, every call
/// fails with [`Error::Closed`].
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::time::Duration;
/// use partlog::{Consumer, ConsumerConfig, Log, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let topic = log.create_topic("orders", 3, TopicConfig::default())?;
/// for p in 0..3 {
///     topic.partition(p)?.append(&[Record::new(b"order")])?;
/// }
///
/// let config = ConsumerConfig::default().set("group.id", "billing")?.set("auto.offset.reset", "earliest")?;
/// let mut consumer = Consumer::new(&log, config)?;
/// consumer.subscribe(&["orders"])?;
/// let mut seen = 0;
/// while seen < 3 {
///     seen += consumer.poll(Duration::from_secs(10))?.len();
/// }
/// consumer.commit_sync()?;
/// assert_eq!(consumer.assignment().len(), 3); // the only member owns every partition
/// consumer.close()?;
///
/// // A new member of the group resumes from the committed offsets: nothing is left.
/// let config = ConsumerConfig::default().set("group.id", "billing")?;
/// let mut again = Consumer::new(&log, config)?;
/// again.subscribe(&["orders"])?;
/// assert!(again.poll(Duration::from_millis(50))?.is_empty());
/// # Ok::<(), partlog::Error>(())
/// ```
pub struct Consumer {
    log: Log,
    config: ConsumerConfig,
    signal: Arc<AppendSignal>,
    wakeup: Arc<AtomicBool>,
    liveness: Arc<Liveness>,
    mode: Mode,
    listener: Option<Box<dyn RebalanceListener>>,
    parts: BTreeMap<TopicPartition, PartState>,
    /// `parts`' keys, for the rotating start of each poll.
    order: Vec<TopicPartition>,
    cursor: usize,
    coordinator: Option<Arc<dyn GroupProtocol>>,
    member: Option<Membership>,
    /// The last assignment and its generation: the sticky assignors' memory.
    last_assignment: (Vec<TopicPartition>, i32),
    rejoin: bool,
    next_auto_commit: Instant,
    /// What this consumer last committed, so that auto-commit skips unchanged positions.
    last_committed: HashMap<TopicPartition, u64>,
    /// Async commits whose outcome is not yet reported.
    pending: Vec<PendingCommit>,
    fetch: Fetch,
    in_callback: bool,
    /// The first error (or panic) of a rebalance callback, returned by the call that ran it.
    callback_error: Option<Error>,
    closed: bool,
    /// When the group or auto-commit next needs a call in, as of the last poll.
    next_check: Option<Instant>,
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("group_id", &self.config.group_id)
            .field("assignment", &self.order)
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// A consumer of `log`. Errors: [`Error::InvalidConfig`] for `enable.auto.commit=true` or
    /// `group.instance.id` without a `group.id`.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Consumer, ConsumerConfig, Error, Log};
    /// let log = Log::open(dir.path())?;
    /// let consumer = Consumer::new(&log, ConsumerConfig::default().set("max.poll.records", "10")?)?;
    /// assert_eq!(consumer.config().max_poll_records, 10);
    /// // Auto-commit needs a group.
    /// let config = ConsumerConfig::default().set("enable.auto.commit", "true")?;
    /// assert!(matches!(Consumer::new(&log, config), Err(Error::InvalidConfig { .. })));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn new(log: &Log, config: ConsumerConfig) -> Result<Consumer> {
        let invalid = |key: &str, value: String, reason: &str| Error::InvalidConfig {
            key: key.to_owned(),
            value,
            reason: reason.to_owned(),
        };
        if config.group_id.is_none() {
            if config.enable_auto_commit == Some(true) {
                return Err(invalid("enable.auto.commit", "true".into(), "needs a group.id"));
            }
            if let Some(instance) = &config.group_instance_id {
                return Err(invalid("group.instance.id", instance.clone(), "needs a group.id"));
            }
        }
        if config.partition_assignment_strategy.is_empty() {
            return Err(invalid("partition.assignment.strategy", String::new(), "needs at least one assignor"));
        }
        // Kafka's int settings: larger values would overflow its records and our deadlines.
        for (key, value) in [
            ("auto.commit.interval.ms", config.auto_commit_interval_ms),
            ("max.poll.interval.ms", config.max_poll_interval_ms),
            ("session.timeout.ms", config.session_timeout_ms),
        ] {
            if value > i32::MAX as u64 {
                return Err(Error::InvalidConfig {
                    key: key.into(),
                    value: value.to_string(),
                    reason: "at most 2147483647 (an int in Kafka)".into(),
                });
            }
        }
        for (key, value) in [
            ("max.poll.interval.ms", config.max_poll_interval_ms),
            ("session.timeout.ms", config.session_timeout_ms),
            ("max.poll.records", config.max_poll_records as u64),
        ] {
            if value == 0 {
                return Err(invalid(key, "0".into(), "must be at least 1"));
            }
        }
        if let Some(group) = &config.group_id {
            protocol::check_group_id(group)?;
        }
        let next_auto_commit = Instant::now() + Duration::from_millis(config.auto_commit_interval_ms);
        Ok(Consumer {
            log: log.clone(),
            config,
            signal: AppendSignal::new(),
            wakeup: Arc::new(AtomicBool::new(false)),
            liveness: Liveness::new(),
            mode: Mode::None,
            listener: None,
            parts: BTreeMap::new(),
            order: Vec::new(),
            cursor: 0,
            coordinator: None,
            member: None,
            last_assignment: (Vec::new(), -1),
            rejoin: false,
            next_auto_commit,
            last_committed: HashMap::new(),
            pending: Vec::new(),
            fetch: Fetch::new(),
            in_callback: false,
            callback_error: None,
            closed: false,
            next_check: None,
        })
    }

    /// The configuration.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Consumer, ConsumerConfig, Log};
    /// let log = Log::open(dir.path())?;
    /// let consumer = Consumer::new(&log, ConsumerConfig::default().set("group.id", "billing")?)?;
    /// assert_eq!(consumer.config().group_id.as_deref(), Some("billing"));
    /// assert_eq!(consumer.config().max_poll_records, 500); // Kafka's default
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    fn check_usable(&self) -> Result<()> {
        if self.log.is_closed() {
            return Err(Error::Closed { what: format!("log {} (the consumer's log)", self.log.dir().display()) });
        }
        if self.in_callback {
            return Err(Error::InvalidState {
                what: "poll, subscribe, assign and close cannot run inside a rebalance callback",
            });
        }
        Ok(())
    }

    /// Returns records from the assigned partitions, at most `max.poll.records`, waiting up to
    /// `timeout` for some to arrive; empty if none did. Each partition's records come in offset
    /// order, and its position moves past them. Partitions take turns being read first, so that
    /// a busy partition cannot starve the others.
    ///
    /// In a group, `poll` is also where the consumer takes part in rebalances (rebalance
    /// callbacks run here), auto-commits, and proves it is alive (`max.poll.interval.ms`).
    ///
    /// Errors: [`Error::InvalidState`] with nothing subscribed or assigned; [`Error::Wakeup`];
    /// [`Error::NoOffsetForPartition`] / [`Error::OffsetOutOfRange`] with
    /// `auto.offset.reset=none`; [`Error::FencedInstanceId`]; [`Error::RebalanceCallback`]; a
    /// failed async commit; a read error, after the records before it were returned (positions
    /// never move past records not returned): [`Error::CorruptBatch`] for a damaged batch,
    /// [`Error::OffsetsLost`] for offsets whose data is gone (seek past them to go on).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// let topic = log.create_topic("orders", 1, TopicConfig::default())?;
    /// let config = ConsumerConfig::default().set("auto.offset.reset", "earliest")?.set("max.poll.records", "2")?;
    /// let mut consumer = Consumer::new(&log, config)?;
    /// consumer.assign(&[TopicPartition::new("orders", 0)])?;
    /// assert!(consumer.poll(Duration::from_millis(50))?.is_empty()); // nothing yet
    /// topic.partition(0)?.append(&[Record::new(b"a"), Record::new(b"b"), Record::new(b"c")])?;
    /// let first = consumer.poll(Duration::from_millis(500))?;
    /// assert_eq!(first[0].value.as_deref(), Some(&b"a"[..]));
    /// assert_eq!(first.len(), 2); // max.poll.records
    /// assert_eq!(consumer.poll(Duration::from_millis(500))?[0].offset, 2);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        let mut records = Vec::new();
        self.poll_into(timeout, &mut records)?;
        Ok(records)
    }

    /// `poll`'s steps: records go to `sink`.
    fn poll_into(&mut self, timeout: Duration, sink: &mut impl fetcher::Sink) -> Result<()> {
        self.check_usable()?;
        if self.mode == Mode::None {
            return Err(Error::InvalidState { what: "poll needs subscribe or assign first" });
        }
        let deadline = Instant::now().checked_add(timeout);
        /// Out of `poll` however it ends: a member whose application caught a panic in
        /// `poll` must not stay "polling", out of reach of `max.poll.interval.ms`.
        struct InPoll(Arc<Liveness>);
        impl Drop for InPoll {
            fn drop(&mut self) {
                self.0.leave_poll();
            }
        }
        self.liveness.enter_poll();
        let _in_poll = InPoll(self.liveness.clone());
        self.poll_until(deadline, self.config.max_poll_records, sink)
    }

    /// [`poll`](Self::poll) without copying: each record goes to `f` as it lies in the fetched
    /// batches (a [`RecordRef`] borrowing them, with its partition), instead of into an owned
    /// [`ConsumerRecord`]; returns how many went (like rust-rdkafka's `BorrowedMessage`). It waits,
    /// takes part in the group and moves positions as `poll` does: a record's position moves past
    /// it once `f` returns, so a panic in `f` leaves that record to be handed out again.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("orders", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"pizza").with_key(b"k"), Record::new(b"pasta")])?;
    /// let config = ConsumerConfig::default().set("auto.offset.reset", "earliest")?;
    /// let mut consumer = Consumer::new(&log, config)?;
    /// let tp = TopicPartition::new("orders", 0);
    /// consumer.assign(&[tp.clone()])?;
    /// let mut bytes = 0;
    /// let n = consumer.poll_with(Duration::from_secs(1), |tp, record| {
    ///     assert_eq!(tp.topic, "orders");
    ///     bytes += record.value().map_or(0, <[u8]>::len);
    /// })?;
    /// assert_eq!((n, bytes), (2, 10));
    /// assert_eq!(consumer.position(&tp)?, 2);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn poll_with(&mut self, timeout: Duration, f: impl FnMut(&TopicPartition, RecordRef<'_>)) -> Result<usize> {
        let mut sink = fetcher::Borrowed { f, taken: 0 };
        self.poll_into(timeout, &mut sink)?;
        Ok(sink.taken)
    }

    /// One non-blocking round of `poll` for the async consumer, which marks liveness and waits
    /// itself: records, or none and the time of the next check-in the group needs.
    #[cfg(feature = "async")]
    pub(crate) fn poll_now(&mut self, max_records: usize) -> Result<(Vec<ConsumerRecord>, Option<Instant>)> {
        self.check_usable()?;
        if self.mode == Mode::None {
            return Err(Error::InvalidState { what: "poll needs subscribe or assign first" });
        }
        let mut records = Vec::new();
        self.poll_until(Some(Instant::now()), max_records, &mut records)?;
        Ok((records, self.next_check))
    }

    #[cfg(feature = "async")]
    pub(crate) fn wake_parts(&self) -> (&Arc<AppendSignal>, &Arc<Liveness>) {
        (&self.signal, &self.liveness)
    }

    /// Polls until records reach `sink` or `deadline` passes.
    fn poll_until(
        &mut self,
        deadline: Option<Instant>,
        max_records: usize,
        sink: &mut impl fetcher::Sink,
    ) -> Result<()> {
        loop {
            if self.wakeup.swap(false, Ordering::SeqCst) {
                return Err(Error::Wakeup);
            }
            // Cleared before looking, so an append after the look fires it again.
            self.signal.take();
            self.complete_async_commits()?;
            let group_deadline = if matches!(self.mode, Mode::Subscribed(_)) {
                let step = self.group_step();
                self.take_callback_error()?;
                step?
            } else {
                None
            };
            if self.config.auto_commit() && Instant::now() >= self.next_auto_commit {
                let _ = self.auto_commit(CommitMode::Async);
            }
            self.init_positions()?;
            self.collect(max_records, sink)?;
            if sink.taken() > 0 {
                self.next_check = group_deadline;
                return Ok(());
            }
            // The next time the group or auto-commit needs this consumer, records or not.
            let mut check = group_deadline;
            if self.config.auto_commit() && self.has_uncommitted() {
                // At least retry.backoff.ms (100) away: an auto-commit that keeps failing (or an
                // interval of 0) must not make an idle poll spin.
                let at = self.next_auto_commit.max(Instant::now() + Duration::from_millis(100));
                check = Some(check.map_or(at, |c| c.min(at)));
            }
            self.next_check = check;
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Ok(());
            }
            let until = match (deadline, check) {
                (Some(d), Some(c)) => Some(d.min(c)),
                (d, c) => d.or(c),
            };
            let wait = until.map_or(Duration::MAX, |u| u.saturating_duration_since(now));
            self.signal.wait(wait);
        }
    }

    /// A handle that interrupts this consumer's `poll` from another thread.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{Consumer, ConsumerConfig, Error, Log, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 1, TopicConfig::default())?;
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default())?;
    /// consumer.assign(&[TopicPartition::new("orders", 0)])?;
    /// consumer.wakeup_handle().wakeup();
    /// assert!(matches!(consumer.poll(Duration::from_secs(60)), Err(Error::Wakeup)));
    /// // One wake-up interrupts one call: the next poll waits as usual.
    /// assert!(consumer.poll(Duration::from_millis(10))?.is_empty());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn wakeup_handle(&self) -> WakeupHandle {
        WakeupHandle { flag: self.wakeup.clone(), signal: self.signal.clone() }
    }

    /// Commits (with auto-commit on), revokes, leaves the group, and makes pending commits
    /// durable. Dropping a consumer does the same, except that a consumer dropped while its
    /// thread panics commits nothing (its records may not have been processed).
    ///
    /// A static member (`group.instance.id`) does not leave, as in Kafka: its slot and its
    /// partitions wait `session.timeout.ms` for it to come back, unread meanwhile; only then do
    /// the others take them over.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// let topic = log.create_topic("orders", 1, TopicConfig::default())?;
    /// topic.partition(0)?.append(&[Record::new(b"a")])?;
    /// let config = ConsumerConfig::default().set("group.id", "billing")?.set("auto.offset.reset", "earliest")?;
    /// let mut consumer = Consumer::new(&log, config.clone())?;
    /// let tp = TopicPartition::new("orders", 0);
    /// consumer.assign(&[tp.clone()])?;
    /// assert_eq!(consumer.poll(Duration::from_millis(100))?.len(), 1);
    /// consumer.close()?; // auto-commit is on with a group.id: commits the position
    /// let mut next = Consumer::new(&log, config)?;
    /// assert_eq!(next.committed(&[tp])?[0].as_ref().map(|c| c.offset), Some(1));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn close(mut self) -> Result<()> {
        self.close_inner(true)
    }

    fn close_inner(&mut self, commit: bool) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let mut result = Ok(());
        if commit && self.config.auto_commit() && self.mode != Mode::None {
            result = self.auto_commit(CommitMode::Sync);
        }
        let completed = self.complete_async_commits();
        let left = if matches!(self.mode, Mode::Subscribed(_)) { self.leave_group() } else { Ok(()) };
        self.set_parts(&[]);
        self.mode = Mode::None;
        // Kafka logs a failed auto-commit on close; here it is returned, after leaving.
        result.and(completed).and(left).and(self.take_callback_error())
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        if panicking {
            // No user code while unwinding (a second panic aborts), and no commit of records
            // that may not have been processed: just leave.
            self.listener = None;
        }
        let _ = self.close_inner(!panicking);
    }
}
