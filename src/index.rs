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
//! Concurrency: one writer (holding the partition's append lock) writes the slot at `entries` and
//! then publishes it with a release store; readers load `entries` with acquire and only read the
//! slots below it. Both go through raw pointers into the mapping, so readers and the writer never
//! hold references to the same bytes.

use std::fs::{File, OpenOptions};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use memmap2::{MmapOptions, MmapRaw};

use crate::error::{Error, Result};

/// One kind of index entry: its size on disk, and how it reads and writes.
pub trait IndexEntry: Copy + std::fmt::Debug + Send + Sync + 'static {
    /// Bytes per entry on disk.
    const SIZE: usize;
    /// File name suffix, e.g. `.index`.
    const SUFFIX: &'static str;
    /// Decodes an entry of a segment with base offset `base`.
    fn read(bytes: &[u8], base: u64) -> Self;
    /// Encodes the entry relative to `base`.
    fn write(&self, base: u64, out: &mut [u8]);
    /// The search key: the offset, or the timestamp.
    fn key(&self) -> i64;
}

/// An offset index entry: the batch at file `position` ends at `offset` (Kafka keys entries by
/// the batch's last offset).
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

impl IndexEntry for OffsetEntry {
    const SIZE: usize = REL_OFFSET_LEN + POSITION_LEN;
    const SUFFIX: &'static str = ".index";

    fn read(b: &[u8], base: u64) -> Self {
        let rel = i32::from_be_bytes(b[..REL_OFFSET_LEN].try_into().expect("4 bytes"));
        let position = i32::from_be_bytes(b[REL_OFFSET_LEN..Self::SIZE].try_into().expect("4 bytes"));
        OffsetEntry { offset: base.wrapping_add(rel as u32 as u64), position: position as u32 }
    }

    fn write(&self, base: u64, out: &mut [u8]) {
        out[..REL_OFFSET_LEN].copy_from_slice(&((self.offset - base) as i32).to_be_bytes());
        out[REL_OFFSET_LEN..Self::SIZE].copy_from_slice(&(self.position as i32).to_be_bytes());
    }

    fn key(&self) -> i64 {
        self.offset as i64
    }
}

impl IndexEntry for TimeEntry {
    const SIZE: usize = TIMESTAMP_LEN + REL_OFFSET_LEN;
    const SUFFIX: &'static str = ".timeindex";

    fn read(b: &[u8], base: u64) -> Self {
        let timestamp = i64::from_be_bytes(b[..TIMESTAMP_LEN].try_into().expect("8 bytes"));
        let rel = i32::from_be_bytes(b[TIMESTAMP_LEN..Self::SIZE].try_into().expect("4 bytes"));
        TimeEntry { timestamp, offset: base.wrapping_add(rel as u32 as u64) }
    }

    fn write(&self, base: u64, out: &mut [u8]) {
        out[..TIMESTAMP_LEN].copy_from_slice(&self.timestamp.to_be_bytes());
        out[TIMESTAMP_LEN..Self::SIZE].copy_from_slice(&((self.offset - base) as i32).to_be_bytes());
    }

    fn key(&self) -> i64 {
        self.timestamp
    }
}

/// Kafka's warm section: lookups near the tail search only the last 8 KiB of entries, so the
/// pages they touch stay in memory (`AbstractIndex.warmEntries`).
const WARM_SECTION_BYTES: usize = 8192;

/// A memory-mapped sparse index file of entries `E`.
///
/// `Index<OffsetEntry>` is Kafka's `.index`, `Index<TimeEntry>` its `.timeindex`. Segments own
/// their indexes; this type is public so tools can open and inspect index files directly.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Index, OffsetEntry};
/// let path = dir.path().join("00000000000000000100.index");
/// let index = Index::<OffsetEntry>::create(&path, 100, 4096)?;
/// index.append(OffsetEntry { offset: 110, position: 0 })?;
/// index.append(OffsetEntry { offset: 150, position: 4200 })?;
/// assert_eq!(index.lookup(149), Some(OffsetEntry { offset: 110, position: 0 }));
/// assert_eq!(index.lookup(150).unwrap().position, 4200);
/// assert_eq!(index.lookup(109), None);
/// index.trim()?;
/// assert_eq!(std::fs::metadata(&path).unwrap().len(), 16); // two 8-byte entries
///
/// let reopened = Index::<OffsetEntry>::open(&path, 100)?;
/// assert_eq!(reopened.entries(), 2);
/// # Ok::<(), partlog::Error>(())
/// ```
pub struct Index<E: IndexEntry> {
    path: PathBuf,
    base_offset: u64,
    file: File,
    /// `None` when the file is empty (an empty file cannot be mapped).
    map: Option<MmapRaw>,
    /// Entries published to readers.
    entries: AtomicUsize,
    /// Slots the mapping can hold; 0 once trimmed (no more appends).
    capacity: AtomicUsize,
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
    pub fn create(path: &Path, base_offset: u64, max_index_bytes: u64) -> Result<Self> {
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
    pub fn open_for_append(path: &Path, base_offset: u64, max_index_bytes: u64) -> Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(path).map_err(Error::io("open", path))?;
        let len = file.metadata().map_err(Error::io("stat", path))?.len();
        Self::with_capacity(path, file, base_offset, (len / E::SIZE as u64) as usize, max_index_bytes)
    }

    fn with_capacity(path: &Path, file: File, base_offset: u64, entries: usize, max_index_bytes: u64) -> Result<Self> {
        let slots = ((max_index_bytes / E::SIZE as u64) as usize).max(entries);
        let bytes = (slots * E::SIZE) as u64;
        file.set_len(bytes).map_err(Error::io("preallocate", path))?;
        let map = if bytes == 0 {
            None
        } else {
            let map = MmapOptions::new().len(bytes as usize).map_raw(&file).map_err(Error::io("mmap", path))?;
            // The file is sparse past its entries: without this, the first append's page fault
            // reads ahead up to the device's read-ahead size (8 MiB here), allocating and zeroing
            // page cache the index may never use. A hint; failing it costs only speed.
            #[cfg(unix)]
            let _ = map.advise(memmap2::Advice::Random);
            Some(map)
        };
        Ok(Index {
            path: path.to_owned(),
            base_offset,
            file,
            map,
            entries: AtomicUsize::new(entries),
            capacity: AtomicUsize::new(slots),
            _entry: PhantomData,
        })
    }

    /// Opens an existing index file read-only, taking its entry count from its length as Kafka
    /// does. A length that is not a multiple of the entry size is an error.
    pub fn open(path: &Path, base_offset: u64) -> Result<Self> {
        let file = File::open(path).map_err(Error::io("open", path))?;
        let len = file.metadata().map_err(Error::io("stat", path))?.len();
        if len % E::SIZE as u64 != 0 {
            return Err(Error::BadFile {
                path: path.to_owned(),
                reason: format!("length {len} is not a multiple of the {}-byte entry size", E::SIZE),
            });
        }
        let map = if len == 0 {
            None
        } else {
            Some(MmapOptions::new().map_raw_read_only(&file).map_err(Error::io("mmap", path))?)
        };
        Ok(Index {
            path: path.to_owned(),
            base_offset,
            file,
            map,
            entries: AtomicUsize::new((len / E::SIZE as u64) as usize),
            capacity: AtomicUsize::new(0),
            _entry: PhantomData,
        })
    }

    /// The index file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Base offset of the segment the index belongs to.
    pub fn base_offset(&self) -> u64 {
        self.base_offset
    }

    /// Number of entries.
    pub fn entries(&self) -> usize {
        self.entries.load(Ordering::Acquire)
    }

    /// Slots the mapping holds (0 for a read-only or trimmed index).
    pub fn capacity(&self) -> usize {
        self.capacity.load(Ordering::Relaxed)
    }

    /// Entry `slot`, if `slot < entries()`.
    pub fn entry(&self, slot: usize) -> Option<E> {
        (slot < self.entries()).then(|| self.read_slot(slot))
    }

    /// The last entry.
    pub fn last_entry(&self) -> Option<E> {
        self.entries().checked_sub(1).map(|slot| self.read_slot(slot))
    }

    fn read_slot(&self, slot: usize) -> E {
        let map = self.map.as_ref().expect("a published slot implies a mapping");
        let mut bytes = [0u8; 16];
        let bytes = &mut bytes[..E::SIZE];
        // SAFETY: slot < entries ≤ mapped slots, so the range is inside the mapping and the file
        // (trimming never cuts below `entries`). The writer only writes slots ≥ entries, and the
        // acquire load of `entries` orders this read after the write of the slot.
        unsafe { std::ptr::copy_nonoverlapping(map.as_ptr().add(slot * E::SIZE), bytes.as_mut_ptr(), E::SIZE) };
        E::read(bytes, self.base_offset)
    }

    /// Whether no more entries fit (Kafka's `isFull`).
    pub fn is_full(&self) -> bool {
        self.entries() >= self.capacity()
    }

    /// Appends an entry. Only the owner of the segment's append lock calls this. Keys must
    /// increase and the relative offset must fit an int32.
    pub fn append(&self, entry: E) -> Result<()> {
        let slot = self.entries.load(Ordering::Relaxed);
        if slot >= self.capacity() {
            return Err(Error::BadFile { path: self.path.clone(), reason: "index is full or read-only".into() });
        }
        let map = self.map.as_ref().expect("capacity > 0 implies a mapping");
        let mut bytes = [0u8; 16];
        entry.write(self.base_offset, &mut bytes[..E::SIZE]);
        // SAFETY: slot < capacity = mapped slots of a writable mapping; readers never read
        // slot ≥ entries, which is published only by the release store below.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), map.as_mut_ptr().add(slot * E::SIZE), E::SIZE) };
        self.entries.store(slot + 1, Ordering::Release);
        Ok(())
    }

    /// The slot of the largest entry whose key is ≤ `target`, using Kafka's warm-section search.
    fn floor_slot(&self, target: i64) -> Option<usize> {
        let n = self.entries();
        if n == 0 {
            return None;
        }
        let key = |slot| self.read_slot(slot).key();
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
    pub fn lookup(&self, target: i64) -> Option<E> {
        self.floor_slot(target).map(|slot| self.read_slot(slot))
    }

    /// Cuts the file to its entries, as Kafka does on roll and close, so that Kafka's tools
    /// (which count entries by file length) read it correctly. No appends follow.
    pub fn trim(&self) -> Result<()> {
        self.capacity.store(0, Ordering::Relaxed);
        let len = (self.entries() * E::SIZE) as u64;
        // The mapping stays; it is never read past `entries`, which lie inside the new length.
        self.file.set_len(len).map_err(Error::io("trim", &self.path))
    }

    /// Writes the mapped entries and the file length to disk.
    pub fn flush(&self) -> Result<()> {
        self.flush_with(&crate::io::OsIo)
    }

    pub(crate) fn flush_with(&self, io: &dyn crate::io::Io) -> Result<()> {
        if let Some(map) = &self.map {
            let len = self.entries() * E::SIZE;
            if len > 0 {
                map.flush_range(0, len).map_err(Error::io("msync", &self.path))?;
            }
        }
        io.sync_data(&self.file, &self.path).map_err(Error::io("fsync", &self.path))
    }
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

    #[test]
    fn a_ragged_index_file_is_a_bad_file_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        std::fs::write(&path, [0u8; 13]).unwrap();
        assert!(matches!(Index::<OffsetEntry>::open(&path, 0), Err(Error::BadFile { .. })));
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
