//! Reads (Kafka's `UnifiedLog.read` and `fetchOffsetByTimestamp`): they take no lock, find the
//! segment by base offset, look up its sparse index, and read whole, CRC-checked batches up to
//! the segment's published size and the log end offset taken once at the start. [`Fetch`] keeps
//! the buffers, or borrows the batches of the mapped active segment, and decodes records lazily.

use super::Partition;
use crate::error::{Error, FormatError, Result};
use crate::format::batch::{self, RawBatch, RecordsIn, MAX_DECOMPRESSED_BYTES};
use crate::format::record::{OwnedRecord, RecordRef};
use crate::segment::{Offsets, ReadMode, SegmentRead};
use crate::storage::mapped::MappedBytes;

/// Answer of [`Partition::offset_for_timestamp`]: the first record at or after a time.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Log, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
/// p.append(&[Record::new(b"a").with_timestamp(1_000), Record::new(b"b").with_timestamp(2_000)])?;
/// let found = p.offset_for_timestamp(1_500)?.unwrap();
/// assert_eq!((found.offset, found.timestamp), (1, 2_000)); // the record's own timestamp
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    /// The record's offset.
    pub offset: u64,
    /// The record's timestamp (≥ the time asked for).
    pub timestamp: i64,
}

/// Whether a read checks the CRC of a batch its segment object checked before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Crc {
    /// Not again: reads (see `segment::verified` for what that trades).
    Memo,
    /// Every batch, every time: `verify`.
    Every,
}

impl Partition {
    /// Checks `offset` against the readable range and returns the log end offset it used.
    pub(super) fn check_range(&self, offset: u64) -> Result<u64> {
        self.check_readable()?;
        let (start, end) = (self.log_start_offset(), self.log_end_offset());
        if offset < start || offset > end {
            return Err(self.out_of_range(offset));
        }
        Ok(end)
    }

    pub(super) fn out_of_range(&self, offset: u64) -> Error {
        Error::OffsetOutOfRange {
            topic: self.inner.topic.to_string(),
            partition: self.inner.id,
            offset,
            log_start_offset: self.log_start_offset(),
            log_end_offset: self.log_end_offset(),
        }
    }

    /// Appends to `out` whole batches holding offsets from `from` on, up to `max_bytes` in all,
    /// but always at least one batch if any exists, so that a reader always makes progress
    /// (Kafka's fetch semantics). The first batch may start before `from`. Every batch is
    /// CRC-checked. Returns the offset to read next.
    ///
    /// Errors: [`Error::OffsetOutOfRange`] unless `log_start_offset ≤ from ≤ log_end_offset`;
    /// [`Error::CorruptBatch`] if the bytes on disk fail a check; [`Error::OffsetsLost`] if
    /// `from` is among offsets found lost at open (a read whose window reaches them ends
    /// before them).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b")])?;
    /// p.append(&[Record::new(b"c")])?;
    /// let mut raw = Vec::new();
    /// assert_eq!(p.read_raw(1, 1, &mut raw)?, 2); // one whole batch despite the 1-byte limit
    /// raw.clear();
    /// assert_eq!(p.read_raw(0, 1 << 20, &mut raw)?, 3);
    /// assert_eq!(p.read_raw(3, 1 << 20, &mut raw)?, 3); // at the end: nothing more
    /// assert!(p.read_raw(4, 1 << 20, &mut raw).is_err());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn read_raw(&self, from: u64, max_bytes: usize, out: &mut Vec<u8>) -> Result<u64> {
        self.read_batches(from, max_bytes, out, None, Crc::Memo)
    }

    /// [`read_raw`](Self::read_raw), borrowing instead of copying when the batches come first
    /// from the mapped active segment and `mapped` is given: they are left there, `out` is
    /// untouched, and the read ends there.
    fn read_batches(
        &self,
        from: u64,
        max_bytes: usize,
        out: &mut Vec<u8>,
        mapped: Option<&mut Option<MappedBytes>>,
        crc: Crc,
    ) -> Result<u64> {
        // One snapshot of the end: an append publishes its segment's size before the log end
        // offset, and a read must not return a batch the log does not count yet.
        let end_offset = self.check_range(from)?;
        let start = out.len();
        let next = self.read_batches_from(from, end_offset, max_bytes, out, mapped, crc)?;
        if self.inner.read_only && self.inner.offsets == Offsets::Dense {
            self.check_continuous(from, &out[start..])?;
        }
        Ok(next)
    }

    /// In a read-only view of a partition whose offsets are dense: the batches read start at or
    /// before `from` and follow each other without a gap. The owner may cut and rewrite what
    /// the view holds; bytes read from a position the view knew could then be other batches.
    fn check_continuous(&self, from: u64, bytes: &[u8]) -> Result<()> {
        let mut expected = None;
        for found in batch::Batches::new(bytes, u64::MAX, batch::AtCut::Fail) {
            let Ok(b) = found else { break }; // checked by the read already
            let (base, last) = (b.header.base_offset as u64, b.header.last_offset() as u64);
            let fits = match expected {
                None => base <= from && last >= from,
                Some(next) => base == next,
            };
            if !fits {
                return Err(Error::ChangedUnderView { partition: self.name() });
            }
            expected = Some(last + 1);
        }
        Ok(())
    }

    fn read_batches_from(
        &self,
        from: u64,
        end_offset: u64,
        max_bytes: usize,
        out: &mut Vec<u8>,
        mut mapped: Option<&mut Option<MappedBytes>>,
        crc: Crc,
    ) -> Result<u64> {
        let delivered_before = out.len();
        let mut next = from;
        let mut remaining = max_bytes as u64;
        let mut first = true;
        // Whether the segment holding `next` was read a second time (see below).
        let mut reread = false;
        loop {
            let (segment, following_base) = self.inner.segments.holding(next);
            let before = out.len();
            if next >= end_offset {
                break;
            }
            if next < segment.base_offset() {
                // The segment holding `next` was deleted by retention after the range check.
                return Err(self.out_of_range(next));
            }
            let mode = ReadMode { min_one: first, borrow: first && mapped.is_some(), every_crc: crc == Crc::Every };
            match segment.read(next, end_offset, remaining, mode, out)? {
                SegmentRead::Batches { next_offset, mapped: Some(bytes), .. } => {
                    if let Some(slot) = mapped.as_deref_mut() {
                        *slot = Some(bytes);
                    }
                    next = next_offset;
                    break;
                }
                SegmentRead::Batches { next_offset, reached_end, mapped: None } => {
                    next = next_offset;
                    first = false;
                    remaining = remaining.saturating_sub((out.len() - before) as u64);
                    if !reached_end || remaining == 0 {
                        break;
                    }
                }
                SegmentRead::Nothing => {}
                SegmentRead::DoesNotFit => break,
            }
            // This segment is exhausted: continue in the next one, if any.
            match following_base {
                Some(base) if next < base && !reread => {
                    // The read may have ended at a size seen while this segment was still the
                    // active one, before the appends a roll sealed into it since: read it again
                    // from `next` rather than step over those batches. A real gap (compaction
                    // removed the records) reads nothing the second time.
                    reread = true;
                }
                following => {
                    // Offsets up to the next segment, or up to the log end after the last one,
                    // are not in any segment. Offsets that were written and are gone (found at
                    // open): the read ends before them, and one that starts there fails,
                    // naming them. A gap compaction left is stepped over.
                    let until = following.unwrap_or(end_offset);
                    if let Some(lost) = (next < until).then(|| self.lost_within(next, until)).flatten() {
                        if out.len() > delivered_before {
                            break;
                        }
                        return Err(lost);
                    }
                    match following {
                        Some(base) => {
                            reread = false;
                            next = next.max(base);
                        }
                        None => break,
                    }
                }
            }
        }
        Ok(next)
    }

    /// Reads records from `from` on into `fetch`, up to about `max_bytes` of batches (at least
    /// one batch), without an allocation per record. Records before `from` in the first batch
    /// and control batches are skipped. Iterate with [`Fetch::records`].
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Fetch, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b"), Record::new(b"c")])?;
    ///
    /// let mut fetch = Fetch::new(); // reuse it: its buffers are kept between fetches
    /// p.fetch(1, 1 << 20, &mut fetch)?;
    /// let mut values = Vec::new();
    /// for r in fetch.records() {
    ///     values.push(r?.value().unwrap().to_vec()); // each record is decoded as it is reached
    /// }
    /// assert_eq!(values, [b"b".to_vec(), b"c".to_vec()]);
    /// assert_eq!(fetch.next_offset(), 3);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn fetch(&self, from: u64, max_bytes: usize, fetch: &mut Fetch) -> Result<()> {
        fetch.clear();
        fetch.next_offset = self.read_batches(from, max_bytes, &mut fetch.raw, Some(&mut fetch.mapped), Crc::Memo)?;
        fetch.origin = Some(self.clone());
        fetch.prepare(from, |position, e| self.located_error(position, e))
    }

    /// The first range of lost offsets (see [`Error::OffsetsLost`]) that overlaps `from..to`, as
    /// the error of a read that reaches it.
    fn lost_within(&self, from: u64, to: u64) -> Option<Error> {
        let lost = self.inner.lost.lock();
        let found = lost.iter().find(|l| l.range.start < to && l.range.end > from)?;
        Some(Error::OffsetsLost {
            partition: self.name(),
            path: found.after.clone(),
            from: found.range.start,
            to: found.range.end,
        })
    }

    /// Attaches the segment file and position to a decoding error of the batch at `offset`.
    pub(super) fn located_error(&self, offset: u64, e: batch::DecodeError) -> Error {
        let (segment, _) = self.inner.segments.holding(offset);
        let position = match segment.locate(offset, segment.size()) {
            Ok(Some((position, _))) => position,
            _ => 0,
        };
        segment.decode_error(position, e)
    }

    /// Reads every batch of the partition, checking each (length, magic, CRC, offsets): the
    /// full checksum pass that opening skips for data below the recovery point. Returns the
    /// first problem as [`Error::CorruptBatch`] with the file and position, or as
    /// [`Error::OffsetsLost`] for offsets that were written and whose data is gone.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a")])?;
    /// p.verify()?;
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn verify(&self) -> Result<()> {
        let mut buf = Vec::new();
        let start = self.log_start_offset();
        let mut next = start;
        // Where offsets are dense, each batch starts right after the one before, across
        // segments too, from the log start to the log end: offsets missing are lost.
        let dense = self.inner.offsets == Offsets::Dense;
        let mut expected: Option<u64> = None;
        let mut end = self.log_end_offset();
        while next < end {
            buf.clear();
            let after = self.read_batches(next, 1 << 20, &mut buf, None, Crc::Every)?;
            if dense {
                for found in batch::Batches::new(&buf, u64::MAX, batch::AtCut::Fail) {
                    let Ok(b) = found else { break };
                    let base = b.header.base_offset as u64;
                    match expected {
                        None if base > start => return Err(self.missing(start, base)),
                        Some(e) if base > e => return Err(self.missing(e, base)),
                        Some(e) if base < e => {
                            let problem = FormatError::OffsetsNotIncreasing {
                                base_offset: base as i64,
                                previous_last_offset: e as i64 - 1,
                            };
                            return Err(self.located_error(base, batch::DecodeError::Format(problem)));
                        }
                        _ => {}
                    }
                    expected = Some(b.header.last_offset() as u64 + 1);
                }
            }
            batch::for_each_record(&buf, |_, _| {}).map_err(|e| match e {
                Error::InvalidBatch { problem, .. } => self.located_error(next, batch::DecodeError::Format(problem)),
                other => other,
            })?;
            if after <= next {
                break;
            }
            next = after;
            end = self.log_end_offset();
        }
        let read_to = expected.unwrap_or(start);
        if dense && read_to < end {
            return Err(self.missing(read_to, end));
        }
        // Lost offsets no read reaches: past the end of a read-only view.
        match self.lost_within(start, u64::MAX) {
            Some(lost) => Err(lost),
            None => Ok(()),
        }
    }

    /// Offsets `from..to` of a partition whose offsets are dense, in no batch: lost, as
    /// [`Error::OffsetsLost`] after the segment holding `from`.
    fn missing(&self, from: u64, to: u64) -> Error {
        let (segment, _) = self.inner.segments.holding(from);
        Error::OffsetsLost { partition: self.name(), path: segment.log_path().to_owned(), from, to }
    }

    /// Reads records from `from` on, up to about `max_bytes` of batches (at least one batch),
    /// as owned copies. [`fetch`](Self::fetch) avoids the copies.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a").with_key(b"k"), Record::new(b"b")])?;
    /// let records = p.read(1, 1 << 20)?;
    /// assert_eq!((records[0].offset, records[0].key.as_deref()), (1, None));
    /// assert_eq!(records[0].value.as_deref(), Some(&b"b"[..]));
    /// assert!(p.read(2, 1 << 20)?.is_empty()); // at the log end: nothing yet
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn read(&self, from: u64, max_bytes: usize) -> Result<Vec<OwnedRecord>> {
        let mut fetch = Fetch::new();
        self.fetch(from, max_bytes, &mut fetch)?;
        fetch.records().map(|r| r.map(|r| r.to_owned())).collect()
    }

    /// The first record, in offset order from the log start offset, whose timestamp is
    /// ≥ `timestamp` (Kafka's ListOffsets for a timestamp), or `None` if there is none.
    /// Uses the time index, then the offset index, then a scan of batch headers.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig, TimestampOffset};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a").with_timestamp(100), Record::new(b"b").with_timestamp(300)])?;
    /// p.append(&[Record::new(b"c").with_timestamp(200)])?;
    /// assert_eq!(p.offset_for_timestamp(150)?, Some(TimestampOffset { offset: 1, timestamp: 300 }));
    /// assert_eq!(p.offset_for_timestamp(0)?.unwrap().offset, 0);
    /// assert_eq!(p.offset_for_timestamp(301)?, None);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<TimestampOffset>> {
        self.check_readable()?;
        let start = self.log_start_offset();
        for segment in self.segments() {
            if segment.largest_timestamp()? < timestamp {
                continue;
            }
            if let Some((offset, timestamp)) = segment.find_offset_by_timestamp(timestamp, start)? {
                return Ok(Some(TimestampOffset { offset, timestamp }));
            }
        }
        Ok(None)
    }
}

/// A batch of a [`Fetch`] to decode: its records section in one of the fetch's buffers, and
/// where decoding starts (past the records before the fetched offset).
#[derive(Debug, Clone, Copy)]
struct FetchedBatch {
    in_scratch: bool,
    section: (usize, usize),
    cursor: batch::CursorState,
}

/// Reusable buffers for reading records without an allocation per record: the raw batches (or
/// the mapping they are borrowed from) and the decompressed records of compressed batches.
///
/// See [`Partition::fetch`].
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Fetch, Log, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
/// p.append(&[Record::new(b"a"), Record::new(b"b")])?;
/// p.append(&[Record::new(b"c")])?;
/// let mut fetch = Fetch::new();
/// p.fetch(0, 1, &mut fetch)?; // the first batch
/// assert_eq!((fetch.len(), fetch.next_offset()), (2, 2));
/// p.fetch(fetch.next_offset(), 1, &mut fetch)?; // the same buffers, refilled
/// assert_eq!((fetch.len(), fetch.next_offset()), (1, 3));
/// assert_eq!(fetch.records().next().unwrap()?.value(), Some(&b"c"[..]));
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct Fetch {
    raw: Vec<u8>,
    /// The batches, when borrowed from the active segment's mapping instead of read into `raw`.
    mapped: Option<MappedBytes>,
    scratch: Vec<u8>,
    batches: Vec<FetchedBatch>,
    len: usize,
    next_offset: u64,
    /// The partition fetched from, to say where a record that fails to decode lies.
    origin: Option<Partition>,
}

impl Fetch {
    /// Empty buffers.
    ///
    /// # Example
    /// ```
    /// use partlog::Fetch;
    /// let fetch = Fetch::new();
    /// assert!(fetch.is_empty());
    /// assert!(fetch.raw_batches().is_empty());
    /// assert_eq!(fetch.records().count(), 0);
    /// ```
    pub fn new() -> Self {
        Fetch::default()
    }

    fn clear(&mut self) {
        self.raw.clear();
        self.mapped = None;
        self.scratch.clear();
        self.batches.clear();
        self.len = 0;
    }

    /// The records fetched, in offset order, each decoded as the iterator reaches it.
    ///
    /// [`Partition::fetch`] checked every batch's CRC and framing, so an error here means a
    /// record malformed inside a batch whose checksum matches (a faulty writer or a crafted
    /// file): [`Error::CorruptBatch`] with the file and position of the batch, after which the
    /// iterator ends.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Fetch, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a").with_key(b"k"), Record::new(b"b")])?;
    /// let mut fetch = Fetch::new();
    /// p.fetch(0, 1 << 20, &mut fetch)?;
    /// let mut keys = Vec::new();
    /// for r in fetch.records() {
    ///     keys.push(r?.key().map(<[u8]>::to_vec));
    /// }
    /// assert_eq!(keys, [Some(b"k".to_vec()), None]);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn records(&self) -> Records<'_> {
        self.records_at(RecordsAt { batch: 0, cursor: None, remaining: self.len })
    }

    /// The records from where an earlier walk over this fetch stopped ([`Records::at`]): a
    /// consumer serves one fetch across polls, decoding and checking each batch once.
    pub(crate) fn records_at(&self, at: RecordsAt) -> Records<'_> {
        let mut records =
            Records { fetch: self, batches: &self.batches, next: at.batch, current: None, remaining: at.remaining };
        if let Some(cursor) = at.cursor {
            if let Some(b) = self.batches.get(at.batch.wrapping_sub(1)) {
                records.current = Some(batch::RecordCursor::resume(cursor, records.section(b)));
            }
        }
        records
    }

    /// Number of records fetched: what the batches' headers count from the fetched offset on.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Fetch, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b"), Record::new(b"c")])?; // one batch
    /// let mut fetch = Fetch::new();
    /// p.fetch(1, 1 << 20, &mut fetch)?;
    /// assert_eq!(fetch.len(), 2); // the whole batch is read, but offset 0 is not counted
    /// assert_eq!(fetch.records().count(), 2);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no record was fetched.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Fetch, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a")])?;
    /// let mut fetch = Fetch::new();
    /// p.fetch(0, 1 << 20, &mut fetch)?;
    /// assert!(!fetch.is_empty());
    /// p.fetch(1, 1 << 20, &mut fetch)?; // at the log end: nothing yet
    /// assert!(fetch.is_empty());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The offset to fetch next: after the last batch read, or where a fetch that stopped early
    /// (its byte limit, or the bound on decompressed records) would go on.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Fetch, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// for v in [b"a", b"b", b"c"] {
    ///     p.append(&[Record::new(v)])?; // one batch each
    /// }
    /// let mut fetch = Fetch::new();
    /// let (mut next, mut seen) = (0, 0);
    /// while next < p.log_end_offset() {
    ///     p.fetch(next, 1, &mut fetch)?; // 1 byte: one batch per fetch
    ///     seen += fetch.len();
    ///     next = fetch.next_offset();
    /// }
    /// assert_eq!((next, seen), (3, 3));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    #[inline]
    pub fn next_offset(&self) -> u64 {
        self.next_offset
    }

    /// The whole batches read, as stored (Kafka format).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Fetch, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b")])?;
    /// let mut fetch = Fetch::new();
    /// p.fetch(1, 1 << 20, &mut fetch)?;
    /// let mut raw = Vec::new();
    /// p.read_raw(1, 1 << 20, &mut raw)?;
    /// assert_eq!(fetch.raw_batches(), &raw[..]); // the bytes read_raw copies
    /// assert_eq!(fetch.raw_batches()[..8], 0u64.to_be_bytes()); // whole: from the base offset 0
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn raw_batches(&self) -> &[u8] {
        batches_of(&self.raw, &self.mapped)
    }

    /// Opens every batch read (already CRC-checked): decompresses it if it is compressed, and
    /// steps over the records before `from`. The records themselves are decoded by [`Records`].
    ///
    /// Decompressed records are bounded per fetch: once [`MAX_DECOMPRESSED_BYTES`] are held, the
    /// fetch ends before the next batch, and [`next_offset`](Self::next_offset) is that batch's
    /// base offset.
    fn prepare(&mut self, from: u64, error: impl Fn(u64, batch::DecodeError) -> Error) -> Result<()> {
        let Fetch { raw, mapped, scratch, batches, len, .. } = self;
        let raw = batches_of(raw, mapped);
        let mut cut = None;
        for found in batch::Batches::new(raw, u64::MAX, batch::AtCut::Fail) {
            // The read checked these batches already: a problem here is one of memory, not disk.
            let RawBatch { position, header, bytes } =
                found.map_err(|p| Error::InvalidBatch { position: p.position as u64, problem: p.problem })?;
            if header.is_control() || header.records_count == 0 || (header.last_offset() as u64) < from {
                continue;
            }
            if scratch.len() >= MAX_DECOMPRESSED_BYTES && !batches.is_empty() {
                cut = Some((position, header.base_offset as u64));
                break;
            }
            let (header, records) = batch::open_batch(bytes, u64::MAX, scratch, batch::Crc::Verified)
                .map_err(|e| error(header.base_offset as u64, e))?;
            let (section, in_scratch) = match records {
                RecordsIn::Batch(r) => ((position + r.start, position + r.end), false),
                RecordsIn::Scratch(r) => ((r.start, r.end), true),
            };
            let bytes = if in_scratch { &scratch[section.0..section.1] } else { &raw[section.0..section.1] };
            let format = |e| error(header.base_offset as u64, batch::DecodeError::Format(e));
            let mut cursor = batch::RecordCursor::new(&header, bytes).map_err(format)?;
            cursor.skip_before(from).map_err(format)?;
            *len += cursor.remaining() as usize;
            batches.push(FetchedBatch { in_scratch, section, cursor: cursor.state() });
        }
        if let Some((position, next_offset)) = cut {
            self.raw.truncate(position);
            if let Some(m) = &mut self.mapped {
                m.truncate(position);
            }
            self.next_offset = next_offset;
        }
        Ok(())
    }
}

/// The batches a fetch read: borrowed from the mapping, or else copied into `raw`.
fn batches_of<'a>(raw: &'a [u8], mapped: &'a Option<MappedBytes>) -> &'a [u8] {
    match mapped {
        Some(m) => m.bytes(),
        None => raw,
    }
}

/// The records of a [`Fetch`], decoded one at a time. See [`Fetch::records`].
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Fetch, Log, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
/// p.append(&[Record::new(b"a"), Record::new(b"b").with_key(b"k"), Record::new(b"c")])?;
/// let mut fetch = Fetch::new();
/// p.fetch(1, 1 << 20, &mut fetch)?;
/// let mut records = fetch.records();
/// assert_eq!(records.size_hint(), (0, Some(2)));
/// let r = records.next().unwrap()?;
/// assert_eq!((r.offset(), r.key(), r.value()), (1, Some(&b"k"[..]), Some(&b"b"[..])));
/// assert_eq!(records.next().unwrap()?.offset(), 2);
/// assert!(records.next().is_none());
/// # Ok::<(), partlog::Error>(())
/// ```
pub struct Records<'a> {
    fetch: &'a Fetch,
    batches: &'a [FetchedBatch],
    /// The next batch to open.
    next: usize,
    current: Option<batch::RecordCursor<'a>>,
    remaining: usize,
}

/// Where a walk over a [`Fetch`]'s records stands: the batch after the one open, and the open
/// one's cursor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordsAt {
    batch: usize,
    cursor: Option<batch::CursorState>,
    remaining: usize,
}

impl std::fmt::Debug for Records<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records").field("remaining", &self.remaining).finish_non_exhaustive()
    }
}

impl<'a> Records<'a> {
    /// Where the walk stands, to resume it with [`Fetch::records_at`].
    pub(crate) fn at(&self) -> RecordsAt {
        RecordsAt { batch: self.next, cursor: self.current.as_ref().map(|c| c.state()), remaining: self.remaining }
    }

    fn section(&self, b: &FetchedBatch) -> &'a [u8] {
        let buf = if b.in_scratch { &self.fetch.scratch[..] } else { self.fetch.raw_batches() };
        &buf[b.section.0..b.section.1]
    }

    #[cold]
    fn fail(&mut self, cursor: batch::CursorState, e: crate::error::FormatError) -> Error {
        self.next = self.batches.len();
        self.remaining = 0;
        match &self.fetch.origin {
            Some(p) => p.located_error(cursor.base_offset() as u64, batch::DecodeError::Format(e)),
            // Batches are only ever prepared by a partition's fetch, which sets the origin.
            None => Error::InvalidBatch { problem: e, position: 0 },
        }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<RecordRef<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(cursor) = &mut self.current {
                match cursor.next_record() {
                    Ok(Some(r)) => {
                        self.remaining = self.remaining.saturating_sub(1);
                        return Some(Ok(r));
                    }
                    Ok(None) => self.current = None,
                    Err(e) => {
                        let state = cursor.state();
                        self.current = None;
                        return Some(Err(self.fail(state, e)));
                    }
                }
            }
            let b = self.batches.get(self.next)?;
            self.next += 1;
            self.current = Some(batch::RecordCursor::resume(b.cursor, self.section(b)));
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining))
    }
}
