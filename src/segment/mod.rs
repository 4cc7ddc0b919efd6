//! A segment: one `<base offset>.log` data file of concatenated batches, with its sparse
//! `.index` and `.timeindex` (Kafka's `LogSegment`).
//!
//! File names are the base offset as 20 zero-padded digits plus the suffix. The `.log` file is the
//! only authority; indexes are rebuilt from it whenever they are missing or inconsistent.
//!
//! Visibility: `size` counts the bytes of whole batches. An append writes the batch, adds index
//! entries, and only then advances `size` (release); readers load `size` (acquire) and never read
//! past it, so no reader sees a partial batch. Appends are serialised by the owning partition.
//!
//! The active segment's data file is memory-mapped (`MAP_SHARED`, as long as `segment.bytes`):
//! appends zero-fill the file ahead of its end a chunk at a time with a positioned write (so the
//! kernel holds the pages and has reserved the disk space; a full disk is an error there, never a
//! fault in the mapping) and copy batches into the mapping. The bytes are in the page cache the
//! moment the copy ends, as with a `write`, so an append survives a crash of the process. The
//! log's prefill thread (`crate::storage::prefill`) does the zero-fill a chunk ahead when it
//! can. Readers copy out of the mapping, or borrow it ([`MappedBytes`]) past sealing, truncation
//! and deletion of the segment. How the mapping stays sound is `crate::storage::mapped`'s
//! business: this module holds no `unsafe`. After a crash the zero-filled tail is cut by
//! recovery without counting as damage.
//!
//! Files: `append.rs` (the roll decision, appends, the index rule, sealing), `read.rs` (index
//! lookups, the walk over batch headers, reads), `scan.rs` (the recovery scan and the cut).
//!
//! Index rule (Kafka's `LogSegment.append`): before an append is counted, if more than
//! `index.interval.bytes` were appended since the last entry, add an offset entry (last offset of
//! the append, position where it starts) and a time entry (largest timestamp so far and the last
//! offset of the batch that first reached it) if that timestamp is larger than the last one.

pub(crate) mod index;

mod verified;

mod append;
mod read;
mod scan;

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::error::{Error, FormatError, Result};

use crate::segment::index::{Index, IndexEntry, OffsetEntry, TimeEntry};
use crate::storage::files;
use crate::storage::handles::FileSlot;
use crate::storage::io::Io;
use crate::storage::mapped::{self, DataMap, MappedBytes};
use crate::storage::prefill::Prefill;

/// The largest segment: positions in segment files and indexes are int32, as Kafka's are.
pub(crate) const MAX_SEGMENT_BYTES: u64 = i32::MAX as u64;
/// Bytes read at a time while walking batch headers.
const SCAN_CHUNK_BYTES: usize = 8192;
/// Bytes read at a time while recovering a segment.
const RECOVERY_CHUNK_BYTES: usize = 1 << 20;
/// `max_timestamp` before it is known (inactive segments compute it lazily).
const TIMESTAMP_UNKNOWN: i64 = i64::MIN;
/// Kafka's value for "no timestamp".
pub(crate) const NO_TIMESTAMP: i64 = -1;

/// Bytes zero-filled past the end of the active segment at a time (at most `segment.bytes`).
const RESERVE_CHUNK_BYTES: usize = 1 << 20;
/// The largest positioned write of zeros: a chunk is filled in pieces of this size. The kernel
/// sizes the page-cache folios of a write to it, and a 1 MiB write asks for high-order memory:
/// beside a process that writes and frees gigabytes, that memory is slow to come by (on the
/// development VM the balloon's free-page reporting hands free 2 MiB blocks back to the host, and
/// their first touch faults there; elsewhere it may take compaction). Measured beside a `dd`:
/// 1 MiB writes of zeros ran at 0.3 GB/s, 256 KiB writes at 5.5 GB/s, as fast as on a quiet
/// machine (the README's performance section).
const ZERO_PIECE_BYTES: usize = 256 << 10;
static ZEROS: [u8; ZERO_PIECE_BYTES] = [0; ZERO_PIECE_BYTES];

/// The sizing a segment is created or opened with, when it rolls, and the I/O seam it writes
/// through (the partition derives it from the topic's config).
#[derive(Debug, Clone)]
pub(crate) struct SegmentSpec {
    /// `segment.bytes`: how much of the active segment's file is mapped, and when it rolls.
    pub segment_bytes: u64,
    /// `segment.ms`: roll once the first batch's timestamp is this old.
    pub segment_ms: i64,
    /// `segment.jitter.ms`: the bound of a per-segment random amount taken off `segment.ms`.
    pub segment_jitter_ms: i64,
    /// Whether appends go through a mapping of the active segment (see the module docs). Not for
    /// topics flushed by message count: every fsync write-protects the pages it cleaned, and the
    /// next append into each takes a page fault, which costs synchronous appends more than the
    /// positioned write it replaces.
    pub map_appends: bool,
    /// `segment.index.bytes`.
    pub max_index_bytes: u64,
    /// `index.interval.bytes`.
    pub index_interval_bytes: u64,
    /// How batches' offsets follow each other in this partition: every walk over the data
    /// checks it (dense only where partlog knows the partition was never compacted).
    pub offsets: Offsets,
    pub io: Arc<dyn Io>,
    /// The log's prefill thread, if it runs one, and the seam its zero-fills write through.
    pub prefill: Option<(Arc<Prefill>, Arc<dyn Io>)>,
    /// The log was opened read-only: files are opened for reading only, nothing is mapped,
    /// indexes live in memory (copied from their files, or rebuilt from the data).
    pub read_only: bool,
}

/// The running state of the index rule while a segment is appended to or rebuilt.
#[derive(Debug, Clone, Copy)]
struct IndexCursor {
    bytes_since_last_index_entry: u64,
    max_timestamp_so_far: i64,
    offset_of_max_timestamp_so_far: u64,
    /// The first batch's max timestamp: `segment.ms` is measured from it.
    rolling_based_timestamp: Option<i64>,
}

impl IndexCursor {
    fn new(base_offset: u64) -> Self {
        IndexCursor {
            bytes_since_last_index_entry: 0,
            max_timestamp_so_far: NO_TIMESTAMP,
            offset_of_max_timestamp_so_far: base_offset,
            rolling_based_timestamp: None,
        }
    }
}

/// What one append adds to a segment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppendMeta {
    pub last_offset: u64,
    pub max_timestamp: i64,
    /// Last offset of the batch holding `max_timestamp`.
    pub offset_of_max_timestamp: u64,
}

/// What [`Segment::read`] found.
#[derive(Debug)]
pub(crate) enum SegmentRead {
    /// Whole batches were read (copied, or borrowed as `mapped`); `next_offset` follows the
    /// last one.
    Batches { next_offset: u64, reached_end: bool, mapped: Option<MappedBytes> },
    /// No batch at or past the target in this segment.
    Nothing,
    /// The next batch is larger than the bytes left to read.
    DoesNotFit,
}

/// How [`Segment::read`] reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadMode {
    /// Return the first batch even if it is larger than the byte limit.
    pub min_one: bool,
    /// Borrow the batches from the mapping of an active segment instead of copying them.
    pub borrow: bool,
    /// Check every batch's CRC, even one this segment object checked before (`verified`):
    /// `verify()` and compaction.
    pub every_crc: bool,
}

/// What happens to the indexes as batches go by: added to by an append, rebuilt by a scan
/// (a full index is then left sparser instead of failing), or left alone by a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Indexes {
    Append,
    Rebuild,
    Leave,
}

/// How each batch's offsets must follow the previous batch's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offsets {
    /// Right after it: a partition that was never compacted.
    Dense,
    /// Anywhere after it: compaction leaves gaps.
    Increasing,
}

/// The result of scanning a segment's data file from the start.
#[derive(Debug, Clone)]
pub(crate) struct ScanOutcome {
    /// Bytes of valid batches from the start of the file.
    pub valid_bytes: u64,
    /// Length of the file when scanned.
    pub file_bytes: u64,
    /// Offset after the last valid batch, if any batch is valid.
    pub next_offset: Option<u64>,
    /// The first invalid batch: where, and what was wrong.
    pub problem: Option<(u64, FormatError)>,
    /// The last valid batch the scan checked: its position and header.
    pub last_batch: Option<(u64, crate::format::batch::BatchHeader)>,
}

/// One data file of a partition with its two sparse indexes.
///
/// Segments are owned by their [`Partition`](crate::Partition); [`Partition::segments`]
/// lists them for inspection.
///
/// [`Partition::segments`]: crate::Partition::segments
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Log, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let mut config = TopicConfig::default();
/// config.segment_bytes = 200; // tiny segments: roll after every couple of batches
/// let p = log.create_topic("t", 1, config)?.partition(0)?;
/// for i in 0..10u8 {
///     p.append(&[Record::new(&[i; 50])])?;
/// }
/// let segments = p.segments();
/// assert!(segments.len() > 1);
/// assert_eq!(segments[0].base_offset(), 0);
/// assert!(segments[0].log_path().ends_with("00000000000000000000.log"));
/// assert!(segments.windows(2).all(|w| w[0].base_offset() < w[1].base_offset()));
/// # Ok::<(), partlog::Error>(())
/// ```
pub struct Segment {
    base_offset: u64,
    log_path: PathBuf,
    /// Opened on first use for segments loaded from disk, so that opening a partition with many
    /// segments costs no file handles, and closed again when too many are open
    /// (`storage::handles`).
    log: Arc<FileSlot>,
    /// Set while the segment is the active one; sealing unmaps it (after readers in it finish).
    map: parking_lot::RwLock<Option<Arc<DataMap>>>,
    size: AtomicU64,
    /// Unmapped active segment: how far its file is zero-filled (see `reserve_unmapped`).
    file_reserved: AtomicU64,
    spec: SegmentSpec,
    offset_index: OnceLock<Index<OffsetEntry>>,
    time_index: OnceLock<Index<TimeEntry>>,
    index_init: Mutex<()>,
    max_timestamp: AtomicI64,
    cursor: Mutex<IndexCursor>,
    /// Wall-clock creation (or load) time: `segment.ms` falls back to it without timestamps.
    created_ms: i64,
    /// The batches whose CRC this object checked (`verified`): reads skip it the next time.
    verified: verified::Verified,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment").field("log_path", &self.log_path).field("size", &self.size()).finish()
    }
}

impl Segment {
    /// Creates a new, empty active segment in `dir`.
    pub(crate) fn create(dir: &Path, base_offset: u64, spec: SegmentSpec, now_ms: i64) -> Result<Segment> {
        let log_path = dir.join(files::segment_file_name(base_offset, files::LOG_SUFFIX));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&log_path)
            .map_err(Error::io("create", &log_path))?;
        let mut segment = Segment::new(log_path, base_offset, 0, spec, now_ms);
        segment.log = FileSlot::with_file(&segment.log_path, file);
        segment.max_timestamp.store(NO_TIMESTAMP, Ordering::Relaxed);
        match segment.create_indexes().and_then(|()| segment.map_for_append()) {
            Ok(()) => Ok(segment),
            Err(e) => {
                // Out of file descriptors, say: leave nothing behind, so that a retry can create
                // the segment again. Only what this call made: not a `.txnindex` it never wrote.
                for path in
                    [&segment.log_path, &segment.sibling(OffsetEntry::SUFFIX), &segment.sibling(TimeEntry::SUFFIX)]
                {
                    let _ = std::fs::remove_file(path);
                }
                Err(e)
            }
        }
    }

    /// A segment found on disk, `size` bytes long; files are opened on first use.
    pub(crate) fn load(log_path: PathBuf, base_offset: u64, size: u64, spec: SegmentSpec, now_ms: i64) -> Segment {
        Segment::new(log_path, base_offset, size, spec, now_ms)
    }

    fn new(log_path: PathBuf, base_offset: u64, size: u64, spec: SegmentSpec, created_ms: i64) -> Segment {
        Segment {
            base_offset,
            log: FileSlot::new(&log_path, !spec.read_only),
            log_path,
            map: parking_lot::RwLock::new(None),
            size: AtomicU64::new(size),
            file_reserved: AtomicU64::new(0),
            spec,
            offset_index: OnceLock::new(),
            time_index: OnceLock::new(),
            index_init: Mutex::new(()),
            max_timestamp: AtomicI64::new(TIMESTAMP_UNKNOWN),
            cursor: Mutex::new(IndexCursor::new(base_offset)),
            created_ms,
            verified: verified::Verified::default(),
        }
    }

    /// Kafka's per-segment roll jitter: a value in `[0, min(segment.jitter.ms, segment.ms))`,
    /// here derived from the base offset so it is stable for the segment's life.
    fn roll_jitter_ms(&self) -> i64 {
        let bound = self.spec.segment_jitter_ms.min(self.spec.segment_ms);
        if bound <= 0 {
            return 0;
        }
        let mixed = self.base_offset.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 1;
        (mixed % bound as u64) as i64
    }

    /// Offset of the first batch this segment can hold (its file name).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b")])?;
    /// p.roll()?;
    /// let active = p.segments().pop().unwrap();
    /// assert_eq!(active.base_offset(), 2);
    /// assert_eq!(p.append(&[Record::new(b"c")])?.first_offset, active.base_offset());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn base_offset(&self) -> u64 {
        self.base_offset
    }

    /// Bytes of whole batches in the data file.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// let segment = p.segments().pop().unwrap();
    /// assert_eq!(segment.size(), 0);
    /// p.append(&[Record::new(b"a")])?;
    /// let mut raw = Vec::new();
    /// p.read_raw(0, 1 << 20, &mut raw)?;
    /// assert_eq!(segment.size(), raw.len() as u64);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// The `.log` file.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b")])?;
    /// p.roll()?;
    /// let active = p.segments().pop().unwrap();
    /// assert_eq!(active.log_path(), p.dir().join("00000000000000000002.log"));
    /// assert!(active.log_path().is_file());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        self.log_path.with_file_name(files::segment_file_name(self.base_offset, suffix))
    }

    /// The data file, opened (again) if it is not open.
    #[inline]
    pub(crate) fn log_file(&self) -> Result<Arc<File>> {
        self.log.get()
    }

    fn corrupt(&self, position: u64, problem: FormatError) -> Error {
        Error::CorruptBatch { path: self.log_path.clone(), position, problem }
    }

    /// The offset index, opened (or rebuilt from the data file) on first use.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let mut config = TopicConfig::default();
    /// config.index_interval_bytes = 1; // an entry for every batch after the first
    /// let p = log.create_topic("t", 1, config)?.partition(0)?;
    /// for _ in 0..3 {
    ///     p.append(&[Record::new(b"x")])?;
    /// }
    /// let segment = &p.segments()[0];
    /// let index = segment.offset_index()?;
    /// assert_eq!(index.entries(), 2); // the batches at offsets 1 and 2
    /// assert_eq!(index.last_entry().unwrap().offset, 2);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn offset_index(&self) -> Result<&Index<OffsetEntry>> {
        self.ensure_indexes()?;
        Ok(self.offset_index.get().expect("initialised by ensure_indexes"))
    }

    /// The time index, opened (or rebuilt from the data file) on first use.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let mut config = TopicConfig::default();
    /// config.index_interval_bytes = 1; // an entry for every batch after the first
    /// let p = log.create_topic("t", 1, config)?.partition(0)?;
    /// p.append(&[Record::new(b"a").with_timestamp(1_000)])?;
    /// p.append(&[Record::new(b"b").with_timestamp(2_000)])?;
    /// let segment = &p.segments()[0];
    /// let index = segment.time_index()?;
    /// assert_eq!(index.lookup(2_500).map(|e| e.offset), Some(1));
    /// assert_eq!(index.lookup(1_500), None);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn time_index(&self) -> Result<&Index<TimeEntry>> {
        self.ensure_indexes()?;
        Ok(self.time_index.get().expect("initialised by ensure_indexes"))
    }

    fn ensure_indexes(&self) -> Result<()> {
        if self.offset_index.get().is_some() && self.time_index.get().is_some() {
            return Ok(());
        }
        let _guard = self.index_init.lock();
        if self.offset_index.get().is_some() && self.time_index.get().is_some() {
            return Ok(());
        }
        match self.open_existing_indexes() {
            Ok((oi, ti)) => {
                let _ = self.offset_index.set(oi);
                let _ = self.time_index.set(ti);
                Ok(())
            }
            Err(_) => {
                // Missing, ragged or inconsistent: the data file is the authority.
                self.create_indexes()?;
                self.scan(Indexes::Rebuild, self.base_offset, self.spec.offsets)?;
                for index in [self.offset_index.get().map(|i| i.trim()), self.time_index.get().map(|i| i.trim())] {
                    index.transpose()?;
                }
                Ok(())
            }
        }
    }

    fn open_existing_indexes(&self) -> Result<(Index<OffsetEntry>, Index<TimeEntry>)> {
        let (oi, ti) = if self.spec.read_only {
            (
                Index::<OffsetEntry>::in_memory(&self.sibling(OffsetEntry::SUFFIX), self.base_offset, 0)?,
                Index::<TimeEntry>::in_memory(&self.sibling(TimeEntry::SUFFIX), self.base_offset, 0)?,
            )
        } else {
            (
                Index::<OffsetEntry>::open(&self.sibling(OffsetEntry::SUFFIX), self.base_offset)?,
                Index::<TimeEntry>::open(&self.sibling(TimeEntry::SUFFIX), self.base_offset)?,
            )
        };
        self.check_indexes(&oi, &ti)?;
        Ok((oi, ti))
    }

    /// Cheap consistency checks of index files against the data file: entries inside the
    /// segment's offsets and bytes, keys increasing at the ends.
    /// The zero-filled slots of an index that was never trimmed (a crash) fail the "last two
    /// keys increase" check.
    fn check_indexes(&self, oi: &Index<OffsetEntry>, ti: &Index<TimeEntry>) -> Result<()> {
        let size = self.size();
        let bad = |path: &Path, reason: &str| Error::BadFile { path: path.to_owned(), reason: reason.to_owned() };
        let n = oi.entries();
        if let (Some(first), Some(last)) = (oi.entry(0), oi.last_entry()) {
            let before_last = oi.entry(n.saturating_sub(2)).expect("n >= 1");
            if first.offset < self.base_offset
                || last.position as u64 >= size
                || (n > 1 && (before_last.offset >= last.offset || before_last.position >= last.position))
            {
                return Err(bad(oi.path(), "offset index entries outside the segment or out of order"));
            }
            // An entry is (the last offset of an append, the position of its first batch): the
            // batch there starts at or below it. A stale index that is plausible otherwise
            // (entries a batch too far) fails this.
            if self.batch_base_offset_at(last.position as u64)?.is_none_or(|base| base > last.offset) {
                return Err(bad(
                    oi.path(),
                    "the last offset index entry names no batch at or below it at its position",
                ));
            }
        }
        let n = ti.entries();
        if let (Some(first), Some(last)) = (ti.entry(0), ti.last_entry()) {
            let before_last = ti.entry(n.saturating_sub(2)).expect("n >= 1");
            if first.offset < self.base_offset
                || (n > 1 && (before_last.timestamp >= last.timestamp || before_last.offset > last.offset))
            {
                return Err(bad(ti.path(), "time index entries out of order"));
            }
        }
        Ok(())
    }

    /// Maps the data file for appends (see the module docs). Where the mapping cannot be made
    /// (address space, platform), appends fall back to positioned writes.
    pub(crate) fn map_for_append(&self) -> Result<()> {
        if !self.spec.map_appends {
            return Ok(());
        }
        let mut slot = self.map.write();
        if slot.is_some() {
            return Ok(());
        }
        *slot = DataMap::new(&*self.log_file()?, &self.log_path, self.size(), self.spec.segment_bytes)?;
        Ok(())
    }

    /// From now on this object checks every batch it reads (its file is about to be cut in place
    /// and written again: see `verified`).
    pub(crate) fn forget_checked(&self) {
        self.verified.forget();
    }

    /// Takes the mapping away and retires it (see `storage::mapped`): appends and readers of
    /// this segment use the file from now on, and a reader still holding the mapping reads only
    /// what was published. Waits for a zero-fill of the prefill thread in progress.
    pub(crate) fn unmap(&self) {
        if let Some(m) = self.map.write().take() {
            m.retire();
        }
    }

    /// Creates empty, preallocated index files. The index slots must be unset.
    /// Fresh, empty indexes in memory for a segment of a log opened read-only, filled by
    /// [`extend_read_only`](Self::extend_read_only).
    pub(crate) fn index_in_memory(&self) -> Result<()> {
        debug_assert!(self.spec.read_only);
        self.create_indexes()
    }

    fn create_indexes(&self) -> Result<()> {
        let (oi, ti) = if self.spec.read_only {
            // In anonymous memory, as many slots as the files would have: untouched slots cost
            // address space, not memory.
            let slots = |e: usize| usize::try_from(self.spec.max_index_bytes / e as u64).unwrap_or(usize::MAX).max(1);
            (
                Index::in_memory(&self.sibling(OffsetEntry::SUFFIX), self.base_offset, slots(OffsetEntry::SIZE))?,
                Index::in_memory(&self.sibling(TimeEntry::SUFFIX), self.base_offset, slots(TimeEntry::SIZE))?,
            )
        } else {
            (
                Index::create(&self.sibling(OffsetEntry::SUFFIX), self.base_offset, self.spec.max_index_bytes)?,
                Index::create(&self.sibling(TimeEntry::SUFFIX), self.base_offset, self.spec.max_index_bytes)?,
            )
        };
        assert!(self.offset_index.set(oi).is_ok() && self.time_index.set(ti).is_ok(), "indexes created twice");
        Ok(())
    }

    /// Makes this loaded segment the active one: opens its indexes for appending (rebuilding
    /// them if they are unusable) and restores the index cursor.
    pub(crate) fn activate(&mut self) -> Result<()> {
        let size = self.size();
        let opened = (|| {
            let oi = Index::open_for_append(
                &self.sibling(OffsetEntry::SUFFIX),
                self.base_offset,
                self.spec.max_index_bytes,
            )?;
            let ti =
                Index::open_for_append(&self.sibling(TimeEntry::SUFFIX), self.base_offset, self.spec.max_index_bytes)?;
            self.check_indexes(&oi, &ti)?;
            Ok::<_, Error>((oi, ti))
        })();
        match opened {
            Ok((oi, ti)) => {
                let mut cursor = IndexCursor::new(self.base_offset);
                (cursor.max_timestamp_so_far, cursor.offset_of_max_timestamp_so_far) =
                    self.load_largest_timestamp(&oi, &ti)?;
                self.offset_index = OnceLock::from(oi);
                self.time_index = OnceLock::from(ti);
                if size > 0 {
                    cursor.rolling_based_timestamp = self.first_batch_timestamp().ok();
                }
                self.max_timestamp.store(cursor.max_timestamp_so_far, Ordering::Relaxed);
                *self.cursor.lock() = cursor;
                self.map_for_append()
            }
            // Unusable indexes: the caller falls back to recovery, which rebuilds them.
            Err(e) => Err(e),
        }
    }

    /// Trims the indexes of a recovered segment that is not the active one.
    pub(crate) fn trim_indexes(&self) -> Result<()> {
        for index in [self.offset_index.get().map(|i| i.trim()), self.time_index.get().map(|i| i.trim())] {
            index.transpose()?;
        }
        Ok(())
    }

    /// Retention is deleting this segment: open its files now (a reader holding the segment keeps
    /// reading through them), then rename them with `.deleted` appended, as Kafka does. Returns
    /// the new paths, to unlink after `file.delete.delay.ms`.
    pub(crate) fn rename_for_deletion(&self) -> Result<Vec<PathBuf>> {
        // A deleted active segment (truncation, retention of everything) takes no more writes,
        // nor zero-fills from the prefill thread.
        self.unmap();
        // Open for good: the path changes below, and readers holding the segment read on.
        self.log.pin()?;
        self.ensure_indexes()?;
        let mut renamed = Vec::new();
        for path in self.files() {
            let target = files::with_suffix(&path, files::DELETED_SUFFIX);
            match std::fs::rename(&path, &target) {
                Ok(()) => renamed.push(target),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("rename for deletion", &path)(e)),
            }
        }
        Ok(renamed)
    }

    /// The segment's files: data, offset and time indexes, and Kafka's transaction index (which
    /// moves and goes with its segment, though partlog does not write one).
    /// The data file and its index files (which may not exist).
    pub(crate) fn file_paths(&self) -> [PathBuf; 4] {
        self.files()
    }

    fn files(&self) -> [PathBuf; 4] {
        [
            self.log_path.clone(),
            self.sibling(OffsetEntry::SUFFIX),
            self.sibling(TimeEntry::SUFFIX),
            self.sibling(files::TXN_INDEX_SUFFIX),
        ]
    }

    /// Cuts Kafka's transaction index (`.txnindex`, if there is one) to the aborted
    /// transactions that end before `offset` (Kafka's `TransactionIndex.truncateTo`), so that
    /// offsets appended again after a truncation are not read as aborted.
    ///
    /// Entries, 34 bytes each: version int16, producer id int64, first offset int64, last offset
    /// int64, last stable offset int64.
    pub(crate) fn truncate_txn_index(&self, offset: u64) -> Result<()> {
        const ENTRY: usize = 34;
        const LAST_OFFSET: usize = 2 + 8 + 8;
        let path = self.sibling(files::TXN_INDEX_SUFFIX);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io("read", &path)(e)),
        };
        let keep = bytes
            .chunks_exact(ENTRY)
            .take_while(|e| {
                let last = i64::from_be_bytes(e[LAST_OFFSET..LAST_OFFSET + 8].try_into().expect("8 bytes"));
                last < 0 || (last as u64) < offset
            })
            .count()
            * ENTRY;
        if keep == bytes.len() / ENTRY * ENTRY {
            return Ok(()); // nothing to cut (a ragged tail is not partlog's to judge)
        }
        let file = OpenOptions::new().write(true).open(&path).map_err(Error::io("open", &path))?;
        match mapped::shrink(&file, &path, keep as u64)? {
            mapped::Shrink::Done => self.spec.io.sync_data(&file, &path).map_err(Error::io("fsync", &path)),
            mapped::Shrink::Mapped => {
                Err(Error::BadFile { path, reason: "a transaction index mapped elsewhere: not cut".into() })
            }
        }
    }

    /// Deletes the segment's data and index files (recovery dropping a segment after a cut tail).
    pub(crate) fn delete_files(&self) -> Result<()> {
        for path in self.files() {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io("delete", &path)(e)),
                _ => {}
            }
        }
        Ok(())
    }

    /// fsyncs the data file and both indexes.
    pub(crate) fn flush(&self) -> Result<()> {
        self.flush_data()?;
        if let Some(oi) = self.offset_index.get() {
            oi.flush_with(&*self.spec.io)?;
        }
        if let Some(ti) = self.time_index.get() {
            ti.flush_with(&*self.spec.io)?;
        }
        Ok(())
    }

    /// fsyncs the data file only: what synchronous appends need (indexes are rebuilt by recovery).
    pub(crate) fn flush_data(&self) -> Result<()> {
        // A file written through a handle closed since is fsynced through a new one: the dirty
        // pages are the file's, whichever handle wrote them.
        if self.log.was_opened() {
            let file = self.log_file()?;
            self.spec.io.sync_data(&file, &self.log_path).map_err(Error::io("fsync", &self.log_path))?;
        }
        Ok(())
    }

    /// Largest record timestamp, or (Kafka's fallback for segments without timestamps) the data
    /// file's modification time: what time retention compares with `retention.ms`.
    pub(crate) fn retention_timestamp(&self) -> Result<i64> {
        let ts = self.largest_timestamp()?;
        if ts >= 0 {
            return Ok(ts);
        }
        let modified =
            std::fs::metadata(&self.log_path).and_then(|m| m.modified()).map_err(Error::io("stat", &self.log_path))?;
        Ok(modified.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64))
    }

    /// Largest record timestamp in the segment, −1 if it has none.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a").with_timestamp(100), Record::new(b"b").with_timestamp(300)])?;
    /// p.append(&[Record::new(b"c").with_timestamp(200)])?;
    /// p.roll()?;
    /// let segments = p.segments();
    /// assert_eq!(segments[0].largest_timestamp()?, 300);
    /// assert_eq!(segments[1].largest_timestamp()?, -1); // the new active segment: no records
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn largest_timestamp(&self) -> Result<i64> {
        let known = self.max_timestamp.load(Ordering::Relaxed);
        if known != TIMESTAMP_UNKNOWN {
            return Ok(known);
        }
        let (ts, _) = self.load_largest_timestamp(self.offset_index()?, self.time_index()?)?;
        self.max_timestamp.fetch_max(ts, Ordering::Relaxed);
        Ok(self.max_timestamp.load(Ordering::Relaxed))
    }

    /// The largest timestamp in the segment and the last offset of the batch holding it, or
    /// (−1, base offset) (Kafka's `LogSegment.loadLargestTimestamp`): the time index's last
    /// entry, then the batches from the offset index's position for that entry's offset on.
    /// The time index is a sparse cache: it can end before the segment's largest timestamp (a
    /// broker adds the closing entry only when it appended to the segment since it started),
    /// or be empty, as for a small legacy segment of magic-1 messages.
    fn load_largest_timestamp(&self, oi: &Index<OffsetEntry>, ti: &Index<TimeEntry>) -> Result<(i64, u64)> {
        let indexed = ti.last_entry().map_or((NO_TIMESTAMP, self.base_offset), |e| (e.timestamp, e.offset));
        let scan_from = |position: u64| {
            let mut largest = indexed;
            self.scan_headers(position, self.size(), |_, header| {
                if header.max_timestamp > largest.0 {
                    largest = (header.max_timestamp, header.last_offset() as u64);
                }
                std::ops::ControlFlow::Continue(())
            })
            .map(|()| largest)
        };
        match oi.lookup(indexed.1 as i64).map_or(0, |e| u64::from(e.position)) {
            0 => scan_from(0),
            // An index entry is a cache too: one that names no batch start is passed over.
            position => scan_from(position).or_else(|_| scan_from(0)),
        }
    }
}

fn truncated(what: &'static str, needed: u64, available: u64) -> FormatError {
    FormatError::Truncated { what, needed, available }
}

/// Kafka's `TimeIndex.maybeAppend`: only a timestamp larger than the last entry's is added.
fn maybe_append_time(ti: &Index<TimeEntry>, timestamp: i64, offset: u64) -> Result<()> {
    match ti.last_entry() {
        Some(last) if timestamp <= last.timestamp => Ok(()),
        Some(last) if offset < last.offset => Ok(()),
        _ => ti.append(TimeEntry { timestamp, offset }),
    }
}
