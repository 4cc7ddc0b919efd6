//! Reading a segment (Kafka's `LogSegment.read`, `translateOffset`, `findOffsetByTimestamp`):
//! index lookup, a walk over batch headers, and whole, CRC-checked batches below the published
//! size, copied or borrowed from the mapping.

use std::ops::ControlFlow;

use super::{truncated, Offsets, ReadMode, Segment, SegmentRead, MAX_SEGMENT_BYTES, SCAN_CHUNK_BYTES};
use crate::error::{Error, FormatError, Result};
use crate::format::batch::{self, AtCut, BatchHeader, Batches, Peek, HEADER_LEN};
use crate::format::record::RecordRef;
use crate::storage::files;

/// The most a lookup asks the CPU to prefetch ahead of its walk over batch headers.
const PREFETCH_BYTES: u64 = 4 << 10;

impl Segment {
    /// Appends `len` bytes of the data file from `position` to `out`. The caller stays below
    /// `size`.
    fn read_into(&self, position: u64, len: u64, out: &mut Vec<u8>) -> Result<()> {
        if let Some(bytes) = self.map.read().as_ref().and_then(|m| m.get(position, len)) {
            out.extend_from_slice(bytes);
            return Ok(());
        }
        let at = out.len();
        out.resize(at + len as usize, 0);
        files::read_exact_at(&*self.log_file()?, &mut out[at..], position, &self.log_path)
    }

    /// The first batch's max timestamp (Kafka's `LogSegment.getFirstBatchTimestamp`), −1 in an
    /// empty segment.
    pub(crate) fn first_batch_timestamp(&self) -> Result<i64> {
        let mut first = None;
        self.scan_headers(0, self.size(), |_, header| {
            first = Some(header.max_timestamp);
            ControlFlow::Break(())
        })?;
        Ok(first.unwrap_or(super::NO_TIMESTAMP))
    }

    /// Walks batch headers from `position` to `end`, calling `visit` with each batch's position
    /// and header until it breaks. Headers are checked before their lengths are used.
    pub(crate) fn scan_headers(
        &self,
        mut position: u64,
        end: u64,
        mut visit: impl FnMut(u64, &BatchHeader) -> ControlFlow<()>,
    ) -> Result<()> {
        // Read ahead from the file when the segment is not mapped; allocated (and zeroed) only
        // then: a mapped walk is a hot path of every point read.
        let mut chunk: Vec<u8> = Vec::new();
        let (mut chunk_start, mut chunk_len) = (0u64, 0usize);
        let (mut whole, mut scratch) = (Vec::new(), Vec::new());
        let map = self.map.read();
        while position < end {
            let left = end - position;
            let available = left.min(HEADER_LEN as u64);
            let bytes = match map.as_ref().and_then(|m| m.get(position, available)) {
                Some(bytes) => bytes,
                None => {
                    if position < chunk_start || position + available > chunk_start + chunk_len as u64 {
                        let want = SCAN_CHUNK_BYTES.min(left as usize);
                        chunk.resize(SCAN_CHUNK_BYTES, 0);
                        files::read_exact_at(&*self.log_file()?, &mut chunk[..want], position, &self.log_path)?;
                        (chunk_start, chunk_len) = (position, want);
                    }
                    &chunk[(position - chunk_start) as usize..chunk_len]
                }
            };
            let mut peeked = batch::peek(bytes, left, &mut scratch);
            if let Ok(Peek::Need(needed)) = peeked {
                // A legacy message is checked whole: read all of it, if the segment holds it.
                if needed > available && needed <= left {
                    let bytes = match map.as_ref().and_then(|m| m.get(position, needed)) {
                        Some(bytes) => bytes,
                        None => {
                            whole.resize(needed as usize, 0);
                            files::read_exact_at(&*self.log_file()?, &mut whole, position, &self.log_path)?;
                            &whole[..]
                        }
                    };
                    peeked = batch::peek(bytes, left, &mut scratch);
                }
            }
            let header = match peeked.map_err(|e| self.corrupt(position, e))? {
                Peek::Header(header) => header,
                Peek::Need(needed) => return Err(self.corrupt(position, truncated("batch", needed, left))),
            };
            if header.total_size() > left {
                return Err(self.corrupt(position, truncated("batch", header.total_size(), left)));
            }
            if visit(position, &header).is_break() {
                return Ok(());
            }
            position += header.total_size();
        }
        Ok(())
    }

    /// Position and header of the first batch whose last offset is ≥ `target`, searching from the
    /// index entry at or below it (Kafka's `translateOffset`). The walk checks that offsets
    /// follow each other as the partition's offsets must; an index entry that does not name
    /// a batch at its position that starts at or below it (a stale index: it is a cache) is
    /// passed over for a walk from the start of the segment.
    pub(crate) fn locate(&self, target: u64, end: u64) -> Result<Option<(u64, BatchHeader)>> {
        let found = self.offset_index()?.lookup_with_next(target as i64);
        if let (Some((entry, next)), Some(m)) = (found, self.map.read().as_ref()) {
            // The walk goes from this entry's batch to at most the first batch of the next
            // entry (which holds offsets past the target): its headers are loaded in parallel
            // instead of one miss after another. A hint only, bounded to a few pages.
            let stretch =
                next.map_or(PREFETCH_BYTES, |n| (n.position as u64).saturating_sub(entry.position as u64) + 64);
            m.prefetch(entry.position as u64, stretch.min(PREFETCH_BYTES));
        }
        let entry = found.map(|(e, _)| (e.position as u64, e.offset));
        match self.locate_from(entry, target, end)? {
            Some(found) => Ok(found),
            None => Ok(self.locate_from(None, target, end)?.expect("no entry to find stale")),
        }
    }

    /// [`locate`](Self::locate) from an index entry `(position, last offset)`, or from the start;
    /// `None` if the entry is stale.
    fn locate_from(
        &self,
        entry: Option<(u64, u64)>,
        target: u64,
        end: u64,
    ) -> Result<Option<Option<(u64, BatchHeader)>>> {
        let start = entry.map_or(0, |e| e.0);
        let (mut found, mut stale, mut next, mut problem) = (None, false, None, None);
        self.scan_headers(start, end, |pos, header| {
            let last = header.last_offset() as u64;
            // An entry is (the last offset of an append, the position of its first batch): the
            // batch there starts at or below it. Kafka wrote one entry per append of several
            // batches; partlog's raw appends do too.
            if entry.is_some_and(|(_, offset)| pos == start && header.base_offset as u64 > offset) {
                stale = true;
                return ControlFlow::Break(());
            }
            if let Err(e) = self.check_sequence(header, next, self.base_offset, self.spec.offsets) {
                problem = Some((pos, e));
                return ControlFlow::Break(());
            }
            next = Some(last + 1);
            if last >= target {
                found = Some((pos, *header));
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        if stale {
            return Ok(None);
        }
        if let Some((position, e)) = problem {
            return Err(self.corrupt(position, e));
        }
        Ok(Some(found))
    }

    /// The base offset of the batch at `position`, if a valid batch header is there.
    pub(crate) fn batch_base_offset_at(&self, position: u64) -> Result<Option<u64>> {
        let mut last = None;
        let walked = self.scan_headers(position, self.size(), |_, header| {
            last = Some(header.base_offset as u64);
            ControlFlow::Break(())
        });
        match walked {
            Ok(()) => Ok(last),
            Err(Error::CorruptBatch { .. }) => Ok(None),
            Err(e) => Err(e),
        }
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
        let ReadMode { min_one, borrow, every_crc } = mode;
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
                let (len, next_offset) = self.check_batches(bytes, start, end_offset, every_crc)?;
                return batches(len, next_offset, map.borrow(start, len as u64));
            }
        }
        let at = out.len();
        self.read_into(start, want, out)?;
        let (len, next_offset) = self.check_batches(&out[at..], start, end_offset, every_crc)?;
        out.truncate(at + len);
        batches(len, next_offset, None)
    }

    /// Checks the batches of `bytes`, read from `start`, up to the first that is cut off, starts
    /// at or past `end_offset`, or fails its checks (header, CRC, offsets following the one
    /// before as the partition's must). Returns the length of the checked batches and the
    /// offset after them. The first batch must be whole and valid, or the read fails with its
    /// position; damage after it ends the read there, so that the batches before it are
    /// delivered and the next read, starting at the damage, reports it. A batch this segment
    /// object checked before is not checked again unless `every_crc` (see `verified`).
    fn check_batches(&self, bytes: &[u8], start: u64, end_offset: u64, every_crc: bool) -> Result<(usize, u64)> {
        // What is checked, and what was before the last batch checked.
        let (mut checked, mut next_offset) = (0, None);
        let (mut before_last, mut next_before_last) = (0, None);
        // A log opened read-only reads files another process writes: it checks every time.
        let memo = !self.spec.read_only;
        for found in Batches::new(bytes, MAX_SEGMENT_BYTES, AtCut::Stop) {
            let b = match found {
                Ok(b) => b,
                // Damage after whole, checked batches: those are delivered, and the read that
                // starts at the damage reports it.
                Err(_) if checked > 0 => break,
                Err(p) => return Err(self.corrupt(start + p.position as u64, p.problem)),
            };
            // A batch past the end offset is written but not yet published by its append.
            if b.header.base_offset as u64 >= end_offset {
                break;
            }
            let position = start + b.position as u64;
            if let Err(e) = self.check_sequence(&b.header, next_offset, self.base_offset, self.spec.offsets) {
                // Where offsets need only increase, either batch of the pair may be the one whose
                // base offset (which no CRC covers) is wrong: neither is delivered.
                if self.spec.offsets == Offsets::Increasing {
                    (checked, next_offset) = (before_last, next_before_last);
                }
                if checked == 0 {
                    return Err(self.corrupt(position, e));
                }
                break;
            }
            if every_crc || !(memo && self.verified.contains(position)) {
                match batch::verify_crc(b.bytes) {
                    Ok(()) => {}
                    Err(_) if checked > 0 => break,
                    Err(e) => return Err(self.corrupt(position, e)),
                }
                // Legacy message sets (magic 0 and 1) are shorter than a batch header, so they
                // would share the memo's bits; their entries are checked whole on every read.
                if memo && b.header.magic >= 2 {
                    self.verified.insert(position, || self.map.read().as_ref().map_or(self.size(), |m| m.len()));
                }
            }
            (before_last, next_before_last) = (checked, next_offset);
            next_offset = Some(b.header.last_offset() as u64 + 1);
            checked = b.position + b.bytes.len();
        }
        let next_offset = next_offset.ok_or_else(|| {
            let needed = batch::declared_size(bytes).unwrap_or(HEADER_LEN as u64);
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
