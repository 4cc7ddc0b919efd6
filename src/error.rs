//! The one error type of the crate, and the format errors it carries.
//!
//! Two kinds of failure (see `docs/design.md`): operating errors — I/O, corruption, a full disk, a
//! bad offset or bad bytes from a caller — are values of [`Error`]; a violated internal invariant
//! is a bug and panics. No input, from disk or from a caller, panics.

use std::io;
use std::path::PathBuf;

use crate::format::codec::Compression;

/// A specialised `Result` whose error is [`Error`].
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Error, Log, Record, TopicConfig};
/// fn end_of(log: &Log, topic: &str) -> partlog::Result<u64> {
///     Ok(log.partition(topic, 0)?.log_end_offset())
/// }
/// let log = Log::open(dir.path())?;
/// log.create_topic("t", 1, TopicConfig::default())?.partition(0)?.append(&[Record::new(b"a")])?;
/// assert_eq!(end_of(&log, "t")?, 1);
/// assert!(matches!(end_of(&log, "missing"), Err(Error::UnknownTopic { .. })));
/// let other: partlog::Result<u8, std::num::ParseIntError> = "300".parse(); // another error type
/// assert!(other.is_err());
/// # Ok::<(), partlog::Error>(())
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in partlog, with what and where.
///
/// `Display` says what happened and, where it helps, what to do next. The enum is
/// `#[non_exhaustive]`: match the variants you handle, and keep a catch-all arm.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Error, Log, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
/// p.append(&[Record::new(b"a")])?;
/// let from = match p.read(5, 1 << 20) {
///     Ok(_) => unreachable!("offset 5 is past the end"),
///     // Out of range: start again where the log has records (Kafka's auto.offset.reset).
///     Err(Error::OffsetOutOfRange { log_start_offset, log_end_offset, .. }) => {
///         assert_eq!((log_start_offset, log_end_offset), (0, 1));
///         log_start_offset
///     }
///     // Bytes on disk failed a check: the file and position say where.
///     Err(Error::CorruptBatch { path, position, .. }) => panic!("damage in {} at {position}", path.display()),
///     Err(other) => return Err(other),
/// };
/// assert_eq!(p.read(from, 1 << 20)?.len(), 1);
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The requested offset is outside the partition's readable range
    /// `[log_start_offset, log_end_offset]`.
    #[error(
        "offset {offset} is out of range for {topic}-{partition}: readable offsets are \
         {log_start_offset}..{log_end_offset} (log start offset inclusive, log end offset exclusive)"
    )]
    OffsetOutOfRange {
        /// Topic name.
        topic: String,
        /// Partition number.
        partition: u32,
        /// The offset that was asked for.
        offset: u64,
        /// First readable offset.
        log_start_offset: u64,
        /// Next offset to be assigned; reading at it returns nothing.
        log_end_offset: u64,
    },

    /// A batch is larger than the topic's `max.message.bytes` or `segment.bytes`, or than a
    /// batch can be at all: its int32 length, and for a compressed batch, records that decompress
    /// within [`batch::MAX_DECOMPRESSED_BYTES`](crate::batch::MAX_DECOMPRESSED_BYTES) (checked
    /// before compressing, so a batch that compresses under `max.message.bytes` but that no
    /// reader could decompress is refused, not acknowledged).
    #[error("batch of {size} bytes exceeds the limit of {limit} bytes ({setting})")]
    BatchTooLarge {
        /// Size of the whole batch in bytes, including its 12-byte log overhead; for the
        /// decompression limit, its size before compression (at least: encoding stops there).
        size: u64,
        /// The limit it broke.
        limit: u64,
        /// The setting that holds the limit, e.g. `max.message.bytes`.
        setting: &'static str,
    },

    /// An operation Kafka refuses on an internal topic: `__consumer_offsets`, where consumer
    /// groups keep their committed offsets, is created by the first group that needs it (with
    /// its own config) and is never deleted or given more partitions by a user.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Error, Log, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let refused = log.create_topic("__consumer_offsets", 1, TopicConfig::default());
    /// assert!(matches!(refused, Err(Error::InternalTopic { op: "create_topic", .. })));
    /// assert!(matches!(log.delete_topic("__consumer_offsets"), Err(Error::InternalTopic { .. })));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    #[error("{topic} is an internal topic (consumer groups' committed offsets): {op} is refused")]
    InternalTopic {
        /// The topic.
        topic: String,
        /// The refused operation, e.g. `delete_topic`.
        op: &'static str,
    },

    /// An append was given no records.
    #[error("an append needs at least one record")]
    EmptyAppend,

    /// A caller-supplied record was rejected before anything was written.
    #[error("record {index} of the append is invalid: {reason}")]
    InvalidRecord {
        /// Position of the record in the caller's slice.
        index: usize,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// No topic of that name exists in the log directory.
    #[error("unknown topic {topic:?}")]
    UnknownTopic {
        /// The name asked for.
        topic: String,
    },

    /// The topic exists but has no partition with that number.
    #[error("unknown partition {topic}-{partition}: the topic has {partitions} partitions")]
    UnknownPartition {
        /// Topic name.
        topic: String,
        /// The partition asked for.
        partition: u32,
        /// How many partitions the topic has.
        partitions: u32,
    },

    /// A topic of that name already exists.
    #[error("topic {topic:?} already exists")]
    TopicExists {
        /// Topic name.
        topic: String,
    },

    /// A topic name that Kafka would reject (and that could escape the data directory).
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopicName {
        /// The rejected name.
        name: String,
        /// Which rule it broke.
        reason: &'static str,
    },

    /// A topic configuration key or value was rejected.
    #[error("invalid topic config {key}={value:?}: {reason}")]
    InvalidConfig {
        /// The Kafka config name, e.g. `segment.bytes`.
        key: String,
        /// The rejected value.
        value: String,
        /// Why it was rejected.
        reason: String,
    },

    /// Bytes on disk failed a check. The data file is the authority: nothing past this point is
    /// served.
    #[error("corrupt batch in {path} at position {position}: {problem}", path = path.display())]
    CorruptBatch {
        /// The segment file.
        path: PathBuf,
        /// Byte position of the batch in that file.
        position: u64,
        /// Which check failed.
        problem: FormatError,
    },

    /// Bytes handed in by a caller (for example to [`Partition::append_raw`]) are not a valid
    /// Kafka RecordBatch v2; nothing was written.
    ///
    /// [`Partition::append_raw`]: crate::Partition::append_raw
    #[error("invalid batch at byte {position} of the input: {problem}")]
    InvalidBatch {
        /// Byte position of the offending batch in the caller's buffer.
        position: u64,
        /// Which check failed.
        problem: FormatError,
    },

    /// A batch uses a codec this build cannot handle (zstd without the `zstd` feature).
    #[error("{codec} compression is not available: build partlog with the `{codec}` feature")]
    UnsupportedCodec {
        /// The codec.
        codec: Compression,
    },

    /// An offset does not fit the format, e.g. the log end offset would pass `i64::MAX`.
    #[error("offset overflow: {0}")]
    OffsetOverflow(&'static str),

    /// A call that cannot be made in the state the object is in (Kafka's
    /// `IllegalStateException`), e.g. a producer's `flush` from its own delivery callback.
    #[error("not allowed now: {what}")]
    InvalidState {
        /// The call, and why.
        what: &'static str,
    },

    /// A producer's `buffer.memory` stayed full for `max.block.ms` (Kafka's
    /// `BufferExhaustedException`): records are sent faster than they are appended.
    #[error(
        "the producer's buffer ({buffer_memory} bytes, buffer.memory) stayed full for {waited_ms} ms (max.block.ms)"
    )]
    BufferFull {
        /// How long the send waited.
        waited_ms: u64,
        /// `buffer.memory`.
        buffer_memory: u64,
    },

    /// A producer's record whose batch's append had not started `delivery.timeout.ms` after the
    /// batch opened (Kafka's `TimeoutException`, "Expiring N record(s)"): it waited behind an
    /// append of the same partition that did not return (a disk that hangs). The record
    /// was not appended, and never will be; send it again if it still matters (it comes back in
    /// the `DeliveryError`). `tests/producer.rs` makes one on a disk whose fsync hangs.
    ///
    /// # Example
    /// ```
    /// use partlog::Error;
    /// let e = Error::DeliveryTimeout { partition: "orders-0".into(), timeout_ms: 50 };
    /// assert!(e.to_string().contains("not appended within delivery.timeout.ms (50 ms)"));
    /// ```
    #[error(
        "record for {partition} not appended within delivery.timeout.ms ({timeout_ms} ms) of its batch's opening: \
         it waited behind an append of its partition that did not return (a slow disk); the record was not appended"
    )]
    DeliveryTimeout {
        /// `<topic>-<partition>`.
        partition: String,
        /// `delivery.timeout.ms`.
        timeout_ms: u64,
    },

    /// A commit was refused because the committing member is not in the group's current
    /// generation (Kafka's `CommitFailedException`): it was removed (it stopped polling for
    /// `max.poll.interval.ms`, or left) or the group rebalanced without it. Its partitions may
    /// belong to another member now; the next `poll` rejoins.
    #[error("commit refused by group {group:?}: {reason}")]
    CommitFailed {
        /// `group.id`.
        group: String,
        /// Why.
        reason: &'static str,
    },

    /// The group is rebalancing (Kafka's `RebalanceInProgressException`): `poll` to finish
    /// the rebalance, then commit again.
    #[error("group {group:?} is rebalancing: poll to rejoin, then commit again")]
    RebalanceInProgress {
        /// `group.id`.
        group: String,
    },

    /// A rebalance callback ([`RebalanceListener`](crate::RebalanceListener)) returned an error
    /// or panicked. As in Kafka, the rebalance went on (the partitions were revoked, lost or
    /// assigned as the group decided) and the call that ran the callback (`poll`, `close`,
    /// `unsubscribe`) returns this after finishing its own work.
    #[error("the rebalance listener's {callback} failed: {reason}")]
    RebalanceCallback {
        /// `on_partitions_revoked`, `on_partitions_assigned` or `on_partitions_lost`.
        callback: &'static str,
        /// The listener's error (its `Display`) or panic message.
        reason: String,
        /// The listener's error; `None` for a panic.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// Another consumer handle took over this `group.instance.id` (Kafka's
    /// `FencedInstanceIdException`); this handle can no longer consume or commit for the group.
    #[error("group.instance.id {instance_id:?} of group {group:?} was taken over by another consumer")]
    FencedInstanceId {
        /// `group.id`.
        group: String,
        /// `group.instance.id`.
        instance_id: String,
    },

    /// No group of that id exists (Kafka's `GROUP_ID_NOT_FOUND`).
    #[error("unknown consumer group {group:?}")]
    UnknownGroup {
        /// `group.id`.
        group: String,
    },

    /// A group with members cannot be deleted (Kafka's `NON_EMPTY_GROUP`).
    #[error("group {group:?} has {members} members; only an empty group can be deleted")]
    NonEmptyGroup {
        /// `group.id`.
        group: String,
        /// How many members it has.
        members: usize,
    },

    /// The members of a group share no partition assignment strategy
    /// (Kafka's `INCONSISTENT_GROUP_PROTOCOL`).
    #[error("the members of group {group:?} share no partition.assignment.strategy")]
    InconsistentGroupProtocol {
        /// `group.id`.
        group: String,
    },

    /// Commit metadata longer than `offset.metadata.max.bytes` (4096 characters).
    #[error("commit metadata for {partition} is {chars} characters; at most {max} are allowed")]
    OffsetMetadataTooLarge {
        /// `<topic>-<partition>`.
        partition: String,
        /// Its length in characters (UTF-16 units, as Kafka counts).
        chars: usize,
        /// The limit.
        max: usize,
    },

    /// A partition has no position, no committed offset, and `auto.offset.reset` is `none`
    /// (Kafka's `NoOffsetForPartitionException`).
    #[error("no committed offset for {partition} and auto.offset.reset is none: seek first")]
    NoOffsetForPartition {
        /// `<topic>-<partition>`.
        partition: String,
    },

    /// A key or value could not be serialized or deserialized (Kafka's `SerializationException`
    /// and `RecordDeserializationException`). For a consumed record, `topic`, `partition` and
    /// `offset` say where it is, so that the application can seek past it (`offset + 1`).
    #[error(
        "cannot (de)serialize with {what}: {reason}{}",
        match (topic, partition, offset) {
            (Some(t), Some(p), Some(o)) => format!(" ({t}-{p} at offset {o})"),
            _ => String::new(),
        }
    )]
    Serialization {
        /// The serde: Kafka's serializer name for the number serdes (e.g. `IntegerSerializer`),
        /// `string` or `json` for the others.
        what: &'static str,
        /// What was wrong (and whether the key or the value).
        reason: String,
        /// The consumed record's topic.
        topic: Option<String>,
        /// The consumed record's partition.
        partition: Option<u32>,
        /// The consumed record's offset.
        offset: Option<u64>,
    },

    /// A blocking consumer call was interrupted by [`WakeupHandle::wakeup`]
    /// (Kafka's `WakeupException`).
    ///
    /// [`WakeupHandle::wakeup`]: crate::WakeupHandle::wakeup
    #[error("interrupted by wakeup()")]
    Wakeup,

    /// A record of `__consumer_offsets` could not be read; the group coordinator does not start
    /// rather than forget committed offsets.
    #[error("unreadable record in {partition} at offset {offset}: {reason}")]
    BadCoordinatorRecord {
        /// `__consumer_offsets-<n>`.
        partition: String,
        /// The record's offset.
        offset: u64,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The partition (or its topic, or the whole log) was closed or deleted; reopen the log.
    #[error("{what} is closed")]
    Closed {
        /// What was closed, e.g. `partition orders-3`.
        what: String,
    },

    /// An earlier write or fsync of this partition failed, so it accepts no more appends until
    /// the log is reopened (fail-stop). Reads still work. After a failed fsync the kernel may
    /// have dropped the data it could not write, so only a reopen, which recovers from what is
    /// really on disk, can be trusted.
    #[error("partition {partition} accepts no more writes after an I/O failure ({cause}); reopen the log to recover")]
    WritesStopped {
        /// `<topic>-<partition>`.
        partition: String,
        /// The first failure.
        cause: String,
    },

    /// A file in the data directory does not have the shape partlog expects.
    #[error("unexpected content in {path}: {reason}", path = path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The data directory is open elsewhere: another [`Log`](crate::Log) of this or another
    /// process, or a running Kafka broker (both lock its `.lock` file). Close that first.
    #[error("{path} is already open: {holder} holds its lock", path = path.display())]
    DirectoryLocked {
        /// The lock file, `<data directory>/.lock`.
        path: PathBuf,
        /// Who holds it, as far as can be told.
        holder: &'static str,
    },

    /// [`Partition::compact`](crate::Partition::compact) on a partition that is not compacted.
    #[error("{partition} is not compacted: {reason}")]
    NotCompacted {
        /// `<topic>-<partition>`.
        partition: String,
        /// Why, and what to do.
        reason: &'static str,
    },

    /// Offsets of the partition were written, and the data that held them is gone: a segment
    /// file cut or deleted behind partlog's back. Found at open (and reported there, see
    /// [`RecoveryEvent::lost_offsets`](crate::RecoveryEvent::lost_offsets)): the log ended
    /// below the recovery point its checkpoint recorded, or, where offsets are dense, a segment
    /// did not start where the one before it ended. The offsets are never handed out again;
    /// a read of them fails with this error (one whose window reaches them delivers the
    /// records before them), and so does [`Partition::verify`](crate::Partition::verify).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Error, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"kept")])?;
    /// let (file, whole) = (p.segments()[0].log_path().to_owned(), p.size_bytes());
    /// p.append(&[Record::new(b"b"), Record::new(b"c")])?;
    /// drop(p);
    /// log.close()?;
    /// // After a clean shutdown, the segment loses its last batch (a stray tool, a bad copy).
    /// std::fs::OpenOptions::new().write(true).open(&file).unwrap().set_len(whole).unwrap();
    ///
    /// let log = Log::open(dir.path())?;
    /// assert_eq!(log.recovery_report()[0].lost_offsets, Some(1..3));
    /// let p = log.partition("t", 0)?;
    /// assert_eq!(p.read(0, 1 << 20)?.len(), 1); // what is before the loss
    /// match p.read(1, 1 << 20) {
    ///     Err(Error::OffsetsLost { from, to, path, .. }) => assert_eq!((from, to, path), (1, 3, file)),
    ///     other => panic!("{other:?}"),
    /// }
    /// assert!(matches!(p.verify(), Err(Error::OffsetsLost { from: 1, to: 3, .. })));
    /// assert_eq!(p.append(&[Record::new(b"d")])?.first_offset, 3); // no offset is reused
    /// # Ok::<(), partlog::Error>(())
    /// ```
    #[error(
        "offsets {from}..{to} of {partition} are lost: they were written, and the data that held them, after \
         {path}, was cut or deleted since; they are never handed out again; read from {to} to go on past them",
        path = path.display()
    )]
    OffsetsLost {
        /// `<topic>-<partition>`.
        partition: String,
        /// The segment file the lost offsets follow (the one that should hold them, or the
        /// last one before a deleted segment).
        path: PathBuf,
        /// The first offset lost.
        from: u64,
        /// The offset after the last one lost: where the partition's records go on.
        to: u64,
    },

    /// A log opened read-only read bytes its owner changed since the last
    /// [`refresh`](crate::Log::refresh) (a truncation, then new appends): the read is refused
    /// rather than served with offsets missing. Refresh and read again.
    #[error("{partition} changed under this read-only view (its owner cut and rewrote it): refresh and read again")]
    ChangedUnderView {
        /// `<topic>-<partition>`.
        partition: String,
    },

    /// A write (append, truncation, retention, compaction, flush, topic change) was asked of a
    /// log opened with [`Log::open_read_only`](crate::Log::open_read_only), which never writes.
    #[error("{what} is open read-only: {op} is a write; open the directory with `Log::open` to write")]
    ReadOnly {
        /// What was asked to write, e.g. `partition orders-3`.
        what: String,
        /// The write, e.g. `append`.
        op: &'static str,
    },

    /// An I/O operation failed.
    #[error("I/O error while trying to {op} {path}: {source}", path = path.display())]
    Io {
        /// What was being done, e.g. `write`, `open`, `fsync`.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// For `map_err`: the path is copied only when there is an error to put it in.
    pub(crate) fn io<P: Into<PathBuf>>(op: &'static str, path: P) -> impl FnOnce(io::Error) -> Error {
        move |source| Error::Io { op, path: path.into(), source }
    }
}

/// Which check a batch's bytes failed. Pure format errors, without a location; [`Error`] adds
/// the file and position.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Error, FormatError, Log, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
/// p.append(&[Record::new(b"a")])?;
/// let mut raw = Vec::new();
/// p.read_raw(0, 1 << 20, &mut raw)?;
/// raw[16] = 7; // the magic byte
/// match p.append_raw(&raw) {
///     Err(Error::InvalidBatch { position: 0, problem }) => {
///         assert_eq!(problem, FormatError::BadMagic { got: 7 });
///         assert!(problem.to_string().starts_with("magic byte is 7"));
///     }
///     other => panic!("expected InvalidBatch, got {other:?}"),
/// }
/// raw[16] = 2;
/// raw[30] ^= 0xff; // in the base timestamp, which the CRC covers
/// assert!(matches!(p.append_raw(&raw), Err(Error::InvalidBatch { problem: FormatError::CrcMismatch { .. }, .. })));
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// Fewer bytes than the structure needs.
    #[error("truncated: {what} needs {needed} bytes, only {available} available")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        needed: u64,
        /// Bytes present.
        available: u64,
    },
    /// The batch length field is below the 49 bytes a v2 header needs after it.
    #[error("batch length field {length} is below the minimum of 49")]
    LengthTooSmall {
        /// The length field as stored.
        length: i32,
    },
    /// The batch length field is above the limit in force.
    #[error("batch length field says {size} bytes in all, above the limit of {limit}")]
    LengthTooLarge {
        /// Total batch size the field implies.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The magic byte is none of 0, 1 (legacy message sets, read only) and 2 (RecordBatch v2).
    #[error("magic byte is {got}: Kafka's formats are 0 and 1 (legacy message sets) and 2 (RecordBatch v2)")]
    BadMagic {
        /// The byte found.
        got: i8,
    },
    /// The stored CRC-32C does not match the bytes.
    #[error("CRC-32C mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// CRC in the header.
        stored: u32,
        /// CRC of attributes..end.
        computed: u32,
    },
    /// Codec bits 5..7, which Kafka does not define.
    #[error("unknown compression codec id {id}")]
    UnknownCodec {
        /// The codec bits.
        id: u8,
    },
    /// A header field has a value the format forbids.
    #[error("bad header field {field}: {value}")]
    BadHeaderField {
        /// Field name, as in Kafka's `DefaultRecordBatch`.
        field: &'static str,
        /// The value found.
        value: i64,
    },
    /// A batch starts at or before the end of the one before it: batches out of order. (A base
    /// offset plus last offset delta past `i64::MAX` is a [`FormatError::BadHeaderField`].)
    #[error("offsets out of order: batch starts at {base_offset}, previous batch ended at {previous_last_offset}")]
    OffsetsNotIncreasing {
        /// Base offset of this batch.
        base_offset: i64,
        /// Last offset of the batch before it.
        previous_last_offset: i64,
    },
    /// Decompression failed.
    #[error("cannot decompress {codec} records: {reason}")]
    Decompress {
        /// The codec.
        codec: Compression,
        /// What the decoder said.
        reason: String,
    },
    /// Decompressed records would exceed the limit.
    #[error("{codec} records expand past the limit of {limit} bytes")]
    DecompressedTooLarge {
        /// The codec.
        codec: Compression,
        /// The limit.
        limit: u64,
    },
    /// A batch's last offset is more than 2^31 − 1 past its segment's base offset, which the
    /// segment's int32 relative offsets cannot hold (KAFKA-6264: old brokers wrote such
    /// segments; opening splits them).
    #[error("last offset {last_offset} is beyond the int32 relative offsets of the segment based at {segment_base}")]
    RelativeOffsetOverflow {
        /// The batch's last offset.
        last_offset: i64,
        /// The segment's base offset.
        segment_base: u64,
    },
    /// The stored CRC-32 of a legacy (magic 0 or 1) message does not match its bytes.
    #[error("legacy message CRC-32 mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    LegacyCrcMismatch {
        /// CRC in the message.
        stored: u32,
        /// CRC of magic..end.
        computed: u32,
    },
    /// A legacy (magic 0 or 1) message, or a message inside a compressed wrapper, is malformed.
    #[error("legacy message{}: {problem}", index.map(|i| format!(" (inner message {i})")).unwrap_or_default())]
    BadLegacyMessage {
        /// Index of the inner message within its wrapper, if the problem is inside one.
        index: Option<u32>,
        /// What is wrong.
        problem: &'static str,
    },
    /// A legacy message set handed to a raw append: partlog reads magic 0 and 1 where it finds
    /// them on disk, but appends only RecordBatch v2.
    #[error("legacy message set (magic {magic}) given to append: only RecordBatch v2 (magic 2) is appended")]
    LegacyAppend {
        /// The magic byte found.
        magic: i8,
    },
    /// A record inside the batch is malformed.
    #[error("record {index}: {problem}")]
    BadRecord {
        /// Index of the record within its batch.
        index: u32,
        /// What is wrong.
        problem: &'static str,
    },
    /// The header's record count disagrees with the records present.
    #[error("header says {expected} records, found {found}")]
    RecordCountMismatch {
        /// Count in the header.
        expected: i32,
        /// Records actually decoded (counting stops at the first surplus record).
        found: u64,
    },
    /// Bytes left over after the last record.
    #[error("{extra} bytes left after the last record")]
    TrailingBytes {
        /// Number of extra bytes.
        extra: u64,
    },
    /// The header's max timestamp is below a record's timestamp (CreateTime batches).
    #[error("max timestamp {max_timestamp} is below record timestamp {record_timestamp}")]
    MaxTimestampTooSmall {
        /// The header field.
        max_timestamp: i64,
        /// A record timestamp above it.
        record_timestamp: i64,
    },
}
