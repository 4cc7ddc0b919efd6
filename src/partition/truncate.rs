//! Truncation (Kafka's `UnifiedLog.truncateTo`): removing every record at and after an offset,
//! by whole batches, durable before it returns.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{lost, Partition};
use crate::error::Result;
use crate::segment::{Offsets, Segment};
use crate::storage::files;

impl Partition {
    /// Removes every record at and after `offset` (for rolling back, or replication built on
    /// top). Truncation is by whole batches, as in Kafka: the batch holding `offset` goes too, so
    /// the log end offset becomes that batch's base offset. Returns the new log end offset. The
    /// cut is fsynced before this returns. Readers in the middle of the removed data get an
    /// error, never the removed records.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b")])?; // one batch: 0..=1
    /// p.append(&[Record::new(b"c")])?; // 2
    /// assert_eq!(p.truncate_to(2)?, 2);
    /// assert_eq!(p.truncate_to(1)?, 0, "the whole batch 0..=1 goes");
    /// assert_eq!(p.append(&[Record::new(b"again")])?.first_offset, 0);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn truncate_to(&self, offset: u64) -> Result<u64> {
        let new_end = self.truncate_locked(offset)?;
        // The lowered recovery point is recorded now: a recovery point checkpoint past the log
        // end reads as lost data at the next open (`Partition::open`).
        (self.inner.on_truncate)()?;
        Ok(new_end)
    }

    fn truncate_locked(&self, offset: u64) -> Result<u64> {
        let inner = &*self.inner;
        let _writer = inner.writer.lock();
        let _sync = inner.sync_lock.lock();
        self.check_writable()?;
        let end = self.log_end_offset();
        if offset >= end {
            return Ok(end);
        }
        // The recovery point ends at the new end below: every sealed segment under it must be
        // durable first.
        self.flush_sealed_locked()?;
        if offset < self.log_start_offset() {
            return Err(self.out_of_range(offset));
        }
        let (old, _) = self.inner.segments.holding(offset);
        let (cut, new_end) = match old.locate(offset, old.size())? {
            Some((position, header)) => (position, (header.base_offset as u64).min(offset)),
            None => (old.size(), offset),
        };
        // Interrupted from here on, truncation leaves the files and the partition's view of them
        // apart (a data file cut, the log end offset not yet moved): stop writes until a reopen
        // recovers from what is on disk.
        self.cut_at(&old, cut, new_end).inspect_err(|e| self.inner.io.stop(|| format!("truncation failed: {e}")))
    }

    /// Cuts `old` at byte `cut`, the start of the batch holding `new_end` (or its end), and
    /// removes every later segment. The caller holds the append and sync locks.
    fn cut_at(&self, old: &Arc<Segment>, cut: u64, new_end: u64) -> Result<u64> {
        let inner = &*self.inner;
        let now = inner.clock.now_ms();
        // Later segments go the way retention's do; the cut one is replaced by a fresh segment
        // object (new index files), so readers holding the old one keep valid mappings. Its data
        // file is cut in place unless a reader still borrows its mapping: then the kept bytes go
        // to a new file renamed over it (`Segment::cut_to`).
        old.forget_checked();
        old.unmap();
        let mut replacement =
            Segment::load(old.log_path().to_owned(), old.base_offset(), old.size(), self.segment_spec(), now);
        replacement.cut_to(cut)?;
        replacement.truncate_txn_index(new_end)?;
        replacement.rebuild_indexes(old.base_offset(), Offsets::Increasing)?;
        replacement.flush()?;
        replacement.map_for_append()?;
        let later = inner.segments.replace_and_cut_after(old, Arc::new(replacement)).unwrap_or_default();
        self.delete_later(now, &later)?;
        inner.log_end_offset.store(new_end, Ordering::SeqCst);
        // Offsets from the new end on are handed out again: none of them is lost any more.
        let had_lost = {
            let mut lost = inner.lost.lock();
            let had = !lost.is_empty();
            lost.retain_mut(|lost| {
                lost.range.end = lost.range.end.min(new_end);
                !lost.range.is_empty()
            });
            had
        };
        if had_lost {
            let mut record = lost::read_record(&inner.dir)?;
            let before = record.clone();
            record.retain_mut(|r| {
                r.end = r.end.min(new_end);
                !r.is_empty()
            });
            if record != before {
                lost::write_record(&*inner.io, &inner.dir, &record)?;
            }
        }
        inner.recovery_point.fetch_min(new_end, Ordering::AcqRel);
        inner.log_start_offset.fetch_min(new_end, Ordering::AcqRel);
        files::sync_dir(&*inner.io, &inner.dir)?;
        inner.recovery_point.store(new_end, Ordering::Release);
        Ok(new_end)
    }
}
