//! Appends and rolls (Kafka's `UnifiedLog.append` and `roll`): records are encoded into one
//! batch in a buffer owned by the calling thread, outside any lock; under the append lock the
//! batch gets its base offset (bytes 0..8, outside the CRC), the active segment rolls if it must,
//! and the batch is written, indexed and published.

use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Partition, Writer};
use crate::config::TopicConfig;
use crate::error::{Error, FormatError, Result};
use crate::format::batch::{self, BatchHeader, BatchSpec, EncodeError};
use crate::format::builder::BatchBuilder;
use crate::format::record::Record;
use crate::segment::{self, AppendMeta, Offsets, Segment};

/// What an append did.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{AppendInfo, Log, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
/// p.append(&[Record::new(b"a").with_timestamp(3)])?;
/// let info = p.append(&[Record::new(b"b").with_timestamp(7), Record::new(b"c").with_timestamp(5)])?;
/// assert_eq!(info, AppendInfo { first_offset: 1, last_offset: 2, max_timestamp: 7, batches: 1 });
///
/// let mut raw = Vec::new();
/// p.read_raw(0, 1 << 20, &mut raw)?; // both batches
/// let info = p.append_raw(&raw)?;
/// assert_eq!((info.first_offset, info.last_offset, info.batches), (3, 5, 2));
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first record appended.
    pub first_offset: u64,
    /// Offset of the last record appended (the last offset covered, for raw batches).
    pub last_offset: u64,
    /// Largest timestamp appended (the append time for LogAppendTime topics).
    pub max_timestamp: i64,
    /// Number of batches written.
    pub batches: usize,
}

/// Bytes of encode buffer a thread keeps between appends; larger buffers are released.
const RETAINED_ENCODE_BYTES: usize = 4 << 20;

#[derive(Default)]
struct EncodeBuffers {
    batch: Vec<u8>,
    scratch: Vec<u8>,
}

thread_local! {
    static ENCODE_BUFFERS: RefCell<EncodeBuffers> = RefCell::default();
}

/// One appended batch: where it sits in the append buffer and what it covers.
#[derive(Debug, Clone, Copy)]
struct PendingBatch {
    position: usize,
    /// The base offset the batch came with (kept by a replica append).
    base_offset: u64,
    last_offset_delta: u32,
    max_timestamp: i64,
}

/// Whose batches a raw append takes, which decides who assigns their offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RawOrigin {
    /// A producer's (Kafka's append as leader): offsets are assigned, and the batches must be
    /// what a broker accepts from a producer.
    Producer,
    /// A leader's (Kafka's `appendAsFollower`): the batches keep their offsets, which must follow
    /// the log end; compaction's shapes (gaps, empty batches, control batches) are accepted.
    Replica,
}

impl Partition {
    /// Appends `records` as one batch, all or nothing, and returns the offsets assigned.
    ///
    /// The batch is encoded with the topic's `compression.type`; records without a timestamp get
    /// the append time. Errors: [`Error::EmptyAppend`], [`Error::InvalidRecord`] (a null key on a
    /// compacted topic, a negative timestamp), [`Error::BatchTooLarge`] (`max.message.bytes`,
    /// `segment.bytes`), [`Error::Closed`], [`Error::Io`].
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// let info = p.append(&[Record::new(b"a").with_timestamp(100), Record::new(b"b").with_timestamp(50)])?;
    /// assert_eq!((info.first_offset, info.last_offset, info.max_timestamp), (0, 1, 100));
    /// assert!(matches!(p.append(&[]), Err(partlog::Error::EmptyAppend)));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn append(&self, records: &[Record<'_>]) -> Result<AppendInfo> {
        if records.is_empty() {
            return Err(Error::EmptyAppend);
        }
        let config = self.config();
        if config.cleanup_policy.compacts() {
            if let Some(index) = records.iter().position(|r| r.key.is_none()) {
                return Err(Error::InvalidRecord { index, reason: "compacted topics reject records without a key" });
            }
        }
        let spec = BatchSpec {
            codec: config.compression_type.codec(),
            levels: config.codec_levels(),
            timestamp_type: config.message_timestamp_type,
            now_ms: self.inner.clock.now_ms(),
            partition_leader_epoch: 0,
        };
        ENCODE_BUFFERS.with(|buffers| {
            let mut buffers = buffers.borrow_mut();
            let EncodeBuffers { batch: out, scratch } = &mut *buffers;
            out.clear();
            let result = batch::encode(records, &spec, out, scratch).map_err(encode_error).and_then(|encoded| {
                let pending = [PendingBatch {
                    position: 0,
                    base_offset: 0,
                    last_offset_delta: encoded.last_offset_delta as u32,
                    max_timestamp: encoded.max_timestamp,
                }];
                Self::check_size(&config, out.len() as u64)?;
                self.append_batches(out, &pending, RawOrigin::Producer, &config, spec.now_ms)
            });
            if out.capacity() > RETAINED_ENCODE_BYTES {
                *out = Vec::new();
            }
            if scratch.capacity() > RETAINED_ENCODE_BYTES {
                *scratch = Vec::new();
            }
            result
        })
    }

    /// Appends a batch built by the producer ([`BatchBuilder`], Kafka's producer batches): it is
    /// sealed here by the topic's codec and timestamp type, outside the append lock, and written
    /// without being decoded again: its records were checked as they were pushed, so what is
    /// checked here is what depends on the partition (keys on a compacted topic, the size limits).
    /// A refused batch keeps its records, to be split or handed back.
    pub(crate) fn append_built(&self, builder: &mut BatchBuilder) -> Result<AppendInfo> {
        if builder.record_count() == 0 {
            return Err(Error::EmptyAppend);
        }
        let config = self.config();
        if let Some(index) = builder.first_null_key().filter(|_| config.cleanup_policy.compacts()) {
            return Err(Error::InvalidRecord { index, reason: "compacted topics reject records without a key" });
        }
        let now = self.inner.clock.now_ms();
        let spec = BatchSpec {
            codec: config.compression_type.codec(),
            levels: config.codec_levels(),
            timestamp_type: config.message_timestamp_type,
            now_ms: now,
            partition_leader_epoch: 0,
        };
        let (bytes, encoded) = builder.seal(&spec).map_err(encode_error)?;
        Self::check_size(&config, bytes.len() as u64)?;
        let pending = [PendingBatch {
            position: 0,
            base_offset: 0,
            last_offset_delta: encoded.last_offset_delta as u32,
            max_timestamp: encoded.max_timestamp,
        }];
        self.append_batches(bytes, &pending, RawOrigin::Producer, &config, now)
    }

    /// Refuses a batch larger than `max.message.bytes` or `segment.bytes`.
    fn check_size(config: &TopicConfig, size: u64) -> Result<()> {
        if size > config.max_message_bytes as u64 {
            return Err(Error::BatchTooLarge {
                size,
                limit: config.max_message_bytes as u64,
                setting: "max.message.bytes",
            });
        }
        if size > config.segment_bytes as u64 {
            return Err(Error::BatchTooLarge { size, limit: config.segment_bytes as u64, setting: "segment.bytes" });
        }
        Ok(())
    }

    /// Appends already-encoded Kafka batches (RecordBatch v2, one or more back to back, e.g.
    /// from [`read_raw`](Self::read_raw) or from a Kafka segment) without re-encoding them.
    ///
    /// Every batch is checked first — length, magic, CRC, codec, every record's structure, and
    /// for compacted topics that every record has a key — and nothing is written unless all
    /// pass. Offsets are assigned by rewriting each batch's base offset, which the CRC does not
    /// cover; everything else, codec included, is kept byte for byte.
    ///
    /// These are a producer's batches, checked as Kafka's broker checks a produce request: at
    /// least one record, a last offset delta of the record count − 1, the records' offset deltas
    /// 0, 1, 2, …, no control batches (those come from the broker), and a base sequence ≥ 0 when
    /// a producer id is set. Batches as a leader's log holds them, compacted ones included, go
    /// through [`append_replicated`](Self::append_replicated).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let topic = log.create_topic("t", 2, TopicConfig::default())?;
    /// let (from, to) = (topic.partition(0)?, topic.partition(1)?);
    /// from.append(&[Record::new(b"x"), Record::new(b"y")])?;
    /// to.append(&[Record::new(b"already here")])?;
    ///
    /// let mut raw = Vec::new();
    /// from.read_raw(0, 1 << 20, &mut raw)?;
    /// let info = to.append_raw(&raw)?;
    /// assert_eq!((info.first_offset, info.last_offset), (1, 2));
    /// assert_eq!(to.read(1, 1 << 20)?[1].value.as_deref(), Some(&b"y"[..]));
    ///
    /// raw[30] ^= 0xff; // inside the CRC-covered bytes
    /// assert!(matches!(to.append_raw(&raw), Err(partlog::Error::InvalidBatch { .. })));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn append_raw(&self, batches: &[u8]) -> Result<AppendInfo> {
        self.append_raw_from(batches, RawOrigin::Producer)
    }

    /// Appends batches as a replica does (Kafka's `appendAsFollower`): each keeps the offsets it
    /// came with, so the first must start at the log end offset or after it, and each next one
    /// after the one before. Batches as compaction leaves them are accepted — empty batches,
    /// gaps between batches, control batches — except that a partition partlog knows was never
    /// compacted takes no gaps (its offsets are dense; a gap there would read as damage). The
    /// batches are checked as [`append_raw`](Self::append_raw) checks them otherwise, and all of
    /// them must fit one segment's int32 relative offsets.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{CleanupPolicy, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let mut config = TopicConfig::default();
    /// config.cleanup_policy = CleanupPolicy::Compact;
    /// let topic = log.create_topic("t", 2, config)?;
    /// let (leader, replica) = (topic.partition(0)?, topic.partition(1)?);
    /// leader.append(&[Record::new(b"v1").with_key(b"k")])?;
    /// leader.append(&[Record::new(b"v2").with_key(b"k")])?;
    /// leader.roll()?;
    /// leader.compact()?; // offset 0 is gone: the log has a gap
    ///
    /// let mut raw = Vec::new();
    /// leader.read_raw(leader.log_start_offset(), 1 << 20, &mut raw)?;
    /// let info = replica.append_replicated(&raw)?;
    /// assert_eq!((info.first_offset, info.last_offset), (1, 1)); // offsets kept
    /// assert_eq!(replica.log_end_offset(), 2);
    /// assert!(replica.append_replicated(&raw).is_err(), "offsets below the log end");
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn append_replicated(&self, batches: &[u8]) -> Result<AppendInfo> {
        self.append_raw_from(batches, RawOrigin::Replica)
    }

    fn append_raw_from(&self, batches: &[u8], origin: RawOrigin) -> Result<AppendInfo> {
        if batches.is_empty() {
            return Err(Error::EmptyAppend);
        }
        let config = self.config();
        let pending = self.validate_raw(batches, origin, &config)?;
        Self::check_size(&config, batches.len() as u64).or_else(|e| match e {
            // Several batches may together pass max.message.bytes; only segment.bytes binds them.
            Error::BatchTooLarge { setting: "max.message.bytes", .. } => Ok(()),
            other => Err(other),
        })?;
        ENCODE_BUFFERS.with(|buffers| {
            let mut buffers = buffers.borrow_mut();
            let out = &mut buffers.batch;
            out.clear();
            out.extend_from_slice(batches);
            let result = self.append_batches(out, &pending, origin, &config, self.inner.clock.now_ms());
            if out.capacity() > RETAINED_ENCODE_BYTES {
                *out = Vec::new();
            }
            result
        })
    }

    /// Where a replica append starts: its first batch's base offset, at or after the log end
    /// (exactly at it where offsets are dense), with every batch within one segment's relative
    /// offsets.
    fn replica_start(&self, pending: &[PendingBatch], log_end: u64) -> Result<u64> {
        let first = pending.first().map_or(log_end, |b| b.base_offset);
        let last = pending.last().map_or(log_end, |b| b.base_offset + b.last_offset_delta as u64);
        let dense = self.inner.offsets == Offsets::Dense;
        if first < log_end || (dense && first != log_end) {
            return Err(Error::InvalidBatch {
                position: 0,
                problem: FormatError::OffsetsNotIncreasing {
                    base_offset: first as i64,
                    previous_last_offset: log_end as i64 - 1,
                },
            });
        }
        let gap = |w: &[PendingBatch]| w[1].base_offset != w[0].base_offset + w[0].last_offset_delta as u64 + 1;
        if let Some(i) = pending.windows(2).position(gap).filter(|_| dense) {
            return Err(Error::InvalidBatch {
                position: pending[i + 1].position as u64,
                problem: FormatError::BadHeaderField {
                    field: "baseOffset (a gap, in a partition that was never compacted)",
                    value: pending[i + 1].base_offset as i64,
                },
            });
        }
        if last - first > i32::MAX as u64 {
            return Err(Error::OffsetOverflow("one replica append spans more than a segment's int32 relative offsets"));
        }
        Ok(first)
    }

    fn validate_raw(&self, bytes: &[u8], origin: RawOrigin, config: &TopicConfig) -> Result<Vec<PendingBatch>> {
        let compacted = config.cleanup_policy.compacts();
        let mut pending = Vec::new();
        let current_batch = std::cell::Cell::new(0usize);
        let records_seen = std::cell::Cell::new(0usize);
        let in_batch = std::cell::Cell::new(0i64);
        let invalid = |position: usize, problem| Error::InvalidBatch { position: position as u64, problem };
        // Legacy entries are refused before any is decoded (a wrapper would be decompressed
        // whole to be checked).
        let mut at = 0usize;
        while let (Some(&magic), Some(size)) =
            (bytes.get(at.saturating_add(16)), bytes.get(at..).and_then(batch::declared_size))
        {
            if magic < 2 {
                return Err(invalid(at, FormatError::LegacyAppend { magic: magic as i8 }));
            }
            at = at.saturating_add(size.max(1) as usize);
        }
        batch::walk_batches(
            bytes,
            |position, header| {
                current_batch.set(position);
                in_batch.set(0);
                if header.magic != batch::MAGIC_V2 {
                    return Err(invalid(position, FormatError::LegacyAppend { magic: header.magic }));
                }
                let size = header.total_size();
                if size > config.max_message_bytes as u64 {
                    return Err(Error::BatchTooLarge {
                        size,
                        limit: config.max_message_bytes as u64,
                        setting: "max.message.bytes",
                    });
                }
                if origin == RawOrigin::Producer {
                    producer_checks(header).map_err(|p| invalid(position, p))?;
                }
                if let (RawOrigin::Replica, Some(last)) = (origin, pending.last()) {
                    let last: &PendingBatch = last;
                    let previous_end = last.base_offset + last.last_offset_delta as u64 + 1;
                    if (header.base_offset as u64) < previous_end {
                        return Err(invalid(
                            position,
                            FormatError::OffsetsNotIncreasing {
                                base_offset: header.base_offset,
                                previous_last_offset: previous_end as i64 - 1,
                            },
                        ));
                    }
                }
                pending.push(PendingBatch {
                    position,
                    base_offset: header.base_offset as u64,
                    last_offset_delta: header.last_offset_delta as u32,
                    max_timestamp: header.max_timestamp,
                });
                Ok(())
            },
            |header, r| {
                let index = records_seen.replace(records_seen.get() + 1);
                let position = current_batch.get();
                if compacted && r.key().is_none() && !header.is_control() {
                    return Err(Error::InvalidRecord {
                        index,
                        reason: "compacted topics reject records without a key",
                    });
                }
                if header.timestamp_type() == batch::TimestampType::CreateTime && r.timestamp() > header.max_timestamp {
                    return Err(invalid(
                        position,
                        FormatError::MaxTimestampTooSmall {
                            max_timestamp: header.max_timestamp,
                            record_timestamp: r.timestamp(),
                        },
                    ));
                }
                // Kafka's produce check: a producer's records are numbered 0, 1, 2, … in their batch.
                let delta = r.offset() as i64 - header.base_offset;
                if origin == RawOrigin::Producer && delta != in_batch.get() {
                    let index = in_batch.get() as u32;
                    return Err(invalid(
                        position,
                        FormatError::BadRecord { index, problem: "offset delta is not its place in the batch" },
                    ));
                }
                in_batch.set(in_batch.get() + 1);
                Ok(())
            },
        )?;
        Ok(pending)
    }

    /// Assigns offsets to the encoded batches in `bytes`, rolls if needed, writes and publishes,
    /// then applies the topic's flush policy. `now` is the append's one clock reading: the time
    /// `segment.ms` rolls are judged by (for `append`, also the records' default timestamp).
    fn append_batches(
        &self,
        bytes: &mut [u8],
        pending: &[PendingBatch],
        origin: RawOrigin,
        config: &TopicConfig,
        now: i64,
    ) -> Result<AppendInfo> {
        let inner = &*self.inner;
        let writer = inner.writer.lock();
        self.check_writable()?;
        let log_end = inner.log_end_offset.load(Ordering::Relaxed);
        let first_offset = match origin {
            RawOrigin::Producer => log_end,
            RawOrigin::Replica => self.replica_start(pending, log_end)?,
        };
        let mut next = first_offset;
        let mut meta = AppendMeta {
            last_offset: first_offset,
            max_timestamp: segment::NO_TIMESTAMP,
            offset_of_max_timestamp: first_offset,
        };
        for b in pending {
            if origin == RawOrigin::Replica {
                next = b.base_offset; // kept; validated to increase
            }
            let last = next
                .checked_add(b.last_offset_delta as u64)
                .filter(|&last| last < i64::MAX as u64)
                .ok_or(Error::OffsetOverflow("the log end offset would pass i64::MAX"))?;
            if origin == RawOrigin::Producer {
                batch::set_base_offset(&mut bytes[b.position..], next as i64);
            }
            if b.max_timestamp > meta.max_timestamp {
                meta.max_timestamp = b.max_timestamp;
                meta.offset_of_max_timestamp = last;
            }
            meta.last_offset = last;
            next = last + 1;
        }
        let mut active = inner.segments.active();
        // The config in force now: a smaller `segment.bytes` or `segment.ms` set since the
        // segment was made rolls it at this append, as in Kafka (a larger one applies from the
        // next segment: this one is mapped at its size).
        let limits = super::roll_limits(config);
        if active.should_roll(bytes.len() as u64, meta.last_offset, meta.max_timestamp, now, limits) {
            // A synchronous topic fsyncs at this append anyway: the sealed segment first.
            let flush = if config.flush_messages == i64::MAX { RollFlush::Behind } else { RollFlush::Now };
            active = self.roll_to(&writer, &active, first_offset, flush)?;
        }
        let fill_due = active.append(bytes, meta)?;
        inner.log_end_offset.store(next, Ordering::SeqCst);
        drop(writer);
        self.wake_waiters();
        if fill_due {
            active.request_fill();
        }
        self.apply_flush_policy(next)?;
        Ok(AppendInfo {
            first_offset,
            last_offset: meta.last_offset,
            max_timestamp: meta.max_timestamp,
            batches: pending.len(),
        })
    }

    /// Starts a new segment at the log end offset now, sealing the active one (trimmed indexes,
    /// fsync), unless the active segment is empty. Segments also roll on their own by
    /// `segment.bytes`, `segment.ms` and full indexes.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.roll()?; // empty: nothing to do
    /// p.append(&[Record::new(b"a")])?;
    /// p.roll()?;
    /// assert_eq!(p.segments().iter().map(|s| s.base_offset()).collect::<Vec<_>>(), [0, 1]);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn roll(&self) -> Result<()> {
        let writer = self.inner.writer.lock();
        self.check_writable()?;
        let active = self.inner.segments.active();
        if active.size() > 0 {
            self.roll_to(&writer, &active, self.inner.log_end_offset.load(Ordering::Relaxed), RollFlush::Now)?;
        }
        Ok(())
    }

    /// Seals the active segment and starts a new one at `base_offset` (Kafka's `roll`). The
    /// caller holds the append lock (`_writer`). With [`RollFlush::Behind`] and a jobs thread
    /// (the log's prefill thread runs), the sealed segment is fsynced by that thread, as Kafka
    /// flushes a rolled segment in the background, and the recovery point passes it then;
    /// otherwise before this returns.
    pub(super) fn roll_to(
        &self,
        _writer: &Writer,
        active: &Arc<Segment>,
        base_offset: u64,
        flush: RollFlush,
    ) -> Result<Arc<Segment>> {
        let inner = &*self.inner;
        match (flush, &inner.prefill) {
            (RollFlush::Behind, Some(prefill)) => {
                active.seal_unflushed()?;
                inner.unflushed.lock().push((active.clone(), base_offset));
                let weak = Arc::downgrade(&self.inner);
                let job = Box::new(move || {
                    if let Some(inner) = weak.upgrade() {
                        Partition { inner }.flush_sealed_behind();
                    }
                });
                if prefill.run_behind(job).is_err() {
                    self.flush_sealed()?;
                }
            }
            _ => {
                active.seal()?;
                let _sync = inner.sync_lock.lock();
                // Segments sealed before this one whose fsync is still owed come first: the
                // recovery point passes none of them before it is durable.
                self.flush_sealed_locked()?;
                // Sealing fsynced everything below the new base offset; the sealed segment's own
                // directory entry may still be new (made by the previous roll): it is made durable
                // before the recovery point passes over the segment.
                self.sync_dir_if_dirty()?;
                inner.recovery_point.fetch_max(base_offset, Ordering::AcqRel);
            }
        }
        let segment = Arc::new(Segment::create(&inner.dir, base_offset, self.segment_spec(), inner.clock.now_ms())?);
        inner.segments.push(segment.clone());
        inner.dir_dirty.store(true, Ordering::Release);
        Ok(segment)
    }
}

/// When a roll fsyncs the segment it seals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RollFlush {
    /// Before the roll returns.
    Now,
    /// On the jobs thread, if the log runs one: a roll inside an append.
    Behind,
}

/// What Kafka's broker refuses from a producer (`LogValidator.validateBatch` and
/// `validateRecord`), beyond the format's own checks.
fn producer_checks(header: &BatchHeader) -> std::result::Result<(), FormatError> {
    let bad = |field, value: i64| Err(FormatError::BadHeaderField { field, value });
    if header.records_count == 0 {
        return bad("recordsCount (a producer's batch holds at least one record)", 0);
    }
    if header.last_offset_delta as i64 != header.records_count as i64 - 1 {
        return bad("lastOffsetDelta (a producer's batch covers exactly its records)", header.last_offset_delta as i64);
    }
    if header.is_control() {
        return bad("attributes (control batches are written by the broker, not producers)", header.attributes as i64);
    }
    if header.producer_id >= 0 && header.base_sequence < 0 {
        return bad("baseSequence (a batch with a producer id needs a sequence)", header.base_sequence as i64);
    }
    Ok(())
}

fn encode_error(e: EncodeError) -> Error {
    match e {
        EncodeError::TooManyRecords => {
            Error::InvalidRecord { index: i32::MAX as usize, reason: "more than i32::MAX records in one append" }
        }
        EncodeError::TooLarge { size, limit, what } => Error::BatchTooLarge { size, limit, setting: what },
        EncodeError::Record { index, reason } => Error::InvalidRecord { index, reason },
        EncodeError::Unsupported(codec) => Error::UnsupportedCodec { codec },
    }
}
