//! The in-process group coordinator (Kafka's classic group protocol, `GroupMetadataManager` and
//! `OffsetMetadataManager`): one per open [`Log`], kept with [`Log::shared`]. Members join,
//! the coordinator runs the assignor itself (as KIP-848's coordinator does, with the client
//! assignors' results), generations and member ids fence stale commits, and committed offsets
//! and group metadata are records of `__consumer_offsets` in Kafka's schemas, replayed when the
//! log is opened.
//!
//! Liveness without a network: a consumer handle closed or dropped leaves at once (a dynamic
//! member) or is kept for `session.timeout.ms` (a static one, which may come back); a handle
//! that stops calling `poll` for `max.poll.interval.ms` is removed. Timers are checked when any
//! member of the group calls in, and members sleeping in `poll` wake for the next deadline.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::assignor::{self, Assignor, MemberSpec};
use super::schema::{self, CoordinatorRecord, GroupValue, MemberValue, OffsetValue, Subscription};
use crate::config::{CleanupPolicy, TopicConfig};
use crate::error::{Error, Result};
use crate::format::record::Record;
use crate::log::topic::Topic;
use crate::log::Log;
use crate::partition::{AppendSignal, Fetch};

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

/// `offset.metadata.max.bytes`: the longest metadata string, in characters as Kafka counts
/// them (UTF-16 units).
pub(crate) const MAX_METADATA_CHARS: usize = 4096;
/// `offsets.retention.minutes` (7 days).
const OFFSETS_RETENTION_MS: i64 = 10080 * 60 * 1000;
/// `offsets.retention.check.interval.ms`.
const OFFSETS_RETENTION_CHECK_MS: i64 = 600_000;
/// `offsets.load.buffer.size`.
const LOAD_BUFFER_BYTES: usize = 5 << 20;

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

/// What a member sends when it joins: its subscription and settings.
pub(crate) struct JoinSpec {
    pub client_id: String,
    pub instance_id: Option<String>,
    pub topics: BTreeSet<String>,
    pub assignors: Vec<Assignor>,
    pub owned: Vec<crate::client::group::TopicPartition>,
    /// Runs the cooperative protocol (every assignor it lists is cooperative).
    pub cooperative: bool,
    pub session_timeout: Duration,
    pub max_poll_interval: Duration,
    pub signal: Arc<AppendSignal>,
    pub liveness: Arc<Liveness>,
}

/// A member's liveness, updated by its handle without the coordinator's lock.
#[derive(Debug)]
pub(crate) struct Liveness {
    epoch: Instant,
    /// Nanoseconds from `epoch` of the last `poll` call.
    last_poll: AtomicU64,
    /// Inside `poll` (waiting for records counts as polling).
    in_poll: AtomicBool,
    /// The group changed since the member's last group step (a rebalance began or ended):
    /// the async consumer's shortcut through buffered records stops for a group step.
    group_changed: AtomicBool,
}

impl Liveness {
    pub(crate) fn new() -> Arc<Liveness> {
        Arc::new(Liveness {
            epoch: Instant::now(),
            last_poll: AtomicU64::new(0),
            in_poll: AtomicBool::new(false),
            group_changed: AtomicBool::new(false),
        })
    }

    pub(crate) fn enter_poll(&self) {
        self.in_poll.store(true, Ordering::Release);
        self.touch();
    }

    pub(crate) fn leave_poll(&self) {
        self.touch();
        self.in_poll.store(false, Ordering::Release);
    }

    /// Whether the group changed since [`clear_group_change`](Self::clear_group_change).
    #[cfg(feature = "async")]
    pub(crate) fn group_changed(&self) -> bool {
        self.group_changed.load(Ordering::Acquire)
    }

    /// Clears the group-changed mark: a group step is about to look.
    pub(crate) fn clear_group_change(&self) {
        self.group_changed.store(false, Ordering::Release);
    }

    /// Inside `poll` now.
    pub(crate) fn in_poll(&self) -> bool {
        self.in_poll.load(Ordering::Acquire)
    }

    /// Records a poll now (`max.poll.interval.ms` counts from here).
    pub(crate) fn touch(&self) {
        self.last_poll.store(self.epoch.elapsed().as_nanos() as u64, Ordering::Release);
    }

    /// Whether the handle has been out of `poll` for longer than `limit`.
    fn expired(&self, limit: Duration) -> bool {
        let limit = u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX);
        !self.in_poll.load(Ordering::Acquire)
            && self.epoch.elapsed().as_nanos() as u64 > self.last_poll.load(Ordering::Acquire).saturating_add(limit)
    }

    /// When it will expire, if it stays out of `poll`. In `poll` now, it cannot expire before
    /// `limit` from now: that is when to look again (it may leave `poll`, for a rebalance
    /// callback that hangs, without anyone else calling in).
    fn deadline(&self, limit: Duration) -> Option<Instant> {
        if self.in_poll.load(Ordering::Acquire) {
            return Instant::now().checked_add(limit);
        }
        (self.epoch + Duration::from_nanos(self.last_poll.load(Ordering::Acquire))).checked_add(limit)
    }
}

/// What a member should do, answered to its heartbeat (each `poll`).
#[derive(Debug)]
pub(crate) enum Heartbeat {
    /// Nothing changed.
    Stable,
    /// A rebalance started: give up partitions as the protocol says, then join.
    Rejoin,
    /// Joined; waiting for the others. Wake by this time to check again.
    Waiting,
    /// A new generation's assignment.
    /// `lost_first`: the member missed the join phase of this generation (a static member
    /// kept for its session while it did not rejoin): what it owned may have moved, so it
    /// loses it before taking the new assignment (Kafka answers it ILLEGAL_GENERATION).
    Assigned { generation: i32, assignment: Vec<TopicPartition>, lost_first: bool },
    /// The member is gone from the group (it stopped polling, or the group was reloaded):
    /// its partitions are lost; join again as a new member.
    Unknown,
    /// Another handle took over this member's `group.instance.id`.
    Fenced,
}

struct Member {
    instance_id: Option<String>,
    client_id: String,
    topics: BTreeSet<String>,
    assignors: Vec<Assignor>,
    owned: Vec<TopicPartition>,
    owned_generation: i32,
    cooperative: bool,
    session_timeout: Duration,
    max_poll_interval: Duration,
    /// Rejoined during the current join phase.
    joined: bool,
    /// Did not rejoin in the join phase of the current generation (kept as a static member).
    missed_join: bool,
    assignment: Vec<TopicPartition>,
    /// The generation whose assignment the handle has taken.
    acked_generation: i32,
    /// The live handle, if any: static members outlive theirs.
    handle: Option<(Arc<AppendSignal>, Arc<Liveness>)>,
    /// When a static member's handle went away.
    detached_at: Option<Instant>,
}

struct Committed {
    value: OffsetAndMetadata,
    commit_timestamp: i64,
    expire_timestamp: i64,
}

struct Group {
    state: GroupState,
    generation: i32,
    protocol_type: String,
    protocol: Option<Assignor>,
    leader: Option<String>,
    /// Log-clock time the group entered its state (offset expiry of empty groups).
    state_since_ms: i64,
    members: BTreeMap<String, Member>,
    /// Member ids replaced by a static member's new handle.
    fenced: HashSet<String>,
    rebalance_deadline: Option<Instant>,
    /// Partition counts the current assignment was computed from.
    metadata: BTreeMap<String, u32>,
    /// The log's topics version `metadata` was checked against (`Log::topics_version`).
    metadata_version: u64,
    offsets: BTreeMap<TopicPartition, Committed>,
    /// Deleted (emptied by `delete_group` or offset expiry): whoever finds it locked looks the
    /// group up again.
    dead: bool,
}

impl Group {
    fn new(now_ms: i64) -> Group {
        Group {
            state: GroupState::Empty,
            generation: 0,
            protocol_type: String::new(),
            protocol: None,
            leader: None,
            state_since_ms: now_ms,
            members: BTreeMap::new(),
            fenced: HashSet::new(),
            rebalance_deadline: None,
            metadata: BTreeMap::new(),
            metadata_version: 0,
            offsets: BTreeMap::new(),
            dead: false,
        }
    }

    fn static_member(&self, instance: &str) -> Option<String> {
        self.members.iter().find(|(_, m)| m.instance_id.as_deref() == Some(instance)).map(|(id, _)| id.clone())
    }

    fn notify_all(&self) {
        for m in self.members.values() {
            if let Some((signal, liveness)) = &m.handle {
                liveness.group_changed.store(true, Ordering::Release);
                signal.notify();
            }
        }
    }
}

/// A member as [`describe_group`](crate::Admin::describe_group) reports it.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::time::Duration;
/// use partlog::{Admin, Consumer, ConsumerConfig, Log, TopicConfig, TopicPartition};
/// let log = Log::open(dir.path())?;
/// log.create_topic("orders", 1, TopicConfig::default())?;
/// let config = ConsumerConfig::default().set("group.id", "billing")?.set("client.id", "biller")?;
/// let mut consumer = Consumer::new(&log, config.set("group.instance.id", "host-a")?)?;
/// consumer.subscribe(&["orders"])?;
/// consumer.poll(Duration::from_millis(10))?; // joins the group
/// let admin = Admin::new(&log);
/// let member = admin.describe_group("billing")?.members.remove(0);
/// assert_eq!((member.client_id.as_str(), member.group_instance_id.as_deref()), ("biller", Some("host-a")));
/// assert_eq!((member.attached, member.assignment), (true, vec![TopicPartition::new("orders", 0)]));
/// consumer.close()?; // a static member's slot outlives its handle, for session.timeout.ms
/// let kept = admin.describe_group("billing")?.members.remove(0);
/// assert_eq!((kept.member_id, kept.attached), (member.member_id, false));
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// The member id the coordinator gave it.
    pub member_id: String,
    /// `group.instance.id`, for a static member.
    pub group_instance_id: Option<String>,
    /// `client.id`.
    pub client_id: String,
    /// Whether a live handle holds it (a static member may be kept without one).
    pub attached: bool,
    /// Its partitions in the current generation.
    pub assignment: Vec<TopicPartition>,
}

/// One partition's committed offset and lag, as `kafka-consumer-groups --describe` prints it.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::time::Duration;
/// use partlog::{Admin, Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
/// let log = Log::open(dir.path())?;
/// let topic = log.create_topic("orders", 2, TopicConfig::default())?;
/// topic.partition(0)?.append(&[Record::new(b"a"), Record::new(b"b"), Record::new(b"c")])?;
/// let config = ConsumerConfig::default().set("group.id", "billing")?.set("max.poll.records", "1")?;
/// let mut consumer = Consumer::new(&log, config.set("auto.offset.reset", "earliest")?)?;
/// consumer.subscribe(&["orders"])?;
/// assert_eq!(consumer.poll(Duration::from_millis(100))?.len(), 1);
/// consumer.commit_sync()?; // orders-0 at 1; orders-1 at 0
/// let lags = Admin::new(&log).describe_group("billing")?.partitions;
/// let member = consumer.group_metadata().unwrap().member_id;
/// assert_eq!(lags[0].partition, TopicPartition::new("orders", 0));
/// assert_eq!((lags[0].committed, lags[0].log_end_offset, lags[0].lag), (Some(1), 3, Some(2)));
/// assert_eq!(lags[0].member_id, Some(member));
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    /// The partition.
    pub partition: TopicPartition,
    /// The committed offset (next to read).
    pub committed: Option<u64>,
    /// The partition's log end offset.
    pub log_end_offset: u64,
    /// `log_end_offset - committed`; `None` without a committed offset.
    pub lag: Option<u64>,
    /// The member that owns it now, if any.
    pub member_id: Option<String>,
}

/// A group, described (Kafka's `kafka-consumer-groups --describe`).
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::time::Duration;
/// use partlog::{Admin, Consumer, ConsumerConfig, GroupState, Log, TopicConfig};
/// let log = Log::open(dir.path())?;
/// log.create_topic("orders", 2, TopicConfig::default())?;
/// let config = ConsumerConfig::default().set("group.id", "billing")?;
/// let mut consumer = Consumer::new(&log, config.set("partition.assignment.strategy", "roundrobin")?)?;
/// consumer.subscribe(&["orders"])?;
/// consumer.poll(Duration::from_millis(10))?; // joins the group
/// let group = Admin::new(&log).describe_group("billing")?;
/// assert_eq!((group.group.as_str(), group.state, group.generation), ("billing", GroupState::Stable, 1));
/// assert_eq!((group.protocol.as_deref(), group.members.len()), (Some("roundrobin"), 1));
/// assert_eq!(group.partitions.len(), 2); // owned, though nothing is committed yet
/// assert!(group.partitions.iter().all(|p| p.committed.is_none() && p.lag.is_none()));
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// `group.id`.
    pub group: String,
    /// Its state.
    pub state: GroupState,
    /// The current generation.
    pub generation: i32,
    /// The assignor in use (`range`, `cooperative-sticky`, ...), if the group has members.
    pub protocol: Option<String>,
    /// The members.
    pub members: Vec<MemberDescription>,
    /// Every partition that has a committed offset or an owner, with its lag.
    pub partitions: Vec<PartitionLag>,
}

/// One group, locked on its own: one group's work never waits for another's.
type GroupCell = Arc<Mutex<Group>>;

/// The coordinator of one open log.
///
/// Locks: `groups` is held only to find, add or remove a group, never across a group's work
/// and never while waiting for a group's lock; a group's lock may be held while taking
/// `groups` (to remove itself). Appends to `__consumer_offsets` happen under a group's lock
/// (its records stay in order); the coordinator's own fsyncs (commits, expiry, deletion)
/// happen under none of its locks. (An append that rolls an offsets partition's segment leaves
/// the fsync of the sealed one to the log's background thread, as every roll inside an append
/// does; a commit's own fsync covers it if it is still owed.)
pub(crate) struct Coordinator {
    topic: Topic,
    clock: Arc<dyn crate::Clock>,
    groups: Mutex<HashMap<String, GroupCell>>,
    next_member: AtomicU64,
    /// Log-clock time of the last offset expiry pass.
    last_expiry_check_ms: AtomicI64,
}

impl fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coordinator").field("topic", &self.topic.name()).finish()
    }
}

/// The configuration `__consumer_offsets` is created with (`GroupCoordinatorService`).
fn offsets_topic_config() -> TopicConfig {
    TopicConfig { cleanup_policy: CleanupPolicy::Compact, segment_bytes: 104857600, ..TopicConfig::default() }
}

impl Coordinator {
    /// The coordinator of `log`, loaded on first use.
    pub(crate) fn of(log: &Log) -> Result<Arc<Coordinator>> {
        log.shared(Coordinator::load)
    }

    /// Creates `__consumer_offsets` if missing, and replays it.
    fn load(log: &Log) -> Result<Coordinator> {
        let topic = match log.topic(schema::OFFSETS_TOPIC) {
            Ok(topic) => topic,
            Err(Error::UnknownTopic { .. }) => {
                match log.create_topic_unchecked(
                    schema::OFFSETS_TOPIC,
                    schema::OFFSETS_TOPIC_PARTITIONS,
                    offsets_topic_config(),
                ) {
                    Err(Error::TopicExists { .. }) => log.topic(schema::OFFSETS_TOPIC)?,
                    other => other?,
                }
            }
            Err(e) => return Err(e),
        };
        let clock = log.clock().clone();
        let now_ms = clock.now_ms();
        let mut groups = replay_topic(&topic, now_ms)?;
        let version = log.topics_version();
        let now = Instant::now();
        // Read-only: the members are the owner's, and stay as its records say.
        for group in groups.values_mut().filter(|_| !log.is_read_only()) {
            // Dynamic members belonged to handles of an earlier open: they cannot come back.
            // Static members may, within their session timeout.
            let before = group.members.len();
            group.members.retain(|_, m| m.instance_id.is_some());
            for m in group.members.values_mut() {
                m.detached_at = Some(now);
            }
            if group.members.is_empty() {
                group.state = GroupState::Empty;
            } else {
                group.metadata = metadata_for(log, group.members.values().flat_map(|m| m.topics.iter()));
                group.metadata_version = version;
                if group.members.len() < before {
                    // The dropped members' partitions need owners: rebalance at the first call.
                    group.state = GroupState::PreparingRebalance;
                    group.rebalance_deadline = Some(now);
                }
            }
        }
        Ok(Coordinator {
            topic,
            clock,
            groups: Mutex::new(groups.into_iter().map(|(name, g)| (name, Arc::new(Mutex::new(g)))).collect()),
            next_member: AtomicU64::new(0),
            last_expiry_check_ms: AtomicI64::new(now_ms),
        })
    }

    /// Runs `f` on group `name` under its lock: `None` if there is no such group, unless
    /// `create_at_ms` says to create it (empty, at that log-clock time).
    fn with_group<R>(&self, name: &str, create_at_ms: Option<i64>, f: impl FnOnce(&mut Group) -> R) -> Option<R> {
        loop {
            let cell = match create_at_ms {
                Some(now_ms) => self
                    .groups
                    .lock()
                    .entry(name.to_owned())
                    .or_insert_with(|| Arc::new(Mutex::new(Group::new(now_ms))))
                    .clone(),
                None => self.groups.lock().get(name)?.clone(),
            };
            let mut g = cell.lock();
            if !g.dead {
                return Some(f(&mut g));
            }
            // Deleted while we waited: it is out of the map now (removed under its lock).
            create_at_ms?;
        }
    }

    /// Every group, by name, as the map holds them now (locked one at a time after).
    fn cells(&self) -> Vec<(String, GroupCell)> {
        self.groups.lock().iter().map(|(n, g)| (n.clone(), g.clone())).collect()
    }

    /// Marks `g` deleted and takes it out of the map; the caller holds its lock.
    fn remove_locked(&self, name: &str, g: &mut Group) {
        g.dead = true;
        self.groups.lock().remove(name);
    }

    fn partition_of(&self, group: &str) -> Result<crate::partition::Partition> {
        self.topic.partition(schema::partition_for_group(group, self.topic.partition_count()))
    }

    /// Appends coordinator records for `group` (not yet durable); returns the offset after them.
    fn write(&self, group: &str, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<u64> {
        let list: Vec<Record<'_>> = records
            .iter()
            .map(|(k, v)| match v {
                Some(v) => Record::new(v).with_key(k),
                None => Record::tombstone(k),
            })
            .collect();
        let info = self.partition_of(group)?.append(&list)?;
        Ok(info.last_offset + 1)
    }

    fn durable(&self, group: &str, upto: u64) -> Result<()> {
        self.partition_of(group)?.flush_to(upto)
    }

    /// The group's metadata record, as the coordinator writes it after an assignment.
    fn group_record(&self, name: &str, g: &Group) -> (Vec<u8>, Option<Vec<u8>>) {
        let members = g
            .members
            .iter()
            .map(|(id, m)| {
                let mut owned: BTreeMap<String, Vec<u32>> = BTreeMap::new();
                for tp in &m.owned {
                    owned.entry(tp.topic.clone()).or_default().push(tp.partition);
                }
                let mut assigned: BTreeMap<String, Vec<u32>> = BTreeMap::new();
                for tp in &m.assignment {
                    assigned.entry(tp.topic.clone()).or_default().push(tp.partition);
                }
                let subscription =
                    Subscription { topics: m.topics.iter().cloned().collect(), owned, generation: m.owned_generation };
                MemberValue {
                    member_id: id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: "/in-process".into(),
                    rebalance_timeout: m.max_poll_interval.as_millis().min(i32::MAX as u128) as i32,
                    session_timeout: m.session_timeout.as_millis().min(i32::MAX as u128) as i32,
                    subscription: schema::subscription_bytes(&subscription),
                    assignment: schema::assignment_bytes(&assigned),
                }
            })
            .collect();
        let value = GroupValue {
            protocol_type: g.protocol_type.clone(),
            generation: g.generation,
            protocol: g.protocol.map(|a| a.name().to_owned()),
            leader: g.leader.clone(),
            current_state_timestamp: g.state_since_ms,
            members,
        };
        (schema::group_key(name), Some(schema::group_value(&value)))
    }

    /// Checks the group's timers: members out of `poll` too long, static members whose handle
    /// has been gone for their session timeout, a join phase past its deadline.
    fn expire(&self, log: &Log, name: &str, g: &mut Group) -> Result<()> {
        let now = Instant::now();
        let mut changed = false;
        let mut removed = Vec::new();
        for (id, m) in g.members.iter_mut() {
            if let Some((_, liveness)) = &m.handle {
                if liveness.expired(m.max_poll_interval) {
                    if m.instance_id.is_some() {
                        // A static member stops "heartbeating"; its session timer runs.
                        m.handle = None;
                        m.detached_at = Some(now);
                    } else {
                        removed.push(id.clone());
                    }
                }
            }
            if let Some(since) = m.detached_at {
                if now.saturating_duration_since(since) >= m.session_timeout {
                    removed.push(id.clone());
                }
            }
        }
        for id in removed {
            g.members.remove(&id);
            changed = true;
        }
        if changed {
            self.prepare_rebalance(g, now);
        }
        self.try_complete(log, name, g, now)
    }

    fn prepare_rebalance(&self, g: &mut Group, now: Instant) {
        if g.state != GroupState::PreparingRebalance {
            g.state = GroupState::PreparingRebalance;
            g.state_since_ms = self.clock.now_ms();
            for m in g.members.values_mut() {
                m.joined = false;
            }
            let timeout = g.members.values().map(|m| m.max_poll_interval).max().unwrap_or_default();
            g.rebalance_deadline = now.checked_add(timeout);
        }
        g.notify_all();
    }

    /// Ends the join phase once every live member has rejoined (or the rebalance timeout
    /// passed): assigns, bumps the generation, records the group.
    fn try_complete(&self, log: &Log, name: &str, g: &mut Group, now: Instant) -> Result<()> {
        if g.state != GroupState::PreparingRebalance {
            return Ok(());
        }
        let timed_out = g.rebalance_deadline.is_some_and(|d| now >= d);
        let waiting = g.members.values().any(|m| m.handle.is_some() && !m.joined);
        if waiting && !timed_out {
            return Ok(());
        }
        if timed_out {
            // Dynamic members that did not rejoin in time are removed.
            g.members.retain(|_, m| m.joined || m.instance_id.is_some());
        }
        let next_generation = g.generation.wrapping_add(1).max(1);
        let record;
        if g.members.is_empty() {
            g.generation = next_generation;
            g.state = GroupState::Empty;
            g.protocol = None;
            g.leader = None;
            g.metadata.clear();
            g.state_since_ms = self.clock.now_ms();
            record = self.group_record(name, g);
        } else {
            let protocol =
                select_protocol(g).ok_or_else(|| Error::InconsistentGroupProtocol { group: name.to_owned() })?;
            let version = log.topics_version();
            let metadata = metadata_for(log, g.members.values().flat_map(|m| m.topics.iter()));
            g.metadata_version = version;
            let specs: Vec<MemberSpec> = g
                .members
                .iter()
                .map(|(id, m)| MemberSpec {
                    member_id: id.clone(),
                    instance_id: m.instance_id.clone(),
                    topics: m.topics.clone(),
                    owned: m.owned.clone(),
                    generation: m.owned_generation,
                    cooperative: m.cooperative,
                })
                .collect();
            let mut assignment = assignor::assign(protocol, &specs, &metadata);
            for (id, m) in g.members.iter_mut() {
                m.assignment = assignment.remove(id).unwrap_or_default();
                m.missed_join = !m.joined;
                m.joined = false;
            }
            g.generation = next_generation;
            g.protocol = Some(protocol);
            g.protocol_type = "consumer".into();
            if g.leader.as_ref().is_none_or(|l| !g.members.contains_key(l)) {
                g.leader = g.members.keys().next().cloned();
            }
            g.metadata = metadata;
            g.state = GroupState::Stable;
            g.state_since_ms = self.clock.now_ms();
            record = self.group_record(name, g);
        }
        g.rebalance_deadline = None;
        g.notify_all();
        self.write(name, &[record])?;
        Ok(())
    }

    /// A member joins (`member_id` `None`: a new handle) or rejoins. Returns its member id.
    pub(crate) fn join(&self, log: &Log, name: &str, member_id: Option<&str>, spec: JoinSpec) -> Result<String> {
        let now_ms = self.clock.now_ms();
        self.maybe_expire_offsets(now_ms)?;
        check_group_id(name)?;
        check_member_strings(&spec)?;
        self.with_group(name, Some(now_ms), |g| self.join_locked(log, name, g, member_id, spec))
            .unwrap_or_else(|| Err(Error::UnknownGroup { group: name.to_owned() }))
    }

    fn join_locked(
        &self,
        log: &Log,
        name: &str,
        g: &mut Group,
        member_id: Option<&str>,
        spec: JoinSpec,
    ) -> Result<String> {
        self.expire(log, name, g)?;
        // A member that shares no assignor with the others is refused alone (Kafka's
        // INCONSISTENT_GROUP_PROTOCOL), before it can stall the group's rebalance.
        let others_share = |a: &Assignor| {
            g.members.iter().filter(|(id, _)| Some(id.as_str()) != member_id).all(|(_, m)| m.assignors.contains(a))
        };
        if !spec.assignors.iter().any(others_share) {
            return Err(Error::InconsistentGroupProtocol { group: name.to_owned() });
        }
        let now = Instant::now();
        let id = match member_id {
            Some(id) => {
                if g.fenced.contains(id) {
                    return Err(fenced(name, spec.instance_id.as_deref()));
                }
                let Some(m) = g.members.get_mut(id) else {
                    return Err(Error::CommitFailed { group: name.to_owned(), reason: UNKNOWN_MEMBER });
                };
                update_member(m, spec);
                self.prepare_rebalance(g, now);
                id.to_owned()
            }
            None => {
                let existing = spec.instance_id.as_deref().and_then(|i| g.static_member(i));
                let sequence = self.next_member.fetch_add(1, Ordering::Relaxed) + 1;
                let id = new_member_id(spec.instance_id.as_deref().unwrap_or(&spec.client_id), sequence);
                if let Some(old) = existing {
                    // A static member's new handle replaces the old one, which is fenced.
                    let mut m = g.members.remove(&old).expect("found above");
                    if let Some((signal, _)) = &m.handle {
                        signal.notify();
                    }
                    g.fenced.insert(old.clone());
                    let unchanged = m.topics == spec.topics && g.protocol.is_some_and(|p| spec.assignors.contains(&p));
                    let owned = std::mem::take(&mut m.owned);
                    update_member(&mut m, spec);
                    m.owned = owned;
                    m.acked_generation = -1;
                    if g.leader.as_deref() == Some(old.as_str()) {
                        g.leader = Some(id.clone());
                    }
                    g.members.insert(id.clone(), m);
                    if g.state == GroupState::Stable && unchanged {
                        // KIP-345: no rebalance; the new handle gets the old assignment.
                        let record = self.group_record(name, g);
                        self.write(name, &[record])?;
                        return Ok(id);
                    }
                } else {
                    let mut m = Member {
                        instance_id: None,
                        client_id: String::new(),
                        topics: BTreeSet::new(),
                        assignors: Vec::new(),
                        owned: Vec::new(),
                        owned_generation: -1,
                        cooperative: spec.cooperative,
                        session_timeout: spec.session_timeout,
                        max_poll_interval: spec.max_poll_interval,
                        joined: true,
                        missed_join: false,
                        assignment: Vec::new(),
                        acked_generation: -1,
                        handle: None,
                        detached_at: None,
                    };
                    update_member(&mut m, spec);
                    g.members.insert(id.clone(), m);
                }
                self.prepare_rebalance(g, now);
                id
            }
        };
        if let Some(m) = g.members.get_mut(&id) {
            m.joined = true;
        }
        self.try_complete(log, name, g, now)?;
        Ok(id)
    }

    /// A member's check-in at each `poll`: what it should do, and when to check in again at
    /// the latest (a group timer).
    pub(crate) fn heartbeat(&self, log: &Log, name: &str, member_id: &str) -> Result<(Heartbeat, Option<Instant>)> {
        self.with_group(name, None, |g| self.heartbeat_locked(log, name, g, member_id))
            .unwrap_or(Ok((Heartbeat::Unknown, None)))
    }

    fn heartbeat_locked(
        &self,
        log: &Log,
        name: &str,
        g: &mut Group,
        member_id: &str,
    ) -> Result<(Heartbeat, Option<Instant>)> {
        self.expire(log, name, g)?;
        if g.fenced.contains(member_id) {
            return Ok((Heartbeat::Fenced, None));
        }
        match g.members.get(member_id) {
            None => return Ok((Heartbeat::Unknown, None)),
            // A static member detached after `max.poll.interval.ms` without a poll: its handle
            // is back, but rebalances went on without it; it rejoins, as Kafka's does, with its
            // partitions lost (and, the group being stable, gets its slot back unchanged).
            Some(m) if m.handle.is_none() => return Ok((Heartbeat::Unknown, None)),
            Some(_) => {}
        }
        let version = log.topics_version();
        if g.state == GroupState::Stable && version != g.metadata_version {
            // A subscribed topic created, deleted or grown since the assignment: rebalance.
            // (Looked at only when the log's topics changed: a heartbeat allocates nothing.)
            g.metadata_version = version;
            let metadata = metadata_for(log, g.members.values().flat_map(|m| m.topics.iter()));
            if metadata != g.metadata {
                self.prepare_rebalance(g, Instant::now());
            }
        }
        let deadline = next_deadline(g);
        let (generation, state) = (g.generation, g.state);
        let m = g.members.get_mut(member_id).expect("checked above");
        let answer = match state {
            GroupState::PreparingRebalance if m.joined => Heartbeat::Waiting,
            GroupState::PreparingRebalance => Heartbeat::Rejoin,
            GroupState::Stable if m.acked_generation != generation => {
                m.acked_generation = generation;
                m.owned = m.assignment.clone();
                m.owned_generation = generation;
                Heartbeat::Assigned {
                    generation,
                    assignment: m.assignment.clone(),
                    lost_first: std::mem::take(&mut m.missed_join),
                }
            }
            _ => Heartbeat::Stable,
        };
        Ok((answer, deadline))
    }

    /// A member gives up partitions it revoked (cooperative), so the next round can move them.
    pub(crate) fn release(&self, log: &Log, name: &str, member_id: &str, kept: &[TopicPartition]) -> Result<()> {
        self.with_group(name, None, |g| {
            if let Some(m) = g.members.get_mut(member_id) {
                m.owned = kept.to_vec();
            }
            self.prepare_rebalance(g, Instant::now());
            self.try_complete(log, name, g, Instant::now())
        })
        .unwrap_or(Ok(()))
    }

    /// A handle closed or dropped: a dynamic member leaves at once (LeaveGroup); a static one
    /// stays for its session timeout.
    pub(crate) fn leave(&self, log: &Log, name: &str, member_id: &str) -> Result<()> {
        self.with_group(name, None, |g| self.leave_locked(log, name, g, member_id)).unwrap_or(Ok(()))
    }

    fn leave_locked(&self, log: &Log, name: &str, g: &mut Group, member_id: &str) -> Result<()> {
        let now = Instant::now();
        match g.members.get_mut(member_id) {
            Some(m) if m.instance_id.is_some() => {
                m.handle = None;
                m.detached_at = Some(now);
            }
            Some(_) => {
                g.members.remove(member_id);
                self.prepare_rebalance(g, now);
            }
            None => return Ok(()),
        }
        self.try_complete(log, name, g, now)
    }

    /// Commits offsets for `group` (written, not yet durable: the caller fsyncs with
    /// `flush_to` on the returned partition), fenced as Kafka's `validateOffsetCommit` fences them.
    /// `member` is (member id, generation) for a group member; `None` for a consumer with
    /// manual assignment (generation −1), accepted only while the group has no members.
    pub(crate) fn commit(
        &self,
        log: &Log,
        name: &str,
        member: Option<(&str, i32)>,
        instance_id: Option<&str>,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
    ) -> Result<Option<(crate::partition::Partition, u64)>> {
        for (tp, o) in offsets {
            let chars = o.metadata.encode_utf16().count();
            if chars > MAX_METADATA_CHARS {
                return Err(Error::OffsetMetadataTooLarge {
                    partition: tp.to_string(),
                    chars,
                    max: MAX_METADATA_CHARS,
                });
            }
            if o.offset > i64::MAX as u64 {
                return Err(Error::OffsetOverflow("a committed offset must fit an int64"));
            }
        }
        check_group_id(name)?;
        if offsets.is_empty() {
            return Ok(None);
        }
        let now_ms = self.clock.now_ms();
        self.maybe_expire_offsets(now_ms)?;
        // A consumer outside the group (manual assignment) may create it; a member may not.
        let create = if member.is_none() { Some(now_ms) } else { None };
        let upto = self
            .with_group(name, create, |g| -> Result<u64> {
                self.expire(log, name, g)?;
                validate_commit(name, g, member, instance_id)?;
                let records: Vec<_> = offsets
                    .iter()
                    .map(|(tp, o)| {
                        (
                            schema::offset_key(name, &tp.topic, tp.partition),
                            Some(schema::offset_value(o.offset, &o.metadata, now_ms)),
                        )
                    })
                    .collect();
                let upto = self.write(name, &records)?;
                for (tp, o) in offsets {
                    g.offsets.insert(
                        tp.clone(),
                        Committed { value: o.clone(), commit_timestamp: now_ms, expire_timestamp: -1 },
                    );
                }
                Ok(upto)
            })
            .unwrap_or_else(|| Err(Error::UnknownGroup { group: name.to_owned() }))?;
        // The caller makes it durable (`flush_to`): concurrent commits share the fsync.
        Ok(Some((self.partition_of(name)?, upto)))
    }

    /// The committed offsets of `partitions` (`None` where there is none).
    pub(crate) fn committed(&self, name: &str, partitions: &[TopicPartition]) -> Vec<Option<OffsetAndMetadata>> {
        self.with_group(name, None, |g| {
            partitions.iter().map(|tp| g.offsets.get(tp).map(|c| c.value.clone())).collect()
        })
        .unwrap_or_else(|| vec![None; partitions.len()])
    }

    /// Every group the coordinator knows, with its state.
    pub(crate) fn list(&self) -> Vec<(String, GroupState)> {
        let mut out: Vec<_> = self
            .cells()
            .into_iter()
            .filter_map(|(n, cell)| {
                let g = cell.lock();
                (!g.dead).then(|| (n, g.state))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// A group's members, assignment and lag.
    pub(crate) fn describe(&self, log: &Log, name: &str) -> Result<GroupDescription> {
        self.with_group(name, None, |g| self.describe_locked(log, name, g))
            .unwrap_or_else(|| Err(Error::UnknownGroup { group: name.to_owned() }))
    }

    fn describe_locked(&self, log: &Log, name: &str, g: &mut Group) -> Result<GroupDescription> {
        if !log.is_read_only() {
            // A read-only log shows the group as its owner's records left it: the members are
            // the owner's, alive or not, and nothing here may write.
            self.expire(log, name, g)?;
        }
        let mut owners: BTreeMap<TopicPartition, String> = BTreeMap::new();
        let members = g
            .members
            .iter()
            .map(|(id, m)| {
                for tp in &m.assignment {
                    owners.insert(tp.clone(), id.clone());
                }
                MemberDescription {
                    member_id: id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    attached: m.handle.is_some(),
                    assignment: m.assignment.clone(),
                }
            })
            .collect();
        let all: BTreeSet<&TopicPartition> = g.offsets.keys().chain(owners.keys()).collect();
        let mut partitions = Vec::new();
        for tp in all {
            let committed = g.offsets.get(tp).map(|c| c.value.offset);
            let log_end_offset = log.partition(&tp.topic, tp.partition).map(|p| p.log_end_offset()).unwrap_or(0);
            partitions.push(PartitionLag {
                partition: tp.clone(),
                committed,
                log_end_offset,
                lag: committed.map(|c| log_end_offset.saturating_sub(c)),
                member_id: owners.get(tp).cloned(),
            });
        }
        Ok(GroupDescription {
            group: name.to_owned(),
            state: g.state,
            generation: g.generation,
            protocol: g.protocol.map(|a| a.name().to_owned()),
            members,
            partitions,
        })
    }

    /// Deletes an empty group: tombstones for its offsets and its metadata.
    pub(crate) fn delete_group(&self, log: &Log, name: &str) -> Result<()> {
        let upto = self
            .with_group(name, None, |g| -> Result<u64> {
                self.expire(log, name, g)?;
                if !g.members.is_empty() {
                    return Err(Error::NonEmptyGroup { group: name.to_owned(), members: g.members.len() });
                }
                let mut records: Vec<_> =
                    g.offsets.keys().map(|tp| (schema::offset_key(name, &tp.topic, tp.partition), None)).collect();
                records.push((schema::group_key(name), None));
                let upto = self.write(name, &records)?;
                self.remove_locked(name, g);
                Ok(upto)
            })
            .unwrap_or_else(|| Err(Error::UnknownGroup { group: name.to_owned() }))?;
        // Outside the group's lock: its members' polls and commits do not wait for the fsync.
        self.durable(name, upto)
    }

    /// Kafka's offset expiry (`offsets.retention.minutes`, KIP-211), at most once per
    /// `offsets.retention.check.interval.ms` of the log's clock.
    fn maybe_expire_offsets(&self, now_ms: i64) -> Result<()> {
        let last = self.last_expiry_check_ms.load(Ordering::Acquire);
        if now_ms.saturating_sub(last) < OFFSETS_RETENTION_CHECK_MS {
            return Ok(());
        }
        // One caller runs the pass; the others go on.
        if self.last_expiry_check_ms.compare_exchange(last, now_ms, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return Ok(());
        }
        self.expire_offsets(now_ms)
    }

    /// One expiry pass: each group in turn under its own lock (tombstones appended there), then
    /// the fsyncs, under no lock.
    fn expire_offsets(&self, now_ms: i64) -> Result<()> {
        let cells = self.cells();
        let mut durable: Vec<(String, u64)> = Vec::new();
        for (name, cell) in cells {
            let mut g = cell.lock();
            if g.dead {
                continue;
            }
            if let Some(upto) = self.expire_group_offsets(&name, &mut g, now_ms)? {
                durable.push((name, upto));
            }
        }
        for (name, upto) in durable {
            self.durable(&name, upto)?;
        }
        Ok(())
    }

    /// Expires `g`'s offsets that are due (removing the group if that empties it); returns the
    /// offset its tombstones end at, to be made durable.
    fn expire_group_offsets(&self, name: &str, g: &mut Group, now_ms: i64) -> Result<Option<u64>> {
        let subscribed: BTreeSet<&String> = g.members.values().flat_map(|m| m.topics.iter()).collect();
        let base_is_state_time = !g.protocol_type.is_empty() && g.state == GroupState::Empty;
        let expirable = g.protocol_type.is_empty() || matches!(g.state, GroupState::Empty | GroupState::Stable);
        if !expirable {
            return Ok(None);
        }
        let expired: Vec<TopicPartition> = g
            .offsets
            .iter()
            .filter(|(tp, c)| {
                if subscribed.contains(&tp.topic) {
                    return false;
                }
                if c.expire_timestamp != -1 {
                    return now_ms >= c.expire_timestamp;
                }
                let base = if base_is_state_time { g.state_since_ms } else { c.commit_timestamp };
                now_ms.saturating_sub(base) >= OFFSETS_RETENTION_MS
            })
            .map(|(tp, _)| tp.clone())
            .collect();
        if expired.is_empty() {
            return Ok(None);
        }
        let mut records: Vec<_> =
            expired.iter().map(|tp| (schema::offset_key(name, &tp.topic, tp.partition), None)).collect();
        for tp in &expired {
            g.offsets.remove(tp);
        }
        let emptied = g.offsets.is_empty() && g.members.is_empty();
        if emptied {
            records.push((schema::group_key(name), None));
        }
        let upto = self.write(name, &records)?;
        if emptied {
            self.remove_locked(name, g);
        }
        Ok(Some(upto))
    }

    /// Runs the offset expiry now (tests and [`Admin`](crate::Admin)).
    pub(crate) fn expire_offsets_now(&self) -> Result<()> {
        let now_ms = self.clock.now_ms();
        self.last_expiry_check_ms.store(now_ms, Ordering::Release);
        self.expire_offsets(now_ms)
    }
}

/// Kafka strings are int16-length-prefixed: longer ones cannot be stored.
const MAX_STRING_BYTES: usize = i16::MAX as usize;

fn check_string(key: &str, value: &str) -> Result<()> {
    if value.len() > MAX_STRING_BYTES {
        return Err(Error::InvalidConfig {
            key: key.to_owned(),
            value: format!("{}...", value.chars().take(20).collect::<String>()),
            reason: format!("{} bytes; Kafka's strings hold at most {MAX_STRING_BYTES}", value.len()),
        });
    }
    Ok(())
}

/// A group id must fit Kafka's string encoding.
pub(crate) fn check_group_id(group: &str) -> Result<()> {
    check_string("group.id", group)
}

fn check_member_strings(spec: &JoinSpec) -> Result<()> {
    check_string("client.id", &spec.client_id)?;
    if let Some(i) = &spec.instance_id {
        check_string("group.instance.id", i)?;
    }
    Ok(())
}

const UNKNOWN_MEMBER: &str =
    "this member is no longer in the group (it stopped polling for max.poll.interval.ms, or left); \
     its partitions may belong to another member now";

fn fenced(group: &str, instance_id: Option<&str>) -> Error {
    Error::FencedInstanceId { group: group.to_owned(), instance_id: instance_id.unwrap_or_default().to_owned() }
}

/// Kafka's `ClassicGroup#validateOffsetCommit`, in its order.
fn validate_commit(name: &str, g: &Group, member: Option<(&str, i32)>, instance_id: Option<&str>) -> Result<()> {
    let Some((member_id, generation)) = member else {
        if g.members.is_empty() {
            return Ok(());
        }
        return Err(Error::CommitFailed {
            group: name.to_owned(),
            reason: "the group has active members; a consumer outside it (manual assignment) cannot commit",
        });
    };
    if let Some(instance) = instance_id {
        if g.static_member(instance).is_some_and(|current| current != member_id) {
            return Err(fenced(name, Some(instance)));
        }
    }
    if g.fenced.contains(member_id) {
        return Err(fenced(name, instance_id));
    }
    let Some(m) = g.members.get(member_id) else {
        return Err(Error::CommitFailed { group: name.to_owned(), reason: UNKNOWN_MEMBER });
    };
    if generation != g.generation {
        // Kafka's CompletingRebalance: the member is in the group but has not taken the new
        // generation's assignment yet (the in-process coordinator skips that state).
        let not_taken = m.acked_generation < g.generation && generation == m.acked_generation;
        if g.state == GroupState::PreparingRebalance || not_taken {
            return Err(Error::RebalanceInProgress { group: name.to_owned() });
        }
        return Err(Error::CommitFailed {
            group: name.to_owned(),
            reason: "the group has rebalanced since this member's generation; its partitions may have moved",
        });
    }
    Ok(())
}

fn update_member(m: &mut Member, spec: JoinSpec) {
    m.instance_id = spec.instance_id;
    m.client_id = spec.client_id;
    m.topics = spec.topics;
    m.assignors = spec.assignors;
    m.cooperative = spec.cooperative;
    if !spec.owned.is_empty() || m.acked_generation >= 0 {
        m.owned = spec.owned;
    }
    m.session_timeout = spec.session_timeout;
    m.max_poll_interval = spec.max_poll_interval;
    m.handle = Some((spec.signal, spec.liveness));
    m.detached_at = None;
}

/// Kafka's member id: the client id (or instance id) and a unique suffix.
fn new_member_id(prefix: &str, sequence: u64) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(sequence);
    h.write_u128(Instant::now().elapsed().as_nanos());
    let a = h.finish();
    h.write_u64(a);
    let b = h.finish();
    format!(
        "{prefix}-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// The assignor every member supports with the most first-choice votes.
fn select_protocol(g: &Group) -> Option<Assignor> {
    let mut members = g.members.values();
    let first = members.next()?;
    let candidates: Vec<Assignor> =
        first.assignors.iter().copied().filter(|a| g.members.values().all(|m| m.assignors.contains(a))).collect();
    let mut votes: Vec<(Assignor, usize)> = candidates.iter().map(|a| (*a, 0)).collect();
    for m in g.members.values() {
        if let Some(choice) = m.assignors.iter().find(|a| candidates.contains(a)) {
            if let Some(v) = votes.iter_mut().find(|(a, _)| a == choice) {
                v.1 += 1;
            }
        }
    }
    // The most votes; ties go to the first member's earlier preference.
    votes.iter().rev().max_by_key(|(_, n)| *n).map(|(a, _)| *a)
}

/// Partition counts of `topics` (topics that do not exist are left out).
fn metadata_for<'a>(log: &Log, topics: impl Iterator<Item = &'a String>) -> BTreeMap<String, u32> {
    let names: BTreeSet<&String> = topics.collect();
    names.into_iter().filter_map(|t| log.topic(t).ok().map(|topic| (t.clone(), topic.partition_count()))).collect()
}

/// The earliest time a timer of the group may fire.
fn next_deadline(g: &Group) -> Option<Instant> {
    let mut next = g.rebalance_deadline;
    let mut consider = |t: Option<Instant>| {
        if let Some(t) = t {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
    };
    for m in g.members.values() {
        if let Some((_, liveness)) = &m.handle {
            consider(liveness.deadline(m.max_poll_interval));
        }
        consider(m.detached_at.and_then(|d| d.checked_add(m.session_timeout)));
    }
    next
}

/// Every group's state and committed offsets, as `__consumer_offsets` records them.
fn replay_topic(topic: &Topic, now_ms: i64) -> Result<HashMap<String, Group>> {
    let mut groups: HashMap<String, Group> = HashMap::new();
    let mut fetch = Fetch::new();
    for p in topic.partitions() {
        let mut from = p.log_start_offset();
        while from < p.log_end_offset() {
            p.fetch(from, LOAD_BUFFER_BYTES, &mut fetch)?;
            for record in fetch.records() {
                let record = record?;
                let Some(key) = record.key() else { continue };
                let decoded = schema::decode(key, record.value()).map_err(|reason| Error::BadCoordinatorRecord {
                    partition: p.name(),
                    offset: record.offset(),
                    reason,
                })?;
                replay(&mut groups, decoded, now_ms);
            }
            if fetch.next_offset() <= from {
                break;
            }
            from = fetch.next_offset();
        }
    }
    Ok(groups)
}

/// The second line behind commits made durable after their data (see
/// `Consumer::commit_sync`): after an unclean shutdown, a committed offset past its
/// partition's recovered log end points at records a crash took (a commit fsynced before the
/// data it covers, by an older build or by another writer of the directory). Left alone, new
/// appends would land below it and the group would skip them. Each is set to the log end
/// (durably, before anything is appended) and reported. `log_end` gives a partition's recovered
/// log end (`None`: not a partition of this log, left alone).
pub(crate) fn clamp_committed_offsets(
    offsets_topic: &Topic,
    now_ms: i64,
    log_end: impl Fn(&str, u32) -> Option<u64>,
) -> Result<Vec<crate::partition::RecoveryEvent>> {
    let groups = replay_topic(offsets_topic, now_ms)?;
    let mut names: Vec<&String> = groups.keys().collect();
    names.sort();
    let mut events = Vec::new();
    for name in names {
        let p = offsets_topic.partition(schema::partition_for_group(name, offsets_topic.partition_count()))?;
        let mut records = Vec::new();
        for (tp, committed) in &groups[name].offsets {
            let Some(end) = log_end(&tp.topic, tp.partition) else { continue };
            let offset = committed.value.offset;
            if offset <= end {
                continue;
            }
            records.push((
                schema::offset_key(name, &tp.topic, tp.partition),
                schema::offset_value(end, &committed.value.metadata, now_ms),
            ));
            events.push(crate::partition::RecoveryEvent {
                partition: tp.to_string(),
                segment: p.dir().to_owned(),
                position: 0,
                bytes_dropped: 0,
                lost_offsets: None,
                reason: format!(
                    "group {name}'s committed offset {offset} was past the partition's recovered log end {end} \
                     (records a crash took): set to {end}, so that records appended from now on are read"
                ),
            });
        }
        if records.is_empty() {
            continue;
        }
        let list: Vec<Record<'_>> = records.iter().map(|(k, v)| Record::new(v).with_key(k)).collect();
        let info = p.append(&list)?;
        p.flush_to(info.last_offset + 1)?;
    }
    Ok(events)
}

/// Applies one record of `__consumer_offsets` (later records override earlier ones).
fn replay(groups: &mut HashMap<String, Group>, record: CoordinatorRecord, now_ms: i64) {
    match record {
        CoordinatorRecord::Offset { group, topic, partition, value } => {
            let g = groups.entry(group).or_insert_with(|| Group::new(now_ms));
            let tp = TopicPartition::new(topic, partition);
            match value {
                Some(OffsetValue { offset, metadata, commit_timestamp, expire_timestamp, .. }) if offset >= 0 => {
                    let value = OffsetAndMetadata { offset: offset as u64, metadata };
                    g.offsets.insert(tp, Committed { value, commit_timestamp, expire_timestamp });
                }
                _ => {
                    g.offsets.remove(&tp);
                }
            }
        }
        CoordinatorRecord::Group { group, value: None } => {
            groups.remove(&group);
        }
        CoordinatorRecord::Group { group, value: Some(v) } => {
            let g = groups.entry(group).or_insert_with(|| Group::new(now_ms));
            g.generation = v.generation;
            g.protocol_type = v.protocol_type;
            g.protocol = v.protocol.and_then(|p| p.parse().ok());
            g.leader = v.leader;
            g.state_since_ms = if v.current_state_timestamp >= 0 { v.current_state_timestamp } else { now_ms };
            g.members.clear();
            for m in v.members {
                let subscription = schema::subscription_decode(&m.subscription).unwrap_or_default();
                let assignment: Vec<TopicPartition> = schema::assignment_decode(&m.assignment)
                    .unwrap_or_default()
                    .into_iter()
                    .flat_map(|(t, ps)| ps.into_iter().map(move |p| TopicPartition::new(t.clone(), p)))
                    .collect();
                let session = Duration::from_millis(m.session_timeout.max(0) as u64);
                let rebalance =
                    if m.rebalance_timeout < 0 { session } else { Duration::from_millis(m.rebalance_timeout as u64) };
                g.members.insert(
                    m.member_id,
                    Member {
                        instance_id: m.group_instance_id,
                        client_id: m.client_id,
                        topics: subscription.topics.into_iter().collect(),
                        assignors: g.protocol.into_iter().collect(),
                        owned: assignment.clone(),
                        owned_generation: v.generation,
                        cooperative: g.protocol.is_some_and(Assignor::is_cooperative),
                        session_timeout: session,
                        max_poll_interval: rebalance,
                        joined: false,
                        missed_join: false,
                        assignment,
                        acked_generation: v.generation,
                        handle: None,
                        detached_at: None,
                    },
                );
            }
            g.state = if g.members.is_empty() { GroupState::Empty } else { GroupState::Stable };
            g.metadata.clear();
        }
        CoordinatorRecord::Other => {}
    }
}
