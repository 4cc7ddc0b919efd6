//! Kafka's consumer, in-process (`KafkaConsumer`, `SubscriptionState`, `ConsumerCoordinator`):
//! manual assignment or a consumer group, `poll` across every assigned partition with one
//! wake-up ([`AppendSignal`]), positions apart from committed offsets, `auto.offset.reset`,
//! seeks, pause and resume, synchronous and asynchronous commits, auto-commit, rebalance
//! callbacks, and `wakeup`. Built on the public [`Log`] / [`Partition`] API.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::coordinator::assignor::Assignor;
use crate::coordinator::protocol::{
    self, CommitRequest, CommitWritten, GroupProtocol, HeartbeatResponse, JoinRequest, Liveness,
};
use crate::coordinator::types::{OffsetAndMetadata, TopicPartition};
use crate::error::{Error, Result};
use crate::format::batch::TimestampType;
use crate::format::record::OwnedHeader;
use crate::log::Log;
use crate::partition::{AppendSignal, Fetch, Partition, TimestampOffset, Watch};

/// `auto.offset.reset`: where a partition without a valid position starts.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Consumer, ConsumerConfig, Error, Log, OffsetReset, Record, TopicConfig, TopicPartition};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("orders", 1, TopicConfig::default())?.partition(0)?;
/// p.append(&[Record::new(b"a"), Record::new(b"b")])?;
/// let tp = TopicPartition::new("orders", 0);
/// assert_eq!(ConsumerConfig::default().auto_offset_reset, OffsetReset::Latest);
/// for (reset, start) in [("earliest", 0), ("latest", 2)] {
///     let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("auto.offset.reset", reset)?)?;
///     consumer.assign(&[tp.clone()])?;
///     assert_eq!(consumer.position(&tp)?, start);
/// }
/// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("auto.offset.reset", "none")?)?;
/// consumer.assign(&[tp.clone()])?;
/// assert!(matches!(consumer.position(&tp), Err(Error::NoOffsetForPartition { .. })));
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    /// `earliest`: the log start offset.
    Earliest,
    /// `latest` (Kafka's default): the log end offset; only records appended later are read.
    Latest,
    /// `none`: fail with [`Error::NoOffsetForPartition`] (no committed offset) or
    /// [`Error::OffsetOutOfRange`] (a position out of range).
    None,
}

/// The consumer settings partlog keeps from Kafka's (`ConsumerConfig`), with Kafka's names and
/// defaults. What exists only because of the network (fetch sizing waits, heartbeats, request
/// timeouts, retries, CRC checks: every read is checked) is accepted by [`set`](Self::set) and
/// ignored.
///
/// # Example
/// ```
/// use partlog::{Assignor, ConsumerConfig, OffsetReset};
/// let config = ConsumerConfig::default()
///     .set("group.id", "billing")?
///     .set("auto.offset.reset", "earliest")?
///     .set("partition.assignment.strategy", "cooperative-sticky")?;
/// assert_eq!(config.group_id.as_deref(), Some("billing"));
/// assert_eq!(config.auto_offset_reset, OffsetReset::Earliest);
/// assert_eq!(config.partition_assignment_strategy, [Assignor::CooperativeSticky]);
/// assert_eq!(config.max_poll_records, 500);
/// assert!(ConsumerConfig::default().set("max.poll.records", "0").is_err());
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerConfig {
    /// `group.id`: the consumer group; `None` (Kafka's default) allows only `assign`, and no
    /// commits.
    pub group_id: Option<String>,
    /// `group.instance.id`: a static member, which keeps its partitions across a restart
    /// within `session.timeout.ms`.
    pub group_instance_id: Option<String>,
    /// `client.id`: the prefix of the member id.
    pub client_id: String,
    /// `auto.offset.reset` (`latest`).
    pub auto_offset_reset: OffsetReset,
    /// `enable.auto.commit`: `None` is Kafka's default, on with a `group.id`.
    pub enable_auto_commit: Option<bool>,
    /// `auto.commit.interval.ms` (5000).
    pub auto_commit_interval_ms: u64,
    /// `max.poll.records` (500): records returned by one `poll`, at most.
    pub max_poll_records: usize,
    /// `max.poll.interval.ms` (300000): a member out of `poll` for longer is removed from its
    /// group; also the rebalance timeout.
    pub max_poll_interval_ms: u64,
    /// `session.timeout.ms` (45000): how long a static member's slot outlives its handle.
    pub session_timeout_ms: u64,
    /// `partition.assignment.strategy` (`[range, cooperative-sticky]`): in order of preference.
    pub partition_assignment_strategy: Vec<Assignor>,
    /// `max.partition.fetch.bytes` (1 MiB): bytes read from one partition per `poll`, at
    /// least one batch.
    pub max_partition_fetch_bytes: usize,
    /// `fetch.max.bytes` (50 MiB): bytes read per `poll` in all, at least one batch.
    pub fetch_max_bytes: usize,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            group_id: None,
            group_instance_id: None,
            client_id: "consumer".into(),
            auto_offset_reset: OffsetReset::Latest,
            enable_auto_commit: None,
            auto_commit_interval_ms: 5000,
            max_poll_records: 500,
            max_poll_interval_ms: 300_000,
            session_timeout_ms: 45_000,
            partition_assignment_strategy: vec![Assignor::Range, Assignor::CooperativeSticky],
            max_partition_fetch_bytes: 1 << 20,
            fetch_max_bytes: 50 << 20,
        }
    }
}

impl ConsumerConfig {
    /// Sets a setting by Kafka's name; Kafka's network and JVM settings (`bootstrap.servers`,
    /// deserializers, `fetch.min.bytes`, `fetch.max.wait.ms`, `heartbeat.interval.ms`,
    /// `request.timeout.ms`, retries and backoffs, `check.crcs`, ...) are accepted and ignored.
    /// `isolation.level=read_committed` and `group.protocol=consumer` are refused: partlog has
    /// no transactions yet and runs the classic group protocol.
    ///
    /// # Example
    /// ```
    /// use partlog::{ConsumerConfig, Error};
    /// let config = ConsumerConfig::default().set("bootstrap.servers", "localhost:9092")?; // ignored
    /// assert_eq!(config, ConsumerConfig::default());
    /// let refused = ConsumerConfig::default().set("isolation.level", "read_committed");
    /// assert!(matches!(refused, Err(Error::InvalidConfig { .. })));
    /// assert!(ConsumerConfig::default().set("no.such.setting", "1").is_err());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn set(mut self, key: &str, value: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidConfig {
            key: key.to_owned(),
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        let v = value.trim();
        let number = || {
            v.parse::<u64>()
                .ok()
                .filter(|n| *n <= i32::MAX as u64)
                .ok_or_else(|| invalid("must be an integer from 0 to 2147483647"))
        };
        let positive = || number().and_then(|n| if n == 0 { Err(invalid("must be at least 1")) } else { Ok(n) });
        let flag = || v.parse::<bool>().map_err(|_| invalid("must be true or false"));
        match key {
            "group.id" => self.group_id = if v.is_empty() { None } else { Some(v.to_owned()) },
            "group.instance.id" => self.group_instance_id = if v.is_empty() { None } else { Some(v.to_owned()) },
            "client.id" => self.client_id = v.to_owned(),
            "auto.offset.reset" => {
                self.auto_offset_reset = match v {
                    "earliest" => OffsetReset::Earliest,
                    "latest" => OffsetReset::Latest,
                    "none" => OffsetReset::None,
                    _ => return Err(invalid("must be earliest, latest or none")),
                }
            }
            "enable.auto.commit" => self.enable_auto_commit = Some(flag()?),
            "auto.commit.interval.ms" => self.auto_commit_interval_ms = number()?,
            "max.poll.records" => self.max_poll_records = positive()? as usize,
            "max.poll.interval.ms" => self.max_poll_interval_ms = positive()?,
            "session.timeout.ms" => self.session_timeout_ms = positive()?,
            "partition.assignment.strategy" => {
                let list = v.split(',').filter(|s| !s.trim().is_empty()).map(str::parse).collect::<Result<Vec<_>>>()?;
                if list.is_empty() {
                    return Err(invalid("needs at least one assignor"));
                }
                self.partition_assignment_strategy = list;
            }
            "max.partition.fetch.bytes" => self.max_partition_fetch_bytes = positive()? as usize,
            "fetch.max.bytes" => self.fetch_max_bytes = positive()? as usize,
            "isolation.level" => {
                if v != "read_uncommitted" {
                    return Err(invalid("only read_uncommitted: partlog has no transactional producer yet"));
                }
            }
            "group.protocol" => {
                if !v.eq_ignore_ascii_case("classic") {
                    return Err(invalid("only classic (the in-process coordinator runs the classic protocol)"));
                }
            }
            "bootstrap.servers"
            | "key.deserializer"
            | "value.deserializer"
            | "fetch.min.bytes"
            | "fetch.max.wait.ms"
            | "heartbeat.interval.ms"
            | "request.timeout.ms"
            | "default.api.timeout.ms"
            | "retry.backoff.ms"
            | "retry.backoff.max.ms"
            | "reconnect.backoff.ms"
            | "reconnect.backoff.max.ms"
            | "check.crcs"
            | "exclude.internal.topics"
            | "metadata.max.age.ms"
            | "allow.auto.create.topics"
            | "client.rack"
            | "connections.max.idle.ms"
            | "receive.buffer.bytes"
            | "send.buffer.bytes"
            | "security.protocol"
            | "enable.metrics.push"
            | "auto.include.jmx.reporter" => {}
            _ => return Err(invalid("not a consumer setting partlog knows")),
        }
        Ok(self)
    }

    fn auto_commit(&self) -> bool {
        self.group_id.is_some() && self.enable_auto_commit.unwrap_or(true)
    }
}

/// A record returned by [`Consumer::poll`] (Kafka's `ConsumerRecord`).
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::time::Duration;
/// use partlog::{Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("orders", 1, TopicConfig::default())?.partition(0)?;
/// p.append(&[Record::new(b"42 pizzas").with_key(b"customer-7").with_timestamp(1_000)])?;
/// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("auto.offset.reset", "earliest")?)?;
/// consumer.assign(&[TopicPartition::new("orders", 0)])?;
/// let record = consumer.poll(Duration::from_millis(100))?.remove(0);
/// assert_eq!((&*record.topic, record.partition, record.offset, record.timestamp), ("orders", 0, 0, 1_000));
/// assert_eq!(record.key.as_deref(), Some(&b"customer-7"[..]));
/// assert_eq!((record.value.as_deref(), record.headers.len()), (Some(&b"42 pizzas"[..]), 0));
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: u32,
    /// The record's offset.
    pub offset: u64,
    /// Its timestamp in milliseconds: the producer's, or the log's append time, as
    /// [`timestamp_type`](Self::timestamp_type) says.
    pub timestamp: i64,
    /// What the timestamp is (Kafka's `ConsumerRecord.timestampType()`): `CreateTime`, or
    /// `LogAppendTime` for records of a batch the log stamped (a topic with
    /// `message.timestamp.type=LogAppendTime`).
    pub timestamp_type: TimestampType,
    /// The key; `None` is null.
    pub key: Option<Vec<u8>>,
    /// The value; `None` is null (a tombstone).
    pub value: Option<Vec<u8>>,
    /// Headers, in order.
    pub headers: Vec<OwnedHeader>,
}

impl ConsumerRecord {
    /// The record's topic and partition.
    ///
    /// # Example
    /// ```
    /// use partlog::{ConsumerRecord, TimestampType, TopicPartition};
    /// let record = ConsumerRecord {
    ///     topic: "orders".into(),
    ///     partition: 2,
    ///     offset: 7,
    ///     timestamp: 0,
    ///     timestamp_type: TimestampType::CreateTime,
    ///     key: None,
    ///     value: Some(b"order".to_vec()),
    ///     headers: Vec::new(),
    /// };
    /// assert_eq!(record.topic_partition(), TopicPartition::new("orders", 2));
    /// ```
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(&*self.topic, self.partition)
    }
}

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

/// Called on the consumer's thread, inside `poll` (or `close`, `unsubscribe`), when the group
/// moves partitions (Kafka's `ConsumerRebalanceListener`). The consumer is passed in, so that
/// a callback can commit (`commit_sync` in `on_partitions_revoked` is the usual pattern) or
/// seek; `poll` from a callback is refused.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use partlog::{Consumer, ConsumerConfig, Log, RebalanceListener, Record, TopicConfig, TopicPartition};
/// /// Commits its progress before partitions go; keeps a journal.
/// struct CommitOnRevoke(Arc<Mutex<Vec<String>>>);
/// impl RebalanceListener for CommitOnRevoke {
///     fn on_partitions_revoked(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) -> partlog::ListenerResult {
///         consumer.commit_sync().expect("still the owner");
///         self.0.lock().unwrap().push(format!("revoked {}", partitions.len()));
///         Ok(())
///     }
///     fn on_partitions_assigned(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) -> partlog::ListenerResult {
///         self.0.lock().unwrap().push(format!("assigned {}", partitions.len()));
///         Ok(())
///     }
/// }
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("orders", 1, TopicConfig::default())?.partition(0)?;
/// p.append(&[Record::new(b"a"), Record::new(b"b")])?;
/// let config = ConsumerConfig::default().set("group.id", "billing")?.set("auto.offset.reset", "earliest")?;
/// let mut consumer = Consumer::new(&log, config.set("enable.auto.commit", "false")?)?;
/// let journal = Arc::new(Mutex::new(Vec::new()));
/// consumer.subscribe_with_listener(&["orders"], CommitOnRevoke(journal.clone()))?;
/// assert_eq!(consumer.poll(Duration::from_millis(100))?.len(), 2);
/// consumer.unsubscribe()?; // leaves the group, revoking first
/// assert_eq!(*journal.lock().unwrap(), ["assigned 1", "revoked 1"]);
/// let committed = consumer.committed(&[TopicPartition::new("orders", 0)])?;
/// assert_eq!(committed[0].as_ref().map(|c| c.offset), Some(2)); // by the callback
/// # Ok::<(), partlog::Error>(())
/// ```
pub trait RebalanceListener: Send {
    /// Partitions are being taken away; the member still owns them, and may commit them.
    /// Eager protocols (range, roundrobin, sticky) revoke every partition at the start of each
    /// rebalance; cooperative-sticky only those that move.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use partlog::{Consumer, ConsumerConfig, Log, RebalanceListener, TopicConfig, TopicPartition};
    /// struct Revoked(Arc<Mutex<Vec<TopicPartition>>>);
    /// impl RebalanceListener for Revoked {
    ///     fn on_partitions_revoked(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) -> partlog::ListenerResult {
    ///         self.0.lock().unwrap().extend_from_slice(partitions);
    ///         Ok(())
    ///     }
    /// }
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 1, TopicConfig::default())?;
    /// log.create_topic("invoices", 1, TopicConfig::default())?;
    /// let config = ConsumerConfig::default().set("group.id", "billing")?;
    /// let mut consumer = Consumer::new(&log, config.set("partition.assignment.strategy", "range")?)?;
    /// let revoked = Arc::new(Mutex::new(Vec::new()));
    /// consumer.subscribe_with_listener(&["orders"], Revoked(revoked.clone()))?;
    /// consumer.poll(Duration::from_millis(10))?; // joins: nothing to revoke
    /// assert!(revoked.lock().unwrap().is_empty());
    /// consumer.subscribe(&["orders", "invoices"])?; // the listener stays
    /// consumer.poll(Duration::from_millis(10))?; // eager: everything is revoked before the rebalance
    /// assert_eq!(*revoked.lock().unwrap(), [TopicPartition::new("orders", 0)]);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    fn on_partitions_revoked(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) -> ListenerResult {
        let _ = (consumer, partitions);
        Ok(())
    }

    /// Partitions were given to this member (eager: all of them, every rebalance, even none;
    /// cooperative: the new ones only).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use partlog::{Consumer, ConsumerConfig, Log, RebalanceListener, TopicConfig, TopicPartition};
    /// struct Assigned(Arc<Mutex<Vec<Vec<TopicPartition>>>>);
    /// impl RebalanceListener for Assigned {
    ///     fn on_partitions_assigned(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) -> partlog::ListenerResult {
    ///         self.0.lock().unwrap().push(partitions.to_vec());
    ///         Ok(())
    ///     }
    /// }
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 1, TopicConfig::default())?;
    /// log.create_topic("invoices", 1, TopicConfig::default())?;
    /// let config = ConsumerConfig::default().set("group.id", "billing")?;
    /// let mut consumer = Consumer::new(&log, config.set("partition.assignment.strategy", "cooperative-sticky")?)?;
    /// let calls = Arc::new(Mutex::new(Vec::new()));
    /// consumer.subscribe_with_listener(&["orders"], Assigned(calls.clone()))?;
    /// consumer.poll(Duration::from_millis(10))?;
    /// consumer.subscribe(&["orders", "invoices"])?;
    /// consumer.poll(Duration::from_millis(10))?;
    /// let (orders, invoices) = (TopicPartition::new("orders", 0), TopicPartition::new("invoices", 0));
    /// assert_eq!(*calls.lock().unwrap(), [vec![orders], vec![invoices]]); // cooperative: only the new one
    /// # Ok::<(), partlog::Error>(())
    /// ```
    fn on_partitions_assigned(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) -> ListenerResult {
        let _ = (consumer, partitions);
        Ok(())
    }

    /// The member lost its partitions without a chance to revoke them (it was removed from the
    /// group, e.g. after `max.poll.interval.ms`): they may belong to another member already, so
    /// committing them is pointless. Calls `on_partitions_revoked` unless overridden.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use partlog::{Admin, Consumer, ConsumerConfig, Log, RebalanceListener, TopicConfig, TopicPartition};
    /// struct Lost(Arc<Mutex<Vec<TopicPartition>>>);
    /// impl RebalanceListener for Lost {
    ///     fn on_partitions_lost(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) -> partlog::ListenerResult {
    ///         self.0.lock().unwrap().extend_from_slice(partitions);
    ///         Ok(())
    ///     }
    /// }
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 1, TopicConfig::default())?;
    /// let config = ConsumerConfig::default().set("group.id", "billing")?.set("max.poll.interval.ms", "1")?;
    /// let mut consumer = Consumer::new(&log, config)?;
    /// let lost = Arc::new(Mutex::new(Vec::new()));
    /// consumer.subscribe_with_listener(&["orders"], Lost(lost.clone()))?;
    /// consumer.poll(Duration::from_millis(10))?;
    /// std::thread::sleep(Duration::from_millis(5)); // out of poll for longer than max.poll.interval.ms
    /// Admin::new(&log).describe_group("billing")?; // the group checks its timers: the member is removed
    /// consumer.poll(Duration::from_millis(10))?; // finds out, and joins again as a new member
    /// assert_eq!(*lost.lock().unwrap(), [TopicPartition::new("orders", 0)]);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    fn on_partitions_lost(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) -> ListenerResult {
        self.on_partitions_revoked(consumer, partitions)
    }
}

/// What a [`RebalanceListener`] callback returns: `Ok`, or an error that the call running it
/// (`poll`, `close`, `unsubscribe`) returns as [`Error::RebalanceCallback`] once the rebalance
/// has gone on (Kafka rethrows a callback's exception from `poll` the same way).
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::time::Duration;
/// use partlog::{Consumer, ConsumerConfig, Error, ListenerResult, Log, RebalanceListener, TopicConfig, TopicPartition};
/// struct Picky;
/// impl RebalanceListener for Picky {
///     fn on_partitions_assigned(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) -> ListenerResult {
///         if partitions.len() > 1 {
///             return Err(format!("cannot handle {} partitions", partitions.len()).into());
///         }
///         Ok(())
///     }
/// }
/// let log = Log::open(dir.path())?;
/// log.create_topic("orders", 2, TopicConfig::default())?;
/// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("group.id", "billing")?)?;
/// consumer.subscribe_with_listener(&["orders"], Picky)?;
/// match consumer.poll(Duration::from_millis(100)) {
///     Err(Error::RebalanceCallback { callback, reason, .. }) => {
///         assert_eq!((callback, reason.as_str()), ("on_partitions_assigned", "cannot handle 2 partitions"));
///     }
///     other => panic!("expected the listener's error, got {other:?}"),
/// }
/// assert_eq!(consumer.assignment().len(), 2); // the assignment stands; the next poll reads
/// assert!(consumer.poll(Duration::from_millis(10)).is_ok());
/// # Ok::<(), partlog::Error>(())
/// ```
pub type ListenerResult = std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;

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

/// A member's identity in its group (Kafka's `ConsumerGroupMetadata`).
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::time::Duration;
/// use partlog::{Consumer, ConsumerConfig, Log, TopicConfig};
/// let log = Log::open(dir.path())?;
/// log.create_topic("orders", 1, TopicConfig::default())?;
/// let config = ConsumerConfig::default().set("group.id", "billing")?.set("group.instance.id", "host-a")?;
/// let mut consumer = Consumer::new(&log, config)?;
/// consumer.subscribe(&["orders"])?;
/// consumer.poll(Duration::from_millis(10))?; // joins the group
/// let metadata = consumer.group_metadata().expect("joined");
/// assert_eq!((metadata.group_id.as_str(), metadata.group_instance_id.as_deref()), ("billing", Some("host-a")));
/// assert_eq!(metadata.generation, 1); // the group's first assignment
/// assert!(metadata.member_id.starts_with("host-a-")); // a static member's id starts with its instance id
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    /// `group.id`.
    pub group_id: String,
    /// The generation of the member's current assignment.
    pub generation: i32,
    /// The member id the coordinator gave it.
    pub member_id: String,
    /// `group.instance.id`, for a static member.
    pub group_instance_id: Option<String>,
}

struct PartState {
    partition: Partition,
    topic: Arc<str>,
    /// Wakes the consumer's `poll` on appends; `None` while paused, so that appends to a
    /// paused partition do not wake it.
    watch: Option<Watch>,
    /// The offset of the next record handed to the application (Kafka's position).
    position: Option<u64>,
    reset: Option<OffsetReset>,
    paused: bool,
    /// Records fetched and not yet handed out, all at or past `position` (Kafka's fetch
    /// buffer): each batch is read and checked once, and served across polls. Dropped by
    /// anything that moves the position or stops the partition being read.
    buffered: VecDeque<ConsumerRecord>,
    /// Where the buffered records end: the next fetch starts here.
    fetched_to: u64,
}

impl PartState {
    /// Moves the position to `offset` (`None`: to be reset), dropping buffered records.
    fn reposition(&mut self, offset: Option<u64>) {
        self.position = offset;
        self.buffered.clear();
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    None,
    Assigned,
    Subscribed(BTreeSet<String>),
}

struct Membership {
    id: String,
    generation: i32,
}

type CommitCallback = Box<dyn FnOnce(Result<()>) + Send>;

/// An async commit: written (to be made durable) or refused, with its callback.
struct PendingCommit {
    /// The data partitions and the offsets committed for them: made durable first.
    data: Vec<(Partition, u64)>,
    target: Option<CommitWritten>,
    error: Option<Error>,
    callback: Option<CommitCallback>,
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

    fn cooperative(&self) -> bool {
        self.config.partition_assignment_strategy.iter().all(|a| a.is_cooperative())
    }

    fn group(&self) -> Result<&str> {
        self.config.group_id.as_deref().ok_or(Error::InvalidState { what: "this needs a group.id" })
    }

    fn coordinator(&mut self) -> Result<Arc<dyn GroupProtocol>> {
        if let Some(c) = &self.coordinator {
            return Ok(c.clone());
        }
        let c = protocol::coordinator_of(&self.log)?;
        self.coordinator = Some(c.clone());
        Ok(c)
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
    fn set_parts(&mut self, partitions: &[TopicPartition]) {
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
                    buffered: VecDeque::new(),
                    fetched_to: 0,
                },
            );
        }
        self.order = self.parts.keys().cloned().collect();
        self.cursor = 0;
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
        self.poll_until(deadline, self.config.max_poll_records)
    }

    /// One non-blocking round of `poll` for the async consumer, which marks liveness and waits
    /// itself: records, or none and the time of the next check-in the group needs.
    #[cfg(feature = "async")]
    pub(crate) fn poll_now(&mut self, max_records: usize) -> Result<(Vec<ConsumerRecord>, Option<Instant>)> {
        self.check_usable()?;
        if self.mode == Mode::None {
            return Err(Error::InvalidState { what: "poll needs subscribe or assign first" });
        }
        let records = self.poll_until(Some(Instant::now()), max_records)?;
        Ok((records, self.next_check))
    }

    #[cfg(feature = "async")]
    pub(crate) fn wake_parts(&self) -> (&Arc<AppendSignal>, &Arc<Liveness>) {
        (&self.signal, &self.liveness)
    }

    fn poll_until(&mut self, deadline: Option<Instant>, max_records: usize) -> Result<Vec<ConsumerRecord>> {
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
            let records = self.collect(max_records)?;
            if !records.is_empty() {
                self.next_check = group_deadline;
                return Ok(records);
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
                return Ok(records);
            }
            let until = match (deadline, check) {
                (Some(d), Some(c)) => Some(d.min(c)),
                (d, c) => d.or(c),
            };
            let wait = until.map_or(Duration::MAX, |u| u.saturating_duration_since(now));
            self.signal.wait(wait);
        }
    }

    /// Takes part in the group: joins, follows rebalances, takes assignments. Returns when the
    /// group next needs a check-in.
    fn group_step(&mut self) -> Result<Option<Instant>> {
        self.liveness.clear_group_change();
        let coordinator = self.coordinator()?;
        let group = self.group()?.to_owned();
        // Each round either settles or moves the member one step through a rebalance.
        for _ in 0..16 {
            let Some(member_id) = self.member.as_ref().map(|m| m.id.clone()) else {
                let id = coordinator.join(&self.log, &group, None, self.join_request())?;
                self.member = Some(Membership { id, generation: -1 });
                self.rejoin = false;
                continue;
            };
            if self.rejoin {
                self.rejoin = false;
                self.prepare_rejoin()?;
                self.join_again(&*coordinator, &group, &member_id)?;
                continue;
            }
            let (heartbeat, deadline) = coordinator.heartbeat(&self.log, &group, &member_id)?;
            match heartbeat {
                HeartbeatResponse::Stable | HeartbeatResponse::Waiting => return Ok(deadline),
                HeartbeatResponse::Rejoin => {
                    self.prepare_rejoin()?;
                    self.join_again(&*coordinator, &group, &member_id)?;
                }
                HeartbeatResponse::Assigned { generation, assignment, lost_first } => {
                    if lost_first {
                        let lost = self.order.clone();
                        self.set_parts(&[]);
                        if !lost.is_empty() {
                            self.callback("on_partitions_lost", |l, c| l.on_partitions_lost(c, &lost));
                        }
                    }
                    self.take_assignment(&*coordinator, &group, &member_id, generation, assignment)?;
                }
                HeartbeatResponse::Unknown => {
                    let lost = self.order.clone();
                    self.member = None;
                    self.set_parts(&[]);
                    if !lost.is_empty() {
                        self.callback("on_partitions_lost", |l, c| l.on_partitions_lost(c, &lost));
                    }
                }
                HeartbeatResponse::Fenced => {
                    return Err(Error::FencedInstanceId {
                        group,
                        instance_id: self.config.group_instance_id.clone().unwrap_or_default(),
                    })
                }
            }
        }
        Ok(None)
    }

    fn join_request(&self) -> JoinRequest {
        let topics = match &self.mode {
            Mode::Subscribed(t) => t.clone(),
            _ => BTreeSet::new(),
        };
        let owned = if self.cooperative() { self.order.clone() } else { self.last_assignment.0.clone() };
        JoinRequest {
            client_id: self.config.client_id.clone(),
            instance_id: self.config.group_instance_id.clone(),
            topics,
            assignors: self.config.partition_assignment_strategy.clone(),
            owned,
            cooperative: self.cooperative(),
            session_timeout: Duration::from_millis(self.config.session_timeout_ms),
            max_poll_interval: Duration::from_millis(self.config.max_poll_interval_ms),
            signal: self.signal.clone(),
            liveness: self.liveness.clone(),
        }
    }

    fn join_again(&mut self, coordinator: &dyn GroupProtocol, group: &str, member_id: &str) -> Result<()> {
        match coordinator.join(&self.log, group, Some(member_id), self.join_request()) {
            Ok(_) => Ok(()),
            Err(Error::CommitFailed { .. }) => {
                // Removed meanwhile: the partitions are lost; join as a new member.
                let lost = self.order.clone();
                self.member = None;
                self.set_parts(&[]);
                if !lost.is_empty() {
                    self.callback("on_partitions_lost", |l, c| l.on_partitions_lost(c, &lost));
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Before rejoining: eager members commit (auto-commit) and revoke everything; cooperative
    /// members revoke only the partitions of topics they no longer subscribe to.
    fn prepare_rejoin(&mut self) -> Result<()> {
        if self.config.auto_commit() {
            let _ = self.auto_commit(CommitMode::Sync);
        }
        let revoked: Vec<TopicPartition> = if self.cooperative() {
            let subscribed = self.subscription();
            self.order.iter().filter(|tp| !subscribed.contains(&tp.topic)).cloned().collect()
        } else {
            self.order.clone()
        };
        let first_join = self.member.as_ref().is_none_or(|m| m.generation < 0);
        if !self.cooperative() && !first_join || !revoked.is_empty() {
            self.callback("on_partitions_revoked", |l, c| l.on_partitions_revoked(c, &revoked));
        }
        let kept: Vec<TopicPartition> = self.order.iter().filter(|tp| !revoked.contains(tp)).cloned().collect();
        self.set_parts(&kept);
        Ok(())
    }

    fn take_assignment(
        &mut self,
        coordinator: &dyn GroupProtocol,
        group: &str,
        member_id: &str,
        generation: i32,
        assignment: Vec<TopicPartition>,
    ) -> Result<()> {
        if let Some(m) = &mut self.member {
            m.generation = generation;
        }
        self.last_assignment = (assignment.clone(), generation);
        if !self.cooperative() {
            self.set_parts(&assignment);
            self.next_auto_commit = Instant::now() + Duration::from_millis(self.config.auto_commit_interval_ms);
            self.callback("on_partitions_assigned", |l, c| l.on_partitions_assigned(c, &assignment));
            return Ok(());
        }
        let owned: BTreeSet<TopicPartition> = self.order.iter().cloned().collect();
        let target: BTreeSet<TopicPartition> = assignment.iter().cloned().collect();
        let revoked: Vec<TopicPartition> = owned.difference(&target).cloned().collect();
        let added: Vec<TopicPartition> = target.difference(&owned).cloned().collect();
        if !revoked.is_empty() {
            if self.config.auto_commit() {
                let _ = self.auto_commit(CommitMode::Sync);
            }
            self.callback("on_partitions_revoked", |l, c| l.on_partitions_revoked(c, &revoked));
            let kept: Vec<TopicPartition> = owned.intersection(&target).cloned().collect();
            self.set_parts(&kept);
        }
        self.set_parts(&assignment);
        self.next_auto_commit = Instant::now() + Duration::from_millis(self.config.auto_commit_interval_ms);
        self.callback("on_partitions_assigned", |l, c| l.on_partitions_assigned(c, &added));
        if !revoked.is_empty() {
            // The revoked partitions are free now: a second round gives them to their new owner.
            coordinator.release(&self.log, group, member_id, &self.order)?;
        }
        Ok(())
    }

    /// Runs a rebalance callback with the listener taken out, so that it can use the consumer.
    /// As Kafka's poll timer, `max.poll.interval.ms` runs while it does: a member stuck in a
    /// callback is removed from the group, and its partitions move on. An error or a panic of
    /// the callback is kept for the caller to return once its work is done (the first one).
    fn callback(
        &mut self,
        name: &'static str,
        f: impl FnOnce(&mut dyn RebalanceListener, &mut Consumer) -> ListenerResult,
    ) {
        let Some(mut listener) = self.listener.take() else { return };
        let polling = self.liveness.in_poll();
        if polling {
            self.liveness.leave_poll();
        }
        self.in_callback = true;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut *listener, self)));
        self.in_callback = false;
        if polling {
            self.liveness.enter_poll();
        }
        if self.listener.is_none() {
            self.listener = Some(listener);
        }
        let error = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(e)) => Error::RebalanceCallback { callback: name, reason: e.to_string(), source: Some(e) },
            Err(panic) => {
                let reason = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".into());
                Error::RebalanceCallback { callback: name, reason: format!("panicked: {reason}"), source: None }
            }
        };
        self.callback_error.get_or_insert(error);
    }

    /// The error of a rebalance callback run since the last call, if any.
    fn take_callback_error(&mut self) -> Result<()> {
        self.callback_error.take().map_or(Ok(()), Err)
    }

    /// Positions for partitions that have none: the committed offset, else `auto.offset.reset`;
    /// and the lazy seeks to the beginning or end.
    fn init_positions(&mut self) -> Result<()> {
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

    /// Hands out buffered records, up to `remaining`: at most one partition keeps a buffer
    /// from poll to poll, so this empties it before anything is fetched.
    fn drain_buffers(&mut self, remaining: &mut usize, out: &mut Vec<ConsumerRecord>) {
        let n = self.order.len();
        let start = if n == 0 { 0 } else { self.cursor % n };
        for i in 0..n {
            let state = self.parts.get_mut(&self.order[(start + i) % n]).expect("order lists parts");
            if state.buffered.front().is_some_and(|r| r.offset < state.partition.log_start_offset()) {
                // Deleted since it was fetched (retention, delete_records): not handed out;
                // the position is out of range now, and the fetch resets it.
                state.buffered.clear();
            }
            if !state.paused {
                hand_out(state, remaining, out);
            }
        }
    }

    /// Buffered records, handed out without a group step, a commit or any I/O: for the async
    /// consumer to answer on the executor's thread. `None` when the next poll has other work
    /// (an async commit to complete, auto-commit due, a wake-up) or nothing is buffered.
    #[cfg(feature = "async")]
    pub(crate) fn take_buffered(&mut self, max_records: usize) -> Option<Vec<ConsumerRecord>> {
        let other_work = self.closed
            || self.log.is_closed()
            || self.in_callback
            || self.mode == Mode::None
            || !self.pending.is_empty()
            || self.callback_error.is_some()
            || self.wakeup.load(Ordering::SeqCst)
            // The group: a rejoin asked for (a new subscription), a rebalance begun or ended,
            // a group timer due.
            || self.rejoin
            || (matches!(self.mode, Mode::Subscribed(_))
                && (self.liveness.group_changed() || self.next_check.is_some_and(|at| at <= Instant::now())))
            || (self.config.auto_commit() && Instant::now() >= self.next_auto_commit);
        if other_work || !self.parts.values().any(|s| !s.paused && !s.buffered.is_empty()) {
            return None;
        }
        let (mut remaining, mut out) = (max_records, Vec::new());
        self.drain_buffers(&mut remaining, &mut out);
        (!out.is_empty()).then_some(out)
    }

    /// Takes back records handed out that never reached the application (an async poll's
    /// outcome nobody awaited): they are buffered again, and the positions moved back to them.
    #[cfg(feature = "async")]
    pub(crate) fn give_back(&mut self, records: Vec<ConsumerRecord>) {
        for record in records.into_iter().rev() {
            let tp = TopicPartition::new(&*record.topic, record.partition);
            // Only partitions still assigned, at the position the record left them.
            let Some(state) = self.parts.get_mut(&tp) else { continue };
            if state.paused || state.position.is_none_or(|p| p <= record.offset) {
                continue;
            }
            state.position = Some(record.offset);
            state.buffered.push_front(record);
        }
    }

    /// Hands out up to `max_records` records: first those already buffered, then from fetches
    /// of the partitions with none buffered, starting at a rotating one so that a busy
    /// partition cannot starve the others. A position moves only past records handed out, so
    /// that a commit never covers a record the application did not receive; a fetch that
    /// fails skips nothing (records handed out before it are returned first, and the error
    /// comes with the next poll).
    fn collect(&mut self, max_records: usize) -> Result<Vec<ConsumerRecord>> {
        let n = self.order.len();
        let mut out = Vec::new();
        if n == 0 {
            return Ok(out);
        }
        let start = self.cursor % n;
        let mut remaining = max_records;
        self.drain_buffers(&mut remaining, &mut out);
        let mut bytes_left = self.config.fetch_max_bytes;
        let in_group = matches!(self.mode, Mode::Subscribed(_));
        for i in 0..n {
            if remaining == 0 || bytes_left == 0 {
                break;
            }
            let index = (start + i) % n;
            let tp = &self.order[index];
            let state = self.parts.get_mut(tp).expect("order lists parts");
            if state.paused || state.position.is_none() || !state.buffered.is_empty() {
                continue;
            }
            // The next fetch starts at the partition after this one.
            self.cursor = (index + 1) % n;
            let max_bytes = self.config.max_partition_fetch_bytes.min(bytes_left).max(1);
            match fill(state, tp.partition, &mut self.fetch, self.config.auto_offset_reset, max_bytes, in_group) {
                Ok(read) => bytes_left = bytes_left.saturating_sub(read),
                Err(e) if out.is_empty() => return Err(e),
                // The records handed out are the application's now; the error comes next time.
                Err(_) => break,
            }
            hand_out(state, &mut remaining, &mut out);
        }
        Ok(out)
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

    /// The current positions of every assigned partition that has one (Kafka's `allConsumed`).
    fn all_consumed(&self) -> Vec<(TopicPartition, OffsetAndMetadata)> {
        self.parts.iter().filter_map(|(tp, s)| s.position.map(|p| (tp.clone(), OffsetAndMetadata::new(p)))).collect()
    }

    fn has_uncommitted(&self) -> bool {
        self.parts.iter().any(|(tp, s)| s.position.is_some_and(|p| self.last_committed.get(tp) != Some(&p)))
    }

    fn auto_commit(&mut self, mode: CommitMode) -> Result<()> {
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
    fn complete_async_commits(&mut self) -> Result<()> {
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

    /// This member's group identity, once it has joined.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{Consumer, ConsumerConfig, Log, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 1, TopicConfig::default())?;
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("group.id", "billing")?)?;
    /// consumer.subscribe(&["orders"])?;
    /// assert_eq!(consumer.group_metadata(), None); // joins at the first poll
    /// consumer.poll(Duration::from_millis(100))?;
    /// let metadata = consumer.group_metadata().unwrap();
    /// assert_eq!(metadata.group_id, "billing");
    /// assert!(metadata.generation >= 1 && metadata.member_id.starts_with("consumer"));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn group_metadata(&self) -> Option<ConsumerGroupMetadata> {
        let m = self.member.as_ref()?;
        Some(ConsumerGroupMetadata {
            group_id: self.config.group_id.clone()?,
            generation: m.generation,
            member_id: m.id.clone(),
            group_instance_id: self.config.group_instance_id.clone(),
        })
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

    /// Revokes (or, if no longer a member, loses) every partition and leaves the group.
    fn leave_group(&mut self) -> Result<()> {
        let Some(member) = self.member.take() else { return Ok(()) };
        let partitions = self.order.clone();
        if !partitions.is_empty() || member.generation >= 0 {
            // Restored for the callback, so that it can commit.
            self.member = Some(member);
            self.callback("on_partitions_revoked", |l, c| l.on_partitions_revoked(c, &partitions));
            let member = self.member.take().expect("restored above");
            let group = self.group()?.to_owned();
            return self.coordinator()?.leave(&self.log, &group, &member.id);
        }
        let group = self.group()?.to_owned();
        self.coordinator()?.leave(&self.log, &group, &member.id)
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

/// Makes each partition durable up to the offset committed for it (clamped to its log end).
fn make_durable(data: &[(Partition, u64)]) -> Result<()> {
    // `flush_to` returns at once where the recovery point is past the offset already.
    data.iter().try_for_each(|(partition, offset)| partition.flush_to(*offset))
}

/// Moves up to `remaining` buffered records of `state` to `out`, and the position past them.
fn hand_out(state: &mut PartState, remaining: &mut usize, out: &mut Vec<ConsumerRecord>) {
    let mut moved = false;
    while *remaining > 0 {
        let Some(record) = state.buffered.pop_front() else { break };
        state.position = Some(record.offset + 1);
        out.push(record);
        *remaining -= 1;
        moved = true;
    }
    if moved && state.buffered.is_empty() {
        // Past what the fetch covered: control batches, offsets compaction removed.
        state.position = state.position.map(|p| p.max(state.fetched_to));
    }
}

/// Fetches the records of `state` from its position into its (empty) buffer, resetting an
/// out-of-range position by `auto.offset.reset`. Returns the bytes read.
fn fill(
    state: &mut PartState,
    id: u32,
    fetch: &mut Fetch,
    reset: OffsetReset,
    max_bytes: usize,
    in_group: bool,
) -> Result<usize> {
    debug_assert!(state.buffered.is_empty());
    let Some(mut position) = state.position else { return Ok(0) };
    let partition = &state.partition;
    state.fetched_to = position;
    for attempt in 0..2 {
        if position == partition.log_end_offset() && position >= partition.log_start_offset() {
            return Ok(0);
        }
        match partition.fetch(position, max_bytes, fetch) {
            Ok(()) => break,
            // Out of range (retention deleted it, or past the end): reset by auto.offset.reset
            // and read from there in this same poll.
            Err(e @ Error::OffsetOutOfRange { .. }) => {
                position = match reset {
                    OffsetReset::None => return Err(e),
                    OffsetReset::Earliest => partition.log_start_offset(),
                    OffsetReset::Latest => partition.log_end_offset(),
                };
                state.position = Some(position);
                state.fetched_to = position;
                if attempt == 1 {
                    // Moved again meanwhile (a racing delete): the next poll tries again.
                    return Ok(0);
                }
            }
            // Its topic was deleted: the group rebalances it away at the next check-in.
            Err(Error::Closed { .. }) if in_group => return Ok(0),
            Err(e) => return Err(e),
        }
    }
    let mut next = fetch.next_offset().max(position);
    for record in fetch.records() {
        let record = match record {
            Ok(r) => r,
            // Records before the damage are served; the fetch from after them fails again,
            // with the located error, once they are handed out.
            Err(_) if !state.buffered.is_empty() => {
                next = state.buffered.back().map_or(position, |r| r.offset + 1);
                break;
            }
            Err(e) => return Err(e),
        };
        if record.offset() < position {
            continue;
        }
        let owned = record.to_owned();
        state.buffered.push_back(ConsumerRecord {
            topic: state.topic.clone(),
            partition: id,
            offset: owned.offset,
            timestamp: owned.timestamp,
            timestamp_type: record.timestamp_type(),
            key: owned.key,
            value: owned.value,
            headers: owned.headers,
        });
    }
    state.fetched_to = next;
    if state.buffered.is_empty() {
        // Nothing to hand out (control batches, offsets compaction removed): past it.
        state.position = Some(next);
    }
    Ok(fetch.raw_batches().len())
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
