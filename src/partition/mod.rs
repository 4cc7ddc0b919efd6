//! A partition: one ordered, append-only sequence of offsets, stored as a directory
//! `<topic>-<partition>` of segments (Kafka's `UnifiedLog` and `LocalLog`).
//!
//! Data path: `append` encodes the records into one batch (compression and CRC included) in a
//! buffer owned by the calling thread, outside any lock. Under the append lock it then assigns
//! the base offset (bytes 0..8, outside the CRC), rolls the segment if needed, writes the batch
//! with one positioned write, indexes it and publishes the new log end offset, waking readers
//! blocked in [`Partition::wait_for`].
//!
//! Reads take no lock: they find the segment by base offset, look up the sparse index, and read
//! whole, CRC-checked batches up to the segment's published size.

pub(crate) mod load;
pub(crate) mod retention;

use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};

use crate::clock::Clock;
use crate::config::TopicConfig;
use crate::error::{Error, FormatError, Result};
use crate::format::batch::{self, BatchHeader, BatchSpec, EncodeError, RecordsIn};
use crate::format::record::{OwnedRecord, Record, RecordRef};
use crate::partition::load::{complete_interrupted_swaps, Recovery};
use crate::segment::{self, AppendMeta, ReadMode, Segment, SegmentRead, SegmentSpec};
use crate::storage::files;
use crate::storage::io::Io;
use crate::storage::mapped::MappedBytes;
use crate::storage::prefill::Prefill;

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

/// What one retention pass (or [`Partition::delete_records`]) deleted from a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionOutcome {
    /// `<topic>-<partition>`.
    pub partition: String,
    /// Segments deleted.
    pub segments_deleted: usize,
    /// Bytes of their data files.
    pub bytes_deleted: u64,
    /// The log start offset afterwards.
    pub log_start_offset: u64,
}

/// What one compaction pass did to a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionOutcome {
    /// `<topic>-<partition>`.
    pub partition: String,
    /// Segments rewritten (segments with nothing to remove are left alone).
    pub segments_cleaned: usize,
    /// Records removed: superseded, keyless, or tombstones past their horizon.
    pub records_removed: u64,
    /// Bytes of the segments examined, before.
    pub bytes_before: u64,
    /// Their bytes after.
    pub bytes_after: u64,
    /// The next pass fills its key map from here (`cleaner-offset-checkpoint`).
    pub first_dirty_offset: u64,
}

/// Bytes read at a time while compacting a segment.
const CLEANER_CHUNK_BYTES: u64 = 4 << 20;

/// Answer of [`Partition::offset_for_timestamp`]: the first record at or after a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    /// The record's offset.
    pub offset: u64,
    /// The record's timestamp (≥ the time asked for).
    pub timestamp: i64,
}

/// Most yields a group-commit leader makes for appends still arriving before its fsync.
const GATHER_ROUNDS: usize = 16;
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

/// State only the appender touches, behind the append lock. (Its fields live in atomics today;
/// the lock itself is what serialises appends.)
struct Writer;

struct Inner {
    topic: Arc<str>,
    id: u32,
    dir: PathBuf,
    config: Arc<TopicConfig>,
    clock: Arc<dyn Clock>,
    /// Oldest first; never empty. The last one is the active segment.
    segments: RwLock<Vec<Arc<Segment>>>,
    writer: Mutex<Writer>,
    log_start_offset: AtomicU64,
    log_end_offset: AtomicU64,
    /// Every offset below it is durable (fsynced); advanced by flushes and rolls.
    recovery_point: AtomicU64,
    last_flush_ms: AtomicI64,
    /// A file was created in the partition directory since the last directory fsync.
    dir_dirty: AtomicBool,
    /// Serialises fsyncs with flushes, truncation and close.
    sync_lock: Mutex<()>,
    /// Group commit: whether a synchronous appender is fsyncing for the others (the leader).
    /// Followers wait on `sync_done`, all woken at once when the leader's fsync ends: a queue on
    /// `sync_lock` would wake them one by one, and on a small machine the wake-ups, not the
    /// fsyncs, would set the pace.
    sync_leader: std::sync::Mutex<bool>,
    sync_done: std::sync::Condvar,
    /// Compaction's next key map starts here.
    first_dirty_offset: AtomicU64,
    dedupe_buffer_bytes: usize,
    /// One compaction pass at a time.
    cleaner: Mutex<()>,
    /// Files renamed `.deleted` by retention, with the time to unlink them.
    pending_deletes: Mutex<Vec<(i64, Vec<PathBuf>)>>,
    /// The first write or fsync failure: after it, appends are refused (fail-stop).
    failure: Mutex<Option<String>>,
    failed: AtomicBool,
    io: Arc<dyn Io>,
    prefill: Option<Arc<Prefill>>,
    waiters: AtomicUsize,
    wait_lock: Mutex<()>,
    wait_cond: Condvar,
    closed: AtomicBool,
}

/// One partition of a topic: an ordered, append-only sequence of records with dense offsets.
///
/// Cheap to clone (a reference count); `Send + Sync`. Appends from many threads are safe and
/// serialised; reads run concurrently with appends and never see a partial batch.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Log, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("orders", 1, TopicConfig::default())?.partition(0)?;
///
/// let info = p.append(&[Record::new(b"first"), Record::new(b"second").with_key(b"k")])?;
/// assert_eq!((info.first_offset, info.last_offset), (0, 1));
/// assert_eq!(p.log_end_offset(), 2);
///
/// let records = p.read(1, 1 << 20)?;
/// assert_eq!(records.len(), 1);
/// assert_eq!(records[0].value.as_deref(), Some(&b"second"[..]));
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Clone)]
pub struct Partition {
    inner: Arc<Inner>,
}

impl fmt::Debug for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Partition")
            .field("name", &self.name())
            .field("log_start_offset", &self.log_start_offset())
            .field("log_end_offset", &self.log_end_offset())
            .finish()
    }
}

/// How a partition is opened.
pub(crate) struct OpenSpec {
    pub topic: Arc<str>,
    pub id: u32,
    pub dir: PathBuf,
    pub config: Arc<TopicConfig>,
    pub clock: Arc<dyn Clock>,
    pub io: Arc<dyn Io>,
    /// The log's prefill thread, if it runs one.
    pub prefill: Option<Arc<Prefill>>,
    /// The log was closed cleanly: trust the indexes, skip the recovery scan.
    pub clean_shutdown: bool,
    /// From the recovery-point checkpoint: offsets below it were fsynced. `None` recovers all.
    pub recovery_point: Option<u64>,
    /// From the log-start-offset checkpoint.
    pub log_start_offset: Option<u64>,
    /// From the cleaner-offset checkpoint: where compaction's next key map starts.
    pub first_dirty_offset: Option<u64>,
    /// Memory for compaction's key map.
    pub dedupe_buffer_bytes: usize,
    /// Refuse to open on corruption instead of cutting it off.
    pub strict: bool,
}

/// What opening a partition dropped from a damaged tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryEvent {
    /// Partition directory name, e.g. `orders-0`.
    pub partition: String,
    /// The segment data file.
    pub segment: PathBuf,
    /// Position of the first invalid byte; the file was cut there.
    pub position: u64,
    /// Bytes removed.
    pub bytes_dropped: u64,
    /// Why the bytes were invalid.
    pub reason: String,
}

fn segment_spec(config: &TopicConfig, io: &Arc<dyn Io>, prefill: &Option<Arc<Prefill>>) -> SegmentSpec {
    SegmentSpec {
        segment_bytes: config.segment_bytes as u64,
        map_appends: config.flush_messages == i64::MAX,
        max_index_bytes: config.segment_index_bytes as u64,
        index_interval_bytes: config.index_interval_bytes as u64,
        io: io.clone(),
        prefill: prefill.clone(),
    }
}

impl Partition {
    /// Opens (or creates) the partition directory. After an unclean shutdown every segment from
    /// the recovery point on is checked batch by batch and cut at the first invalid byte (see
    /// `docs/design.md`, Recovery); what was dropped is appended to `events`.
    pub(crate) fn open(spec: OpenSpec, events: &mut Vec<RecoveryEvent>) -> Result<Partition> {
        std::fs::create_dir_all(&spec.dir).map_err(Error::io("create directory", &spec.dir))?;
        let seg_spec = segment_spec(&spec.config, &spec.io, &spec.prefill);
        let now = spec.clock.now_ms();
        complete_interrupted_swaps(&spec.dir, &seg_spec, now)?;
        let found = list_segments(&spec.dir)?;
        let name = format!("{}-{}", spec.topic, spec.id);
        let (segments, log_end_offset, dir_dirty) = if found.is_empty() {
            (vec![Segment::create(&spec.dir, 0, seg_spec, now)?], 0, true)
        } else {
            let mut segments: Vec<Segment> = found
                .into_iter()
                .map(|(base, path, size)| Segment::load(path, base, size, seg_spec.clone(), now))
                .collect();
            let clean_end = if spec.clean_shutdown {
                open_active_clean(segments.last_mut().expect("at least one segment")).ok()
            } else {
                None
            };
            let log_end_offset = match clean_end {
                Some(end) => end,
                None => {
                    let recovery = Recovery {
                        partition: &name,
                        from: spec.recovery_point.unwrap_or(0),
                        dense: !spec.config.cleanup_policy.compacts(),
                        strict: spec.strict,
                    };
                    let end = recovery.run(&mut segments, events)?;
                    // What recovery validated is made durable before it counts as recovered.
                    for segment in &segments {
                        segment.flush_data()?;
                    }
                    segments.last().expect("at least one segment").map_for_append()?;
                    end
                }
            };
            (segments, log_end_offset, !spec.clean_shutdown)
        };
        let segments: Vec<Arc<Segment>> = segments.into_iter().map(Arc::new).collect();
        // Kafka: max(checkpoint, first segment's base offset), within the log.
        let log_start_offset = spec.log_start_offset.unwrap_or(0).max(segments[0].base_offset()).min(log_end_offset);
        let partition = Partition {
            inner: Arc::new(Inner {
                topic: spec.topic,
                id: spec.id,
                dir: spec.dir,
                config: spec.config,
                clock: spec.clock,
                segments: RwLock::new(segments),
                writer: Mutex::new(Writer),
                log_start_offset: AtomicU64::new(log_start_offset),
                log_end_offset: AtomicU64::new(log_end_offset),
                recovery_point: AtomicU64::new(log_end_offset),
                last_flush_ms: AtomicI64::new(now),
                dir_dirty: AtomicBool::new(dir_dirty),
                sync_lock: Mutex::new(()),
                sync_leader: std::sync::Mutex::new(false),
                sync_done: std::sync::Condvar::new(),
                first_dirty_offset: AtomicU64::new(spec.first_dirty_offset.unwrap_or(0)),
                dedupe_buffer_bytes: spec.dedupe_buffer_bytes,
                cleaner: Mutex::new(()),
                pending_deletes: Mutex::new(Vec::new()),
                failure: Mutex::new(None),
                failed: AtomicBool::new(false),
                io: spec.io,
                prefill: spec.prefill,
                waiters: AtomicUsize::new(0),
                wait_lock: Mutex::new(()),
                wait_cond: Condvar::new(),
                closed: AtomicBool::new(false),
            }),
        };
        if dir_dirty {
            partition.flush()?;
        }
        Ok(partition)
    }

    /// The topic this partition belongs to.
    pub fn topic(&self) -> &str {
        &self.inner.topic
    }

    /// The partition number.
    pub fn id(&self) -> u32 {
        self.inner.id
    }

    /// `<topic>-<partition>`, the directory name.
    pub fn name(&self) -> String {
        format!("{}-{}", self.inner.topic, self.inner.id)
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The topic configuration in force.
    pub fn config(&self) -> &TopicConfig {
        &self.inner.config
    }

    /// The first readable offset.
    pub fn log_start_offset(&self) -> u64 {
        self.inner.log_start_offset.load(Ordering::Acquire)
    }

    /// The next offset to be assigned (one past the last record).
    pub fn log_end_offset(&self) -> u64 {
        self.inner.log_end_offset.load(Ordering::Acquire)
    }

    /// The segments, oldest first; the last is the active segment.
    pub fn segments(&self) -> Vec<Arc<Segment>> {
        self.inner.segments.read().clone()
    }

    /// Total bytes of all segment data files.
    pub fn size_bytes(&self) -> u64 {
        self.inner.segments.read().iter().map(|s| s.size()).sum()
    }

    fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed { what: format!("partition {}", self.name()) });
        }
        Ok(())
    }

    fn check_writable(&self) -> Result<()> {
        self.check_open()?;
        if self.inner.failed.load(Ordering::Acquire) {
            let cause = self.inner.failure.lock().clone().unwrap_or_default();
            return Err(Error::WritesStopped { partition: self.name(), cause });
        }
        Ok(())
    }

    /// Records the first write or fsync failure; from now on appends are refused (fail-stop):
    /// after a failed fsync the kernel may have dropped dirty pages, so a later fsync that
    /// succeeds proves nothing. Reopening the log recovers from what is really on disk. Other
    /// errors passing through (a corrupt batch met by compaction, say) stop nothing.
    fn fail<T>(&self, result: Result<T>) -> Result<T> {
        if let Err(e @ Error::Io { .. }) = &result {
            let mut failure = self.inner.failure.lock();
            if failure.is_none() {
                *failure = Some(e.to_string());
            }
            self.inner.failed.store(true, Ordering::Release);
        }
        result
    }

    /// Every offset below this is durable: fsynced by a flush, a roll or a synchronous append.
    pub fn recovery_point(&self) -> u64 {
        self.inner.recovery_point.load(Ordering::Acquire)
    }

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
        let written = self.fail((|| {
            let mut active = inner.segments.read().last().expect("never empty").clone();
            if active.should_roll(
                bytes.len() as u64,
                meta.last_offset,
                meta.max_timestamp,
                &inner.config,
                inner.clock.now_ms(),
            ) {
                active = self.roll_to(&writer, &active, first_offset)?;
            }
            active.append(bytes, meta)
        })());
        written?;
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

    /// Kafka's `flush.messages` (fsync once this many records are not yet durable; 1 makes every
    /// append synchronous) and `flush.ms` (fsync when the last flush is this old), checked after
    /// each append. The append returns only after the fsync it triggers.
    fn apply_flush_policy(&self, next: u64) -> Result<()> {
        let config = &self.inner.config;
        let unflushed = next.saturating_sub(self.recovery_point());
        let by_count = config.flush_messages != i64::MAX && unflushed >= config.flush_messages as u64;
        let by_time = config.flush_ms != i64::MAX
            && self.inner.clock.now_ms().saturating_sub(self.inner.last_flush_ms.load(Ordering::Relaxed))
                >= config.flush_ms;
        if by_count || by_time {
            self.sync_to(next)?;
        }
        Ok(())
    }

    /// Makes every offset below `target` durable, sharing the fsync with concurrent callers
    /// (group commit): one caller leads, fsyncing everything written when it starts; the others
    /// wait for it and return if it covered them, or elect the next leader if they appended
    /// after it started. A failed fsync stops writes, so followers then get the failure.
    fn sync_to(&self, target: u64) -> Result<()> {
        let inner = &*self.inner;
        let mut leader = inner.sync_leader.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if self.recovery_point() >= target {
                return Ok(());
            }
            self.check_writable()?;
            if !*leader {
                break;
            }
            leader = inner.sync_done.wait(leader).unwrap_or_else(|e| e.into_inner());
        }
        *leader = true;
        drop(leader);
        self.gather_appends();
        let result = {
            let _sync = inner.sync_lock.lock();
            if self.recovery_point() >= target {
                Ok(())
            } else {
                self.check_writable().and_then(|()| self.sync_locked(false))
            }
        };
        *inner.sync_leader.lock().unwrap_or_else(|e| e.into_inner()) = false;
        inner.sync_done.notify_all();
        result
    }

    /// Before a leader's fsync: lets appenders that are ready to run append first, so that the
    /// fsync covers them too. Without this, the first of the threads woken by the last fsync
    /// leads the next one alone while the others are still being scheduled, and fsyncs
    /// alternate between covering one append and covering the rest. Yields while the log end
    /// offset keeps moving, a bounded number of times; alone, one yield that returns at once.
    fn gather_appends(&self) {
        let mut seen = self.log_end_offset();
        for _ in 0..GATHER_ROUNDS {
            std::thread::yield_now();
            let now = self.log_end_offset();
            if now == seen {
                return;
            }
            seen = now;
        }
    }

    /// Whether `flush.ms` has passed since the last flush with something unflushed: the
    /// maintenance thread's check for partitions that are not being appended to.
    pub(crate) fn flush_due(&self, now_ms: i64) -> bool {
        let config = &self.inner.config;
        config.flush_ms != i64::MAX
            && self.recovery_point() < self.log_end_offset()
            && now_ms.saturating_sub(self.inner.last_flush_ms.load(Ordering::Relaxed)) >= config.flush_ms
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
        let active = self.inner.segments.read().last().expect("never empty").clone();
        if active.size() > 0 {
            self.fail(self.roll_to(&writer, &active, self.inner.log_end_offset.load(Ordering::Relaxed)))?;
        }
        Ok(())
    }

    /// Seals the active segment and starts a new one at `base_offset` (Kafka's `roll`). The
    /// caller holds the append lock (`_writer`).
    fn roll_to(&self, _writer: &Writer, active: &Arc<Segment>, base_offset: u64) -> Result<Arc<Segment>> {
        let inner = &*self.inner;
        active.seal()?;
        // Sealing fsynced everything below the new base offset.
        inner.recovery_point.fetch_max(base_offset, Ordering::AcqRel);
        let spec = segment_spec(&inner.config, &inner.io, &inner.prefill);
        let segment = Arc::new(Segment::create(&inner.dir, base_offset, spec, inner.clock.now_ms())?);
        inner.segments.write().push(segment.clone());
        inner.dir_dirty.store(true, Ordering::Release);
        Ok(segment)
    }

    fn wake_waiters(&self) {
        let inner = &*self.inner;
        // Pairs with the SeqCst increment in wait_for: either the waiter sees the new end
        // offset, or this load sees the waiter and the notify reaches it under the lock.
        if inner.waiters.load(Ordering::SeqCst) > 0 {
            let _guard = inner.wait_lock.lock();
            inner.wait_cond.notify_all();
        }
    }

    /// Blocks until the log end offset passes `offset` (a record at `offset` exists) or
    /// `timeout` elapses, woken by the append itself. Returns whether the offset exists.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// assert!(!p.wait_for(0, Duration::from_millis(10))?);
    ///
    /// let writer = p.clone();
    /// let t = std::thread::spawn(move || writer.append(&[Record::new(b"hello")]));
    /// assert!(p.wait_for(0, Duration::from_secs(10))?);
    /// t.join().unwrap()?;
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn wait_for(&self, offset: u64, timeout: Duration) -> Result<bool> {
        let inner = &*self.inner;
        if inner.log_end_offset.load(Ordering::Acquire) > offset {
            return Ok(true);
        }
        let deadline = Instant::now() + timeout;
        let mut guard = inner.wait_lock.lock();
        inner.waiters.fetch_add(1, Ordering::SeqCst);
        let result = loop {
            if inner.log_end_offset.load(Ordering::SeqCst) > offset {
                break Ok(true);
            }
            if let Err(e) = self.check_open() {
                break Err(e);
            }
            if inner.wait_cond.wait_until(&mut guard, deadline).timed_out() {
                break Ok(inner.log_end_offset.load(Ordering::SeqCst) > offset);
            }
        };
        inner.waiters.fetch_sub(1, Ordering::SeqCst);
        result
    }

    /// Checks `offset` against the readable range and returns the log end offset it used.
    fn check_range(&self, offset: u64) -> Result<u64> {
        let (start, end) = (self.log_start_offset(), self.log_end_offset());
        if offset < start || offset > end {
            return Err(self.out_of_range(offset));
        }
        Ok(end)
    }

    fn out_of_range(&self, offset: u64) -> Error {
        Error::OffsetOutOfRange {
            topic: self.inner.topic.to_string(),
            partition: self.inner.id,
            offset,
            log_start_offset: self.log_start_offset(),
            log_end_offset: self.log_end_offset(),
        }
    }

    /// Applies time and size retention and the log start offset now (see [`crate::Log::enforce_retention`]).
    /// Returns what was deleted, or `None` if nothing was.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::sync::Arc;
    /// use partlog::{Log, LogOptions, ManualClock, Record, TopicConfig};
    /// let clock = Arc::new(ManualClock::new(1_000_000));
    /// let log = Log::open_with(dir.path(), LogOptions::default().clock(clock.clone()))?;
    /// let mut config = TopicConfig::default();
    /// config.retention_ms = 60_000;
    /// let p = log.create_topic("t", 1, config)?.partition(0)?;
    /// p.append(&[Record::new(b"old").with_timestamp(1_000_000)])?;
    /// p.roll()?;
    /// p.append(&[Record::new(b"new").with_timestamp(1_050_000)])?;
    ///
    /// clock.set_ms(1_100_000); // the first segment is 100 s old, the second 50 s
    /// let outcome = p.enforce_retention()?.unwrap();
    /// assert_eq!((outcome.segments_deleted, outcome.log_start_offset), (1, 1));
    /// assert!(p.read(0, 100).is_err());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn enforce_retention(&self) -> Result<Option<RetentionOutcome>> {
        let writer = self.inner.writer.lock();
        self.check_writable()?;
        self.fail(self.delete_old_segments(&writer, crate::partition::retention::Rules::All))
    }

    /// Advances the log start offset to `offset` (Kafka's DeleteRecords): records below it are no
    /// longer readable, and whole segments below it are deleted. Returns the new log start offset.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b"), Record::new(b"c")])?;
    /// assert_eq!(p.delete_records(2)?, 2);
    /// assert_eq!(p.read(2, 100)?[0].value.as_deref(), Some(&b"c"[..]));
    /// assert!(p.read(1, 100).is_err());
    /// assert_eq!(p.delete_records(1)?, 2, "the log start offset never moves back");
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn delete_records(&self, offset: u64) -> Result<u64> {
        let writer = self.inner.writer.lock();
        self.check_writable()?;
        if offset > self.log_end_offset() {
            return Err(self.out_of_range(offset));
        }
        self.inner.log_start_offset.fetch_max(offset, Ordering::AcqRel);
        self.fail(self.delete_old_segments(&writer, crate::partition::retention::Rules::LogStartOffset))?;
        Ok(self.log_start_offset())
    }

    /// Removes every record at and after `offset` (for rolling back, or replication built on
    /// top). Truncation is by whole batches, as in Kafka: the batch holding `offset` goes too, so
    /// the log end offset becomes that batch's base offset. Returns the new log end offset. The
    /// cut is fsynced before this returns. Readers in the middle of the removed data get an
    /// error, never the removed records.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b")])?; // one batch: 0..=1
    /// p.append(&[Record::new(b"c")])?; // 2
    /// assert_eq!(p.truncate_to(2)?, 2);
    /// assert_eq!(p.truncate_to(1)?, 0, "the whole batch 0..=1 goes");
    /// assert_eq!(p.append(&[Record::new(b"again")])?.first_offset, 0);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn truncate_to(&self, offset: u64) -> Result<u64> {
        let inner = &*self.inner;
        let _writer = inner.writer.lock();
        let _sync = inner.sync_lock.lock();
        self.check_writable()?;
        let end = self.log_end_offset();
        if offset >= end {
            return Ok(end);
        }
        if offset < self.log_start_offset() {
            return Err(self.out_of_range(offset));
        }
        self.fail(self.truncate_locked(offset))
    }

    fn truncate_locked(&self, offset: u64) -> Result<u64> {
        let inner = &*self.inner;
        let now = inner.clock.now_ms();
        let segments = self.segments();
        let i = segments.partition_point(|s| s.base_offset() <= offset).saturating_sub(1);
        let old = &segments[i];
        let (cut, new_end) = match old.locate(offset, old.size())? {
            Some((position, header)) => (position, (header.base_offset as u64).min(offset)),
            None => (old.size(), offset),
        };
        // Later segments go the way retention's do; the cut one is replaced by a fresh segment
        // object (new index files), so readers holding the old one keep valid mappings. Its data
        // file is cut in place unless a reader still borrows its mapping: then the kept bytes go
        // to a new file renamed over it (`Segment::cut_to`).
        old.unmap();
        let spec = segment_spec(&inner.config, &inner.io, &inner.prefill);
        let mut replacement = Segment::load(old.log_path().to_owned(), old.base_offset(), old.size(), spec, now);
        replacement.cut_to(cut)?;
        replacement.rebuild_indexes(old.base_offset(), false)?;
        replacement.flush()?;
        replacement.map_for_append()?;
        let later: Vec<Arc<Segment>> = {
            let mut list = inner.segments.write();
            list[i] = Arc::new(replacement);
            list.drain(i + 1..).collect()
        };
        let mut renamed = Vec::new();
        for segment in &later {
            renamed.extend(segment.rename_for_deletion()?);
        }
        inner.pending_deletes.lock().push((now.saturating_add(inner.config.file_delete_delay_ms), renamed));
        inner.log_end_offset.store(new_end, Ordering::SeqCst);
        inner.recovery_point.fetch_min(new_end, Ordering::AcqRel);
        inner.log_start_offset.fetch_min(new_end, Ordering::AcqRel);
        files::sync_dir(&*inner.io, &inner.dir)?;
        inner.recovery_point.store(new_end, Ordering::Release);
        Ok(new_end)
    }

    /// Compacts now, whatever `min.cleanable.dirty.ratio` says (see the compaction module docs in
    /// `src/compaction.rs` for the rules). Topics whose `cleanup.policy` lacks `compact` are left
    /// alone (`None`).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{CleanupPolicy, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let mut config = TopicConfig::default();
    /// config.cleanup_policy = CleanupPolicy::Compact;
    /// let p = log.create_topic("users", 1, config)?.partition(0)?;
    /// p.append(&[Record::new(b"v1").with_key(b"alice"), Record::new(b"v1").with_key(b"bob")])?;
    /// p.append(&[Record::new(b"v2").with_key(b"alice")])?;
    /// p.roll()?; // the active segment is never compacted
    ///
    /// let outcome = p.compact()?.unwrap();
    /// assert_eq!(outcome.records_removed, 1);
    /// let latest: Vec<_> = p.read(0, 1 << 20)?.into_iter().map(|r| (r.offset, r.key.unwrap(), r.value.unwrap())).collect();
    /// assert_eq!(latest, [(1, b"bob".to_vec(), b"v1".to_vec()), (2, b"alice".to_vec(), b"v2".to_vec())]);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn compact(&self) -> Result<Option<CompactionOutcome>> {
        self.compact_pass(true)
    }

    /// Compacts only if the dirty part of the cleanable segments is at least
    /// `min.cleanable.dirty.ratio` of their bytes: the maintenance thread's check.
    pub fn compact_if_dirty(&self) -> Result<Option<CompactionOutcome>> {
        self.compact_pass(false)
    }

    fn compact_pass(&self, force: bool) -> Result<Option<CompactionOutcome>> {
        let inner = &*self.inner;
        let config = &inner.config;
        if !config.cleanup_policy.compacts() {
            return Ok(None);
        }
        let _cleaner = inner.cleaner.lock();
        self.check_writable()?;
        let now = inner.clock.now_ms();
        let segments = self.segments();
        // Whole segments below the active one, and below the first one younger than the lag.
        let mut cleanable = 0;
        while cleanable + 1 < segments.len() {
            let lag = config.min_compaction_lag_ms;
            if lag > 0 && segments[cleanable].largest_timestamp()? > now.saturating_sub(lag) {
                break;
            }
            cleanable += 1;
        }
        if cleanable == 0 {
            return Ok(None);
        }
        let upper = |i: usize| segments[i + 1].base_offset();
        let cleanable_end = upper(cleanable - 1);
        let first_dirty =
            inner.first_dirty_offset.load(Ordering::Acquire).max(self.log_start_offset()).min(cleanable_end);
        let total: u64 = segments[..cleanable].iter().map(|s| s.size()).sum();
        let dirty: u64 = (0..cleanable).filter(|&i| upper(i) > first_dirty).map(|i| segments[i].size()).sum();
        if !force && (dirty == 0 || (dirty as f64) < config.min_cleanable_dirty_ratio * total as f64) {
            return Ok(None);
        }

        // The key map, from the dirty range, until it is full.
        let mut map = crate::compaction::OffsetMap::with_memory(inner.dedupe_buffer_bytes);
        let mut map_end = cleanable_end;
        'fill: for i in (0..cleanable).filter(|&i| upper(i) > first_dirty) {
            let mut full_at = None;
            self.for_each_chunk(&segments[i], |chunk| {
                batch::for_each_record(chunk, |header, r| {
                    if full_at.is_none() && !header.is_control() && r.offset() >= first_dirty {
                        if let Some(key) = r.key() {
                            if !map.put(key, r.offset()) {
                                full_at = Some(r.offset());
                            }
                        }
                    }
                })
                .map(drop)
            })?;
            if let Some(offset) = full_at {
                map_end = offset;
                break 'fill;
            }
        }

        let filter = crate::compaction::Filter {
            map: &map,
            map_end,
            now_ms: now,
            delete_retention_ms: config.delete_retention_ms,
            levels: config.codec_levels(),
        };
        let mut outcome = CompactionOutcome {
            partition: self.name(),
            segments_cleaned: 0,
            records_removed: 0,
            bytes_before: 0,
            bytes_after: 0,
            first_dirty_offset: 0,
        };
        for segment in segments[..cleanable].iter().filter(|s| s.base_offset() < map_end) {
            let (cleaned, size, removed) = self.fail(self.clean_segment(segment, &filter))?;
            outcome.bytes_before += segment.size();
            outcome.records_removed += removed;
            outcome.bytes_after += size;
            if let Some(path) = cleaned {
                self.fail(self.swap_in(segment, &path, size))?;
                outcome.segments_cleaned += 1;
            }
        }
        inner.first_dirty_offset.fetch_max(map_end, Ordering::AcqRel);
        outcome.first_dirty_offset = self.first_dirty_offset();
        Ok(Some(outcome))
    }

    /// Where compaction's next key map starts.
    pub fn first_dirty_offset(&self) -> u64 {
        self.inner.first_dirty_offset.load(Ordering::Acquire).max(self.log_start_offset())
    }

    /// Calls `visit` with the segment's whole batches, a few MiB at a time.
    fn for_each_chunk(&self, segment: &Segment, mut visit: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
        let mut buf = Vec::new();
        let mut next = segment.base_offset();
        loop {
            buf.clear();
            let mode = ReadMode { min_one: true, borrow: false };
            match segment.read(next, u64::MAX, CLEANER_CHUNK_BYTES, mode, &mut buf)? {
                SegmentRead::Batches { next_offset, reached_end, .. } => {
                    visit(&buf)?;
                    next = next_offset;
                    if reached_end {
                        return Ok(());
                    }
                }
                SegmentRead::Nothing | SegmentRead::DoesNotFit => return Ok(()),
            }
        }
    }

    /// Writes the filtered copy of `segment` to `<base>.log.cleaned` and fsyncs it. Returns its
    /// path (`None` if nothing would change, and no file is left), its size and the records removed.
    fn clean_segment(
        &self,
        segment: &Segment,
        filter: &crate::compaction::Filter<'_>,
    ) -> Result<(Option<PathBuf>, u64, u64)> {
        let io = &*self.inner.io;
        let cleaned_path = files::with_suffix(segment.log_path(), crate::partition::load::CLEANED_SUFFIX);
        let file = std::fs::File::create(&cleaned_path).map_err(Error::io("create", &cleaned_path))?;
        let (mut size, mut removed, mut changed) = (0u64, 0u64, 0u64);
        let mut out = Vec::new();
        self.for_each_chunk(segment, |chunk| {
            out.clear();
            let done = filter.apply(chunk, &mut out).map_err(|e| segment.decode_error(0, e))?;
            removed += done.records_removed;
            changed += done.batches_changed;
            io.write_all_at(&file, &cleaned_path, &out, size).map_err(Error::io("write", &cleaned_path))?;
            size += out.len() as u64;
            Ok(())
        })?;
        if changed == 0 {
            drop(file);
            std::fs::remove_file(&cleaned_path).map_err(Error::io("delete", &cleaned_path))?;
            return Ok((None, segment.size(), 0));
        }
        io.sync_data(&file, &cleaned_path).map_err(Error::io("fsync", &cleaned_path))?;
        Ok((Some(cleaned_path), size, removed))
    }

    /// Kafka's swap: `.cleaned` → `.swap`, the old files → `.deleted`, `.swap` → the final name,
    /// with directory fsyncs between, so that recovery finishes or undoes it (docs/design.md).
    fn swap_in(&self, old: &Arc<Segment>, cleaned: &Path, size: u64) -> Result<()> {
        let inner = &*self.inner;
        let _writer = inner.writer.lock();
        let Some(index) = inner.segments.read().iter().position(|s| Arc::ptr_eq(s, old)) else {
            // Deleted by retention or truncation meanwhile.
            return std::fs::remove_file(cleaned).map_err(Error::io("delete", cleaned));
        };
        let log_path = old.log_path().to_owned();
        let swap = files::with_suffix(&log_path, crate::partition::load::SWAP_SUFFIX);
        std::fs::rename(cleaned, &swap).map_err(Error::io("rename", cleaned))?;
        files::sync_dir(&*inner.io, &inner.dir)?;
        let renamed = old.rename_for_deletion()?;
        std::fs::rename(&swap, &log_path).map_err(Error::io("rename", &swap))?;
        files::sync_dir(&*inner.io, &inner.dir)?;
        let now = inner.clock.now_ms();
        // Its index files were renamed away with the old segment: rebuilt on first use.
        let segment = Segment::load(
            log_path,
            old.base_offset(),
            size,
            segment_spec(&inner.config, &inner.io, &inner.prefill),
            now,
        );
        inner.segments.write()[index] = Arc::new(segment);
        inner.pending_deletes.lock().push((now.saturating_add(inner.config.file_delete_delay_ms), renamed));
        Ok(())
    }

    /// Deletes the segments retention selects; the caller holds the append lock.
    fn delete_old_segments(
        &self,
        writer: &Writer,
        rules: crate::partition::retention::Rules,
    ) -> Result<Option<RetentionOutcome>> {
        let inner = &*self.inner;
        let now = inner.clock.now_ms();
        let segments = self.segments();
        let facts = segments
            .iter()
            .map(|s| {
                let largest_timestamp = s.retention_timestamp()?;
                Ok(crate::partition::retention::SegmentFacts {
                    base_offset: s.base_offset(),
                    size: s.size(),
                    largest_timestamp,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let end = self.log_end_offset();
        let n = crate::partition::retention::deletable_prefix(
            &facts,
            self.log_start_offset(),
            end,
            &inner.config,
            now,
            rules,
        );
        self.purge_deleted(now);
        if n == 0 {
            return Ok(None);
        }
        if n == segments.len() {
            // Everything goes: a new empty active segment first, so the partition keeps one.
            self.roll_to(writer, &segments[n - 1], end)?;
        }
        let survivor = inner.segments.read()[n].base_offset();
        inner.log_start_offset.fetch_max(survivor, Ordering::AcqRel);
        let doomed: Vec<Arc<Segment>> = inner.segments.write().drain(..n).collect();
        let mut renamed = Vec::new();
        for segment in &doomed {
            renamed.extend(segment.rename_for_deletion()?);
        }
        inner.dir_dirty.store(true, Ordering::Release);
        inner.pending_deletes.lock().push((now.saturating_add(inner.config.file_delete_delay_ms), renamed));
        self.purge_deleted(now);
        Ok(Some(RetentionOutcome {
            partition: self.name(),
            segments_deleted: n,
            bytes_deleted: doomed.iter().map(|s| s.size()).sum(),
            log_start_offset: self.log_start_offset(),
        }))
    }

    /// Unlinks `.deleted` files whose `file.delete.delay.ms` has passed. Readers that still hold
    /// a deleted segment keep reading through its open file.
    pub(crate) fn purge_deleted(&self, now_ms: i64) {
        let mut pending = self.inner.pending_deletes.lock();
        pending.retain(|(due, paths)| {
            if *due > now_ms {
                return true;
            }
            for path in paths {
                // A leftover is removed at the next open.
                let _ = std::fs::remove_file(path);
            }
            false
        });
    }

    /// The segment holding `offset`: the last one whose base offset is ≤ it.
    fn segment_for(&self, offset: u64) -> (Arc<Segment>, Option<u64>) {
        let segments = self.inner.segments.read();
        let i = segments.partition_point(|s| s.base_offset() <= offset).saturating_sub(1);
        (segments[i].clone(), segments.get(i + 1).map(|s| s.base_offset()))
    }

    /// Appends to `out` whole batches holding offsets from `from` on, up to `max_bytes` in all,
    /// but always at least one batch if any exists, so that a reader always makes progress
    /// (Kafka's fetch semantics). The first batch may start before `from`. Every batch is
    /// CRC-checked. Returns the offset to read next.
    ///
    /// Errors: [`Error::OffsetOutOfRange`] unless `log_start_offset ≤ from ≤ log_end_offset`;
    /// [`Error::CorruptBatch`] if the bytes on disk fail a check.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b")])?;
    /// p.append(&[Record::new(b"c")])?;
    /// let mut raw = Vec::new();
    /// assert_eq!(p.read_raw(1, 1, &mut raw)?, 2); // one whole batch despite the 1-byte limit
    /// raw.clear();
    /// assert_eq!(p.read_raw(0, 1 << 20, &mut raw)?, 3);
    /// assert_eq!(p.read_raw(3, 1 << 20, &mut raw)?, 3); // at the end: nothing more
    /// assert!(p.read_raw(4, 1 << 20, &mut raw).is_err());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn read_raw(&self, from: u64, max_bytes: usize, out: &mut Vec<u8>) -> Result<u64> {
        self.read_batches(from, max_bytes, out, None)
    }

    /// [`read_raw`](Self::read_raw), borrowing instead of copying when the batches come first
    /// from the mapped active segment and `mapped` is given: they are left there, `out` is
    /// untouched, and the read ends there.
    fn read_batches(
        &self,
        from: u64,
        max_bytes: usize,
        out: &mut Vec<u8>,
        mut mapped: Option<&mut Option<MappedBytes>>,
    ) -> Result<u64> {
        // One snapshot of the end: an append publishes its segment's size before the log end
        // offset, and a read must not return a batch the log does not count yet.
        let end_offset = self.check_range(from)?;
        let mut next = from;
        let mut remaining = max_bytes as u64;
        let mut first = true;
        loop {
            let (segment, following_base) = self.segment_for(next);
            let before = out.len();
            if next >= end_offset {
                break;
            }
            if next < segment.base_offset() {
                // The segment holding `next` was deleted by retention after the range check.
                return Err(self.out_of_range(next));
            }
            let mode = ReadMode { min_one: first, borrow: first && mapped.is_some() };
            match segment.read(next, end_offset, remaining, mode, out)? {
                SegmentRead::Batches { next_offset, mapped: Some(bytes), .. } => {
                    if let Some(slot) = mapped.as_deref_mut() {
                        *slot = Some(bytes);
                    }
                    next = next_offset;
                    break;
                }
                SegmentRead::Batches { next_offset, reached_end, mapped: None } => {
                    next = next_offset;
                    first = false;
                    remaining = remaining.saturating_sub((out.len() - before) as u64);
                    if !reached_end || remaining == 0 {
                        break;
                    }
                }
                SegmentRead::Nothing => {}
                SegmentRead::DoesNotFit => break,
            }
            // This segment is exhausted: continue in the next one, if any.
            match following_base {
                Some(base) => next = next.max(base),
                None => break,
            }
        }
        Ok(next)
    }

    /// Reads records from `from` on into `fetch`, up to about `max_bytes` of batches (at least
    /// one batch), without an allocation per record. Records before `from` in the first batch
    /// and control batches are skipped. Iterate with [`Fetch::records`].
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Fetch, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b"), Record::new(b"c")])?;
    ///
    /// let mut fetch = Fetch::new(); // reuse it: its buffers are kept between fetches
    /// p.fetch(1, 1 << 20, &mut fetch)?;
    /// let mut values = Vec::new();
    /// for r in fetch.records() {
    ///     values.push(r?.value().unwrap().to_vec()); // each record is decoded as it is reached
    /// }
    /// assert_eq!(values, [b"b".to_vec(), b"c".to_vec()]);
    /// assert_eq!(fetch.next_offset(), 3);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn fetch(&self, from: u64, max_bytes: usize, fetch: &mut Fetch) -> Result<()> {
        fetch.clear();
        fetch.next_offset = self.read_batches(from, max_bytes, &mut fetch.raw, Some(&mut fetch.mapped))?;
        fetch.origin = Some(self.clone());
        fetch.prepare(from, |position, e| self.located_error(position, e))
    }

    /// Attaches the segment file and position to a decoding error of the batch at `offset`.
    fn located_error(&self, offset: u64, e: batch::DecodeError) -> Error {
        let (segment, _) = self.segment_for(offset);
        let position = match segment.locate(offset, segment.size()) {
            Ok(Some((position, _))) => position,
            _ => 0,
        };
        segment.decode_error(position, e)
    }

    /// Reads every batch of the partition, checking each (length, magic, CRC, offsets): the
    /// full checksum pass that opening skips for data below the recovery point. Returns the
    /// first problem as [`Error::CorruptBatch`] with the file and position.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a")])?;
    /// p.verify()?;
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn verify(&self) -> Result<()> {
        let mut buf = Vec::new();
        let mut next = self.log_start_offset();
        while next < self.log_end_offset() {
            buf.clear();
            let after = self.read_raw(next, 1 << 20, &mut buf)?;
            batch::for_each_record(&buf, |_, _| {}).map_err(|e| match e {
                Error::InvalidBatch { problem, .. } => self.located_error(next, batch::DecodeError::Format(problem)),
                other => other,
            })?;
            if after <= next {
                break;
            }
            next = after;
        }
        Ok(())
    }

    /// Reads records from `from` on, up to about `max_bytes` of batches (at least one batch),
    /// as owned copies. [`fetch`](Self::fetch) avoids the copies.
    pub fn read(&self, from: u64, max_bytes: usize) -> Result<Vec<OwnedRecord>> {
        let mut fetch = Fetch::new();
        self.fetch(from, max_bytes, &mut fetch)?;
        fetch.records().map(|r| r.map(|r| r.to_owned())).collect()
    }

    /// The first record, in offset order from the log start offset, whose timestamp is
    /// ≥ `timestamp` (Kafka's ListOffsets for a timestamp), or `None` if there is none.
    /// Uses the time index, then the offset index, then a scan of batch headers.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig, TimestampOffset};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a").with_timestamp(100), Record::new(b"b").with_timestamp(300)])?;
    /// p.append(&[Record::new(b"c").with_timestamp(200)])?;
    /// assert_eq!(p.offset_for_timestamp(150)?, Some(TimestampOffset { offset: 1, timestamp: 300 }));
    /// assert_eq!(p.offset_for_timestamp(0)?.unwrap().offset, 0);
    /// assert_eq!(p.offset_for_timestamp(301)?, None);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<TimestampOffset>> {
        let start = self.log_start_offset();
        for segment in self.segments() {
            if segment.largest_timestamp()? < timestamp {
                continue;
            }
            if let Some((offset, timestamp)) = segment.find_offset_by_timestamp(timestamp, start)? {
                return Ok(Some(TimestampOffset { offset, timestamp }));
            }
        }
        Ok(None)
    }

    /// Makes everything appended so far durable: fsync of the active segment's data file and
    /// indexes, and of the directory if files were created since the last flush. Earlier
    /// segments were fsynced when they were sealed. Advances the [`recovery_point`](Self::recovery_point).
    pub fn flush(&self) -> Result<()> {
        let _sync = self.inner.sync_lock.lock();
        self.check_writable()?;
        self.sync_locked(true)
    }

    /// fsyncs what is written (with `indexes`, the active segment's indexes too) and the
    /// directory if needed; the caller holds the sync lock. A failure stops appends.
    fn sync_locked(&self, indexes: bool) -> Result<()> {
        let inner = &*self.inner;
        // Everything below `upto` is written: in sealed segments (fsynced when sealed) or in the
        // active one.
        let upto = inner.log_end_offset.load(Ordering::SeqCst);
        let active = inner.segments.read().last().expect("never empty").clone();
        self.fail(if indexes { active.flush() } else { active.flush_data() })?;
        if inner.dir_dirty.swap(false, Ordering::AcqRel) {
            let synced = files::sync_dir(&*inner.io, &inner.dir);
            if synced.is_err() {
                inner.dir_dirty.store(true, Ordering::Release);
            }
            self.fail(synced)?;
        }
        inner.recovery_point.fetch_max(upto, Ordering::AcqRel);
        inner.last_flush_ms.store(inner.clock.now_ms(), Ordering::Relaxed);
        Ok(())
    }

    /// Seals the active segment (trimmed indexes, fsync) and refuses further appends. A
    /// partition that failed a write or fsync is left for recovery at the next open: its error
    /// is returned, so the log records no clean shutdown.
    pub(crate) fn close(&self) -> Result<()> {
        let inner = &*self.inner;
        let _writer = inner.writer.lock();
        let _sync = inner.sync_lock.lock();
        if inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let result = if inner.failed.load(Ordering::Acquire) {
            let cause = inner.failure.lock().clone().unwrap_or_default();
            Err(Error::WritesStopped { partition: self.name(), cause })
        } else {
            let active = inner.segments.read().last().expect("never empty").clone();
            active.seal().and_then(|()| files::sync_dir(&*inner.io, &inner.dir)).map(|()| {
                inner.recovery_point.store(inner.log_end_offset.load(Ordering::SeqCst), Ordering::Release);
            })
        };
        // Wake waiters so they see the close.
        let _guard = inner.wait_lock.lock();
        inner.wait_cond.notify_all();
        result
    }

    /// Marks the partition closed without touching its files (its topic is being deleted).
    pub(crate) fn abandon(&self) {
        let _writer = self.inner.writer.lock();
        self.inner.closed.store(true, Ordering::Release);
        // No appends from now on: readers still holding the mapping read only what it published.
        if let Some(active) = self.inner.segments.read().last() {
            active.unmap();
        }
        let _guard = self.inner.wait_lock.lock();
        self.inner.wait_cond.notify_all();
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

/// Segment data files in `dir`, sorted by base offset: `(base offset, path, size)`. Index files
/// without a data file are deleted, as Kafka does.
fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf, u64)>> {
    let mut logs = Vec::new();
    let mut indexes = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(Error::io("list", dir))? {
        let entry = entry.map_err(Error::io("list", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(base) = segment::parse_segment_file_name(name, segment::LOG_SUFFIX) {
            let size = entry.metadata().map_err(Error::io("stat", entry.path()))?.len();
            logs.push((base, entry.path(), size));
        } else if let Some(base) = segment::parse_segment_file_name(name, ".index")
            .or_else(|| segment::parse_segment_file_name(name, ".timeindex"))
        {
            indexes.push((base, entry.path()));
        }
    }
    logs.sort_unstable_by_key(|s| s.0);
    for (base, path) in indexes {
        if logs.binary_search_by_key(&base, |s| s.0).is_err() {
            std::fs::remove_file(&path).map_err(Error::io("delete orphan index", &path))?;
        }
    }
    Ok(logs)
}

/// After a clean shutdown: open the active segment's indexes and find the log end offset by
/// scanning the headers after the last index entry.
fn open_active_clean(active: &mut Segment) -> Result<u64> {
    active.activate()?;
    let start = active.offset_index()?.last_entry().map_or(0, |e| e.position as u64);
    let mut end = active.base_offset();
    active.scan_headers(start, active.size(), |_, header| {
        end = header.last_offset() as u64 + 1;
        std::ops::ControlFlow::Continue(())
    })?;
    Ok(end)
}

/// A batch of a [`Fetch`] to decode: its records section in one of the fetch's buffers, and
/// where decoding starts (past the records before the fetched offset).
#[derive(Debug, Clone, Copy)]
struct FetchedBatch {
    in_scratch: bool,
    section: (usize, usize),
    cursor: batch::CursorState,
}

/// Reusable buffers for reading records without an allocation per record: the raw batches (or
/// the mapping they are borrowed from) and the decompressed records of compressed batches.
///
/// See [`Partition::fetch`].
#[derive(Debug, Default)]
pub struct Fetch {
    raw: Vec<u8>,
    /// The batches, when borrowed from the active segment's mapping instead of read into `raw`.
    mapped: Option<MappedBytes>,
    scratch: Vec<u8>,
    batches: Vec<FetchedBatch>,
    len: usize,
    next_offset: u64,
    /// The partition fetched from, to say where a record that fails to decode lies.
    origin: Option<Partition>,
}

impl Fetch {
    /// Empty buffers.
    pub fn new() -> Self {
        Fetch::default()
    }

    fn clear(&mut self) {
        self.raw.clear();
        self.mapped = None;
        self.scratch.clear();
        self.batches.clear();
        self.len = 0;
    }

    /// The records fetched, in offset order, each decoded as the iterator reaches it.
    ///
    /// [`Partition::fetch`] checked every batch's CRC and framing, so an error here means a
    /// record malformed inside a batch whose checksum matches (a faulty writer or a crafted
    /// file): [`Error::CorruptBatch`] with the file and position of the batch, after which the
    /// iterator ends.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Fetch, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a").with_key(b"k"), Record::new(b"b")])?;
    /// let mut fetch = Fetch::new();
    /// p.fetch(0, 1 << 20, &mut fetch)?;
    /// let mut keys = Vec::new();
    /// for r in fetch.records() {
    ///     keys.push(r?.key().map(<[u8]>::to_vec));
    /// }
    /// assert_eq!(keys, [Some(b"k".to_vec()), None]);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn records(&self) -> Records<'_> {
        Records { fetch: self, batches: self.batches.iter(), current: None, remaining: self.len }
    }

    /// Number of records fetched: what the batches' headers count from the fetched offset on.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no record was fetched.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The offset to fetch next.
    #[inline]
    pub fn next_offset(&self) -> u64 {
        self.next_offset
    }

    /// The whole batches read, as stored (Kafka format).
    pub fn raw_batches(&self) -> &[u8] {
        batches_of(&self.raw, &self.mapped)
    }

    /// Opens every batch read (already CRC-checked): decompresses it if it is compressed, and
    /// steps over the records before `from`. The records themselves are decoded by [`Records`].
    fn prepare(&mut self, from: u64, error: impl Fn(u64, batch::DecodeError) -> Error) -> Result<()> {
        let Fetch { raw, mapped, scratch, batches, len, .. } = self;
        let raw = batches_of(raw, mapped);
        let mut position = 0;
        while position < raw.len() {
            let header = BatchHeader::parse(&raw[position..]).expect("read_raw returns whole batches");
            let end = position + header.total_size() as usize;
            let batch = &raw[position..end];
            if header.is_control() || header.records_count == 0 || (header.last_offset() as u64) < from {
                position = end;
                continue;
            }
            let (header, records) =
                batch::open_batch(batch, u64::MAX, scratch, false).map_err(|e| error(header.base_offset as u64, e))?;
            let (section, in_scratch) = match records {
                RecordsIn::Batch(r) => ((position + r.start, position + r.end), false),
                RecordsIn::Scratch(r) => ((r.start, r.end), true),
            };
            let bytes = if in_scratch { &scratch[section.0..section.1] } else { &raw[section.0..section.1] };
            let format = |e| error(header.base_offset as u64, batch::DecodeError::Format(e));
            let mut cursor = batch::RecordCursor::new(&header, bytes).map_err(format)?;
            cursor.skip_before(from).map_err(format)?;
            *len += cursor.remaining() as usize;
            batches.push(FetchedBatch { in_scratch, section, cursor: cursor.state() });
            position = end;
        }
        Ok(())
    }
}

/// The batches a fetch read: borrowed from the mapping, or else copied into `raw`.
fn batches_of<'a>(raw: &'a [u8], mapped: &'a Option<MappedBytes>) -> &'a [u8] {
    match mapped {
        Some(m) => m.bytes(),
        None => raw,
    }
}

/// The records of a [`Fetch`], decoded one at a time. See [`Fetch::records`].
pub struct Records<'a> {
    fetch: &'a Fetch,
    batches: std::slice::Iter<'a, FetchedBatch>,
    current: Option<batch::RecordCursor<'a>>,
    remaining: usize,
}

impl std::fmt::Debug for Records<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records").field("remaining", &self.remaining).finish_non_exhaustive()
    }
}

impl<'a> Records<'a> {
    #[cold]
    fn fail(&mut self, cursor: batch::CursorState, e: crate::error::FormatError) -> Error {
        self.batches = [].iter();
        self.remaining = 0;
        match &self.fetch.origin {
            Some(p) => p.located_error(cursor.base_offset() as u64, batch::DecodeError::Format(e)),
            // Batches are only ever prepared by a partition's fetch, which sets the origin.
            None => Error::InvalidBatch { problem: e, position: 0 },
        }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<RecordRef<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(cursor) = &mut self.current {
                match cursor.next_record() {
                    Ok(Some(r)) => {
                        self.remaining = self.remaining.saturating_sub(1);
                        return Some(Ok(r));
                    }
                    Ok(None) => self.current = None,
                    Err(e) => {
                        let state = cursor.state();
                        self.current = None;
                        return Some(Err(self.fail(state, e)));
                    }
                }
            }
            let b = self.batches.next()?;
            let buf = if b.in_scratch { &self.fetch.scratch[..] } else { self.fetch.raw_batches() };
            self.current = Some(batch::RecordCursor::resume(b.cursor, &buf[b.section.0..b.section.1]));
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining))
    }
}
