//! Every access to memory-mapped files, and the one rule that makes it sound.
//!
//! partlog maps two kinds of file: the active segment's data file ([`DataMap`], appends copy
//! batches into it and readers borrow whole batches from it as [`MappedBytes`]) and index files
//! ([`IndexMap`]). Touching a mapped page that lies past the end of its file raises SIGBUS, which
//! kills the process; so does a page the file system cannot back (a full disk met by a write
//! fault). This module is the only place that dereferences a mapping, and these are its rules:
//!
//! 1. **No file is shortened under a mapping that may still touch the bytes cut off.** Every
//!    mapping is registered here with its file's identity (device, inode) and its *extent*: the
//!    bytes it may still touch. While a mapping is *open* for writing its extent is all of it;
//!    once *retired* (a sealed data file, a trimmed or read-only index) it is the bytes below
//!    what it published to readers, which never grows again. Files are shortened only through
//!    [`shrink`], which cuts in place only when every live mapping of the file lies within the
//!    new length, holding the registry lock, which mappings are made under (from the look at the
//!    file to their registration), so that no mapping appears meanwhile; otherwise the
//!    caller keeps the bytes it needs in a new file renamed over the old one (the old inode, and
//!    every mapping of it, stay whole until the last mapping goes). Other changes replace files
//!    (rename, unlink) and never cut an inode that is mapped.
//! 2. **Readers read only published bytes; the one writer writes only past them.** A data map
//!    publishes the end of the whole batches copied into it ([`MappedWrite::publish`] stores
//!    the new end with release); [`DataMap::get`] and [`DataMap::borrow`] hand out only ranges
//!    below it (acquire), and bytes below it never change. A write must start exactly at it and
//!    end within the zero-filled file; a second writer at the same time is refused, not raced.
//!    Index maps work the same way with whole entries. Retiring a map stops new writes, waits
//!    for one in progress, and only then lets cuts count on the published end.
//! 3. **Writes go only where the file has blocks.** The data file is zero-filled with positioned
//!    writes before its mapping is written there ([`DataMap::grow`], which checks the file's
//!    length after each piece): a full disk is an error of that write, not a fault in the
//!    mapping. (Copy-on-write file systems break this; see
//!    `docs/design.md`, Media assumptions.)
//!
//! Who upholds what: this module upholds all three for mappings it made, whatever callers do;
//! the one assumption it cannot check is that no other process shortens partlog's files while
//! they are open (the data directory's `.lock` keeps other partlog instances out).

use std::collections::BTreeMap;
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use memmap2::{MmapOptions, MmapRaw};

use crate::error::{Error, Result};

/// A file's identity: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    fn of(file: &File, path: &Path) -> Result<FileId> {
        let meta = file.metadata().map_err(Error::io("stat", path))?;
        Ok(FileId { dev: meta.dev(), ino: meta.ino() })
    }
}

/// The bytes of its file a mapping may still touch.
#[derive(Debug)]
struct Extent {
    /// Set once: no new write starts.
    retired: AtomicBool,
    /// Set once, after `retired` and after the last write ended: only bytes below `published`
    /// are ever touched again.
    settled: AtomicBool,
    /// Bytes readers may read (published with release after they were written).
    published: AtomicU64,
    /// The file mapped, under which the registry lists this mapping (`None`: not a file's).
    file: Option<FileId>,
}

impl Extent {
    fn new(published: u64, retired: bool, file: Option<FileId>) -> Arc<Extent> {
        Arc::new(Extent {
            file,
            retired: AtomicBool::new(retired),
            settled: AtomicBool::new(retired),
            published: AtomicU64::new(published),
        })
    }

    /// Whether cutting the file to `len` bytes leaves everything this mapping may touch.
    fn fits_within(&self, len: u64) -> bool {
        self.settled.load(Ordering::SeqCst) && self.published.load(Ordering::Acquire) <= len
    }
}

/// The live mappings of each file, by file identity. A mapping leaves it as it is unmapped.
/// Keyed, so that registering, unregistering and checking a file cost the same with ten or
/// ten thousand segments open.
type Registry = BTreeMap<FileId, Vec<Weak<Extent>>>;
static LIVE: Mutex<Registry> = Mutex::new(BTreeMap::new());

fn live() -> MutexGuard<'static, Registry> {
    // The registry holds no invariant a panic could break halfway: recover from poisoning.
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Adds a mapping to the registry; `live` is held from before the file was looked at until
/// now, so that no cut happens between the mapping's view of the file and its registration.
fn register(live: &mut Registry, id: FileId, extent: &Arc<Extent>) {
    debug_assert_eq!(extent.file, Some(id));
    live.entry(id).or_default().push(Arc::downgrade(extent));
}

/// What [`shrink`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub(crate) enum Shrink {
    /// The file was cut in place.
    Done,
    /// A live mapping may touch bytes past the new length: the file was left as it was. Write
    /// the bytes to keep to a new file and rename it over this one.
    Mapped,
}

/// Cuts `file` to `len` bytes if no live mapping of it may touch the bytes past `len` (rule 1).
pub(crate) fn shrink(file: &File, path: &Path, len: u64) -> Result<Shrink> {
    let id = FileId::of(file, path)?;
    let live = live();
    let blocked =
        live.get(&id).is_some_and(|maps| maps.iter().any(|e| e.upgrade().is_some_and(|e| !e.fits_within(len))));
    if blocked {
        return Ok(Shrink::Mapped);
    }
    // Still holding the registry: no mapping of this file can be made before the cut is done.
    file.set_len(len).map_err(Error::io("truncate", path))?;
    Ok(Shrink::Done)
}

/// Whether the zero-filling of [`DataMap::grow`] also touches each new page through the
/// mapping, so that the appender's copy into it takes no page fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Touch {
    Pages,
    No,
}

/// The active segment's data file mapped into memory (`MAP_SHARED`).
pub(crate) struct DataMap {
    /// Unmapped in `Drop`, under the registry lock.
    map: std::mem::ManuallyDrop<MmapRaw>,
    extent: Arc<Extent>,
    /// Length of the file: writes go only below it (zero-filled past `published`). Grown under
    /// `fill`.
    reserved: AtomicU64,
    /// Serialises zero-filling, and retiring with it.
    fill: parking_lot::Mutex<()>,
    /// A write is copying into the mapping (rule 2: one writer at a time).
    writing: AtomicBool,
    /// A chunk was asked of the prefill thread and not filled yet (used by the segment).
    pub(crate) requested: AtomicBool,
}

impl std::fmt::Debug for DataMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataMap")
            .field("len", &self.map.len())
            .field("published", &self.published())
            .field("reserved", &self.reserved())
            .finish()
    }
}

/// Mappings are sized in whole pages of this many bytes (a multiple of every page size in use).
const MAP_ALIGN: u64 = 64 << 10;
/// The prefill thread touches the mapping every this many bytes (the smallest page size).
const TOUCH_STRIDE: usize = 4096;

impl DataMap {
    /// Maps `file`, whose first `published` bytes are whole batches and which is `file_len`
    /// bytes long, for appends up to at least `len` bytes. `None` where the mapping cannot be
    /// made (address space, platform): appends then use positioned writes.
    pub(crate) fn new(file: &File, path: &Path, published: u64, len: u64) -> Result<Option<Arc<DataMap>>> {
        let mut live = live();
        let id = FileId::of(file, path)?;
        let file_len = file.metadata().map_err(Error::io("stat", path))?.len();
        let len = len.max(file_len).div_ceil(MAP_ALIGN) * MAP_ALIGN;
        let Ok(len) = usize::try_from(len) else { return Ok(None) };
        let Ok(map) = MmapOptions::new().len(len).map_raw(file) else { return Ok(None) };
        let extent = Extent::new(published.min(file_len), false, Some(id));
        register(&mut live, id, &extent);
        Ok(Some(Arc::new(DataMap {
            map: std::mem::ManuallyDrop::new(map),
            extent,
            reserved: AtomicU64::new(file_len),
            fill: parking_lot::Mutex::new(()),
            writing: AtomicBool::new(false),
            requested: AtomicBool::new(false),
        })))
    }

    /// Bytes of the mapping.
    #[inline]
    pub(crate) fn len(&self) -> u64 {
        self.map.len() as u64
    }

    /// Whether writes are still taken (not retired).
    #[inline]
    pub(crate) fn is_open(&self) -> bool {
        !self.extent.retired.load(Ordering::SeqCst)
    }

    /// Bytes readers may read.
    #[inline]
    pub(crate) fn published(&self) -> u64 {
        self.extent.published.load(Ordering::Acquire)
    }

    /// Bytes of the file (zero-filled past `published`).
    #[inline]
    pub(crate) fn reserved(&self) -> u64 {
        self.reserved.load(Ordering::Acquire)
    }

    /// `len` published bytes at `position`, if they lie below the published end.
    #[inline]
    pub(crate) fn get(&self, position: u64, len: u64) -> Option<&[u8]> {
        let end = position.checked_add(len)?;
        if end > self.published() {
            return None;
        }
        // SAFETY: `position..end` is below `published` ≤ `reserved` ≤ the mapping's length, so
        // it lies in the mapping and in the file; published bytes never change (rule 2) and the
        // file is never cut below what a live mapping may touch (rule 1), which includes them.
        Some(unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(position as usize), len as usize) })
    }

    /// Asks the CPU to start loading the published bytes of `position..position + len` into
    /// its caches, a line every 64 bytes, so that a walk over them waits for memory once
    /// instead of once per line it touches. A hint: nothing is read, and nothing happens where
    /// the CPU has no prefetch instruction.
    #[inline]
    pub(crate) fn prefetch(&self, position: u64, len: u64) {
        let end = position.saturating_add(len).min(self.published());
        #[cfg(target_arch = "x86_64")]
        for line in (position..end).step_by(64) {
            // SAFETY: `line` lies below `published`, inside the mapping, so the pointer stays in
            // its allocation. A prefetch reads nothing architecturally, cannot fault, and `sse`
            // (which the intrinsic requires) is part of every x86-64 target.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    self.map.as_ptr().add(line as usize).cast(),
                )
            };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = end;
    }

    /// Like [`get`](Self::get), as a handle that keeps the mapping alive.
    pub(crate) fn borrow(self: &Arc<Self>, position: u64, len: u64) -> Option<MappedBytes> {
        self.get(position, len)?;
        Some(MappedBytes { map: self.clone(), start: position as usize, len: len as usize })
    }

    /// Starts writing `len` bytes at `position`, the published end: refused (rule 2) unless
    /// the range starts at the published end and lies within the zero-filled file, unless the
    /// map is open, and while another write is in progress. The bytes count for readers only
    /// once [`MappedWrite::publish`] is called.
    #[inline]
    pub(crate) fn begin_write(&self, position: u64, len: usize, path: &Path) -> Result<MappedWrite<'_>> {
        if self.writing.swap(true, Ordering::SeqCst) {
            return Err(refused(path, "two writers in one mapped segment at once"));
        }
        // From here on the guard clears `writing`, whatever happens.
        let mut write = MappedWrite { map: self, position, end: position };
        if self.extent.retired.load(Ordering::SeqCst) {
            return Err(refused(path, "write to a sealed segment's mapping"));
        }
        let end = position.checked_add(len as u64).ok_or_else(|| refused(path, "write past 2^64"))?;
        if position != self.published() || end > self.reserved() {
            return Err(refused(path, "write outside the zero-filled space past the published batches"));
        }
        write.end = end;
        Ok(write)
    }

    /// Zero-fills the file from its end to at least `end` and at most the mapping's length, in
    /// pieces: `fill` writes zeros to the start of a range of the file (a positioned write
    /// through the `Io` seam) and says how far it got; the file's length is checked to cover the
    /// piece (rule 3); then, with [`Touch::Pages`], each page is touched through the mapping;
    /// then the piece counts as reserved. Does nothing once retired. Fills `chunk` bytes past the
    /// current end when that is short of `end`.
    pub(crate) fn grow(
        &self,
        file: &File,
        path: &Path,
        end: u64,
        chunk: u64,
        touch: Touch,
        mut fill: impl FnMut(Range<u64>) -> Result<Range<u64>>,
    ) -> Result<()> {
        if end <= self.reserved() {
            return Ok(());
        }
        let _fill = self.fill.lock();
        let reserved = self.reserved();
        if end <= reserved || self.extent.retired.load(Ordering::SeqCst) {
            return Ok(());
        }
        // Whole chunks: the file ends at a multiple of the chunk.
        let target =
            end.max(reserved.saturating_add(chunk)).div_ceil(chunk.max(1)).saturating_mul(chunk.max(1)).min(self.len());
        let mut at = reserved;
        while at < target {
            let piece = fill(at..target)?;
            let file_len = file.metadata().map_err(Error::io("stat", path))?.len();
            if piece.start != at || piece.end <= at || piece.end > file_len {
                return Err(Error::BadFile {
                    path: path.to_owned(),
                    reason: format!("zero-fill of {at}..{} left the file {file_len} bytes long", piece.end),
                });
            }
            if touch == Touch::Pages {
                for page in piece.clone().step_by(TOUCH_STRIDE) {
                    // SAFETY: the page lies in the mapping (`piece.end ≤ target ≤ len`) and in the
                    // file (checked just above); it is past `reserved`, where neither readers nor
                    // the writer look until the store below. Writing the zero it holds changes
                    // nothing.
                    unsafe { self.map.as_mut_ptr().add(page as usize).write_volatile(0) };
                }
            }
            self.reserved.store(piece.end, Ordering::Release);
            at = piece.end;
        }
        Ok(())
    }

    /// Ends writing: from now on only the published bytes are touched, so the file may be cut
    /// to them. Waits for a write or zero-fill in progress.
    pub(crate) fn retire(&self) {
        let _fill = self.fill.lock();
        self.extent.retired.store(true, Ordering::SeqCst);
        // A write that set `writing` before `retired` was stored finishes first; one that sets
        // it later sees `retired` and is refused (both SeqCst).
        while self.writing.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        // Only now may a cut count on `published`: no write is in progress or can start.
        self.extent.settled.store(true, Ordering::SeqCst);
    }
}

/// A mapped write refused by rule 2.
#[cold]
fn refused(path: &Path, reason: &str) -> Error {
    Error::BadFile { path: path.to_owned(), reason: reason.to_owned() }
}

/// Drops a registry entry with its mapping, under the registry lock, so that no cut sees the
/// entry of a mapping that is gone: the file's inode, freed by the unmap, may be reused by a new
/// file at once, and a stale entry would name it.
fn unregister(live: &mut Registry, extent: &Arc<Extent>) {
    let Some(id) = extent.file else { return };
    if let Some(maps) = live.get_mut(&id) {
        maps.retain(|e| !std::ptr::eq(e.as_ptr(), Arc::as_ptr(extent)));
        if maps.is_empty() {
            live.remove(&id);
        }
    }
}

impl Drop for DataMap {
    fn drop(&mut self) {
        let mut live = live();
        // SAFETY: `map` is not used again: this is the map's drop, and nothing else takes it.
        unsafe { std::mem::ManuallyDrop::drop(&mut self.map) };
        unregister(&mut live, &self.extent);
    }
}

impl Drop for IndexMap {
    fn drop(&mut self) {
        let mut live = live();
        drop(self.map.take());
        unregister(&mut live, &self.extent);
    }
}

/// A write in progress into a [`DataMap`], past its published end; see [`DataMap::begin_write`].
pub(crate) struct MappedWrite<'a> {
    map: &'a DataMap,
    position: u64,
    end: u64,
}

impl MappedWrite<'_> {
    /// Copies `bytes` (exactly the length asked for) with `copy` (the `Io` seam's mapped write).
    #[inline]
    pub(crate) fn copy(
        &mut self,
        bytes: &[u8],
        path: &Path,
        copy: impl FnOnce(&mut [u8], &[u8]) -> std::io::Result<()>,
    ) -> Result<()> {
        if bytes.len() as u64 != self.end - self.position {
            return Err(Error::BadFile { path: path.to_owned(), reason: "mapped write of the wrong length".into() });
        }
        // SAFETY: `position..end` lies in the mapping and the file (`end ≤ reserved`, checked by
        // `begin_write`), at or past `published`, where no reader looks; `writing`, held by this
        // guard, excludes a second writer, and `retired` was checked after it was set (see
        // `DataMap::retire`).
        let dst = unsafe {
            std::slice::from_raw_parts_mut(self.map.map.as_mut_ptr().add(self.position as usize), bytes.len())
        };
        copy(dst, bytes).map_err(Error::io("write", path))
    }

    /// Makes the bytes written readable.
    #[inline]
    pub(crate) fn publish(self) {
        self.map.extent.published.store(self.end, Ordering::Release);
    }
}

impl Drop for MappedWrite<'_> {
    fn drop(&mut self) {
        self.map.writing.store(false, Ordering::SeqCst);
    }
}

/// Whole batches borrowed from the active segment's mapping instead of copied: the mapping stays
/// alive while this is held, even after the segment is sealed, truncated or deleted.
#[derive(Clone)]
pub(crate) struct MappedBytes {
    map: Arc<DataMap>,
    start: usize,
    len: usize,
}

impl MappedBytes {
    /// Keeps only the first `len` bytes.
    pub(crate) fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: made by `DataMap::borrow` from a range below `published`, which never changes
        // and is never cut off while this mapping lives (rules 1 and 2).
        unsafe { std::slice::from_raw_parts(self.map.map.as_ptr().add(self.start), self.len) }
    }
}

impl std::fmt::Debug for MappedBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedBytes").field("start", &self.start).field("len", &self.len).finish()
    }
}

/// How an index file is mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    ReadOnly,
    Writable,
}

/// An index file mapped into memory: fixed-size slots, published one at a time.
pub(crate) struct IndexMap {
    /// `None` for an empty file (an empty file cannot be mapped).
    map: Option<MmapRaw>,
    slot_bytes: usize,
    /// Slots the mapping holds.
    slots: usize,
    /// Slots published; `extent.published` is the same in bytes.
    entries: AtomicUsize,
    extent: Arc<Extent>,
}

impl std::fmt::Debug for IndexMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexMap").field("slots", &self.slots).field("entries", &self.entries()).finish()
    }
}

impl IndexMap {
    /// Maps `slots` slots of `slot_bytes` of `file`, the first `entries` of them valid.
    pub(crate) fn new(
        file: &File,
        path: &Path,
        slot_bytes: usize,
        slots: usize,
        entries: usize,
        access: Access,
    ) -> Result<IndexMap> {
        let read_only = access == Access::ReadOnly;
        let mut live = live();
        let id = FileId::of(file, path)?;
        let file_len = file.metadata().map_err(Error::io("stat", path))?.len();
        let bytes = slots.checked_mul(slot_bytes).filter(|&b| b as u64 <= file_len && entries <= slots);
        let Some(bytes) = bytes else {
            return Err(Error::BadFile { path: path.to_owned(), reason: "index mapping larger than its file".into() });
        };
        let map = if bytes == 0 {
            None
        } else if read_only {
            Some(MmapOptions::new().len(bytes).map_raw_read_only(file).map_err(Error::io("mmap", path))?)
        } else {
            let map = MmapOptions::new().len(bytes).map_raw(file).map_err(Error::io("mmap", path))?;
            // The file is sparse past its entries: without this, the first append's page fault
            // reads ahead up to the device's read-ahead size, allocating and zeroing page cache
            // the index may never use. A hint; failing it costs only speed.
            let _ = map.advise(memmap2::Advice::Random);
            Some(map)
        };
        let extent = Extent::new((entries * slot_bytes) as u64, read_only, Some(id));
        register(&mut live, id, &extent);
        Ok(IndexMap { map, slot_bytes, slots, entries: AtomicUsize::new(entries), extent })
    }

    /// Slots in anonymous memory instead of a file, for a log opened read-only: `slots`
    /// writable slots, the first ones filled with `filled` (whole slots). No file backs them,
    /// so nothing another process does to a file can fault them.
    pub(crate) fn anonymous(slot_bytes: usize, slots: usize, filled: &[u8], path: &Path) -> Result<IndexMap> {
        let entries = filled.len() / slot_bytes.max(1);
        let bytes = slots.max(entries).checked_mul(slot_bytes).ok_or_else(|| Error::BadFile {
            path: path.to_owned(),
            reason: "index too large to hold in memory".into(),
        })?;
        let map = if bytes == 0 {
            None
        } else {
            let mut map = MmapOptions::new().len(bytes).map_anon().map_err(Error::io("map memory for", path))?;
            map[..entries * slot_bytes].copy_from_slice(&filled[..entries * slot_bytes]);
            Some(MmapRaw::from(map))
        };
        // Not registered: rule 1 is about files, and no file backs these slots.
        let extent = Extent::new((entries * slot_bytes) as u64, false, None);
        Ok(IndexMap { map, slot_bytes, slots: slots.max(entries), entries: AtomicUsize::new(entries), extent })
    }

    /// Published slots.
    pub(crate) fn entries(&self) -> usize {
        self.entries.load(Ordering::Acquire)
    }

    /// Slots that can still be written: 0 once retired.
    pub(crate) fn writable_slots(&self) -> usize {
        if self.extent.retired.load(Ordering::SeqCst) {
            0
        } else {
            self.slots
        }
    }

    /// The published slots, as they are now (`entries() * slot_bytes` bytes).
    #[inline]
    pub(crate) fn published_slots(&self) -> &[u8] {
        let entries = self.entries();
        match &self.map {
            // SAFETY: entries ≤ slots, so the range is inside the mapping and the file, which is
            // never cut below the published slots (rule 1); the writer only writes slots at or
            // past `entries` (rule 2), and the acquire load of `entries` orders these reads
            // after the writes of the slots below it.
            Some(map) => unsafe { std::slice::from_raw_parts(map.as_ptr(), entries * self.slot_bytes) },
            None => &[],
        }
    }

    /// Writes the next slot and publishes it. The caller serialises writers (the index's write
    /// lock); refused once retired or full.
    pub(crate) fn push(&self, bytes: &[u8], path: &Path) -> Result<()> {
        let slot = self.entries.load(Ordering::Relaxed);
        if slot >= self.writable_slots() || bytes.len() != self.slot_bytes {
            return Err(Error::BadFile { path: path.to_owned(), reason: "index is full or read-only".into() });
        }
        let map = self.map.as_ref().expect("writable slots imply a mapping");
        // SAFETY: slot < slots, inside a writable mapping of the file; readers never read a slot
        // at or past `entries`, which is published only by the release store below.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), map.as_mut_ptr().add(slot * self.slot_bytes), bytes.len())
        };
        self.entries.store(slot + 1, Ordering::Release);
        self.extent.published.store(((slot + 1) * self.slot_bytes) as u64, Ordering::Release);
        Ok(())
    }

    /// No more writes: from now on only the published slots are touched. The caller holds the
    /// lock that serialises `push`, so no write is in progress.
    pub(crate) fn retire(&self) {
        self.extent.retired.store(true, Ordering::SeqCst);
        self.extent.settled.store(true, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_of(dir: &Path, len: u64) -> (File, std::path::PathBuf) {
        let path = dir.join("00000000000000000000.log");
        let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
        file.set_len(len).unwrap();
        (file, path)
    }

    fn copy(dst: &mut [u8], src: &[u8]) -> std::io::Result<()> {
        dst.copy_from_slice(src);
        Ok(())
    }

    /// Writes and publishes `bytes` at `position`.
    fn write(map: &DataMap, position: u64, bytes: &[u8], path: &Path) -> Result<()> {
        let mut w = map.begin_write(position, bytes.len(), path)?;
        w.copy(bytes, path, copy)?;
        w.publish();
        Ok(())
    }

    /// Writes that could race a reader, land past the file or follow a retire are refused.
    #[test]
    fn writes_outside_the_space_past_the_published_end_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (file, path) = file_of(dir.path(), 0);
        let map = DataMap::new(&file, &path, 0, 1 << 16).unwrap().unwrap();
        assert!(write(&map, 0, b"abc", &path).is_err(), "nothing zero-filled yet");
        let lying = map.grow(&file, &path, 4096, 0, Touch::Pages, Ok);
        assert!(lying.is_err(), "a fill that did not make the file longer is caught, and nothing is touched");
        assert_eq!(map.reserved(), 0);
        map.grow(&file, &path, 4096, 0, Touch::Pages, |r| {
            file.set_len(r.end).unwrap();
            Ok(r)
        })
        .unwrap();
        write(&map, 0, b"abc", &path).unwrap();
        assert_eq!(map.get(0, 3), Some(&b"abc"[..]));
        assert_eq!(map.get(0, 4), None, "past the published end");
        assert!(write(&map, 1, b"x", &path).is_err(), "below the published end");
        assert!(write(&map, 4, b"x", &path).is_err(), "a gap after the published end");
        assert!(write(&map, 3, &[0; 5000], &path).is_err(), "past the zero-filled file");
        {
            let _unpublished = map.begin_write(3, 1, &path).unwrap();
            assert!(map.begin_write(3, 1, &path).is_err(), "a second writer");
        }
        assert_eq!(map.get(0, 4), None, "a write that was not published");
        let borrowed = map.borrow(0, 3).unwrap();
        map.retire();
        assert!(write(&map, 3, b"d", &path).is_err(), "retired");
        assert_eq!(borrowed.bytes(), b"abc");
    }

    /// A file is cut in place only when no live mapping may touch what is cut off.
    #[test]
    fn shrink_waits_for_every_mapping_to_fit_within_the_new_length() {
        let dir = tempfile::tempdir().unwrap();
        let (file, path) = file_of(dir.path(), 8192);
        let map = DataMap::new(&file, &path, 0, 1 << 16).unwrap().unwrap();
        write(&map, 0, &[7; 100], &path).unwrap();
        assert_eq!(shrink(&file, &path, 8000).unwrap(), Shrink::Mapped, "open for writing: all of it may be touched");
        let borrowed = map.borrow(0, 100).unwrap();
        map.retire();
        assert_eq!(shrink(&file, &path, 50).unwrap(), Shrink::Mapped, "a reader may touch 0..100");
        assert_eq!(file.metadata().unwrap().len(), 8192, "nothing was cut");
        assert_eq!(shrink(&file, &path, 100).unwrap(), Shrink::Done);
        assert_eq!(borrowed.bytes(), &[7; 100][..]);
        drop((map, borrowed));
        assert_eq!(shrink(&file, &path, 10).unwrap(), Shrink::Done, "no mapping left");
        assert_eq!(file.metadata().unwrap().len(), 10);
    }

    /// Retiring waits for a write in progress, and a cut counts on the published end only once
    /// the map is retired and settled.
    #[test]
    fn a_cut_waits_until_the_write_in_progress_is_over() {
        let dir = tempfile::tempdir().unwrap();
        let (file, path) = file_of(dir.path(), 8192);
        let map = DataMap::new(&file, &path, 0, 1 << 16).unwrap().unwrap();
        write(&map, 0, &[1; 10], &path).unwrap();
        let retired = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let mut w = map.begin_write(10, 10, &path).unwrap();
            s.spawn(|| {
                map.retire();
                retired.store(true, Ordering::SeqCst);
            });
            std::thread::sleep(std::time::Duration::from_millis(50));
            assert!(!retired.load(Ordering::SeqCst), "retire waits for the writer");
            assert_eq!(shrink(&file, &path, 10).unwrap(), Shrink::Mapped, "not settled while a write is on");
            w.copy(&[2; 10], &path, copy).unwrap();
            w.publish();
        });
        assert!(retired.load(Ordering::SeqCst));
        assert_eq!(map.published(), 20);
        assert_eq!(shrink(&file, &path, 10).unwrap(), Shrink::Mapped, "the published bytes are kept");
        assert_eq!(shrink(&file, &path, 20).unwrap(), Shrink::Done);
    }

    /// A mapping leaves the registry as it is unmapped, under the registry lock: its inode,
    /// freed then, may name a new file at once. Regression: a stale entry of a mapping being
    /// dropped made a cut of a new index file that reused the inode fail ("another live
    /// mapping"), once in about 30 runs of the retention race test.
    #[test]
    fn a_dropped_mapping_leaves_no_entry_behind() {
        let dir = tempfile::tempdir().unwrap();
        let (file, path) = file_of(dir.path(), 8192);
        let id = FileId::of(&file, &path).unwrap();
        let entries = || live().get(&id).map_or(0, Vec::len);
        let data = DataMap::new(&file, &path, 0, 1 << 16).unwrap().unwrap();
        let index = IndexMap::new(&file, &path, 8, 4, 0, Access::ReadOnly).unwrap();
        assert_eq!(entries(), 2);
        drop(data);
        assert_eq!(entries(), 1);
        drop(index);
        assert_eq!(entries(), 0);
    }
}
