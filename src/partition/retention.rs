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
        let total: u64 = segments[n..].iter().map(|s| s.size).sum();
        let mut excess = total as i64 - config.retention_bytes;
        while may_go(n) && excess - segments[n].size as i64 >= 0 {
            excess -= segments[n].size as i64;
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
