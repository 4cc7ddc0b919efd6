//! The seam between partlog and the file system for the operations durability depends on:
//! writing segment data (positioned writes, and copies into the active segment's memory map),
//! fsyncing files and directories. Tests (and the fuzzer) put a
//! [`FaultyIo`] there to fail the N-th write, write short, fail an fsync or report a full disk.

use std::fmt;
use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[cfg(unix)]
use std::os::unix::fs::FileExt;

/// The durability-relevant file operations. Implementations must be thread-safe.
pub trait Io: Send + Sync + fmt::Debug + 'static {
    /// Writes all of `buf` to `file` at `position`.
    fn write_all_at(&self, file: &File, path: &Path, buf: &[u8], position: u64) -> io::Result<()>;
    /// Copies `src` into `dst`, bytes of a segment's data file mapped into memory: how appends
    /// to the active segment write (into space [`write_all_at`](Self::write_all_at) zero-filled
    /// first). The default copies; [`FaultyIo`] fails it like a write.
    fn write_mapped(&self, dst: &mut [u8], src: &[u8], path: &Path) -> io::Result<()> {
        let _ = path;
        dst.copy_from_slice(src);
        Ok(())
    }
    /// Makes the file's data (and the metadata needed to read it) durable.
    fn sync_data(&self, file: &File, path: &Path) -> io::Result<()>;
    /// Makes a directory's entries (files created, renamed, deleted) durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
}

/// The real file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsIo;

impl Io for OsIo {
    fn write_all_at(&self, file: &File, _path: &Path, buf: &[u8], position: u64) -> io::Result<()> {
        file.write_all_at(buf, position)
    }

    fn sync_data(&self, file: &File, _path: &Path) -> io::Result<()> {
        file.sync_data()
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }
}

/// An [`Io`] that does the real operations until told to fail.
///
/// Faults are armed with a countdown: `fail_write_after(n)` lets `n` more writes succeed, then
/// fails the next one (optionally after writing part of it, a short write) and every write after
/// it until [`heal`](Self::heal). Fsync failures work the same way.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::sync::Arc;
/// use partlog::{Error, FaultyIo, Log, LogOptions, Record, TopicConfig};
/// let io = Arc::new(FaultyIo::new());
/// let log = Log::open_with(dir.path(), LogOptions::default().io(io.clone()))?;
/// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
/// p.append(&[Record::new(b"kept")])?;
///
/// io.fail_write_after(0, std::io::ErrorKind::StorageFull, true);
/// assert!(matches!(p.append(&[Record::new(b"lost")]), Err(Error::Io { .. })));
/// io.heal();
/// // Fail-stop: no more appends until the log is reopened; reads still work.
/// assert!(matches!(p.append(&[Record::new(b"refused")]), Err(Error::WritesStopped { .. })));
/// assert_eq!(p.read(0, 1 << 20)?.len(), 1);
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct FaultyIo {
    writes_left: AtomicU64,
    write_fault: parking_lot::Mutex<Option<(io::ErrorKind, bool)>>,
    syncs_left: AtomicU64,
    sync_fault: AtomicBool,
    writes: AtomicU64,
    syncs: AtomicU64,
}

impl FaultyIo {
    /// An `Io` without faults armed.
    pub fn new() -> Self {
        FaultyIo::default()
    }

    /// After `n` more successful writes, fail writes with `kind`; with `short`, the failing write
    /// first writes half of its bytes (a torn write).
    pub fn fail_write_after(&self, n: u64, kind: io::ErrorKind, short: bool) {
        self.writes_left.store(n, Ordering::SeqCst);
        *self.write_fault.lock() = Some((kind, short));
    }

    /// After `n` more successful fsyncs, fail fsyncs.
    pub fn fail_sync_after(&self, n: u64) {
        self.syncs_left.store(n, Ordering::SeqCst);
        self.sync_fault.store(true, Ordering::SeqCst);
    }

    /// Disarms every fault.
    pub fn heal(&self) {
        *self.write_fault.lock() = None;
        self.sync_fault.store(false, Ordering::SeqCst);
    }

    /// Writes attempted so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// File and directory fsyncs attempted so far.
    pub fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::SeqCst)
    }

    fn countdown(left: &AtomicU64) -> bool {
        left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_err()
    }

    fn sync_fails(&self) -> bool {
        self.syncs.fetch_add(1, Ordering::SeqCst);
        self.sync_fault.load(Ordering::SeqCst) && Self::countdown(&self.syncs_left)
    }
}

impl FaultyIo {
    /// The armed write fault, if this write is the one (or after the one) to fail: its kind and
    /// whether to write half first. Counts the write.
    fn write_fault(&self) -> Option<(io::ErrorKind, bool)> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        let fault = *self.write_fault.lock();
        fault.filter(|_| Self::countdown(&self.writes_left))
    }
}

fn injected(kind: io::ErrorKind, path: &Path) -> io::Error {
    io::Error::new(kind, format!("injected write failure on {}", path.display()))
}

impl Io for FaultyIo {
    fn write_all_at(&self, file: &File, path: &Path, buf: &[u8], position: u64) -> io::Result<()> {
        if let Some((kind, short)) = self.write_fault() {
            if short {
                file.write_all_at(&buf[..buf.len() / 2], position)?;
            }
            return Err(injected(kind, path));
        }
        OsIo.write_all_at(file, path, buf, position)
    }

    fn write_mapped(&self, dst: &mut [u8], src: &[u8], path: &Path) -> io::Result<()> {
        if let Some((kind, short)) = self.write_fault() {
            if short {
                let half = src.len() / 2;
                dst[..half].copy_from_slice(&src[..half]);
            }
            return Err(injected(kind, path));
        }
        OsIo.write_mapped(dst, src, path)
    }

    fn sync_data(&self, file: &File, path: &Path) -> io::Result<()> {
        if self.sync_fails() {
            return Err(io::Error::other(format!("injected fsync failure on {}", path.display())));
        }
        OsIo.sync_data(file, path)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        if self.sync_fails() {
            return Err(io::Error::other(format!("injected fsync failure on {}", path.display())));
        }
        OsIo.sync_dir(path)
    }
}
