//! A memo of the batches whose CRC a segment object has checked, so that a read of one batch
//! read before skips the checksum of the whole batch (a random read of one offset in batches
//! of 100 records spends most of its time in the CRC of ~10 KB that are not in the CPU's
//! caches; the README's performance section).
//!
//! What it trades: a batch's bytes are checked once per segment object, not at every read.
//! Bytes below a segment's published end are never written again by partlog (appends go past
//! it; truncation, compaction and recovery make new segment objects, which start with an empty
//! memo; a truncation that cuts a file in place makes the old object, which readers may still
//! hold, forget its memo first), so the memo only misses damage done to the file while it is
//! open: a disk that loses a page which the kernel then reads back, or another program writing
//! into partlog's files.
//! What still checks every byte: the first read of each batch, [`Partition::verify`], recovery
//! at every open, compaction, and every read of a log opened read-only (another process writes
//! those files: no memo there).
//!
//! A batch is at least [`HEADER_LEN`] (61) bytes long, so two batches never start in the same
//! run of 61 bytes: one bit per 61 bytes of the segment records that the batch starting there
//! was checked. Bits live in chunks covering 1 MiB of the segment each (2,152 bytes), made on
//! first use, and all memos of the process share [`BUDGET_BYTES`]: past it, batches are simply
//! checked every time.
//!
//! [`Partition::verify`]: crate::Partition::verify

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::format::batch::HEADER_LEN;

/// Bytes of a segment one chunk covers.
const CHUNK_SPAN: u64 = 1 << 20;
/// Bits per chunk: one per `HEADER_LEN` bytes of its span.
const CHUNK_BITS: usize = (CHUNK_SPAN as usize).div_ceil(HEADER_LEN);
const CHUNK_WORDS: usize = CHUNK_BITS.div_ceil(64);
/// The memory all memos of the process may hold: 64 MiB covers about 30 GB of segments.
const BUDGET_BYTES: usize = 64 << 20;

/// Memory shared by memos, and its limit.
#[derive(Debug)]
pub(crate) struct Budget {
    held: AtomicUsize,
    limit: usize,
}

impl Budget {
    const fn new(limit: usize) -> Budget {
        Budget { held: AtomicUsize::new(0), limit }
    }

    /// Takes `bytes` of the budget, if they fit.
    fn reserve(&self, bytes: usize) -> bool {
        self.held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                held.checked_add(bytes).filter(|&total| total <= self.limit)
            })
            .is_ok()
    }

    fn release(&self, bytes: usize) {
        self.held.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// The budget every segment's memo shares.
static PROCESS: Budget = Budget::new(BUDGET_BYTES);

type Chunk = [AtomicU64; CHUNK_WORDS];

/// The checked batches of one segment object, by position.
pub(crate) struct Verified {
    /// One slot per `CHUNK_SPAN` of the segment, made at the first memo.
    chunks: OnceLock<Box<[OnceLock<Box<Chunk>>]>>,
    budget: &'static Budget,
    /// Set once the segment's file may change under this object (a truncation cuts it in
    /// place and writes again): nothing counts as checked from then on.
    forgotten: AtomicBool,
}

impl Default for Verified {
    fn default() -> Verified {
        Verified::within(&PROCESS)
    }
}

impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verified").field("chunks", &self.chunks.get().map(|c| c.len())).finish()
    }
}

impl Verified {
    fn within(budget: &'static Budget) -> Verified {
        Verified { chunks: OnceLock::new(), budget, forgotten: AtomicBool::new(false) }
    }

    /// From now on nothing counts as checked. The caller calls it before the file's bytes
    /// change; a read checks the memo after it has read the bytes, so a read that finds a bit
    /// set read them before the change.
    pub(crate) fn forget(&self) {
        self.forgotten.store(true, Ordering::SeqCst);
    }

    /// Whether the batch at `position` was checked by this segment object.
    #[inline]
    pub(crate) fn contains(&self, position: u64) -> bool {
        let Some(chunks) = self.chunks.get() else { return false };
        if self.forgotten.load(Ordering::SeqCst) {
            return false;
        }
        let Some(chunk) = chunks.get((position / CHUNK_SPAN) as usize).and_then(OnceLock::get) else {
            return false;
        };
        let bit = ((position % CHUNK_SPAN) as usize) / HEADER_LEN;
        chunk[bit / 64].load(Ordering::Relaxed) & (1 << (bit % 64)) != 0
    }

    /// Records that the batch at `position` passed its checks, in a segment whose data may grow
    /// to `capacity()` bytes (asked once, at the first record). Does nothing past the budget or
    /// past that capacity.
    pub(crate) fn insert(&self, position: u64, capacity: impl FnOnce() -> u64) {
        let index = (position / CHUNK_SPAN) as usize;
        let chunks = match self.chunks.get() {
            Some(chunks) => chunks,
            None => {
                let slots = capacity().div_ceil(CHUNK_SPAN) as usize;
                let bytes = slots * std::mem::size_of::<OnceLock<Box<Chunk>>>();
                if !self.budget.reserve(bytes) {
                    return;
                }
                let mut made = false;
                let chunks = self.chunks.get_or_init(|| {
                    made = true;
                    (0..slots).map(|_| OnceLock::new()).collect()
                });
                if !made {
                    self.budget.release(bytes); // another reader made them first
                }
                chunks
            }
        };
        let Some(slot) = chunks.get(index) else { return };
        let chunk = match slot.get() {
            Some(chunk) => chunk,
            None => {
                if !self.budget.reserve(std::mem::size_of::<Chunk>()) {
                    return;
                }
                let mut made = false;
                let chunk = slot.get_or_init(|| {
                    made = true;
                    Box::new(std::array::from_fn(|_| AtomicU64::new(0)))
                });
                if !made {
                    self.budget.release(std::mem::size_of::<Chunk>());
                }
                chunk
            }
        };
        let bit = ((position % CHUNK_SPAN) as usize) / HEADER_LEN;
        chunk[bit / 64].fetch_or(1 << (bit % 64), Ordering::Relaxed);
    }

    /// Bytes this memo holds.
    fn bytes(&self) -> usize {
        self.chunks.get().map_or(0, |chunks| {
            chunks.len() * std::mem::size_of::<OnceLock<Box<Chunk>>>()
                + chunks.iter().filter(|c| c.get().is_some()).count() * std::mem::size_of::<Chunk>()
        })
    }
}

impl Drop for Verified {
    fn drop(&mut self) {
        self.budget.release(self.bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every position a batch can start at has its own bit: batches are at least 61 bytes
    /// apart, and a position is never reported checked unless it was.
    #[test]
    fn batches_at_least_a_header_apart_never_share_a_bit() {
        let memo = Verified::default();
        let capacity = 4 * CHUNK_SPAN;
        let starts: Vec<u64> = (0..60_000u64).map(|i| i * HEADER_LEN as u64 + (i % 7)).collect();
        // Only every other start is recorded; its neighbours, 61 to 68 bytes away, stay unchecked.
        for &p in starts.iter().step_by(2) {
            memo.insert(p, || capacity);
        }
        for (i, &p) in starts.iter().enumerate() {
            assert_eq!(memo.contains(p), i % 2 == 0, "position {p}");
        }
        assert!(!memo.contains(capacity + 5), "past the capacity");
        memo.insert(capacity + 5, || capacity);
        assert!(!memo.contains(capacity + 5), "nothing recorded past the capacity");
    }

    /// A forgotten memo reports nothing as checked, old bits or new.
    #[test]
    fn a_forgotten_memo_counts_nothing_as_checked() {
        let memo = Verified::default();
        memo.insert(610, || CHUNK_SPAN);
        assert!(memo.contains(610));
        memo.forget();
        assert!(!memo.contains(610));
        memo.insert(61, || CHUNK_SPAN);
        assert!(!memo.contains(61));
    }

    /// Memos stop recording at their budget, and give their memory back when their segment
    /// object goes.
    #[test]
    fn memos_hold_no_more_than_their_budget_and_give_it_back() {
        // Room for the slots of one 4 MiB segment and two chunks.
        static SMALL: Budget =
            Budget::new(4 * std::mem::size_of::<OnceLock<Box<Chunk>>>() + 2 * std::mem::size_of::<Chunk>());
        let memo = Verified::within(&SMALL);
        let capacity = 4 * CHUNK_SPAN;
        for chunk in 0..4 {
            memo.insert(chunk * CHUNK_SPAN, || capacity);
        }
        let recorded: Vec<bool> = (0..4).map(|chunk| memo.contains(chunk * CHUNK_SPAN)).collect();
        assert_eq!(recorded, [true, true, false, false], "two chunks fit the budget");
        assert_eq!(SMALL.held.load(Ordering::Relaxed), memo.bytes());
        assert!(memo.bytes() <= SMALL.limit);
        let other = Verified::within(&SMALL);
        other.insert(0, || capacity);
        assert!(!other.contains(0), "nothing left for a second memo");
        drop(memo);
        assert_eq!(SMALL.held.load(Ordering::Relaxed), 0, "all of it back");
        other.insert(0, || capacity);
        assert!(other.contains(0), "the second memo records once the first is gone");
    }
}
