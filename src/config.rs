//! Topic configuration, with Kafka's topic config names and defaults (`LogConfig.java`,
//! `TopicConfig.java`), persisted as Kafka-style `key=value` properties.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::format::batch::{TimestampType, HEADER_LEN};
use crate::format::codec::Compression;
use crate::segment::index::{IndexEntry, OffsetEntry, TimeEntry};

/// `cleanup.policy`: what happens to old segments.
///
/// # Example
/// ```
/// use partlog::{CleanupPolicy, TopicConfig};
/// let config = TopicConfig::default();
/// assert_eq!(config.cleanup_policy, CleanupPolicy::Delete); // Kafka's default
/// let config = config.set("cleanup.policy", "compact")?;
/// assert_eq!(config.cleanup_policy, CleanupPolicy::Compact);
/// assert_eq!(CleanupPolicy::CompactDelete.to_string(), "compact,delete");
/// assert!(config.set("cleanup.policy", "archive").is_err());
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CleanupPolicy {
    /// Delete segments past `retention.ms` / `retention.bytes` (Kafka's default).
    #[default]
    Delete,
    /// Keep the latest record per key (log compaction).
    Compact,
    /// Both: compact, and delete what is past retention.
    CompactDelete,
}

impl CleanupPolicy {
    /// Whether compaction applies.
    ///
    /// # Example
    /// ```
    /// use partlog::CleanupPolicy;
    /// assert!(CleanupPolicy::Compact.compacts() && !CleanupPolicy::Compact.deletes());
    /// assert!(CleanupPolicy::CompactDelete.compacts() && CleanupPolicy::CompactDelete.deletes());
    /// assert!(!CleanupPolicy::Delete.compacts());
    /// ```
    pub fn compacts(self) -> bool {
        self != CleanupPolicy::Delete
    }

    /// Whether time and size retention apply.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::sync::Arc;
    /// use partlog::{CleanupPolicy, Log, LogOptions, ManualClock, Record, TopicConfig};
    /// let log = Log::open_with(dir.path(), LogOptions::default().clock(Arc::new(ManualClock::new(1_000_000))))?;
    /// for (name, policy) in [("kept", CleanupPolicy::Compact), ("aged", CleanupPolicy::CompactDelete)] {
    ///     let mut config = TopicConfig::default();
    ///     (config.cleanup_policy, config.retention_ms) = (policy, 60_000);
    ///     let p = log.create_topic(name, 1, config)?.partition(0)?;
    ///     p.append(&[Record::new(b"v").with_key(b"k").with_timestamp(0)])?; // far past retention.ms
    ///     p.roll()?;
    ///     assert_eq!(p.enforce_retention()?.is_some(), policy.deletes()); // deleted only if it deletes
    /// }
    /// assert!(!CleanupPolicy::Compact.deletes() && CleanupPolicy::Delete.deletes());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn deletes(self) -> bool {
        self != CleanupPolicy::Compact
    }
}

impl fmt::Display for CleanupPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CleanupPolicy::Delete => "delete",
            CleanupPolicy::Compact => "compact",
            CleanupPolicy::CompactDelete => "compact,delete",
        })
    }
}

/// `compression.type` of a topic.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{BatchHeader, Compression, CompressionType, Log, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let config = TopicConfig::default();
/// assert_eq!(config.compression_type, CompressionType::Producer);
/// let config = config.set("compression.type", "gzip")?;
/// assert_eq!(config.compression_type, CompressionType::Codec(Compression::Gzip));
/// let p = log.create_topic("t", 1, config)?.partition(0)?;
/// p.append(&[Record::new(b"a")])?;
/// let mut raw = Vec::new();
/// p.read_raw(0, 1 << 20, &mut raw)?;
/// assert_eq!(BatchHeader::parse(&raw).unwrap().compression(), Some(Compression::Gzip));
/// assert_eq!(CompressionType::Codec(Compression::None).to_string(), "uncompressed");
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CompressionType {
    /// Kafka's default: keep the producer's codec. Batches built by
    /// [`Partition::append`](crate::Partition::append) are uncompressed.
    #[default]
    Producer,
    /// Compress batches built by [`Partition::append`](crate::Partition::append) with this codec
    /// (`uncompressed`, `gzip`, `snappy`, `lz4`, `zstd`).
    Codec(Compression),
}

impl CompressionType {
    /// The codec `append` encodes with.
    ///
    /// # Example
    /// ```
    /// use partlog::{Compression, CompressionType};
    /// assert_eq!(CompressionType::Producer.codec(), Compression::None); // append does not compress
    /// assert_eq!(CompressionType::Codec(Compression::Gzip).codec(), Compression::Gzip);
    /// ```
    pub fn codec(self) -> Compression {
        match self {
            CompressionType::Producer => Compression::None,
            CompressionType::Codec(c) => c,
        }
    }
}

impl fmt::Display for CompressionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompressionType::Producer => f.write_str("producer"),
            CompressionType::Codec(Compression::None) => f.write_str("uncompressed"),
            CompressionType::Codec(c) => c.fmt(f),
        }
    }
}

/// The per-topic configuration, field by field Kafka's topic configs of the same name.
///
/// Start from [`TopicConfig::default`] (Kafka's defaults) and change fields, or set them by their
/// Kafka names with [`set`](Self::set). Checked by [`validate`](Self::validate) when a topic is
/// created.
///
/// # Example
/// ```
/// use partlog::{Compression, CompressionType, TopicConfig};
/// let config = TopicConfig::default();
/// assert_eq!(config.segment_bytes, 1 << 30);
/// let config = config.set("compression.type", "lz4")?.set("retention.ms", "3600000")?;
/// assert_eq!(config.compression_type, CompressionType::Codec(Compression::Lz4));
///
/// let text = config.to_properties();
/// assert!(text.contains("retention.ms=3600000\n"));
/// assert_eq!(TopicConfig::from_properties(&text)?, config);
/// assert!(config.set("segment.bytes", "12").is_err());
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TopicConfig {
    /// `cleanup.policy` (default `delete`).
    pub cleanup_policy: CleanupPolicy,
    /// `compression.type` (default `producer`).
    pub compression_type: CompressionType,
    /// `compression.gzip.level`, 1..=9 (default 6, Java's `DEFAULT_COMPRESSION`).
    pub compression_gzip_level: u32,
    /// `compression.zstd.level`, −131072..=22 (default 3).
    pub compression_zstd_level: i32,
    /// `delete.retention.ms`: how long tombstones survive compaction (default 1 day).
    pub delete_retention_ms: i64,
    /// `file.delete.delay.ms`: wait before deleting `.deleted` files (default 60 s).
    pub file_delete_delay_ms: i64,
    /// `flush.messages`: fsync after this many unflushed records (default `i64::MAX`, never).
    pub flush_messages: i64,
    /// `flush.ms`: fsync when the last flush is this old (default `i64::MAX`, never).
    pub flush_ms: i64,
    /// `index.interval.bytes`: bytes between sparse index entries (default 4096).
    pub index_interval_bytes: u32,
    /// `max.compaction.lag.ms` (default `i64::MAX`).
    pub max_compaction_lag_ms: i64,
    /// `max.message.bytes`: largest batch, including its 12-byte log overhead (default 1048588).
    pub max_message_bytes: u32,
    /// `message.timestamp.type`: `CreateTime` (default) or `LogAppendTime`.
    pub message_timestamp_type: TimestampType,
    /// `min.cleanable.dirty.ratio`, 0..=1 (default 0.5).
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms` (default 0).
    pub min_compaction_lag_ms: i64,
    /// `retention.bytes` per partition; −1 = unlimited (default −1).
    pub retention_bytes: i64,
    /// `retention.ms`; −1 = unlimited (default 7 days).
    pub retention_ms: i64,
    /// `segment.bytes`: roll when a segment would pass this size (default 1 GiB).
    pub segment_bytes: u32,
    /// `segment.index.bytes`: preallocated size of each index (default 10 MiB).
    pub segment_index_bytes: u32,
    /// `segment.jitter.ms` (default 0).
    pub segment_jitter_ms: i64,
    /// `segment.ms`: roll when record timestamps span this long (default 7 days).
    pub segment_ms: i64,
}

impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig {
            cleanup_policy: CleanupPolicy::Delete,
            compression_type: CompressionType::Producer,
            compression_gzip_level: 6,
            compression_zstd_level: 3,
            delete_retention_ms: 86_400_000,
            file_delete_delay_ms: 60_000,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            index_interval_bytes: 4096,
            max_compaction_lag_ms: i64::MAX,
            max_message_bytes: 1_048_588,
            message_timestamp_type: TimestampType::CreateTime,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            retention_bytes: -1,
            retention_ms: 604_800_000,
            segment_bytes: 1 << 30,
            segment_index_bytes: 10 * 1024 * 1024,
            segment_jitter_ms: 0,
            segment_ms: 604_800_000,
        }
    }
}

impl TopicConfig {
    /// The config for an event store: history is kept forever. Kafka's defaults delete records
    /// after 7 days (`retention.ms`), which an event-sourced application replaying its history
    /// must never let happen; here `retention.ms` and `retention.bytes` are -1 (no limit) and the
    /// rest is the default (`cleanup.policy=delete`, so nothing is compacted away either).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let events = log.create_topic("account-events", 4, TopicConfig::event_store())?;
    /// assert_eq!((events.config().retention_ms, events.config().retention_bytes), (-1, -1));
    /// assert_eq!(TopicConfig::default().retention_ms, 7 * 24 * 3_600_000); // Kafka's default
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn event_store() -> TopicConfig {
        TopicConfig { retention_ms: -1, retention_bytes: -1, ..TopicConfig::default() }
    }
}

/// The smallest `segment.bytes`: one minimal batch must fit.
pub const MIN_SEGMENT_BYTES: u32 = HEADER_LEN as u32;
/// The smallest `segment.index.bytes`: room for a few entries of either index.
pub const MIN_SEGMENT_INDEX_BYTES: u32 = 4 * TimeEntry::SIZE as u32;
const _: () = assert!(MIN_SEGMENT_INDEX_BYTES as usize >= 4 * OffsetEntry::SIZE);
/// Segment files use int32 positions, as Kafka's do.
pub const MAX_SEGMENT_BYTES: u32 = crate::segment::MAX_SEGMENT_BYTES as u32;
const _: () = assert!(MAX_SEGMENT_BYTES as u64 == crate::segment::MAX_SEGMENT_BYTES);

/// Every config name partlog knows, in the order `to_properties` writes them.
pub const CONFIG_NAMES: [&str; 20] = [
    "cleanup.policy",
    "compression.gzip.level",
    "compression.type",
    "compression.zstd.level",
    "delete.retention.ms",
    "file.delete.delay.ms",
    "flush.messages",
    "flush.ms",
    "index.interval.bytes",
    "max.compaction.lag.ms",
    "max.message.bytes",
    "message.timestamp.type",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.index.bytes",
    "segment.jitter.ms",
    "segment.ms",
];

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> Error {
    Error::InvalidConfig { key: key.into(), value: value.into(), reason: reason.into() }
}

fn number<T: FromStr>(key: &str, value: &str) -> Result<T> {
    value.parse().map_err(|_| invalid(key, value, "not a number in range"))
}

impl TopicConfig {
    /// Sets one config by its Kafka name, checking the value; returns the changed config, to
    /// chain, as `ProducerConfig::set` and `ConsumerConfig::set` do.
    ///
    /// # Example
    /// ```
    /// use partlog::{CleanupPolicy, TopicConfig};
    /// let config = TopicConfig::default().set("cleanup.policy", "delete,compact")?.set("retention.ms", "-1")?;
    /// assert_eq!((config.cleanup_policy, config.retention_ms), (CleanupPolicy::CompactDelete, -1));
    /// // A bad value or an unknown name is refused, naming the key and the value.
    /// assert!(config.clone().set("min.cleanable.dirty.ratio", "1.5").is_err());
    /// assert!(config.clone().set("no.such.config", "1").is_err());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn set(mut self, key: &str, value: &str) -> Result<Self> {
        self.set_unchecked(key, value.trim())?;
        self.validate()?;
        Ok(self)
    }

    fn set_unchecked(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "cleanup.policy" => {
                let mut parts: Vec<&str> = value.split(',').map(str::trim).collect();
                parts.sort_unstable();
                self.cleanup_policy = match parts.as_slice() {
                    ["delete"] => CleanupPolicy::Delete,
                    ["compact"] => CleanupPolicy::Compact,
                    ["compact", "delete"] => CleanupPolicy::CompactDelete,
                    _ => return Err(invalid(key, value, "expected delete, compact or compact,delete")),
                }
            }
            "compression.type" => {
                self.compression_type = match value {
                    "producer" => CompressionType::Producer,
                    other => CompressionType::Codec(other.parse().map_err(|_| {
                        invalid(key, value, "expected producer, uncompressed, gzip, snappy, lz4 or zstd")
                    })?),
                }
            }
            "compression.gzip.level" => self.compression_gzip_level = number(key, value)?,
            "compression.zstd.level" => self.compression_zstd_level = number(key, value)?,
            "delete.retention.ms" => self.delete_retention_ms = number(key, value)?,
            "file.delete.delay.ms" => self.file_delete_delay_ms = number(key, value)?,
            "flush.messages" => self.flush_messages = number(key, value)?,
            "flush.ms" => self.flush_ms = number(key, value)?,
            "index.interval.bytes" => self.index_interval_bytes = number(key, value)?,
            "max.compaction.lag.ms" => self.max_compaction_lag_ms = number(key, value)?,
            "max.message.bytes" => self.max_message_bytes = number(key, value)?,
            "message.timestamp.type" => {
                self.message_timestamp_type = match value {
                    "CreateTime" => TimestampType::CreateTime,
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    _ => return Err(invalid(key, value, "expected CreateTime or LogAppendTime")),
                }
            }
            "min.cleanable.dirty.ratio" => self.min_cleanable_dirty_ratio = number(key, value)?,
            "min.compaction.lag.ms" => self.min_compaction_lag_ms = number(key, value)?,
            "retention.bytes" => self.retention_bytes = number(key, value)?,
            "retention.ms" => self.retention_ms = number(key, value)?,
            "segment.bytes" => self.segment_bytes = number(key, value)?,
            "segment.index.bytes" => self.segment_index_bytes = number(key, value)?,
            "segment.jitter.ms" => self.segment_jitter_ms = number(key, value)?,
            "segment.ms" => self.segment_ms = number(key, value)?,
            _ => return Err(invalid(key, value, "unknown topic config")),
        }
        Ok(())
    }

    /// The value of a config by its Kafka name, as it would be written to properties.
    ///
    /// # Example
    /// ```
    /// use partlog::TopicConfig;
    /// let config = TopicConfig::default();
    /// assert_eq!(config.get("retention.ms").as_deref(), Some("604800000"));
    /// assert_eq!(config.get("message.timestamp.type").as_deref(), Some("CreateTime"));
    /// assert_eq!(config.get("no.such.config"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<String> {
        Some(match key {
            "cleanup.policy" => self.cleanup_policy.to_string(),
            "compression.gzip.level" => self.compression_gzip_level.to_string(),
            "compression.type" => self.compression_type.to_string(),
            "compression.zstd.level" => self.compression_zstd_level.to_string(),
            "delete.retention.ms" => self.delete_retention_ms.to_string(),
            "file.delete.delay.ms" => self.file_delete_delay_ms.to_string(),
            "flush.messages" => self.flush_messages.to_string(),
            "flush.ms" => self.flush_ms.to_string(),
            "index.interval.bytes" => self.index_interval_bytes.to_string(),
            "max.compaction.lag.ms" => self.max_compaction_lag_ms.to_string(),
            "max.message.bytes" => self.max_message_bytes.to_string(),
            "message.timestamp.type" => match self.message_timestamp_type {
                TimestampType::CreateTime => "CreateTime".into(),
                TimestampType::LogAppendTime => "LogAppendTime".into(),
            },
            "min.cleanable.dirty.ratio" => self.min_cleanable_dirty_ratio.to_string(),
            "min.compaction.lag.ms" => self.min_compaction_lag_ms.to_string(),
            "retention.bytes" => self.retention_bytes.to_string(),
            "retention.ms" => self.retention_ms.to_string(),
            "segment.bytes" => self.segment_bytes.to_string(),
            "segment.index.bytes" => self.segment_index_bytes.to_string(),
            "segment.jitter.ms" => self.segment_jitter_ms.to_string(),
            "segment.ms" => self.segment_ms.to_string(),
            _ => return None,
        })
    }

    /// Checks every value against its allowed range, and the limits against each other.
    ///
    /// # Example
    /// ```
    /// use partlog::{Error, TopicConfig};
    /// let mut config = TopicConfig::default();
    /// assert!(config.validate().is_ok());
    /// config.flush_messages = 0; // fields set directly are checked here (and by create_topic)
    /// assert!(matches!(config.validate(), Err(Error::InvalidConfig { key, .. }) if key == "flush.messages"));
    /// ```
    pub fn validate(&self) -> Result<()> {
        let check = |ok: bool, key: &str, reason: &str| {
            if ok {
                Ok(())
            } else {
                Err(invalid(key, &self.get(key).unwrap_or_default(), reason))
            }
        };
        check((1..=9).contains(&self.compression_gzip_level), "compression.gzip.level", "must be 1..=9")?;
        check(
            (-131_072..=22).contains(&self.compression_zstd_level),
            "compression.zstd.level",
            "must be -131072..=22",
        )?;
        check(self.compression_type.codec().is_available(), "compression.type", "zstd needs the `zstd` cargo feature")?;
        check(self.delete_retention_ms >= 0, "delete.retention.ms", "must be >= 0")?;
        check(self.file_delete_delay_ms >= 0, "file.delete.delay.ms", "must be >= 0")?;
        check(self.flush_messages >= 1, "flush.messages", "must be >= 1")?;
        check(self.flush_ms >= 0, "flush.ms", "must be >= 0")?;
        check(self.max_compaction_lag_ms >= 1, "max.compaction.lag.ms", "must be >= 1")?;
        check(self.max_message_bytes as usize >= HEADER_LEN, "max.message.bytes", "must hold a 61-byte batch header")?;
        check(self.max_message_bytes <= MAX_SEGMENT_BYTES, "max.message.bytes", "must be <= 2147483647")?;
        check(
            (0.0..=1.0).contains(&self.min_cleanable_dirty_ratio),
            "min.cleanable.dirty.ratio",
            "must be between 0 and 1",
        )?;
        check(self.min_compaction_lag_ms >= 0, "min.compaction.lag.ms", "must be >= 0")?;
        check(self.retention_bytes >= -1, "retention.bytes", "must be >= -1")?;
        check(self.retention_ms >= -1, "retention.ms", "must be >= -1")?;
        check(
            (MIN_SEGMENT_BYTES..=MAX_SEGMENT_BYTES).contains(&self.segment_bytes),
            "segment.bytes",
            "must be 61..=2147483647",
        )?;
        check(
            (MIN_SEGMENT_INDEX_BYTES..=MAX_SEGMENT_BYTES).contains(&self.segment_index_bytes),
            "segment.index.bytes",
            "must be 48..=2147483647",
        )?;
        check(self.segment_jitter_ms >= 0, "segment.jitter.ms", "must be >= 0")?;
        check(self.segment_ms >= 1, "segment.ms", "must be >= 1")?;
        Ok(())
    }

    /// Kafka-style properties text, one `key=value` line per config, sorted by key.
    ///
    /// # Example
    /// ```
    /// use partlog::TopicConfig;
    /// let text = TopicConfig::event_store().to_properties();
    /// assert!(text.starts_with('#'));
    /// assert!(text.lines().any(|l| l == "retention.ms=-1"));
    /// assert!(text.lines().any(|l| l == "cleanup.policy=delete"));
    /// ```
    pub fn to_properties(&self) -> String {
        let mut out = String::from("# partlog topic config (Kafka topic config names)\n");
        for key in CONFIG_NAMES {
            out.push_str(key);
            out.push('=');
            out.push_str(&self.get(key).expect("every listed name has a value"));
            out.push('\n');
        }
        out
    }

    /// Parses properties text: `key=value` (or `key: value`) lines, `#` and `!` comments,
    /// unset keys keep their defaults. Unknown keys and bad values are errors.
    ///
    /// # Example
    /// ```
    /// use partlog::TopicConfig;
    /// let config = TopicConfig::from_properties("# comment\n! another\nretention.ms=1000\nsegment.ms: 60000\n")?;
    /// assert_eq!((config.retention_ms, config.segment_ms), (1000, 60_000));
    /// assert_eq!(config.segment_bytes, TopicConfig::default().segment_bytes); // unset: the default
    /// assert!(TopicConfig::from_properties("retention.ms=soon").is_err());
    /// assert!(TopicConfig::from_properties("no.such.config=1").is_err());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn from_properties(text: &str) -> Result<TopicConfig> {
        let mut config = TopicConfig::default();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let Some(split) = line.find(['=', ':']) else {
                return Err(invalid(line, "", "expected key=value"));
            };
            config.set_unchecked(line[..split].trim(), line[split + 1..].trim())?;
        }
        config.validate()?;
        Ok(config)
    }

    pub(crate) fn codec_levels(&self) -> crate::format::codec::Levels {
        crate::format::codec::Levels { gzip: self.compression_gzip_level, zstd: self.compression_zstd_level }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas() {
        let c = TopicConfig::default();
        assert_eq!(c.max_message_bytes, 1_048_588);
        assert_eq!(c.retention_ms, 7 * 24 * 3600 * 1000);
        assert_eq!(c.segment_index_bytes, 10_485_760);
        assert_eq!(c.index_interval_bytes, 4096);
        assert_eq!(c.cleanup_policy, CleanupPolicy::Delete);
        c.validate().unwrap();
    }

    #[test]
    fn every_name_round_trips_through_properties() {
        let c = TopicConfig::default()
            .set("cleanup.policy", "delete,compact")
            .unwrap()
            .set("message.timestamp.type", "LogAppendTime")
            .unwrap()
            .set("min.cleanable.dirty.ratio", "0.25")
            .unwrap()
            .set("compression.type", "uncompressed")
            .unwrap();
        let text = c.to_properties();
        for key in CONFIG_NAMES {
            assert!(text.contains(&format!("\n{key}=")), "{key} missing");
        }
        assert_eq!(TopicConfig::from_properties(&text).unwrap(), c);
        assert_eq!(c.get("cleanup.policy").unwrap(), "compact,delete");
    }

    #[test]
    fn bad_values_and_unknown_keys_are_rejected_with_the_key() {
        let c = TopicConfig::default();
        for (key, value) in [
            ("segment.bytes", "60"),
            ("segment.bytes", "3000000000"),
            ("retention.ms", "-2"),
            ("cleanup.policy", "archive"),
            ("compression.gzip.level", "10"),
            ("min.cleanable.dirty.ratio", "1.5"),
            ("no.such.config", "1"),
            ("segment.ms", "soon"),
        ] {
            match c.clone().set(key, value) {
                Err(Error::InvalidConfig { key: k, .. }) => assert_eq!(k, key),
                other => panic!("{key}={value}: {other:?}"),
            }
        }
        assert!(TopicConfig::from_properties("segment.bytes\n").is_err());
        let parsed = TopicConfig::from_properties("# comment\n! other\n segment.ms : 1000 \n").unwrap();
        assert_eq!(parsed.segment_ms, 1000);
    }
}
