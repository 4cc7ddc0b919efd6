//! Log compaction against a model: after cleaning, reading from the start gives the latest value
//! of every key that was not deleted, in offset order, with the original offsets; tombstones go
//! only after their horizon; a crash at any step of the swap loses and duplicates nothing.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use proptest::prelude::*;

use partlog::{
    CleanupPolicy, Compression, CompressionType, Error, FaultyIo, Log, ManualClock, OwnedRecord, Partition, Record,
    TopicConfig,
};

use common::{bases, clocked, read_all, T0};
const DAY: i64 = 86_400_000;

fn compacted(codec: Compression) -> TopicConfig {
    let mut c = TopicConfig::default();
    c.cleanup_policy = CleanupPolicy::Compact;
    c.compression_type = CompressionType::Codec(codec);
    c.segment_bytes = 2048;
    c.index_interval_bytes = 256;
    c
}

/// Everything ever appended: offset → (key, value).
type Appended = BTreeMap<u64, (Vec<u8>, Option<Vec<u8>>)>;

fn append(p: &Partition, appended: &mut Appended, key: &[u8], value: Option<&[u8]>, ts: i64) {
    let record = Record { key: Some(key), value, timestamp: Some(ts), headers: &[] };
    let info = p.append(&[record]).unwrap();
    appended.insert(info.first_offset, (key.to_vec(), value.map(<[u8]>::to_vec)));
}

/// What compaction must never break: every record read is the one appended at its offset, in
/// order, once; every key's latest record is there unless it is a tombstone.
fn check_invariants(records: &[OwnedRecord], appended: &Appended) {
    let mut last = None;
    for r in records {
        assert!(last.is_none_or(|l| r.offset > l), "offsets increase, no duplicates");
        last = Some(r.offset);
        let (key, value) = &appended[&r.offset];
        assert_eq!((r.key.as_ref(), r.value.as_ref()), (Some(key), value.as_ref()), "offset {} unchanged", r.offset);
    }
    let mut latest: HashMap<&[u8], u64> = HashMap::new();
    for (offset, (key, _)) in appended {
        latest.insert(key, *offset);
    }
    let present: std::collections::HashSet<u64> = records.iter().map(|r| r.offset).collect();
    for offset in latest.values() {
        if appended[offset].1.is_some() {
            assert!(present.contains(offset), "the latest value of every live key survives (offset {offset})");
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u8),
    Delete(u8),
    Roll,
    Compact,
    Advance(i64),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0u8..10, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        2 => (0u8..10).prop_map(Op::Delete),
        2 => Just(Op::Roll),
        2 => Just(Op::Compact),
        1 => (0i64..2 * DAY).prop_map(Op::Advance),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn compaction_keeps_the_latest_value_of_every_key(codec in 0usize..4, ops in proptest::collection::vec(op(), 1..120)) {
        let codec = [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4][codec];
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(T0));
        let mut log = Log::open_with(dir.path(), clocked(&clock)).unwrap();
        log.create_topic("c", 1, compacted(codec)).unwrap();
        let mut appended = Appended::new();
        for op in ops {
            let p = log.partition("c", 0).unwrap();
            match op {
                Op::Put(k, v) => append(&p, &mut appended, &[k], Some(&vec![v; 1 + v as usize % 90]), clock_now(&clock)),
                Op::Delete(k) => append(&p, &mut appended, &[k], None, clock_now(&clock)),
                Op::Roll => p.roll().unwrap(),
                Op::Advance(ms) => clock.advance_ms(ms),
                Op::Compact => {
                    let cleanable_end = p.segments().last().unwrap().base_offset();
                    p.compact().unwrap();
                    let records = read_all(&p);
                    check_invariants(&records, &appended);
                    // In the cleaned range each key appears once: its latest offset there.
                    let mut seen = HashMap::new();
                    for r in records.iter().filter(|r| r.offset < cleanable_end) {
                        let key = r.key.clone().unwrap();
                        prop_assert!(seen.insert(key.clone(), r.offset).is_none(), "key {:?} twice below {}", key, cleanable_end);
                        let latest_below = appended.range(..cleanable_end).filter(|(_, (k, _))| *k == key).map(|(o, _)| *o).max();
                        prop_assert_eq!(Some(r.offset), latest_below);
                    }
                }
                Op::Reopen => {
                    drop(p);
                    log.close().unwrap();
                    log = Log::open_with(dir.path(), clocked(&clock)).unwrap();
                }
            }
        }
        check_invariants(&read_all(&log.partition("c", 0).unwrap()), &appended);
    }
}

fn clock_now(clock: &ManualClock) -> i64 {
    use partlog::Clock;
    clock.now_ms()
}

#[test]
fn tombstones_survive_until_their_delete_horizon_then_go() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = Log::open_with(dir.path(), clocked(&clock)).unwrap();
    let mut config = compacted(Compression::None);
    config.delete_retention_ms = DAY;
    let p = log.create_topic("c", 1, config).unwrap().partition(0).unwrap();
    let mut appended = Appended::new();
    append(&p, &mut appended, b"a", Some(b"v1"), T0);
    append(&p, &mut appended, b"b", Some(b"kept"), T0);
    append(&p, &mut appended, b"a", None, T0);
    p.roll().unwrap();

    let keys = |p: &Partition| read_all(p).into_iter().map(|r| (r.offset, r.value.is_some())).collect::<Vec<_>>();
    p.compact().unwrap();
    assert_eq!(keys(&p), [(1, true), (2, false)], "the value is gone, the tombstone stays (horizon stamped)");
    clock.set_ms(T0 + DAY - 1);
    p.compact().unwrap();
    assert_eq!(keys(&p), [(1, true), (2, false)], "before the horizon");
    clock.set_ms(T0 + DAY);
    p.compact().unwrap();
    assert_eq!(keys(&p), [(1, true)], "at the horizon the tombstone goes");
    assert_eq!(p.log_end_offset(), 3, "offsets are never reused");
}

#[test]
fn min_compaction_lag_protects_recent_segments() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = Log::open_with(dir.path(), clocked(&clock)).unwrap();
    let mut config = compacted(Compression::None);
    config.min_compaction_lag_ms = 60_000;
    let p = log.create_topic("c", 1, config).unwrap().partition(0).unwrap();
    let mut appended = Appended::new();
    append(&p, &mut appended, b"k", Some(b"old"), T0);
    p.roll().unwrap();
    append(&p, &mut appended, b"k", Some(b"new"), T0 + 50_000);
    p.roll().unwrap();
    clock.set_ms(T0 + 70_000); // the first segment is 70 s old, the second 20 s
    p.compact().unwrap();
    assert_eq!(read_all(&p).len(), 2, "the second segment is too young: its key is not in the map yet");
    clock.set_ms(T0 + 120_000);
    p.compact().unwrap();
    let records = read_all(&p);
    assert_eq!(records.iter().map(|r| r.offset).collect::<Vec<_>>(), [1]);
}

#[test]
fn min_cleanable_dirty_ratio_decides_background_passes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = Log::open_with(dir.path(), clocked(&clock)).unwrap();
    let mut config = compacted(Compression::None);
    config.min_cleanable_dirty_ratio = 0.5;
    let p = log.create_topic("c", 1, config).unwrap().partition(0).unwrap();
    let mut appended = Appended::new();
    for i in 0..20u8 {
        append(&p, &mut appended, &[i % 4], Some(&[i; 50]), T0);
    }
    p.roll().unwrap();
    assert!(p.compact_if_dirty().unwrap().is_some(), "everything is dirty at first");
    let first_dirty = p.first_dirty_offset();
    assert_eq!(first_dirty, 20);
    // A little new dirty data: below the ratio, no pass.
    append(&p, &mut appended, &[0], Some(b"x"), T0);
    p.roll().unwrap();
    assert!(p.compact_if_dirty().unwrap().is_none());
    // Enough to pass the ratio.
    for i in 0..20u8 {
        append(&p, &mut appended, &[i % 4], Some(&[i; 50]), T0);
    }
    p.roll().unwrap();
    assert!(p.compact_if_dirty().unwrap().is_some());
    check_invariants(&read_all(&p), &appended);
    // The cleaner offset survives a reopen.
    drop(p);
    log.close().unwrap();
    let log = Log::open_with(dir.path(), clocked(&clock)).unwrap();
    assert_eq!(log.partition("c", 0).unwrap().first_dirty_offset(), 41);
}

/// Compaction fails at each of its fsyncs in turn (writing `.cleaned`, after renaming it to
/// `.swap`, after the final rename); the process then dies. The reopened log holds every
/// record either as before or as after cleaning, never lost or twice.
#[test]
fn a_crash_at_each_step_of_the_swap_loses_and_duplicates_nothing() {
    for fail_after in 0..6u64 {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(T0));
        let io = Arc::new(FaultyIo::new());
        let log = Log::open_with(dir.path(), clocked(&clock).io(io.clone())).unwrap();
        let p = log.create_topic("c", 1, compacted(Compression::Lz4)).unwrap().partition(0).unwrap();
        let mut appended = Appended::new();
        for i in 0..60u8 {
            let value = [i; 40];
            append(&p, &mut appended, &[i % 7], if i % 9 == 4 { None } else { Some(&value) }, T0);
        }
        p.roll().unwrap();
        log.flush().unwrap();
        let before = read_all(&p);
        io.fail_sync_after(fail_after);
        let result = p.compact();
        io.heal();
        drop(p);
        log.simulate_crash();

        let log = Log::open_with(dir.path(), clocked(&clock)).unwrap();
        let p = log.partition("c", 0).unwrap();
        let after = read_all(&p);
        check_invariants(&after, &appended);
        assert!(after.len() <= before.len());
        let names: Vec<String> = std::fs::read_dir(p.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().all(|n| !n.ends_with(".cleaned") && !n.ends_with(".swap")),
            "fail after {fail_after}: {names:?}"
        );
        if result.is_ok() {
            assert!(after.len() < before.len(), "a pass that succeeded removed the superseded records");
        }
        p.verify().unwrap();
    }
}

#[test]
fn null_keys_are_rejected_and_raw_batches_too() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = Log::open_with(dir.path(), clocked(&clock)).unwrap();
    let p = log.create_topic("c", 1, compacted(Compression::None)).unwrap().partition(0).unwrap();
    assert!(matches!(p.append(&[Record::new(b"no key")]), Err(Error::InvalidRecord { .. })));
    let plain = log.create_topic("plain", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    plain.append(&[Record::new(b"no key")]).unwrap();
    let mut raw = Vec::new();
    plain.read_raw(0, 1 << 20, &mut raw).unwrap();
    assert!(matches!(p.append_raw(&raw), Err(Error::InvalidRecord { .. })));
}

/// Readers scanning while compaction swaps segments under them always get original records.
#[test]
fn readers_racing_compaction_get_only_original_records() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = Log::open_with(dir.path(), clocked(&clock)).unwrap();
    let p = log.create_topic("c", 1, compacted(Compression::Snappy)).unwrap().partition(0).unwrap();
    let mut appended = Appended::new();
    for i in 0..400u32 {
        append(&p, &mut appended, &[(i % 13) as u8], Some(format!("v{i}").as_bytes()), T0);
    }
    p.roll().unwrap();
    let appended = Arc::new(appended);
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (p, appended) = (p.clone(), appended.clone());
            std::thread::spawn(move || {
                for _ in 0..30 {
                    // The 400 records appended before the race (later ones are not in the model).
                    let mut next = p.log_start_offset();
                    while next < 400 {
                        let records = p.read(next, 300).unwrap();
                        for r in records.iter().filter(|r| r.offset < 400) {
                            assert!(r.offset >= next);
                            assert_eq!(r.value.as_ref(), appended[&r.offset].1.as_ref());
                            next = r.offset + 1;
                        }
                        if records.is_empty() {
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    for i in 0..10 {
        append(&p, &mut Appended::new(), &[i], Some(b"more"), T0);
        p.roll().unwrap();
        p.compact().unwrap();
    }
    for r in readers {
        r.join().unwrap();
    }
}

/// With a key map smaller than the dirty range, a pass cleans the part its map covers and the
/// next pass continues from there (Kafka's dedupe buffer).
#[test]
fn a_full_key_map_cleans_the_covered_part_and_the_next_pass_continues() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = Log::open_with(dir.path(), clocked(&clock).cleaner_dedupe_buffer_bytes(0)).unwrap(); // 921 keys
    let mut config = compacted(Compression::None);
    config.segment_bytes = 64 * 1024;
    let p = log.create_topic("c", 1, config).unwrap().partition(0).unwrap();
    let mut appended = Appended::new();
    for round in 0..2u32 {
        for k in 0..3000u32 {
            append(&p, &mut appended, &k.to_be_bytes(), Some(&round.to_be_bytes()), T0);
        }
    }
    p.roll().unwrap();
    let end = p.log_end_offset();
    let mut passes = 0;
    while p.first_dirty_offset() < end {
        let outcome = p.compact().unwrap().unwrap();
        passes += 1;
        assert!(outcome.first_dirty_offset < end || passes > 1);
        check_invariants(&read_all(&p), &appended);
        assert!(passes < 20);
    }
    assert!(passes >= 6, "6000 keyed records need several passes of 921 keys: {passes}");
    // Once the whole range was covered, one more pass leaves exactly one record per key.
    p.compact().unwrap();
    let records = read_all(&p);
    assert_eq!(records.len(), 3000);
    assert!(records.iter().all(|r| r.value.as_deref() == Some(&1u32.to_be_bytes()[..])));
}

/// A corrupt batch met by a compaction pass is reported; it does not stop the partition's appends
/// (fail-stop is for failed writes and fsyncs).
#[test]
fn a_corrupt_batch_found_by_compaction_is_reported_without_stopping_appends() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = Log::open_with(dir.path(), clocked(&clock)).unwrap();
    let p = log.create_topic("c", 1, compacted(Compression::None)).unwrap().partition(0).unwrap();
    let mut appended = Appended::new();
    for i in 0..5u8 {
        append(&p, &mut appended, &[i], Some(b"value"), T0);
    }
    p.roll().unwrap();
    let path = p.segments()[0].log_path().to_owned();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[80] ^= 0x01; // inside the first batch's CRC-covered bytes
    std::fs::write(&path, bytes).unwrap();
    let got = p.compact();
    assert!(matches!(got, Err(Error::CorruptBatch { .. })), "{got:?}");
    append(&p, &mut appended, b"k", Some(b"still writable"), T0);
}

/// Kafka's `max.compaction.lag.ms`: a dirty segment whose first batch has waited longer than it
/// is compacted whatever `min.cleanable.dirty.ratio` says, and a compacted topic's segments
/// roll within it. Regression: the setting was accepted and persisted, and did nothing.
#[test]
fn max_compaction_lag_forces_a_pass_and_bounds_the_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = Log::open_with(dir.path(), clocked(&clock)).unwrap();
    let mut config = compacted(Compression::None);
    config.segment_bytes = 1 << 20;
    config.min_cleanable_dirty_ratio = 0.9;
    config.max_compaction_lag_ms = 60_000;
    let p = log.create_topic("c", 1, config).unwrap().partition(0).unwrap();
    let mut appended = Appended::new();
    for i in 0..50u8 {
        append(&p, &mut appended, &[i], Some(b"v1"), T0);
    }
    p.roll().unwrap();
    assert_eq!(p.compact().unwrap().unwrap().records_removed, 0);
    append(&p, &mut appended, &[0], Some(b"v2"), T0 + 1000); // supersedes key 0: a little dirt
    p.roll().unwrap();

    clock.set_ms(T0 + 2000);
    assert_eq!(p.compact_if_dirty().unwrap(), None, "1 dirty record of 51 is below the ratio, and not overdue");
    clock.set_ms(T0 + 1000 + 60_001);
    let outcome = p.compact_if_dirty().unwrap().expect("overdue: compacted whatever the ratio");
    assert_eq!(outcome.records_removed, 1);
    check_invariants(&read_all(&p), &appended);

    // The active segment rolls once its first batch is older than the lag (by record time).
    let segments = p.segments().len();
    append(&p, &mut appended, &[1], Some(b"v2"), T0 + 100_000);
    append(&p, &mut appended, &[2], Some(b"v2"), T0 + 100_000 + 60_001);
    assert_eq!(p.segments().len(), segments + 1);
}

/// What compaction leaves is what Kafka's cleaner leaves: a cleaned segment comes with its index
/// files, and a segment emptied by the pass (not the first) goes, its offsets read as the gap
/// they are. Regression: cleaned segments had no `.index`/`.timeindex` until a read rebuilt them,
/// and emptied ones stayed as 0-byte files.
#[test]
fn cleaned_segments_have_indexes_and_emptied_ones_go() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = Log::open_with(dir.path(), clocked(&clock)).unwrap();
    let mut config = compacted(Compression::None);
    config.file_delete_delay_ms = 0;
    let p = log.create_topic("c", 1, config).unwrap().partition(0).unwrap();
    let r = |k: &'static [u8], v: &'static [u8]| Record::new(v).with_key(k);
    p.append(&[r(b"k0", b"v1"), r(b"k1", b"v0")]).unwrap(); // 0, 1
    p.roll().unwrap();
    p.append(&[r(b"k1", b"v1")]).unwrap(); // 2: superseded, its segment empties
    p.roll().unwrap();
    p.append(&[r(b"k1", b"v2")]).unwrap(); // 3
    p.roll().unwrap();
    assert_eq!(bases(&p), [0, 2, 3, 4]);
    let pdir = p.dir().to_owned();

    let outcome = p.compact().unwrap().unwrap();
    assert_eq!((outcome.records_removed, outcome.segments_cleaned), (2, 2));
    assert_eq!(bases(&p), [0, 3, 4], "the emptied segment is gone");
    for suffix in [".index", ".timeindex"] {
        assert!(pdir.join(partlog::segment_file_name(0, suffix)).exists(), "{suffix} written with the cleaned segment");
    }
    p.enforce_retention().unwrap(); // unlinks the `.deleted` files: no delay
    assert!(!pdir.join(partlog::segment_file_name(2, ".log")).exists());
    let offsets = |p: &partlog::Partition| read_all(p).iter().map(|r| r.offset).collect::<Vec<_>>();
    assert_eq!(offsets(&p), [0, 3]);
    assert_eq!(p.read(2, 1 << 20).unwrap()[0].offset, 3, "a read in the emptied range goes on after it");
    log.close().unwrap();
    let log = Log::open_with(dir.path(), clocked(&clock)).unwrap();
    let p = log.partition("c", 0).unwrap();
    assert_eq!(offsets(&p), [0, 3]);
    assert_eq!(p.append(&[r(b"k2", b"v")]).unwrap().first_offset, 4);
}

/// A transactional batch of `records` at offset `base` for producer `producer_id`, as a
/// transactional producer (or, with `marker`, the broker writing its ABORT = 0 / COMMIT = 1
/// marker) would write it.
fn transactional(
    scratch: &Partition,
    base: u64,
    producer_id: i64,
    records: &[Record<'_>],
    marker: Option<i16>,
) -> Vec<u8> {
    let control_key = [0, 0, 0, marker.unwrap_or(0) as u8];
    let control = [Record::new(&[0, 0, 0, 0, 0, 0]).with_key(&control_key)];
    let from = scratch.log_end_offset();
    scratch.append(if marker.is_some() { &control } else { records }).unwrap();
    let mut raw = Vec::new();
    scratch.read_raw(from, usize::MAX, &mut raw).unwrap();
    raw[..8].copy_from_slice(&(base as i64).to_be_bytes());
    raw[22] |= 0x10 | if marker.is_some() { 0x20 } else { 0 }; // transactional, control
    raw[43..51].copy_from_slice(&producer_id.to_be_bytes());
    raw[51..53].copy_from_slice(&0i16.to_be_bytes());
    raw[53..57].copy_from_slice(&(if marker.is_some() { -1i32 } else { 0 }).to_be_bytes());
    let crc = crc32c::crc32c(&raw[21..]);
    raw[17..21].copy_from_slice(&crc.to_be_bytes());
    raw
}

/// Kafka's cleaner discards the data of aborted transactions, whatever its keys, and keeps
/// committed ones. Regression: key K committed as v1, then written as v2 in a transaction that
/// was aborted, read v2 after `compact()`.
#[test]
fn compaction_discards_aborted_transactions_and_keeps_committed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = Log::open_with(dir.path(), clocked(&clock)).unwrap();
    let p = log.create_topic("c", 1, compacted(Compression::None)).unwrap().partition(0).unwrap();
    let scratch = log.create_topic("scratch", 1, compacted(Compression::None)).unwrap().partition(0).unwrap();
    p.append(&[Record::new(b"v1").with_key(b"K")]).unwrap(); // 0
    p.append_replicated(&transactional(&scratch, 1, 7, &[Record::new(b"v2").with_key(b"K")], None)).unwrap();
    p.append_replicated(&transactional(&scratch, 2, 7, &[], Some(0))).unwrap(); // ABORT
    p.append_replicated(&transactional(&scratch, 3, 8, &[Record::new(b"x").with_key(b"K3")], None)).unwrap();
    p.append_replicated(&transactional(&scratch, 4, 8, &[], Some(1))).unwrap(); // COMMIT
    p.roll().unwrap();

    let outcome = p.compact().unwrap().unwrap();
    assert_eq!(outcome.records_removed, 1, "the aborted v2");
    let latest: Vec<(u64, Vec<u8>, Vec<u8>)> =
        read_all(&p).into_iter().map(|r| (r.offset, r.key.unwrap(), r.value.unwrap())).collect();
    assert_eq!(latest, [(0, b"K".to_vec(), b"v1".to_vec()), (3, b"K3".to_vec(), b"x".to_vec())]);
    let mut raw = Vec::new();
    p.read_raw(0, usize::MAX, &mut raw).unwrap();
    let mut control = 0;
    partlog::batch::for_each_record(&raw, |h, _| control += h.is_control() as u32).unwrap();
    assert_eq!(control, 2, "markers stay");
}
