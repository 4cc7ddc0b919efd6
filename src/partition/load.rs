//! Opening a partition after an unclean shutdown (Kafka's `LogLoader`): stray files of
//! interrupted operations, then a batch-by-batch check of every segment from the recovery point
//! on. The decision table is in `docs/design.md` (Recovery).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::partition::RecoveryEvent;
use crate::segment::{self, Segment, SegmentSpec};

/// Suffix of files scheduled for deletion (retention, compaction).
pub(crate) const DELETED_SUFFIX: &str = ".deleted";
/// Suffix of compaction output still being written.
pub(crate) const CLEANED_SUFFIX: &str = ".cleaned";
/// Suffix of compaction output being swapped in.
pub(crate) const SWAP_SUFFIX: &str = ".swap";

/// One recovery pass over a partition's segments.
pub(crate) struct Recovery<'a> {
    /// Partition directory name, for the report.
    pub partition: &'a str,
    /// The recovery point: segments wholly below it are trusted.
    pub from: u64,
    /// Require each batch to start right after the previous one (topics that are not compacted).
    pub dense: bool,
    /// Refuse to open on corruption instead of cutting it off.
    pub strict: bool,
}

impl Recovery<'_> {
    /// Checks every segment from the one holding the recovery point on, rebuilding their
    /// indexes. At the first invalid batch the segment is cut there and every later segment is
    /// deleted (or, in strict mode, the open fails and nothing is changed). Returns the log end
    /// offset.
    pub(crate) fn run(&self, segments: &mut Vec<Segment>, events: &mut Vec<RecoveryEvent>) -> Result<u64> {
        let start = segments.partition_point(|s| s.base_offset() <= self.from).saturating_sub(1);
        let mut floor = segments[start].base_offset();
        let mut i = start;
        loop {
            let last = i + 1 == segments.len();
            let segment = &mut segments[i];
            let segment_floor = floor.max(segment.base_offset());
            let outcome = segment.rebuild_indexes(segment_floor, self.dense)?;
            let next = outcome.next_offset.unwrap_or(segment_floor);
            if let Some((position, problem)) = outcome.problem {
                // Zero-filled space past the last append (see `segment`): not damage.
                if last && segment.zeros_from(outcome.valid_bytes)? {
                    segment.cut_to(outcome.valid_bytes)?;
                    return Ok(next);
                }
                if self.strict {
                    return Err(Error::CorruptBatch { path: segment.log_path().to_owned(), position, problem });
                }
                segment.cut_to(outcome.valid_bytes)?;
                events.push(RecoveryEvent {
                    partition: self.partition.to_owned(),
                    segment: segment.log_path().to_owned(),
                    position,
                    bytes_dropped: outcome.file_bytes - outcome.valid_bytes,
                    reason: problem.to_string(),
                });
                for later in segments.drain(i + 1..) {
                    later.delete_files()?;
                    events.push(RecoveryEvent {
                        partition: self.partition.to_owned(),
                        segment: later.log_path().to_owned(),
                        position: 0,
                        bytes_dropped: later.size(),
                        reason: "deleted: it follows a segment whose tail was cut".into(),
                    });
                }
                return Ok(next);
            }
            if last {
                return Ok(next);
            }
            segment.trim_indexes()?;
            floor = next;
            i += 1;
        }
    }
}

/// Deletes what interrupted deletions and compactions left (`.deleted`, `.cleaned`) and finishes
/// interrupted swaps: a `<base>.log.swap` replaces the segments whose base offsets fall in its
/// offset range, then takes its final name. Index files of swapped segments are rebuilt later.
pub(crate) fn complete_interrupted_swaps(dir: &Path, spec: &SegmentSpec, now_ms: i64) -> Result<()> {
    let mut swaps: Vec<(u64, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(Error::io("list", dir))? {
        let entry = entry.map_err(Error::io("list", dir))?;
        let Ok(name) = entry.file_name().into_string() else { continue };
        if name.ends_with(DELETED_SUFFIX) || name.ends_with(CLEANED_SUFFIX) {
            std::fs::remove_file(entry.path()).map_err(Error::io("delete", entry.path()))?;
        } else if let Some(stem) = name.strip_suffix(SWAP_SUFFIX) {
            match segment::parse_segment_file_name(stem, segment::LOG_SUFFIX) {
                Some(base) => swaps.push((base, entry.path())),
                None => std::fs::remove_file(entry.path()).map_err(Error::io("delete", entry.path()))?,
            }
        }
    }
    for (base, swap_path) in swaps {
        let size = std::fs::metadata(&swap_path).map_err(Error::io("stat", &swap_path))?.len();
        let swap = Segment::load(swap_path.clone(), base, size, spec.clone(), now_ms);
        let end = swap.scan(false, base, false)?.next_offset.unwrap_or(base);
        for entry in std::fs::read_dir(dir).map_err(Error::io("list", dir))? {
            let entry = entry.map_err(Error::io("list", dir))?;
            let Ok(name) = entry.file_name().into_string() else { continue };
            if let Some(old) = segment::parse_segment_file_name(&name, segment::LOG_SUFFIX) {
                if (base..end.max(base + 1)).contains(&old) {
                    Segment::load(entry.path(), old, 0, spec.clone(), now_ms).delete_files()?;
                }
            }
        }
        let target = dir.join(segment::segment_file_name(base, segment::LOG_SUFFIX));
        std::fs::rename(&swap_path, &target).map_err(Error::io("rename into place", &swap_path))?;
    }
    Ok(())
}
