//! Retention and delete-records against the exact segments Kafka would delete, with a controlled
//! clock; readers racing retention never get wrong data.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use partlog::{Clock, Error, Log, LogOptions, ManualClock, Partition, Record, TopicConfig};

use common::{bases, open_clocked, HOUR, T0};
/// Segment `i` (0-based) holds records `10 i .. 10 i + 9`, timestamped `T0 + i` hours, each
/// value naming its offset (fixed width, so full segments have equal sizes).
fn segments_by_hour(p: &Partition, count: u64) {
    for i in 0..count {
        let values: Vec<Vec<u8>> = (10 * i..10 * i + 10).map(|o| format!("offset-{o:04}").into_bytes()).collect();
        let records: Vec<Record<'_>> =
            values.iter().map(|v| Record::new(v).with_timestamp(T0 + i as i64 * HOUR)).collect();
        p.append(&records).unwrap();
        p.roll().unwrap();
    }
}

fn config(retention_ms: i64, retention_bytes: i64) -> TopicConfig {
    let mut c = TopicConfig::default();
    c.retention_ms = retention_ms;
    c.retention_bytes = retention_bytes;
    c.file_delete_delay_ms = 60_000;
    c
}

#[test]
fn time_retention_deletes_segments_whose_newest_record_is_too_old() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = open_clocked(dir.path(), &clock);
    let p = log.create_topic("t", 1, config(3 * HOUR, -1)).unwrap().partition(0).unwrap();
    segments_by_hour(&p, 6); // segments at +0h .. +5h, then an empty active one at 60
    assert_eq!(bases(&p), [0, 10, 20, 30, 40, 50, 60]);

    clock.set_ms(T0 + 5 * HOUR - 60_000); // +0h and +1h are older than 3 h; +2h is not yet
    let outcome = log.enforce_retention().unwrap();
    assert_eq!(outcome.len(), 1);
    assert_eq!((outcome[0].segments_deleted, outcome[0].log_start_offset), (2, 20));
    assert_eq!(bases(&p), [20, 30, 40, 50, 60]);
    assert!(matches!(p.read(19, 100), Err(Error::OffsetOutOfRange { log_start_offset: 20, .. })));
    assert_eq!(p.read(20, 1).unwrap()[0].value.as_deref(), Some(&b"offset-0020"[..]));

    // The files went through Kafka's `.deleted` rename and are unlinked after file.delete.delay.ms.
    let pdir = p.dir().to_owned();
    let deleted = |d: &std::path::Path| {
        std::fs::read_dir(d)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".deleted"))
            .count()
    };
    assert_eq!(deleted(&pdir), 6);
    clock.advance_ms(60_000); // now +2h is exactly 3 h old: it stays ("older than" is strict)
    assert!(log.enforce_retention().unwrap().is_empty());
    assert_eq!(deleted(&pdir), 0);

    // The log start offset survives a reopen (log-start-offset-checkpoint).
    drop(p);
    log.close().unwrap();
    let log = open_clocked(dir.path(), &clock);
    assert_eq!(log.partition("t", 0).unwrap().log_start_offset(), 20);
}

#[test]
fn a_future_timestamp_blocks_deletion_of_its_segment_and_all_later_ones() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = open_clocked(dir.path(), &clock);
    let p = log.create_topic("t", 1, config(HOUR, -1)).unwrap().partition(0).unwrap();
    p.append(&[Record::new(b"old").with_timestamp(T0)]).unwrap();
    p.roll().unwrap();
    p.append(&[Record::new(b"future").with_timestamp(T0 + 100 * HOUR)]).unwrap();
    p.roll().unwrap();
    p.append(&[Record::new(b"old too").with_timestamp(T0)]).unwrap();
    clock.set_ms(T0 + 10 * HOUR);
    log.enforce_retention().unwrap();
    assert_eq!(bases(&p), [1, 2], "only the first goes; the scan stops at the future-dated segment");
}

#[test]
fn size_retention_keeps_the_partition_at_or_above_retention_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = open_clocked(dir.path(), &clock);
    let p = log.create_topic("t", 1, config(-1, 0)).unwrap().partition(0).unwrap();
    segments_by_hour(&p, 5);
    let size = p.segments()[0].size(); // every full segment has the same size
    assert!(p.segments()[..5].iter().all(|s| s.size() == size));
    drop(p);
    log.close().unwrap();

    // Whole segments go only while the excess over the limit covers them (Kafka's rule).
    for (limit, survivors) in [(5 * size, 5), (5 * size - 1, 5), (4 * size, 4), (3 * size + 1, 4), (size, 1), (0, 0)] {
        let dir = tempfile::tempdir().unwrap();
        let log = open_clocked(dir.path(), &clock);
        let p = log.create_topic("t", 1, config(-1, limit as i64)).unwrap().partition(0).unwrap();
        segments_by_hour(&p, 5);
        log.enforce_retention().unwrap();
        assert_eq!(p.segments().len(), survivors + 1, "retention.bytes={limit}: full segments left, plus the active");
        assert!(p.size_bytes() >= limit, "never below retention.bytes");
        assert!(p.size_bytes() < limit + size, "and less than a segment above it");
        assert_eq!(p.log_start_offset(), 50 - 10 * survivors as u64);
    }
}

#[test]
fn time_and_size_retention_together_delete_the_longer_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = open_clocked(dir.path(), &clock);
    let p = log.create_topic("t", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    segments_by_hour(&p, 6);
    let size = p.segments()[0].size() as i64;
    drop(p);
    log.close().unwrap();
    // Size alone would delete 2 (keep 4 segments); time alone 3 (+0h..+2h at now = +5h, 2 h).
    for (retention_ms, retention_bytes, deleted) in
        [(-1, 4 * size, 2), (2 * HOUR, -1, 3), (2 * HOUR, 4 * size, 3), (HOUR / 2, 4 * size, 5)]
    {
        let dir = tempfile::tempdir().unwrap();
        let log = open_clocked(dir.path(), &clock);
        let p = log.create_topic("t", 1, config(retention_ms, retention_bytes)).unwrap().partition(0).unwrap();
        segments_by_hour(&p, 6);
        clock.set_ms(T0 + 5 * HOUR);
        let outcome = log.enforce_retention().unwrap();
        assert_eq!(
            outcome[0].segments_deleted, deleted,
            "retention.ms={retention_ms} retention.bytes={retention_bytes}"
        );
        clock.set_ms(T0);
    }
}

/// When every segment qualifies, including a non-empty active one, a new empty active segment is
/// rolled first, so the partition keeps one; appends continue at the log end offset.
#[test]
fn when_everything_expires_a_new_empty_active_segment_remains() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = open_clocked(dir.path(), &clock);
    let p = log.create_topic("t", 1, config(HOUR, -1)).unwrap().partition(0).unwrap();
    segments_by_hour(&p, 2);
    p.append(&[Record::new(b"in the active segment").with_timestamp(T0)]).unwrap();
    clock.set_ms(T0 + 10 * HOUR);
    let outcome = log.enforce_retention().unwrap();
    assert_eq!(outcome[0].segments_deleted, 3);
    assert_eq!(bases(&p), [21]);
    assert_eq!((p.log_start_offset(), p.log_end_offset()), (21, 21));
    assert_eq!(p.read(21, 100).unwrap(), vec![]);
    assert_eq!(p.append(&[Record::new(b"next")]).unwrap().first_offset, 21);
    drop(p);
    log.close().unwrap();
    let log = open_clocked(dir.path(), &clock);
    let p = log.partition("t", 0).unwrap();
    assert_eq!((p.log_start_offset(), p.log_end_offset()), (21, 22));
}

#[test]
fn delete_records_inside_a_batch_at_segment_boundaries_and_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = open_clocked(dir.path(), &clock);
    let p = log.create_topic("t", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    segments_by_hour(&p, 4); // batches of 10: 0..9, 10..19, 20..29, 30..39; active empty at 40

    // Inside a batch: the batch stays on disk, but records below are unreadable.
    assert_eq!(p.delete_records(5).unwrap(), 5);
    assert_eq!(bases(&p), [0, 10, 20, 30, 40]);
    let r = p.read(5, 1 << 20).unwrap();
    assert_eq!((r[0].offset, r[0].value.as_deref()), (5, Some(&b"offset-0005"[..])));
    assert!(matches!(p.read(4, 100), Err(Error::OffsetOutOfRange { log_start_offset: 5, log_end_offset: 40, .. })));
    assert_eq!(p.offset_for_timestamp(0).unwrap().unwrap().offset, 5, "time lookups start at the log start offset");

    // At a segment boundary: the whole segments below go.
    assert_eq!(p.delete_records(20).unwrap(), 20);
    assert_eq!(bases(&p), [20, 30, 40]);
    // Backwards is a no-op; past the end is an error.
    assert_eq!(p.delete_records(3).unwrap(), 20);
    assert!(matches!(p.delete_records(41), Err(Error::OffsetOutOfRange { .. })));

    // At the end: nothing readable remains, the empty active segment stays.
    assert_eq!(p.delete_records(40).unwrap(), 40);
    assert_eq!(bases(&p), [40]);
    assert_eq!(p.read(40, 100).unwrap(), vec![]);
    log.flush().unwrap();
    drop(p);
    log.simulate_crash();
    let log = open_clocked(dir.path(), &clock);
    assert_eq!(log.partition("t", 0).unwrap().log_start_offset(), 40, "checkpointed by Log::flush");
}

#[test]
fn compacted_topics_ignore_time_and_size_but_not_delete_records() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = open_clocked(dir.path(), &clock);
    let mut c = config(1, 0);
    c.cleanup_policy = partlog::CleanupPolicy::Compact;
    let p = log.create_topic("t", 1, c).unwrap().partition(0).unwrap();
    for i in 0..3u8 {
        p.append(&[Record::new(b"v").with_key(&[i]).with_timestamp(T0)]).unwrap();
        p.roll().unwrap();
    }
    clock.set_ms(T0 + 100 * HOUR);
    assert!(log.enforce_retention().unwrap().is_empty());
    p.delete_records(2).unwrap();
    assert_eq!(bases(&p), [2, 3]);
}

/// Readers scanning while retention deletes segments under them: every record they get is the
/// right one for its offset, and a read below the log start offset is an out-of-range error
/// naming the new range, never a silent skip.
#[test]
fn readers_racing_retention_never_get_wrong_data() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = open_clocked(dir.path(), &clock);
    let mut c = config(HOUR, -1);
    c.segment_bytes = 4096;
    c.file_delete_delay_ms = 0; // unlink at once: readers must survive on their open files
    let p = log.create_topic("t", 1, c).unwrap().partition(0).unwrap();
    let stop = Arc::new(AtomicBool::new(false));

    let writer = {
        let (p, stop, clock) = (p.clone(), stop.clone(), clock.clone());
        std::thread::spawn(move || {
            let mut offset = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let v = format!("offset-{offset}");
                p.append(&[Record::new(v.as_bytes()).with_timestamp(clock.now_ms())]).unwrap();
                offset += 1;
            }
        })
    };
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (p, stop) = (p.clone(), stop.clone());
            std::thread::spawn(move || {
                let (mut checked, mut out_of_range) = (0u64, 0u64);
                let mut next = 0;
                while !stop.load(Ordering::Relaxed) {
                    match p.read(next, 2000) {
                        Ok(records) => {
                            for r in &records {
                                assert_eq!(r.offset, next, "no skipped offsets");
                                assert_eq!(r.value.as_deref(), Some(format!("offset-{next}").as_bytes()));
                                next += 1;
                                checked += 1;
                            }
                        }
                        Err(Error::OffsetOutOfRange { offset, log_start_offset, .. }) => {
                            assert!(offset < log_start_offset || offset > p.log_end_offset());
                            next = p.log_start_offset();
                            out_of_range += 1;
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                (checked, out_of_range)
            })
        })
        .collect();
    for _ in 0..200 {
        clock.advance_ms(HOUR / 4);
        log.enforce_retention().unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let mut total = 0;
    for r in readers {
        let (checked, _) = r.join().unwrap();
        total += checked;
    }
    assert!(total > 0);
    assert!(p.log_start_offset() > 0, "retention deleted segments during the race");
}

#[test]
fn truncate_inside_a_batch_at_a_segment_boundary_and_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = open_clocked(dir.path(), &clock);
    let p = log.create_topic("t", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    segments_by_hour(&p, 4); // batches 0..9 | 10..19 | 20..29 | 30..39, active empty at 40
    assert_eq!(p.truncate_to(45).unwrap(), 40, "at or past the end: nothing to do");
    assert_eq!(p.truncate_to(30).unwrap(), 30, "a segment boundary");
    assert_eq!(bases(&p), [0, 10, 20, 30]);
    assert_eq!(p.truncate_to(25).unwrap(), 20, "inside a batch: the whole batch goes");
    assert_eq!(bases(&p), [0, 10, 20]);
    assert_eq!(p.append(&[Record::new(b"rewritten")]).unwrap().first_offset, 20);
    assert_eq!(p.read(19, 1 << 20).unwrap().iter().map(|r| r.offset).collect::<Vec<_>>(), (19..21).collect::<Vec<_>>());
    p.delete_records(5).unwrap();
    assert!(matches!(p.truncate_to(4), Err(Error::OffsetOutOfRange { .. })));
    drop(p);
    log.simulate_crash();
    let log = open_clocked(dir.path(), &clock);
    let p = log.partition("t", 0).unwrap();
    assert_eq!(p.log_end_offset(), 21, "the truncation was durable");
    assert_eq!(p.read(20, 10).unwrap()[0].value.as_deref(), Some(&b"rewritten"[..]));
}

/// Truncating the memory-mapped active segment while readers copy out of it: the readers never
/// fault (the mapped file is replaced, not cut) and never see a record that is not the one
/// appended at its offset.
#[test]
fn readers_racing_truncation_of_the_mapped_active_segment_never_fault() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open_with(dir.path(), LogOptions::default().maintenance_interval_ms(None)).unwrap();
    let p = log.create_topic("t", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    let value = |o: u64| format!("value-{o}-{}", "x".repeat((o % 50) as usize)).into_bytes();
    let fill = |p: &Partition, to: u64| {
        while p.log_end_offset() < to {
            let from = p.log_end_offset();
            let values: Vec<Vec<u8>> = (from..from + 10).map(value).collect();
            let records: Vec<Record<'_>> = values.iter().map(|v| Record::new(v)).collect();
            p.append(&records).unwrap();
        }
    };
    fill(&p, 20_000);
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (p, stop) = (p.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let mut next = 0;
                    while let Ok(records) = p.read(next, 64 << 10) {
                        let Some(last) = records.last() else { break };
                        for r in &records {
                            assert_eq!(r.value.as_deref(), Some(&value(r.offset)[..]), "offset {}", r.offset);
                        }
                        next = last.offset + 1;
                        reads += 1;
                    }
                }
                reads
            })
        })
        .collect();
    for round in 0..40u64 {
        p.truncate_to(2_000 + round * 97).unwrap();
        fill(&p, 20_000);
    }
    stop.store(true, Ordering::Relaxed);
    let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(reads > 0);
    let leftovers: Vec<_> = std::fs::read_dir(p.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".cleaned"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_fetch_borrowing_the_mapped_segment_outlives_truncation_rolls_deletion_and_close() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = open_clocked(dir.path(), &clock);
    let mut c = config(HOUR, -1);
    c.file_delete_delay_ms = 0;
    let p = log.create_topic("t", 1, c).unwrap().partition(0).unwrap();
    let first: Vec<Vec<u8>> = (0..500).map(|o| format!("first-{o}").into_bytes()).collect();
    p.append(&first.iter().map(|v| Record::new(v)).collect::<Vec<_>>()).unwrap();

    let mut fetch = partlog::Fetch::new();
    p.fetch(0, 1 << 20, &mut fetch).unwrap();
    assert_eq!(fetch.len(), 500);

    // The segment the fetch borrowed is replaced by truncation, overwritten at the same
    // offsets, sealed by a roll, deleted by retention, and the log is closed.
    p.truncate_to(0).unwrap();
    let second: Vec<Vec<u8>> = (0..500).map(|o| format!("second-{o}").into_bytes()).collect();
    p.append(&second.iter().map(|v| Record::new(v)).collect::<Vec<_>>()).unwrap();
    p.roll().unwrap();
    clock.advance_ms(2 * HOUR);
    p.append(&[Record::new(b"later")]).unwrap();
    p.enforce_retention().unwrap();
    assert_eq!(p.log_start_offset(), 500, "the overwritten segment was deleted");
    drop(p);
    log.close().unwrap();

    let values: Vec<&[u8]> = fetch.records().map(|r| r.unwrap().value().unwrap()).collect();
    assert_eq!(values, first.iter().map(Vec::as_slice).collect::<Vec<_>>());
    assert_eq!(fetch.raw_batches()[..8], 0u64.to_be_bytes(), "the borrowed batches start at base offset 0");
}

/// Kafka's transaction index goes with its segment, and truncation cuts it as Kafka's
/// `TransactionIndex.truncateTo` does. Regression: after `truncate_to` and new appends, a stale
/// `.txnindex` still marked the new offsets as aborted; a deleted segment's stayed behind.
#[test]
fn truncation_cuts_the_transaction_index_and_deletion_takes_it_along() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = open_clocked(dir.path(), &clock);
    let mut config = TopicConfig::default();
    config.file_delete_delay_ms = 0;
    let p = log.create_topic("t", 1, config).unwrap().partition(0).unwrap();
    for i in 0..10u8 {
        p.append(&[Record::new(&[i])]).unwrap();
    }
    // Two aborted transactions as a Kafka broker lists them: offsets 2..=3 and 6..=8.
    let entry = |first: i64, last: i64| {
        [&0i16.to_be_bytes()[..], &7i64.to_be_bytes(), &first.to_be_bytes(), &last.to_be_bytes(), &first.to_be_bytes()]
            .concat()
    };
    let txn = p.segments()[0].log_path().with_extension("txnindex");
    std::fs::write(&txn, [entry(2, 3), entry(6, 8)].concat()).unwrap();

    assert_eq!(p.truncate_to(5).unwrap(), 5);
    assert_eq!(std::fs::read(&txn).unwrap(), entry(2, 3), "the transaction ending at 8 is cut");
    p.append(&[Record::new(b"again")]).unwrap();
    p.roll().unwrap();
    p.append(&[Record::new(b"next")]).unwrap();
    assert_eq!(p.delete_records(6).unwrap(), 6);
    p.enforce_retention().unwrap();
    assert!(!txn.exists(), "deleted with its segment");
}
