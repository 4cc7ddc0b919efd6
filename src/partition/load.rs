//! Opening a partition after an unclean shutdown (Kafka's `LogLoader`): stray files of
//! interrupted operations, then a batch-by-batch check of every segment from the recovery point
//! on. The decision table is in `docs/design.md` (Recovery).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::durability::FailStop;
use super::lost::{self, LostOffsets};
use super::{segment_spec, Loaded, Partition};
use crate::clock::Clock;
use crate::config::TopicConfig;
use crate::error::{Error, FormatError, Result};
use crate::segment::{Indexes, Offsets, Segment, SegmentSpec, MAX_SEGMENT_BYTES};
use crate::storage::files;
use crate::storage::io::Io;
use crate::storage::prefill::Prefill;

/// How a partition is opened.
pub(crate) struct OpenSpec {
    pub topic: Arc<str>,
    pub id: u32,
    pub dir: PathBuf,
    pub config: Arc<TopicConfig>,
    pub clock: Arc<dyn Clock>,
    pub io: Arc<dyn Io>,
    /// The log's prefill thread, if it runs one.
    pub prefill: Option<Arc<Prefill>>,
    /// The log was closed cleanly: trust the indexes, skip the recovery scan.
    pub clean_shutdown: bool,
    /// From the recovery-point checkpoint: offsets below it were fsynced. `None` recovers all.
    pub recovery_point: Option<u64>,
    /// From the log-start-offset checkpoint.
    pub log_start_offset: Option<u64>,
    /// From the cleaner-offset checkpoint: where compaction's next key map starts.
    pub first_dirty_offset: Option<u64>,
    /// Memory for compaction's key map.
    pub dedupe_buffer_bytes: usize,
    /// Refuse to open on corruption instead of cutting it off.
    pub strict: bool,
    /// Records the partition's recovery point in the log's checkpoint, after a truncation
    /// lowered it.
    pub on_truncate: CheckpointHook,
    /// How batches' offsets follow each other: dense only where partlog knows the partition
    /// was never compacted (it created the topic without `compact`); compaction, Kafka's
    /// included, leaves gaps, and they are legal.
    pub offsets: Offsets,
    /// Open read-only (see [`Partition::open_read_only`]).
    pub read_only: bool,
}

/// A call into the log that writes its offset checkpoints.
pub(crate) type CheckpointHook = Arc<dyn Fn() -> Result<()> + Send + Sync>;

/// What opening a partition dropped from a damaged tail.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Log, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
/// p.append(&[Record::new(b"kept")])?;
/// let whole = p.size_bytes();
/// p.append(&[Record::new(b"torn")])?;
/// let (segment, cut) = (p.segments()[0].log_path().to_owned(), p.size_bytes() - 10);
/// drop(p);
/// log.simulate_crash();
/// // The process died with the second batch half written.
/// std::fs::OpenOptions::new().write(true).open(&segment).unwrap().set_len(cut).unwrap();
///
/// let log = Log::open(dir.path())?;
/// let event = &log.recovery_report()[0];
/// assert_eq!((event.partition.as_str(), &event.segment), ("t-0", &segment));
/// assert_eq!((event.position, event.bytes_dropped), (whole, cut - whole));
/// assert_eq!(log.partition("t", 0)?.log_end_offset(), 1);
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryEvent {
    /// Partition directory name, e.g. `orders-0`.
    pub partition: String,
    /// The segment data file.
    pub segment: PathBuf,
    /// Position of the first invalid byte; the file was cut there.
    pub position: u64,
    /// Bytes removed.
    pub bytes_dropped: u64,
    /// Why the bytes were invalid.
    pub reason: String,
    /// Offsets this event found lost: written (below the recorded recovery point, or where a
    /// partition's dense offsets say they must exist), and their data gone. They are never
    /// handed out again, and reads of them fail with [`Error::OffsetsLost`].
    pub lost_offsets: Option<std::ops::Range<u64>>,
}

impl Partition {
    /// Opens (or creates) the partition directory. After an unclean shutdown every segment from
    /// the recovery point on is checked batch by batch and cut at the first invalid byte (see
    /// `docs/design.md`, Recovery); what was dropped is appended to `events`.
    pub(crate) fn open(spec: OpenSpec, events: &mut Vec<RecoveryEvent>) -> Result<Partition> {
        if !spec.dir.exists() {
            std::fs::create_dir_all(&spec.dir).map_err(Error::io("create directory", &spec.dir))?;
            // The new directory's entry is durable before anything in it can be acknowledged:
            // without this fsync a power loss can take the whole partition with it.
            files::sync_dir(&*spec.io, spec.dir.parent().unwrap_or(Path::new(".")))?;
        }
        let io = Arc::new(FailStop::new(spec.io.clone()));
        let seg_spec = segment_spec(&spec.config, spec.offsets, &io, &spec.prefill, false);
        let now = spec.clock.now_ms();
        let name = format!("{}-{}", spec.topic, spec.id);
        complete_interrupted_swaps(&spec.dir, &seg_spec, now, &name, events)?;
        let found = list_segments(&spec.dir)?;
        lost::remove_unfinished(&spec.dir)?;
        let mut record = lost::read_record(&spec.dir)?;
        let mut lost = Vec::new();
        let (segments, log_end_offset, dir_dirty) = if found.is_empty() {
            (vec![Segment::create(&spec.dir, 0, seg_spec.clone(), now)?], 0, true)
        } else {
            let mut segments: Vec<Segment> = found
                .into_iter()
                .map(|(base, path, size)| Segment::load(path, base, size, seg_spec.clone(), now))
                .collect();
            let clean_end = if spec.clean_shutdown {
                open_active_clean(segments.last_mut().expect("at least one segment")).ok()
            } else {
                None
            };
            let recovered = clean_end.is_none();
            // Sealed segments that recovery will not walk get the cheap check: those below the
            // recovery point, or all of them after a clean shutdown.
            let unchecked = match recovered {
                true => {
                    let from = spec.recovery_point.unwrap_or(0);
                    segments.partition_point(|s| s.base_offset() <= from).saturating_sub(1)
                }
                false => segments.len() - 1,
            };
            check_sealed(&name, &mut segments, unchecked, &seg_spec, now, &mut lost, events)?;
            let log_end_offset = match clean_end {
                Some(end) => end,
                None => {
                    let recovery = Recovery {
                        partition: &name,
                        from: spec.recovery_point.unwrap_or(0),
                        offsets: spec.offsets,
                        strict: spec.strict,
                        spec: &seg_spec,
                        now_ms: now,
                    };
                    let end = recovery.run(&mut segments, &mut lost, events)?;
                    // What recovery validated is made durable before it counts as recovered.
                    for segment in &segments {
                        segment.flush_data()?;
                    }
                    segments.last().expect("at least one segment").map_for_append()?;
                    end
                }
            };
            (segments, log_end_offset, recovered)
        };
        let (mut segments, mut log_end_offset, mut dir_dirty) = (segments, log_end_offset, dir_dirty);
        let recorded_before = record.clone();
        remember_recorded(&name, &segments, &mut record, &mut lost, events);
        let active = segments.last().expect("at least one segment");
        let lost_below = lost_below_recovery_point(&name, active, log_end_offset, &spec, &mut lost, events)?;
        if let Some(recorded) = lost_below {
            // Recorded: where gaps are legal, nothing else would find them again.
            record.extend(lost.iter().map(|l| l.range.clone()).filter(|r| r.end == recorded));
        }
        // Durable before the segment that makes the gap is created.
        if record != recorded_before {
            lost::write_record(&*spec.io, &spec.dir, &record)?;
        }
        if let Some(recorded) = lost_below {
            // Appends continue at the recorded point, in a new segment.
            active.seal()?;
            segments.push(Segment::create(&spec.dir, recorded, seg_spec.clone(), now)?);
            log_end_offset = recorded;
            dir_dirty = true;
        }
        let segments: Vec<Arc<Segment>> = segments.into_iter().map(Arc::new).collect();
        // Kafka: max(checkpoint, first segment's base offset), within the log. A checkpoint entry
        // is a hint: one past the log end cannot be right (it would make retention delete every
        // segment), so it is reported and ignored, never acted on.
        let first_base = segments[0].base_offset().min(log_end_offset);
        let log_start_offset = match spec.log_start_offset {
            Some(checkpointed) if checkpointed > log_end_offset => {
                events.push(RecoveryEvent {
                    partition: name.clone(),
                    segment: segments[0].log_path().to_owned(),
                    position: 0,
                    bytes_dropped: 0,
                    lost_offsets: None,
                    reason: format!(
                        "log-start-offset checkpoint says {checkpointed}, past the log end offset \
                         {log_end_offset}: ignored, the log starts at {first_base}"
                    ),
                });
                first_base
            }
            checkpointed => checkpointed.unwrap_or(0).max(first_base),
        };
        let loaded = Loaded { segments, lost, log_start_offset, log_end_offset, dir_dirty };
        let partition = Partition::assemble(spec, loaded, io, now);
        if dir_dirty {
            partition.flush()?;
        }
        Ok(partition)
    }
}

/// The recorded recovery point, if the log found ends below it at `end`: offsets acknowledged as
/// durable are gone (a segment cut or deleted after they were written). They are reported and
/// added to `lost`, from `end` (or from the recorded log start offset, if later: what is below
/// it went by retention); in strict mode the open fails instead. The caller makes sure they are
/// never handed out again.
pub(super) fn lost_below_recovery_point(
    partition: &str,
    active: &Segment,
    end: u64,
    spec: &OpenSpec,
    lost: &mut Vec<LostOffsets>,
    events: &mut Vec<RecoveryEvent>,
) -> Result<Option<u64>> {
    let Some(recorded) = spec.recovery_point.filter(|&rp| rp > end) else { return Ok(None) };
    let from = end.max(spec.log_start_offset.unwrap_or(0).min(recorded));
    let reason = format!(
        "the log ends at {end}, below the recovery point {recorded} its checkpoint recorded: offsets \
         {from}..{recorded} are lost (reads of them fail); they are never handed out again, appends continue at \
         {recorded}"
    );
    if spec.strict {
        return Err(Error::BadFile { path: active.log_path().to_owned(), reason });
    }
    let lost_offsets = (from < recorded).then_some(from..recorded);
    if let Some(range) = &lost_offsets {
        lost.push(LostOffsets { range: range.clone(), after: active.log_path().to_owned() });
    }
    events.push(RecoveryEvent {
        partition: partition.to_owned(),
        segment: active.log_path().to_owned(),
        position: active.size(),
        bytes_dropped: 0,
        reason,
        lost_offsets,
    });
    Ok(Some(recorded))
}

/// Adds the lost offsets recorded at earlier opens (`record`) to `lost`, reporting those not
/// found again; drops from `record` those below the first segment (retention removed them).
pub(super) fn remember_recorded<S: std::borrow::Borrow<Segment>>(
    partition: &str,
    segments: &[S],
    record: &mut Vec<std::ops::Range<u64>>,
    lost: &mut Vec<LostOffsets>,
    events: &mut Vec<RecoveryEvent>,
) {
    let first_base = segments[0].borrow().base_offset();
    record.retain(|r| r.end > first_base);
    for range in record.iter() {
        if lost.iter().any(|l| l.range == *range) {
            continue;
        }
        let i = segments.partition_point(|s| s.borrow().base_offset() <= range.start).saturating_sub(1);
        let segment = segments[i].borrow();
        let after = segment.log_path().to_owned();
        events.push(RecoveryEvent {
            partition: partition.to_owned(),
            segment: after.clone(),
            position: segment.size(),
            bytes_dropped: 0,
            reason: format!(
                "offsets {}..{} were found lost at an earlier open (recorded in {}): reads of them fail",
                range.start,
                range.end,
                lost::LOST_OFFSETS_FILE
            ),
            lost_offsets: Some(range.clone()),
        });
        lost.push(LostOffsets { range: range.clone(), after });
    }
    lost.sort_by_key(|l| l.range.start);
}

/// The base offsets of the `.log` files in `dir`.
fn live_segment_bases(dir: &Path) -> Result<Vec<u64>> {
    let mut bases = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(Error::io("list", dir))? {
        let entry = entry.map_err(Error::io("list", dir))?;
        if let Some(base) =
            entry.file_name().to_str().and_then(|n| files::parse_segment_file_name(n, files::LOG_SUFFIX))
        {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// Checks the first `unchecked` segments with [`Segment::check_tail`], and that each segment
/// starts where the one before ends (exactly, where offsets are dense: offsets missing between
/// two segments are added to `lost`). What is wrong is reported, and left as it is: reads that
/// reach damage fail there.
fn check_sealed(
    partition: &str,
    segments: &mut Vec<Segment>,
    mut unchecked: usize,
    spec: &SegmentSpec,
    now_ms: i64,
    lost: &mut Vec<LostOffsets>,
    events: &mut Vec<RecoveryEvent>,
) -> Result<()> {
    let report = |segment: &Segment, position: u64, reason: String| RecoveryEvent {
        partition: partition.to_owned(),
        segment: segment.log_path().to_owned(),
        position,
        bytes_dropped: 0,
        reason,
        lost_offsets: None,
    };
    let mut previous_end = None;
    let mut i = 0;
    while i <= unchecked && i < segments.len() {
        let segment = &segments[i];
        let base = segment.base_offset();
        match (previous_end, spec.offsets) {
            (Some(end), Offsets::Dense) if base > end => {
                events.push(dense_gap(partition, &segments[i - 1], segment, end, lost));
            }
            (Some(end), _) if base < end => events.push(report(
                segment,
                0,
                format!("this segment starts at {base}, inside the segment before it, which ends at {end}"),
            )),
            _ => {}
        }
        if i == unchecked {
            break;
        }
        let tail = segment.check_tail()?;
        if let Some((_, FormatError::RelativeOffsetOverflow { .. })) = tail.problem {
            let before = segments.len();
            if split_overflowed(partition, segments, i, spec, now_ms, events)? {
                unchecked += segments.len() - before;
                continue;
            }
        }
        let segment = &segments[i];
        if tail.stale_index {
            let reason =
                "its offset index's last entry names no batch starting at or below it: removed, rebuilt from the data"
                    .into();
            events.push(report(segment, 0, reason));
        }
        if let Some((position, problem)) = &tail.problem {
            let reason =
                format!("damaged: {problem}; nothing was cut (it is below the recovery point), reads reaching it fail");
            events.push(report(segment, *position, reason));
        }
        // An empty segment ends where it starts.
        previous_end = tail.next_offset.or(Some(segments[i].base_offset()));
        i += 1;
    }
    Ok(())
}

/// Offsets `end..` missing between the segments `before` and `after` of a partition whose
/// offsets are dense: a segment cut or deleted. Added to `lost`; returns the event, reported at
/// the later segment.
fn dense_gap(
    partition: &str,
    before: &Segment,
    after: &Segment,
    end: u64,
    lost: &mut Vec<LostOffsets>,
) -> RecoveryEvent {
    let base = after.base_offset();
    lost.push(LostOffsets { range: end..base, after: before.log_path().to_owned() });
    RecoveryEvent {
        partition: partition.to_owned(),
        segment: after.log_path().to_owned(),
        position: 0,
        bytes_dropped: 0,
        reason: format!(
            "offsets {end}..{base} are missing before this segment (a segment cut or deleted): they are lost, \
             reads of them fail"
        ),
        lost_offsets: Some(end..base),
    }
}

/// Splits `segments[i]`, whose batches pass its int32 relative offsets (KAFKA-6264), into pieces
/// that hold them, as Kafka does: the pieces are written `.cleaned`, renamed `.swap`, the
/// original renamed `.deleted`, the swaps renamed into place, with directory fsyncs between
/// (an interruption is finished or undone by `complete_interrupted_swaps`). Nothing is dropped.
/// `false` if there is nothing to split: the first batch that passes the relative offsets is
/// not a valid one (then it is damage, for the caller to treat as such).
fn split_overflowed(
    partition: &str,
    segments: &mut Vec<Segment>,
    i: usize,
    spec: &SegmentSpec,
    now_ms: i64,
    events: &mut Vec<RecoveryEvent>,
) -> Result<bool> {
    let original = &segments[i];
    let dir = original.log_path().parent().unwrap_or(Path::new(".")).to_owned();
    let pieces = original.write_split()?;
    if let [(base, cleaned)] = &pieces[..] {
        if *base == original.base_offset() {
            std::fs::remove_file(cleaned).map_err(Error::io("delete", cleaned))?;
            return Ok(false);
        }
    }
    let io = &*spec.io;
    let mut swaps = Vec::new();
    for (base, cleaned) in &pieces {
        let swap =
            files::with_suffix(&dir.join(files::segment_file_name(*base, files::LOG_SUFFIX)), files::SWAP_SUFFIX);
        std::fs::rename(cleaned, &swap).map_err(Error::io("rename", cleaned))?;
        swaps.push((*base, swap));
    }
    files::sync_dir(io, &dir)?;
    let original = segments.remove(i);
    let original_path = original.log_path().to_owned();
    let size = original.size();
    let mut deleted = Vec::new();
    for path in original.file_paths() {
        if path.exists() {
            let target = files::with_suffix(&path, files::DELETED_SUFFIX);
            std::fs::rename(&path, &target).map_err(Error::io("rename", &path))?;
            deleted.push(target);
        }
    }
    drop(original);
    files::sync_dir(io, &dir)?;
    let mut loaded = Vec::new();
    for (base, swap) in swaps {
        let target = dir.join(files::segment_file_name(base, files::LOG_SUFFIX));
        std::fs::rename(&swap, &target).map_err(Error::io("rename into place", &swap))?;
        let len = std::fs::metadata(&target).map_err(Error::io("stat", &target))?.len();
        loaded.push(Segment::load(target, base, len, spec.clone(), now_ms));
    }
    files::sync_dir(io, &dir)?;
    for path in deleted {
        std::fs::remove_file(&path).map_err(Error::io("delete", &path))?;
    }
    let bases: Vec<String> = loaded.iter().map(|s| s.base_offset().to_string()).collect();
    events.push(RecoveryEvent {
        partition: partition.to_owned(),
        segment: original_path,
        position: 0,
        bytes_dropped: 0,
        lost_offsets: None,
        reason: format!(
            "batches past the segment's int32 relative offsets ({size} bytes): split into segments at {} \
             (KAFKA-6264), nothing dropped",
            bases.join(", ")
        ),
    });
    segments.splice(i..i, loaded);
    Ok(true)
}

/// Segment data files in `dir`, sorted by base offset: `(base offset, path, size)`. Index files
/// without a data file are deleted, as Kafka does.
fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf, u64)>> {
    let mut logs = Vec::new();
    let mut indexes = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(Error::io("list", dir))? {
        let entry = entry.map_err(Error::io("list", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(base) = files::parse_segment_file_name(name, files::LOG_SUFFIX) {
            if entry.file_type().map_err(Error::io("stat", entry.path()))?.is_symlink() {
                // Recovery may cut a segment file: never one reached through a link, which may
                // lead out of the data directory. Refused, and left as it is.
                return Err(Error::BadFile {
                    path: entry.path(),
                    reason: "a symbolic link: segment files must be regular files in the partition directory".into(),
                });
            }
            let size = entry.metadata().map_err(Error::io("stat", entry.path()))?.len();
            if size > MAX_SEGMENT_BYTES {
                // Not a Kafka segment (positions are int32): refused, and left as it is.
                return Err(Error::BadFile {
                    path: entry.path(),
                    reason: format!("{size} bytes: a segment holds at most {MAX_SEGMENT_BYTES} (int32 positions)"),
                });
            }
            logs.push((base, entry.path(), size));
        } else if let Some(base) = files::parse_segment_file_name(name, files::OFFSET_INDEX_SUFFIX)
            .or_else(|| files::parse_segment_file_name(name, files::TIME_INDEX_SUFFIX))
        {
            indexes.push((base, entry.path()));
        }
    }
    logs.sort_unstable_by_key(|s| s.0);
    for (base, path) in indexes {
        if logs.binary_search_by_key(&base, |s| s.0).is_err() {
            std::fs::remove_file(&path).map_err(Error::io("delete orphan index", &path))?;
        }
    }
    Ok(logs)
}

/// After a clean shutdown: open the active segment's indexes and find the log end offset by
/// scanning the headers after the last index entry.
fn open_active_clean(active: &mut Segment) -> Result<u64> {
    active.activate()?;
    let start = active.offset_index()?.last_entry().map_or(0, |e| e.position as u64);
    let mut end = None;
    let mut problem = None;
    active.scan_headers(start, active.size(), |position, header| {
        // Offsets must increase within the segment, or the log end offset found is a lie: then
        // recovery checks the segment instead.
        match active.check_sequence(header, end, active.base_offset(), Offsets::Increasing) {
            Ok(()) => {
                end = Some(header.last_offset() as u64 + 1);
                std::ops::ControlFlow::Continue(())
            }
            Err(e) => {
                problem = Some((position, e));
                std::ops::ControlFlow::Break(())
            }
        }
    })?;
    match problem {
        Some((position, problem)) => Err(Error::CorruptBatch { path: active.log_path().to_owned(), position, problem }),
        None => Ok(end.unwrap_or(active.base_offset())),
    }
}

/// One recovery pass over a partition's segments.
pub(crate) struct Recovery<'a> {
    /// Partition directory name, for the report.
    pub partition: &'a str,
    /// The recovery point: segments wholly below it are trusted.
    pub from: u64,
    /// How each batch's offsets follow the previous one's.
    pub offsets: Offsets,
    /// Refuse to open on corruption instead of cutting it off.
    pub strict: bool,
    /// For the segments a split makes.
    pub spec: &'a SegmentSpec,
    pub now_ms: i64,
}

impl Recovery<'_> {
    /// Checks every segment from the one holding the recovery point on, rebuilding their
    /// indexes. At the first invalid batch the segment is cut there and every later segment is
    /// deleted (or, in strict mode, the open fails and nothing is changed). Returns the log end
    /// offset.
    pub(crate) fn run(
        &self,
        segments: &mut Vec<Segment>,
        lost: &mut Vec<LostOffsets>,
        events: &mut Vec<RecoveryEvent>,
    ) -> Result<u64> {
        let start = segments.partition_point(|s| s.base_offset() <= self.from).saturating_sub(1);
        let mut floor = segments[start].base_offset();
        let mut i = start;
        loop {
            let last = i + 1 == segments.len();
            let segment_floor = floor.max(segments[i].base_offset());
            let outcome = segments[i].rebuild_indexes(segment_floor, self.offsets)?;
            if matches!(outcome.problem, Some((_, FormatError::RelativeOffsetOverflow { .. })))
                && split_overflowed(self.partition, segments, i, self.spec, self.now_ms, events)?
            {
                // Not damage: a segment an old broker let grow past its relative offsets. Split,
                // and the pieces are checked from the first.
                continue;
            }
            let segment = &mut segments[i];
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
                    lost_offsets: None,
                });
                for later in segments.drain(i + 1..) {
                    later.delete_files()?;
                    events.push(RecoveryEvent {
                        partition: self.partition.to_owned(),
                        segment: later.log_path().to_owned(),
                        position: 0,
                        bytes_dropped: later.size(),
                        reason: "deleted: it follows a segment whose tail was cut".into(),
                        lost_offsets: None,
                    });
                }
                return Ok(next);
            }
            if last {
                return Ok(next);
            }
            segment.trim_indexes()?;
            if self.offsets == Offsets::Dense && segments[i + 1].base_offset() > next {
                events.push(dense_gap(self.partition, &segments[i], &segments[i + 1], next, lost));
            }
            floor = next;
            i += 1;
        }
    }
}

/// Deletes what interrupted deletions, compactions and cuts left (`.deleted`, `.cleaned`,
/// `.cut`) and finishes interrupted swaps (Kafka's `LogLoader`): a `<base>.log.swap` replaces the
/// segments whose base offsets fall in its offset range, then takes its final name; the index
/// `.swap` files of a swap that is finished take their final names too (`.index` and
/// `.timeindex` are checked when opened, and rebuilt if they do not fit).
///
/// Some `.swap` files are not finished, and their originals stay: one at or above the smallest
/// `.cleaned` base offset (Kafka's rule: the cleaning or split that wrote it had not finished
/// writing every output), and one that is damaged or holds no valid batch (reported). If the
/// swap had already renamed its originals `.deleted`, they are renamed back; a damaged swap
/// whose originals are gone is the only copy, and is finished with its damage (reported; reads
/// that reach it fail there).
pub(crate) fn complete_interrupted_swaps(
    dir: &Path,
    spec: &SegmentSpec,
    now_ms: i64,
    partition: &str,
    events: &mut Vec<RecoveryEvent>,
) -> Result<()> {
    let mut swaps: Vec<(u64, PathBuf)> = Vec::new();
    let mut index_swaps: Vec<(u64, PathBuf)> = Vec::new();
    let mut deleted: Vec<PathBuf> = Vec::new();
    let mut min_cleaned = u64::MAX;
    for entry in std::fs::read_dir(dir).map_err(Error::io("list", dir))? {
        let entry = entry.map_err(Error::io("list", dir))?;
        let Ok(name) = entry.file_name().into_string() else { continue };
        if let Some(stem) = name.strip_suffix(files::CLEANED_SUFFIX) {
            if let Some(base) = files::parse_segment_file_name(stem, files::LOG_SUFFIX) {
                min_cleaned = min_cleaned.min(base);
            }
        }
        if name.ends_with(files::DELETED_SUFFIX) {
            deleted.push(entry.path());
        } else if [files::CLEANED_SUFFIX, files::CUT_SUFFIX].iter().any(|s| name.ends_with(s)) {
            std::fs::remove_file(entry.path()).map_err(Error::io("delete", entry.path()))?;
        } else if let Some(stem) = name.strip_suffix(files::SWAP_SUFFIX) {
            if let Some(base) = files::parse_segment_file_name(stem, files::LOG_SUFFIX) {
                swaps.push((base, entry.path()));
            } else if let Some(base) = [files::OFFSET_INDEX_SUFFIX, files::TIME_INDEX_SUFFIX, files::TXN_INDEX_SUFFIX]
                .iter()
                .find_map(|suffix| files::parse_segment_file_name(stem, suffix))
            {
                index_swaps.push((base, entry.path()));
            }
        }
    }
    swaps.sort();
    let mut finished = Vec::new();
    for (i, (base, swap_path)) in swaps.iter().enumerate() {
        let base = *base;
        if base >= min_cleaned {
            std::fs::remove_file(swap_path).map_err(Error::io("delete", swap_path))?;
            continue;
        }
        let size = std::fs::metadata(swap_path).map_err(Error::io("stat", swap_path))?.len();
        let swap = Segment::load(swap_path.clone(), base, size, spec.clone(), now_ms);
        let mut outcome = swap.scan(Indexes::Leave, base, Offsets::Increasing)?;
        if outcome.problem.is_some() && outcome.next_offset.is_some() && swap.zeros_from(outcome.valid_bytes)? {
            // Zero-filled space after its batches, as a segment file can have: not damage.
            outcome.problem = None;
        }
        drop(swap);
        let report = |position: u64, bytes_dropped: u64, reason: String| RecoveryEvent {
            partition: partition.to_owned(),
            segment: swap_path.clone(),
            position,
            bytes_dropped,
            reason,
            lost_offsets: None,
        };
        let damage = match (&outcome.problem, outcome.next_offset) {
            (None, Some(_)) => None,
            (Some((position, problem)), _) => Some((*position, problem.to_string())),
            (None, None) => Some((0, "no batch".to_owned())),
        };
        if let Some((position, problem)) = damage {
            // Its originals, if it renamed them `.deleted` already: their base offsets are at or
            // above its own and below the next swap's and the next live segment's, and no
            // segment holds their names now.
            let next_live = live_segment_bases(dir)?.into_iter().find(|&b| b > base).unwrap_or(u64::MAX);
            let next_swap = swaps.get(i + 1).map_or(u64::MAX, |s| s.0).min(next_live);
            let originals: Vec<(u64, PathBuf)> = deleted
                .iter()
                .filter_map(|path| {
                    let name = path.file_name()?.to_str()?.strip_suffix(files::DELETED_SUFFIX)?;
                    let old = files::parse_segment_file_name(name, files::LOG_SUFFIX)?;
                    let live = dir.join(files::segment_file_name(old, files::LOG_SUFFIX));
                    ((base..next_swap).contains(&old) && !live.exists()).then(|| (old, path.clone()))
                })
                .collect();
            if !originals.is_empty() || outcome.next_offset.is_none() {
                for (old, path) in &originals {
                    for suffix in [files::LOG_SUFFIX, files::TXN_INDEX_SUFFIX] {
                        let target = dir.join(files::segment_file_name(*old, suffix));
                        let from = files::with_suffix(&target, files::DELETED_SUFFIX);
                        if from.exists() {
                            std::fs::rename(&from, &target).map_err(Error::io("rename back", &from))?;
                            deleted.retain(|p| *p != from);
                        }
                    }
                    debug_assert!(!path.exists());
                }
                let kept = if originals.is_empty() { "kept" } else { "renamed back from .deleted" };
                events.push(report(
                    position,
                    size,
                    format!("an interrupted swap holding no valid batch or damaged ({problem}): deleted, the segments it would replace {kept}"),
                ));
                std::fs::remove_file(swap_path).map_err(Error::io("delete", swap_path))?;
                continue;
            }
            events.push(report(
                position,
                0,
                format!(
                    "an interrupted swap, damaged ({problem}), whose originals are gone: finished as it is, \
                     reads reaching the damage fail"
                ),
            ));
        }
        let end = outcome.next_offset.expect("a swap with no valid batch was deleted above");
        for entry in std::fs::read_dir(dir).map_err(Error::io("list", dir))? {
            let entry = entry.map_err(Error::io("list", dir))?;
            let Ok(name) = entry.file_name().into_string() else { continue };
            if let Some(old) = files::parse_segment_file_name(&name, files::LOG_SUFFIX) {
                if (base..end).contains(&old) {
                    Segment::load(entry.path(), old, 0, spec.clone(), now_ms).delete_files()?;
                }
            }
        }
        let target = dir.join(files::segment_file_name(base, files::LOG_SUFFIX));
        std::fs::rename(swap_path, &target).map_err(Error::io("rename into place", swap_path))?;
        finished.push(base);
    }
    for path in deleted {
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io("delete", &path)(e)),
            _ => {}
        }
    }
    for (base, path) in index_swaps {
        if finished.contains(&base) {
            // Kafka renames them into place; an index that does not fit its data is rebuilt.
            let target = PathBuf::from(path.to_string_lossy().trim_end_matches(files::SWAP_SUFFIX));
            std::fs::rename(&path, &target).map_err(Error::io("rename into place", &path))?;
        } else {
            std::fs::remove_file(&path).map_err(Error::io("delete", &path))?;
        }
    }
    Ok(())
}
