//! A partition of a log opened read-only ([`Log::open_read_only`](crate::Log::open_read_only)):
//! what its directory holds now, for a reader that shares the directory with the process that
//! writes it.
//!
//! Nothing is written, cut, renamed or mapped from a file: sealed segments are read with
//! positioned reads, indexes are copied into memory (or rebuilt there from the data), and the
//! last segment is checked batch by batch (length, CRC, offsets) up to the first bytes that are
//! not a whole batch: a write in progress, or the zero-filled space ahead of appends. Those bytes
//! are not readable until a refresh finds them whole. A mapping of a file another process may
//! shorten could fault; a copy or a positioned read cannot.
//!
//! A refresh keeps what it read before only where the file is provably the same: a sealed
//! segment by path, inode, length and modification time; the last segment checked by the
//! header of its last whole batch, read again (a truncation in place and new appends keep the
//! inode and may restore the length). Anything else is read afresh.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use super::durability::FailStop;
use super::load::{lost_below_recovery_point, remember_recorded};
use super::lost;
use super::{segment_spec, Loaded, OpenSpec, Partition, RecoveryEvent};
use crate::error::{Error, Result};
use crate::format::batch::{BatchHeader, HEADER_LEN};
use crate::segment::{Segment, SegmentSpec};
use crate::storage::files;

/// A segment file as a listing found it.
#[derive(Debug, Clone, PartialEq)]
struct Found {
    base: u64,
    path: PathBuf,
    len: u64,
    inode: u64,
    modified: Option<SystemTime>,
}

/// The last segment as its last check left it.
#[derive(Clone)]
struct Tail {
    segment: Arc<Segment>,
    /// The offset after its last whole batch, if it has one.
    next: Option<u64>,
    /// Its last whole batch: position and header, read again before the next check.
    last_batch: Option<(u64, BatchHeader)>,
    /// Where the whole batches ended at the last check, if bytes followed them (zeros ahead of
    /// appends, or bytes reported as not whole batches): looked at again only if it moves.
    reported: Option<u64>,
}

/// What a read-only partition knows of the files it read.
#[derive(Default)]
pub(super) struct View {
    /// The segment set's files, in its order.
    files: Vec<Found>,
    tail: Option<Tail>,
    /// The partition directory's inode and birth time: others mean the topic was deleted and
    /// made again.
    dir_inode: Option<(u64, Option<SystemTime>)>,
}

/// What a refresh found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refreshed {
    /// The partition is current.
    Current,
    /// The directory is another one now (the topic was deleted and created again), or gone:
    /// the partition must be opened anew.
    Replaced,
}

fn inode_of(dir: &Path) -> Option<(u64, Option<SystemTime>)> {
    std::fs::metadata(dir).ok().map(|m| (m.ino(), m.created().ok()))
}

/// The segment files of `dir` in base-offset order: each `.log`, and a `.log.swap` whose base
/// has no `.log`. Compaction writes its output as `.swap` files, renames the segments it
/// replaces away, then renames the swaps into place: in between, a swap file holds the final
/// data of its offsets, and the `.log` files still there hold theirs.
///
/// A directory is listed a file at a time, in no particular order, while the owner may roll.
/// A file created during a listing may be missed while a newer one is not: a segment missing
/// in the middle. Every file that existed when a listing began is in it, so the directory is
/// listed twice, and the second listing is taken up to the newest segment of the first, all of
/// which existed before the second began. The files are looked at after that: a roll cuts a
/// segment to its batches before it creates the next one, so a file with a newer one in the
/// listing is sealed when it is looked at (looked at during the listing, it could have been
/// seen empty and taken for a sealed segment that ends early).
///
/// Files also go: retention deletes the oldest (those are not missed), compaction renames a
/// `.swap` into the place of a `.log` (either name is taken), and retention of everything or a
/// truncation removes the newest. When a file other than the oldest is gone, or the newest of
/// the first listing, the directory is listed again.
fn list(dir: &Path) -> Result<Vec<Found>> {
    const ATTEMPTS: usize = 10;
    let mut first = list_names(dir)?;
    let mut found = Vec::new();
    for _ in 0..ATTEMPTS {
        let Some(newest) = first.iter().map(|&(base, ..)| base).max() else { return Ok(Vec::new()) };
        let second = list_names(dir)?;
        let newest_kept = second.iter().any(|&(base, ..)| base == newest);
        let (looked_at, whole) = look_at(second.iter().filter(|&&(base, ..)| base <= newest));
        found = looked_at;
        if newest_kept && whole {
            return Ok(found);
        }
        first = second;
    }
    // Busier than that: the last listing, which reads check as they go (bytes that do not fit
    // the view are `Error::ChangedUnderView`).
    Ok(found)
}

/// Looks at the files `names`, in base-offset order: the segments, a swap only where its base
/// has no `.log`; and whether no file was gone but the oldest (retention).
fn look_at<'a>(names: impl Iterator<Item = &'a (u64, bool, PathBuf)>) -> (Vec<Found>, bool) {
    let mut logs = std::collections::BTreeMap::new();
    let mut swaps = Vec::new();
    let mut whole = true;
    for (base, swap, path) in names {
        // Compaction renames `X.log.swap` to `X.log` (after `X.log` went to `.deleted`).
        let other = match swap {
            true => path.with_extension(""),
            false => path.with_extension(format!("log{}", files::SWAP_SUFFIX)),
        };
        let looked = [(path, *swap), (&other, !swap)]
            .into_iter()
            .find_map(|(path, swap)| std::fs::metadata(path).ok().map(|meta| (path.clone(), swap, meta)));
        let Some((path, swap, meta)) = looked else {
            whole &= logs.is_empty() && swaps.is_empty(); // gone before any kept: retention
            continue;
        };
        let found = Found { base: *base, path, len: meta.len(), inode: meta.ino(), modified: meta.modified().ok() };
        if swap {
            swaps.push(found);
        } else {
            logs.insert(*base, found);
        }
    }
    for swap in swaps {
        logs.entry(swap.base).or_insert(swap);
    }
    (logs.into_values().collect(), whole)
}

/// The segment and swap files of `dir`: base offset, whether a swap, path; sorted.
fn list_names(dir: &Path) -> Result<Vec<(u64, bool, PathBuf)>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(Error::io("list", dir))? {
        let entry = entry.map_err(Error::io("list", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let (base, swap) = match files::parse_segment_file_name(name, files::LOG_SUFFIX) {
            Some(base) => (base, false),
            None => match name
                .strip_suffix(files::SWAP_SUFFIX)
                .and_then(|n| files::parse_segment_file_name(n, files::LOG_SUFFIX))
            {
                Some(base) => (base, true),
                None => continue,
            },
        };
        names.push((base, swap, entry.path()));
    }
    names.sort();
    Ok(names)
}

/// Checks `tail` from its readable end on: its whole batches become readable, with index
/// entries in memory. Reports bytes past them that are neither whole batches nor the zero-filled
/// space ahead of appends (a write in progress shows up here too: it is read once whole), once
/// per position.
fn check_tail(name: &str, tail: &mut Tail, spec: &SegmentSpec, events: &mut Vec<RecoveryEvent>) -> Result<()> {
    let outcome = tail.segment.extend_read_only(tail.next, spec.offsets)?;
    if let Some((position, problem)) = outcome.problem {
        // Looked at once per position: the zeros ahead of appends are read once, not at every
        // refresh.
        if tail.reported != Some(position) && !tail.segment.zeros_from(position)? {
            events.push(RecoveryEvent {
                partition: name.to_owned(),
                segment: tail.segment.log_path().to_owned(),
                position,
                bytes_dropped: 0,
                lost_offsets: None,
                reason: format!(
                    "not read (opened read-only, nothing changed): {} bytes from here are not whole batches \
                     ({problem}); a write in progress, or a tail the owner's recovery will check",
                    outcome.file_bytes.saturating_sub(position)
                ),
            });
        }
        tail.reported = Some(position);
    } else {
        tail.reported = None;
    }
    tail.next = outcome.next_offset.or(tail.next);
    tail.last_batch = outcome.last_batch.or(tail.last_batch);
    Ok(())
}

/// A fresh segment for `found`; the last one is checked whole.
fn load(
    name: &str,
    found: &Found,
    last: bool,
    spec: &SegmentSpec,
    now: i64,
    events: &mut Vec<RecoveryEvent>,
) -> Result<(Arc<Segment>, Option<Tail>)> {
    let segment = Arc::new(Segment::load(found.path.clone(), found.base, found.len, spec.clone(), now));
    if !last {
        return Ok((segment, None));
    }
    segment.set_readable_bytes(0);
    segment.index_in_memory()?;
    let mut tail = Tail { segment: segment.clone(), next: None, last_batch: None, reported: None };
    check_tail(name, &mut tail, spec, events)?;
    Ok((segment, Some(tail)))
}

/// Whether `tail`'s last whole batch is still where it was, as it was: the file was not cut
/// and rewritten under it.
fn tail_intact(tail: &Tail) -> Result<bool> {
    let Some((position, header)) = tail.last_batch else {
        // No batch yet: intact while nothing is shorter than what was checked.
        return Ok(true);
    };
    let mut buf = [0u8; HEADER_LEN];
    let segment = &tail.segment;
    match files::read_exact_at(&*segment.log_file()?, &mut buf, position, segment.log_path()) {
        Ok(()) => Ok(BatchHeader::parse(&buf) == Some(header)),
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

impl Partition {
    /// Opens the partition directory read-only: see the module docs. Fails if it has no
    /// segment file (partlog's partitions always have one).
    pub(crate) fn open_read_only(spec: OpenSpec, events: &mut Vec<RecoveryEvent>) -> Result<Partition> {
        let io = Arc::new(FailStop::new(spec.io.clone()));
        let seg_spec = segment_spec(&spec.config, spec.offsets, &io, &None, true);
        let now = spec.clock.now_ms();
        let name = format!("{}-{}", spec.topic, spec.id);
        let dir_inode = inode_of(&spec.dir);
        let found = list(&spec.dir)?;
        if found.is_empty() {
            // A partition being created (its directory comes first): not there yet.
            let source = std::io::Error::new(std::io::ErrorKind::NotFound, "no segment file (yet)");
            return Err(Error::Io { op: "open", path: spec.dir.clone(), source });
        }
        let mut segments = Vec::with_capacity(found.len());
        let mut tail = None;
        for (i, f) in found.iter().enumerate() {
            let (segment, checked) = load(&name, f, i + 1 == found.len(), &seg_spec, now, events)?;
            segments.push(segment);
            tail = tail.or(checked);
        }
        let checked: Tail = tail.expect("the last segment is checked");
        let log_end_offset = checked.next.unwrap_or(checked.segment.base_offset());
        // Nothing is changed: the owner's next open makes sure lost offsets are not handed out
        // again. The view reports them, and reads of them (once the owner appends after them)
        // fail. Not while bytes after the whole batches are not read yet (a write in progress,
        // or damage the owner's recovery will check, reported above): they may hold them.
        let mut lost = Vec::new();
        let mut record = lost::read_record(&spec.dir)?;
        remember_recorded(&name, &segments, &mut record, &mut lost, events);
        if checked.reported.is_none() {
            lost_below_recovery_point(&name, &checked.segment, log_end_offset, &spec, &mut lost, events)?;
        }
        let first_base = segments[0].base_offset().min(log_end_offset);
        let log_start_offset = spec.log_start_offset.filter(|&s| s <= log_end_offset).unwrap_or(0).max(first_base);
        let loaded = Loaded { segments, lost, log_start_offset, log_end_offset, dir_dirty: false };
        let partition = Partition::assemble(spec, loaded, io, now);
        *partition.inner.view.lock() = View { files: found, tail: Some(checked), dir_inode };
        Ok(partition)
    }

    /// Reads the partition directory again (read-only logs): segments added, rolled, deleted,
    /// cut or replaced since, and the whole batches appended to the last one. Readers waiting in
    /// [`wait_for`](Self::wait_for) or watching are woken if the log end moved.
    pub(crate) fn refresh_read_only(
        &self,
        log_start_offset: Option<u64>,
        events: &mut Vec<RecoveryEvent>,
    ) -> Result<Refreshed> {
        let inner = &*self.inner;
        let mut view = inner.view.lock();
        if inode_of(&inner.dir) != view.dir_inode {
            return Ok(Refreshed::Replaced);
        }
        let found = list(&inner.dir)?;
        if found.is_empty() {
            return Ok(Refreshed::Current); // the topic is being deleted: the last view stays
        }
        let old = inner.segments.snapshot();
        let spec = self.segment_spec();
        let now = inner.clock.now_ms();
        let name = self.name();
        let mut segments = Vec::with_capacity(found.len());
        let mut tail = None;
        for (i, f) in found.iter().enumerate() {
            let last = i + 1 == found.len();
            let at = view.files.iter().position(|o| o.base == f.base && o.path == f.path && o.inode == f.inode);
            let was_tail =
                view.tail.as_ref().filter(|t| at.is_some_and(|at| Arc::ptr_eq(&old[at], &t.segment))).cloned();
            let kept = match (at, was_tail) {
                // The segment checked last time: what was appended since (or before it rolled)
                // is checked now, if what was checked is still there.
                (Some(_), Some(mut t)) if f.len >= t.segment.size() && tail_intact(&t)? => {
                    check_tail(&name, &mut t, &spec, events)?;
                    // Kept now, so that a failure further on leaves a consistent view.
                    view.tail = Some(t.clone());
                    Some((t.segment.clone(), last.then_some(t)))
                }
                (Some(at), None) if !last && view.files[at] == *f => Some((old[at].clone(), None)),
                _ => None,
            };
            let (segment, checked) = match kept {
                Some(kept) => kept,
                None => load(&name, f, last, &spec, now, events)?,
            };
            segments.push(segment);
            tail = tail.or(checked);
        }
        let checked: Tail = tail.expect("the last segment is checked");
        let end = checked.next.unwrap_or(checked.segment.base_offset());
        let first_base = segments[0].base_offset().min(end);
        let start = log_start_offset.filter(|&s| s <= end).unwrap_or(0).max(first_base);
        inner.segments.replace_all(segments);
        *view = View { files: found, tail: Some(checked), dir_inode: view.dir_inode };
        inner.log_start_offset.store(start, Ordering::SeqCst);
        let moved = inner.log_end_offset.swap(end, Ordering::SeqCst) != end;
        drop(view);
        if moved {
            self.wake_waiters();
        }
        Ok(Refreshed::Current)
    }
}
