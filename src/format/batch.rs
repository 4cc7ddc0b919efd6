//! Kafka RecordBatch v2 (magic 2): the unit of storage, byte for byte as Kafka writes it.
//!
//! Source: Kafka's `DefaultRecordBatch.java` and `DefaultRecord.java`. All integers big-endian.
//!
//! | off | size | field | notes |
//! |---|---|---|---|
//! | 0 | 8 | base offset | absolute offset of the first record |
//! | 8 | 4 | batch length | bytes after this field = total size − 12 |
//! | 12 | 4 | partition leader epoch | |
//! | 16 | 1 | magic | 2 |
//! | 17 | 4 | crc | CRC-32C of bytes 21..end, unsigned |
//! | 21 | 2 | attributes | bits 0..2 codec, 3 LogAppendTime, 4 transactional, 5 control, 6 delete horizon |
//! | 23 | 4 | last offset delta | last offset − base offset |
//! | 27 | 8 | base timestamp | first record's timestamp (the delete horizon when bit 6 is set) |
//! | 35 | 8 | max timestamp | largest record timestamp, or the append time for LogAppendTime |
//! | 43 | 8 | producer id | −1 = none |
//! | 51 | 2 | producer epoch | −1 = none |
//! | 53 | 4 | base sequence | −1 = none |
//! | 57 | 4 | records count | records present (after compaction it may be below last offset delta + 1) |
//! | 61 | … | records | plain, or one compressed stream of all records |
//!
//! The CRC leaves out base offset, length, leader epoch and magic, so offsets are assigned by
//! rewriting bytes 0..8 without touching the CRC. Continuity of offsets from batch to batch is
//! therefore what protects the base offset (checked on recovery and when reading).
//!
//! A record (`DefaultRecord`), each integer a zigzag varint unless said otherwise:
//!
//! | field | encoding |
//! |---|---|
//! | length | varint: bytes after this field |
//! | attributes | int8, 0 |
//! | timestamp delta | varlong: timestamp − base timestamp |
//! | offset delta | varint: offset − base offset |
//! | key length, key | varint (−1 = null), bytes |
//! | value length, value | varint (−1 = null, a tombstone), bytes |
//! | header count | varint ≥ 0 |
//! | per header | key length (≥ 0), key (UTF-8 from Java clients; any bytes are kept), value length (−1 = null), value |
//!
//! Decoding trusts nothing: every length and count is checked against the bytes that are really
//! there before it is used, compressed sections expand under a fixed limit, and the record count
//! must match the records found.

use std::ops::Range;

use crate::error::FormatError;
use crate::format::codec::{self, Compression, DecompressError, Levels};
use crate::format::legacy;
use crate::format::record::{HeaderBytes, Record, RecordRef};
use crate::format::varint::{self, put_varint, put_varlongs, varint_len, varlong_len};

pub(crate) const BASE_OFFSET: usize = 0;
const BASE_OFFSET_LEN: usize = 8;
pub(crate) const LENGTH: usize = BASE_OFFSET + BASE_OFFSET_LEN;
const LENGTH_LEN: usize = 4;
/// Bytes before the batch length count starts: base offset and length (Kafka's `LOG_OVERHEAD`).
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{batch, BatchHeader, Log, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
/// p.append(&[Record::new(b"a")])?;
/// let mut raw = Vec::new();
/// p.read_raw(0, 1 << 20, &mut raw)?;
/// let header = BatchHeader::parse(&raw).unwrap();
/// assert_eq!(raw.len(), batch::LOG_OVERHEAD + header.batch_length as usize);
/// // Kafka's default max.message.bytes: 1 MiB of batch after the length field, plus these 12 bytes.
/// assert_eq!(TopicConfig::default().max_message_bytes as usize, (1 << 20) + batch::LOG_OVERHEAD);
/// # Ok::<(), partlog::Error>(())
/// ```
pub const LOG_OVERHEAD: usize = LENGTH + LENGTH_LEN;
pub(crate) const PARTITION_LEADER_EPOCH: usize = LOG_OVERHEAD;
const PARTITION_LEADER_EPOCH_LEN: usize = 4;
pub(crate) const MAGIC: usize = PARTITION_LEADER_EPOCH + PARTITION_LEADER_EPOCH_LEN;
const MAGIC_LEN: usize = 1;
pub(super) const CRC: usize = MAGIC + MAGIC_LEN;
const CRC_LEN: usize = 4;
pub(super) const ATTRIBUTES: usize = CRC + CRC_LEN;
const ATTRIBUTES_LEN: usize = 2;
pub(super) const LAST_OFFSET_DELTA: usize = ATTRIBUTES + ATTRIBUTES_LEN;
const LAST_OFFSET_DELTA_LEN: usize = 4;
pub(super) const BASE_TIMESTAMP: usize = LAST_OFFSET_DELTA + LAST_OFFSET_DELTA_LEN;
const BASE_TIMESTAMP_LEN: usize = 8;
pub(super) const MAX_TIMESTAMP: usize = BASE_TIMESTAMP + BASE_TIMESTAMP_LEN;
const MAX_TIMESTAMP_LEN: usize = 8;
pub(super) const PRODUCER_ID: usize = MAX_TIMESTAMP + MAX_TIMESTAMP_LEN;
const PRODUCER_ID_LEN: usize = 8;
pub(super) const PRODUCER_EPOCH: usize = PRODUCER_ID + PRODUCER_ID_LEN;
const PRODUCER_EPOCH_LEN: usize = 2;
pub(super) const BASE_SEQUENCE: usize = PRODUCER_EPOCH + PRODUCER_EPOCH_LEN;
const BASE_SEQUENCE_LEN: usize = 4;
pub(super) const RECORDS_COUNT: usize = BASE_SEQUENCE + BASE_SEQUENCE_LEN;
const RECORDS_COUNT_LEN: usize = 4;
/// Size of the batch header (Kafka's `RECORD_BATCH_OVERHEAD`); the records start here.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{batch, BatchHeader, Log, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
/// p.append(&[Record::new(b"a")])?;
/// let mut raw = Vec::new();
/// p.read_raw(0, 1 << 20, &mut raw)?;
/// assert!(BatchHeader::parse(&raw[..batch::HEADER_LEN]).is_some());
/// assert!(BatchHeader::parse(&raw[..batch::HEADER_LEN - 1]).is_none());
/// assert_eq!(&raw[batch::HEADER_LEN..], [0x0e, 0, 0, 0, 0x01, 0x02, b'a', 0]); // the one record
/// # Ok::<(), partlog::Error>(())
/// ```
pub const HEADER_LEN: usize = RECORDS_COUNT + RECORDS_COUNT_LEN;

const _: () = assert!(HEADER_LEN == 61);
const _: () = assert!(MAGIC == 16 && ATTRIBUTES == 21 && RECORDS_COUNT == 57);

/// The batch format partlog writes (RecordBatch v2). It also reads the legacy message sets
/// (magic 0 and 1) that old brokers wrote; [`BatchHeader::check`] accepts only this one.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{batch, BatchHeader, FormatError, Log, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
/// p.append(&[Record::new(b"a")])?;
/// let mut raw = Vec::new();
/// p.read_raw(0, 1 << 20, &mut raw)?;
/// let mut header = BatchHeader::parse(&raw).unwrap();
/// assert_eq!((header.magic, raw[16] as i8), (batch::MAGIC_V2, batch::MAGIC_V2));
/// header.magic = 3;
/// assert_eq!(header.check(1 << 20), Err(FormatError::BadMagic { got: 3 }));
/// # Ok::<(), partlog::Error>(())
/// ```
pub const MAGIC_V2: i8 = 2;

const CODEC_MASK: i16 = 0x07;
pub(super) const TIMESTAMP_TYPE_MASK: i16 = 0x08;
const TRANSACTIONAL_MASK: i16 = 0x10;
const CONTROL_MASK: i16 = 0x20;
const DELETE_HORIZON_MASK: i16 = 0x40;

/// Upper bound on the records section of one batch once decompressed. A batch that expands past
/// it is reported as corrupt instead of being allocated.
///
/// # Example
/// ```
/// use partlog::{batch, TopicConfig};
/// assert_eq!(batch::MAX_DECOMPRESSED_BYTES, 128 << 20);
/// // Room for a compressed batch of the default max.message.bytes to expand over 100-fold.
/// assert!(batch::MAX_DECOMPRESSED_BYTES > 100 * TopicConfig::default().max_message_bytes as usize);
/// ```
pub const MAX_DECOMPRESSED_BYTES: usize = 128 * 1024 * 1024;
/// The smallest possible record: one byte each for length, attributes, timestamp delta, offset
/// delta, key length, value length and header count. Bounds a record count by the bytes present.
const MIN_RECORD_BYTES: usize = 7;

/// How a batch's timestamps were set (attribute bit 3).
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::sync::Arc;
/// use partlog::{Log, LogOptions, ManualClock, Record, TimestampType, TopicConfig};
/// let log = Log::open_with(dir.path(), LogOptions::default().clock(Arc::new(ManualClock::new(5_000))))?;
/// let config = TopicConfig::default();
/// assert_eq!(config.message_timestamp_type, TimestampType::CreateTime);
/// let config = config.set("message.timestamp.type", "LogAppendTime")?;
/// assert_eq!(config.message_timestamp_type, TimestampType::LogAppendTime);
/// let p = log.create_topic("t", 1, config)?.partition(0)?;
/// p.append(&[Record::new(b"a").with_timestamp(10)])?;
/// assert_eq!(p.read(0, 1 << 20)?[0].timestamp, 5_000); // the append time, not the producer's 10
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// Set by the producer, per record (`CreateTime`).
    #[default]
    CreateTime,
    /// Set by the log when the batch was appended; every record reports the batch's max timestamp.
    LogAppendTime,
}

/// The 61-byte header of a RecordBatch v2, decoded but not yet checked.
///
/// [`for_each_record`] also hands out headers of legacy message sets (magic 0 and 1) found in
/// segments old brokers wrote: `magic` says which, and the fields are what Kafka's batch
/// interface gives for them (first and last offset, record count, the wrapper's timestamp as
/// the max timestamp, −1 for the producer fields). [`parse`](Self::parse) reads v2 bytes only.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{BatchHeader, Compression, Log, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
/// p.append(&[Record::new(b"a").with_timestamp(10), Record::new(b"b").with_timestamp(30)])?;
/// let mut raw = Vec::new();
/// p.read_raw(0, 1 << 20, &mut raw)?;
/// let header = BatchHeader::parse(&raw).unwrap();
/// assert_eq!((header.base_offset, header.last_offset(), header.records_count), (0, 1, 2));
/// assert_eq!(header.max_timestamp, 30);
/// assert_eq!(header.compression(), Some(Compression::None));
/// assert_eq!(header.total_size(), raw.len() as u64);
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes after the length field.
    pub batch_length: i32,
    /// Leader epoch stamped by the broker (0 for batches partlog writes).
    pub partition_leader_epoch: i32,
    /// Format version; 2.
    pub magic: i8,
    /// Stored CRC-32C of bytes 21..end.
    pub crc: u32,
    /// Codec, timestamp type and flags.
    pub attributes: i16,
    /// Last offset minus base offset.
    pub last_offset_delta: i32,
    /// First record's timestamp, or the delete horizon when [`has_delete_horizon`](Self::has_delete_horizon).
    pub base_timestamp: i64,
    /// Largest record timestamp (or the append time for LogAppendTime).
    pub max_timestamp: i64,
    /// Idempotent producer id, −1 if none.
    pub producer_id: i64,
    /// Producer epoch, −1 if none.
    pub producer_epoch: i16,
    /// Sequence number of the first record, −1 if none.
    pub base_sequence: i32,
    /// Number of records present.
    pub records_count: i32,
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl BatchHeader {
    /// Decodes the header at the start of `bytes`; `None` if fewer than 61 bytes.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{BatchHeader, FormatError, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b")])?;
    /// let mut raw = Vec::new();
    /// p.read_raw(0, 1 << 20, &mut raw)?;
    /// let header = BatchHeader::parse(&raw).unwrap();
    /// assert_eq!((header.magic, header.records_count, header.producer_id), (2, 2, -1));
    /// assert_eq!(BatchHeader::parse(&raw[..60]), None);
    /// // Decoded, not checked: any 61 bytes parse, and `check` says what is wrong with them.
    /// let zeros = BatchHeader::parse(&[0; 61]).unwrap();
    /// assert_eq!(zeros.check(1 << 20), Err(FormatError::LengthTooSmall { length: 0 }));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn parse(bytes: &[u8]) -> Option<BatchHeader> {
        let b = bytes.get(..HEADER_LEN)?;
        Some(BatchHeader {
            base_offset: be_i64(b, BASE_OFFSET),
            batch_length: be_i32(b, LENGTH),
            partition_leader_epoch: be_i32(b, PARTITION_LEADER_EPOCH),
            magic: b[MAGIC] as i8,
            crc: be_i32(b, CRC) as u32,
            attributes: be_i16(b, ATTRIBUTES),
            last_offset_delta: be_i32(b, LAST_OFFSET_DELTA),
            base_timestamp: be_i64(b, BASE_TIMESTAMP),
            max_timestamp: be_i64(b, MAX_TIMESTAMP),
            producer_id: be_i64(b, PRODUCER_ID),
            producer_epoch: be_i16(b, PRODUCER_EPOCH),
            base_sequence: be_i32(b, BASE_SEQUENCE),
            records_count: be_i32(b, RECORDS_COUNT),
        })
    }

    /// The codec, or `None` for the undefined ids 5..7.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{BatchHeader, Compression, CompressionType, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let mut config = TopicConfig::default();
    /// config.compression_type = CompressionType::Codec(Compression::Snappy);
    /// let p = log.create_topic("t", 1, config)?.partition(0)?;
    /// p.append(&[Record::new(b"a")])?;
    /// let mut raw = Vec::new();
    /// p.read_raw(0, 1 << 20, &mut raw)?;
    /// let mut header = BatchHeader::parse(&raw).unwrap();
    /// assert_eq!(header.compression(), Some(Compression::Snappy));
    /// header.attributes |= 0x07; // codec bits 0..2 set to 7, an id Kafka does not define
    /// assert_eq!(header.compression(), None);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn compression(&self) -> Option<Compression> {
        Compression::from_id((self.attributes & CODEC_MASK) as u8)
    }

    /// Whether timestamps are CreateTime or LogAppendTime.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::sync::Arc;
    /// use partlog::{BatchHeader, Log, LogOptions, ManualClock, Record, TimestampType, TopicConfig};
    /// let log = Log::open_with(dir.path(), LogOptions::default().clock(Arc::new(ManualClock::new(5_000))))?;
    /// let mut config = TopicConfig::default();
    /// config.message_timestamp_type = TimestampType::LogAppendTime;
    /// let p = log.create_topic("t", 1, config)?.partition(0)?;
    /// p.append(&[Record::new(b"a").with_timestamp(10)])?;
    /// let mut raw = Vec::new();
    /// p.read_raw(0, 1 << 20, &mut raw)?;
    /// let header = BatchHeader::parse(&raw).unwrap();
    /// assert_eq!(header.timestamp_type(), TimestampType::LogAppendTime);
    /// assert_eq!(header.max_timestamp, 5_000); // the append time, from the log's clock
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & TIMESTAMP_TYPE_MASK != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Part of a transaction.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{BatchHeader, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a")])?;
    /// let mut raw = Vec::new();
    /// p.read_raw(0, 1 << 20, &mut raw)?;
    /// let mut header = BatchHeader::parse(&raw).unwrap();
    /// assert!(!header.is_transactional()); // `append` writes no transactions
    /// header.attributes |= 0x10; // attribute bit 4
    /// assert!(header.is_transactional() && !header.is_control());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_MASK != 0
    }

    /// A control batch (transaction marker and the like): skipped by reads ([`Partition::read`],
    /// [`Partition::fetch`]); [`for_each_record`] visits its records.
    ///
    /// [`Partition::read`]: crate::Partition::read
    /// [`Partition::fetch`]: crate::Partition::fetch
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{BatchHeader, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let topic = log.create_topic("t", 2, TopicConfig::default())?;
    /// topic.partition(0)?.append(&[Record::new(b"marker")])?;
    /// let mut raw = Vec::new();
    /// topic.partition(0)?.read_raw(0, 1 << 20, &mut raw)?;
    /// assert!(!BatchHeader::parse(&raw).unwrap().is_control());
    /// raw[22] |= 0x20; // attribute bit 5, then the CRC-32C of bytes 21.. again
    /// let crc = crc32c::crc32c(&raw[21..]);
    /// raw[17..21].copy_from_slice(&crc.to_be_bytes());
    /// assert!(BatchHeader::parse(&raw).unwrap().is_control());
    ///
    /// let replica = topic.partition(1)?;
    /// assert!(replica.append_raw(&raw).is_err()); // control batches come from a broker, not a producer
    /// replica.append_replicated(&raw)?;
    /// assert_eq!(replica.log_end_offset(), 1);
    /// assert!(replica.read(0, 1 << 20)?.is_empty()); // reads skip it
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_MASK != 0
    }

    /// The base timestamp holds the compactor's delete horizon (KIP-534).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::sync::Arc;
    /// use partlog::{BatchHeader, CleanupPolicy, Log, LogOptions, ManualClock, Record, TopicConfig};
    /// let log = Log::open_with(dir.path(), LogOptions::default().clock(Arc::new(ManualClock::new(1_000))))?;
    /// let mut config = TopicConfig::default();
    /// config.cleanup_policy = CleanupPolicy::Compact;
    /// let p = log.create_topic("t", 1, config)?.partition(0)?;
    /// p.append(&[Record::tombstone(b"k")])?;
    /// let mut raw = Vec::new();
    /// p.read_raw(0, 1 << 20, &mut raw)?;
    /// assert!(!BatchHeader::parse(&raw).unwrap().has_delete_horizon());
    /// p.roll()?;
    /// p.compact()?; // keeps the tombstone until now + delete.retention.ms, and writes that down
    /// raw.clear();
    /// p.read_raw(0, 1 << 20, &mut raw)?;
    /// let header = BatchHeader::parse(&raw).unwrap();
    /// assert!(header.has_delete_horizon());
    /// assert_eq!(header.base_timestamp, 1_000 + TopicConfig::default().delete_retention_ms);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes & DELETE_HORIZON_MASK != 0
    }

    /// Offset of the last record (or of the last offset the batch covers, after compaction).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{BatchHeader, CleanupPolicy, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let mut config = TopicConfig::default();
    /// config.cleanup_policy = CleanupPolicy::Compact;
    /// let p = log.create_topic("t", 1, config)?.partition(0)?;
    /// p.append(&[Record::new(b"1").with_key(b"a"), Record::new(b"1").with_key(b"b")])?; // offsets 0, 1
    /// p.append(&[Record::new(b"2").with_key(b"b")])?; // offset 2 replaces offset 1
    /// p.roll()?;
    /// p.compact()?;
    /// let mut raw = Vec::new();
    /// p.read_raw(0, 1 << 20, &mut raw)?;
    /// let first = BatchHeader::parse(&raw).unwrap();
    /// assert_eq!((first.records_count, first.last_offset()), (1, 1)); // offset 1 is gone, still covered
    /// let second = BatchHeader::parse(&raw[first.total_size() as usize..]).unwrap();
    /// assert_eq!((second.base_offset, second.last_offset()), (2, 2));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn last_offset(&self) -> i64 {
        self.base_offset.wrapping_add(self.last_offset_delta as i64)
    }

    /// Whole batch size in bytes, from the length field (may be nonsense before [`check`](Self::check)).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{BatchHeader, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a")])?;
    /// p.append(&[Record::new(b"bb")])?;
    /// let mut raw = Vec::new();
    /// p.read_raw(0, 1 << 20, &mut raw)?;
    /// let first = BatchHeader::parse(&raw).unwrap();
    /// let second = BatchHeader::parse(&raw[first.total_size() as usize..]).unwrap();
    /// assert_eq!(first.total_size() + second.total_size(), raw.len() as u64);
    /// assert_eq!(second.total_size(), first.total_size() + 1); // one more value byte
    /// let mut bad = first;
    /// bad.batch_length = -100; // nonsense, which `check` rejects
    /// assert_eq!(bad.total_size(), 0);
    /// assert!(bad.check(u64::MAX).is_err());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn total_size(&self) -> u64 {
        (self.batch_length as i64 + LOG_OVERHEAD as i64).max(0) as u64
    }

    /// Structural checks of the header fields, with `max_size` the largest whole-batch size
    /// accepted. The CRC and the records are checked separately.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{BatchHeader, FormatError, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a")])?;
    /// let mut raw = Vec::new();
    /// p.read_raw(0, 1 << 20, &mut raw)?;
    /// let header = BatchHeader::parse(&raw).unwrap();
    /// assert_eq!(header.check(1 << 20), Ok(()));
    /// assert_eq!(header.check(60), Err(FormatError::LengthTooLarge { size: header.total_size(), limit: 60 }));
    /// let mut bad = header;
    /// bad.records_count = 2; // more records than the one offset the batch covers
    /// assert_eq!(bad.check(1 << 20), Err(FormatError::BadHeaderField { field: "recordsCount", value: 2 }));
    /// // The CRC is not among the checks: a flipped record byte passes.
    /// let last = raw.len() - 1;
    /// raw[last] ^= 1;
    /// assert_eq!(BatchHeader::parse(&raw).unwrap().check(1 << 20), Ok(()));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn check(&self, max_size: u64) -> Result<(), FormatError> {
        if self.batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
            return Err(FormatError::LengthTooSmall { length: self.batch_length });
        }
        if self.total_size() > max_size {
            return Err(FormatError::LengthTooLarge { size: self.total_size(), limit: max_size });
        }
        if self.magic != MAGIC_V2 {
            return Err(FormatError::BadMagic { got: self.magic });
        }
        if self.compression().is_none() {
            return Err(FormatError::UnknownCodec { id: (self.attributes & CODEC_MASK) as u8 });
        }
        let bad = |field, value: i64| Err(FormatError::BadHeaderField { field, value });
        if self.base_offset < 0 {
            return bad("baseOffset", self.base_offset);
        }
        if self.last_offset_delta < 0 {
            return bad("lastOffsetDelta", self.last_offset_delta as i64);
        }
        if self.base_offset.checked_add(self.last_offset_delta as i64).is_none() {
            return bad("lastOffsetDelta (base offset + delta overflows)", self.last_offset_delta as i64);
        }
        if self.records_count < 0 || self.records_count as i64 > self.last_offset_delta as i64 + 1 {
            return bad("recordsCount", self.records_count as i64);
        }
        Ok(())
    }
}

/// Reads the stored CRC-32C and computes it over `batch[21..]`; `Ok` when they match. A legacy
/// message's CRC-32 was checked with the whole entry, by [`peek`].
pub(crate) fn verify_crc(batch: &[u8]) -> Result<(), FormatError> {
    if legacy::is_legacy(batch) {
        return Ok(());
    }
    let stored = be_i32(batch, CRC) as u32;
    let computed = crate::format::crc::crc32c(&batch[ATTRIBUTES..]);
    if stored == computed {
        Ok(())
    } else {
        Err(FormatError::CrcMismatch { stored, computed })
    }
}

/// Overwrites the base offset of an encoded batch (the CRC does not cover it).
pub(crate) fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[BASE_OFFSET..BASE_OFFSET + BASE_OFFSET_LEN].copy_from_slice(&base_offset.to_be_bytes());
}

/// Whole batches back to back in a byte slice: the one walk over batches in memory. Each
/// header is parsed and checked ([`BatchHeader::check`]) before its length is used; the CRC and
/// the records are left to the caller. The first problem ends the walk as an `Err` naming its
/// position.
#[derive(Debug, Clone)]
pub(crate) struct Batches<'a> {
    bytes: &'a [u8],
    position: usize,
    max_size: u64,
    at_cut: AtCut,
    done: bool,
    /// Working space for legacy wrappers, which are checked whole.
    scratch: Vec<u8>,
}

/// What a walk does at a batch the bytes end inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AtCut {
    /// It is a problem: the bytes were meant to hold whole batches.
    Fail,
    /// The walk ends before it: the bytes are a window of a longer sequence.
    Stop,
}

/// One batch found by [`Batches`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawBatch<'a> {
    /// Where it starts in the bytes walked.
    pub position: usize,
    pub header: BatchHeader,
    /// The whole batch, header included.
    pub bytes: &'a [u8],
}

/// Why a walk stopped, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BatchProblem {
    pub position: usize,
    pub problem: FormatError,
}

impl<'a> Batches<'a> {
    /// Walks `bytes`, accepting batches up to `max_size` bytes, treating a batch the bytes end
    /// inside as `at_cut` says.
    pub(crate) fn new(bytes: &'a [u8], max_size: u64, at_cut: AtCut) -> Self {
        Batches { bytes, position: 0, max_size, at_cut, done: false, scratch: Vec::new() }
    }

    fn fail(&mut self, problem: FormatError) -> Option<Result<RawBatch<'a>, BatchProblem>> {
        self.done = true;
        Some(Err(BatchProblem { position: self.position, problem }))
    }
}

impl<'a> Iterator for Batches<'a> {
    type Item = Result<RawBatch<'a>, BatchProblem>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.bytes.get(self.position..).filter(|rest| !rest.is_empty() && !self.done)?;
        let available = rest.len() as u64;
        let header = match peek(rest, self.max_size, &mut self.scratch) {
            Ok(Peek::Header(header)) => header,
            Ok(Peek::Need(needed)) => {
                return match self.at_cut {
                    AtCut::Stop => None,
                    AtCut::Fail => {
                        let what = if needed <= HEADER_LEN as u64 { "batch header" } else { "batch" };
                        self.fail(FormatError::Truncated { what, needed, available })
                    }
                };
            }
            Err(problem) => return self.fail(problem),
        };
        let size = header.total_size();
        let Some(bytes) = rest.get(..size as usize).filter(|_| size <= available) else {
            return match self.at_cut {
                AtCut::Stop => None,
                AtCut::Fail => self.fail(FormatError::Truncated { what: "batch", needed: size, available }),
            };
        };
        let batch = RawBatch { position: self.position, header, bytes };
        self.position += bytes.len();
        Some(Ok(batch))
    }
}

/// What [`peek`] found at the start of some bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peek {
    /// A header that passed its checks (for a legacy entry, the whole entry did).
    Header(BatchHeader),
    /// The bytes end before this many bytes, which it takes to know.
    Need(u64),
}

/// The header of the batch at the start of `bytes`, checked, for a v2 batch (the 61 header
/// bytes suffice) or a legacy message (magic 0 or 1, read as a batch: the whole entry is needed,
/// and is checked whole, CRC included); `max_size` bounds the whole batch. `scratch` is working
/// space for a legacy wrapper's decompression.
pub(crate) fn peek(bytes: &[u8], max_size: u64, scratch: &mut Vec<u8>) -> Result<Peek, FormatError> {
    let Some(&magic) = bytes.get(MAGIC) else {
        return Ok(Peek::Need(HEADER_LEN as u64));
    };
    if magic as i8 == MAGIC_V2 {
        let Some(header) = BatchHeader::parse(bytes) else {
            return Ok(Peek::Need(HEADER_LEN as u64));
        };
        header.check(max_size)?;
        return Ok(Peek::Header(header));
    }
    if !legacy::is_legacy(bytes) {
        return Err(FormatError::BadMagic { got: magic as i8 });
    }
    let size = declared_size(bytes).unwrap_or(0);
    if size < legacy::min_entry_size(magic) {
        return Err(FormatError::BadLegacyMessage { index: None, problem: "size field below the message overhead" });
    }
    if size > max_size {
        return Err(FormatError::LengthTooLarge { size, limit: max_size });
    }
    match bytes.get(..size as usize) {
        Some(entry) => Ok(Peek::Header(legacy::summarize(entry, scratch)?)),
        None => Ok(Peek::Need(size)),
    }
}

/// The whole size the length field at the start of `bytes` claims, unchecked (the same field
/// in a v2 batch and a legacy message); `None` before 12 bytes or for a negative field.
pub(crate) fn declared_size(bytes: &[u8]) -> Option<u64> {
    let length = bytes.get(LENGTH..LENGTH + LENGTH_LEN)?;
    let length = i32::from_be_bytes(length.try_into().expect("4 bytes"));
    u64::try_from(length).ok().map(|l| l + LOG_OVERHEAD as u64)
}

/// Decodes every batch in `bytes` — Kafka RecordBatch v2 batches back to back, as returned by
/// [`Partition::read_raw`](crate::Partition::read_raw) or found in a `.log` file — checking each
/// fully (length, magic, CRC, codec, records), and calls `visit` for every record, control
/// batches included. Returns the number of batches. Errors name the batch's byte position.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{batch, Log, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
/// p.append(&[Record::new(b"a"), Record::new(b"b")])?;
/// let mut raw = Vec::new();
/// p.read_raw(0, 1 << 20, &mut raw)?;
///
/// let mut values = Vec::new();
/// let batches = batch::for_each_record(&raw, |_header, r| values.push(r.value().unwrap().to_vec()))?;
/// assert_eq!((batches, values), (1, vec![b"a".to_vec(), b"b".to_vec()]));
/// assert!(batch::for_each_record(&raw[..raw.len() - 1], |_, _| {}).is_err());
/// # Ok::<(), partlog::Error>(())
/// ```
pub fn for_each_record(
    bytes: &[u8],
    mut visit: impl FnMut(&BatchHeader, RecordRef<'_>),
) -> Result<usize, crate::Error> {
    walk_batches(
        bytes,
        |_, _| Ok(()),
        |header, r| {
            visit(header, r);
            Ok(())
        },
    )
}

/// Checks every batch in `bytes` fully, calling `on_batch` with each batch's position and header
/// (after the header checks, before decompression) and `on_record` for each of its records.
/// Format problems become [`Error::InvalidBatch`](crate::Error::InvalidBatch) with the position;
/// the callbacks' errors are returned as they are.
pub(crate) fn walk_batches(
    bytes: &[u8],
    mut on_batch: impl FnMut(usize, &BatchHeader) -> Result<(), crate::Error>,
    mut on_record: impl FnMut(&BatchHeader, RecordRef<'_>) -> Result<(), crate::Error>,
) -> Result<usize, crate::Error> {
    let mut scratch = Vec::new();
    let mut batches = 0;
    for raw in Batches::new(bytes, u64::MAX, AtCut::Fail) {
        let RawBatch { position, header, bytes: batch } =
            raw.map_err(|p| crate::Error::InvalidBatch { position: p.position as u64, problem: p.problem })?;
        let invalid = |problem| crate::Error::InvalidBatch { position: position as u64, problem };
        on_batch(position, &header)?;
        scratch.clear();
        let (header, records) = open_batch(batch, u64::MAX, &mut scratch, Crc::Verify).map_err(|e| match e {
            DecodeError::Format(f) => invalid(f),
            DecodeError::Unsupported(codec) => crate::Error::UnsupportedCodec { codec },
        })?;
        let section = records.section(batch, &scratch);
        let mut stopped = None;
        let decoded = decode_records(&header, section, |r| {
            on_record(&header, r).map_err(|e| {
                stopped = Some(e);
                FormatError::BadRecord { index: 0, problem: "rejected by the caller" }
            })
        });
        if let Some(e) = stopped {
            return Err(e);
        }
        decoded.map_err(invalid)?;
        batches += 1;
    }
    Ok(batches)
}

/// Why a batch could not be decoded.
#[derive(Debug)]
pub(crate) enum DecodeError {
    /// The bytes are not a valid batch.
    Format(FormatError),
    /// The codec is valid but not compiled in.
    Unsupported(Compression),
}

impl From<FormatError> for DecodeError {
    fn from(e: FormatError) -> Self {
        DecodeError::Format(e)
    }
}

/// Where the records of a decoded batch live: in the batch itself, or in a scratch buffer.
pub(crate) enum RecordsIn {
    /// Uncompressed: this range of the batch.
    Batch(Range<usize>),
    /// Compressed: this range of the scratch buffer the caller gave.
    Scratch(Range<usize>),
}

impl RecordsIn {
    /// The records section, from the batch or from the scratch buffer it was decompressed into.
    pub(crate) fn section<'a>(&self, batch: &'a [u8], scratch: &'a [u8]) -> &'a [u8] {
        match self {
            RecordsIn::Batch(r) => &batch[r.clone()],
            RecordsIn::Scratch(r) => &scratch[r.clone()],
        }
    }
}

/// Whether [`open_batch`] checks the CRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Crc {
    Verify,
    /// The caller checked it already (a read from a segment does).
    Verified,
}

/// Checks a whole batch — header, CRC (unless the caller already did), decompression — and
/// locates its records section. For a compressed batch the records are appended to `scratch`.
pub(crate) fn open_batch(
    batch: &[u8],
    max_size: u64,
    scratch: &mut Vec<u8>,
    crc: Crc,
) -> Result<(BatchHeader, RecordsIn), DecodeError> {
    if legacy::is_legacy(batch) {
        // Checked whole, CRC included, and transcoded to a v2 records section.
        if declared_size(batch) != Some(batch.len() as u64) {
            let needed = declared_size(batch).unwrap_or(0);
            return Err(FormatError::Truncated { what: "batch", needed, available: batch.len() as u64 }.into());
        }
        if batch.len() as u64 > max_size {
            return Err(FormatError::LengthTooLarge { size: batch.len() as u64, limit: max_size }.into());
        }
        let (header, records) = legacy::transcode(batch, scratch)?;
        return Ok((header, RecordsIn::Scratch(records)));
    }
    let header = BatchHeader::parse(batch).ok_or(FormatError::Truncated {
        what: "batch header",
        needed: HEADER_LEN as u64,
        available: batch.len() as u64,
    })?;
    header.check(max_size)?;
    if header.total_size() != batch.len() as u64 {
        return Err(FormatError::Truncated {
            what: "batch",
            needed: header.total_size(),
            available: batch.len() as u64,
        }
        .into());
    }
    if crc == Crc::Verify {
        verify_crc(batch)?;
    }
    let codec = header.compression().expect("checked by BatchHeader::check");
    if codec == Compression::None {
        return Ok((header, RecordsIn::Batch(HEADER_LEN..batch.len())));
    }
    let start = scratch.len();
    codec::decompress(codec, &batch[HEADER_LEN..], scratch, MAX_DECOMPRESSED_BYTES).map_err(|e| match e {
        DecompressError::Unsupported(c) => DecodeError::Unsupported(c),
        DecompressError::Format(f) => DecodeError::Format(f),
    })?;
    Ok((header, RecordsIn::Scratch(start..scratch.len())))
}

/// Decodes the records section of a batch whose header passed [`BatchHeader::check`], calling
/// `visit` for each record in order. Checks every length against the bytes present, that offset
/// deltas increase and stay within the last offset delta, and that the count matches.
pub(crate) fn decode_records<'b>(
    header: &BatchHeader,
    records: &'b [u8],
    visit: impl FnMut(RecordRef<'b>) -> Result<(), FormatError>,
) -> Result<(), FormatError> {
    decode_records_from(header, records, 0, visit)
}

/// [`decode_records`] for the records at or after offset `from`: earlier records of the batch are
/// stepped over reading only their length (and offset delta, unless the batch is dense; the CRC covered their bytes; a read
/// of one offset in a big batch decodes one record, not all before it).
pub(crate) fn decode_records_from<'b>(
    header: &BatchHeader,
    records: &'b [u8],
    from: u64,
    mut visit: impl FnMut(RecordRef<'b>) -> Result<(), FormatError>,
) -> Result<(), FormatError> {
    let mut cursor = RecordCursor::new(header, records)?;
    cursor.skip_before(from)?;
    while let Some(r) = cursor.next_record()? {
        visit(r)?;
    }
    Ok(())
}

/// Where the decoding of a records section stands: the records before `pos` are decoded and
/// checked. Holds what it needs of the batch header, so it can be saved without the bytes
/// ([`CursorState`]) and resumed later.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CursorState {
    base_offset: i64,
    base_timestamp: i64,
    /// The timestamp of every record of a LogAppendTime batch; `None` for CreateTime.
    append_time: Option<i64>,
    last_offset_delta: i32,
    expected: u32,
    pos: usize,
    index: u32,
    previous_delta: i64,
}

impl CursorState {
    /// The base offset of the batch.
    pub(crate) fn base_offset(&self) -> i64 {
        self.base_offset
    }
}

/// A [`CursorState`] over the bytes of a records section.
pub(crate) struct RecordCursor<'b> {
    records: &'b [u8],
    state: CursorState,
}

impl<'b> RecordCursor<'b> {
    /// A cursor at the first record of `records`, the records section of the batch `header`.
    pub(crate) fn new(header: &BatchHeader, records: &'b [u8]) -> Result<Self, FormatError> {
        let expected = header.records_count;
        if expected as u64 > (records.len() / MIN_RECORD_BYTES) as u64 {
            let found = (records.len() / MIN_RECORD_BYTES) as u64;
            return Err(FormatError::RecordCountMismatch { expected, found });
        }
        let log_append_time = header.timestamp_type() == TimestampType::LogAppendTime;
        let state = CursorState {
            base_offset: header.base_offset,
            base_timestamp: header.base_timestamp,
            append_time: log_append_time.then_some(header.max_timestamp),
            last_offset_delta: header.last_offset_delta,
            // Not negative: checked against the length above.
            expected: expected.max(0) as u32,
            pos: 0,
            index: 0,
            previous_delta: -1,
        };
        Ok(RecordCursor { records, state })
    }

    /// Resumes a saved cursor; `records` must be the bytes it was made over.
    #[inline]
    pub(crate) fn resume(state: CursorState, records: &'b [u8]) -> Self {
        RecordCursor { records, state }
    }

    /// The state to resume from.
    #[inline]
    pub(crate) fn state(&self) -> CursorState {
        self.state
    }

    /// Records not yet decoded, as the header counts them.
    pub(crate) fn remaining(&self) -> u32 {
        self.state.expected - self.state.index
    }

    fn bad(&self, problem: &'static str) -> FormatError {
        FormatError::BadRecord { index: self.state.index, problem }
    }

    /// Reads the length of the record at `pos`: the range of its body.
    #[inline(always)]
    fn body(&self) -> Result<std::ops::Range<usize>, FormatError> {
        let mut pos = self.state.pos;
        let len = varint::read_varint(self.records, &mut pos).map_err(|_| self.bad("unreadable record length"))?;
        usize::try_from(len)
            .ok()
            .filter(|&len| len > 0 && len <= self.records.len() - pos)
            .map(|len| pos..pos + len)
            .ok_or(self.bad("record length beyond the records section"))
    }

    #[inline(always)]
    fn check_order(&self, delta: i32) -> Result<(), FormatError> {
        let state = &self.state;
        if (delta as i64) <= state.previous_delta || delta > state.last_offset_delta {
            return Err(self.bad("offset delta out of order or beyond the last offset delta"));
        }
        // In a dense batch (`count` deltas, strictly increasing, from 0 to `count - 1`) record
        // `i` can only have delta `i`: checked here, so that a record read after the lengths-only
        // skip of `skip_before` is the record a full decode finds at that offset.
        if i64::from(state.last_offset_delta) == i64::from(state.expected) - 1 && delta as i64 != i64::from(state.index)
        {
            return Err(self.bad("offset delta differs from the record's place in a dense batch"));
        }
        Ok(())
    }

    /// Steps over the records with offsets below `from`, reading only their length and offset
    /// delta.
    pub(crate) fn skip_before(&mut self, from: u64) -> Result<(), FormatError> {
        let state = &self.state;
        if i64::from(state.last_offset_delta) == i64::from(state.expected) - 1 && state.previous_delta < 0 {
            // A dense batch (as every producer writes them): deltas grow by at least one per
            // record from 0 to `expected - 1`, so record `i` has delta `i`, and only the lengths
            // need reading. The records decoded next still check their own deltas against the
            // one this implies, so a record is never served at another offset than its own.
            let wanted = from.saturating_sub(state.base_offset as u64).min(u64::from(state.expected)) as u32;
            if wanted > self.state.index {
                // Each length is read before the next record's place is known: loaded all at
                // once, the walk does not wait for memory at every record. The bytes a batch
                // of records of even size puts before the wanted one, and a little more.
                let (pos, left) = (self.state.pos, self.records.len().saturating_sub(self.state.pos));
                let ahead = (left as u64 * u64::from(wanted - self.state.index + 1)
                    / u64::from((self.state.expected - self.state.index).max(1))) as usize;
                super::prefetch(&self.records[pos..pos + ahead.saturating_add(256).min(left)]);
            }
            while self.state.index < wanted && self.state.pos < self.records.len() {
                self.state.pos = self.body()?.end;
                self.state.index += 1;
            }
            if self.state.index > 0 {
                self.state.previous_delta = i64::from(self.state.index) - 1;
            }
            return Ok(());
        }
        // Offset deltas grow by at least one per record, so base + index ≤ a record's offset;
        // only while that is below `from` can the next record be one to step over.
        while self.state.index < self.state.expected
            && (self.state.base_offset as u64).wrapping_add(self.state.index as u64) < from
        {
            if self.state.pos == self.records.len() {
                break;
            }
            let body = self.body()?;
            let delta = record_offset_delta(&self.records[body.clone()]).map_err(|p| self.bad(p))?;
            self.check_order(delta)?;
            if ((self.state.base_offset + delta as i64) as u64) >= from {
                break;
            }
            self.state.previous_delta = delta as i64;
            self.state.pos = body.end;
            self.state.index += 1;
        }
        Ok(())
    }

    /// Decodes the next record, or checks that the section ends where the header says when
    /// every record is decoded.
    #[inline(always)]
    pub(crate) fn next_record(&mut self) -> Result<Option<RecordRef<'b>>, FormatError> {
        let state = &mut self.state;
        if state.index == state.expected {
            if state.pos != self.records.len() {
                return Err(FormatError::TrailingBytes { extra: (self.records.len() - state.pos) as u64 });
            }
            return Ok(None);
        }
        if state.pos == self.records.len() {
            let expected = state.expected as i32;
            return Err(FormatError::RecordCountMismatch { expected, found: state.index as u64 });
        }
        let body = self.body()?;
        let r = parse_record_body(&self.records[body.clone()]).map_err(|p| self.bad(p))?;
        self.check_order(r.offset_delta)?;
        let state = &mut self.state;
        let timestamp = match state.append_time {
            Some(t) => t,
            None => match state.base_timestamp.checked_add(r.timestamp_delta) {
                Some(t) => t,
                None => return Err(self.bad("timestamp overflows")),
            },
        };
        state.previous_delta = r.offset_delta as i64;
        state.pos = body.end;
        state.index += 1;
        Ok(Some(RecordRef {
            offset: (state.base_offset + r.offset_delta as i64) as u64,
            timestamp,
            timestamp_type: if state.append_time.is_some() {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            },
            key: r.key,
            value: r.value,
            headers: r.headers,
        }))
    }
}

pub(super) struct RecordBody<'b> {
    pub(super) timestamp_delta: i64,
    pub(super) offset_delta: i32,
    pub(super) key: Option<&'b [u8]>,
    pub(super) value: Option<&'b [u8]>,
    pub(super) headers: HeaderBytes<'b>,
}

/// The offset delta of a record body, read past its attributes and timestamp delta only.
#[inline(always)]
fn record_offset_delta(body: &[u8]) -> Result<i32, &'static str> {
    let mut pos = 1;
    varint::read_varlong(body, &mut pos).map_err(|_| "unreadable timestamp delta")?;
    varint::read_varint(body, &mut pos).map_err(|_| "unreadable offset delta")
}

#[inline(always)]
pub(super) fn parse_record_body(body: &[u8]) -> Result<RecordBody<'_>, &'static str> {
    // Attributes: one int8, unused (0) in every version so far.
    let mut pos = 1;
    let timestamp_delta = varint::read_varlong(body, &mut pos).map_err(|_| "unreadable timestamp delta")?;
    let offset_delta = varint::read_varint(body, &mut pos).map_err(|_| "unreadable offset delta")?;
    let key = read_nullable_bytes(body, &mut pos).ok_or("bad key length")?;
    let value = read_nullable_bytes(body, &mut pos).ok_or("bad value length")?;
    let count = varint::read_varint(body, &mut pos).map_err(|_| "unreadable header count")?;
    // Each header takes at least two bytes, which bounds the count before any loop runs.
    if count < 0 || count as usize > (body.len() - pos) / 2 {
        return Err("header count out of range");
    }
    let headers_start = pos;
    for _ in 0..count {
        crate::format::record::parse_header(body, &mut pos).ok_or("bad header (null key or bad length)")?;
    }
    if pos != body.len() {
        return Err("record length disagrees with its fields");
    }
    Ok(RecordBody {
        timestamp_delta,
        offset_delta,
        key,
        value,
        headers: HeaderBytes { bytes: &body[headers_start..], count: count as u32 },
    })
}

#[inline(always)]
fn read_nullable_bytes<'b>(bytes: &'b [u8], pos: &mut usize) -> Option<Option<&'b [u8]>> {
    let len = varint::read_varint(bytes, pos).ok()?;
    if len == -1 {
        return Some(None);
    }
    let v = bytes.get(*pos..*pos + usize::try_from(len).ok()?)?;
    *pos += v.len();
    Some(Some(v))
}

/// The header fields of a batch to encode, other than what its records determine.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchSpec {
    pub codec: Compression,
    pub levels: Levels,
    pub timestamp_type: TimestampType,
    /// Append time: the timestamp of records without one, and of every record for LogAppendTime.
    pub now_ms: i64,
    pub partition_leader_epoch: i32,
}

/// What an encoded batch holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EncodedBatch {
    pub last_offset_delta: i32,
    pub max_timestamp: i64,
}

/// Largest records section of an uncompressed batch an encoder accepts: lengths on disk are
/// int32. A compressed batch's records must also decompress within [`MAX_DECOMPRESSED_BYTES`],
/// or no reader could read what was acknowledged.
pub(super) const MAX_RECORDS_BYTES: usize = i32::MAX as usize - HEADER_LEN;

/// Encodes `records` as one batch with base offset 0, appended to `out`. Compressed batches use
/// `scratch` for the uncompressed records. Errors name the first invalid record.
pub(crate) fn encode(
    records: &[Record<'_>],
    spec: &BatchSpec,
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) -> Result<EncodedBatch, EncodeError> {
    let count = i32::try_from(records.len()).map_err(|_| EncodeError::TooManyRecords)?;
    assert!(count > 0, "callers reject empty appends");
    let timestamp = |r: &Record<'_>| match spec.timestamp_type {
        TimestampType::LogAppendTime => spec.now_ms,
        TimestampType::CreateTime => r.timestamp.unwrap_or(spec.now_ms),
    };
    let base_timestamp = timestamp(&records[0]);
    let mut max_timestamp = i64::MIN;
    for (index, r) in records.iter().enumerate() {
        let ts = timestamp(r);
        if ts < 0 {
            return Err(EncodeError::Record { index, reason: "timestamp is negative" });
        }
        max_timestamp = max_timestamp.max(ts);
    }

    let start = out.len();
    out.resize(start + HEADER_LEN, 0);
    let plain = if spec.codec == Compression::None { &mut *out } else { &mut *scratch };
    let plain_start = plain.len();
    let limit = if spec.codec == Compression::None { MAX_RECORDS_BYTES } else { MAX_DECOMPRESSED_BYTES };
    for (index, r) in records.iter().enumerate() {
        write_record(plain, r, timestamp(r) - base_timestamp, index as i32)
            .map_err(|reason| EncodeError::Record { index, reason })?;
        let size = plain.len() - plain_start;
        if size > limit {
            let (size, limit) = ((size + HEADER_LEN) as u64, (limit + HEADER_LEN) as u64);
            let what = if spec.codec == Compression::None { LENGTH_LIMIT } else { DECOMPRESSED_LIMIT };
            plain.truncate(plain_start);
            return Err(EncodeError::TooLarge { size, limit, what });
        }
    }
    if spec.codec != Compression::None {
        let result = codec::compress(spec.codec, spec.levels, &scratch[plain_start..], out);
        scratch.truncate(plain_start);
        result.map_err(|_| EncodeError::Unsupported(spec.codec))?;
    }
    let total = out.len() - start;
    let batch_length = i32::try_from(total - LOG_OVERHEAD).map_err(|_| length_too_large(total))?;

    let attributes = spec.codec.id() as i16
        | match spec.timestamp_type {
            TimestampType::CreateTime => 0,
            TimestampType::LogAppendTime => TIMESTAMP_TYPE_MASK,
        };
    let h = &mut out[start..start + HEADER_LEN];
    h[BASE_OFFSET..LENGTH].copy_from_slice(&0i64.to_be_bytes());
    h[LENGTH..LOG_OVERHEAD].copy_from_slice(&batch_length.to_be_bytes());
    h[PARTITION_LEADER_EPOCH..MAGIC].copy_from_slice(&spec.partition_leader_epoch.to_be_bytes());
    h[MAGIC] = MAGIC_V2 as u8;
    h[ATTRIBUTES..LAST_OFFSET_DELTA].copy_from_slice(&attributes.to_be_bytes());
    h[LAST_OFFSET_DELTA..BASE_TIMESTAMP].copy_from_slice(&(count - 1).to_be_bytes());
    h[BASE_TIMESTAMP..MAX_TIMESTAMP].copy_from_slice(&base_timestamp.to_be_bytes());
    h[MAX_TIMESTAMP..PRODUCER_ID].copy_from_slice(&max_timestamp.to_be_bytes());
    h[PRODUCER_ID..PRODUCER_EPOCH].copy_from_slice(&(-1i64).to_be_bytes());
    h[PRODUCER_EPOCH..BASE_SEQUENCE].copy_from_slice(&(-1i16).to_be_bytes());
    h[BASE_SEQUENCE..RECORDS_COUNT].copy_from_slice(&(-1i32).to_be_bytes());
    h[RECORDS_COUNT..HEADER_LEN].copy_from_slice(&count.to_be_bytes());
    let crc = crate::format::crc::crc32c(&out[start + ATTRIBUTES..]);
    out[start + CRC..start + ATTRIBUTES].copy_from_slice(&crc.to_be_bytes());
    Ok(EncodedBatch { last_offset_delta: count - 1, max_timestamp })
}

/// Why a batch could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EncodeError {
    /// More than `i32::MAX` records.
    TooManyRecords,
    /// The batch would pass the int32 length field, or its records would decompress past
    /// [`MAX_DECOMPRESSED_BYTES`]: `size` bytes (at least; encoding stops there) of a `limit`.
    TooLarge { size: u64, limit: u64, what: &'static str },
    /// One record cannot be represented.
    Record { index: usize, reason: &'static str },
    /// The codec is not compiled in.
    Unsupported(Compression),
}

/// What [`EncodeError::TooLarge`] names as the limit of an uncompressed batch.
const LENGTH_LIMIT: &str = "the int32 batch length";
/// What [`EncodeError::TooLarge`] names as the limit of a compressed batch's records.
pub(super) const DECOMPRESSED_LIMIT: &str =
    "records before compression: batch::MAX_DECOMPRESSED_BYTES, which every reader enforces";

pub(super) fn length_too_large(total: usize) -> EncodeError {
    EncodeError::TooLarge { size: total as u64, limit: LOG_OVERHEAD as u64 + i32::MAX as u64, what: LENGTH_LIMIT }
}

/// Rebuilds a batch from `kept`, some of the records of the batch `original` (Kafka's cleaner,
/// `MemoryRecords.filterTo`): same base offset, last offset delta, leader epoch, producer fields
/// and codec, so offsets and sequences stay intact; the max timestamp is recomputed for CreateTime
/// batches. With `delete_horizon_ms`, attribute bit 6 is set and the base timestamp holds the
/// horizon (record timestamps are stored relative to it). Appends the batch to `out`.
pub(crate) fn rebuild(
    original: &BatchHeader,
    kept: &[RecordRef<'_>],
    delete_horizon_ms: Option<i64>,
    levels: Levels,
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    assert!(!kept.is_empty(), "an emptied batch is dropped, not rebuilt");
    let codec = original.compression().expect("a decoded batch has a known codec");
    let base_offset = original.base_offset;
    let base_timestamp = delete_horizon_ms.unwrap_or(kept[0].timestamp);
    let max_timestamp = match original.timestamp_type() {
        TimestampType::LogAppendTime => original.max_timestamp,
        TimestampType::CreateTime => kept.iter().map(|r| r.timestamp).max().expect("non-empty"),
    };
    let start = out.len();
    out.resize(start + HEADER_LEN, 0);
    let plain = if codec == Compression::None { &mut *out } else { &mut *scratch };
    let plain_start = plain.len();
    for r in kept {
        let offset_delta = (r.offset as i64 - base_offset) as i32;
        write_record_parts(
            plain,
            r.timestamp.wrapping_sub(base_timestamp),
            offset_delta,
            r.key,
            r.value,
            |o| {
                put_varint(o, r.headers.count as i32);
                o.extend_from_slice(r.headers.bytes);
            },
            r.headers.bytes.len() + varint_len(r.headers.count as i32),
        )
        .map_err(|reason| EncodeError::Record { index: 0, reason })?;
    }
    if codec != Compression::None {
        let result = codec::compress(codec, levels, &scratch[plain_start..], out);
        scratch.truncate(plain_start);
        result.map_err(|_| EncodeError::Unsupported(codec))?;
    }
    let batch_length =
        i32::try_from(out.len() - start - LOG_OVERHEAD).map_err(|_| length_too_large(out.len() - start))?;
    let attributes = (original.attributes & !DELETE_HORIZON_MASK)
        | if delete_horizon_ms.is_some() { DELETE_HORIZON_MASK } else { 0 };
    let h = &mut out[start..start + HEADER_LEN];
    h[BASE_OFFSET..LENGTH].copy_from_slice(&base_offset.to_be_bytes());
    h[LENGTH..LOG_OVERHEAD].copy_from_slice(&batch_length.to_be_bytes());
    h[PARTITION_LEADER_EPOCH..MAGIC].copy_from_slice(&original.partition_leader_epoch.to_be_bytes());
    h[MAGIC] = MAGIC_V2 as u8;
    h[ATTRIBUTES..LAST_OFFSET_DELTA].copy_from_slice(&attributes.to_be_bytes());
    h[LAST_OFFSET_DELTA..BASE_TIMESTAMP].copy_from_slice(&original.last_offset_delta.to_be_bytes());
    h[BASE_TIMESTAMP..MAX_TIMESTAMP].copy_from_slice(&base_timestamp.to_be_bytes());
    h[MAX_TIMESTAMP..PRODUCER_ID].copy_from_slice(&max_timestamp.to_be_bytes());
    h[PRODUCER_ID..PRODUCER_EPOCH].copy_from_slice(&original.producer_id.to_be_bytes());
    h[PRODUCER_EPOCH..BASE_SEQUENCE].copy_from_slice(&original.producer_epoch.to_be_bytes());
    h[BASE_SEQUENCE..RECORDS_COUNT].copy_from_slice(&original.base_sequence.to_be_bytes());
    h[RECORDS_COUNT..HEADER_LEN].copy_from_slice(&(kept.len() as i32).to_be_bytes());
    let crc = crate::format::crc::crc32c(&out[start + ATTRIBUTES..]);
    out[start + CRC..start + ATTRIBUTES].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

fn len_i32(bytes: &[u8], what: &'static str) -> Result<i32, &'static str> {
    i32::try_from(bytes.len()).map_err(|_| what)
}

fn nullable_len(bytes: Option<&[u8]>, what: &'static str) -> Result<i32, &'static str> {
    bytes.map_or(Ok(-1), |b| len_i32(b, what))
}

pub(super) fn write_record(
    out: &mut Vec<u8>,
    r: &Record<'_>,
    timestamp_delta: i64,
    offset_delta: i32,
) -> Result<(), &'static str> {
    let header_count = i32::try_from(r.headers.len()).map_err(|_| "too many headers")?;
    let mut headers_len = varint_len(header_count);
    for h in r.headers {
        let k = len_i32(h.key, "header key longer than i32::MAX bytes")?;
        let v = nullable_len(h.value, "header value longer than i32::MAX bytes")?;
        headers_len += varint_len(k) + h.key.len() + varint_len(v) + h.value.map_or(0, <[u8]>::len);
    }
    write_record_parts(
        out,
        timestamp_delta,
        offset_delta,
        r.key,
        r.value,
        |out| {
            put_varint(out, header_count);
            for h in r.headers {
                put_varint(out, h.key.len() as i32);
                out.extend_from_slice(h.key);
                put_varint(out, h.value.map_or(-1, |v| v.len() as i32));
                out.extend_from_slice(h.value.unwrap_or_default());
            }
        },
        headers_len,
    )
}

/// Writes one record: length, attributes, deltas, key, value, then the header section written by
/// `write_headers`, which must write exactly `headers_len` bytes (count included).
fn write_record_parts(
    out: &mut Vec<u8>,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    write_headers: impl FnOnce(&mut Vec<u8>),
    headers_len: usize,
) -> Result<(), &'static str> {
    let key_len = nullable_len(key, "key longer than i32::MAX bytes")?;
    let value_len = nullable_len(value, "value longer than i32::MAX bytes")?;
    let body: usize = 1
        + varlong_len(timestamp_delta)
        + varint_len(offset_delta)
        + varint_len(key_len)
        + key.map_or(0, <[u8]>::len)
        + varint_len(value_len)
        + value.map_or(0, <[u8]>::len)
        + headers_len;
    let body = i32::try_from(body).map_err(|_| "record longer than i32::MAX bytes")?;
    out.reserve(varint_len(body) + body as usize);
    let start = out.len();
    // Attributes are one zero byte: the varint of 0.
    put_varlongs(out, [body as i64, 0, timestamp_delta, offset_delta as i64, key_len as i64]);
    if let Some(key) = key {
        out.extend_from_slice(key);
    }
    put_varlongs(out, [value_len as i64]);
    if let Some(value) = value {
        out.extend_from_slice(value);
    }
    write_headers(out);
    debug_assert_eq!(out.len() - start, varint_len(body) + body as usize, "record length matches its fields");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::record::Header;

    fn spec(codec: Compression) -> BatchSpec {
        BatchSpec {
            codec,
            levels: Levels::default(),
            timestamp_type: TimestampType::CreateTime,
            now_ms: 1_700_000_000_000,
            partition_leader_epoch: 0,
        }
    }

    /// The worked example of the reference (section 1.7), byte for byte.
    #[test]
    fn encodes_the_reference_worked_example_exactly() {
        let mut out = Vec::new();
        let records = [Record::new(b"a").with_timestamp(1_700_000_000_000)];
        encode(&records, &spec(Compression::None), &mut out, &mut Vec::new()).unwrap();
        let expected: Vec<u8> = [
            &[0u8; 8][..],
            &[0, 0, 0, 0x39],
            &[0, 0, 0, 0],
            &[2],
            &[0x96, 0x5a, 0x94, 0xb1],
            &[0, 0],
            &[0, 0, 0, 0],
            &[0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00],
            &[0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00],
            &[0xff; 8],
            &[0xff, 0xff],
            &[0xff; 4],
            &[0, 0, 0, 1],
            &[0x0e, 0, 0, 0, 0x01, 0x02, 0x61, 0],
        ]
        .concat();
        assert_eq!(out, expected);
    }

    #[test]
    fn decodes_what_it_encodes_for_every_codec() {
        let headers = [Header::new("k1", b"v1"), Header::null("ключ")];
        let big = vec![b'z'; 100_000];
        let records = [
            Record::new(b"plain").with_timestamp(1_000),
            Record::tombstone(b"key").with_timestamp(999),
            Record { key: None, value: None, timestamp: Some(1_500), headers: &headers },
            Record::new(&big).with_key(b"").with_timestamp(1_200),
            Record::new(b"").with_headers(&headers).with_timestamp(1_000),
        ];
        for codec in Compression::ALL.into_iter().filter(|c| c.is_available()) {
            let mut out = Vec::new();
            let encoded = encode(&records, &spec(codec), &mut out, &mut Vec::new()).unwrap();
            assert_eq!(encoded, EncodedBatch { last_offset_delta: 4, max_timestamp: 1_500 });
            set_base_offset(&mut out, 40);
            let mut scratch = Vec::new();
            let (header, at) = open_batch(&out, u64::MAX, &mut scratch, Crc::Verify).unwrap();
            assert_eq!(header.compression(), Some(codec));
            let section = at.section(&out, &scratch);
            let mut got = Vec::new();
            decode_records(&header, section, |r| {
                got.push(r.to_owned());
                Ok(())
            })
            .unwrap();
            assert_eq!(got.len(), 5, "{codec}");
            for (i, (g, want)) in got.iter().zip(&records).enumerate() {
                assert_eq!(g.offset, 40 + i as u64);
                assert_eq!(Some(g.timestamp), want.timestamp);
                assert_eq!(g.key.as_deref(), want.key);
                assert_eq!(g.value.as_deref(), want.value);
                assert_eq!(g.headers.len(), want.headers.len());
            }
        }
    }

    #[test]
    fn log_append_time_stamps_every_record_with_the_append_time() {
        let mut s = spec(Compression::None);
        s.timestamp_type = TimestampType::LogAppendTime;
        let mut out = Vec::new();
        encode(&[Record::new(b"x").with_timestamp(5), Record::new(b"y")], &s, &mut out, &mut Vec::new()).unwrap();
        let (header, _) = open_batch(&out, u64::MAX, &mut Vec::new(), Crc::Verify).unwrap();
        assert_eq!(header.timestamp_type(), TimestampType::LogAppendTime);
        let mut stamps = Vec::new();
        decode_records(&header, &out[HEADER_LEN..], |r| {
            stamps.push(r.timestamp());
            Ok(())
        })
        .unwrap();
        assert_eq!(stamps, vec![s.now_ms, s.now_ms]);
    }

    #[test]
    fn every_header_check_reports_its_field() {
        let mut good = Vec::new();
        encode(&[Record::new(b"a")], &spec(Compression::None), &mut good, &mut Vec::new()).unwrap();
        let check = |mutate: &dyn Fn(&mut Vec<u8>)| {
            let mut b = good.clone();
            mutate(&mut b);
            match open_batch(&b, 1 << 20, &mut Vec::new(), Crc::Verify) {
                Err(DecodeError::Format(e)) => e,
                other => panic!("expected a format error, got {:?}", other.map(|r| r.0)),
            }
        };
        assert!(matches!(check(&|b| b.truncate(60)), FormatError::Truncated { needed: 61, .. }));
        assert!(matches!(
            check(&|b| b[8..12].copy_from_slice(&10i32.to_be_bytes())),
            FormatError::LengthTooSmall { length: 10 }
        ));
        assert!(matches!(
            check(&|b| b[8..12].copy_from_slice(&(2i32 << 20).to_be_bytes())),
            FormatError::LengthTooLarge { .. }
        ));
        assert!(matches!(check(&|b| b[16] = 3), FormatError::BadMagic { got: 3 }));
        // Magic 1 is a legacy message, checked as one: the v2 bytes fail its CRC-32.
        assert!(matches!(check(&|b| b[16] = 1), FormatError::LegacyCrcMismatch { .. }));
        assert!(matches!(check(&|b| b[22] = 5), FormatError::UnknownCodec { id: 5 }));
        assert!(matches!(check(&|b| b[0] = 0x80), FormatError::BadHeaderField { field: "baseOffset", .. }));
        assert!(matches!(check(&|b| b[60] = 9), FormatError::BadHeaderField { field: "recordsCount", .. }));
        assert!(matches!(check(&|b| b[68] ^= 1), FormatError::CrcMismatch { .. }));
        assert!(matches!(check(&|b| b.push(0)), FormatError::Truncated { what: "batch", .. }));
    }

    #[test]
    fn records_that_lie_about_their_lengths_are_rejected() {
        let mut good = Vec::new();
        encode(&[Record::new(b"abc").with_key(b"k")], &spec(Compression::None), &mut good, &mut Vec::new()).unwrap();
        let (header, _) = open_batch(&good, u64::MAX, &mut Vec::new(), Crc::Verify).unwrap();
        let section = good[HEADER_LEN..].to_vec();
        let decode = |bytes: &[u8], header: &BatchHeader| decode_records(header, bytes, |_| Ok(()));
        // Record length bigger than the section.
        let mut s = section.clone();
        s[0] = 0x7e;
        assert!(matches!(decode(&s, &header), Err(FormatError::BadRecord { index: 0, .. })));
        // Key length bigger than the record.
        let mut s = section.clone();
        s[4] = 0x7e;
        assert!(matches!(decode(&s, &header), Err(FormatError::BadRecord { index: 0, .. })));
        // A header count the bytes cannot hold.
        let mut s = section.clone();
        let last = s.len() - 1;
        s[last] = 0x7e;
        assert!(matches!(decode(&s, &header), Err(FormatError::BadRecord { index: 0, .. })));
        // More records claimed than present.
        let mut h2 = header;
        h2.records_count = 2;
        h2.last_offset_delta = 1;
        assert!(matches!(decode(&section, &h2), Err(FormatError::RecordCountMismatch { expected: 2, .. })));
        // Bytes left over.
        let mut s = section.clone();
        s.extend_from_slice(&[0; 8]);
        assert!(matches!(decode(&s, &header), Err(FormatError::TrailingBytes { extra: 8 })));
    }

    #[test]
    fn a_negative_timestamp_names_the_record() {
        let records = [Record::new(b"a").with_timestamp(1), Record::new(b"b").with_timestamp(-5)];
        let err = encode(&records, &spec(Compression::None), &mut Vec::new(), &mut Vec::new()).unwrap_err();
        assert_eq!(err, EncodeError::Record { index: 1, reason: "timestamp is negative" });
    }

    /// Reading from an offset inside a batch steps over earlier records by their offset deltas,
    /// also where compaction left gaps.
    #[test]
    fn decoding_from_an_offset_skips_earlier_records_gaps_included() {
        let values: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 3 + i as usize]).collect();
        let records: Vec<Record<'_>> =
            values.iter().map(|v| Record::new(v).with_key(b"k").with_timestamp(1_000)).collect();
        let mut out = Vec::new();
        encode(&records, &spec(Compression::None), &mut out, &mut Vec::new()).unwrap();
        set_base_offset(&mut out, 100);
        let (header, at) = open_batch(&out, u64::MAX, &mut Vec::new(), Crc::Verify).unwrap();
        let section = at.section(&out, &[]);
        let mut all = Vec::new();
        decode_records(&header, section, |r| {
            all.push(r);
            Ok(())
        })
        .unwrap();
        let kept: Vec<RecordRef<'_>> = all.into_iter().filter(|r| [101, 102, 105, 108].contains(&r.offset)).collect();
        let mut gappy = Vec::new();
        rebuild(&header, &kept, None, Levels::default(), &mut gappy, &mut Vec::new()).unwrap();
        // (offset, value) of the records of `batch` from `from` on.
        let decoded_from = |batch: &[u8], from: u64| {
            let (header, at) = open_batch(batch, u64::MAX, &mut Vec::new(), Crc::Verify).unwrap();
            let mut got = Vec::new();
            decode_records_from(&header, at.section(batch, &[]), from, |r| {
                got.push((r.offset, r.value.map(<[u8]>::to_vec)));
                Ok(())
            })
            .unwrap();
            got
        };
        for from in 95..115u64 {
            let want: Vec<_> =
                kept.iter().filter(|r| r.offset >= from).map(|r| (r.offset, r.value.map(<[u8]>::to_vec))).collect();
            assert_eq!(decoded_from(&gappy, from), want, "from {from}");
        }
        // The dense batch (deltas 0..9, stepped over by their lengths alone).
        for from in 95..115u64 {
            let want: Vec<_> =
                (from.max(100)..110).map(|o| (o, Some(vec![(o - 100) as u8; 3 + (o - 100) as usize]))).collect();
            assert_eq!(decoded_from(&out, from), want, "from {from}");
        }
    }

    /// A batch whose header says its offsets are dense but whose records carry other deltas
    /// (bytes a CRC does not catch: written so): reading from inside it never serves a record
    /// at an offset other than its own delta says, whatever offset the read starts at, and a
    /// record out of its place among the records read is an error.
    #[test]
    fn records_whose_deltas_contradict_a_dense_header_are_never_served_at_other_offsets() {
        let values: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i; 3]).collect();
        let records: Vec<Record<'_>> = values.iter().map(|v| Record::new(v).with_timestamp(1_000)).collect();
        let mut out = Vec::new();
        encode(&records, &spec(Compression::None), &mut out, &mut Vec::new()).unwrap();
        let (header, at) = open_batch(&out, u64::MAX, &mut Vec::new(), Crc::Verify).unwrap();
        let mut section = at.section(&out, &[]).to_vec();
        // Each record: length, attributes, timestamp delta, offset delta (one byte each here).
        let record_len = section.len() / 4;
        assert_eq!(section[record_len + 3], 2, "record 1 has delta 1 (zigzag 2)");
        (section[record_len + 3], section[2 * record_len + 3]) = (4, 2); // deltas 0, 2, 1, 3
        for from in 0..4u64 {
            let mut got = Vec::new();
            let result = decode_records_from(&header, &section, from, |r| {
                got.push((r.offset, r.value.map(<[u8]>::to_vec)));
                Ok(())
            });
            // Records stepped over are not decoded, so the disorder is reported when it lies
            // among the records read (a full `verify` reads them all).
            assert_eq!(result.is_err(), from <= 2, "from {from}: the disorder is reported when read");
            // Only records in their place are served, so every start agrees with a full decode.
            assert!(got.iter().all(|(offset, _)| [0, 3].contains(offset)), "from {from}: {got:?}");
            for (offset, value) in got {
                let written = [0u64, 2, 1, 3].iter().position(|&d| d == offset).unwrap();
                assert_eq!(value, Some(vec![written as u8; 3]), "from {from}: offset {offset}");
                assert!(offset >= from, "from {from}: offset {offset} served");
            }
        }
    }
}
