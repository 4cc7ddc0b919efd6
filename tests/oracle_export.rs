//! Writes segments for every codec for an independent reader to check. With
//! `PARTLOG_ORACLE_DIR=dir` the data directory is left there, one partition per case, each with an
//! `expected.json` of every record; `.ci/run` then has kafka-python validate every `.log`, compare
//! the records, and check the `.index` / `.timeindex` files against Kafka's rules
//! (`tests/kafka_python/validate.py`). Without the variable the export goes to a temporary
//! directory and is read back here.

use std::path::PathBuf;

mod common;

use partlog::{Compression, CompressionType, Header, Log, OwnedRecord, Record, TimestampType, TopicConfig};

/// Deterministic, awkward records: null keys, empty keys, tombstones, empty values, binary
/// values, ~70 KB values, headers with non-ASCII keys and null values, timestamps that step back.
struct Generated {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    timestamp: i64,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

fn generate(n: usize, seed: u64) -> Vec<Generated> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    let mut ts = 1_700_000_000_000i64;
    (0..n)
        .map(|i| {
            ts += [0, 1, 3, 250, 60_000][next() % 5];
            let timestamp = if next() % 12 == 0 { ts - (next() % 5000) as i64 } else { ts };
            let key = match i % 4 {
                0 => None,
                1 => Some(Vec::new()),
                _ => Some(format!("key-{}", i % 13).into_bytes()),
            };
            let value = match i % 11 {
                3 if key.is_some() => None,
                5 => Some(Vec::new()),
                7 => Some((0..next() % 64).map(|_| next() as u8).collect()),
                _ if i % 97 == 40 => Some(format!("big-{i}:").repeat(70_000 / 8).into_bytes()),
                _ => Some(format!("value-{i} {}", "ßtraße 日本語 ".repeat(next() % 6)).into_bytes()),
            };
            let mut headers = Vec::new();
            if i % 3 != 0 {
                headers.push(("idx".to_string(), Some(i.to_string().into_bytes())));
            }
            if i % 3 == 2 {
                headers
                    .push(("ключ".to_string(), if i % 2 == 0 { None } else { Some("значение".as_bytes().to_vec()) }));
            }
            Generated { key, value, timestamp, headers }
        })
        .collect()
}

fn export(dir: &std::path::Path) -> Vec<(String, Vec<OwnedRecord>)> {
    let log = Log::open(dir).unwrap();
    let mut cases: Vec<(String, TopicConfig)> = Vec::new();
    for codec in Compression::ALL.into_iter().filter(|c| c.is_available()) {
        let mut config = TopicConfig::default();
        config.compression_type = CompressionType::Codec(codec);
        // Compressed batches are small: smaller segments give several of them too.
        config.segment_bytes = if codec == Compression::None { 96 * 1024 } else { 12 * 1024 };
        config.index_interval_bytes = 1024;
        cases.push((format!("export-{codec}"), config));
    }
    let mut config = TopicConfig::default();
    config.message_timestamp_type = TimestampType::LogAppendTime;
    config.segment_bytes = 96 * 1024;
    cases.push(("export-logappendtime".into(), config));
    // Segments left after delete-records and retention removed the oldest ones.
    let mut config = TopicConfig::default();
    config.segment_bytes = 96 * 1024;
    config.retention_ms = -1; // the generated timestamps are from 2023
    config.retention_bytes = 200 * 1024;
    cases.push(("export-retention".into(), config));
    // Truncated in the middle of a segment (a follower's truncation), then appended to again.
    let mut config = TopicConfig::default();
    config.segment_bytes = 96 * 1024;
    config.retention_ms = -1;
    cases.push(("export-truncated".into(), config));
    // Compacted: rebuilt batches with offset gaps and delete horizons, lz4.
    let mut config = TopicConfig::default();
    config.cleanup_policy = partlog::CleanupPolicy::Compact;
    config.compression_type = CompressionType::Codec(Compression::Lz4);
    config.segment_bytes = 12 * 1024;
    cases.push(("export-compacted".into(), config));

    let mut out = Vec::new();
    for (seed, (name, config)) in cases.into_iter().enumerate() {
        let p = log.create_topic(&name, 1, config).unwrap().partition(0).unwrap();
        let mut generated = generate(900, seed as u64);
        if name == "export-compacted" {
            // Compacted topics take keyed records only.
            for (i, g) in generated.iter_mut().enumerate() {
                g.key.get_or_insert_with(|| format!("key-{}", i % 17).into_bytes());
            }
        }
        // Batches of varying size: 1, 7, 50, 1, 7, 50, ...
        let mut i = 0;
        // The truncated case first writes 700 records, cuts back to a batch boundary in an
        // older segment, and writes the rest from there: offsets continue from the cut.
        let mut cut_done = name != "export-truncated";
        for size in [1usize, 7, 50].into_iter().cycle() {
            if !cut_done && i >= 700 {
                let segments = p.segments();
                assert!(segments.len() > 2, "several segments before the cut");
                // Inside the second segment; the batch holding the offset goes too.
                let target = segments[1].base_offset() + 60;
                let cut = p.truncate_to(target).unwrap();
                assert!(cut > segments[1].base_offset() && cut <= target, "{cut}");
                assert_eq!(p.log_end_offset(), cut);
                i = cut as usize;
                cut_done = true;
            }
            if i >= generated.len() {
                break;
            }
            let chunk = &generated[i..(i + size).min(generated.len())];
            let headers: Vec<Vec<Header<'_>>> = chunk
                .iter()
                .map(|g| g.headers.iter().map(|(k, v)| Header::from_bytes(k.as_bytes(), v.as_deref())).collect())
                .collect();
            let records: Vec<Record<'_>> = chunk
                .iter()
                .zip(&headers)
                .map(|(g, h)| Record {
                    key: g.key.as_deref(),
                    value: g.value.as_deref(),
                    timestamp: Some(g.timestamp),
                    headers: h,
                })
                .collect();
            p.append(&records).unwrap();
            i += size;
        }
        let mut first = 0;
        if name == "export-retention" {
            first = p.segments()[2].base_offset() as usize;
            assert_eq!(p.delete_records(first as u64).unwrap(), first as u64);
            assert_eq!(p.segments()[0].base_offset(), first as u64, "whole segments below were deleted");
            // Then size retention (retention.bytes) deletes the oldest of what is left.
            let outcome = p.enforce_retention().unwrap().unwrap();
            assert!(outcome.segments_deleted >= 1, "{outcome:?}");
            assert_eq!(p.segments()[0].base_offset(), p.log_start_offset());
            // And a log start inside a segment and a batch: the records below stay in the file
            // but are gone for readers (the checkpoint says so).
            first = p.log_start_offset() as usize + 5;
            assert_eq!(p.delete_records(first as u64).unwrap(), first as u64);
        }
        if name == "export-compacted" {
            p.roll().unwrap();
            let outcome = p.compact().unwrap().unwrap();
            assert!(outcome.records_removed > 0 && outcome.segments_cleaned > 0);
        }
        let records = p.read(first as u64, usize::MAX).unwrap();
        if name == "export-compacted" {
            assert!(records.len() < generated.len());
        } else {
            assert_eq!(records.len(), generated.len() - first);
        }
        assert!(p.segments().len() > 1, "{name}: expected several segments");
        let expected: Vec<serde_json::Value> = records.iter().map(common::record_json).collect();
        let sidecar = serde_json::json!({
            "index_interval_bytes": p.config().index_interval_bytes,
            "log_start_offset": p.log_start_offset(),
            "records": expected,
        });
        std::fs::write(p.dir().join("expected.json"), serde_json::to_vec(&sidecar).unwrap()).unwrap();
        // What was generated is what is stored (LogAppendTime replaces timestamps).
        for r in &records {
            let g = &generated[r.offset as usize];
            assert_eq!((r.key.as_deref(), r.value.as_deref()), (g.key.as_deref(), g.value.as_deref()));
            assert_eq!(r.headers.len(), g.headers.len());
            if !name.ends_with("logappendtime") {
                assert_eq!(r.timestamp, g.timestamp);
            }
        }
        out.push((name, records));
    }
    log.close().unwrap();
    out
}

#[test]
fn exports_segments_of_every_codec_for_kafka_python() {
    let temp = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("PARTLOG_ORACLE_DIR").map_or_else(|| temp.path().to_owned(), PathBuf::from);
    let _ = std::fs::remove_dir_all(&dir);
    let exported = export(&dir);

    // Reopened after a clean close: the same records, without recovery.
    let log = Log::open(&dir).unwrap();
    assert!(log.recovery_report().is_empty());
    for (name, records) in exported {
        let p = log.partition(&name, 0).unwrap();
        assert_eq!(p.read(p.log_start_offset(), usize::MAX).unwrap(), records, "{name}");
    }
}
