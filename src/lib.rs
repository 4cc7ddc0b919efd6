//! # partlog
//!
//! Apache Kafka as an embeddable library: topics of partitions of append-only, offset-addressed
//! records, stored in Kafka's own segment format (RecordBatch v2 `.log`, `.index`,
//! `.timeindex`), byte for byte, and Kafka's client half (producers, consumers, consumer groups
//! with committed offsets), all in-process: no broker, no network.
//!
//! ## The storage half: a log of topics
//!
//! A [`Log`] is a data directory (Kafka's `log.dir`). Its [`Topic`]s, configured with Kafka's
//! names and defaults ([`TopicConfig`]), hold [`Partition`]s: append batches, read offset ranges
//! back (copied with [`Partition::read`], or borrowed with [`Fetch`]), look offsets up by time,
//! wait for new records, let retention and compaction run, and recover from a crash without
//! losing an acknowledged record ([`Log::recovery_report`] says what was cut and why).
//!
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! use partlog::{Compression, CompressionType, Log, Record, TopicConfig};
//!
//! let log = Log::open(dir.path())?;
//! let config = TopicConfig::default().set("compression.type", "lz4")?;
//! assert_eq!(config.compression_type, CompressionType::Codec(Compression::Lz4));
//! let topic = log.create_topic("events", 4, config)?;
//! let p = topic.partition(0)?;
//!
//! // Append a batch: offsets are assigned densely, all or nothing.
//! let info = p.append(&[
//!     Record::new(b"signed up").with_key(b"user-1"),
//!     Record::new(b"logged in").with_key(b"user-1"),
//! ])?;
//! assert_eq!((info.first_offset, info.last_offset), (0, 1));
//!
//! // Read an offset range back.
//! let records = p.read(0, 1 << 20)?;
//! assert_eq!(records[1].value.as_deref(), Some(&b"logged in"[..]));
//! # Ok::<(), partlog::Error>(())
//! ```
//!
//! ## The client half: producers, consumers, groups
//!
//! The API of Kafka's clients (and rust-rdkafka's names), over a `Log`: a [`Producer`] batches
//! and partitions records (Kafka's partitioner, `linger.ms`, `delivery.timeout.ms`, outcomes as
//! futures or callbacks); a [`Consumer`] reads assigned partitions or joins a consumer group,
//! whose members share the partitions, rebalance ([`RebalanceListener`]) and resume from the
//! offsets committed in `__consumer_offsets`. [`TypedProducer`] and [`TypedConsumer`] add
//! serdes; [`Admin`] lists, describes, resets and deletes groups; with the `async` feature,
//! `AsyncConsumer` is a future and a `Stream` for any executor.
//!
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! use std::time::Duration;
//! use partlog::{Consumer, ConsumerConfig, Log, Producer, ProducerConfig, ProducerRecord, TopicConfig};
//!
//! let log = Log::open(dir.path())?;
//! log.create_topic("orders", 3, TopicConfig::default())?;
//! let producer = Producer::new(&log, ProducerConfig::default())?;
//! for i in 0..10 {
//!     producer.send(ProducerRecord::new("orders", format!("order {i}")).key(b"customer-7".to_vec()));
//! }
//! producer.flush()?; // every record delivered (or failed, with its record)
//!
//! let config = ConsumerConfig::default()
//!     .set("group.id", "billing")?
//!     .set("auto.offset.reset", "earliest")?
//!     .set("enable.auto.commit", "false")?;
//! let mut consumer = Consumer::new(&log, config)?;
//! consumer.subscribe(&["orders"])?;
//! let mut seen = 0;
//! while seen < 10 {
//!     seen += consumer.poll(Duration::from_secs(5))?.len(); // one key: one partition, in order
//! }
//! consumer.commit_sync()?; // the group resumes here; the data below is durable first
//! # Ok::<(), partlog::Error>(())
//! ```
//!
//! ## The layers
//!
//! Each uses only the ones below it (the source tree's design notes have the file map, the
//! import direction and the lock order):
//!
//! - `format`: the RecordBatch v2 format, pure (bytes in, values out): [`batch`], [`Record`],
//!   [`Compression`];
//! - `storage`: the [`Io`] seam for writes and fsyncs, file names, and all memory-mapped access;
//! - `segment`: one data file with its sparse indexes, [`Segment`] and [`Index`] (read-only
//!   outside the crate);
//! - `partition`: the segments of one `<topic>-<partition>` directory: [`Partition`] (appends,
//!   reads and [`Fetch`], tailing, retention, compaction, truncation, recovery);
//! - `log`: a data directory of topics, [`Log`] and [`Topic`] with their [`TopicConfig`];
//! - `coordinator`: the group coordinator, the broker's side of consumer groups (the classic
//!   protocol, [`Assignor`]s, committed offsets in `__consumer_offsets`), with the values the
//!   clients share with it ([`TopicPartition`], [`OffsetAndMetadata`], [`GroupState`]);
//! - `client`: Kafka's client half over the public API of the layers below; a consumer reaches
//!   its group only through the coordinator's group protocol.
//!
//! Nothing read from disk or handed in by a caller can make partlog panic: every problem is an
//! [`Error`] that says what was wrong and where.

#![deny(missing_docs)]
#![forbid(unsafe_op_in_unsafe_fn)]

mod client;
mod clock;
mod compaction;
mod config;
mod coordinator;
mod error;
mod format;
mod log;
mod partition;
mod segment;
mod storage;

pub use format::batch;

/// The records of `__consumer_offsets` in Kafka's schemas, decoded, for the `partlog` command's
/// `dump --offsets-decoder` (as Kafka's tools read them with its coordinator's classes). Not
/// part of the stable API: it may change in any release.
#[doc(hidden)]
pub mod offsets_topic_records {
    pub use crate::coordinator::schema::{
        assignment_decode, decode, subscription_decode, CoordinatorRecord, DecodeError, GroupValue, MemberValue,
        OffsetValue, Subscription,
    };
}

pub use batch::{BatchHeader, TimestampType};
pub use client::admin::Admin;
#[cfg(feature = "async")]
pub use client::asynchronous::{AsyncConsumer, PollFuture, RecordStream};
pub use client::consumer::{
    CommitMode, Consumer, ConsumerConfig, ConsumerGroupMetadata, ConsumerRecord, ListenerResult, OffsetReset,
    RebalanceListener, WakeupHandle,
};
pub use client::producer::{
    DeliveryError, DeliveryFuture, DeliveryResult, Partitioner, Producer, ProducerConfig, ProducerRecord,
    ProducerTopic, RecordMetadata,
};
#[cfg(feature = "json")]
pub use client::serialization::JsonSerde;
pub use client::serialization::{
    ByteArraySerde, DoubleSerde, FloatSerde, IntegerSerde, LongSerde, Serde, ShortSerde, StringSerde, TypedConsumer,
    TypedProducer, TypedRecord,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{CleanupPolicy, CompressionType, TopicConfig};
pub use coordinator::assignor::Assignor;
pub use coordinator::describe::{GroupDescription, MemberDescription, PartitionLag};
pub use coordinator::types::{GroupState, OffsetAndMetadata, TopicPartition};
pub use error::{Error, FormatError, Result};
pub use format::codec::Compression;
pub use format::record::{Header, Headers, OwnedHeader, OwnedRecord, Record, RecordRef};
/// The `futures-core` whose `Stream` [`RecordStream`] implements.
#[cfg(feature = "async")]
pub use futures_core;
pub use log::topic::{validate_topic_name, Topic, MAX_PARTITIONS, MAX_TOPIC_NAME_LEN};
pub use log::{Log, LogOptions, RecoveryMode};
pub use partition::{
    AppendInfo, AppendSignal, CompactionOutcome, Fetch, Partition, Records, RecoveryEvent, RetentionOutcome,
    TimestampOffset, Watch,
};
pub use segment::index::{Index, IndexEntry, OffsetEntry, TimeEntry};
pub use segment::Segment;
pub use storage::files::segment_file_name;
pub use storage::io::{FaultyIo, Io, OsIo};

/// The README's code, compiled and run as doc tests (`cargo test --doc`), so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
