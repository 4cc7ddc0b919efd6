//! A `Fetch` may borrow its batches from the memory mapping of the active segment's data file.
//! No operation may shorten that file under the mapping while the fetch is alive: the process
//! would die with SIGBUS when the fetch is read. One test per way a data file shrinks or goes
//! away: sealing, truncation (of the active and of a sealed segment), retention, delete-records,
//! compaction's swap, recovery at the next open, and topic deletion.
//!
//! Regression: `fetch` from the mapped active segment, `roll`, `truncate_to` cut the now sealed
//! file in place under the fetch's mapping and `records()` died with signal 7. Every fetch here
//! now reads back exactly the records it was given, whatever happened to the files since.

mod common;

use std::sync::Arc;

use partlog::{CleanupPolicy, Fetch, Log, ManualClock, Partition, Record, TopicConfig};

use common::{batch_positions, open_clocked, value_of, T0};

/// Ten batches of ten records, values naming their offsets; the segment stays active (mapped).
fn fill(p: &Partition) {
    for batch in 0..10u64 {
        let values: Vec<Vec<u8>> = (batch * 10..batch * 10 + 10).map(value_of).collect();
        let keys: Vec<[u8; 1]> = (0..10u8).map(|k| [k]).collect();
        let records: Vec<Record<'_>> =
            values.iter().zip(&keys).map(|(v, k)| Record::new(v).with_key(k).with_timestamp(T0)).collect();
        p.append(&records).unwrap();
    }
}

/// Fetches everything from offset 0 while segment 0 is the mapped active segment.
fn fetch_from_active(p: &Partition) -> Fetch {
    assert_eq!(p.segments().len(), 1, "segment 0 is the active segment");
    let mut fetch = Fetch::new();
    p.fetch(0, 1 << 20, &mut fetch).unwrap();
    assert_eq!(fetch.next_offset(), 100);
    fetch
}

/// The fetch still yields offsets 0..100 with their original values.
fn assert_intact(fetch: &Fetch) {
    let mut expected = 0u64;
    for r in fetch.records() {
        let r = r.unwrap();
        assert_eq!(r.offset(), expected);
        assert_eq!(r.value(), Some(&value_of(expected)[..]));
        expected += 1;
    }
    assert_eq!(expected, 100);
}

fn setup(config: TopicConfig) -> (tempfile::TempDir, Arc<ManualClock>, Log, Partition) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = open_clocked(dir.path(), &clock);
    let p = log.create_topic("t", 1, config).unwrap().partition(0).unwrap();
    fill(&p);
    (dir, clock, log, p)
}

#[test]
fn a_fetch_outlives_truncation_of_its_segment_after_a_roll() {
    let (_dir, _clock, _log, p) = setup(TopicConfig::default());
    let fetch = fetch_from_active(&p);
    p.roll().unwrap();
    assert_eq!(p.truncate_to(5).unwrap(), 0, "the batch holding offset 5 starts at 0");
    assert_intact(&fetch);
    p.append(&[Record::new(b"after")]).unwrap();
    assert_eq!(p.read(0, 1 << 20).unwrap()[0].value.as_deref(), Some(&b"after"[..]));
    assert_intact(&fetch);
}

#[test]
fn a_fetch_outlives_truncation_of_the_active_segment_and_new_appends() {
    let (_dir, _clock, _log, p) = setup(TopicConfig::default());
    let fetch = fetch_from_active(&p);
    assert_eq!(p.truncate_to(35).unwrap(), 30);
    for i in 0..50u64 {
        p.append(&[Record::new(format!("overwrite-{i}").as_bytes())]).unwrap();
    }
    assert_intact(&fetch);
}

#[test]
fn a_fetch_outlives_the_seal_of_its_segment_and_the_close_of_the_log() {
    let (_dir, _clock, log, p) = setup(TopicConfig::default());
    let fetch = fetch_from_active(&p);
    p.roll().unwrap();
    assert_intact(&fetch);
    log.close().unwrap();
    assert_intact(&fetch);
}

#[test]
fn a_fetch_outlives_retention_deleting_its_segment() {
    let mut config = TopicConfig::default();
    config.retention_ms = 1000;
    config.file_delete_delay_ms = 0;
    let (_dir, clock, log, p) = setup(config);
    let fetch = fetch_from_active(&p);
    p.roll().unwrap();
    clock.advance_ms(10_000);
    let outcome = log.enforce_retention().unwrap();
    assert_eq!(outcome[0].segments_deleted, 1);
    p.enforce_retention().unwrap(); // unlinks the `.deleted` files: no delay
    assert_intact(&fetch);
}

#[test]
fn a_fetch_outlives_delete_records_deleting_its_segment() {
    let mut config = TopicConfig::default();
    config.file_delete_delay_ms = 0;
    let (_dir, _clock, _log, p) = setup(config);
    let fetch = fetch_from_active(&p);
    p.roll().unwrap();
    assert_eq!(p.delete_records(100).unwrap(), 100);
    p.enforce_retention().unwrap();
    assert_eq!(p.segments()[0].base_offset(), 100);
    assert_intact(&fetch);
}

#[test]
fn a_fetch_outlives_compaction_swapping_its_segment() {
    let mut config = TopicConfig::default();
    config.cleanup_policy = CleanupPolicy::Compact;
    config.file_delete_delay_ms = 0;
    let (_dir, _clock, _log, p) = setup(config);
    let fetch = fetch_from_active(&p);
    p.roll().unwrap();
    let outcome = p.compact().unwrap().unwrap();
    assert_eq!((outcome.segments_cleaned, outcome.records_removed), (1, 90), "ten keys, the last of each stays");
    p.enforce_retention().unwrap(); // unlinks the replaced files: no delay
    assert_intact(&fetch);
}

#[test]
fn a_fetch_outlives_recovery_cutting_its_file_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = open_clocked(dir.path(), &clock);
    let p = log.create_topic("t", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    fill(&p);
    let fetch = fetch_from_active(&p);
    let path = p.segments()[0].log_path().to_owned();
    log.simulate_crash();

    // Damage the CRC of the third batch (outside what the fetch decodes again): recovery at the
    // next open cuts the file there, below the bytes the fetch borrowed.
    let third_batch = batch_positions(&std::fs::read(&path).unwrap())[2];
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, &[0xff, 0xff, 0xff, 0xff], third_batch as u64 + 17).unwrap();
    drop(file);

    let log = open_clocked(dir.path(), &clock);
    assert_eq!(log.recovery_report().len(), 1, "{:?}", log.recovery_report());
    assert_eq!(log.recovery_report()[0].position, third_batch as u64);
    let p = log.partition("t", 0).unwrap();
    assert_eq!(p.log_end_offset(), 20);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), third_batch as u64);
    assert_intact(&fetch);
}

#[test]
fn a_fetch_outlives_the_deletion_of_its_topic() {
    let (_dir, _clock, log, p) = setup(TopicConfig::default());
    let fetch = fetch_from_active(&p);
    log.delete_topic("t").unwrap();
    assert_intact(&fetch);
    log.create_topic("t", 1, TopicConfig::default())
        .unwrap()
        .partition(0)
        .unwrap()
        .append(&[Record::new(b"x")])
        .unwrap();
    assert_intact(&fetch);
}
