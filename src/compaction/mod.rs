//! Log compaction (Kafka's `LogCleaner`): keep the latest record of every key. This file holds
//! the pure parts — the bounded key map and the batch filter; the partition drives a pass
//! (`Partition::compact`) and swaps cleaned segments in.
//!
//! A pass, as in Kafka:
//! 1. The cleanable range ends at the active segment, or earlier at the first segment whose
//!    newest record is younger than `min.compaction.lag.ms`; only whole segments are cleaned.
//! 2. The key map is filled from the dirty part (offsets ≥ the first dirty offset) until it is
//!    full; it covers offsets below `map_end`.
//! 3. Every cleanable segment below `map_end` is recopied, keeping a record when its offset is
//!    ≥ `map_end`, or it has a key whose latest offset in the map is not later, and it is not a
//!    tombstone past its delete horizon. Keyless records go (compacted topics reject them).
//! 4. Batches keep their base offset, last offset delta, producer fields and codec: unchanged
//!    batches are copied byte for byte, changed ones rebuilt, emptied ones dropped (offsets
//!    after compaction may have gaps). The first pass that keeps a tombstone stamps its batch
//!    with a delete horizon (`now + delete.retention.ms`, attribute bit 6); a pass after the
//!    horizon drops it.
//! 5. The first dirty offset becomes `map_end` (`cleaner-offset-checkpoint`).
//!
//! Aborted transactions (Kafka's `CleanedTransactionMetadata`): a producer's transactional data
//! batches up to its ABORT marker are aborted; they give no keys to the map and are dropped,
//! whatever their keys. Found from the markers in the cleanable range ([`AbortedTxns`]); a
//! transaction whose marker is not there yet (in the active segment) is kept this pass. Markers
//! themselves are kept.

use std::hash::{Hash, Hasher};

use crate::error::FormatError;
use crate::format::batch::{self, BatchHeader, DecodeError};
use crate::format::codec::Levels;
use crate::format::record::RecordRef;

/// Bytes per key-map slot: a 16-byte key hash and an 8-byte offset (Kafka's `SkimpyOffsetMap`).
pub const OFFSET_MAP_SLOT_BYTES: usize = 24;
const _: () = assert!(std::mem::size_of::<Slot>() == OFFSET_MAP_SLOT_BYTES);
/// The most memory a key map takes (Kafka's per-cleaner-thread limit: an int32 of bytes).
pub const MAX_OFFSET_MAP_BYTES: usize = i32::MAX as usize;

/// A key hash (two halves, so that a slot aligns to 8 bytes, not 16) and its latest offset; an
/// all-zero hash marks an empty slot.
type Slot = [u64; 3];
/// The key map is full at this load factor.
const MAX_LOAD_FACTOR: f64 = 0.9;

/// A key → latest offset map in bounded memory, keyed by a 128-bit hash of the key.
pub(crate) struct OffsetMap {
    slots: Vec<Slot>,
    len: usize,
    max_len: usize,
}

fn key_hash(key: &[u8]) -> u128 {
    // Two SipHash-1-3 runs (std's fixed keys) under different tags: 128 bits, so that distinct
    // keys sharing a hash (which would drop a live record) are as unlikely as in Kafka's MD5 map.
    let half = |tag: u8| {
        let mut h = std::hash::DefaultHasher::new();
        tag.hash(&mut h);
        key.hash(&mut h);
        h.finish()
    };
    // 0 marks an empty slot.
    (((half(1) as u128) << 64) | half(2) as u128).max(1)
}

impl OffsetMap {
    /// A map using at most `memory_bytes` (at most [`MAX_OFFSET_MAP_BYTES`], at least 1024
    /// slots); `None` if the memory cannot be had.
    pub(crate) fn with_memory(memory_bytes: usize) -> Option<Self> {
        let slots = Self::slots_for(memory_bytes);
        let mut table = Vec::new();
        table.try_reserve_exact(slots).ok()?;
        table.resize(slots, [0; 3]);
        Some(OffsetMap { slots: table, len: 0, max_len: (slots as f64 * MAX_LOAD_FACTOR) as usize })
    }

    /// Slots for `memory_bytes`: a power of two (the table is probed with a mask), in bounds.
    fn slots_for(memory_bytes: usize) -> usize {
        let wanted = memory_bytes.min(MAX_OFFSET_MAP_BYTES) / OFFSET_MAP_SLOT_BYTES;
        (wanted.max(1024).next_power_of_two() / 2).max(1024)
    }

    fn find(&self, hash: u128) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = (hash as usize) & mask;
        while !is_empty(&self.slots[i]) && !holds(&self.slots[i], hash) {
            i = (i + 1) & mask;
        }
        i
    }

    /// Records `offset` as the latest for `key`. Returns `false` (and records nothing) when the
    /// key is new and the map is full.
    pub(crate) fn put(&mut self, key: &[u8], offset: u64) -> bool {
        let hash = key_hash(key);
        let i = self.find(hash);
        if is_empty(&self.slots[i]) {
            if self.len >= self.max_len {
                return false;
            }
            self.len += 1;
        }
        self.slots[i] = [(hash >> 64) as u64, hash as u64, offset];
        true
    }

    /// The latest offset recorded for `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Option<u64> {
        let slot = self.slots[self.find(key_hash(key))];
        (!is_empty(&slot)).then_some(slot[2])
    }
}

fn is_empty(slot: &Slot) -> bool {
    slot[0] == 0 && slot[1] == 0
}

fn holds(slot: &Slot, hash: u128) -> bool {
    slot[0] == (hash >> 64) as u64 && slot[1] == hash as u64
}

/// Control record types (the control record's key: version int16, type int16).
const CONTROL_ABORT: i16 = 0;

/// The aborted transactions of a range of batches: per producer, the offset ranges from its
/// first transactional data batch after a marker to its ABORT marker.
#[derive(Debug, Default)]
pub(crate) struct AbortedTxns {
    /// Producer id → the first offset of its transaction still open.
    open: std::collections::HashMap<i64, u64>,
    /// Producer id → aborted offset ranges (first data offset, marker offset), in order.
    aborted: std::collections::HashMap<i64, Vec<(u64, u64)>>,
}

impl AbortedTxns {
    /// Takes in the next batch of the range, in offset order; `control_type` is the control
    /// record's type for a control batch.
    pub(crate) fn observe(&mut self, header: &BatchHeader, control_type: Option<i16>) {
        if !header.is_transactional() {
            return;
        }
        let producer = header.producer_id;
        match control_type {
            Some(kind) => {
                let start = self.open.remove(&producer);
                if let (Some(start), CONTROL_ABORT) = (start, kind) {
                    self.aborted.entry(producer).or_default().push((start, header.base_offset as u64));
                }
            }
            None => {
                self.open.entry(producer).or_insert(header.base_offset as u64);
            }
        }
    }

    /// Whether `header` is a data batch of an aborted transaction.
    pub(crate) fn contains(&self, header: &BatchHeader) -> bool {
        if !header.is_transactional() || header.is_control() {
            return false;
        }
        let offset = header.base_offset as u64;
        self.aborted
            .get(&header.producer_id)
            .is_some_and(|ranges| ranges.iter().any(|&(first, marker)| first <= offset && offset < marker))
    }
}

/// The type of the control record of a control batch (its key: version int16, type int16), if
/// it has one.
pub(crate) fn control_type(header: &BatchHeader, bytes: &[u8]) -> Option<i16> {
    if !header.is_control() {
        return None;
    }
    let mut kind = None;
    let _ = batch::for_each_record(bytes, |_, r| {
        if let Some(key) = r.key().filter(|k| k.len() >= 4) {
            kind.get_or_insert(i16::from_be_bytes([key[2], key[3]]));
        }
    });
    kind
}

/// What a pass keeps: the key map, where it ends, the aborted transactions, and the clock for
/// tombstones.
pub(crate) struct Filter<'a> {
    pub map: &'a OffsetMap,
    pub aborted: &'a AbortedTxns,
    pub map_end: u64,
    pub now_ms: i64,
    pub delete_retention_ms: i64,
    pub levels: Levels,
}

/// What filtering one segment's batches did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Filtered {
    pub records_removed: u64,
    pub batches_changed: u64,
}

impl Filter<'_> {
    fn keep(&self, header: &BatchHeader, r: &RecordRef<'_>) -> bool {
        if r.offset() >= self.map_end {
            return true;
        }
        let Some(key) = r.key() else { return false };
        if self.map.get(key).is_some_and(|latest| latest > r.offset()) {
            return false;
        }
        // A tombstone lives until its batch's delete horizon.
        r.value().is_some() || !header.has_delete_horizon() || self.now_ms < header.base_timestamp
    }

    /// Filters the whole batches in `input` (a segment's data) into `out`.
    pub(crate) fn apply(&self, input: &[u8], out: &mut Vec<u8>) -> Result<Filtered, DecodeError> {
        let mut done = Filtered::default();
        let (mut scratch, mut rebuild_scratch) = (Vec::new(), Vec::new());
        for raw in batch::Batches::new(input, u64::MAX, batch::AtCut::Fail) {
            let batch::RawBatch { header, bytes, .. } = raw.map_err(|p| p.problem)?;
            if self.aborted.contains(&header) {
                // Aborted data goes whole, whatever its keys.
                done.records_removed += header.records_count.max(0) as u64;
                done.batches_changed += 1;
                continue;
            }
            if header.is_control() || header.records_count == 0 {
                out.extend_from_slice(bytes);
                continue;
            }
            scratch.clear();
            let (header, records) = batch::open_batch(bytes, u64::MAX, &mut scratch, batch::Crc::Verified)?;
            let section = records.section(bytes, &scratch);
            let mut kept = Vec::new();
            let mut total = 0u64;
            batch::decode_records(&header, section, |r| {
                total += 1;
                if self.keep(&header, &r) {
                    kept.push(r);
                }
                Ok(())
            })?;
            // The horizon to write: the batch's own, or a new one if it first keeps a tombstone.
            let horizon = if header.has_delete_horizon() {
                Some(header.base_timestamp)
            } else if kept.iter().any(|r| r.value().is_none()) {
                Some(self.now_ms.saturating_add(self.delete_retention_ms))
            } else {
                None
            };
            done.records_removed += total - kept.len() as u64;
            if kept.len() as u64 == total && horizon.is_some() == header.has_delete_horizon() {
                out.extend_from_slice(bytes);
                continue;
            }
            done.batches_changed += 1;
            if !kept.is_empty() {
                batch::rebuild(&header, &kept, horizon, self.levels, out, &mut rebuild_scratch).map_err(|e| {
                    DecodeError::Format(FormatError::BadRecord { index: 0, problem: encode_problem(e) })
                })?;
            }
        }
        Ok(done)
    }
}

fn encode_problem(e: batch::EncodeError) -> &'static str {
    match e {
        batch::EncodeError::Record { reason, .. } => reason,
        _ => "cannot re-encode the batch",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_map_keeps_the_latest_offset_and_refuses_new_keys_when_full() {
        let mut map = OffsetMap::with_memory(0).unwrap();
        assert_eq!(map.slots.len(), 1024);
        assert!(map.put(b"a", 1));
        assert!(map.put(b"a", 7));
        assert_eq!(map.get(b"a"), Some(7));
        assert_eq!(map.get(b"b"), None);
        let mut n = 1;
        while map.put(format!("key-{n}").as_bytes(), n) {
            n += 1;
        }
        assert_eq!(map.len, (1024.0 * MAX_LOAD_FACTOR) as usize);
        assert!(map.put(b"a", 99), "known keys are updated even when full");
        assert_eq!(map.get(b"a"), Some(99));
        assert_eq!(map.get(format!("key-{}", n - 1).as_bytes()), Some(n - 1));
        assert_eq!(map.get(format!("key-{n}").as_bytes()), None);
    }

    #[test]
    fn memory_bounds_the_map() {
        let map = OffsetMap::with_memory(1 << 20).unwrap();
        assert!(map.slots.len() * std::mem::size_of::<Slot>() <= 1 << 20);
        assert!(map.slots.len() * OFFSET_MAP_SLOT_BYTES > 1 << 19, "about the memory asked for");
    }

    /// Regression: `usize::MAX` bytes of dedupe buffer panicked with "capacity overflow".
    #[test]
    fn a_huge_memory_setting_is_capped() {
        // Only the size is computed: no test should allocate gigabytes.
        for memory in [usize::MAX, usize::MAX / 2 + 1, MAX_OFFSET_MAP_BYTES + 1] {
            let slots = OffsetMap::slots_for(memory);
            assert!(slots.is_power_of_two() && slots * OFFSET_MAP_SLOT_BYTES <= MAX_OFFSET_MAP_BYTES, "{memory}");
            assert!(slots * OFFSET_MAP_SLOT_BYTES > MAX_OFFSET_MAP_BYTES / 2, "{memory}");
        }
    }
}
