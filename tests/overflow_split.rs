//! KAFKA-6264: a segment whose batches pass its base offset + 2^31 − 1 (old brokers' compaction
//! wrote such segments) is split into segments that hold their relative offsets, as Kafka's
//! `splitOverflowedSegment` does, keeping every record. It used to be cut at the first such batch
//! (3 of 6 records lost).

mod common;

use std::path::Path;

use common::options;
use partlog::{Log, Record, TopicConfig};

const FAR: u64 = 1 << 31;

/// Six one-record batches at offsets 0, 1, 2^31 + 5, 2^31 + 6, 2^32 + 10, 2^32 + 11 (base offsets
/// are not covered by the CRC, so they are set in place), as one segment's bytes.
fn overflowed_segment() -> (Vec<u8>, Vec<u64>) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open_with(dir.path(), options()).unwrap();
    let p = log.create_topic("src", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    let offsets = vec![0, 1, FAR + 5, FAR + 6, 2 * FAR + 10, 2 * FAR + 11];
    let mut bytes = Vec::new();
    for (i, &offset) in offsets.iter().enumerate() {
        p.append(&[Record::new(format!("record {i}").as_bytes()).with_timestamp(1000 + i as i64)]).unwrap();
        let mut raw = Vec::new();
        p.read_raw(i as u64, 1 << 20, &mut raw).unwrap();
        raw[..8].copy_from_slice(&offset.to_be_bytes());
        bytes.extend_from_slice(&raw);
    }
    (bytes, offsets)
}

fn check(dir: &Path, offsets: &[u64], clean: bool) {
    let log = Log::open_with(dir, options()).unwrap();
    let report = log.recovery_report();
    assert!(
        report.iter().any(|e| e.reason.contains("KAFKA-6264") && e.bytes_dropped == 0),
        "clean {clean}: {report:?}"
    );
    assert!(report.iter().all(|e| e.bytes_dropped == 0), "clean {clean}: nothing dropped: {report:?}");
    let p = log.partition("old", 0).unwrap();
    let bases: Vec<u64> = p.segments().iter().map(|s| s.base_offset()).collect();
    assert!(bases.starts_with(&[0, FAR + 5, 2 * FAR + 10]), "clean {clean}: {bases:?}");
    let mut got = Vec::new();
    let mut next = 0;
    while next < p.log_end_offset() {
        let records = p.read(next, 1 << 20).unwrap();
        let Some(last) = records.last() else { break };
        next = last.offset + 1;
        got.extend(records.into_iter().map(|r| (r.offset, r.value.unwrap())));
    }
    let want: Vec<(u64, Vec<u8>)> =
        offsets.iter().enumerate().map(|(i, &o)| (o, format!("record {i}").into_bytes())).collect();
    assert_eq!(&got[..offsets.len()], &want[..], "clean {clean}");
    p.verify().unwrap();
    assert_eq!(p.offset_for_timestamp(1004).unwrap().unwrap().offset, 2 * FAR + 10);
    let end = p.log_end_offset();
    assert_eq!(p.append(&[Record::new(b"after").with_key(b"k")]).unwrap().first_offset, end);
    drop(p);
    log.close().unwrap();
    // The pieces are ordinary segments now: a reopen has nothing to report.
    let log = Log::open_with(dir, options()).unwrap();
    assert!(log.recovery_report().is_empty(), "{:?}", log.recovery_report());
    assert_eq!(log.partition("old", 0).unwrap().read(FAR + 5, 1 << 20).unwrap()[0].offset, FAR + 5);
}

#[test]
fn an_overflowed_segment_is_split_not_cut_when_recovered() {
    let (bytes, offsets) = overflowed_segment();
    let dir = tempfile::tempdir().unwrap();
    let pdir = dir.path().join("old-0");
    std::fs::create_dir_all(&pdir).unwrap();
    std::fs::write(pdir.join(partlog::segment_file_name(0, ".log")), &bytes).unwrap();
    check(dir.path(), &offsets, false);
}

#[test]
fn an_overflowed_sealed_segment_is_split_at_a_clean_open() {
    let (bytes, offsets) = overflowed_segment();
    let dir = tempfile::tempdir().unwrap();
    // A clean log whose partition then gets the old segment, sealed, before an empty active one
    // (with its empty indexes, so that the open is clean). Compacted, as such segments were: its
    // offsets may have gaps.
    let log = Log::open_with(dir.path(), options()).unwrap();
    let mut config = TopicConfig::default();
    config.cleanup_policy = partlog::CleanupPolicy::Compact;
    let p = log.create_topic("old", 1, config).unwrap().partition(0).unwrap();
    let pdir = p.dir().to_owned();
    drop(p);
    log.close().unwrap();
    for entry in std::fs::read_dir(&pdir).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    std::fs::write(pdir.join(partlog::segment_file_name(0, ".log")), &bytes).unwrap();
    for suffix in [".log", ".index", ".timeindex"] {
        std::fs::write(pdir.join(partlog::segment_file_name(2 * FAR + 12, suffix)), b"").unwrap();
    }
    check(dir.path(), &offsets, true);
}
