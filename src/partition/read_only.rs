//! A partition of a log opened read-only ([`Log::open_read_only`](crate::Log::open_read_only)):
//! what its directory holds now, for a reader that shares the directory with the process that
//! writes it.
//!
//! Nothing is written, cut, renamed or mapped from a file: sealed segments are read with
//! positioned reads, indexes are copied into memory (or rebuilt there from the data), and the
//! last segment is checked batch by batch (length, CRC, offsets) up to the first bytes that are
//! not a whole batch: a write in progress, or the zero-filled space ahead of appends. Those bytes
//! are not readable until a [`refresh`](Partition::refresh) finds them whole. A mapping of a file
//! another process may shorten could fault; a copy or a positioned read cannot.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::durability::FailStop;
use super::{segment_spec, Loaded, OpenSpec, Partition, RecoveryEvent};
use crate::error::{Error, Result};
use crate::segment::{Segment, SegmentSpec};
use crate::storage::files;

/// How often, and how long apart, listing a partition directory is retried while the writer
/// swaps segments (compaction renames its output into place one file at a time).
const SWAP_RETRIES: u32 = 50;
const SWAP_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(20);

/// A segment file found in a partition directory.
struct Found {
    base: u64,
    path: PathBuf,
    len: u64,
    inode: u64,
}

/// What a read-only partition knows of the files it read.
#[derive(Default)]
pub(super) struct View {
    /// Per segment of the set: its base offset and the inode it was read from.
    inodes: Vec<(u64, u64)>,
    /// The last segment, whose batches were checked and indexed in memory, with the offset after
    /// its last whole batch (if it has one).
    tail: Option<(Arc<Segment>, Option<u64>)>,
}

/// The segment files of `dir`, in base-offset order, once no segment swap is in progress.
fn list(dir: &Path) -> Result<Vec<Found>> {
    for attempt in 0.. {
        let mut found = Vec::new();
        let mut swapping = None;
        for entry in std::fs::read_dir(dir).map_err(Error::io("list", dir))? {
            let entry = entry.map_err(Error::io("list", dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(base) = files::parse_segment_file_name(name, files::LOG_SUFFIX) {
                // Vanished since the listing (retention, compaction): not a segment any more.
                let Ok(meta) = std::fs::metadata(entry.path()) else { continue };
                found.push(Found { base, path: entry.path(), len: meta.len(), inode: meta.ino() });
            } else if name.ends_with(files::SWAP_SUFFIX) {
                swapping = Some(entry.path());
            }
        }
        match swapping {
            Some(swap) if attempt >= SWAP_RETRIES => {
                return Err(Error::BadFile {
                    path: swap,
                    reason: "a segment swap is in progress or was interrupted: the process that owns the \
                             directory completes it (at its next open, if it stopped); try again"
                        .into(),
                })
            }
            Some(_) => std::thread::sleep(SWAP_RETRY_PAUSE),
            None => {
                found.sort_unstable_by_key(|f| f.base);
                return Ok(found);
            }
        }
    }
    unreachable!("the loop returns")
}

/// Checks the last segment from `position` on: its whole batches become readable, with index
/// entries in memory. Reports bytes past them that are neither whole batches nor the zero-filled
/// space ahead of appends (a write in progress shows up here too: it is read once whole).
fn check_tail(
    name: &str,
    segment: &Segment,
    spec: &SegmentSpec,
    next: Option<u64>,
    events: &mut Vec<RecoveryEvent>,
) -> Result<Option<u64>> {
    let outcome = segment.extend_read_only(next, spec.offsets)?;
    if let Some((position, problem)) = outcome.problem {
        if !segment.zeros_from(position)? {
            events.push(RecoveryEvent {
                partition: name.to_owned(),
                segment: segment.log_path().to_owned(),
                position,
                bytes_dropped: 0,
                reason: format!(
                    "not read (opened read-only, nothing changed): {} bytes from here are not whole batches \
                     ({problem}); a write in progress, or a tail the owner's recovery will check",
                    outcome.file_bytes - position
                ),
            });
        }
    }
    Ok(outcome.next_offset.or(next))
}

impl Partition {
    /// Opens the partition directory read-only: see the module docs. Fails if it has no
    /// segment file (partlog's partitions always have one).
    pub(crate) fn open_read_only(spec: OpenSpec, events: &mut Vec<RecoveryEvent>) -> Result<Partition> {
        let io = Arc::new(FailStop::new(spec.io.clone()));
        let seg_spec = segment_spec(&spec.config, spec.offsets, &io, &None, true);
        let now = spec.clock.now_ms();
        let name = format!("{}-{}", spec.topic, spec.id);
        let found = list(&spec.dir)?;
        if found.is_empty() {
            return Err(Error::BadFile {
                path: spec.dir.clone(),
                reason: "a partition directory without segments".into(),
            });
        }
        let inodes = found.iter().map(|f| (f.base, f.inode)).collect();
        let segments: Vec<Arc<Segment>> =
            found.into_iter().map(|f| Arc::new(Segment::load(f.path, f.base, f.len, seg_spec.clone(), now))).collect();
        let tail = segments.last().expect("not empty").clone();
        tail.set_readable_bytes(0);
        tail.index_in_memory()?;
        let next = check_tail(&name, &tail, &seg_spec, None, events)?;
        let log_end_offset = next.unwrap_or(tail.base_offset());
        let first_base = segments[0].base_offset().min(log_end_offset);
        let log_start_offset = spec.log_start_offset.filter(|&s| s <= log_end_offset).unwrap_or(0).max(first_base);
        let loaded = Loaded { segments, log_start_offset, log_end_offset, dir_dirty: false };
        let partition = Partition::assemble(spec, loaded, io, now);
        *partition.inner.view.lock() = View { inodes, tail: Some((tail, next)) };
        Ok(partition)
    }

    /// Reads the partition directory again (read-only logs): segments added, rolled, deleted
    /// or replaced since, and the whole batches appended to the last one. Readers waiting in
    /// [`wait_for`](Self::wait_for) or watching are woken if the log end moved.
    pub(crate) fn refresh_read_only(
        &self,
        log_start_offset: Option<u64>,
        events: &mut Vec<RecoveryEvent>,
    ) -> Result<()> {
        let inner = &*self.inner;
        let mut view = inner.view.lock();
        let found = list(&inner.dir)?;
        if found.is_empty() {
            return Ok(()); // the topic is being deleted: the last view stays
        }
        let old = inner.segments.snapshot();
        let spec = self.segment_spec();
        let now = inner.clock.now_ms();
        let name = self.name();
        let mut segments = Vec::with_capacity(found.len());
        let mut tail = None;
        let last = found.len() - 1;
        for (i, f) in found.iter().enumerate() {
            let same = view.inodes.iter().position(|&(base, inode)| base == f.base && inode == f.inode);
            let kept = same.map(|at| old[at].clone()).filter(|s| f.len >= s.size());
            let scanned = view.tail.as_ref().filter(|(t, _)| kept.as_ref().is_some_and(|k| Arc::ptr_eq(k, t)));
            let segment = match (kept, scanned) {
                // The segment checked last time: what was appended since (or written before it
                // rolled) is checked now, and whole batches become readable.
                (Some(segment), Some(&(_, next))) => {
                    let next = check_tail(&name, &segment, &spec, next, events)?;
                    if i == last {
                        tail = Some((segment.clone(), next));
                    }
                    segment
                }
                (Some(segment), None) if i < last => segment,
                _ => {
                    // New, replaced or cut: read afresh.
                    let segment = Arc::new(Segment::load(f.path.clone(), f.base, f.len, spec.clone(), now));
                    if i == last {
                        segment.set_readable_bytes(0);
                        segment.index_in_memory()?;
                        let next = check_tail(&name, &segment, &spec, None, events)?;
                        tail = Some((segment.clone(), next));
                    }
                    segment
                }
            };
            segments.push(segment);
        }
        let (last_segment, next) = tail.clone().expect("the last segment is checked");
        let end = next.unwrap_or(last_segment.base_offset());
        let first_base = segments[0].base_offset().min(end);
        let start = log_start_offset.filter(|&s| s <= end).unwrap_or(0).max(first_base);
        inner.segments.replace_all(segments);
        *view = View { inodes: found.iter().map(|f| (f.base, f.inode)).collect(), tail };
        inner.log_start_offset.store(start, Ordering::SeqCst);
        let moved = inner.log_end_offset.swap(end, Ordering::SeqCst) != end;
        drop(view);
        if moved {
            self.wake_waiters();
        }
        Ok(())
    }
}
