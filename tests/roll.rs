//! Segment roll rules (Kafka's `LogSegment.shouldRoll`) and batches Kafka's compactor writes.

mod common;

use partlog::{Partition, Record, TopicConfig};

use common::{bases, partition_with};

/// Rewrites a batch header field and fixes the CRC, to build batches `append` never makes.
fn patch(raw: &mut Vec<u8>, edit: impl FnOnce(&mut Vec<u8>)) {
    edit(raw);
    let len = (raw.len() - 12) as i32;
    raw[8..12].copy_from_slice(&len.to_be_bytes());
    let crc = crc32c::crc32c(&raw[21..]);
    raw[17..21].copy_from_slice(&crc.to_be_bytes());
}

fn one_batch(p: &Partition, record: Record<'_>) -> Vec<u8> {
    let from = p.log_end_offset();
    p.append(&[record]).unwrap();
    let mut raw = Vec::new();
    p.read_raw(from, usize::MAX, &mut raw).unwrap();
    raw
}

#[test]
fn segments_roll_when_the_next_batch_would_pass_segment_bytes() {
    let mut config = TopicConfig::default();
    config.segment_bytes = 1000;
    let (_dir, _log, p) = partition_with(config);
    for _ in 0..10 {
        p.append(&[Record::new(&[0u8; 200])]).unwrap(); // 272-byte batches: three fit in 1000
    }
    assert_eq!(bases(&p), [0, 3, 6, 9]);
    assert!(p.segments().iter().all(|s| s.size() <= 1000));
}

#[test]
fn segments_roll_on_segment_ms_measured_by_record_timestamps() {
    let mut config = TopicConfig::default();
    config.segment_ms = 1000;
    let (_dir, _log, p) = partition_with(config);
    for ts in [0, 500, 1000, 1001, 1500, 2001, 2002] {
        p.append(&[Record::new(b"v").with_timestamp(ts)]).unwrap();
    }
    // Waited = batch max timestamp − the segment's first batch max timestamp; roll when > 1000:
    // at 1001 (1001 − 0) and at 2002 (2002 − 1001), not at 2001 (exactly 1000).
    assert_eq!(bases(&p), [0, 3, 6]);
}

#[test]
fn segments_roll_when_an_index_is_full() {
    let mut config = TopicConfig::default();
    config.segment_index_bytes = 48; // 6 offset entries; the time index holds 4, one reserved
    config.index_interval_bytes = 0; // an entry for every batch after the first
    let (_dir, _log, p) = partition_with(config);
    for i in 0..12 {
        p.append(&[Record::new(b"v").with_timestamp(i)]).unwrap();
    }
    // First batch: no entry; then one time entry per batch until 3 of 4 slots are used.
    assert_eq!(bases(&p), [0, 4, 8]);
    for s in p.segments().iter().take(2) {
        assert_eq!(s.time_index().unwrap().entries(), 3);
        assert_eq!(s.offset_index().unwrap().entries(), 3);
    }
}

/// At roll the time index gets one more entry carrying the segment's largest timestamp, when the
/// batch that reached it came after the last sparse entry.
#[test]
fn a_sealed_segment_s_last_time_entry_holds_its_largest_timestamp() {
    let mut config = TopicConfig::default();
    config.index_interval_bytes = 150;
    let (_dir, _log, p) = partition_with(config);
    for ts in [10, 20, 30, 40, 90] {
        p.append(&[Record::new(b"v").with_timestamp(ts)]).unwrap();
    }
    p.roll().unwrap();
    let segments = p.segments();
    let ti = segments[0].time_index().unwrap();
    let entries: Vec<(i64, u64)> =
        (0..ti.entries()).map(|i| ti.entry(i).unwrap()).map(|e| (e.timestamp, e.offset)).collect();
    // Batches are 69 bytes: 0, 69, 138, then 207 > 150 bytes since the last entry at the fourth
    // batch (offset 3, largest timestamp so far 40); the fifth adds none; the roll adds (90, 4).
    assert_eq!(p.segments()[0].size(), 5 * 69);
    assert_eq!(entries, [(40, 3), (90, 4)]);
}

#[test]
fn segments_roll_before_relative_offsets_overflow_int32() {
    let (_dir, _log, p) = partition_with(TopicConfig::default());
    // A batch covering 2^31 − 10 offsets (as after compaction: one record, a large last offset delta).
    let mut raw = one_batch(&p, Record::new(b"only record"));
    patch(&mut raw, |b| {
        b[..8].copy_from_slice(&1i64.to_be_bytes()); // as a leader's log holds it, after offset 0
        b[23..27].copy_from_slice(&(i32::MAX - 10).to_be_bytes());
    });
    let info = p.append_replicated(&raw).unwrap();
    assert_eq!(info.last_offset, 1 + (i32::MAX as u64 - 10));
    assert_eq!(bases(&p), [0]);
    let mut raw = one_batch(&p, Record::new(b"x"));
    let base = p.log_end_offset();
    patch(&mut raw, |b| {
        b[..8].copy_from_slice(&(base as i64).to_be_bytes());
        b[23..27].copy_from_slice(&20i32.to_be_bytes());
    });
    p.append_replicated(&raw).unwrap();
    assert_eq!(bases(&p), [0, base], "the batch's last offset would not fit the first segment");
    let r = p.read(base, 1 << 20).unwrap();
    assert_eq!((r[0].offset, r[0].value.as_deref()), (base, Some(&b"x"[..])));
}

/// Kafka's compactor leaves empty batches (a 61-byte header, no records) and batches whose
/// offsets have gaps; both are accepted, stored as they are and skipped by record iteration.
#[test]
fn empty_batches_and_offset_gaps_from_compaction_are_read_like_kafka() {
    let (_dir, _log, p) = partition_with(TopicConfig::default());
    let mut empty = one_batch(&p, Record::new(b"dropped"));
    patch(&mut empty, |b| {
        b.truncate(61);
        b[..8].copy_from_slice(&1i64.to_be_bytes()); // after offset 0
        b[23..27].copy_from_slice(&4i32.to_be_bytes()); // covers 5 offsets
        b[27..35].copy_from_slice(&(-1i64).to_be_bytes()); // base timestamp -1
        b[57..61].copy_from_slice(&0i32.to_be_bytes());
    });
    assert!(p.append_raw(&empty).is_err(), "no producer sends an empty batch");
    let info = p.append_replicated(&empty).unwrap();
    assert_eq!((info.first_offset, info.last_offset), (1, 5));
    p.append(&[Record::new(b"after")]).unwrap();
    let values: Vec<(u64, Vec<u8>)> =
        p.read(0, 1 << 20).unwrap().into_iter().map(|r| (r.offset, r.value.unwrap())).collect();
    assert_eq!(values, [(0, b"dropped".to_vec()), (6, b"after".to_vec())]);
    assert_eq!(p.read(2, 1 << 20).unwrap()[0].offset, 6, "a read inside the empty batch continues after it");
}

/// An `Io` whose fsyncs of `.log` files on the log's background thread wait until released,
/// and which records every file it fsynced, before the fsync returns.
#[derive(Debug, Default)]
struct HeldBehind {
    held: std::sync::Mutex<bool>,
    released: std::sync::Condvar,
    waiting: std::sync::atomic::AtomicUsize,
    synced: std::sync::Mutex<std::collections::HashSet<std::path::PathBuf>>,
}

impl HeldBehind {
    fn hold(&self, held: bool) {
        *self.held.lock().unwrap_or_else(|e| e.into_inner()) = held;
        self.released.notify_all();
    }
}

/// Releases the held fsyncs when dropped: a failed assertion must not leave the log's close
/// waiting for them forever.
struct Release(std::sync::Arc<HeldBehind>);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.hold(false);
    }
}

impl partlog::Io for HeldBehind {
    fn write_all_at(&self, file: &std::fs::File, path: &std::path::Path, buf: &[u8], at: u64) -> std::io::Result<()> {
        partlog::OsIo.write_all_at(file, path, buf, at)
    }
    fn sync_data(&self, file: &std::fs::File, path: &std::path::Path) -> std::io::Result<()> {
        let behind = std::thread::current().name() == Some("partlog-flush");
        if behind && path.extension().is_some_and(|e| e == "log") {
            self.waiting.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut held = self.held.lock().unwrap();
            while *held {
                held = self.released.wait(held).unwrap();
            }
        }
        partlog::OsIo.sync_data(file, path)?;
        self.synced.lock().unwrap().insert(path.to_owned());
        Ok(())
    }
    fn sync_dir(&self, path: &std::path::Path) -> std::io::Result<()> {
        partlog::OsIo.sync_dir(path)
    }
}

/// A roll inside an append leaves the sealed segment's fsync to the log's background thread, as
/// Kafka's roll schedules its flush: the append does not wait for it, and the recovery point
/// passes the segment only once it is durable; a `flush` waits for that fsync.
#[test]
fn a_roll_inside_an_append_fsyncs_the_sealed_segment_behind_it() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let io = std::sync::Arc::new(HeldBehind::default());
    io.hold(true);
    let log = partlog::Log::open_with(dir.path(), partlog::LogOptions::default().io(io.clone())).unwrap();
    let mut config = TopicConfig::default();
    config.segment_bytes = 1000;
    let p = log.create_topic("t", 1, config).unwrap().partition(0).unwrap();
    let _release = Release(io.clone());
    for _ in 0..4 {
        p.append(&[Record::new(&[7u8; 200])]).unwrap(); // the fourth rolls
    }
    assert_eq!(bases(&p), [0, 3]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while io.waiting.load(Ordering::SeqCst) == 0 {
        assert!(std::time::Instant::now() < deadline, "the sealed segment is fsynced behind the append");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    // Appends go on while that fsync is held; the recovery point waits for it.
    p.append(&[Record::new(&[8u8; 200])]).unwrap();
    assert_eq!(p.recovery_point(), 0, "not past a segment whose fsync has not returned");
    io.hold(false);
    while p.recovery_point() < 3 {
        assert!(std::time::Instant::now() < deadline, "the recovery point passes the segment once it is durable");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(p.recovery_point(), 3, "only the sealed segment: the active one is not fsynced");
    // With the thread held again on the next roll's fsync, a flush returns only once everything
    // is durable: it waits for the fsync in flight (which holds the sync lock).
    io.hold(true);
    for _ in 0..3 {
        p.append(&[Record::new(&[9u8; 200])]).unwrap();
    }
    assert_eq!(bases(&p), [0, 3, 6]);
    let flushed = std::thread::spawn({
        let p = p.clone();
        move || p.flush()
    });
    std::thread::sleep(std::time::Duration::from_millis(50));
    io.hold(false);
    flushed.join().unwrap().unwrap();
    assert_eq!(p.recovery_point(), p.log_end_offset());
    log.close().unwrap();
}

/// Flushes racing appends that roll at almost every append (their sealed segments fsynced behind
/// them): whenever a flush returns, every segment below the recovery point was fsynced.
/// Regression (review): a flush that took the active segment after fsyncing the owed ones could
/// fsync only the segment a roll had just made, and move the recovery point past the one it
/// sealed.
#[test]
fn a_flush_racing_rolls_never_moves_the_recovery_point_past_a_segment_not_fsynced() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let io = std::sync::Arc::new(HeldBehind::default());
    let log = partlog::Log::open_with(dir.path(), partlog::LogOptions::default().io(io.clone())).unwrap();
    let mut config = TopicConfig::default();
    config.segment_bytes = 300; // 272-byte batches: a roll at every append
    config.segment_index_bytes = 4096;
    let p = log.create_topic("t", 1, config).unwrap().partition(0).unwrap();
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let appender = std::thread::spawn({
        let (p, stop) = (p.clone(), stop.clone());
        move || {
            let mut appends = 0;
            while !stop.load(Ordering::SeqCst) && appends < 20_000 {
                p.append(&[Record::new(&[1u8; 200])]).unwrap();
                appends += 1;
            }
            appends
        }
    });
    for flush in 0..40 {
        p.flush().unwrap();
        let rp = p.recovery_point();
        let segments = p.segments();
        let synced = io.synced.lock().unwrap();
        for pair in segments.windows(2) {
            if pair[1].base_offset() <= rp {
                assert!(
                    synced.contains(pair[0].log_path()),
                    "after flush {flush}: recovery point {rp} passes segment {} (up to {}), never fsynced",
                    pair[0].base_offset(),
                    pair[1].base_offset()
                );
            }
        }
    }
    stop.store(true, Ordering::SeqCst);
    let appends = appender.join().unwrap();
    assert!(appends > 40, "the flushes raced the appends ({appends} appends)");
    log.close().unwrap();
}
