//! Handles of segment data files: opened on first use, and closed again, least recently used
//! first, once more are open than the process may hold comfortably. A log of thousands of
//! partitions, or of long histories in small segments, then works within an ordinary
//! `ulimit -n`: what is mapped needs no handle (a mapping keeps its file), and a handle closed
//! here is opened again by path when next needed.
//!
//! A file whose path changes while a segment still reads it (retention and compaction rename
//! segments to `.deleted` before unlinking them) is *pinned* first: opened, and never closed
//! here, so that readers holding the segment keep reading it. A file replaced at its path
//! (a truncation that copies and renames) is *reset*: its old handle is dropped, and the path is
//! opened again.
//!
//! At most half the soft `RLIMIT_NOFILE` (from `/proc/self/limits`; 1,024 if unknown) stay open,
//! at least 32; `PARTLOG_MAX_OPEN_FILES` sets another number.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::{Mutex, RwLock};

use crate::error::{Error, Result};

/// One data file's handle, open or not.
#[derive(Debug)]
pub(crate) struct FileSlot {
    path: PathBuf,
    write: bool,
    file: RwLock<Option<Arc<File>>>,
    /// The tick of the last use (see [`TICK`]).
    last_use: AtomicU64,
    /// Never closed here (its path is about to change).
    pinned: AtomicBool,
    /// Opened at least once: written, maybe, so fsyncs must reach it even if it is closed now.
    opened: AtomicBool,
}

/// A coarse clock for "least recently used": advanced by each open, read by each use (a load and
/// a store, no read-modify-write on a shared line).
static TICK: AtomicU64 = AtomicU64::new(0);

/// The open slots, to choose whom to close.
#[derive(Default)]
struct Registry {
    /// Each slot opened since the last compaction, and the open ones before it; may still
    /// hold slots closed, dropped or opened again since (a compaction drops those).
    slots: Vec<Weak<FileSlot>>,
    /// Entries left by the last compaction.
    compacted: usize,
}

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(Registry::default()))
}

/// How many data files may stay open.
pub(crate) fn limit() -> usize {
    static LIMIT: OnceLock<usize> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        if let Some(n) = std::env::var("PARTLOG_MAX_OPEN_FILES").ok().and_then(|v| v.parse::<usize>().ok()) {
            return n.max(1);
        }
        let soft = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|text| {
                let line = text.lines().find(|l| l.starts_with("Max open files"))?;
                line.split_whitespace().nth(3)?.parse::<usize>().ok()
            })
            .unwrap_or(1024);
        (soft / 2).clamp(32, 1 << 20)
    })
}

impl FileSlot {
    /// A slot for `path`, opened on first use (for writing too, unless `write` is false).
    pub(crate) fn new(path: &Path, write: bool) -> Arc<FileSlot> {
        Arc::new(FileSlot {
            path: path.to_owned(),
            write,
            file: RwLock::new(None),
            last_use: AtomicU64::new(0),
            pinned: AtomicBool::new(false),
            opened: AtomicBool::new(false),
        })
    }

    /// A slot holding `file`, just created at `path`.
    pub(crate) fn with_file(path: &Path, file: File) -> Arc<FileSlot> {
        let slot = FileSlot::new(path, true);
        *slot.file.write() = Some(Arc::new(file));
        slot.opened.store(true, Ordering::Relaxed);
        register(&slot);
        slot
    }

    /// The open file, opened (again) if it is not.
    #[inline]
    pub(crate) fn get(self: &Arc<Self>) -> Result<Arc<File>> {
        if let Some(file) = self.file.read().as_ref() {
            self.last_use.store(TICK.load(Ordering::Relaxed), Ordering::Relaxed);
            return Ok(file.clone());
        }
        self.open()
    }

    #[cold]
    fn open(self: &Arc<Self>) -> Result<Arc<File>> {
        let file = {
            let mut slot = self.file.write();
            if let Some(file) = slot.as_ref() {
                return Ok(file.clone());
            }
            let file = OpenOptions::new()
                .read(true)
                .write(self.write)
                .open(&self.path)
                .map_err(Error::io("open", &self.path))?;
            let file = Arc::new(file);
            // Marked used before it is published: an eviction that sees it open sees it recent.
            self.last_use.store(TICK.fetch_add(1, Ordering::Relaxed) + 1, Ordering::Relaxed);
            *slot = Some(file.clone());
            file
        };
        self.opened.store(true, Ordering::Relaxed);
        register(self);
        Ok(file)
    }

    /// Whether the file was ever opened through this slot.
    pub(crate) fn was_opened(&self) -> bool {
        self.opened.load(Ordering::Relaxed)
    }

    /// Opens the file and keeps it open for good: its path is about to change.
    pub(crate) fn pin(self: &Arc<Self>) -> Result<()> {
        self.pinned.store(true, Ordering::SeqCst);
        self.get().map(drop)
    }

    /// The path names another file now: the old handle goes (readers holding it keep it until
    /// they finish), and the next use opens the path.
    pub(crate) fn reset(&self) {
        *self.file.write() = None;
    }
}

/// Counts `slot` as open, and closes the least recently used others while more than
/// [`limit`] are.
fn register(slot: &Arc<FileSlot>) {
    let mut registry = registry().lock();
    let limit = limit();
    registry.slots.push(Arc::downgrade(slot));
    // Compacted once the list doubles (so each open costs O(1) amortized: opening ten
    // thousand segments once cost O(n²) when every open compacted), and before closing any.
    if registry.slots.len() > limit || registry.slots.len() >= 2 * registry.compacted.max(32) {
        let mut seen = std::collections::HashSet::new();
        registry.slots.retain(|w| w.upgrade().is_some_and(|s| s.file.read().is_some() && seen.insert(Arc::as_ptr(&s))));
        registry.compacted = registry.slots.len();
    }
    let open = &mut registry.slots;
    while open.len() > limit {
        let victim = open
            .iter()
            .enumerate()
            .filter_map(|(i, w)| Some((i, w.upgrade()?)))
            .filter(|(_, s)| !s.pinned.load(Ordering::SeqCst) && !Arc::ptr_eq(s, slot))
            .min_by_key(|(_, s)| s.last_use.load(Ordering::Relaxed));
        let Some((i, victim)) = victim else { break };
        // Its readers hold their own `Arc<File>`: the handle closes when the last finishes.
        victim.file.write().take();
        open.swap_remove(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_slots_stay_open_and_closed_ones_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let slots: Vec<Arc<FileSlot>> = (0..limit() + 5)
            .map(|i| {
                let path = dir.path().join(format!("{i}.log"));
                std::fs::write(&path, [i as u8]).unwrap();
                FileSlot::new(&path, false)
            })
            .collect();
        slots[0].pin().unwrap();
        for s in &slots {
            let mut byte = [0u8];
            std::os::unix::fs::FileExt::read_exact_at(&*s.get().unwrap(), &mut byte, 0).unwrap();
        }
        let open = slots.iter().filter(|s| s.file.read().is_some()).count();
        assert!(open <= limit() + 1, "{open} open of {}", slots.len());
        assert!(slots[0].file.read().is_some(), "the pinned one stays open");
        // A closed one opens again.
        let closed = slots.iter().position(|s| s.file.read().is_none()).expect("some were closed");
        let mut byte = [0u8];
        std::os::unix::fs::FileExt::read_exact_at(&*slots[closed].get().unwrap(), &mut byte, 0).unwrap();
        assert_eq!(byte[0], closed as u8);
    }
}
