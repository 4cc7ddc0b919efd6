//! Helpers shared by the integration tests (each test binary uses some of them).
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use partlog::{Log, LogOptions, ManualClock, OwnedRecord, Partition, TopicConfig};

/// A fixed point in time (2023-11-14) for tests driven by a `ManualClock`.
pub const T0: i64 = 1_700_000_000_000;
/// An hour in milliseconds.
pub const HOUR: i64 = 3_600_000;

/// Options for tests: no maintenance thread, so that the test decides when retention,
/// flushes, checkpoints and compaction happen.
pub fn options() -> LogOptions {
    LogOptions::default().maintenance_interval_ms(None)
}

/// [`options`] with a manual clock.
pub fn clocked(clock: &Arc<ManualClock>) -> LogOptions {
    options().clock(clock.clone())
}

/// Opens `dir` with [`clocked`] options.
pub fn open_clocked(dir: &Path, clock: &Arc<ManualClock>) -> Log {
    Log::open_with(dir, clocked(clock)).unwrap()
}

/// A fresh log in a temporary directory with one topic `t` of one partition.
pub fn partition_with(config: TopicConfig) -> (tempfile::TempDir, Log, Partition) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let p = log.create_topic("t", 1, config).unwrap().partition(0).unwrap();
    (dir, log, p)
}

/// Every readable record.
pub fn read_all(p: &Partition) -> Vec<OwnedRecord> {
    p.read(p.log_start_offset(), usize::MAX).unwrap()
}

/// The segments' base offsets.
pub fn bases(p: &Partition) -> Vec<u64> {
    p.segments().iter().map(|s| s.base_offset()).collect()
}

/// A value naming its offset, fixed width, so that records can be checked against their offsets.
pub fn value_of(offset: u64) -> Vec<u8> {
    format!("value-{offset:08}").into_bytes()
}

/// The positions of the batches in a segment file's bytes (read from their length fields).
pub fn batch_positions(bytes: &[u8]) -> Vec<usize> {
    let mut positions = Vec::new();
    let mut at = 0usize;
    while at + 12 <= bytes.len() {
        positions.push(at);
        at += 12 + u32::from_be_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
    }
    positions
}

/// Lowercase hex of `bytes`, as the interop tools write bytes in JSON.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A record as the interop tools exchange it (`tests/kafka_python`, `interop/kafka`):
/// `{offset, timestamp, key, value, headers: [[key, value]]}`, bytes as hex, null as null.
pub fn record_json(r: &OwnedRecord) -> serde_json::Value {
    let bytes = |v: Option<&[u8]>| v.map_or(serde_json::Value::Null, |b| serde_json::Value::String(hex(b)));
    serde_json::json!({
        "offset": r.offset,
        "timestamp": r.timestamp,
        "key": bytes(r.key.as_deref()),
        "value": bytes(r.value.as_deref()),
        "headers": r.headers.iter()
            .map(|h| serde_json::json!([String::from_utf8_lossy(&h.key), bytes(h.value.as_deref())]))
            .collect::<Vec<_>>(),
    })
}
