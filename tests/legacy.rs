//! Legacy message sets (magic 0 and 1), as brokers before Kafka 0.11 wrote them, open intact:
//! every record reads back with its offset, timestamp, key and value as kafka-python's own reader
//! gives them, offsets are found by timestamp, nothing is cut at open, and appends after them
//! are v2. The segments in `tests/data/kafka-python-legacy/` come from
//! `tests/kafka_python/write_legacy.py` (kafka-python 3.0.12's LegacyRecordBatchBuilder, with the
//! broker's offset and timestamp assignment): magic 0 and 1, uncompressed and in gzip, snappy
//! and lz4 wrappers (magic 0 lz4 in the 0.8-era framing with its wrong header checksum), a
//! LogAppendTime wrapper, a gap, and a segment mixing magic 0, 1 and 2.

use std::path::{Path, PathBuf};

use partlog::{batch, Fetch, Log, Partition, Record};
use serde_json::Value;

const NAMES: [&str; 9] =
    ["v0-none", "v1-none", "v0-gzip", "v0-snappy", "v0-lz4", "v1-gzip", "v1-snappy", "v1-lz4", "mixed"];

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/kafka-python-legacy").join(name)
}

fn hex(v: &Value) -> Option<Vec<u8>> {
    v.as_str().map(|s| (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect())
}

/// (offset, timestamp, key, value) of every record kafka-python read from the segment.
type Expected = Vec<(u64, i64, Option<Vec<u8>>, Option<Vec<u8>>)>;

fn expected(name: &str) -> Expected {
    let v: Value = serde_json::from_slice(&std::fs::read(data(&format!("{name}.log.json"))).unwrap()).unwrap();
    v["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["offset"].as_u64().unwrap(), r["timestamp"].as_i64().unwrap(), hex(&r["key"]), hex(&r["value"])))
        .collect()
}

/// The segment as `<dir>/old-0/00000000000000000000.log`, as copied from an old broker.
fn open(name: &str, dir: &Path) -> (Log, Partition) {
    let partition_dir = dir.join("old-0");
    std::fs::create_dir_all(&partition_dir).unwrap();
    std::fs::copy(data(&format!("{name}.log")), partition_dir.join(partlog::segment_file_name(0, ".log"))).unwrap();
    let log = Log::open(dir).unwrap();
    let p = log.partition("old", 0).unwrap();
    (log, p)
}

fn fetch_all(p: &Partition, from: u64, max_bytes: usize) -> Expected {
    let mut got = Vec::new();
    let mut fetch = Fetch::new();
    let mut next = from;
    while next < p.log_end_offset() {
        p.fetch(next, max_bytes, &mut fetch).unwrap();
        assert!(fetch.next_offset() > next, "a fetch makes progress");
        next = fetch.next_offset();
        got.extend(fetch.records().map(|r| {
            let r = r.unwrap();
            (r.offset(), r.timestamp(), r.key().map(<[u8]>::to_vec), r.value().map(<[u8]>::to_vec))
        }));
    }
    got
}

#[test]
fn legacy_segments_read_as_kafka_python_reads_them() {
    for name in NAMES {
        let dir = tempfile::tempdir().unwrap();
        let (log, p) = open(name, dir.path());
        let want = expected(name);
        assert!(log.recovery_report().is_empty(), "{name}: {:?}", log.recovery_report());
        let file = std::fs::read(data(&format!("{name}.log"))).unwrap();
        let on_disk = dir.path().join("old-0").join(partlog::segment_file_name(0, ".log"));
        assert_eq!(std::fs::read(&on_disk).unwrap(), file, "{name}: open changed the segment");
        assert_eq!(p.log_end_offset(), want.last().unwrap().0 + 1, "{name}");

        // Fetches of every size, the one-record minimum included, and reads from each offset.
        for max_bytes in [1, 100, 1 << 20] {
            assert_eq!(fetch_all(&p, 0, max_bytes), want, "{name}: fetch of {max_bytes} bytes");
        }
        for (i, w) in want.iter().enumerate() {
            let got = p.read(w.0, 1 << 20).unwrap();
            assert_eq!(got.len(), want.len() - i, "{name}: read from {}", w.0);
            assert_eq!((got[0].offset, got[0].timestamp, &got[0].value), (w.0, w.1, &w.3), "{name}");
        }

        // Raw reads serve the entries as stored; the public walker decodes them.
        let mut raw = Vec::new();
        p.read_raw(0, usize::MAX, &mut raw).unwrap();
        assert_eq!(raw, file, "{name}: raw read");
        let mut walked = Vec::new();
        batch::for_each_record(&raw, |_, r| walked.push((r.offset(), r.timestamp()))).unwrap();
        assert_eq!(walked, want.iter().map(|w| (w.0, w.1)).collect::<Vec<_>>(), "{name}");

        // Offset for timestamp: the first record in offset order at or after T. Magic 0 has no
        // timestamps (−1), so every T ≥ 0 finds nothing in those.
        let mut ts: Vec<i64> = want.iter().map(|w| w.1).collect();
        ts.extend(want.iter().map(|w| w.1 + 1));
        ts.push(-1);
        for t in ts {
            let wanted = want.iter().find(|w| w.1 >= t).map(|w| (w.0, w.1));
            let got = p.offset_for_timestamp(t).unwrap().map(|h| (h.offset, h.timestamp));
            assert_eq!(got, wanted, "{name}: offset for timestamp {t}");
        }
        p.verify().unwrap();
        drop(p);
        log.close().unwrap();
    }
}

#[test]
fn appends_after_legacy_data_are_v2_and_everything_survives_reopen() {
    for name in NAMES {
        let dir = tempfile::tempdir().unwrap();
        let (log, p) = open(name, dir.path());
        let mut want = expected(name);
        let end = p.log_end_offset();
        let info = p.append(&[Record::new(b"new").with_key(b"k").with_timestamp(1_700_000_000_000)]).unwrap();
        assert_eq!(info.first_offset, end, "{name}");
        want.push((end, 1_700_000_000_000, Some(b"k".to_vec()), Some(b"new".to_vec())));
        let mut raw = Vec::new();
        p.read_raw(end, usize::MAX, &mut raw).unwrap();
        assert_eq!(partlog::BatchHeader::parse(&raw).unwrap().magic, 2, "{name}: appends are v2");
        drop(p);
        log.close().unwrap();

        // A clean reopen, then one that has to recover (no clean-shutdown marker, no indexes).
        for recover in [false, true] {
            if recover {
                for entry in std::fs::read_dir(dir.path().join("old-0")).unwrap() {
                    let path = entry.unwrap().path();
                    if path.extension().is_some_and(|e| e == "index" || e == "timeindex") {
                        std::fs::remove_file(path).unwrap();
                    }
                }
                let _ = std::fs::remove_file(dir.path().join(".clean-shutdown"));
            }
            let log = Log::open(dir.path()).unwrap();
            assert!(log.recovery_report().iter().all(|e| e.bytes_dropped == 0), "{name}: {:?}", log.recovery_report());
            let p = log.partition("old", 0).unwrap();
            assert_eq!(fetch_all(&p, 0, 1 << 20), want, "{name} (recovered: {recover})");
            drop(p);
            log.close().unwrap();
        }
    }
}

#[test]
fn damage_in_a_legacy_entry_is_located_and_nothing_before_it_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let file = std::fs::read(data("v1-none.log")).unwrap();
    // The fourth entry's value, flipped: its CRC-32 no longer matches.
    let sizes: Vec<usize> = {
        let (mut pos, mut out) = (0, Vec::new());
        while pos < file.len() {
            let size = 12 + i32::from_be_bytes(file[pos + 8..pos + 12].try_into().unwrap()) as usize;
            out.push(pos);
            pos += size;
        }
        out
    };
    let mut damaged = file.clone();
    damaged[sizes[4] - 1] ^= 0x20;
    let partition_dir = dir.path().join("old-0");
    std::fs::create_dir_all(&partition_dir).unwrap();
    std::fs::write(partition_dir.join(partlog::segment_file_name(0, ".log")), &damaged).unwrap();
    let log = Log::open(dir.path()).unwrap();
    let p = log.partition("old", 0).unwrap();
    // Not a sealed segment of ours: the damage is in the active segment's tail, which recovery
    // may cut only because no clean shutdown was recorded; what is before it is intact.
    let want = expected("v1-none");
    let got = p.read(0, 1 << 20).unwrap();
    assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), want[..3].iter().map(|w| w.0).collect::<Vec<_>>());
    assert!(!log.recovery_report().is_empty(), "the damage is reported");
}

#[test]
fn compaction_over_legacy_data_keeps_each_keys_latest_record_at_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let partition_dir = dir.path().join("old-0");
    std::fs::create_dir_all(&partition_dir).unwrap();
    std::fs::copy(data("mixed.log"), partition_dir.join(partlog::segment_file_name(0, ".log"))).unwrap();
    let mut config = partlog::TopicConfig::default();
    config.cleanup_policy = partlog::CleanupPolicy::Compact;
    let options = partlog::LogOptions::default().maintenance_interval_ms(None).default_topic_config(config);
    let log = Log::open_with(dir.path(), options.clone()).unwrap();
    let p = log.partition("old", 0).unwrap();
    let before = expected("mixed");
    // New values for the magic-0 key "k0" and the magic-1 key "k3"; then the legacy segment is
    // sealed, so the cleaner takes it.
    let end = p.log_end_offset();
    p.append(&[Record::new(b"k0 again").with_key(b"k0"), Record::new(b"k3 again").with_key(b"k3")]).unwrap();
    p.roll().unwrap();
    p.compact().unwrap().expect("a sealed segment to clean");
    // Kept: keyed records whose key has no later record (null keys go, as Kafka's cleaner drops
    // them), each at its own offset with its own timestamp; then the new records.
    let mut want: Expected = before
        .into_iter()
        .filter(|w| w.2.is_some() && w.2.as_deref() != Some(b"k0") && w.2.as_deref() != Some(b"k3"))
        .collect();
    let got = fetch_all(&p, 0, 1 << 20);
    want.extend(got.iter().filter(|g| g.0 >= end).cloned());
    assert_eq!(got, want);
    assert_eq!(got.iter().filter(|g| g.0 >= end).count(), 2);
    drop(p);
    log.close().unwrap();
    let log = Log::open_with(dir.path(), options).unwrap();
    assert!(log.recovery_report().is_empty(), "{:?}", log.recovery_report());
    assert_eq!(fetch_all(&log.partition("old", 0).unwrap(), 0, 1 << 20), want);
}
