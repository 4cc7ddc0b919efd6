//! partlog's side of the checks against Apache Kafka itself. `interop/kafka/run.sh` (CI's
//! "Apache Kafka" stage) starts a real broker and runs Kafka's tools and clients; it runs these
//! tests with the environment variables each one reads. Plain `cargo test` lists them as
//! ignored: each needs the broker's output.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use partlog::{Admin, Log, Record, TopicConfig};
use serde_json::Value;

use common::{options, record_json};

const HARNESS: &str = "needs a Kafka broker: run interop/kafka/run.sh";

fn env_path(name: &str) -> PathBuf {
    std::env::var_os(name).map(PathBuf::from).unwrap_or_else(|| panic!("{name} is not set: {HARNESS}"))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Writes `expected.json` (every record as partlog reads it) into each partition directory of
/// the closed data directory `PARTLOG_INTEROP_DIR`, for `dump_check.py` to compare with what
/// Kafka's `DumpLogSegments` prints.
#[test]
#[ignore = "needs a Kafka broker: run interop/kafka/run.sh"]
fn write_expectations() {
    let dir = env_path("PARTLOG_INTEROP_DIR");
    let log = Log::open_with(&dir, options()).unwrap();
    for name in log.topic_names() {
        for p in log.topic(&name).unwrap().partitions() {
            let records = p.read(p.log_start_offset(), usize::MAX).unwrap();
            let sidecar = serde_json::json!({
                "index_interval_bytes": p.config().index_interval_bytes,
                "log_start_offset": p.log_start_offset(),
                "records": records.iter().map(record_json).collect::<Vec<_>>(),
            });
            std::fs::write(p.dir().join("expected.json"), serde_json::to_vec(&sidecar).unwrap()).unwrap();
        }
    }
    log.close().unwrap();
}

/// Every file below `dir`: its length and a hash of its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, u64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                let bytes = std::fs::read(entry.path()).unwrap();
                let mut h = std::collections::hash_map::DefaultHasher::new();
                bytes.hash(&mut h);
                out.insert(entry.path().strip_prefix(dir).unwrap().to_path_buf(), (bytes.len() as u64, h.finish()));
            }
        }
    }
    out
}

/// Files partlog owns in a data directory: the checkpoints it shares with Kafka (same names and
/// formats), its lock and its own topic metadata. Nothing inside a partition directory, and not
/// the broker's clean-shutdown marker: partlog writes it back as it found it (with the
/// broker's epoch).
fn partlog_owns(path: &Path) -> bool {
    let name = path.to_str().unwrap();
    !name.contains('/')
        && (matches!(
            name,
            "recovery-point-offset-checkpoint" | "log-start-offset-checkpoint" | "cleaner-offset-checkpoint" | ".lock"
        ) || name.ends_with(".conf")
            || name.ends_with(".part"))
}

/// The `topic partition offset` entries of a Kafka offset checkpoint file.
fn checkpoint_entries(path: &Path) -> BTreeMap<(String, u32), u64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .skip(2)
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            ((fields[0].to_owned(), fields[1].parse().unwrap()), fields[2].parse().unwrap())
        })
        .collect()
}

/// A record of the Java consumer's dump without the field partlog's records do not carry.
fn without_timestamp_type(record: &Value) -> Value {
    let mut record = record.clone();
    record.as_object_mut().unwrap().remove("timestamp_type");
    record
}

/// A copy of a stopped broker's `log.dir` (`PARTLOG_KAFKA_LOG_DIR`), fed by Kafka's Java
/// producers (every codec, idempotent and transactional, a compacted topic after Kafka's
/// cleaner ran, a consumer group's commits): partlog opens it, reads every record as Kafka's
/// consumer did (`PARTLOG_KAFKA_DUMP`), answers every time lookup as Kafka's ListOffsets did
/// (`PARTLOG_KAFKA_LIST_OFFSETS`), finds the group's committed offsets in `__consumer_offsets`
/// (`PARTLOG_KAFKA_GROUP_OFFSETS`), and changes no file it does not own.
#[test]
#[ignore = "needs a Kafka broker: run interop/kafka/run.sh"]
fn opens_a_kafka_brokers_log_dir() {
    let dir = env_path("PARTLOG_KAFKA_LOG_DIR");
    let dump = read_json(&env_path("PARTLOG_KAFKA_DUMP"));
    let listed = read_json(&env_path("PARTLOG_KAFKA_LIST_OFFSETS"));
    let group = read_json(&env_path("PARTLOG_KAFKA_GROUP_OFFSETS"));
    let before = snapshot(&dir);
    let checkpoint_files =
        ["recovery-point-offset-checkpoint", "log-start-offset-checkpoint", "cleaner-offset-checkpoint"];
    let kafkas: Vec<_> = checkpoint_files.iter().map(|f| checkpoint_entries(&dir.join(f))).collect();
    let log = Log::open_with(&dir, options()).unwrap();
    assert!(log.recovery_report().is_empty(), "a cleanly stopped broker's log: {:?}", log.recovery_report());

    let mut records_checked = 0;
    for (topic, partitions) in dump["topics"].as_object().unwrap() {
        for (id, theirs) in partitions.as_object().unwrap() {
            let p = log.partition(topic, id.parse().unwrap()).unwrap();
            let theirs: Vec<Value> = theirs.as_array().unwrap().iter().map(without_timestamp_type).collect();
            let ours: Vec<Value> = p.read(p.log_start_offset(), usize::MAX).unwrap().iter().map(record_json).collect();
            if let Some(i) = (0..ours.len().max(theirs.len())).find(|&i| ours.get(i) != theirs.get(i)) {
                panic!("{topic}-{id}: record {i} differs:\n partlog: {:?}\n kafka:   {:?}", ours.get(i), theirs.get(i));
            }
            records_checked += ours.len();
        }
    }
    let mut lookups = 0;
    for (topic, partitions) in listed.as_object().unwrap() {
        for (id, answers) in partitions.as_object().unwrap() {
            let p = log.partition(topic, id.parse().unwrap()).unwrap();
            assert_eq!(p.log_start_offset(), answers["begin"].as_u64().unwrap(), "{topic}-{id} begin");
            assert_eq!(p.log_end_offset(), answers["end"].as_u64().unwrap(), "{topic}-{id} end");
            for answer in answers["times"].as_array().unwrap() {
                let ts = answer[0].as_i64().unwrap();
                let theirs = answer[1].as_u64().map(|offset| (offset, answer[2].as_i64().unwrap()));
                let ours = p.offset_for_timestamp(ts).unwrap().map(|t| (t.offset, t.timestamp));
                assert_eq!(ours, theirs, "{topic}-{id}: offset for timestamp {ts}");
                lookups += 1;
            }
        }
    }
    let committed: BTreeMap<(String, u32), (u64, String)> = Admin::new(&log)
        .list_group_offsets("interop-group")
        .unwrap()
        .into_iter()
        .map(|(tp, o)| ((tp.topic, tp.partition), (o.offset, o.metadata)))
        .collect();
    let mut expected = BTreeMap::new();
    for (topic, partitions) in group.as_object().unwrap() {
        for (id, o) in partitions.as_object().unwrap() {
            let value = (o["offset"].as_u64().unwrap(), o["metadata"].as_str().unwrap().to_owned());
            expected.insert((topic.clone(), id.parse().unwrap()), value);
        }
    }
    assert!(!expected.is_empty());
    assert_eq!(committed, expected, "interop-group's committed offsets");
    log.close().unwrap();

    // Kafka's checkpoint entries are all still there, with their values: partlog adds entries
    // for partitions Kafka left out, and changes none.
    for (file, kafka) in checkpoint_files.iter().zip(&kafkas) {
        let ours = checkpoint_entries(&dir.join(file));
        for (key, value) in kafka {
            assert_eq!(ours.get(key), Some(value), "{file}: {key:?}");
        }
    }
    let after = snapshot(&dir);
    let paths: BTreeSet<&PathBuf> = before.keys().chain(after.keys()).collect();
    let changed: Vec<&&PathBuf> = paths.iter().filter(|p| before.get(**p) != after.get(**p)).collect();
    let foreign: Vec<_> = changed.iter().filter(|p| !partlog_owns(p)).collect();
    assert!(foreign.is_empty(), "files partlog does not own were changed, added or deleted: {foreign:?}");
    assert!(before.keys().all(|p| after.contains_key(p)), "nothing is deleted");
    println!(
        "{records_checked} records and {lookups} time lookups as Kafka answered them; {} committed offsets; \
         {} files, {} of them partlog's own changed: {changed:?}",
        committed.len(),
        before.len(),
        changed.len()
    );
}

/// Raw batches in both directions, with `interop/kafka/raw_batches.py` between the two steps.
/// `PARTLOG_RAW_OUT`: writes a partition's `read_raw` bytes (every codec, keys, headers) to that
/// file, to be produced to a broker as they are. `PARTLOG_RAW_IN`: batches fetched from the
/// broker go into `append_raw` of a fresh partition and must read back byte for byte.
#[test]
#[ignore = "needs a Kafka broker: run interop/kafka/run.sh"]
fn raw_batches_in_and_out() {
    let temp = tempfile::tempdir().unwrap();
    let log = Log::open_with(temp.path(), options()).unwrap();
    if let Some(out) = std::env::var_os("PARTLOG_RAW_OUT") {
        // One partition of batches in every codec: each codec's topic writes its batches,
        // which are then gathered into one partition with consecutive offsets.
        let p = log.create_topic("raw", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
        for (i, codec) in partlog::Compression::ALL.into_iter().filter(|c| c.is_available()).enumerate() {
            let mut config = TopicConfig::default();
            config.compression_type = partlog::CompressionType::Codec(codec);
            let source = log.create_topic(&format!("raw-{codec}"), 1, config).unwrap().partition(0).unwrap();
            let values: Vec<String> = (0..50).map(|j| format!("{codec} record {j} {}", "x".repeat(j * 7))).collect();
            let headers = [partlog::Header::from_bytes(b"h", Some(b"v"))];
            for chunk in values.chunks(20) {
                let records: Vec<Record<'_>> = chunk
                    .iter()
                    .enumerate()
                    .map(|(j, v)| {
                        let r = Record::new(v.as_bytes()).with_timestamp(1_700_000_000_000 + (i * 100 + j) as i64);
                        if j % 3 == 0 {
                            r.with_key(b"k").with_headers(&headers)
                        } else {
                            r
                        }
                    })
                    .collect();
                source.append(&records).unwrap();
            }
            let mut batches = Vec::new();
            source.read_raw(0, usize::MAX, &mut batches).unwrap();
            p.append_raw(&batches).unwrap();
        }
        let mut raw = Vec::new();
        assert_eq!(p.read_raw(0, usize::MAX, &mut raw).unwrap(), p.log_end_offset());
        std::fs::write(out, raw).unwrap();
    }
    if let Some(input) = std::env::var_os("PARTLOG_RAW_IN") {
        let fetched = std::fs::read(input).unwrap();
        assert!(!fetched.is_empty());
        let p = log.create_topic("from-kafka", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
        let info = p.append_raw(&fetched).unwrap();
        assert_eq!(info.first_offset, 0);
        let mut back = Vec::new();
        p.read_raw(0, usize::MAX, &mut back).unwrap();
        assert!(
            back == fetched,
            "batches fetched from Kafka read back changed ({} vs {} bytes)",
            back.len(),
            fetched.len()
        );
        println!("{} bytes, {} records from Kafka read back identical", back.len(), p.log_end_offset());
    }
    log.close().unwrap();
}

/// A running broker's `log.dir` (`PARTLOG_KAFKA_LIVE_DIR`) does not open: the broker holds its
/// `.lock` with a POSIX record lock, which partlog takes too. Nothing in it is changed.
#[test]
#[ignore = "needs a Kafka broker: run interop/kafka/run.sh"]
fn refuses_a_running_brokers_log_dir() {
    let dir = env_path("PARTLOG_KAFKA_LIVE_DIR");
    let before = snapshot(&dir);
    match Log::open_with(&dir, options()) {
        Err(partlog::Error::DirectoryLocked { holder, .. }) => assert!(holder.contains("Kafka broker"), "{holder}"),
        Err(e) => panic!("refused, but not for the lock: {e}"),
        Ok(_) => panic!("opened a running broker's log.dir"),
    }
    // The broker writes while it runs, so files may change under it; but partlog made nothing
    // (it would have written `<topic>.conf` / `<topic>.part` files past the lock).
    let after = snapshot(&dir);
    let made: Vec<_> = after.keys().filter(|p| !before.contains_key(*p)).collect();
    assert!(made.iter().all(|p| !p.to_str().unwrap().ends_with(".conf") && !p.to_str().unwrap().ends_with(".part")));
    println!("a running broker's log.dir is refused: the lock");
}
