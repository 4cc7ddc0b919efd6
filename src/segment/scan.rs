//! Checking a segment's data file from the start (Kafka's `LogSegment.recover`): every batch's
//! header, CRC and offsets, rebuilding the indexes on the way; and cutting the file where its
//! valid batches end.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::OnceLock;

use super::{
    truncated, AppendMeta, IndexCursor, Indexes, Offsets, ScanOutcome, Segment, MAX_SEGMENT_BYTES, RECOVERY_CHUNK_BYTES,
};
use crate::error::{Error, FormatError, Result};
use crate::format::batch::{self, AtCut, BatchHeader, Batches, Peek, HEADER_LEN};
use crate::storage::files;
use crate::storage::mapped::{self, Shrink};

impl Segment {
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
        self.scan_from(indexes, floor, offsets, 0, None, IndexCursor::new(self.base_offset))
    }

    /// For a log opened read-only: checks the bytes appended to the data file since this
    /// segment's valid bytes were last found (by [`scan`](Self::scan) with
    /// [`Indexes::Rebuild`], into indexes in memory), adds their index entries, and makes the
    /// whole batches among them readable. `next_offset` is the offset after the last batch
    /// found so far. Returns what the new scan found past the old end.
    pub(crate) fn extend_read_only(&self, next_offset: Option<u64>, offsets: Offsets) -> Result<ScanOutcome> {
        let cursor = *self.cursor.lock();
        let outcome = self.scan_from(Indexes::Rebuild, self.base_offset, offsets, self.size(), next_offset, cursor)?;
        self.size.store(outcome.valid_bytes, Ordering::Release);
        Ok(outcome)
    }

    /// Makes the first `len` bytes the segment's readable ones, without touching the file (a
    /// log opened read-only: the whole batches its scan found).
    pub(crate) fn set_readable_bytes(&self, len: u64) {
        self.size.store(len, Ordering::Release);
    }

    fn scan_from(
        &self,
        indexes: Indexes,
        floor: u64,
        offsets: Offsets,
        start: u64,
        mut next_offset: Option<u64>,
        mut cursor: IndexCursor,
    ) -> Result<ScanOutcome> {
        let handle = self.log_file()?;
        let file: &File = &handle;
        let stat = || file.metadata().map_err(Error::io("stat", &self.log_path)).map(|m| m.len());
        let mut file_bytes = stat()?;
        let mut buf = Vec::new();
        let mut pos = start;
        let mut problem = None;
        let mut last_batch = None;
        let mut chunk_bytes = RECOVERY_CHUNK_BYTES as u64;
        'file: while pos < file_bytes {
            let chunk_start = pos;
            buf.resize(chunk_bytes.min(file_bytes - chunk_start) as usize, 0);
            if let Err(e) = files::read_exact_at(file, &mut buf, chunk_start, &self.log_path) {
                // Read-only: the owner may cut the zero-filled space off its file meanwhile (a
                // roll); the scan goes on to the new end.
                let now = stat()?;
                if !self.spec.read_only || now >= file_bytes {
                    return Err(e);
                }
                file_bytes = now;
                continue;
            }
            for found in Batches::new(&buf, MAX_SEGMENT_BYTES, AtCut::Stop) {
                let b = match found {
                    Ok(b) => b,
                    Err(p) => {
                        problem = Some((chunk_start + p.position as u64, p.problem));
                        break 'file;
                    }
                };
                // The CRC first: a corrupt batch is damage, whatever its offsets say.
                let checked = batch::verify_crc(b.bytes)
                    .and_then(|()| self.check_sequence(&b.header, next_offset, floor, offsets));
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
                    self.advance_cursor(&mut cursor, pos, b.bytes.len() as u64, meta, Indexes::Rebuild)?;
                }
                next_offset = Some(last + 1);
                last_batch = Some((pos, b.header));
                pos += b.bytes.len() as u64;
            }
            chunk_bytes = RECOVERY_CHUNK_BYTES as u64;
            if pos == chunk_start && pos < file_bytes {
                // The batch at `pos` does not fit the chunk: read it whole next, unless the file
                // ends inside it (or inside its header).
                let left = file_bytes - pos;
                let needed = match batch::peek(&buf, MAX_SEGMENT_BYTES, &mut Vec::new()) {
                    Ok(Peek::Header(h)) => h.total_size(),
                    Ok(Peek::Need(needed)) => needed,
                    Err(e) => {
                        problem = Some((pos, e));
                        break;
                    }
                };
                if needed > left {
                    let what = if needed <= HEADER_LEN as u64 { "batch header" } else { "batch" };
                    problem = Some((pos, truncated(what, needed, left)));
                    break;
                }
                chunk_bytes = needed;
            }
        }
        if indexes == Indexes::Rebuild {
            self.finish_time_index(&cursor)?;
            self.max_timestamp.store(cursor.max_timestamp_so_far, Ordering::Relaxed);
            *self.cursor.lock() = cursor;
        }
        Ok(ScanOutcome { valid_bytes: pos, file_bytes, next_offset, problem, last_batch })
    }

    /// Checks that a batch can follow the one before it in this walk, which ended at `after`
    /// (its last offset + 1), or, first in the walk, start at or above `floor`: offsets
    /// increasing (dense, with [`Offsets::Dense`]) and within the segment's int32 relative
    /// offsets. The CRC does not cover the base offset: this is what protects it.
    pub(crate) fn check_sequence(
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
                previous_last_offset: (floor as i64).wrapping_sub(1),
            });
        }
        if header.last_offset() as u64 - self.base_offset > i32::MAX as u64 {
            return Err(FormatError::RelativeOffsetOverflow {
                last_offset: header.last_offset(),
                segment_base: self.base_offset,
            });
        }
        Ok(())
    }

    /// Cuts the data file to `len` bytes (recovery of a torn or corrupt tail, truncation). In
    /// place when no mapping of the file may touch the bytes cut off; otherwise the kept bytes
    /// are copied to a new file renamed over this one (see `storage::mapped`, rule 1), and the
    /// segment reopens it.
    pub(crate) fn cut_to(&mut self, len: u64) -> Result<()> {
        // Its own mapping goes first: it would keep the cut from happening in place, and would
        // be left over the old file after a copy.
        self.unmap();
        if mapped::shrink(&*self.log_file()?, &self.log_path, len)? == Shrink::Mapped {
            let copy = self.copy_prefix(len)?;
            std::fs::rename(&copy, &self.log_path).map_err(Error::io("rename into place", &copy))?;
            files::sync_dir(&*self.spec.io, self.log_path.parent().unwrap_or(Path::new(".")))?;
            self.log.reset();
        }
        self.size.store(len, Ordering::Release);
        Ok(())
    }

    /// Whether the data file holds only zero bytes from `position` on: the space zero-filled
    /// ahead of appends that a crash left behind.
    pub(crate) fn zeros_from(&self, position: u64) -> Result<bool> {
        let handle = self.log_file()?;
        let file: &File = &handle;
        let end = file.metadata().map_err(Error::io("stat", &self.log_path))?.len();
        let mut buf = vec![0u8; RECOVERY_CHUNK_BYTES.min(end.saturating_sub(position) as usize)];
        let mut at = position;
        while at < end {
            let n = buf.len().min((end - at) as usize);
            if let Err(e) = files::read_exact_at(file, &mut buf[..n], at, &self.log_path) {
                // Read-only: cut meanwhile by the owner, so nothing there to report.
                return if self.spec.read_only { Ok(true) } else { Err(e) };
            }
            if buf[..n].iter().any(|&b| b != 0) {
                return Ok(false);
            }
            at += n as u64;
        }
        Ok(true)
    }

    /// Writes the first `len` bytes of the data file to `<name>.log.cut` (removed by the
    /// next open if left behind), fsynced, and returns its path.
    pub(crate) fn copy_prefix(&self, len: u64) -> Result<PathBuf> {
        let target = files::with_suffix(&self.log_path, files::CUT_SUFFIX);
        let mut out = File::create(&target).map_err(Error::io("create", &target))?;
        let handle = self.log_file()?;
        let mut from: &File = &handle;
        std::io::Seek::seek(&mut from, std::io::SeekFrom::Start(0)).map_err(Error::io("seek", &self.log_path))?;
        let copied =
            std::io::copy(&mut std::io::Read::take(from, len), &mut out).map_err(Error::io("copy", &target))?;
        if copied != len {
            return Err(Error::io("copy", &self.log_path)(std::io::ErrorKind::UnexpectedEof.into()));
        }
        self.spec.io.sync_data(&out, &target).map_err(Error::io("fsync", &target))?;
        Ok(target)
    }
}

/// What [`Segment::check_tail`] found.
#[derive(Debug)]
pub(crate) struct Tail {
    /// The offset after the last batch, when the walk reached the end of the file intact.
    pub next_offset: Option<u64>,
    /// The first problem, and where.
    pub problem: Option<(u64, FormatError)>,
    /// The offset index's last entry named no batch: its index files were removed, to be
    /// rebuilt from the data when first needed.
    pub stale_index: bool,
}

impl Segment {
    /// The cheap check of a sealed segment at open (a few reads): from the offset index's last
    /// entry (if the batch at its position starts at or below it) the batch headers are walked to the end of
    /// the file, which the last batch must end exactly at, with offsets following each other
    /// as the partition's must; the last batch's CRC is checked. Nothing is changed but a stale
    /// offset index, which is removed (indexes are caches).
    pub(crate) fn check_tail(&self) -> Result<Tail> {
        let size = self.size();
        let mut tail = Tail { next_offset: None, problem: None, stale_index: false };
        if size == 0 {
            return Ok(tail);
        }
        let index_path = self.sibling(files::OFFSET_INDEX_SUFFIX);
        let mut start = 0;
        if let Some((position, offset)) = last_offset_entry(&index_path, self.base_offset)? {
            if position < size && self.batch_base_offset_at(position)?.is_some_and(|base| base <= offset) {
                start = position;
            } else {
                tail.stale_index = true;
            }
        }
        let mut next = None;
        let mut last = None;
        let walked = self.scan_headers(start, size, |position, header| {
            if let Err(e) = self.check_sequence(header, next, self.base_offset, self.spec.offsets) {
                tail.problem = Some((position, e));
                return std::ops::ControlFlow::Break(());
            }
            next = Some(header.last_offset() as u64 + 1);
            last = Some((position, header.total_size()));
            std::ops::ControlFlow::Continue(())
        });
        match walked {
            Ok(()) => {}
            Err(Error::CorruptBatch { position, problem, .. }) => tail.problem = Some((position, problem)),
            Err(e) => return Err(e),
        }
        if let (None, Some((position, len))) = (&tail.problem, last) {
            let mut bytes = vec![0u8; len as usize];
            files::read_exact_at(&*self.log_file()?, &mut bytes, position, &self.log_path)?;
            match batch::verify_crc(&bytes) {
                Ok(()) => tail.next_offset = next,
                Err(e) => tail.problem = Some((position, e)),
            }
        }
        if tail.stale_index {
            for suffix in [files::OFFSET_INDEX_SUFFIX, files::TIME_INDEX_SUFFIX] {
                let path = self.sibling(suffix);
                match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io("delete", &path)(e)),
                    _ => {}
                }
            }
        }
        Ok(tail)
    }
}

/// The last entry of a trimmed offset index file, as `(position, offset)`, read without
/// mapping it; `None` if the file is missing or empty.
fn last_offset_entry(path: &Path, base_offset: u64) -> Result<Option<(u64, u64)>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open", path)(e)),
    };
    let len = file.metadata().map_err(Error::io("stat", path))?.len();
    if len < 8 {
        return Ok(None);
    }
    let mut entry = [0u8; 8];
    files::read_exact_at(&file, &mut entry, (len - 8) / 8 * 8, path)?;
    let relative = u32::from_be_bytes(entry[..4].try_into().expect("4 bytes"));
    let position = u32::from_be_bytes(entry[4..].try_into().expect("4 bytes"));
    Ok(Some((position as u64, base_offset + relative as u64)))
}

impl Segment {
    /// Splits this segment, whose batches pass its int32 relative offsets, into pieces that
    /// each hold them (Kafka's `splitOverflowedSegment`, KAFKA-6264): each piece starts with
    /// the segment's base offset (the first) or the base offset of the first batch that does not
    /// fit the piece before, and is written to `<base>.log.cleaned`, fsynced. Batches are copied
    /// as they are, in order; bytes from the first invalid batch on go with the last piece as
    /// they are, for recovery and reads to judge as usual. Returns each piece's base offset and
    /// path.
    pub(crate) fn write_split(&self) -> Result<Vec<(u64, PathBuf)>> {
        let handle = self.log_file()?;
        let file: &File = &handle;
        let file_bytes = file.metadata().map_err(Error::io("stat", &self.log_path))?.len();
        let dir = self.log_path.parent().unwrap_or(Path::new("."));
        let mut pieces: Vec<(u64, PathBuf, File)> = Vec::new();
        let mut piece_base = self.base_offset;
        let mut buf = Vec::new();
        let mut pos = 0u64;
        let mut chunk_bytes = RECOVERY_CHUNK_BYTES as u64;
        let mut next_offset = None;
        let mut rest_from = None;
        let new_piece = |base: u64, pieces: &mut Vec<(u64, PathBuf, File)>| -> Result<()> {
            let path =
                files::with_suffix(&dir.join(files::segment_file_name(base, files::LOG_SUFFIX)), files::CLEANED_SUFFIX);
            let file = File::create(&path).map_err(Error::io("create", &path))?;
            pieces.push((base, path, file));
            Ok(())
        };
        'file: while pos < file_bytes {
            let chunk_start = pos;
            buf.resize(chunk_bytes.min(file_bytes - chunk_start) as usize, 0);
            files::read_exact_at(file, &mut buf, chunk_start, &self.log_path)?;
            for found in Batches::new(&buf, MAX_SEGMENT_BYTES, AtCut::Stop) {
                let Ok(b) = found else {
                    rest_from = Some(pos);
                    break 'file;
                };
                let floor = next_offset.unwrap_or(self.base_offset);
                let in_order = b.header.base_offset as u64 >= floor;
                if !in_order || batch::verify_crc(b.bytes).is_err() {
                    rest_from = Some(pos);
                    break 'file;
                }
                let last = b.header.last_offset() as u64;
                if pieces.is_empty() || last - piece_base > i32::MAX as u64 {
                    if !pieces.is_empty() || last - piece_base > i32::MAX as u64 {
                        piece_base = b.header.base_offset as u64;
                    }
                    new_piece(piece_base, &mut pieces)?;
                }
                let (_, path, out) = pieces.last().expect("a piece");
                let at = out.metadata().map_err(Error::io("stat", path))?.len();
                self.spec.io.write_all_at(out, path, b.bytes, at).map_err(Error::io("write", path))?;
                next_offset = Some(last + 1);
                pos += b.bytes.len() as u64;
            }
            chunk_bytes = RECOVERY_CHUNK_BYTES as u64;
            if pos == chunk_start && pos < file_bytes {
                let needed = match batch::peek(&buf, MAX_SEGMENT_BYTES, &mut Vec::new()) {
                    Ok(Peek::Header(h)) => h.total_size(),
                    Ok(Peek::Need(needed)) => needed,
                    Err(_) => u64::MAX,
                };
                if needed > file_bytes - pos {
                    rest_from = Some(pos);
                    break;
                }
                chunk_bytes = needed;
            }
        }
        if pieces.is_empty() {
            new_piece(self.base_offset, &mut pieces)?;
        }
        if let Some(from) = rest_from.filter(|&from| from < file_bytes) {
            let (_, path, out) = pieces.last().expect("a piece");
            let mut rest = vec![0u8; (file_bytes - from) as usize];
            files::read_exact_at(file, &mut rest, from, &self.log_path)?;
            let at = out.metadata().map_err(Error::io("stat", path))?.len();
            self.spec.io.write_all_at(out, path, &rest, at).map_err(Error::io("write", path))?;
        }
        let mut written = Vec::new();
        for (base, path, out) in pieces {
            self.spec.io.sync_data(&out, &path).map_err(Error::io("fsync", &path))?;
            written.push((base, path));
        }
        Ok(written)
    }
}
