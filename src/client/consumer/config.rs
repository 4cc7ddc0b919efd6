//! The consumer's settings (Kafka's `ConsumerConfig`): [`ConsumerConfig`] and
//! [`OffsetReset`].

use crate::coordinator::assignor::Assignor;
use crate::error::{Error, Result};

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

    pub(super) fn auto_commit(&self) -> bool {
        self.group_id.is_some() && self.enable_auto_commit.unwrap_or(true)
    }
}
