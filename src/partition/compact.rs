//! Compaction passes over a partition (Kafka's `LogCleaner` and `Cleaner.doClean`): choosing the
//! cleanable segments, filling the key map, writing cleaned copies and swapping them in. The
//! rules themselves (what is kept) are pure, in `crate::compaction`.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::Partition;
use crate::compaction::{control_type, AbortedTxns, Filter, OffsetMap};
use crate::error::{Error, Result};
use crate::format::batch;
use crate::segment::{ReadMode, Segment, SegmentRead};
use crate::storage::files;
use crate::storage::io::Io;

/// What one compaction pass did to a partition.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{CleanupPolicy, Log, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let mut config = TopicConfig::default();
/// config.cleanup_policy = CleanupPolicy::Compact;
/// let p = log.create_topic("users", 1, config)?.partition(0)?;
/// p.append(&[Record::new(b"v1").with_key(b"alice"), Record::new(b"v1").with_key(b"bob")])?;
/// p.append(&[Record::new(b"v2").with_key(b"alice")])?;
/// p.roll()?;
/// let outcome = p.compact()?.unwrap();
/// assert_eq!(outcome.partition, "users-0");
/// assert_eq!((outcome.segments_cleaned, outcome.records_removed), (1, 1));
/// assert!(outcome.bytes_after < outcome.bytes_before);
/// assert_eq!(outcome.first_dirty_offset, 3); // all of it clean, up to the active segment
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionOutcome {
    /// `<topic>-<partition>`.
    pub partition: String,
    /// Segments rewritten (segments with nothing to remove are left alone).
    pub segments_cleaned: usize,
    /// Records removed: superseded, keyless, or tombstones past their horizon.
    pub records_removed: u64,
    /// Bytes of the segments examined, before.
    pub bytes_before: u64,
    /// Their bytes after.
    pub bytes_after: u64,
    /// The next pass fills its key map from here (`cleaner-offset-checkpoint`).
    pub first_dirty_offset: u64,
}

/// When a compaction pass runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// Whatever the dirty ratio.
    Now,
    /// Only once the dirty part reaches `min.cleanable.dirty.ratio` (the maintenance thread).
    IfDirty,
}

/// Bytes read at a time while compacting a segment.
const CLEANER_CHUNK_BYTES: u64 = 4 << 20;

impl Partition {
    /// Compacts now, whatever `min.cleanable.dirty.ratio` says: in the segments below the
    /// active one (and older than `min.compaction.lag.ms`), only the latest record of each key is
    /// kept, tombstones until `delete.retention.ms` after they were first cleaned, and records
    /// of aborted transactions go; offsets never change (the README's "Log compaction" section
    /// has the rules, which are Kafka's). `Ok(None)`: no segment to compact yet (only the active
    /// one, or none older than `min.compaction.lag.ms`).
    ///
    /// Errors: [`Error::NotCompacted`] if the topic's `cleanup.policy` lacks `compact` (or gained
    /// it on this open log: see [`Log::alter_topic_config`](crate::Log::alter_topic_config));
    /// [`Error::ReadOnly`].
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{CleanupPolicy, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let mut config = TopicConfig::default();
    /// config.cleanup_policy = CleanupPolicy::Compact;
    /// let p = log.create_topic("users", 1, config)?.partition(0)?;
    /// p.append(&[Record::new(b"v1").with_key(b"alice"), Record::new(b"v1").with_key(b"bob")])?;
    /// p.append(&[Record::new(b"v2").with_key(b"alice")])?;
    /// p.roll()?; // the active segment is never compacted
    ///
    /// let outcome = p.compact()?.unwrap();
    /// assert_eq!(outcome.records_removed, 1);
    /// let latest: Vec<_> = p.read(0, 1 << 20)?.into_iter().map(|r| (r.offset, r.key.unwrap(), r.value.unwrap())).collect();
    /// assert_eq!(latest, [(1, b"bob".to_vec(), b"v1".to_vec()), (2, b"alice".to_vec(), b"v2".to_vec())]);
    /// assert_eq!(p.compact()?.unwrap().records_removed, 0); // a second pass finds nothing new
    ///
    /// let events = log.create_topic("events", 1, TopicConfig::default())?.partition(0)?;
    /// assert!(matches!(events.compact(), Err(partlog::Error::NotCompacted { .. })));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn compact(&self) -> Result<Option<CompactionOutcome>> {
        self.compact_pass(Trigger::Now)
    }

    /// Compacts only if the dirty part of the cleanable segments is at least
    /// `min.cleanable.dirty.ratio` of their bytes: the maintenance thread's check. `Ok(None)`
    /// also for a partition that is not compacted.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{CleanupPolicy, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let mut config = TopicConfig::default();
    /// config.cleanup_policy = CleanupPolicy::Compact; // min.cleanable.dirty.ratio 0.5
    /// let p = log.create_topic("users", 1, config)?.partition(0)?;
    /// p.append(&[Record::new(b"v1").with_key(b"alice")])?;
    /// p.append(&[Record::new(b"v2").with_key(b"alice")])?;
    /// p.roll()?;
    /// assert_eq!(p.compact_if_dirty()?.unwrap().records_removed, 1); // all dirty: ratio 1
    /// assert_eq!(p.compact_if_dirty()?, None); // nothing dirty left
    ///
    /// let events = log.create_topic("events", 1, TopicConfig::default())?.partition(0)?;
    /// assert_eq!(events.compact_if_dirty()?, None); // not compacted: no error
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn compact_if_dirty(&self) -> Result<Option<CompactionOutcome>> {
        self.compact_pass(Trigger::IfDirty)
    }

    fn compact_pass(&self, trigger: Trigger) -> Result<Option<CompactionOutcome>> {
        let inner = &*self.inner;
        let config = self.config();
        let not_compacted = if !config.cleanup_policy.compacts() {
            Some("its topic's cleanup.policy does not include compact")
        } else if inner.offsets == crate::segment::Offsets::Dense {
            Some(
                "cleanup.policy=compact was set on this open log for a topic created without it: compaction \
                 starts at the next open (until then its offsets are dense, and reads check that)",
            )
        } else {
            None
        };
        if let Some(reason) = not_compacted {
            return match trigger {
                Trigger::Now => Err(Error::NotCompacted { partition: self.name(), reason }),
                Trigger::IfDirty => Ok(None),
            };
        }
        let _cleaner = inner.cleaner.lock();
        self.check_writable()?;
        let now = inner.clock.now_ms();
        let segments = self.segments();
        // Whole segments below the active one, and below the first one younger than the lag.
        let mut cleanable = 0;
        while cleanable + 1 < segments.len() {
            let lag = config.min_compaction_lag_ms;
            if lag > 0 && segments[cleanable].largest_timestamp()? > now.saturating_sub(lag) {
                break;
            }
            cleanable += 1;
        }
        if cleanable == 0 {
            return Ok(None);
        }
        let upper = |i: usize| segments[i + 1].base_offset();
        let cleanable_end = upper(cleanable - 1);
        let first_dirty =
            inner.first_dirty_offset.load(Ordering::Acquire).max(self.log_start_offset()).min(cleanable_end);
        let total = segments[..cleanable].iter().fold(0u64, |t, s| t.saturating_add(s.size()));
        let dirty =
            (0..cleanable).filter(|&i| upper(i) > first_dirty).fold(0u64, |t, i| t.saturating_add(segments[i].size()));
        if trigger == Trigger::IfDirty
            && (dirty == 0 || (dirty as f64) < config.min_cleanable_dirty_ratio * total as f64)
            && !self.compaction_overdue(&segments[..cleanable], first_dirty, now)?
        {
            return Ok(None);
        }

        // Aborted transactions, from the markers in the cleanable range.
        let mut aborted = AbortedTxns::default();
        for segment in &segments[..cleanable] {
            self.for_each_chunk(segment, |chunk| {
                for found in batch::Batches::new(chunk, u64::MAX, batch::AtCut::Fail) {
                    let b = found.map_err(|p| segment.decode_error(0, batch::DecodeError::Format(p.problem)))?;
                    if b.header.is_transactional() {
                        aborted.observe(&b.header, control_type(&b.header, b.bytes));
                    }
                }
                Ok(())
            })?;
        }

        // The key map, from the dirty range, until it is full (aborted data gives no keys).
        let mut map = OffsetMap::with_memory(inner.dedupe_buffer_bytes).ok_or_else(|| Error::InvalidConfig {
            key: "log.cleaner.dedupe.buffer.size".into(),
            value: inner.dedupe_buffer_bytes.to_string(),
            reason: "the memory for the key map cannot be allocated".into(),
        })?;
        let mut map_end = cleanable_end;
        'fill: for i in (0..cleanable).filter(|&i| upper(i) > first_dirty) {
            let mut full_at = None;
            self.for_each_chunk(&segments[i], |chunk| {
                batch::for_each_record(chunk, |header, r| {
                    if full_at.is_none()
                        && !header.is_control()
                        && r.offset() >= first_dirty
                        && !aborted.contains(header)
                    {
                        if let Some(key) = r.key() {
                            if !map.put(key, r.offset()) {
                                full_at = Some(r.offset());
                            }
                        }
                    }
                })
                .map(drop)
            })?;
            if let Some(offset) = full_at {
                map_end = offset;
                break 'fill;
            }
        }

        let filter = Filter {
            map: &map,
            aborted: &aborted,
            map_end,
            now_ms: now,
            delete_retention_ms: config.delete_retention_ms,
            levels: config.codec_levels(),
        };
        let mut outcome = CompactionOutcome {
            partition: self.name(),
            segments_cleaned: 0,
            records_removed: 0,
            bytes_before: 0,
            bytes_after: 0,
            first_dirty_offset: 0,
        };
        for segment in segments[..cleanable].iter().filter(|s| s.base_offset() < map_end) {
            let (cleaned, size, removed) = self.clean_segment(segment, &filter)?;
            outcome.bytes_before += segment.size();
            outcome.records_removed += removed;
            outcome.bytes_after += size;
            if let Some(path) = cleaned {
                self.swap_in(segment, &path, size)?;
                outcome.segments_cleaned += 1;
            }
        }
        inner.first_dirty_offset.fetch_max(map_end, Ordering::AcqRel);
        outcome.first_dirty_offset = self.first_dirty_offset();
        Ok(Some(outcome))
    }

    /// Kafka's `max.compaction.lag.ms`: the first dirty segment's first batch has waited longer
    /// than it, so a pass runs whatever the dirty ratio.
    fn compaction_overdue(&self, cleanable: &[Arc<Segment>], first_dirty: u64, now_ms: i64) -> Result<bool> {
        let lag = self.config().max_compaction_lag_ms;
        if lag == i64::MAX {
            return Ok(false);
        }
        let following = |i: usize| cleanable.get(i + 1).map_or(u64::MAX, |s| s.base_offset());
        let Some(first) = (0..cleanable.len()).find(|&i| following(i) > first_dirty) else { return Ok(false) };
        let first_batch_timestamp = cleanable[first].first_batch_timestamp()?;
        Ok(first_batch_timestamp >= 0 && first_batch_timestamp < now_ms.saturating_sub(lag))
    }

    /// Where compaction's next key map starts.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{CleanupPolicy, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let mut config = TopicConfig::default();
    /// config.cleanup_policy = CleanupPolicy::Compact;
    /// let p = log.create_topic("users", 1, config)?.partition(0)?;
    /// p.append(&[Record::new(b"v1").with_key(b"alice"), Record::new(b"v2").with_key(b"alice")])?;
    /// p.roll()?;
    /// p.append(&[Record::new(b"v3").with_key(b"alice")])?;
    /// assert_eq!(p.first_dirty_offset(), 0);
    /// p.compact()?;
    /// assert_eq!(p.first_dirty_offset(), 2); // the active segment is never compacted
    /// p.delete_records(3)?;
    /// assert_eq!(p.first_dirty_offset(), 3); // never below the log start offset
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn first_dirty_offset(&self) -> u64 {
        self.inner.first_dirty_offset.load(Ordering::Acquire).max(self.log_start_offset())
    }

    /// Calls `visit` with the segment's whole batches, a few MiB at a time.
    fn for_each_chunk(&self, segment: &Segment, mut visit: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
        let mut buf = Vec::new();
        let mut next = segment.base_offset();
        loop {
            buf.clear();
            let mode = ReadMode { min_one: true, borrow: false, every_crc: true };
            match segment.read(next, u64::MAX, CLEANER_CHUNK_BYTES, mode, &mut buf)? {
                SegmentRead::Batches { next_offset, reached_end, .. } => {
                    visit(&buf)?;
                    next = next_offset;
                    if reached_end {
                        return Ok(());
                    }
                }
                SegmentRead::Nothing | SegmentRead::DoesNotFit => return Ok(()),
            }
        }
    }

    /// Writes the filtered copy of `segment` to `<base>.log.cleaned` and fsyncs it. Returns its
    /// path (`None` if nothing would change, and no file is left), its size and the records removed.
    fn clean_segment(&self, segment: &Segment, filter: &Filter<'_>) -> Result<(Option<PathBuf>, u64, u64)> {
        let io: &dyn Io = &*self.inner.io;
        let cleaned_path = files::with_suffix(segment.log_path(), files::CLEANED_SUFFIX);
        let file = std::fs::File::create(&cleaned_path).map_err(Error::io("create", &cleaned_path))?;
        let (mut size, mut removed, mut changed) = (0u64, 0u64, 0u64);
        let mut out = Vec::new();
        self.for_each_chunk(segment, |chunk| {
            out.clear();
            let done = filter.apply(chunk, &mut out).map_err(|e| segment.decode_error(0, e))?;
            removed += done.records_removed;
            changed += done.batches_changed;
            io.write_all_at(&file, &cleaned_path, &out, size).map_err(Error::io("write", &cleaned_path))?;
            size += out.len() as u64;
            Ok(())
        })?;
        if changed == 0 {
            drop(file);
            std::fs::remove_file(&cleaned_path).map_err(Error::io("delete", &cleaned_path))?;
            return Ok((None, segment.size(), 0));
        }
        io.sync_data(&file, &cleaned_path).map_err(Error::io("fsync", &cleaned_path))?;
        Ok((Some(cleaned_path), size, removed))
    }

    /// Kafka's swap: `.cleaned` → `.swap`, the old files → `.deleted`, `.swap` → the final name,
    /// with directory fsyncs between, so that recovery finishes or undoes it (docs/design.md).
    fn swap_in(&self, old: &Arc<Segment>, cleaned: &Path, size: u64) -> Result<()> {
        let inner = &*self.inner;
        let _writer = inner.writer.lock();
        if !self.segments().iter().any(|s| Arc::ptr_eq(s, old)) {
            // Deleted by retention or truncation meanwhile.
            return std::fs::remove_file(cleaned).map_err(Error::io("delete", cleaned));
        }
        let log_path = old.log_path().to_owned();
        let swap = files::with_suffix(&log_path, files::SWAP_SUFFIX);
        std::fs::rename(cleaned, &swap).map_err(Error::io("rename", cleaned))?;
        // Interrupted from here on, the swap leaves the segment list naming files that moved:
        // stop writes until a reopen finishes the swap (`docs/design.md`, Recovery).
        self.finish_swap(old, &swap, size)
            .inspect_err(|e| self.inner.io.stop(|| format!("compaction swap failed: {e}")))
    }

    /// The rest of [`swap_in`](Self::swap_in), once the cleaned file is named `.swap`.
    fn finish_swap(&self, old: &Arc<Segment>, swap: &Path, size: u64) -> Result<()> {
        let inner = &*self.inner;
        let log_path = old.log_path().to_owned();
        files::sync_dir(&*inner.io, &inner.dir)?;
        let now = inner.clock.now_ms();
        self.delete_later(now, std::slice::from_ref(old))?;
        let first = self.segments().first().is_some_and(|s| Arc::ptr_eq(s, old));
        if size == 0 && !first {
            // Emptied: no segment takes its place (Kafka merges it into a neighbour). Its offsets
            // hold no record; reads pass from the segment before it to the one after. The first
            // segment stays, as it marks where the log starts.
            std::fs::remove_file(swap).map_err(Error::io("delete", swap))?;
            files::sync_dir(&*inner.io, &inner.dir)?;
            let removed = inner.segments.remove(old);
            debug_assert!(removed, "the append lock keeps the set as it was checked");
            return Ok(());
        }
        std::fs::rename(swap, &log_path).map_err(Error::io("rename", swap))?;
        files::sync_dir(&*inner.io, &inner.dir)?;
        // Its index files were renamed away with the old segment: written now, as Kafka writes
        // them with the cleaned segment (a crash before they are rebuilds them at the next open).
        let segment = Segment::load(log_path, old.base_offset(), size, self.segment_spec(), now);
        segment.offset_index()?;
        segment.flush()?;
        let replaced = inner.segments.replace(old, Arc::new(segment));
        debug_assert!(replaced, "the append lock keeps the set as it was checked");
        Ok(())
    }
}
