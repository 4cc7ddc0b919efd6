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
//! moment the copy ends, as with a `write`, so an append survives a crash of the process.
//! The log's prefill thread (`crate::storage::prefill`) does the zero-fill a chunk ahead when it can,
//! under the same lock, holding the map's read lock so that sealing waits for it.
//! Readers copy out of the mapping below `size`, or borrow it: a [`MappedBytes`] holds the
//! mapping alive (an `Arc`) past sealing, truncation and deletion of the segment, and only covers
//! bytes below `size` at the time of the read, which never change. The mapped file is never cut
//! below what readers may touch: sealing trims only the zero-filled space past `size`, and
//! truncation writes a new file. After a crash the zero-filled tail is cut by recovery without counting as damage.
//!
//! Index rule (Kafka's `LogSegment.append`): before an append is counted, if more than
//! `index.interval.bytes` were appended since the last entry, add an offset entry (last offset of
//! the append, position where it starts) and a time entry (largest timestamp so far and the last
//! offset of the batch that first reached it) if that timestamp is larger than the last one.

pub(crate) mod index;

use std::fs::{File, OpenOptions};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::error::{Error, FormatError, Result};
use crate::format::batch::{self, AtCut, BatchHeader, Batches, HEADER_LEN};
use crate::format::record::RecordRef;
use crate::segment::index::{Index, IndexEntry, OffsetEntry, TimeEntry};
use crate::storage::files;
use crate::storage::io::Io;
use crate::storage::mapped::{self, DataMap, MappedBytes, Shrink, Touch};
use crate::storage::prefill::FillAhead;

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
static ZEROS: [u8; RESERVE_CHUNK_BYTES] = [0; RESERVE_CHUNK_BYTES];

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
    /// positioned write it replaces (measured in the targets bench's history; see the README).
    pub map_appends: bool,
    /// `segment.index.bytes`.
    pub max_index_bytes: u64,
    /// `index.interval.bytes`.
    pub index_interval_bytes: u64,
    pub io: std::sync::Arc<dyn crate::storage::io::Io>,
    /// The log's prefill thread, if it runs one, and the seam its zero-fills write through.
    pub prefill: Option<(Arc<crate::storage::prefill::Prefill>, Arc<dyn crate::storage::io::Io>)>,
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
}

/// Whether [`Segment::scan`] rebuilds the indexes as it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Indexes {
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
    /// segments costs no file handles.
    log: OnceLock<File>,
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
        let segment = Segment::new(log_path, base_offset, 0, spec, now_ms);
        segment.log.set(file).expect("fresh OnceLock");
        segment.max_timestamp.store(NO_TIMESTAMP, Ordering::Relaxed);
        match segment.create_indexes().and_then(|()| segment.map_for_append()) {
            Ok(()) => Ok(segment),
            Err(e) => {
                // Out of file descriptors, say: leave nothing behind, so that a retry can create
                // the segment again.
                let _ = segment.delete_files();
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
            log_path,
            log: OnceLock::new(),
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
    pub fn base_offset(&self) -> u64 {
        self.base_offset
    }

    /// Bytes of whole batches in the data file.
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// The `.log` file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        self.log_path.with_file_name(files::segment_file_name(self.base_offset, suffix))
    }

    pub(crate) fn log_file(&self) -> Result<&File> {
        if let Some(f) = self.log.get() {
            return Ok(f);
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.log_path)
            .map_err(Error::io("open", &self.log_path))?;
        // Another thread may have won the race; either handle is the same file.
        Ok(self.log.get_or_init(|| file))
    }

    fn corrupt(&self, position: u64, problem: FormatError) -> Error {
        Error::CorruptBatch { path: self.log_path.clone(), position, problem }
    }

    /// The offset index, opened (or rebuilt from the data file) on first use.
    pub fn offset_index(&self) -> Result<&Index<OffsetEntry>> {
        self.ensure_indexes()?;
        Ok(self.offset_index.get().expect("initialised by ensure_indexes"))
    }

    /// The time index, opened (or rebuilt from the data file) on first use.
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
                self.scan(Indexes::Rebuild, self.base_offset, Offsets::Increasing)?;
                for index in [self.offset_index.get().map(|i| i.trim()), self.time_index.get().map(|i| i.trim())] {
                    index.transpose()?;
                }
                Ok(())
            }
        }
    }

    fn open_existing_indexes(&self) -> Result<(Index<OffsetEntry>, Index<TimeEntry>)> {
        let oi = Index::<OffsetEntry>::open(&self.sibling(OffsetEntry::SUFFIX), self.base_offset)?;
        let ti = Index::<TimeEntry>::open(&self.sibling(TimeEntry::SUFFIX), self.base_offset)?;
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
        *slot = DataMap::new(self.log_file()?, &self.log_path, self.size(), self.spec.segment_bytes)?;
        Ok(())
    }

    /// Takes the mapping away and retires it (see `storage::mapped`): appends and readers of
    /// this segment use the file from now on, and a reader still holding the mapping reads only
    /// what was published. Waits for a zero-fill of the prefill thread in progress.
    pub(crate) fn unmap(&self) {
        if let Some(m) = self.map.write().take() {
            m.retire();
        }
    }

    /// Writes the first `len` bytes of the data file to `<name>.log.cleaned` (removed by the
    /// next open if left behind), fsynced, and returns its path.
    pub(crate) fn copy_prefix(&self, len: u64) -> Result<PathBuf> {
        let target = files::with_suffix(&self.log_path, files::CLEANED_SUFFIX);
        let mut out = File::create(&target).map_err(Error::io("create", &target))?;
        let mut from = self.log_file()?;
        std::io::Seek::seek(&mut from, std::io::SeekFrom::Start(0)).map_err(Error::io("seek", &self.log_path))?;
        let copied =
            std::io::copy(&mut std::io::Read::take(from, len), &mut out).map_err(Error::io("copy", &target))?;
        if copied != len {
            return Err(Error::io("copy", &self.log_path)(std::io::ErrorKind::UnexpectedEof.into()));
        }
        self.spec.io.sync_data(&out, &target).map_err(Error::io("fsync", &target))?;
        Ok(target)
    }

    /// Appends `len` bytes of the data file from `position` to `out`. The caller stays below
    /// `size`.
    fn read_into(&self, position: u64, len: u64, out: &mut Vec<u8>) -> Result<()> {
        if let Some(bytes) = self.map.read().as_ref().and_then(|m| m.get(position, len)) {
            out.extend_from_slice(bytes);
            return Ok(());
        }
        let at = out.len();
        out.resize(at + len as usize, 0);
        files::read_exact_at(self.log_file()?, &mut out[at..], position, &self.log_path)
    }

    /// Whether the data file holds only zero bytes from `position` on: the space zero-filled
    /// ahead of appends that a crash left behind.
    pub(crate) fn zeros_from(&self, position: u64) -> Result<bool> {
        let file = self.log_file()?;
        let end = file.metadata().map_err(Error::io("stat", &self.log_path))?.len();
        let mut buf = vec![0u8; RECOVERY_CHUNK_BYTES.min(end.saturating_sub(position) as usize)];
        let mut at = position;
        while at < end {
            let n = buf.len().min((end - at) as usize);
            files::read_exact_at(file, &mut buf[..n], at, &self.log_path)?;
            if buf[..n].iter().any(|&b| b != 0) {
                return Ok(false);
            }
            at += n as u64;
        }
        Ok(true)
    }

    /// Creates empty, preallocated index files. The index slots must be unset.
    fn create_indexes(&self) -> Result<()> {
        let oi = Index::create(&self.sibling(OffsetEntry::SUFFIX), self.base_offset, self.spec.max_index_bytes)?;
        let ti = Index::create(&self.sibling(TimeEntry::SUFFIX), self.base_offset, self.spec.max_index_bytes)?;
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
                if let Some(last) = ti.last_entry() {
                    cursor.max_timestamp_so_far = last.timestamp;
                    cursor.offset_of_max_timestamp_so_far = last.offset;
                }
                self.offset_index = OnceLock::from(oi);
                self.time_index = OnceLock::from(ti);
                if size >= HEADER_LEN as u64 {
                    let mut first = [0u8; HEADER_LEN];
                    files::read_exact_at(self.log_file()?, &mut first, 0, &self.log_path)?;
                    cursor.rolling_based_timestamp = BatchHeader::parse(&first).map(|h| h.max_timestamp);
                }
                self.max_timestamp.store(cursor.max_timestamp_so_far, Ordering::Relaxed);
                *self.cursor.lock() = cursor;
                self.map_for_append()
            }
            // Unusable indexes: the caller falls back to recovery, which rebuilds them.
            Err(e) => Err(e),
        }
    }

    /// Scans the whole data file, checking every batch (header, CRC, offsets increasing and
    /// within the segment's relative range), and rebuilds both indexes from the valid prefix.
    /// The data file is not changed; see [`cut_to`](Self::cut_to).
    pub(crate) fn rebuild_indexes(&mut self, floor: u64, offsets: Offsets) -> Result<ScanOutcome> {
        self.offset_index = OnceLock::new();
        self.time_index = OnceLock::new();
        self.create_indexes()?;
        self.scan(Indexes::Rebuild, floor, offsets)
    }

    /// Scans the data file from the start, validating every batch and, with
    /// [`Indexes::Rebuild`], adding index entries by the index rule. The first batch must start
    /// at or after `floor`; `offsets` says how each later batch follows the one before it.
    /// Returns where the valid batches end.
    pub(crate) fn scan(&self, indexes: Indexes, floor: u64, offsets: Offsets) -> Result<ScanOutcome> {
        let file = self.log_file()?;
        let file_bytes = file.metadata().map_err(Error::io("stat", &self.log_path))?.len();
        let mut cursor = IndexCursor::new(self.base_offset);
        let mut buf = Vec::new();
        let mut pos = 0u64;
        let mut next_offset: Option<u64> = None;
        let mut problem = None;
        let mut chunk_bytes = RECOVERY_CHUNK_BYTES as u64;
        'file: while pos < file_bytes {
            let chunk_start = pos;
            buf.resize(chunk_bytes.min(file_bytes - chunk_start) as usize, 0);
            files::read_exact_at(file, &mut buf, chunk_start, &self.log_path)?;
            for found in Batches::new(&buf, MAX_SEGMENT_BYTES, AtCut::Stop) {
                let b = match found {
                    Ok(b) => b,
                    Err(p) => {
                        problem = Some((chunk_start + p.position as u64, p.problem));
                        break 'file;
                    }
                };
                let checked = self
                    .check_sequence(&b.header, next_offset, floor, offsets)
                    .and_then(|()| batch::verify_crc(b.bytes));
                if let Err(e) = checked {
                    problem = Some((pos, e));
                    break 'file;
                }
                let last = b.header.last_offset() as u64;
                if indexes == Indexes::Rebuild {
                    let meta = AppendMeta {
                        last_offset: last,
                        max_timestamp: b.header.max_timestamp,
                        offset_of_max_timestamp: last,
                    };
                    self.advance_cursor(&mut cursor, pos, b.bytes.len() as u64, meta, true)?;
                }
                next_offset = Some(last + 1);
                pos += b.bytes.len() as u64;
            }
            chunk_bytes = RECOVERY_CHUNK_BYTES as u64;
            if pos == chunk_start && pos < file_bytes {
                // The batch at `pos` does not fit the chunk: read it whole next, unless the file
                // ends inside it (or inside its header).
                let left = file_bytes - pos;
                match BatchHeader::parse(&buf) {
                    Some(h) if h.total_size() <= left => chunk_bytes = h.total_size(),
                    Some(h) => {
                        problem = Some((pos, truncated("batch", h.total_size(), left)));
                        break;
                    }
                    None => {
                        problem = Some((pos, truncated("batch header", HEADER_LEN as u64, left)));
                        break;
                    }
                }
            }
        }
        if indexes == Indexes::Rebuild {
            self.finish_time_index(&cursor)?;
            self.max_timestamp.store(cursor.max_timestamp_so_far, Ordering::Relaxed);
            *self.cursor.lock() = cursor;
        }
        Ok(ScanOutcome { valid_bytes: pos, file_bytes, next_offset, problem })
    }

    /// Checks that a batch can follow the one before it in this walk, which ended at `after`
    /// (its last offset + 1), or, first in the walk, start at or above `floor`: offsets
    /// increasing (dense, with [`Offsets::Dense`]) and within the segment's int32 relative
    /// offsets. The CRC does not cover the base offset: this is what protects it.
    fn check_sequence(
        &self,
        header: &BatchHeader,
        after: Option<u64>,
        floor: u64,
        offsets: Offsets,
    ) -> Result<(), FormatError> {
        let base = header.base_offset as u64;
        let floor = after.unwrap_or(floor.max(self.base_offset));
        let out_of_order = match (offsets, after) {
            (Offsets::Dense, Some(next)) => base != next,
            _ => base < floor,
        };
        if out_of_order {
            return Err(FormatError::OffsetsNotIncreasing {
                base_offset: header.base_offset,
                previous_last_offset: floor as i64 - 1,
            });
        }
        if header.last_offset() as u64 - self.base_offset > i32::MAX as u64 {
            return Err(FormatError::BadHeaderField {
                field: "lastOffsetDelta (beyond the segment's relative offsets)",
                value: header.last_offset(),
            });
        }
        Ok(())
    }

    /// Cuts the data file to `len` bytes (recovery of a torn or corrupt tail, truncation). In
    /// place when no mapping of the file may touch the bytes cut off; otherwise the kept bytes
    /// are copied to a new file renamed over this one (see `storage::mapped`, rule 1), and the
    /// segment reopens it.
    pub(crate) fn cut_to(&mut self, len: u64) -> Result<()> {
        if mapped::shrink(self.log_file()?, &self.log_path, len)? == Shrink::Mapped {
            let copy = self.copy_prefix(len)?;
            std::fs::rename(&copy, &self.log_path).map_err(Error::io("rename into place", &copy))?;
            files::sync_dir(&*self.spec.io, self.log_path.parent().unwrap_or(Path::new(".")))?;
            self.log = OnceLock::new();
        }
        self.size.store(len, Ordering::Release);
        Ok(())
    }

    fn advance_cursor(
        &self,
        cursor: &mut IndexCursor,
        position: u64,
        bytes: u64,
        meta: AppendMeta,
        rebuilding: bool,
    ) -> Result<()> {
        let (oi, ti) = (self.offset_index.get().expect("active"), self.time_index.get().expect("active"));
        if meta.max_timestamp > cursor.max_timestamp_so_far {
            cursor.max_timestamp_so_far = meta.max_timestamp;
            cursor.offset_of_max_timestamp_so_far = meta.offset_of_max_timestamp;
        }
        if cursor.rolling_based_timestamp.is_none() {
            cursor.rolling_based_timestamp = Some(meta.max_timestamp);
        }
        if cursor.bytes_since_last_index_entry > self.spec.index_interval_bytes {
            // A rebuilt index of an oversized segment may fill up: a sparser tail only costs
            // lookups a longer scan, so rebuilding skips entries instead of failing.
            if !(rebuilding && oi.is_full()) {
                oi.append(OffsetEntry { offset: meta.last_offset, position: position as u32 })?;
            }
            if !(rebuilding && ti.entries() + 1 >= ti.capacity()) {
                maybe_append_time(ti, cursor.max_timestamp_so_far, cursor.offset_of_max_timestamp_so_far)?;
            }
            cursor.bytes_since_last_index_entry = 0;
        }
        cursor.bytes_since_last_index_entry += bytes;
        Ok(())
    }

    fn finish_time_index(&self, cursor: &IndexCursor) -> Result<()> {
        let ti = self.time_index.get().expect("indexes exist");
        if ti.entries() < ti.capacity() && cursor.max_timestamp_so_far >= 0 {
            maybe_append_time(ti, cursor.max_timestamp_so_far, cursor.offset_of_max_timestamp_so_far)?;
        }
        Ok(())
    }

    /// Whether an append of `bytes` whose batches end at `last_offset` with largest timestamp
    /// `max_timestamp` must go to a new segment (Kafka's `LogSegment.shouldRoll`).
    pub(crate) fn should_roll(&self, bytes: u64, last_offset: u64, max_timestamp: i64, now_ms: i64) -> bool {
        let size = self.size();
        if size == 0 {
            return false;
        }
        let (oi, ti) = (self.offset_index.get().expect("active"), self.time_index.get().expect("active"));
        let rolling_base = self.cursor.lock().rolling_based_timestamp.filter(|&t| t >= 0);
        let waited = match rolling_base {
            Some(first) => max_timestamp.saturating_sub(first),
            None => now_ms.saturating_sub(self.created_ms),
        };
        let segment_bytes = self.spec.segment_bytes;
        size > segment_bytes - bytes.min(segment_bytes)
            || waited > self.spec.segment_ms - self.roll_jitter_ms()
            || oi.is_full()
            || ti.entries() + 1 >= ti.capacity()
            || last_offset - self.base_offset > i32::MAX as u64
    }

    /// Appends whole batches at the end of the data file and indexes them. The caller holds the
    /// partition's append lock and has decided that they belong in this segment.
    pub(crate) fn append(self: &Arc<Self>, bytes: &[u8], meta: AppendMeta) -> Result<()> {
        let position = self.size();
        let end = position + bytes.len() as u64;
        let map = self.map.read();
        let mut mapped_write = None;
        match &*map {
            Some(m) if end <= m.len() && m.is_open() => {
                self.reserve(m, end)?;
                let mut write = m.begin_write(position, bytes.len(), &self.log_path)?;
                write.copy(bytes, &self.log_path, |dst, src| self.spec.io.write_mapped(dst, src, &self.log_path))?;
                mapped_write = Some(write);
                self.request_fill(m, end);
            }
            other => {
                if let Some(m) = other {
                    // Past the mapping (unreachable while rolls keep batches within
                    // `segment.bytes`): the file takes over for good.
                    m.retire();
                }
                self.reserve_unmapped(position, end)?;
                self.spec
                    .io
                    .write_all_at(self.log_file()?, &self.log_path, bytes, position)
                    .map_err(Error::io("write", &self.log_path))?
            }
        }
        let mut cursor = self.cursor.lock();
        self.advance_cursor(&mut cursor, position, bytes.len() as u64, meta, false)?;
        self.max_timestamp.fetch_max(meta.max_timestamp, Ordering::Relaxed);
        if let Some(write) = mapped_write {
            write.publish();
        }
        self.size.store(end, Ordering::Release);
        Ok(())
    }

    /// Zero-fills the data file up to at least `end` (a chunk at a time, within the mapping),
    /// unless the prefill thread already has.
    fn reserve(&self, m: &DataMap, end: u64) -> Result<()> {
        m.grow(end, RESERVE_CHUNK_BYTES as u64, Touch::No, |range| self.write_zeros(&*self.spec.io, range))
    }

    /// Zero-fills an unmapped active segment's file (topics flushed by message count) a chunk
    /// ahead of `end`, so that appends write inside the file instead of growing it: an fsync
    /// after a write that changed the file's length also commits that length to the file
    /// system's journal, and one after an overwrite does not (the README's performance section
    /// has the numbers). Sealing and recovery cut the zeros off as they do for mapped segments.
    fn reserve_unmapped(&self, position: u64, end: u64) -> Result<()> {
        let reserved = self.file_reserved.load(Ordering::Relaxed).max(position);
        if end <= reserved {
            return Ok(());
        }
        let target = end.max((reserved + RESERVE_CHUNK_BYTES as u64).min(self.spec.segment_bytes));
        let mut at = reserved;
        while at < target {
            at = self.write_zeros(&*self.spec.io, at..target)?.end;
            self.file_reserved.store(at, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Writes zeros to the start of `range` of the data file, at most a `ZEROS` long; returns
    /// the range written.
    fn write_zeros(&self, io: &dyn Io, range: std::ops::Range<u64>) -> Result<std::ops::Range<u64>> {
        let n = (ZEROS.len() as u64).min(range.end - range.start);
        io.write_all_at(self.log_file()?, &self.log_path, &ZEROS[..n as usize], range.start)
            .map_err(Error::io("zero-fill", &self.log_path))?;
        Ok(range.start..range.start + n)
    }

    /// Asks the prefill thread for the next chunk once less than half a chunk is left past `end`.
    fn request_fill(self: &Arc<Self>, m: &DataMap, end: u64) {
        let Some((prefill, _)) = &self.spec.prefill else { return };
        let reserved = m.reserved();
        if reserved - end >= RESERVE_CHUNK_BYTES as u64 / 2
            || reserved >= m.len()
            || m.requested.swap(true, Ordering::Relaxed)
        {
            return;
        }
        let weak: std::sync::Weak<dyn FillAhead> = Arc::downgrade(self) as _;
        if !prefill.request(weak) {
            m.requested.store(false, Ordering::Relaxed);
        }
    }

    /// Seals the segment when a newer one takes over, or on close: the final time-index entry,
    /// indexes trimmed to their entries, the data file cut to its batches, everything fsynced.
    pub(crate) fn seal(&self) -> Result<()> {
        if let Some(ti) = self.time_index.get() {
            if ti.capacity() > 0 {
                let cursor = *self.cursor.lock();
                if cursor.max_timestamp_so_far >= 0 {
                    maybe_append_time(ti, cursor.max_timestamp_so_far, cursor.offset_of_max_timestamp_so_far)?;
                }
            }
        }
        self.trim_indexes()?;
        if self.log.get().is_some() {
            // Retired first: the cut below removes the zero-filled pages the mapping covers.
            self.unmap();
            // Left as it is if another live mapping of the file reaches past the batches (none
            // does: an abandoned segment's mapping is retired too); recovery cuts zeros then.
            let _: Shrink = mapped::shrink(self.log_file()?, &self.log_path, self.size())?;
        }
        self.flush()
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
        self.log_file()?;
        self.ensure_indexes()?;
        let mut renamed = Vec::new();
        for path in [self.log_path.clone(), self.sibling(OffsetEntry::SUFFIX), self.sibling(TimeEntry::SUFFIX)] {
            let target = files::with_suffix(&path, files::DELETED_SUFFIX);
            match std::fs::rename(&path, &target) {
                Ok(()) => renamed.push(target),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("rename for deletion", &path)(e)),
            }
        }
        Ok(renamed)
    }

    /// Deletes the segment's data and index files (recovery dropping a segment after a cut tail).
    pub(crate) fn delete_files(&self) -> Result<()> {
        for path in [self.log_path.clone(), self.sibling(OffsetEntry::SUFFIX), self.sibling(TimeEntry::SUFFIX)] {
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
        if let Some(file) = self.log.get() {
            self.spec.io.sync_data(file, &self.log_path).map_err(Error::io("fsync", &self.log_path))?;
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
    pub fn largest_timestamp(&self) -> Result<i64> {
        let known = self.max_timestamp.load(Ordering::Relaxed);
        if known != TIMESTAMP_UNKNOWN {
            return Ok(known);
        }
        let ts = self.time_index()?.last_entry().map_or(NO_TIMESTAMP, |e| e.timestamp);
        self.max_timestamp.fetch_max(ts, Ordering::Relaxed);
        Ok(self.max_timestamp.load(Ordering::Relaxed))
    }

    /// Walks batch headers from `position` to `end`, calling `visit` with each batch's position
    /// and header until it breaks. Headers are checked before their lengths are used.
    pub(crate) fn scan_headers(
        &self,
        mut position: u64,
        end: u64,
        mut visit: impl FnMut(u64, &BatchHeader) -> ControlFlow<()>,
    ) -> Result<()> {
        let mut chunk = [0u8; SCAN_CHUNK_BYTES];
        let (mut chunk_start, mut chunk_len) = (0u64, 0usize);
        let map = self.map.read();
        while position < end {
            let available = (end - position).min(HEADER_LEN as u64);
            let bytes = match map.as_ref().and_then(|m| m.get(position, available)) {
                Some(bytes) => bytes,
                None => {
                    if position < chunk_start || position + HEADER_LEN as u64 > chunk_start + chunk_len as u64 {
                        let want = SCAN_CHUNK_BYTES.min((end - position) as usize);
                        files::read_exact_at(self.log_file()?, &mut chunk[..want], position, &self.log_path)?;
                        (chunk_start, chunk_len) = (position, want);
                    }
                    &chunk[(position - chunk_start) as usize..chunk_len]
                }
            };
            let header = BatchHeader::parse(bytes)
                .ok_or_else(|| self.corrupt(position, truncated("batch header", HEADER_LEN as u64, end - position)))?;
            header.check(end - position).map_err(|e| self.corrupt(position, e))?;
            if visit(position, &header).is_break() {
                return Ok(());
            }
            position += header.total_size();
        }
        Ok(())
    }

    /// Position and header of the first batch whose last offset is ≥ `target`, searching from the
    /// index entry at or below it (Kafka's `translateOffset`).
    pub(crate) fn locate(&self, target: u64, end: u64) -> Result<Option<(u64, BatchHeader)>> {
        let start = self.offset_index()?.lookup(target as i64).map_or(0, |e| e.position as u64);
        let mut found = None;
        self.scan_headers(start, end, |pos, header| {
            if header.last_offset() as u64 >= target {
                found = Some((pos, *header));
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        Ok(found)
    }

    /// Appends to `out` the whole batches that hold offsets ≥ `target` and start below
    /// `end_offset` (the partition's published log end offset), up to `max_bytes` (but at least
    /// one batch when `mode.min_one`), each checked (header, CRC, offsets increasing). With
    /// `mode.borrow`, batches of a mapped segment are returned as [`MappedBytes`] instead of
    /// copied.
    pub(crate) fn read(
        &self,
        target: u64,
        end_offset: u64,
        max_bytes: u64,
        mode: ReadMode,
        out: &mut Vec<u8>,
    ) -> Result<SegmentRead> {
        let ReadMode { min_one, borrow } = mode;
        let end = self.size();
        let Some((start, first)) = self.locate(target, end)? else {
            return Ok(SegmentRead::Nothing);
        };
        if first.base_offset as u64 >= end_offset {
            return Ok(SegmentRead::Nothing);
        }
        let first_size = first.total_size();
        if !min_one && first_size > max_bytes {
            return Ok(SegmentRead::DoesNotFit);
        }
        let want = (end - start).min(max_bytes.max(first_size));
        let batches = |len: usize, next_offset: u64, mapped| {
            let reached_end = start + len as u64 == end || next_offset >= end_offset;
            Ok(SegmentRead::Batches { next_offset, reached_end, mapped })
        };
        let mapped = if borrow { self.map.read().clone() } else { None };
        if let Some(map) = mapped {
            if let Some(bytes) = map.get(start, want) {
                let (len, next_offset) = self.check_batches(bytes, start, end_offset)?;
                return batches(len, next_offset, map.borrow(start, len as u64));
            }
        }
        let at = out.len();
        self.read_into(start, want, out)?;
        let (len, next_offset) = self.check_batches(&out[at..], start, end_offset)?;
        out.truncate(at + len);
        batches(len, next_offset, None)
    }

    /// Checks the batches of `bytes`, read from `start`, up to the first that is cut off or
    /// starts at or past `end_offset`. Returns the length of the checked batches and the offset
    /// after them; the first batch must be whole.
    fn check_batches(&self, bytes: &[u8], start: u64, end_offset: u64) -> Result<(usize, u64)> {
        let mut checked = 0;
        let mut next_offset = None;
        for found in Batches::new(bytes, MAX_SEGMENT_BYTES, AtCut::Stop) {
            let b = found.map_err(|p| self.corrupt(start + p.position as u64, p.problem))?;
            // A batch past the end offset is written but not yet published by its append.
            if b.header.base_offset as u64 >= end_offset {
                break;
            }
            let position = start + b.position as u64;
            self.check_sequence(&b.header, next_offset, self.base_offset, Offsets::Increasing)
                .and_then(|()| batch::verify_crc(b.bytes))
                .map_err(|e| self.corrupt(position, e))?;
            next_offset = Some(b.header.last_offset() as u64 + 1);
            checked = b.position + b.bytes.len();
        }
        let next_offset = next_offset.ok_or_else(|| {
            let needed = BatchHeader::parse(bytes).map_or(HEADER_LEN as u64, |h| h.total_size());
            self.corrupt(start, FormatError::Truncated { what: "batch", needed, available: bytes.len() as u64 })
        })?;
        Ok((checked, next_offset))
    }

    /// The first record with offset ≥ `start_offset` and timestamp ≥ `timestamp`, as
    /// `(offset, timestamp)` (Kafka's `LogSegment.findOffsetByTimestamp`).
    pub(crate) fn find_offset_by_timestamp(&self, timestamp: i64, start_offset: u64) -> Result<Option<(u64, i64)>> {
        let from = self.time_index()?.lookup(timestamp).map_or(self.base_offset, |e| e.offset).max(start_offset);
        let mut position = self.offset_index()?.lookup(from as i64).map_or(0, |e| e.position as u64);
        let end = self.size();
        let (mut raw, mut scratch) = (Vec::new(), Vec::new());
        loop {
            let mut candidate = None;
            self.scan_headers(position, end, |pos, h| {
                if h.max_timestamp >= timestamp && h.last_offset() as u64 >= start_offset {
                    candidate = Some((pos, *h));
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })?;
            let Some((pos, header)) = candidate else {
                return Ok(None);
            };
            raw.clear();
            self.read_into(pos, header.total_size(), &mut raw)?;
            let mut hit = None;
            self.decode_batch(pos, &raw, &mut scratch, |r| {
                if hit.is_none() && r.offset() >= start_offset && r.timestamp() >= timestamp {
                    hit = Some((r.offset(), r.timestamp()));
                }
            })?;
            if hit.is_some() {
                return Ok(hit);
            }
            position = pos + header.total_size();
        }
    }

    /// Decodes one whole batch read from `position` of this segment, calling `visit` per record
    /// (control batches included).
    pub(crate) fn decode_batch(
        &self,
        position: u64,
        raw: &[u8],
        scratch: &mut Vec<u8>,
        mut visit: impl FnMut(RecordRef<'_>),
    ) -> Result<()> {
        scratch.clear();
        let (header, records) = batch::open_batch(raw, u64::MAX, scratch, batch::Crc::Verify)
            .map_err(|e| self.decode_error(position, e))?;
        let section = records.section(raw, scratch);
        batch::decode_records(&header, section, |r| {
            visit(r);
            Ok(())
        })
        .map_err(|e| self.corrupt(position, e))
    }

    pub(crate) fn decode_error(&self, position: u64, e: batch::DecodeError) -> Error {
        match e {
            batch::DecodeError::Format(f) => self.corrupt(position, f),
            batch::DecodeError::Unsupported(codec) => Error::UnsupportedCodec { codec },
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

impl FillAhead for Segment {
    /// The prefill thread's work: zero-fills the next chunk of the active segment, if it still is
    /// active, touching its pages. A failure is left for the appender to meet (and report) when
    /// it fills itself.
    fn fill_ahead(&self) {
        // Holding the map read lock keeps the segment from being sealed while the file grows.
        let map = self.map.read();
        let (Some(m), Some((_, io))) = (map.as_ref(), &self.spec.prefill) else { return };
        let chunk = RESERVE_CHUNK_BYTES as u64;
        let _ = m.grow(m.reserved().saturating_add(chunk), chunk, Touch::Pages, |range| self.write_zeros(&**io, range));
        m.requested.store(false, Ordering::Relaxed);
    }
}
