//! Appends and rolls (Kafka's `UnifiedLog.append` and `roll`): records are encoded into one
//! batch in a buffer owned by the calling thread, outside any lock; under the append lock the
//! batch gets its base offset (bytes 0..8, outside the CRC), the active segment rolls if it must,
//! and the batch is written, indexed and published.

use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Partition, Writer};
use crate::error::{Error, FormatError, Result};
use crate::format::batch::{self, BatchSpec, EncodeError};
use crate::format::record::Record;
use crate::segment::{self, AppendMeta, Segment};

/// What an append did.
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
    last_offset_delta: u32,
    max_timestamp: i64,
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
        let config = &self.inner.config;
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
                    last_offset_delta: encoded.last_offset_delta as u32,
                    max_timestamp: encoded.max_timestamp,
                }];
                self.check_size(out.len() as u64)?;
                self.append_batches(out, &pending)
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

    fn check_size(&self, size: u64) -> Result<()> {
        let config = &self.inner.config;
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
        if batches.is_empty() {
            return Err(Error::EmptyAppend);
        }
        let pending = self.validate_raw(batches)?;
        self.check_size(batches.len() as u64).or_else(|e| match e {
            // Several batches may together pass max.message.bytes; only segment.bytes binds them.
            Error::BatchTooLarge { setting: "max.message.bytes", .. } => Ok(()),
            other => Err(other),
        })?;
        ENCODE_BUFFERS.with(|buffers| {
            let mut buffers = buffers.borrow_mut();
            let out = &mut buffers.batch;
            out.clear();
            out.extend_from_slice(batches);
            let result = self.append_batches(out, &pending);
            if out.capacity() > RETAINED_ENCODE_BYTES {
                *out = Vec::new();
            }
            result
        })
    }

    fn validate_raw(&self, bytes: &[u8]) -> Result<Vec<PendingBatch>> {
        let config = &self.inner.config;
        let compacted = config.cleanup_policy.compacts();
        let mut pending = Vec::new();
        let current_batch = std::cell::Cell::new(0usize);
        let records_seen = std::cell::Cell::new(0usize);
        batch::walk_batches(
            bytes,
            |position, header| {
                current_batch.set(position);
                let size = header.total_size();
                if size > config.max_message_bytes as u64 {
                    return Err(Error::BatchTooLarge {
                        size,
                        limit: config.max_message_bytes as u64,
                        setting: "max.message.bytes",
                    });
                }
                pending.push(PendingBatch {
                    position,
                    last_offset_delta: header.last_offset_delta as u32,
                    max_timestamp: header.max_timestamp,
                });
                Ok(())
            },
            |header, r| {
                let index = records_seen.replace(records_seen.get() + 1);
                if compacted && r.key().is_none() && !header.is_control() {
                    return Err(Error::InvalidRecord {
                        index,
                        reason: "compacted topics reject records without a key",
                    });
                }
                if header.timestamp_type() == batch::TimestampType::CreateTime && r.timestamp() > header.max_timestamp {
                    return Err(Error::InvalidBatch {
                        position: current_batch.get() as u64,
                        problem: FormatError::MaxTimestampTooSmall {
                            max_timestamp: header.max_timestamp,
                            record_timestamp: r.timestamp(),
                        },
                    });
                }
                Ok(())
            },
        )?;
        Ok(pending)
    }

    /// Assigns offsets to the encoded batches in `bytes`, rolls if needed, writes and publishes,
    /// then applies the topic's flush policy.
    fn append_batches(&self, bytes: &mut [u8], pending: &[PendingBatch]) -> Result<AppendInfo> {
        let inner = &*self.inner;
        let writer = inner.writer.lock();
        self.check_writable()?;
        let first_offset = inner.log_end_offset.load(Ordering::Relaxed);
        let mut next = first_offset;
        let mut meta = AppendMeta {
            last_offset: first_offset,
            max_timestamp: segment::NO_TIMESTAMP,
            offset_of_max_timestamp: first_offset,
        };
        for b in pending {
            let last = next
                .checked_add(b.last_offset_delta as u64)
                .filter(|&last| last < i64::MAX as u64)
                .ok_or(Error::OffsetOverflow("the log end offset would pass i64::MAX"))?;
            batch::set_base_offset(&mut bytes[b.position..], next as i64);
            if b.max_timestamp > meta.max_timestamp {
                meta.max_timestamp = b.max_timestamp;
                meta.offset_of_max_timestamp = last;
            }
            meta.last_offset = last;
            next = last + 1;
        }
        let mut active = inner.segments.active();
        if active.should_roll(bytes.len() as u64, meta.last_offset, meta.max_timestamp, inner.clock.now_ms()) {
            active = self.roll_to(&writer, &active, first_offset)?;
        }
        active.append(bytes, meta)?;
        inner.log_end_offset.store(next, Ordering::SeqCst);
        drop(writer);
        self.wake_waiters();
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
            self.roll_to(&writer, &active, self.inner.log_end_offset.load(Ordering::Relaxed))?;
        }
        Ok(())
    }

    /// Seals the active segment and starts a new one at `base_offset` (Kafka's `roll`). The
    /// caller holds the append lock (`_writer`).
    pub(super) fn roll_to(&self, _writer: &Writer, active: &Arc<Segment>, base_offset: u64) -> Result<Arc<Segment>> {
        let inner = &*self.inner;
        active.seal()?;
        // Sealing fsynced everything below the new base offset.
        inner.recovery_point.fetch_max(base_offset, Ordering::AcqRel);
        let segment = Arc::new(Segment::create(&inner.dir, base_offset, self.segment_spec(), inner.clock.now_ms())?);
        inner.segments.push(segment.clone());
        inner.dir_dirty.store(true, Ordering::Release);
        Ok(segment)
    }
}

fn encode_error(e: EncodeError) -> Error {
    match e {
        EncodeError::TooManyRecords => {
            Error::InvalidRecord { index: i32::MAX as usize, reason: "more than i32::MAX records in one append" }
        }
        EncodeError::TooLarge => Error::BatchTooLarge {
            size: i32::MAX as u64 + 1,
            limit: i32::MAX as u64,
            setting: "the int32 batch length",
        },
        EncodeError::Record { index, reason } => Error::InvalidRecord { index, reason },
        EncodeError::Unsupported(codec) => Error::UnsupportedCodec { codec },
    }
}
