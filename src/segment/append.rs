//! Appending to the active segment (Kafka's `LogSegment.append` and `shouldRoll`): the
//! zero-fill ahead of the appends, the copy into the mapping (or the positioned write), the
//! index rule, and sealing when a newer segment takes over.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{maybe_append_time, AppendMeta, IndexCursor, Indexes, Segment, RESERVE_CHUNK_BYTES, ZEROS};
use crate::error::{Error, Result};
use crate::segment::index::OffsetEntry;
use crate::storage::io::Io;
use crate::storage::mapped::{self, DataMap, Shrink, Touch};
use crate::storage::prefill::FillAhead;

/// The smallest zero-fill ahead of appends.
const MIN_RESERVE_CHUNK_BYTES: u64 = 64 << 10;

/// How far to zero-fill ahead of appends in a segment that holds `filled` bytes: a quarter of
/// them, from 64 KiB to 1 MiB. A busy segment fills a megabyte at a time (few, large writes);
/// an idle partition's segment holds 64 KiB of zeros, not a megabyte, so thousands of
/// partitions cost little disk (the README's resource costs).
/// A power of two, and fills end at a multiple of it (see [`fill_target`]).
fn reserve_chunk(filled: u64) -> u64 {
    let quarter = (filled / 4).max(1);
    (1u64 << (63 - quarter.leading_zeros())).clamp(MIN_RESERVE_CHUNK_BYTES, RESERVE_CHUNK_BYTES as u64)
}

/// Where a zero-fill from `reserved` that must cover `end` stops: a chunk past `reserved`, at a
/// multiple of the chunk, so the file grows in whole chunks.
fn fill_target(reserved: u64, end: u64, chunk: u64) -> u64 {
    end.max(reserved.saturating_add(chunk)).div_ceil(chunk).saturating_mul(chunk)
}

impl Segment {
    /// Whether an append of `bytes` whose batches end at `last_offset` with largest timestamp
    /// `max_timestamp` must go to a new segment (Kafka's `LogSegment.shouldRoll`).
    /// `limits` are `segment.bytes` and `segment.ms` as the partition's config sets them now: the
    /// smaller of them and this segment's own apply.
    pub(crate) fn should_roll(
        &self,
        bytes: u64,
        last_offset: u64,
        max_timestamp: i64,
        now_ms: i64,
        limits: (u64, i64),
    ) -> bool {
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
        let segment_bytes = self.spec.segment_bytes.min(limits.0);
        let segment_ms = self.spec.segment_ms.min(limits.1);
        size > segment_bytes - bytes.min(segment_bytes)
            || waited > segment_ms - self.roll_jitter_ms()
            || oi.is_full()
            || ti.entries() + 1 >= ti.capacity()
            || last_offset.saturating_sub(self.base_offset) > i32::MAX as u64
    }

    /// Appends whole batches at the end of the data file and indexes them. The caller holds the
    /// partition's append lock and has decided that they belong in this segment. Returns
    /// whether the prefill thread is due to be asked for the next chunk
    /// ([`request_fill`](Self::request_fill), which the caller calls once readers are woken).
    pub(crate) fn append(self: &Arc<Self>, bytes: &[u8], meta: AppendMeta) -> Result<bool> {
        let position = self.size();
        let end = position + bytes.len() as u64;
        let map = self.map.read();
        let mut mapped_write = None;
        let mut fill_due = false;
        match &*map {
            Some(m) if end <= m.len() && m.is_open() => {
                self.reserve(m, end)?;
                let mut write = m.begin_write(position, bytes.len(), &self.log_path)?;
                write.copy(bytes, &self.log_path, |dst, src| self.spec.io.write_mapped(dst, src, &self.log_path))?;
                mapped_write = Some(write);
                fill_due = self.fill_due(m, end);
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
                    .write_all_at(&*self.log_file()?, &self.log_path, bytes, position)
                    .map_err(Error::io("write", &self.log_path))?
            }
        }
        let mut cursor = self.cursor.lock();
        self.advance_cursor(&mut cursor, position, bytes.len() as u64, meta, Indexes::Append)?;
        self.max_timestamp.fetch_max(meta.max_timestamp, Ordering::Relaxed);
        if let Some(write) = mapped_write {
            write.publish();
        }
        self.size.store(end, Ordering::Release);
        Ok(fill_due)
    }

    pub(super) fn advance_cursor(
        &self,
        cursor: &mut IndexCursor,
        position: u64,
        bytes: u64,
        meta: AppendMeta,
        indexes: Indexes,
    ) -> Result<()> {
        let rebuilding = indexes == Indexes::Rebuild;
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

    pub(super) fn finish_time_index(&self, cursor: &IndexCursor) -> Result<()> {
        let ti = self.time_index.get().expect("indexes exist");
        if ti.entries() < ti.capacity() && cursor.max_timestamp_so_far >= 0 {
            maybe_append_time(ti, cursor.max_timestamp_so_far, cursor.offset_of_max_timestamp_so_far)?;
        }
        Ok(())
    }

    /// Zero-fills the data file up to at least `end` (a chunk at a time, within the mapping),
    /// unless the prefill thread already has.
    #[inline]
    fn reserve(&self, m: &DataMap, end: u64) -> Result<()> {
        if end <= m.reserved() {
            return Ok(()); // the common case: filled ahead already
        }
        let file = self.log_file()?;
        m.grow(&file, &self.log_path, end, reserve_chunk(m.published()), Touch::No, |range| {
            self.write_zeros(&*self.spec.io, range)
        })
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
        let target = end.max(fill_target(reserved, end, reserve_chunk(position)).min(self.spec.segment_bytes));
        let mut at = reserved;
        while at < target {
            at = self.write_zeros(&*self.spec.io, at..target)?.end;
            self.file_reserved.store(at, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Writes zeros to the start of `range` of the data file, at most `ZEROS` (256 KiB); returns
    /// the range written.
    fn write_zeros(&self, io: &dyn Io, range: std::ops::Range<u64>) -> Result<std::ops::Range<u64>> {
        let n = (ZEROS.len() as u64).min(range.end - range.start);
        io.write_all_at(&*self.log_file()?, &self.log_path, &ZEROS[..n as usize], range.start)
            .map_err(Error::io("zero-fill", &self.log_path))?;
        Ok(range.start..range.start + n)
    }

    /// Whether the prefill thread is due to be asked for the next chunk: less than half a chunk
    /// of zero-filled space is left past `end`, and none is asked for already.
    #[inline]
    fn fill_due(&self, m: &DataMap, end: u64) -> bool {
        let reserved = m.reserved();
        self.spec.prefill.is_some()
            && reserved.saturating_sub(end) < reserve_chunk(end) / 2
            && reserved < m.len()
            && !m.requested.load(Ordering::Relaxed)
    }

    /// Asks the prefill thread for the next chunk, if it is still due (see
    /// [`append`](Self::append)). The partition calls it after an append, once readers waiting
    /// for that append are woken: on a machine with few cores, the woken reader then runs
    /// before the prefill thread it would otherwise queue behind.
    pub(crate) fn request_fill(self: &Arc<Self>) {
        let Some((prefill, _)) = &self.spec.prefill else { return };
        let map = self.map.read();
        let Some(m) = map.as_ref() else { return };
        if !self.fill_due(m, m.published()) || m.requested.swap(true, Ordering::Relaxed) {
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
        self.seal_unflushed()?;
        self.flush()
    }

    /// [`seal`](Self::seal) without the fsync, which the caller owes.
    pub(crate) fn seal_unflushed(&self) -> Result<()> {
        if let Some(ti) = self.time_index.get() {
            if ti.capacity() > 0 {
                let cursor = *self.cursor.lock();
                if cursor.max_timestamp_so_far >= 0 {
                    maybe_append_time(ti, cursor.max_timestamp_so_far, cursor.offset_of_max_timestamp_so_far)?;
                }
            }
        }
        self.trim_indexes()?;
        if self.log.was_opened() {
            // Retired first: the cut below removes the zero-filled pages the mapping covers.
            self.unmap();
            // Another live mapping of this file that is still open (none should be: a closed,
            // failed or abandoned partition retires its own) may touch the zeros: the seal
            // fails, nothing is cut, and the next open's recovery cuts them.
            if mapped::shrink(&*self.log_file()?, &self.log_path, self.size())? == Shrink::Mapped {
                return Err(Error::BadFile {
                    path: self.log_path.clone(),
                    reason: "another open mapping of this file reaches past its batches: not sealed".into(),
                });
            }
        }
        Ok(())
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
        let chunk = reserve_chunk(m.published());
        if let Ok(file) = self.log_file() {
            let end = m.reserved().saturating_add(chunk);
            let _ = m.grow(&file, &self.log_path, end, chunk, Touch::Pages, |range| self.write_zeros(&**io, range));
        }
        m.requested.store(false, Ordering::Relaxed);
    }
}
