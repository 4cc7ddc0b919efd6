//! Durability: the topic's flush policy (`flush.messages`, `flush.ms`), group commit for
//! synchronous appends, and explicit flushes. See `docs/design.md`, Durability.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::Partition;
use crate::error::Result;
use crate::storage::files;
use crate::storage::io::Io;

/// What an fsync of the active segment covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sync {
    /// The data file: what synchronous appends need (recovery rebuilds indexes).
    Data,
    /// The data file and both indexes: an explicit flush.
    All,
}

/// The `Io` seam as a partition sees it: every write and fsync of its files goes through here,
/// and the first one that fails stops the partition's writes until the log is reopened
/// (fail-stop). After a failed fsync the kernel may have dropped the dirty pages it could not
/// write, so a later fsync that succeeds proves nothing; after a failed write the file may hold
/// part of it. Reopening recovers from what is really on disk. Other errors (opening a file,
/// a corrupt batch met by a read or by compaction) stop nothing.
#[derive(Debug)]
pub(super) struct FailStop {
    io: Arc<dyn Io>,
    failed: AtomicBool,
    /// The first failure, for `Error::WritesStopped`.
    cause: Mutex<Option<String>>,
}

impl FailStop {
    pub(super) fn new(io: Arc<dyn Io>) -> FailStop {
        FailStop { io, failed: AtomicBool::new(false), cause: Mutex::new(None) }
    }

    /// The seam below, without fail-stop.
    pub(super) fn inner(&self) -> &Arc<dyn Io> {
        &self.io
    }

    /// The first failure, once writes are stopped.
    #[inline]
    pub(super) fn failure(&self) -> Option<String> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        self.recorded_failure()
    }

    #[cold]
    fn recorded_failure(&self) -> Option<String> {
        Some(self.cause.lock().clone().unwrap_or_default())
    }

    /// Stops writes, recording `cause` unless an earlier failure is recorded.
    pub(super) fn stop(&self, cause: impl FnOnce() -> String) {
        let mut first = self.cause.lock();
        if first.is_none() {
            *first = Some(cause());
        }
        self.failed.store(true, Ordering::Release);
    }

    #[inline]
    fn check(&self, op: &str, path: &Path, result: std::io::Result<()>) -> std::io::Result<()> {
        if let Err(e) = &result {
            self.failed_at(op, path, e);
        }
        result
    }

    #[cold]
    fn failed_at(&self, op: &str, path: &Path, e: &std::io::Error) {
        self.stop(|| format!("{op} of {} failed: {e}", path.display()));
    }
}

impl Io for FailStop {
    fn write_all_at(&self, file: &File, path: &Path, buf: &[u8], position: u64) -> std::io::Result<()> {
        self.check("write", path, self.io.write_all_at(file, path, buf, position))
    }

    fn write_mapped(&self, dst: &mut [u8], src: &[u8], path: &Path) -> std::io::Result<()> {
        self.check("write", path, self.io.write_mapped(dst, src, path))
    }

    fn sync_data(&self, file: &File, path: &Path) -> std::io::Result<()> {
        self.check("fsync", path, self.io.sync_data(file, path))
    }

    fn sync_dir(&self, path: &Path) -> std::io::Result<()> {
        self.check("fsync", path, self.io.sync_dir(path))
    }
}

/// Most yields a group-commit leader makes for appends still arriving before its fsync.
const GATHER_ROUNDS: usize = 16;

impl Partition {
    /// Kafka's `flush.messages` (fsync once this many records are not yet durable; 1 makes every
    /// append synchronous) and `flush.ms` (fsync when the last flush is this old), checked after
    /// each append. The append returns only after the fsync it triggers.
    pub(super) fn apply_flush_policy(&self, next: u64) -> Result<()> {
        let config = self.config();
        let unflushed = next.saturating_sub(self.recovery_point());
        let by_count = config.flush_messages != i64::MAX && unflushed >= config.flush_messages as u64;
        let by_time = config.flush_ms != i64::MAX
            && self.inner.clock.now_ms().saturating_sub(self.inner.last_flush_ms.load(Ordering::Relaxed))
                >= config.flush_ms;
        if by_count || by_time {
            self.sync_to(next)?;
        }
        Ok(())
    }

    /// Makes every offset below `target` durable, sharing the fsync with concurrent callers
    /// (group commit): one caller leads, fsyncing everything written when it starts; the others
    /// wait for it and return if it covered them, or elect the next leader if they appended
    /// after it started. A failed fsync stops writes, so followers then get the failure.
    pub(super) fn sync_to(&self, target: u64) -> Result<()> {
        let inner = &*self.inner;
        let mut leader = inner.sync_leader.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if self.recovery_point() >= target {
                return Ok(());
            }
            self.check_writable()?;
            if !*leader {
                break;
            }
            leader = inner.sync_done.wait(leader).unwrap_or_else(|e| e.into_inner());
        }
        *leader = true;
        drop(leader);
        self.gather_appends();
        let result = {
            let _sync = inner.sync_lock.lock();
            if self.recovery_point() >= target {
                Ok(())
            } else {
                self.check_writable().and_then(|()| self.sync_locked(Sync::Data))
            }
        };
        *inner.sync_leader.lock().unwrap_or_else(|e| e.into_inner()) = false;
        inner.sync_done.notify_all();
        result
    }

    /// Before a leader's fsync: lets appenders that are ready to run append first, so that the
    /// fsync covers them too. Without this, the first of the threads woken by the last fsync
    /// leads the next one alone while the others are still being scheduled, and fsyncs
    /// alternate between covering one append and covering the rest. Yields while the log end
    /// offset keeps moving, a bounded number of times; alone, one yield that returns at once.
    pub(super) fn gather_appends(&self) {
        let mut seen = self.log_end_offset();
        for _ in 0..GATHER_ROUNDS {
            std::thread::yield_now();
            let now = self.log_end_offset();
            if now == seen {
                return;
            }
            seen = now;
        }
    }

    /// Whether `flush.ms` has passed since the last flush with something unflushed: the
    /// maintenance thread's check for partitions that are not being appended to.
    pub(crate) fn flush_due(&self, now_ms: i64) -> bool {
        let config = self.config();
        config.flush_ms != i64::MAX
            && self.recovery_point() < self.log_end_offset()
            && now_ms.saturating_sub(self.inner.last_flush_ms.load(Ordering::Relaxed)) >= config.flush_ms
    }

    /// Makes every offset below `offset` durable (it is clamped to the log end offset), sharing
    /// the fsync with concurrent callers: when many threads each need their own append durable,
    /// one fsync covers all of them (group commit). Returns at once if the
    /// [`recovery_point`](Self::recovery_point) is already past `offset`. Indexes are not
    /// fsynced (recovery rebuilds them); [`flush`](Self::flush) fsyncs everything.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// let info = p.append(&[Record::new(b"a")])?;
    /// p.flush_to(info.last_offset + 1)?;
    /// assert!(p.recovery_point() > info.last_offset);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn flush_to(&self, offset: u64) -> Result<()> {
        self.sync_to(offset.min(self.log_end_offset()))
    }

    /// Makes everything appended so far durable: fsync of the active segment's data file and
    /// indexes, and of the directory if files were created since the last flush. Earlier
    /// segments were fsynced when they were sealed, or (sealed by a roll inside an append) are
    /// fsynced behind the appends by the log's background thread, or here if that is still
    /// owed. Advances the [`recovery_point`](Self::recovery_point).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b")])?;
    /// assert_eq!(p.recovery_point(), 0); // in the page cache: survives a process crash only
    /// p.flush()?;
    /// assert_eq!(p.recovery_point(), 2); // on disk: survives a power loss
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn flush(&self) -> Result<()> {
        let _sync = self.inner.sync_lock.lock();
        self.check_writable()?;
        self.sync_locked(Sync::All)
    }

    /// fsyncs what is written (segments sealed by rolls whose fsync is owed, the active
    /// segment's data file, and its indexes too with [`Sync::All`]) and the directory if
    /// needed; the caller holds the sync lock. A failure stops appends.
    pub(super) fn sync_locked(&self, what: Sync) -> Result<()> {
        let inner = &*self.inner;
        // Everything below `upto` is written: in sealed segments (fsynced when sealed, or
        // below) or in the active one.
        let upto = inner.log_end_offset.load(Ordering::SeqCst);
        // The active segment before the owed ones: a roll in between lists the segment it seals
        // as owed before it makes the next one active, so whatever this sees is fsynced below,
        // either here or as owed. (Taken after, it could be the new segment, with the one just
        // sealed left to the background thread and the recovery point moved past it.)
        let active = inner.segments.active();
        self.flush_sealed_locked()?;
        match what {
            Sync::All => active.flush()?,
            Sync::Data => active.flush_data()?,
        }
        self.sync_dir_if_dirty()?;
        inner.recovery_point.fetch_max(upto, Ordering::AcqRel);
        inner.last_flush_ms.store(inner.clock.now_ms(), Ordering::Relaxed);
        Ok(())
    }

    /// The jobs thread's work after a roll: fsyncs the segments sealed by rolls whose fsync is
    /// owed. Nothing for a closed partition (closing fsynced them; a crash leaves them to
    /// recovery). A failed fsync stops writes (fail-stop), which the next append reports; a
    /// segment that could not be fsynced for another reason stays owed, for the next flush.
    pub(super) fn flush_sealed_behind(&self) {
        let _sync = self.inner.sync_lock.lock();
        if self.check_writable().is_ok() {
            let _ = self.flush_sealed_locked();
        }
    }

    /// [`flush_sealed_locked`](Self::flush_sealed_locked), taking the sync lock.
    pub(super) fn flush_sealed(&self) -> Result<()> {
        let _sync = self.inner.sync_lock.lock();
        self.flush_sealed_locked()
    }

    /// fsyncs the segments sealed by rolls whose fsync is owed, oldest first, then the
    /// directory, and moves the recovery point past the last of them. One no longer in the
    /// partition is passed over: deleted by retention or truncation (nothing to keep), or
    /// replaced by compaction's cleaned copy (fsynced before the swap). The caller holds the
    /// sync lock, so the recovery point never passes a segment whose fsync is in flight.
    pub(super) fn flush_sealed_locked(&self) -> Result<()> {
        let inner = &*self.inner;
        let owed = std::mem::take(&mut *inner.unflushed.lock());
        if owed.is_empty() {
            return Ok(());
        }
        let present = inner.segments.snapshot();
        let mut upto = None;
        for (i, (segment, next)) in owed.iter().enumerate() {
            if !present.iter().any(|s| Arc::ptr_eq(s, segment)) {
                continue;
            }
            if let Err(e) = segment.flush() {
                inner.unflushed.lock().splice(0..0, owed[i..].iter().cloned());
                return Err(e);
            }
            upto = Some(*next);
        }
        if let Err(e) = self.sync_dir_if_dirty() {
            // The segments are durable; their directory entries may not be: owed still.
            inner.unflushed.lock().splice(0..0, owed);
            return Err(e);
        }
        if let Some(upto) = upto {
            inner.recovery_point.fetch_max(upto, Ordering::AcqRel);
        }
        Ok(())
    }

    /// fsyncs the partition directory if files were made in it since its last fsync. The lock
    /// is held across the fsync, so that a caller finding nothing to do knows that a fsync in
    /// flight has finished (a roll and a flush each acknowledge only after it); the flag is
    /// cleared before the fsync, so that a file made during it is not forgotten, and set again
    /// if it fails.
    pub(super) fn sync_dir_if_dirty(&self) -> Result<()> {
        let inner = &*self.inner;
        let _dir_sync = inner.dir_sync.lock();
        if inner.dir_dirty.swap(false, Ordering::AcqRel) {
            if let Err(e) = files::sync_dir(&*inner.io, &inner.dir) {
                inner.dir_dirty.store(true, Ordering::Release);
                return Err(e);
            }
        }
        Ok(())
    }
}
