//! Retention policy (Kafka's `UnifiedLog.deleteOldSegments`): which of a partition's oldest
//! segments go. Pure: facts about segments in, a count out.
//!
//! Three predicates, in Kafka's order, each examining the segments left by the one before,
//! oldest first, and stopping at the first segment that must stay:
//!
//! 1. log start offset: a segment goes when everything in it is below the log start offset
//!    (the next segment's base offset, or the log end offset for the last, is ≤ it). Applies
//!    to every cleanup policy: this is how delete-records frees space.
//! 2. size (`retention.bytes` ≥ 0, policies with `delete`): with `excess = total − retention.bytes`,
//!    a segment goes while `excess − its size ≥ 0`; the log never drops below the limit.
//! 3. time (`retention.ms` ≥ 0, policies with `delete`): a segment goes when
//!    `now − its largest timestamp > retention.ms`.
//!
//! An empty last segment never goes. If every segment goes, the caller rolls a new empty active
//! segment first, so a partition always has one.

use crate::config::TopicConfig;

/// What retention needs to know about one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentFacts {
    pub base_offset: u64,
    pub size: u64,
    /// Largest record timestamp, or the file's modification time if it has none.
    pub largest_timestamp: i64,
}

/// Which rules a pass applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rules {
    /// The log start offset, size and time (a retention pass).
    All,
    /// Only the log start offset (delete-records).
    LogStartOffset,
}

/// How many of the oldest segments retention deletes.
pub(crate) fn deletable_prefix(
    segments: &[SegmentFacts],
    log_start_offset: u64,
    log_end_offset: u64,
    config: &TopicConfig,
    now_ms: i64,
    rules: Rules,
) -> usize {
    let last = segments.len().saturating_sub(1);
    let upper = |i: usize| segments.get(i + 1).map_or(log_end_offset, |s| s.base_offset);
    let may_go = |i: usize| i < segments.len() && !(i == last && segments[i].size == 0);
    let mut n = 0;
    while may_go(n) && upper(n) <= log_start_offset {
        n += 1;
    }
    if rules == Rules::LogStartOffset || !config.cleanup_policy.deletes() {
        return n;
    }
    if config.retention_bytes >= 0 {
        let total = segments[n..].iter().fold(0u64, |t, s| t.saturating_add(s.size));
        // In i128: sizes come from file lengths, and nothing here may wrap.
        let mut excess = total as i128 - config.retention_bytes as i128;
        while may_go(n) && excess - segments[n].size as i128 >= 0 {
            excess -= segments[n].size as i128;
            n += 1;
        }
    }
    if config.retention_ms >= 0 {
        while may_go(n) && now_ms.saturating_sub(segments[n].largest_timestamp) > config.retention_ms {
            n += 1;
        }
    }
    n
}

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Partition, Writer};
use crate::error::Result;
use crate::segment::Segment;

/// What one retention pass deleted from a partition ([`Partition::enforce_retention`],
/// [`Log::enforce_retention`](crate::Log::enforce_retention)).
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Log, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let mut config = TopicConfig::default();
/// config.retention_bytes = 1_000;
/// let p = log.create_topic("t", 1, config)?.partition(0)?;
/// for _ in 0..3 {
///     p.append(&[Record::new(&[0; 600])])?;
///     p.roll()?; // one batch per segment
/// }
/// let oldest = p.segments()[0].size();
/// let outcome = p.enforce_retention()?.unwrap();
/// assert_eq!((outcome.partition.as_str(), outcome.segments_deleted), ("t-0", 1));
/// assert_eq!((outcome.bytes_deleted, outcome.log_start_offset), (oldest, 1));
/// assert!(p.size_bytes() >= 1_000); // never below retention.bytes
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionOutcome {
    /// `<topic>-<partition>`.
    pub partition: String,
    /// Segments deleted.
    pub segments_deleted: usize,
    /// Bytes of their data files.
    pub bytes_deleted: u64,
    /// The log start offset afterwards.
    pub log_start_offset: u64,
}

impl Partition {
    /// Applies time and size retention and the log start offset now (see [`crate::Log::enforce_retention`]).
    /// Returns what was deleted, or `None` if nothing was.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::sync::Arc;
    /// use partlog::{Log, LogOptions, ManualClock, Record, TopicConfig};
    /// let clock = Arc::new(ManualClock::new(1_000_000));
    /// let log = Log::open_with(dir.path(), LogOptions::default().clock(clock.clone()))?;
    /// let mut config = TopicConfig::default();
    /// config.retention_ms = 60_000;
    /// let p = log.create_topic("t", 1, config)?.partition(0)?;
    /// p.append(&[Record::new(b"old").with_timestamp(1_000_000)])?;
    /// p.roll()?;
    /// p.append(&[Record::new(b"new").with_timestamp(1_050_000)])?;
    ///
    /// clock.set_ms(1_100_000); // the first segment is 100 s old, the second 50 s
    /// let outcome = p.enforce_retention()?.unwrap();
    /// assert_eq!((outcome.segments_deleted, outcome.log_start_offset), (1, 1));
    /// assert!(p.read(0, 100).is_err());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn enforce_retention(&self) -> Result<Option<RetentionOutcome>> {
        let writer = self.inner.writer.lock();
        self.check_writable()?;
        self.delete_old_segments(&writer, Rules::All)
    }

    /// Advances the log start offset to `offset` (Kafka's DeleteRecords): records below it are no
    /// longer readable, and whole segments below it are deleted. Returns the new log start offset.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b"), Record::new(b"c")])?;
    /// assert_eq!(p.delete_records(2)?, 2);
    /// assert_eq!(p.read(2, 100)?[0].value.as_deref(), Some(&b"c"[..]));
    /// assert!(p.read(1, 100).is_err());
    /// assert_eq!(p.delete_records(1)?, 2, "the log start offset never moves back");
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn delete_records(&self, offset: u64) -> Result<u64> {
        let writer = self.inner.writer.lock();
        self.check_writable()?;
        if offset > self.log_end_offset() {
            return Err(self.out_of_range(offset));
        }
        self.inner.log_start_offset.fetch_max(offset, Ordering::AcqRel);
        self.delete_old_segments(&writer, Rules::LogStartOffset)?;
        Ok(self.log_start_offset())
    }

    /// Deletes the segments retention selects; the caller holds the append lock.
    fn delete_old_segments(&self, writer: &Writer, rules: Rules) -> Result<Option<RetentionOutcome>> {
        let inner = &*self.inner;
        let now = inner.clock.now_ms();
        let segments = self.segments();
        let facts = segments
            .iter()
            .map(|s| {
                let largest_timestamp = s.retention_timestamp()?;
                Ok(SegmentFacts { base_offset: s.base_offset(), size: s.size(), largest_timestamp })
            })
            .collect::<Result<Vec<_>>>()?;
        let end = self.log_end_offset();
        let n = deletable_prefix(&facts, self.log_start_offset(), end, &self.config(), now, rules);
        self.purge_deleted(now);
        if n == 0 {
            return Ok(None);
        }
        if n == segments.len() {
            // Everything goes: a new empty active segment first, so the partition keeps one.
            self.roll_to(writer, &segments[n - 1], end, super::append::RollFlush::Now)?;
        }
        // The log start offset moves first: a reader then gets OffsetOutOfRange, not a skip.
        let survivor = self.segments()[n].base_offset();
        inner.log_start_offset.fetch_max(survivor, Ordering::AcqRel);
        let doomed = inner.segments.remove_first(n);
        inner.dir_dirty.store(true, Ordering::Release);
        self.delete_later(now, &doomed)?;
        self.purge_deleted(now);
        Ok(Some(RetentionOutcome {
            partition: self.name(),
            segments_deleted: n,
            bytes_deleted: doomed.iter().fold(0, |t, s| t.saturating_add(s.size())),
            log_start_offset: self.log_start_offset(),
        }))
    }

    /// Renames the files of segments removed from the set `.deleted`, to be unlinked after
    /// `file.delete.delay.ms` (their files are opened first, so readers holding them keep
    /// reading). What was renamed before a failure is still scheduled.
    pub(super) fn delete_later(&self, now_ms: i64, segments: &[Arc<Segment>]) -> Result<()> {
        let inner = &*self.inner;
        let mut renamed = Vec::new();
        let result = segments.iter().try_for_each(|s| s.rename_for_deletion().map(|paths| renamed.extend(paths)));
        inner.pending_deletes.lock().push((now_ms.saturating_add(self.config().file_delete_delay_ms), renamed));
        result
    }

    /// Unlinks `.deleted` files whose `file.delete.delay.ms` has passed. Readers that still hold
    /// a deleted segment keep reading through its open file.
    pub(crate) fn purge_deleted(&self, now_ms: i64) {
        let mut pending = self.inner.pending_deletes.lock();
        pending.retain(|(due, paths)| {
            if *due > now_ms {
                return true;
            }
            for path in paths {
                // A leftover is removed at the next open.
                let _ = std::fs::remove_file(path);
            }
            false
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CleanupPolicy;

    fn facts(spec: &[(u64, u64, i64)]) -> Vec<SegmentFacts> {
        spec.iter()
            .map(|&(base_offset, size, largest_timestamp)| SegmentFacts { base_offset, size, largest_timestamp })
            .collect()
    }

    fn config(retention_ms: i64, retention_bytes: i64) -> TopicConfig {
        TopicConfig { retention_ms, retention_bytes, ..TopicConfig::default() }
    }

    #[test]
    fn time_retention_stops_at_the_first_segment_that_must_stay() {
        // A future-dated record in the second segment keeps it and everything after it.
        let s = facts(&[(0, 100, 1_000), (10, 100, 99_000), (20, 100, 2_000), (30, 100, 3_000)]);
        assert_eq!(deletable_prefix(&s, 0, 40, &config(5_000, -1), 10_000, Rules::All), 1);
        assert_eq!(deletable_prefix(&s, 0, 40, &config(5_000, -1), 200_000, Rules::All), 4);
        assert_eq!(deletable_prefix(&s, 0, 40, &config(-1, -1), 200_000, Rules::All), 0, "-1: unlimited");
        // Exactly retention.ms old stays ("older than" is strict).
        assert_eq!(deletable_prefix(&s, 0, 40, &config(9_000, -1), 10_000, Rules::All), 0);
        // Delete-records applies only the log start offset.
        assert_eq!(deletable_prefix(&s, 10, 40, &config(5_000, -1), 200_000, Rules::LogStartOffset), 1);
    }

    #[test]
    fn size_retention_never_drops_below_the_limit() {
        let s = facts(&[(0, 100, 0), (10, 150, 0), (20, 100, 0), (30, 50, 0)]);
        // Total 400. Limit 250: excess 150 → the first (100) goes, the second (150) would overshoot.
        assert_eq!(deletable_prefix(&s, 0, 40, &config(-1, 250), 0, Rules::All), 1);
        assert_eq!(deletable_prefix(&s, 0, 40, &config(-1, 150), 0, Rules::All), 2);
        assert_eq!(deletable_prefix(&s, 0, 40, &config(-1, 0), 0, Rules::All), 4);
        assert_eq!(deletable_prefix(&s, 0, 40, &config(-1, 400), 0, Rules::All), 0);
    }

    #[test]
    fn an_empty_active_segment_never_goes_and_log_start_applies_to_compacted_topics() {
        let s = facts(&[(0, 100, 0), (10, 0, -1)]);
        assert_eq!(deletable_prefix(&s, 0, 10, &config(1, -1), 1_000_000, Rules::All), 1);
        let mut compact = config(1, 0);
        compact.cleanup_policy = CleanupPolicy::Compact;
        let s = facts(&[(0, 100, 0), (10, 100, 0), (20, 100, 0)]);
        assert_eq!(deletable_prefix(&s, 0, 30, &compact, 1_000_000, Rules::All), 0, "compact ignores time and size");
        assert_eq!(deletable_prefix(&s, 20, 30, &compact, 1_000_000, Rules::All), 2, "but not the log start offset");
        assert_eq!(deletable_prefix(&s, 25, 30, &compact, 1_000_000, Rules::All), 2);
        assert_eq!(deletable_prefix(&s, 30, 30, &compact, 1_000_000, Rules::All), 3);
    }
}
