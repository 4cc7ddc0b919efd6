//! # partlog
//!
//! Apache Kafka's storage engine as an embeddable library: topics of partitions of
//! append-only, offset-addressed records, stored in Kafka's own segment format
//! (RecordBatch v2 `.log`, `.index`, `.timeindex`), byte for byte, in-process.
//!
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! use partlog::{Compression, CompressionType, Log, Record, TopicConfig};
//!
//! let log = Log::open(dir.path())?;
//! let mut config = TopicConfig::default();
//! config.compression_type = CompressionType::Codec(Compression::Lz4);
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
//! The layers, each using only the ones below it (the source tree's design notes have the file
//! map, the import direction and the lock order):
//!
//! - `format`: the RecordBatch v2 format, pure (bytes in, values out): [`batch`], [`Record`],
//!   [`Compression`];
//! - `storage`: the [`Io`] seam for writes and fsyncs, file names, and all memory-mapped access;
//! - `segment`: one data file with its sparse indexes, [`Segment`] and [`Index`] (read-only
//!   outside the crate);
//! - `partition`: the segments of one `<topic>-<partition>` directory: [`Partition`] (appends,
//!   reads and [`Fetch`], tailing, retention, compaction, truncation, recovery);
//! - `log`: a data directory of topics, [`Log`] and [`Topic`] with their [`TopicConfig`].
//!
//! Nothing read from disk or handed in by a caller can make partlog panic: every problem is an
//! [`Error`] that says what was wrong and where.

#![deny(missing_docs)]
#![forbid(unsafe_op_in_unsafe_fn)]

mod client;
mod clock;
mod compaction;
mod config;
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
    pub use crate::client::schema::{
        assignment_decode, decode, subscription_decode, CoordinatorRecord, DecodeError, GroupValue, MemberValue,
        OffsetValue, Subscription,
    };
}

pub use batch::{BatchHeader, TimestampType};
pub use client::admin::Admin;
pub use client::assignor::Assignor;
#[cfg(feature = "async")]
pub use client::asynchronous::{AsyncConsumer, PollFuture, RecordStream};
pub use client::consumer::{
    CommitMode, Consumer, ConsumerConfig, ConsumerGroupMetadata, ConsumerRecord, ListenerResult, OffsetReset,
    RebalanceListener, WakeupHandle,
};
pub use client::group::{
    GroupDescription, GroupState, MemberDescription, OffsetAndMetadata, PartitionLag, TopicPartition,
};
pub use client::producer::{
    DeliveryError, DeliveryFuture, DeliveryResult, Partitioner, Producer, ProducerConfig, ProducerRecord,
    RecordMetadata,
};
#[cfg(feature = "json")]
pub use client::serialization::JsonSerde;
pub use client::serialization::{
    ByteArraySerde, DoubleSerde, FloatSerde, IntegerSerde, LongSerde, Serde, ShortSerde, StringSerde, TypedConsumer,
    TypedProducer, TypedRecord,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{CleanupPolicy, CompressionType, TopicConfig};
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
