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

mod append;
mod compact;
mod durability;
pub(crate) mod load;
mod lost;
mod read;
mod read_only;
pub(crate) use read_only::Refreshed;
pub(crate) mod retention;
mod segments;
mod tail;
mod truncate;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

pub use append::AppendInfo;
pub use compact::CompactionOutcome;
pub(crate) use compact::Trigger;
use durability::FailStop;
pub use load::RecoveryEvent;
pub(crate) use load::{CheckpointHook, OpenSpec};
use lost::LostOffsets;
pub(crate) use read::RecordsAt;
pub use read::{Fetch, Records, TimestampOffset};
pub use retention::RetentionOutcome;
use segments::SegmentSet;
pub use tail::{AppendSignal, Watch};

use crate::clock::Clock;
use crate::config::TopicConfig;
use crate::error::{Error, Result};
use crate::segment::{Offsets, Segment, SegmentSpec};
use crate::storage::files;
use crate::storage::prefill::Prefill;

/// The append lock's token: held by appends, rolls, retention, truncation, the swap of a
/// cleaned segment and close. It carries no data; holding it is what serialises them.
struct Writer;

/// A partition's shared state.
///
/// # Lock order
///
/// A thread holding one of these takes only locks further down the list:
///
/// 1. `cleaner`: one compaction pass at a time, held for the whole pass.
/// 2. `writer`: the append lock (see [`Writer`]).
/// 3. `sync_lock`: fsyncs that move the recovery point (explicit flushes, the group-commit
///    leader, truncation, close, rolls, and the background thread's fsync of segments sealed by
///    rolls inside appends).
/// 4. `segments`: the segment list, held only to read or change the list, never across I/O.
/// 5. Leaves, never held while taking another lock: `sync_leader`, `pending_deletes`,
///    `wait_lock`, `dir_sync` (held across the directory fsync only), `lost`, `unflushed`, and
///    the fail-stop record in `io`.
///
/// Locks inside a segment (its mapping, the zero-fill lock, the index cursor, each index's
/// writer) come after all of these.
struct Inner {
    topic: Arc<str>,
    id: u32,
    dir: PathBuf,
    /// The config in force: replaced by [`Log::alter_topic_config`](crate::Log::alter_topic_config),
    /// read once per operation (never held across another lock).
    config: parking_lot::RwLock<Arc<TopicConfig>>,
    clock: Arc<dyn Clock>,
    /// Every write and fsync of the partition's files goes through it; the first that fails
    /// stops writes (fail-stop).
    io: Arc<FailStop>,
    prefill: Option<Arc<Prefill>>,
    /// Oldest first; never empty. The last one is the active segment.
    segments: SegmentSet,
    /// Dense where partlog knows the partition was never compacted.
    offsets: Offsets,
    on_truncate: load::CheckpointHook,
    writer: Mutex<Writer>,
    log_start_offset: AtomicU64,
    log_end_offset: AtomicU64,
    /// Every offset below it is durable (fsynced); advanced by flushes and rolls.
    recovery_point: AtomicU64,
    /// Segments sealed by rolls of appends whose fsync the jobs thread owes, oldest first, each
    /// with the offset after it (`Partition::flush_sealed_locked`).
    unflushed: Mutex<Vec<(Arc<Segment>, u64)>>,
    last_flush_ms: AtomicI64,
    /// A file was created in the partition directory since the last directory fsync.
    dir_dirty: AtomicBool,
    /// Held across a directory fsync (see `Partition::sync_dir_if_dirty`).
    dir_sync: parking_lot::Mutex<()>,
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
    cleaner: Mutex<()>,
    /// Files renamed `.deleted` by retention, with the time to unlink them.
    pending_deletes: Mutex<Vec<(i64, Vec<PathBuf>)>>,
    /// Readers blocked in `wait_for`.
    waiters: AtomicUsize,
    wait_lock: Mutex<()>,
    wait_cond: Condvar,
    /// Signals fired by appends ([`Partition::watch`]), with the count for a lock-free check.
    watchers: Mutex<tail::Watchers>,
    watcher_count: AtomicUsize,
    closed: AtomicBool,
    /// The topic was deleted: reads fail too.
    deleted: AtomicBool,
    /// Opened with the log read-only: every write is refused, nothing on disk changes.
    read_only: bool,
    /// Read-only: what was read of the directory, for the next refresh.
    view: Mutex<read_only::View>,
    /// Offsets found lost at open, in offset order; a truncation below them gives them back.
    lost: Mutex<Vec<LostOffsets>>,
}

/// What loading a partition directory found: the partition's starting state.
struct Loaded {
    segments: Vec<Arc<Segment>>,
    /// Offsets lost, in offset order.
    lost: Vec<LostOffsets>,
    log_start_offset: u64,
    log_end_offset: u64,
    /// Files were created or cut: the directory needs an fsync.
    dir_dirty: bool,
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

/// `segment.bytes` and the time after which a segment rolls: `segment.ms`, or for a compacted
/// topic `max.compaction.lag.ms` if sooner (Kafka: no record waits in the active segment, which
/// is never compacted, for longer than that).
fn roll_limits(config: &TopicConfig) -> (u64, i64) {
    let segment_ms = match config.cleanup_policy.compacts() {
        true => config.segment_ms.min(config.max_compaction_lag_ms),
        false => config.segment_ms,
    };
    (config.segment_bytes as u64, segment_ms)
}

/// The spec of a partition's segments: sized by the topic's config, writing through the
/// partition's fail-stop seam, the prefill thread's zero-fills through the log's own `Io` (a
/// fill it fails is dropped; the appender that needs the space meets the error itself).
fn segment_spec(
    config: &TopicConfig,
    offsets: Offsets,
    io: &Arc<FailStop>,
    prefill: &Option<Arc<Prefill>>,
    read_only: bool,
) -> SegmentSpec {
    let (segment_bytes, segment_ms) = roll_limits(config);
    SegmentSpec {
        segment_bytes,
        segment_ms,
        segment_jitter_ms: config.segment_jitter_ms,
        map_appends: config.flush_messages == i64::MAX,
        max_index_bytes: config.segment_index_bytes as u64,
        index_interval_bytes: config.index_interval_bytes as u64,
        offsets,
        io: io.clone(),
        prefill: prefill.clone().map(|thread| (thread, io.inner().clone())),
        read_only,
    }
}

impl Partition {
    /// The partition, from what loading its directory found.
    fn assemble(spec: OpenSpec, loaded: Loaded, io: Arc<FailStop>, now_ms: i64) -> Partition {
        Partition {
            inner: Arc::new(Inner {
                topic: spec.topic,
                id: spec.id,
                dir: spec.dir,
                config: parking_lot::RwLock::new(spec.config),
                clock: spec.clock,
                io,
                prefill: spec.prefill,
                segments: SegmentSet::new(loaded.segments),
                offsets: spec.offsets,
                on_truncate: spec.on_truncate.clone(),
                writer: Mutex::new(Writer),
                log_start_offset: AtomicU64::new(loaded.log_start_offset),
                log_end_offset: AtomicU64::new(loaded.log_end_offset),
                recovery_point: AtomicU64::new(loaded.log_end_offset),
                unflushed: Mutex::new(Vec::new()),
                last_flush_ms: AtomicI64::new(now_ms),
                dir_dirty: AtomicBool::new(loaded.dir_dirty),
                dir_sync: parking_lot::Mutex::new(()),
                sync_lock: Mutex::new(()),
                sync_leader: std::sync::Mutex::new(false),
                sync_done: std::sync::Condvar::new(),
                first_dirty_offset: AtomicU64::new(spec.first_dirty_offset.unwrap_or(0)),
                dedupe_buffer_bytes: spec.dedupe_buffer_bytes,
                cleaner: Mutex::new(()),
                pending_deletes: Mutex::new(Vec::new()),
                waiters: AtomicUsize::new(0),
                wait_lock: Mutex::new(()),
                wait_cond: Condvar::new(),
                watchers: Mutex::new(Arc::from(Vec::new())),
                watcher_count: AtomicUsize::new(0),
                closed: AtomicBool::new(false),
                deleted: AtomicBool::new(false),
                read_only: spec.read_only,
                view: Mutex::new(read_only::View::default()),
                lost: Mutex::new(loaded.lost),
            }),
        }
    }

    /// The spec of this partition's segments.
    fn segment_spec(&self) -> SegmentSpec {
        segment_spec(&self.config(), self.inner.offsets, &self.inner.io, &self.inner.prefill, self.inner.read_only)
    }

    /// The topic this partition belongs to.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("orders", 3, TopicConfig::default())?.partition(2)?;
    /// assert_eq!(p.topic(), "orders");
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn topic(&self) -> &str {
        &self.inner.topic
    }

    /// The partition number.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let topic = log.create_topic("orders", 3, TopicConfig::default())?;
    /// let ids: Vec<u32> = topic.partitions().iter().map(|p| p.id()).collect();
    /// assert_eq!(ids, [0, 1, 2]);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn id(&self) -> u32 {
        self.inner.id
    }

    /// `<topic>-<partition>`, the directory name.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("orders", 3, TopicConfig::default())?.partition(2)?;
    /// assert_eq!(p.name(), "orders-2");
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn name(&self) -> String {
        format!("{}-{}", self.inner.topic, self.inner.id)
    }

    /// The partition directory.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("orders", 3, TopicConfig::default())?.partition(2)?;
    /// assert_eq!(p.dir(), dir.path().join("orders-2"));
    /// assert!(p.dir().join("00000000000000000000.log").is_file()); // its first segment
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The topic configuration in force now ([`Log::alter_topic_config`](crate::Log::alter_topic_config)
    /// replaces it).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// assert_eq!(p.config().retention_ms, 7 * 24 * 3600 * 1000);
    /// log.alter_topic_config("t", TopicConfig::event_store())?;
    /// assert_eq!(p.config().retention_ms, -1);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn config(&self) -> Arc<TopicConfig> {
        self.inner.config.read().clone()
    }

    /// Puts `config` in force: each setting takes effect where the partition next reads it.
    pub(crate) fn set_config(&self, config: Arc<TopicConfig>) {
        *self.inner.config.write() = config;
    }

    /// The first readable offset.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Error, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b"), Record::new(b"c")])?;
    /// assert_eq!(p.log_start_offset(), 0);
    /// p.delete_records(2)?;
    /// assert_eq!(p.log_start_offset(), 2);
    /// assert!(matches!(p.read(1, 1 << 20), Err(Error::OffsetOutOfRange { log_start_offset: 2, .. })));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn log_start_offset(&self) -> u64 {
        self.inner.log_start_offset.load(Ordering::Acquire)
    }

    /// The next offset to be assigned (one past the last record).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// assert_eq!(p.log_end_offset(), 0);
    /// p.append(&[Record::new(b"a"), Record::new(b"b"), Record::new(b"c")])?;
    /// assert_eq!(p.log_end_offset(), 3);
    /// assert_eq!(p.append(&[Record::new(b"d")])?.first_offset, 3);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn log_end_offset(&self) -> u64 {
        self.inner.log_end_offset.load(Ordering::Acquire)
    }

    /// The segments, oldest first; the last is the active segment.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b")])?;
    /// p.roll()?;
    /// let segments = p.segments();
    /// assert_eq!(segments.iter().map(|s| s.base_offset()).collect::<Vec<_>>(), [0, 2]);
    /// assert_eq!(segments[1].size(), 0); // the new active segment, empty
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn segments(&self) -> Vec<Arc<Segment>> {
        self.inner.segments.snapshot()
    }

    /// Total bytes of all segment data files.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// assert_eq!(p.size_bytes(), 0);
    /// p.append(&[Record::new(b"a")])?;
    /// p.roll()?;
    /// p.append(&[Record::new(b"b")])?;
    /// let mut raw = Vec::new();
    /// p.read_raw(0, 1, &mut raw)?; // one batch each
    /// p.read_raw(1, 1, &mut raw)?;
    /// assert_eq!(p.size_bytes(), raw.len() as u64); // the batches of both segments
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn size_bytes(&self) -> u64 {
        self.inner.segments.total_size()
    }

    fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed { what: format!("partition {}", self.name()) });
        }
        Ok(())
    }

    /// Refuses writes to a closed partition, and to one whose writes were stopped by a failed
    /// write or fsync (fail-stop, see [`FailStop`]).
    fn check_writable(&self) -> Result<()> {
        self.check_open()?;
        if self.inner.read_only {
            return Err(Error::ReadOnly { what: format!("partition {}", self.name()), op: "a write" });
        }
        match self.inner.io.failure() {
            Some(cause) => Err(Error::WritesStopped { partition: self.name(), cause }),
            None => Ok(()),
        }
    }

    /// How batches' offsets follow each other here.
    pub(crate) fn offsets(&self) -> Offsets {
        self.inner.offsets
    }

    /// Every offset below this is durable: fsynced by a flush, a roll or a synchronous append.
    /// A roll inside an append leaves the sealed segment's fsync to the log's background thread
    /// (as Kafka does); the recovery point passes the segment once that fsync returns.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b")])?;
    /// assert_eq!(p.recovery_point(), 0); // written, not yet fsynced
    /// p.roll()?; // an explicit roll fsyncs the segment it seals
    /// assert_eq!(p.recovery_point(), 2);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn recovery_point(&self) -> u64 {
        self.inner.recovery_point.load(Ordering::Acquire)
    }

    /// Seals the active segment (trimmed indexes, fsync) and refuses further appends. A
    /// partition that failed a write or fsync is left for recovery at the next open: its error
    /// is returned, so the log records no clean shutdown.
    pub(crate) fn close(&self) -> Result<()> {
        let result = match self.inner.read_only {
            true => {
                self.inner.closed.store(true, Ordering::Release);
                Ok(())
            }
            false => self.close_locked(),
        };
        // Wake waiters so they see the close; signals' wakers run with no lock held.
        drop(self.inner.wait_lock.lock());
        self.inner.wait_cond.notify_all();
        self.notify_watchers();
        result
    }

    /// `close`'s work, under the writer and sync locks.
    fn close_locked(&self) -> Result<()> {
        let inner = &*self.inner;
        let _writer = inner.writer.lock();
        let _sync = inner.sync_lock.lock();
        if inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        if let Some(cause) = inner.io.failure() {
            // Left for recovery; readers still holding the mapping read only what it published.
            inner.segments.active().unmap();
            Err(Error::WritesStopped { partition: self.name(), cause })
        } else {
            self.flush_sealed_locked()
                .and_then(|()| inner.segments.active().seal())
                .and_then(|()| files::sync_dir(&*inner.io, &inner.dir))
                .map(|()| {
                    inner.recovery_point.store(inner.log_end_offset.load(Ordering::SeqCst), Ordering::Release);
                })
        }
    }

    /// Refuses reads of a partition whose topic was deleted (its files are gone, or going).
    fn check_readable(&self) -> Result<()> {
        if self.inner.deleted.load(Ordering::Acquire) {
            return Err(Error::Closed { what: format!("partition {} (its topic was deleted)", self.name()) });
        }
        Ok(())
    }

    /// Whether `other` is a handle on this same partition (not a partition of the same name
    /// created again).
    pub(crate) fn same_as(&self, other: &Partition) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Whether the partition's topic was deleted (a client holding its handle looks again).
    pub(crate) fn is_deleted(&self) -> bool {
        self.inner.deleted.load(Ordering::Acquire)
    }

    /// Marks the partition deleted with its topic: appends and reads fail with
    /// [`Error::Closed`] from now on (what a `Fetch` already holds stays readable).
    pub(crate) fn mark_deleted(&self) {
        self.inner.deleted.store(true, Ordering::Release);
        self.abandon();
    }

    /// Marks the partition closed without touching its files (a simulated crash, or its topic is
    /// being deleted).
    pub(crate) fn abandon(&self) {
        {
            let _writer = self.inner.writer.lock();
            self.inner.closed.store(true, Ordering::Release);
            // No appends from now on: readers still holding the mapping read only what it published.
            self.inner.segments.active().unmap();
        }
        drop(self.inner.wait_lock.lock());
        self.inner.wait_cond.notify_all();
        self.notify_watchers();
    }
}
