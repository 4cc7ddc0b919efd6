//! Segments written by an independent implementation (kafka-python 3.0.12, through
//! `shared/kafka-oracle`), committed with JSON sidecars of every batch and record, read back by
//! partlog and compared field by field. Each file is dropped into a partition directory the way
//! a segment copied from a Kafka broker would be (no index files), so opening it also rebuilds
//! the indexes.
//!
//! Generated with (`kafka_segment.py write`):
//! - `{none,gzip,snappy,lz4,zstd}.log`: 300 records, batches of 20, headers, producer id 7,
//!   a COMMIT control batch at the end, seeds 1..5;
//! - `none-single-records.log`: 60 one-record batches at base offset 1000, seed 9;
//! - `lz4-large-batches.log`: 300 records in two batches (multi-block LZ4 frames), seed 11.

use std::path::{Path, PathBuf};

use partlog::{BatchHeader, Fetch, Log, Partition};
use serde_json::Value;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/kafka-python").join(name)
}

fn sidecar(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(data(&format!("{name}.json"))).unwrap()).unwrap()
}

fn hex(v: &Value) -> Option<Vec<u8>> {
    v.as_str().map(|s| (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect())
}

/// Copies a golden segment into `<dir>/golden-0/<base offset>.log` and opens the log.
fn open_golden(name: &str, dir: &Path) -> (Log, Partition) {
    let first_base = sidecar(name)["batches"][0]["base_offset"].as_u64().unwrap();
    let partition_dir = dir.join("golden-0");
    std::fs::create_dir_all(&partition_dir).unwrap();
    std::fs::copy(data(name), partition_dir.join(partlog::segment_file_name(first_base, ".log"))).unwrap();
    // The other files a broker keeps in a partition directory are left alone.
    std::fs::write(partition_dir.join("leader-epoch-checkpoint"), "0\n1\n0 0\n").unwrap();
    std::fs::write(partition_dir.join("partition.metadata"), "version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAA\n").unwrap();
    std::fs::write(partition_dir.join(partlog::segment_file_name(first_base, ".snapshot")), [0u8; 10]).unwrap();
    let log = Log::open(dir).unwrap();
    assert!(
        partition_dir.join("leader-epoch-checkpoint").exists() && partition_dir.join("partition.metadata").exists()
    );
    let partition = log.partition("golden", 0).unwrap();
    (log, partition)
}

fn check_records(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (log, p) = open_golden(name, dir.path());
    let expected = sidecar(name);
    let batches = expected["batches"].as_array().unwrap();
    let first = batches[0]["base_offset"].as_u64().unwrap();
    let last = batches.last().unwrap();
    assert_eq!(p.log_start_offset(), first, "{name}");
    assert_eq!(
        p.log_end_offset(),
        last["base_offset"].as_u64().unwrap() + last["last_offset_delta"].as_u64().unwrap() + 1
    );
    assert!(
        log.recovery_report().is_empty(),
        "{name}: a valid segment must not be truncated: {:?}",
        log.recovery_report()
    );

    // Every data record, in order, through fetches of varying sizes (control batches skipped).
    let want: Vec<&Value> =
        expected["records"].as_array().unwrap().iter().filter(|r| r.get("control").is_none()).collect();
    let mut got = Vec::new();
    let mut fetch = Fetch::new();
    let mut next = first;
    for max_bytes in [1usize, 5_000, 100_000].into_iter().cycle() {
        if next >= p.log_end_offset() {
            break;
        }
        p.fetch(next, max_bytes, &mut fetch).unwrap();
        got.extend(fetch.records().map(|r| r.unwrap().to_owned()));
        assert!(fetch.next_offset() > next, "{name}: fetch must make progress");
        next = fetch.next_offset();
    }
    assert_eq!(got.len(), want.len(), "{name}: record count");
    for (g, w) in got.iter().zip(&want) {
        let at = format!("{name} offset {}", g.offset);
        assert_eq!(g.offset, w["offset"].as_u64().unwrap(), "{at}");
        assert_eq!(g.timestamp, w["timestamp"].as_i64().unwrap(), "{at}");
        assert_eq!(g.key, hex(&w["key"]), "{at} key");
        assert_eq!(g.value, hex(&w["value"]), "{at} value");
        let headers: Vec<(Vec<u8>, Option<Vec<u8>>)> =
            g.headers.iter().map(|h| (h.key.clone(), h.value.clone())).collect();
        let want_headers: Vec<(Vec<u8>, Option<Vec<u8>>)> = w["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h[0].as_str().unwrap().as_bytes().to_vec(), hex(&h[1])))
            .collect();
        assert_eq!(headers, want_headers, "{at} headers");
    }

    // Raw reads return the batches byte for byte, control batch included.
    let mut raw = Vec::new();
    p.read_raw(first, usize::MAX, &mut raw).unwrap();
    assert_eq!(raw, std::fs::read(data(name)).unwrap(), "{name}: raw read differs from the file");
    let mut pos = 0;
    for b in batches {
        let h = BatchHeader::parse(&raw[pos..]).unwrap();
        assert_eq!(h.base_offset, b["base_offset"].as_i64().unwrap());
        assert_eq!(h.last_offset_delta, b["last_offset_delta"].as_i64().unwrap() as i32);
        assert_eq!(h.records_count, b["records_count"].as_i64().unwrap() as i32);
        assert_eq!(h.compression().unwrap().name(), b["codec"].as_str().unwrap());
        assert_eq!(h.crc, b["crc"].as_u64().unwrap() as u32);
        assert_eq!(h.max_timestamp, b["max_timestamp"].as_i64().unwrap());
        assert_eq!(h.producer_id, b["producer_id"].as_i64().unwrap());
        assert_eq!(h.is_control(), b["is_control"].as_bool().unwrap());
        pos += h.total_size() as usize;
    }
    assert_eq!(pos, raw.len());

    // Offset for timestamp: the first record in offset order (control records count, as in
    // Kafka's ListOffsets) whose timestamp is at or after T.
    let all: Vec<(u64, i64)> = expected["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["offset"].as_u64().unwrap(), r["timestamp"].as_i64().unwrap()))
        .collect();
    let (min_ts, max_ts) = (all.iter().map(|r| r.1).min().unwrap(), all.iter().map(|r| r.1).max().unwrap());
    for t in (min_ts - 10..=max_ts + 10).step_by(((max_ts - min_ts) / 97).max(1) as usize).chain([max_ts, max_ts + 1]) {
        let want = all.iter().find(|r| r.1 >= t).copied();
        let got = p.offset_for_timestamp(t).unwrap().map(|h| (h.offset, h.timestamp));
        assert_eq!(got, want, "{name}: offset for timestamp {t}");
    }
    log.close().unwrap();

    // After close the rebuilt indexes are trimmed and a reopen needs no recovery.
    let log = Log::open(dir.path()).unwrap();
    assert!(log.recovery_report().is_empty());
    assert_eq!(log.partition("golden", 0).unwrap().read(first, usize::MAX).unwrap().len(), want.len());
}

#[test]
fn reads_kafka_python_segments_without_compression() {
    check_records("none.log");
}

#[test]
fn reads_kafka_python_segments_with_gzip() {
    check_records("gzip.log");
}

#[test]
fn reads_kafka_python_segments_with_snappy_xerial_framing() {
    check_records("snappy.log");
}

#[test]
fn reads_kafka_python_segments_with_lz4_frames() {
    check_records("lz4.log");
}

#[test]
fn reads_kafka_python_lz4_batches_of_many_blocks() {
    check_records("lz4-large-batches.log");
}

#[test]
fn reads_kafka_python_single_record_batches_at_a_nonzero_base_offset() {
    check_records("none-single-records.log");
}

#[cfg(feature = "zstd")]
#[test]
fn reads_kafka_python_segments_with_zstd() {
    check_records("zstd.log");
}

/// Without the `zstd` feature a zstd segment still opens (headers and CRCs are codec-free), and
/// reading its records says which feature is missing instead of failing obscurely.
#[cfg(not(feature = "zstd"))]
#[test]
fn zstd_segments_without_the_feature_give_unsupported_codec() {
    let dir = tempfile::tempdir().unwrap();
    let (_log, p) = open_golden("zstd.log", dir.path());
    assert_eq!(p.log_end_offset(), 301);
    match p.read(0, 1 << 20) {
        Err(partlog::Error::UnsupportedCodec { codec: partlog::Compression::Zstd }) => {}
        other => panic!("expected UnsupportedCodec, got {other:?}"),
    }
}

#[test]
fn a_kafka_partition_directory_reopens_with_appends_continuing_its_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let (log, p) = open_golden("none-single-records.log", dir.path());
    let info = p.append(&[partlog::Record::new(b"after kafka")]).unwrap();
    assert_eq!(info.first_offset, 1060);
    drop(p);
    log.close().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let p = log.partition("golden", 0).unwrap();
    let tail = p.read(1059, 1 << 20).unwrap();
    assert_eq!(tail.iter().map(|r| r.offset).collect::<Vec<_>>(), [1059, 1060]);
    assert_eq!(tail[1].value.as_deref(), Some(&b"after kafka"[..]));
}
