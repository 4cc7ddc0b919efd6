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
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::fs::File;
/// use std::path::Path;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use partlog::{Io, Log, LogOptions, OsIo, Record, TopicConfig};
///
/// // The real file system, counting fsyncs.
/// #[derive(Debug, Default)]
/// struct CountingIo(AtomicU64);
///
/// impl Io for CountingIo {
///     fn write_all_at(&self, file: &File, path: &Path, buf: &[u8], position: u64) -> std::io::Result<()> {
///         OsIo.write_all_at(file, path, buf, position)
///     }
///     fn sync_data(&self, file: &File, path: &Path) -> std::io::Result<()> {
///         self.0.fetch_add(1, Ordering::SeqCst);
///         OsIo.sync_data(file, path)
///     }
///     fn sync_dir(&self, path: &Path) -> std::io::Result<()> {
///         self.0.fetch_add(1, Ordering::SeqCst);
///         OsIo.sync_dir(path)
///     }
/// }
///
/// let io = Arc::new(CountingIo::default());
/// let log = Log::open_with(dir.path(), LogOptions::default().io(io.clone()))?;
/// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
/// p.append(&[Record::new(b"a")])?;
/// let before = io.0.load(Ordering::SeqCst);
/// p.flush()?; // the fsyncs go through the partition's Io
/// assert!(io.0.load(Ordering::SeqCst) > before);
/// assert_eq!(p.read(0, 1 << 20)?[0].value.as_deref(), Some(&b"a"[..]));
/// # Ok::<(), partlog::Error>(())
/// ```
pub trait Io: Send + Sync + fmt::Debug + 'static {
    /// Writes all of `buf` to `file` at `position`.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Io, OsIo};
    /// let path = dir.path().join("data");
    /// let file = std::fs::File::create(&path)?;
    /// OsIo.write_all_at(&file, &path, b"world", 6)?;
    /// OsIo.write_all_at(&file, &path, b"hello ", 0)?;
    /// assert_eq!(std::fs::read(&path)?, b"hello world");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn write_all_at(&self, file: &File, path: &Path, buf: &[u8], position: u64) -> io::Result<()>;
    /// Copies `src` into `dst`, bytes of a segment's data file mapped into memory: how appends
    /// to the active segment write (into space [`write_all_at`](Self::write_all_at) zero-filled
    /// first). The default copies; [`FaultyIo`] fails it like a write.
    ///
    /// # Example
    /// ```
    /// use std::path::Path;
    /// use partlog::{FaultyIo, Io, OsIo};
    /// let path = Path::new("00000000000000000000.log");
    /// let mut mapped = [0u8; 5];
    /// OsIo.write_mapped(&mut mapped, b"hello", path)?;
    /// assert_eq!(&mapped, b"hello");
    ///
    /// let faulty = FaultyIo::new();
    /// faulty.fail_write_after(0, std::io::ErrorKind::StorageFull, true);
    /// let err = faulty.write_mapped(&mut mapped, b"HELLO", path).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::StorageFull);
    /// assert_eq!(&mapped, b"HEllo"); // a torn write: the first half was copied
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn write_mapped(&self, dst: &mut [u8], src: &[u8], path: &Path) -> io::Result<()> {
        let _ = path;
        dst.copy_from_slice(src);
        Ok(())
    }
    /// Makes the file's data (and the metadata needed to read it) durable.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{FaultyIo, Io};
    /// let path = dir.path().join("data");
    /// let file = std::fs::File::create(&path)?;
    /// let io = FaultyIo::new();
    /// io.write_all_at(&file, &path, b"durable", 0)?;
    /// io.sync_data(&file, &path)?;
    /// assert_eq!(io.syncs(), 1);
    /// io.fail_sync_after(0);
    /// assert!(io.sync_data(&file, &path).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn sync_data(&self, file: &File, path: &Path) -> io::Result<()>;
    /// Makes a directory's entries (files created, renamed, deleted) durable.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Io, OsIo};
    /// std::fs::File::create(dir.path().join("new-file"))?;
    /// OsIo.sync_dir(dir.path())?; // the new entry survives a power loss
    /// let missing = OsIo.sync_dir(&dir.path().join("missing")).unwrap_err();
    /// assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
}

/// The real file system.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::sync::Arc;
/// use partlog::{Log, LogOptions, OsIo, Record, TopicConfig};
/// assert_eq!(format!("{:?}", LogOptions::default().io), "OsIo"); // the default
/// let log = Log::open_with(dir.path(), LogOptions::default().io(Arc::new(OsIo)))?;
/// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
/// p.append(&[Record::new(b"on disk")])?;
/// p.flush()?;
/// assert_eq!(p.recovery_point(), 1);
/// # Ok::<(), partlog::Error>(())
/// ```
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
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{FaultyIo, Io};
    /// let path = dir.path().join("data");
    /// let file = std::fs::File::create(&path)?;
    /// let io = FaultyIo::new();
    /// io.write_all_at(&file, &path, b"abc", 0)?; // no fault armed: a real write
    /// assert_eq!(std::fs::read(&path)?, b"abc");
    /// assert_eq!((io.writes(), io.syncs()), (1, 0));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> Self {
        FaultyIo::default()
    }

    /// After `n` more successful writes, fail writes with `kind`; with `short`, the failing write
    /// first writes half of its bytes (a torn write).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::io::ErrorKind;
    /// use partlog::{FaultyIo, Io};
    /// let path = dir.path().join("data");
    /// let file = std::fs::File::create(&path)?;
    /// let io = FaultyIo::new();
    /// io.fail_write_after(1, ErrorKind::StorageFull, true);
    /// io.write_all_at(&file, &path, b"abcd", 0)?; // the one write still allowed
    /// let err = io.write_all_at(&file, &path, b"efgh", 4).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::StorageFull);
    /// assert_eq!(std::fs::read(&path)?, b"abcdef"); // torn: half of the failed write landed
    /// assert!(io.write_all_at(&file, &path, b"ijkl", 4).is_err()); // and every write after it fails
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn fail_write_after(&self, n: u64, kind: io::ErrorKind, short: bool) {
        self.writes_left.store(n, Ordering::SeqCst);
        *self.write_fault.lock() = Some((kind, short));
    }

    /// After `n` more successful fsyncs, fail fsyncs.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{FaultyIo, Io};
    /// let path = dir.path().join("data");
    /// let file = std::fs::File::create(&path)?;
    /// let io = FaultyIo::new();
    /// io.fail_sync_after(1);
    /// io.sync_dir(dir.path())?; // the one fsync still allowed
    /// assert!(io.sync_data(&file, &path).is_err());
    /// assert!(io.sync_dir(dir.path()).is_err());
    /// assert_eq!(io.syncs(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn fail_sync_after(&self, n: u64) {
        self.syncs_left.store(n, Ordering::SeqCst);
        self.sync_fault.store(true, Ordering::SeqCst);
    }

    /// Disarms every fault.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{FaultyIo, Io};
    /// let path = dir.path().join("data");
    /// let file = std::fs::File::create(&path)?;
    /// let io = FaultyIo::new();
    /// io.fail_write_after(0, std::io::ErrorKind::Other, false);
    /// io.fail_sync_after(0);
    /// assert!(io.write_all_at(&file, &path, b"x", 0).is_err());
    /// assert!(io.sync_dir(dir.path()).is_err());
    /// io.heal();
    /// io.write_all_at(&file, &path, b"x", 0)?;
    /// io.sync_dir(dir.path())?;
    /// assert_eq!(std::fs::read(&path)?, b"x");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn heal(&self) {
        *self.write_fault.lock() = None;
        self.sync_fault.store(false, Ordering::SeqCst);
    }

    /// Writes attempted so far.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{FaultyIo, Io};
    /// let path = dir.path().join("data");
    /// let file = std::fs::File::create(&path)?;
    /// let io = FaultyIo::new();
    /// io.write_all_at(&file, &path, b"a", 0)?;
    /// io.write_mapped(&mut [0u8; 1], b"b", &path)?; // copies into a mapping count too
    /// io.fail_write_after(0, std::io::ErrorKind::Other, false);
    /// assert!(io.write_all_at(&file, &path, b"c", 1).is_err());
    /// assert_eq!(io.writes(), 3); // failed ones included
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// File and directory fsyncs attempted so far.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{FaultyIo, Io};
    /// let path = dir.path().join("data");
    /// let file = std::fs::File::create(&path)?;
    /// let io = FaultyIo::new();
    /// io.sync_data(&file, &path)?;
    /// io.sync_dir(dir.path())?;
    /// io.fail_sync_after(0);
    /// assert!(io.sync_dir(dir.path()).is_err());
    /// assert_eq!((io.syncs(), io.writes()), (3, 0)); // failed ones included
    /// # Ok::<(), std::io::Error>(())
    /// ```
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
