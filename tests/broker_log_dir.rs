//! A KRaft broker's whole `log.dir` after a clean shutdown, as `tests/data/broker-log-dir/`
//! holds it (written by `tests/kafka_python/write_broker_dir.py`: kafka-python's builders, with
//! the broker's offset and time indexes, checkpoints, clean-shutdown marker, `meta.properties`,
//! `bootstrap.checkpoint` and the `__cluster_metadata-0` metadata log). Its partitions hold
//! legacy segments (magic 0 and 1) from before an upgrade, v2 segments after it, and legacy
//! segments whose time index is empty or absent. partlog opens it as it is, reads every record
//! and answers every time lookup as Kafka would, and keeps what belongs to the broker.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::options;
use partlog::{Log, Partition};
use serde_json::Value;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/broker-log-dir")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A copy of the broker's log.dir in a temporary directory.
fn broker_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&data(), dir.path());
    dir
}

fn hex(v: &Value) -> Option<Vec<u8>> {
    v.as_str().map(|s| (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect())
}

/// (offset, timestamp, key, value) of a record.
type Row = (u64, i64, Option<Vec<u8>>, Option<Vec<u8>>);
/// Per topic, every record kafka-python read.
type Expected = BTreeMap<String, Vec<Row>>;

fn expected() -> Expected {
    let json: Value = serde_json::from_slice(&std::fs::read(data().with_extension("json")).unwrap()).unwrap();
    json.as_object()
        .unwrap()
        .iter()
        .map(|(topic, records)| {
            let records = records
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (r["offset"].as_u64().unwrap(), r["timestamp"].as_i64().unwrap(), hex(&r["key"]), hex(&r["value"]))
                })
                .collect();
            (topic.clone(), records)
        })
        .collect()
}

/// The `topic partition offset` entries of an offset checkpoint, as Kafka's own parser would
/// take them (version 0, a count, the entries).
fn checkpoint_entries(path: &Path) -> BTreeMap<(String, u32), u64> {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "0", "{}", path.display());
    let count: usize = lines[1].parse().unwrap();
    assert_eq!(lines.len(), 2 + count, "{}: {text:?}", path.display());
    lines[2..]
        .iter()
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            ((f[0].to_owned(), f[1].parse().unwrap()), f[2].parse().unwrap())
        })
        .collect()
}

fn check_time_lookups(topic: &str, p: &Partition, want: &[Row]) {
    let mut times: Vec<i64> = want.iter().flat_map(|w| [w.1, w.1 + 1]).collect();
    times.extend([-1, 0, i64::MAX]);
    for t in times {
        // Kafka's ListOffsets: the first record in offset order whose timestamp is ≥ t; magic 0
        // records have none (−1).
        let wanted = want.iter().find(|w| w.1 >= t).map(|w| (w.0, w.1));
        let got = p.offset_for_timestamp(t).unwrap().map(|h| (h.offset, h.timestamp));
        assert_eq!(got, wanted, "{topic}: offset for timestamp {t}");
    }
}

/// Kafka 4 brokers no longer write magic 0 and 1, but keep serving what older ones wrote, with
/// the time indexes those wrote for magic-1 entries. Before the fix, every lookup after a clean
/// shutdown returned `None` (all records read correctly), in a pure-legacy partition and in a
/// legacy-then-v2 one; now each finds the first record at or after the time, as Kafka does.
#[test]
fn time_lookups_in_legacy_segments_after_a_brokers_clean_shutdown() {
    let want = expected();
    let dir = broker_dir();
    let log = Log::open_with(dir.path(), options()).unwrap();
    assert!(log.recovery_report().is_empty(), "a clean shutdown: {:?}", log.recovery_report());
    for (topic, want) in &want {
        let p = log.partition(topic, 0).unwrap();
        assert_eq!(p.log_end_offset(), want.last().unwrap().0 + 1, "{topic}");
        let got: Vec<_> =
            p.read(0, usize::MAX).unwrap().into_iter().map(|r| (r.offset, r.timestamp, r.key, r.value)).collect();
        assert_eq!(&got, want, "{topic}: records");
        check_time_lookups(topic, &p, want);
        p.verify().unwrap();
    }
    log.close().unwrap();
    // And again after partlog's own clean shutdown.
    let log = Log::open_with(dir.path(), options()).unwrap();
    assert!(log.recovery_report().is_empty(), "{:?}", log.recovery_report());
    for (topic, want) in &want {
        check_time_lookups(topic, &log.partition(topic, 0).unwrap(), want);
    }
}

/// A broker's checkpoints list `__cluster_metadata 0` (the KRaft metadata log, which partlog
/// never opens). They were called unreadable, ignored (every segment recovered, log start
/// offsets guessed) and rewritten without that line, so the broker lost its metadata log's
/// recovery point. Now they are read, and entries partlog does not own are written back as
/// they were.
#[test]
fn a_brokers_checkpoints_are_read_and_its_entries_kept() {
    let dir = broker_dir();
    let files = ["recovery-point-offset-checkpoint", "log-start-offset-checkpoint", "replication-offset-checkpoint"];
    let before: Vec<_> = files.iter().map(|f| checkpoint_entries(&dir.path().join(f))).collect();
    let metadata = ("__cluster_metadata".to_owned(), 0);
    assert!(before.iter().all(|c| c.contains_key(&metadata)), "the data has the broker's lines");
    let untouched = ["meta.properties", "bootstrap.checkpoint", "replication-offset-checkpoint"]
        .map(|f| std::fs::read(dir.path().join(f)).unwrap());
    let metadata_log: Vec<_> = std::fs::read_dir(dir.path().join("__cluster_metadata-0"))
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            (path.clone(), std::fs::read(path).unwrap())
        })
        .collect();

    let log = Log::open_with(dir.path(), options()).unwrap();
    assert!(log.recovery_report().is_empty(), "{:?}", log.recovery_report());
    assert!(log.partition("__cluster_metadata", 0).is_err(), "the metadata log is not a topic of partlog's");
    log.close().unwrap();

    for (file, before) in files.iter().zip(&before) {
        let after = checkpoint_entries(&dir.path().join(file));
        assert_eq!(&after, before, "{file}: every entry kept, with its offset");
    }
    for (name, bytes) in
        ["meta.properties", "bootstrap.checkpoint", "replication-offset-checkpoint"].iter().zip(untouched)
    {
        assert_eq!(std::fs::read(dir.path().join(name)).unwrap(), bytes, "{name}");
    }
    for (path, bytes) in metadata_log {
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{}", path.display());
    }
    assert_eq!(std::fs::read_dir(dir.path().join("__cluster_metadata-0")).unwrap().count(), 6);
}
