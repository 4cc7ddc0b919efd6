//! The prefill thread (`LogOptions::preallocate_in_background`): it zero-fills the active
//! segment ahead of the appends, and neither a full disk it meets nor a segment sealed while it
//! works may cost an acknowledged record or leave bytes past the batches.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use partlog::{Error, Fetch, Io, Log, LogOptions, Partition, Record, TopicConfig};

const MIB: u64 = 1 << 20;

/// A disk with room for the first `limit` bytes of each file: a write reaching past them fails
/// whole with `StorageFull`. Counts the writes made by the prefill thread.
#[derive(Debug)]
struct SmallDisk {
    limit: u64,
    by_prefill: AtomicU64,
    failed_by_prefill: AtomicU64,
}

impl Io for SmallDisk {
    fn write_all_at(&self, file: &File, path: &Path, buf: &[u8], position: u64) -> std::io::Result<()> {
        let by_prefill = std::thread::current().name() == Some("partlog-prefill");
        if by_prefill {
            self.by_prefill.fetch_add(1, Ordering::Relaxed);
        }
        if position + buf.len() as u64 > self.limit {
            if by_prefill {
                self.failed_by_prefill.fetch_add(1, Ordering::Relaxed);
            }
            return Err(std::io::Error::new(std::io::ErrorKind::StorageFull, "disk full"));
        }
        partlog::OsIo.write_all_at(file, path, buf, position)
    }
    fn sync_data(&self, file: &File, path: &Path) -> std::io::Result<()> {
        partlog::OsIo.sync_data(file, path)
    }
    fn sync_dir(&self, path: &Path) -> std::io::Result<()> {
        partlog::OsIo.sync_dir(path)
    }
}

fn batch(i: u64) -> Vec<Vec<u8>> {
    (0..10).map(|j| format!("{i:08}-{j}-{}", "x".repeat(1000)).into_bytes()).collect()
}

fn append(p: &Partition, i: u64) -> partlog::Result<partlog::AppendInfo> {
    let values = batch(i);
    p.append(&values.iter().map(|v| Record::new(v)).collect::<Vec<_>>())
}

fn values(p: &Partition) -> Vec<Vec<u8>> {
    let (mut fetch, mut next, mut out) = (Fetch::new(), 0, Vec::new());
    while next < p.log_end_offset() {
        p.fetch(next, 1 << 20, &mut fetch).unwrap();
        out.extend(fetch.records().map(|r| r.unwrap().value().unwrap().to_vec()));
        next = fetch.next_offset();
    }
    out
}

/// The disk fills up while the thread is ahead of the appends: every append that fits is
/// acknowledged (the thread's chunks are used), the thread's failed fill is dropped, the first
/// append that needs space past the limit gets the zero-fill's `StorageFull` as an error, and a
/// reopen finds exactly the acknowledged records. The same without the thread.
#[test]
fn a_full_disk_fails_the_append_that_needs_the_space_and_loses_nothing() {
    for background in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let disk =
            Arc::new(SmallDisk { limit: 3 * MIB, by_prefill: AtomicU64::new(0), failed_by_prefill: AtomicU64::new(0) });
        let options =
            LogOptions::default().maintenance_interval_ms(None).io(disk.clone()).preallocate_in_background(background);
        let log = Log::open_with(dir.path(), options).unwrap();
        let p = log.create_topic("t", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
        let mut acknowledged = 0;
        let error = loop {
            match append(&p, acknowledged) {
                Ok(_) => acknowledged += 1,
                Err(e) => break e,
            }
            assert!(acknowledged < 1000, "the limit was never met");
            if background {
                // Let the thread serve each request before going on, so that the appender never
                // fills for itself until the thread has met the full disk: wait until at least
                // 32 KiB (half the smallest chunk, more than a batch) of zeros lie past the
                // batches. The thread is asked for the next chunk once less than half of one
                // is left, and a served request leaves a whole chunk (64 KiB or more).
                let segment = &p.segments()[0];
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    let file_len = std::fs::metadata(segment.log_path()).unwrap().len();
                    if file_len >= segment.size() + 32 * 1024 || disk.failed_by_prefill.load(Ordering::Relaxed) > 0 {
                        break;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "the prefill thread did not fill ahead: file {file_len} bytes, batches {} bytes, {} writes by the thread",
                        segment.size(),
                        disk.by_prefill.load(Ordering::Relaxed)
                    );
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        };
        match error {
            Error::Io { op: "zero-fill", source, .. } => assert_eq!(source.kind(), std::io::ErrorKind::StorageFull),
            other => panic!("{other:?}"),
        }
        let size = p.segments()[0].size();
        assert!(size <= 3 * MIB && size > 3 * MIB - 11_000, "appends used the space up to the limit: {size}");
        if background {
            assert!(disk.by_prefill.load(Ordering::Relaxed) >= 3, "the thread filled chunks, then failed");
            // It is asked again by each later append (the disk may have room by then).
            assert!(disk.failed_by_prefill.load(Ordering::Relaxed) >= 1, "the thread met the full disk first");
        } else {
            assert_eq!(disk.by_prefill.load(Ordering::Relaxed), 0);
        }
        let expected: Vec<Vec<u8>> = (0..acknowledged).flat_map(batch).collect();
        assert!(values(&p) == expected, "reads serve the acknowledged records");
        assert!(log.close().is_err(), "a failed write is reported again on close");

        let log = Log::open_with(dir.path(), LogOptions::default().maintenance_interval_ms(None)).unwrap();
        let p = log.partition("t", 0).unwrap();
        assert_eq!(p.log_end_offset(), acknowledged * 10, "background: {background}");
        assert!(values(&p) == expected, "background: {background}");
    }
}

/// Segments roll while the thread is filling ahead of them (each is rolled right after the
/// append that asked for the next chunk): each sealed file is cut to its batches, and a reopen
/// after a crash finds no damage and every record.
#[test]
fn segments_sealed_while_the_thread_fills_end_at_their_batches() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open_with(dir.path(), LogOptions::default().maintenance_interval_ms(None)).unwrap();
    let p = log.create_topic("t", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    let mut appends = 0;
    for _ in 0..20 {
        while p.segments().last().unwrap().size() <= MIB / 2 {
            append(&p, appends).unwrap();
            appends += 1;
        }
        p.roll().unwrap();
    }
    let segments = p.segments();
    assert_eq!(segments.len(), 21);
    for s in &segments[..20] {
        let on_disk = std::fs::metadata(s.log_path()).unwrap().len();
        assert_eq!(on_disk, s.size(), "{}", s.log_path().display());
    }
    log.simulate_crash();

    let log = Log::open_with(
        dir.path(),
        LogOptions::default().maintenance_interval_ms(None).recovery_mode(partlog::RecoveryMode::Strict),
    )
    .unwrap();
    let p = log.partition("t", 0).unwrap();
    let expected: Vec<Vec<u8>> = (0..appends).flat_map(batch).collect();
    assert!(values(&p) == expected);
    log.close().unwrap();
    for s in p.segments() {
        assert_eq!(std::fs::metadata(s.log_path()).unwrap().len(), s.size(), "{}", s.log_path().display());
    }
}
