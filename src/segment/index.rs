//! Sparse, memory-mapped segment indexes: Kafka's `.index` and `.timeindex`, byte for byte.
//!
//! Offset index (`.index`), 8-byte entries:
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | 4 | relative offset = offset − segment base offset (int32 BE) |
//! | 4 | 4 | position of a batch in the `.log` file (int32 BE) |
//!
//! Time index (`.timeindex`), 12-byte entries:
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | 8 | timestamp (int64 BE) |
//! | 8 | 4 | relative offset (int32 BE) |
//!
//! No header and no count: Kafka takes the entry count from the file length, which is why an index
//! is trimmed to its entries when its segment rolls or closes. An active segment's index is
//! preallocated to `segment.index.bytes` (rounded down to whole entries) and mapped once.
//!
//! Keys strictly increase (offsets; time-index timestamps). Entries are disposable caches of the
//! `.log` file, which is the only authority: see `docs/design.md`.
//!
//! Concurrency: one writer at a time (the index's write lock) writes the slot at `entries` and
//! then publishes it; readers only read the slots below it. The mapping itself, and the rules
//! that keep it sound, are in `storage::mapped`.
//!
//! Only partlog writes indexes: [`Index`] is public for inspection (entries, lookups), and every
//! mutator is crate-private and checked as Kafka's `OffsetIndex.append` / `TimeIndex.maybeAppend`
//! check: offsets within the segment's int32 relative range, keys increasing.

use std::fs::{File, OpenOptions};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::storage::mapped::{self, Access, IndexMap, Shrink};
use sealed::Token;

/// One kind of index entry: its size on disk, and how it reads and writes.
///
/// Implemented by [`OffsetEntry`] and [`TimeEntry`] only (the trait is sealed), and only partlog
/// encodes or decodes entries: a caller cannot reach the methods that do.
///
/// ```compile_fail
/// // Does not compile: the decoding method needs a token only partlog can make.
/// fn decode<E: partlog::IndexEntry>(bytes: &[u8]) -> E {
///     E::read(bytes, 0)
/// }
/// ```
pub trait IndexEntry: Copy + std::fmt::Debug + Send + Sync + sealed::Sealed + 'static {
    /// Bytes per entry on disk.
    const SIZE: usize;
    /// File name suffix, e.g. `.index`.
    const SUFFIX: &'static str;
    /// The search key: the offset, or the timestamp.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{IndexEntry, Log, OffsetEntry, Record, TimeEntry, TopicConfig};
    /// assert_eq!(OffsetEntry { offset: 42, position: 4096 }.key(), 42);
    /// assert_eq!(TimeEntry { timestamp: 1_700_000_000_000, offset: 42 }.key(), 1_700_000_000_000);
    ///
    /// let log = Log::open(dir.path())?;
    /// let mut config = TopicConfig::default();
    /// config.index_interval_bytes = 1; // an entry for every batch after the first
    /// let p = log.create_topic("t", 1, config)?.partition(0)?;
    /// p.append(&[Record::new(b"a").with_timestamp(100)])?;
    /// p.append(&[Record::new(b"b").with_timestamp(200)])?;
    /// let segment = &p.segments()[0];
    /// let index = segment.time_index()?;
    /// let entry = index.last_entry().unwrap();
    /// assert_eq!(entry.key(), 200);
    /// assert_eq!(index.lookup(entry.key()), Some(entry)); // lookups search by key
    /// # Ok::<(), partlog::Error>(())
    /// ```
    fn key(&self) -> i64;
}

/// How entries read and write. The trait cannot be named outside the crate, and each method
/// takes a [`Token`](sealed::Token) only this crate can make, so only partlog encodes entries
/// (a supertrait's methods are otherwise callable through a generic bound).
mod sealed {
    /// Proof that the caller is this crate.
    pub struct Token(pub(super) ());

    pub trait Sealed: Sized {
        /// Decodes an entry of a segment with base offset `base` from `bytes` (`SIZE` long).
        fn read(bytes: &[u8], base: u64, token: Token) -> Self;
        /// Encodes the entry relative to `base` into `out` (`SIZE` long); the caller checked
        /// it with `check`.
        fn write(&self, base: u64, out: &mut [u8], token: Token);
        /// Why the entry cannot follow `last` in an index of base offset `base`, if it cannot.
        fn check(&self, base: u64, last: Option<&Self>, token: Token) -> Option<String>;
    }
}

/// An offset index entry: the batch at file `position` ends at `offset` (Kafka keys entries by
/// the batch's last offset).
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Log, OffsetEntry, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let mut config = TopicConfig::default();
/// config.index_interval_bytes = 1; // an entry for every batch after the first
/// let p = log.create_topic("t", 1, config)?.partition(0)?;
/// p.append(&[Record::new(b"a")])?;
/// let position = p.size_bytes() as u32; // where the next batch starts
/// p.append(&[Record::new(b"b"), Record::new(b"c")])?; // offsets 1 and 2
/// let entry = p.segments()[0].offset_index()?.entry(0).unwrap();
/// assert_eq!(entry, OffsetEntry { offset: 2, position });
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetEntry {
    /// Absolute offset (stored relative to the segment's base offset).
    pub offset: u64,
    /// Byte position of the batch in the `.log` file.
    pub position: u32,
}

/// A time index entry: no record after `offset` in this segment has a timestamp ≤ `timestamp`
/// other than those at or before `offset`; put differently, `timestamp` is the largest
/// timestamp seen up to and including the batch ending at `offset`.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Log, Record, TimeEntry, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let mut config = TopicConfig::default();
/// config.index_interval_bytes = 1; // an entry for every batch after the first
/// let p = log.create_topic("t", 1, config)?.partition(0)?;
/// p.append(&[Record::new(b"a").with_timestamp(100)])?;
/// p.append(&[Record::new(b"b").with_timestamp(300)])?;
/// p.append(&[Record::new(b"c").with_timestamp(200)])?; // not a new largest: no entry
/// let segment = &p.segments()[0];
/// let index = segment.time_index()?;
/// assert_eq!(index.entries(), 1);
/// assert_eq!(index.last_entry(), Some(TimeEntry { timestamp: 300, offset: 1 }));
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeEntry {
    /// Largest timestamp so far, in milliseconds.
    pub timestamp: i64,
    /// Absolute offset (stored relative to the segment's base offset).
    pub offset: u64,
}

const REL_OFFSET_LEN: usize = 4;
const POSITION_LEN: usize = 4;
const TIMESTAMP_LEN: usize = 8;
/// The largest entry, in bytes.
const MAX_ENTRY_LEN: usize = TIMESTAMP_LEN + REL_OFFSET_LEN;
const _: () = assert!(OffsetEntry::SIZE <= MAX_ENTRY_LEN && TimeEntry::SIZE <= MAX_ENTRY_LEN);

/// Why `offset` cannot be stored relative to `base` as an int32 (Kafka's `relativeOffset` check).
fn relative_offset_problem(offset: u64, base: u64) -> Option<String> {
    match offset.checked_sub(base) {
        None => Some(format!("offset {offset} is below the segment's base offset {base}")),
        Some(rel) if rel > i32::MAX as u64 => {
            Some(format!("offset {offset} is more than 2^31 - 1 past the segment's base offset {base}"))
        }
        Some(_) => None,
    }
}

impl IndexEntry for OffsetEntry {
    const SIZE: usize = REL_OFFSET_LEN + POSITION_LEN;
    const SUFFIX: &'static str = crate::storage::files::OFFSET_INDEX_SUFFIX;

    #[inline]
    fn key(&self) -> i64 {
        self.offset as i64
    }
}

impl sealed::Sealed for OffsetEntry {
    #[inline]
    fn read(b: &[u8], base: u64, _: Token) -> Self {
        let rel = i32::from_be_bytes(b[..REL_OFFSET_LEN].try_into().expect("4 bytes"));
        let position = i32::from_be_bytes(b[REL_OFFSET_LEN..Self::SIZE].try_into().expect("4 bytes"));
        OffsetEntry { offset: base.wrapping_add(rel as u32 as u64), position: position as u32 }
    }

    fn write(&self, base: u64, out: &mut [u8], _: Token) {
        out[..REL_OFFSET_LEN].copy_from_slice(&((self.offset - base) as i32).to_be_bytes());
        out[REL_OFFSET_LEN..Self::SIZE].copy_from_slice(&(self.position as i32).to_be_bytes());
    }

    fn check(&self, base: u64, last: Option<&Self>, _: Token) -> Option<String> {
        if let Some(problem) = relative_offset_problem(self.offset, base) {
            return Some(problem);
        }
        if self.position > i32::MAX as u32 {
            return Some(format!("position {} does not fit an int32", self.position));
        }
        match last {
            Some(last) if self.offset <= last.offset => {
                Some(format!("offset {} is no larger than the last entry's {}", self.offset, last.offset))
            }
            Some(last) if self.position < last.position => {
                Some(format!("position {} is before the last entry's {}", self.position, last.position))
            }
            _ => None,
        }
    }
}

impl IndexEntry for TimeEntry {
    const SIZE: usize = TIMESTAMP_LEN + REL_OFFSET_LEN;
    const SUFFIX: &'static str = crate::storage::files::TIME_INDEX_SUFFIX;

    #[inline]
    fn key(&self) -> i64 {
        self.timestamp
    }
}

impl sealed::Sealed for TimeEntry {
    #[inline]
    fn read(b: &[u8], base: u64, _: Token) -> Self {
        let timestamp = i64::from_be_bytes(b[..TIMESTAMP_LEN].try_into().expect("8 bytes"));
        let rel = i32::from_be_bytes(b[TIMESTAMP_LEN..Self::SIZE].try_into().expect("4 bytes"));
        TimeEntry { timestamp, offset: base.wrapping_add(rel as u32 as u64) }
    }

    fn write(&self, base: u64, out: &mut [u8], _: Token) {
        out[..TIMESTAMP_LEN].copy_from_slice(&self.timestamp.to_be_bytes());
        out[TIMESTAMP_LEN..Self::SIZE].copy_from_slice(&((self.offset - base) as i32).to_be_bytes());
    }

    fn check(&self, base: u64, last: Option<&Self>, _: Token) -> Option<String> {
        if let Some(problem) = relative_offset_problem(self.offset, base) {
            return Some(problem);
        }
        match last {
            Some(last) if self.timestamp <= last.timestamp => {
                Some(format!("timestamp {} is no larger than the last entry's {}", self.timestamp, last.timestamp))
            }
            Some(last) if self.offset < last.offset => {
                Some(format!("offset {} is below the last entry's {}", self.offset, last.offset))
            }
            _ => None,
        }
    }
}

/// Kafka's warm section: lookups near the tail search only the last 8 KiB of entries, so the
/// pages they touch stay in memory (`AbstractIndex.warmEntries`).
const WARM_SECTION_BYTES: usize = 8192;

/// A segment's sparse index, memory-mapped: `Index<OffsetEntry>` is Kafka's `.index`,
/// `Index<TimeEntry>` its `.timeindex`.
///
/// Segments own their indexes and only partlog writes them; this type is public so that
/// callers can inspect them ([`Segment::offset_index`](crate::Segment::offset_index)).
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Log, OffsetEntry, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let mut config = TopicConfig::default();
/// config.index_interval_bytes = 1; // an entry for every batch after the first
/// let p = log.create_topic("t", 1, config)?.partition(0)?;
/// for i in 0..3u8 {
///     p.append(&[Record::new(&[i; 10]), Record::new(&[i; 10])])?;
/// }
/// let segment = &p.segments()[0];
/// let index = segment.offset_index()?;
/// assert_eq!(index.entries(), 2); // the batches ending at offsets 3 and 5
/// let entry = index.lookup(4).unwrap();
/// assert_eq!(entry.offset, 3);
/// assert_eq!(index.entry(1).unwrap().offset, 5);
/// assert!(index.path().ends_with("00000000000000000000.index"));
/// # Ok::<(), partlog::Error>(())
/// ```
pub struct Index<E: IndexEntry> {
    path: PathBuf,
    base_offset: u64,
    /// The file's device and inode; `None` for an index held in memory (a log opened
    /// read-only). No file handle is kept: the mapping does not need one, and a partition
    /// holds only its data file open (the README's resource costs). Trimming and fsyncs, both
    /// rare, open the file again and check it is still this one.
    identity: Option<(u64, u64)>,
    map: IndexMap,
    /// Serialises appends and trimming.
    writer: Mutex<()>,
    /// The file holds exactly the entries (trimmed, or opened read-only).
    trimmed: AtomicBool,
    _entry: PhantomData<E>,
}

impl<E: IndexEntry> std::fmt::Debug for Index<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("path", &self.path)
            .field("base_offset", &self.base_offset)
            .field("entries", &self.entries())
            .finish()
    }
}

impl<E: IndexEntry> Index<E> {
    /// Creates (or empties) an index file preallocated to `max_index_bytes`, rounded down to
    /// whole entries, and maps it for appending.
    ///
    /// An existing file is unlinked first, never truncated in place: a mapping of the old file
    /// that a reader still holds keeps its own (unlinked) file and stays valid.
    pub(crate) fn create(path: &Path, base_offset: u64, max_index_bytes: u64) -> Result<Self> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io("replace", path)(e)),
            _ => {}
        }
        let file =
            OpenOptions::new().read(true).write(true).create_new(true).open(path).map_err(Error::io("create", path))?;
        Self::with_capacity(path, file, base_offset, 0, max_index_bytes)
    }

    /// Opens an existing, trimmed index file for appending: its entries are kept and the file is
    /// extended to `max_index_bytes` again (Kafka's `resizeIndexes` for the active segment).
    pub(crate) fn open_for_append(path: &Path, base_offset: u64, max_index_bytes: u64) -> Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(path).map_err(Error::io("open", path))?;
        let len = file.metadata().map_err(Error::io("stat", path))?.len();
        Self::with_capacity(path, file, base_offset, (len / E::SIZE as u64) as usize, max_index_bytes)
    }

    fn with_capacity(path: &Path, file: File, base_offset: u64, entries: usize, max_index_bytes: u64) -> Result<Self> {
        let slots = usize::try_from(max_index_bytes / E::SIZE as u64).unwrap_or(usize::MAX).max(entries);
        let bytes = slots as u64 * E::SIZE as u64;
        file.set_len(bytes).map_err(Error::io("preallocate", path))?;
        let map = IndexMap::new(&file, path, E::SIZE, slots, entries, Access::Writable)?;
        Ok(Index {
            path: path.to_owned(),
            base_offset,
            identity: Some(identity(&file, path)?),
            map,
            writer: Mutex::new(()),
            trimmed: AtomicBool::new(false),
            _entry: PhantomData,
        })
    }

    /// Opens an existing index file read-only, taking its entry count from its length as Kafka
    /// does. A length that is not a multiple of the entry size is an error.
    pub(crate) fn open(path: &Path, base_offset: u64) -> Result<Self> {
        let file = File::open(path).map_err(Error::io("open", path))?;
        let len = file.metadata().map_err(Error::io("stat", path))?.len();
        if len % E::SIZE as u64 != 0 {
            return Err(Error::BadFile {
                path: path.to_owned(),
                reason: format!("length {len} is not a multiple of the {}-byte entry size", E::SIZE),
            });
        }
        let entries = usize::try_from(len / E::SIZE as u64).map_err(|_| Error::BadFile {
            path: path.to_owned(),
            reason: format!("length {len} is too large to map"),
        })?;
        let map = IndexMap::new(&file, path, E::SIZE, entries, entries, Access::ReadOnly)?;
        Ok(Index {
            path: path.to_owned(),
            base_offset,
            identity: Some(identity(&file, path)?),
            map,
            writer: Mutex::new(()),
            trimmed: AtomicBool::new(true),
            _entry: PhantomData,
        })
    }

    /// An index in memory for a log opened read-only, named after `path` but never written
    /// there: `slots` writable slots (entries rebuilt from the data file), or, with `slots` 0, a
    /// copy of the file's entries taken now. A copy, not a mapping: the process that owns the
    /// directory may cut or replace the file at any time.
    pub(crate) fn in_memory(path: &Path, base_offset: u64, slots: usize) -> Result<Self> {
        let filled = if slots == 0 {
            let bytes = std::fs::read(path).map_err(Error::io("read", path))?;
            if bytes.len() % E::SIZE != 0 {
                return Err(Error::BadFile {
                    path: path.to_owned(),
                    reason: format!("length {} is not a multiple of the {}-byte entry size", bytes.len(), E::SIZE),
                });
            }
            bytes
        } else {
            Vec::new()
        };
        let map = IndexMap::anonymous(E::SIZE, slots, &filled, path)?;
        if slots == 0 {
            map.retire();
        }
        Ok(Index {
            path: path.to_owned(),
            base_offset,
            identity: None,
            map,
            writer: Mutex::new(()),
            trimmed: AtomicBool::new(slots == 0),
            _entry: PhantomData,
        })
    }

    /// The index file.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// let segment = &p.segments()[0];
    /// assert_eq!(segment.offset_index()?.path(), p.dir().join("00000000000000000000.index"));
    /// assert_eq!(segment.time_index()?.path(), p.dir().join("00000000000000000000.timeindex"));
    /// assert!(segment.time_index()?.path().is_file());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Base offset of the segment the index belongs to.
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
    /// assert_eq!(active.offset_index()?.base_offset(), 2);
    /// assert_eq!(active.time_index()?.base_offset(), active.base_offset());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn base_offset(&self) -> u64 {
        self.base_offset
    }

    /// Number of entries.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let mut config = TopicConfig::default();
    /// config.index_interval_bytes = 1; // an entry for every batch after the first
    /// let p = log.create_topic("t", 1, config)?.partition(0)?;
    /// assert_eq!(p.segments()[0].offset_index()?.entries(), 0);
    /// for _ in 0..3 {
    ///     p.append(&[Record::new(b"x")])?;
    /// }
    /// assert_eq!(p.segments()[0].offset_index()?.entries(), 2);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn entries(&self) -> usize {
        self.map.entries()
    }

    /// Slots preallocated, written or not: those of an active segment's index, 0 for a sealed
    /// one (which takes no more entries, so [`is_full`](Self::is_full) is then true).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let mut config = TopicConfig::default();
    /// config.segment_index_bytes = 4096;
    /// let p = log.create_topic("t", 1, config)?.partition(0)?;
    /// let first = p.segments().pop().unwrap();
    /// assert_eq!(first.offset_index()?.capacity(), 4096 / 8); // 8-byte entries
    /// assert_eq!(first.time_index()?.capacity(), 4096 / 12); // 12-byte entries
    /// p.append(&[Record::new(b"a")])?;
    /// p.roll()?;
    /// assert_eq!(first.offset_index()?.capacity(), 0); // sealed
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.map.writable_slots()
    }

    /// Entry `slot`, if `slot < entries()`.
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
    /// let offsets: Vec<u64> = (0..index.entries()).map(|slot| index.entry(slot).unwrap().offset).collect();
    /// assert_eq!(offsets, [1, 2]);
    /// assert_eq!(index.entry(2), None);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn entry(&self, slot: usize) -> Option<E> {
        entry_in::<E>(self.map.published_slots(), slot, self.base_offset)
    }

    /// The last entry.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let mut config = TopicConfig::default();
    /// config.index_interval_bytes = 1; // an entry for every batch after the first
    /// let p = log.create_topic("t", 1, config)?.partition(0)?;
    /// p.append(&[Record::new(b"a")])?;
    /// assert_eq!(p.segments()[0].offset_index()?.last_entry(), None);
    /// p.append(&[Record::new(b"b"), Record::new(b"c")])?;
    /// assert_eq!(p.segments()[0].offset_index()?.last_entry().unwrap().offset, 2);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn last_entry(&self) -> Option<E> {
        self.entries().checked_sub(1).and_then(|slot| self.entry(slot))
    }

    /// Whether no more entries fit (Kafka's `isFull`).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let mut config = TopicConfig::default();
    /// config.segment_index_bytes = 48; // 6 offset index entries
    /// config.index_interval_bytes = 1; // an entry for every batch after the first
    /// let p = log.create_topic("t", 1, config)?.partition(0)?;
    /// for _ in 0..7 {
    ///     p.append(&[Record::new(b"x").with_timestamp(1)])?;
    /// }
    /// assert!(p.segments()[0].offset_index()?.is_full());
    /// p.append(&[Record::new(b"x").with_timestamp(1)])?; // so this append rolls
    /// let segments = p.segments();
    /// assert_eq!(segments.len(), 2);
    /// assert!(!segments[1].offset_index()?.is_full());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn is_full(&self) -> bool {
        self.entries() >= self.capacity()
    }

    /// Appends an entry, checked as Kafka checks it: the offset within the segment's int32
    /// relative range, keys increasing. Appends are serialised by the index's own lock.
    pub(crate) fn append(&self, entry: E) -> Result<()> {
        let _writer = self.writer.lock();
        if let Some(problem) = entry.check(self.base_offset, self.last_entry().as_ref(), Token(())) {
            return Err(Error::BadFile { path: self.path.clone(), reason: format!("index entry refused: {problem}") });
        }
        let mut bytes = [0u8; MAX_ENTRY_LEN];
        entry.write(self.base_offset, &mut bytes[..E::SIZE], Token(()));
        self.map.push(&bytes[..E::SIZE], &self.path)
    }

    /// The slot of the largest entry whose key is ≤ `target`, using Kafka's warm-section search.
    fn floor_slot(&self, slots: &[u8], target: i64) -> Option<usize> {
        let n = slots.len() / E::SIZE;
        if n == 0 {
            return None;
        }
        let key = |slot| entry_in::<E>(slots, slot, self.base_offset).map_or(i64::MAX, |e| e.key());
        let warm = WARM_SECTION_BYTES / E::SIZE;
        let first_hot = n.saturating_sub(1 + warm);
        if key(first_hot) < target {
            return Some(binary_search_floor(first_hot, n - 1, target, key));
        }
        if key(0) > target {
            return None;
        }
        Some(binary_search_floor(0, first_hot, target, key))
    }

    /// The largest entry whose key (offset or timestamp) is ≤ `target`.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let mut config = TopicConfig::default();
    /// config.index_interval_bytes = 1; // an entry for every batch after the first
    /// let p = log.create_topic("t", 1, config)?.partition(0)?;
    /// for i in 0..4u8 {
    ///     p.append(&[Record::new(&[i]), Record::new(&[i])])?; // batches ending at 1, 3, 5, 7
    /// }
    /// let segment = &p.segments()[0];
    /// let index = segment.offset_index()?; // entries 3, 5, 7
    /// assert_eq!(index.lookup(6).unwrap().offset, 5);
    /// assert_eq!(index.lookup(5).unwrap().offset, 5);
    /// assert_eq!(index.lookup(2), None); // before the first entry: the file's start
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn lookup(&self, target: i64) -> Option<E> {
        // One view of the published slots for the whole search.
        let slots = self.map.published_slots();
        self.floor_slot(slots, target).and_then(|slot| entry_in::<E>(slots, slot, self.base_offset))
    }

    /// [`lookup`](Self::lookup), with the entry after it (if any): the two bound the stretch of
    /// the data file a lookup's walk may cover.
    pub(crate) fn lookup_with_next(&self, target: i64) -> Option<(E, Option<E>)> {
        let slots = self.map.published_slots();
        let slot = self.floor_slot(slots, target)?;
        let entry = entry_in::<E>(slots, slot, self.base_offset)?;
        Some((entry, entry_in::<E>(slots, slot + 1, self.base_offset)))
    }

    /// Cuts the file to its entries, as Kafka does on roll and close, so that Kafka's tools
    /// (which count entries by file length) read it correctly. No appends follow.
    pub(crate) fn trim(&self) -> Result<()> {
        let _writer = self.writer.lock();
        if self.trimmed.load(Ordering::Acquire) {
            return Ok(());
        }
        self.map.retire();
        if self.identity.is_none() {
            // In memory: nothing to cut.
            self.trimmed.store(true, Ordering::Release);
            return Ok(());
        }
        let file = self.reopen(true)?;
        let len = (self.entries() * E::SIZE) as u64;
        match mapped::shrink(&file, &self.path, len)? {
            Shrink::Done => {
                self.trimmed.store(true, Ordering::Release);
                Ok(())
            }
            Shrink::Mapped => Err(Error::BadFile {
                path: self.path.clone(),
                reason: "another live mapping covers this index's unused slots: left untrimmed".into(),
            }),
        }
    }

    /// Makes the entries and the file length durable. An fsync writes back the pages dirtied
    /// through the mapping too (they are the file's page cache), as it does for the active
    /// segment's data file; it goes through the `Io` seam, so a failure stops writes.
    pub(crate) fn flush_with(&self, io: &dyn crate::storage::io::Io) -> Result<()> {
        if self.identity.is_none() {
            return Ok(());
        }
        let file = self.reopen(false)?;
        io.sync_data(&file, &self.path).map_err(Error::io("fsync", &self.path))
    }

    /// The index file, opened again: refused if the path names another file now.
    fn reopen(&self, write: bool) -> Result<File> {
        let file =
            OpenOptions::new().read(true).write(write).open(&self.path).map_err(Error::io("open", &self.path))?;
        if Some(identity(&file, &self.path)?) != self.identity {
            return Err(Error::BadFile {
                path: self.path.clone(),
                reason: "replaced by another file since it was mapped: left as it is".into(),
            });
        }
        Ok(file)
    }
}

/// A file's device and inode.
fn identity(file: &File, path: &Path) -> Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata().map_err(Error::io("stat", path))?;
    Ok((meta.dev(), meta.ino()))
}

/// Entry `slot` of the slots in `slots`, if there is one.
#[inline]
fn entry_in<E: IndexEntry>(slots: &[u8], slot: usize, base_offset: u64) -> Option<E> {
    let start = slot.checked_mul(E::SIZE)?;
    let bytes = slots.get(start..start.checked_add(E::SIZE)?)?;
    Some(E::read(bytes, base_offset, Token(())))
}

/// Kafka's `AbstractIndex.binarySearch` for the largest slot in `[lo, hi]` whose key is ≤ target,
/// given `key(lo) ≤ target`.
fn binary_search_floor(mut lo: usize, mut hi: usize, target: i64, key: impl Fn(usize) -> i64) -> usize {
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        let k = key(mid);
        if k > target {
            hi = mid - 1;
        } else if k < target {
            lo = mid;
        } else {
            return mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_the_floor_entry_across_warm_and_cold_sections() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::<OffsetEntry>::create(&dir.path().join("0.index"), 1000, 1 << 20).unwrap();
        // 5000 entries, offsets 1000 + 10·i, so lookups hit both the cold and the warm section.
        for i in 0..5000u64 {
            index.append(OffsetEntry { offset: 1000 + 10 * i, position: i as u32 * 100 }).unwrap();
        }
        assert_eq!(index.lookup(999), None);
        for target in [1000u64, 1005, 1010, 20_000, 40_995, 45_000, 50_990, 99_999] {
            let want = (target - 1000).min(49_990) / 10;
            assert_eq!(index.lookup(target as i64).unwrap().offset, 1000 + 10 * want, "target {target}");
        }
    }

    #[test]
    fn time_entries_round_trip_through_a_trimmed_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("5.timeindex");
        let index = Index::<TimeEntry>::create(&path, 5, 10 * 1024 * 1024).unwrap();
        assert_eq!(index.capacity(), 873_813, "Kafka's slot count for a 10 MiB time index");
        index.append(TimeEntry { timestamp: 100, offset: 7 }).unwrap();
        index.append(TimeEntry { timestamp: 250, offset: 20 }).unwrap();
        index.trim().unwrap();
        assert!(index.append(TimeEntry { timestamp: 300, offset: 30 }).is_err(), "trimmed indexes take no appends");
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            bytes,
            [&100i64.to_be_bytes()[..], &2i32.to_be_bytes(), &250i64.to_be_bytes(), &15i32.to_be_bytes()].concat()
        );
        let reopened = Index::<TimeEntry>::open(&path, 5).unwrap();
        assert_eq!(reopened.lookup(249), Some(TimeEntry { timestamp: 100, offset: 7 }));
        assert_eq!(reopened.lookup(10_000), Some(TimeEntry { timestamp: 250, offset: 20 }));
    }

    /// Regression: `Index::append` was public, unlocked and unchecked; an offset below the base
    /// panicked, one past base + 2^31 was stored wrapped, and keys that did not increase were
    /// accepted. Now each is refused with the index file named, and nothing is written.
    #[test]
    fn entries_kafka_refuses_are_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::<OffsetEntry>::create(&dir.path().join("100.index"), 100, 4096).unwrap();
        index.append(OffsetEntry { offset: 110, position: 50 }).unwrap();
        for bad in [
            OffsetEntry { offset: 99, position: 60 },
            OffsetEntry { offset: 100 + (1 << 31), position: 60 },
            OffsetEntry { offset: u64::MAX, position: 60 },
            OffsetEntry { offset: 110, position: 60 },
            OffsetEntry { offset: 109, position: 60 },
            OffsetEntry { offset: 120, position: 40 },
            OffsetEntry { offset: 120, position: u32::MAX },
        ] {
            let e = index.append(bad).unwrap_err();
            assert!(matches!(&e, Error::BadFile { path, .. } if path.ends_with("100.index")), "{bad:?}: {e}");
        }
        assert_eq!(index.entries(), 1);
        index.append(OffsetEntry { offset: 100 + i32::MAX as u64, position: 60 }).unwrap();

        let times = Index::<TimeEntry>::create(&dir.path().join("100.timeindex"), 100, 4096).unwrap();
        times.append(TimeEntry { timestamp: 10, offset: 105 }).unwrap();
        for bad in [
            TimeEntry { timestamp: 10, offset: 106 },
            TimeEntry { timestamp: 11, offset: 104 },
            TimeEntry { timestamp: 11, offset: 5 },
        ] {
            assert!(times.append(bad).is_err(), "{bad:?}");
        }
        assert_eq!(times.entries(), 1);
    }

    /// Threads appending to one index at once never write the same slot: every key stored once,
    /// increasing, whatever the interleaving.
    #[test]
    fn concurrent_appends_are_serialised() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::<OffsetEntry>::create(&dir.path().join("0.index"), 0, 1 << 16).unwrap();
        let next = std::sync::atomic::AtomicU64::new(1);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..500 {
                        // Take a key and append it; a later key may land first and refuse this one.
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let _ = index.append(OffsetEntry { offset: k, position: k as u32 });
                    }
                });
            }
        });
        let keys: Vec<u64> = (0..index.entries()).map(|i| index.entry(i).unwrap().offset).collect();
        assert!(keys.len() > 1);
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "keys increase: {keys:?}");
    }

    #[test]
    fn a_ragged_index_file_is_a_bad_file_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        std::fs::write(&path, [0u8; 13]).unwrap();
        assert!(matches!(Index::<OffsetEntry>::open(&path, 0), Err(Error::BadFile { .. })));
    }

    /// The index holds no descriptor: trimming and fsyncing reopen it by path. A file put in
    /// its place meanwhile is refused and left as it is, not cut to this index's entries.
    #[test]
    fn a_file_replaced_under_an_index_is_neither_trimmed_nor_synced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let index = Index::<OffsetEntry>::create(&path, 0, 800).unwrap();
        index.append(OffsetEntry { offset: 3, position: 10 }).unwrap();
        let other = dir.path().join("other");
        std::fs::write(&other, vec![7u8; 800]).unwrap();
        std::fs::rename(&other, &path).unwrap();
        for result in [index.flush_with(&crate::storage::io::OsIo), index.trim()] {
            match result {
                Err(Error::BadFile { path: p, reason }) => {
                    assert_eq!(p, path);
                    assert!(reason.contains("replaced"), "{reason}");
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(std::fs::read(&path).unwrap(), vec![7u8; 800], "the other file is untouched");
        assert_eq!(index.lookup(5).unwrap().position, 10, "the mapped entries still serve lookups");
    }

    #[test]
    fn reopening_for_append_keeps_entries_and_restores_capacity() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let index = Index::<OffsetEntry>::create(&path, 0, 800).unwrap();
        index.append(OffsetEntry { offset: 3, position: 10 }).unwrap();
        index.trim().unwrap();
        drop(index);
        let index = Index::<OffsetEntry>::open_for_append(&path, 0, 800).unwrap();
        assert_eq!((index.entries(), index.capacity()), (1, 100));
        index.append(OffsetEntry { offset: 9, position: 20 }).unwrap();
        assert_eq!(index.lookup(100).unwrap().position, 20);
    }
}
