//! The `partlog` binary, run end to end: its output and exit codes, beside a live `Log`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use partlog::{Log, Record, TopicConfig};

fn partlog(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_partlog"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn create_produce_consume_describe_and_groups() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    stdout(&partlog(d, &["topics", "create", "orders", "--partitions", "3", "--config", "segment.bytes=1000"], None));
    let lines: String = (0..30).map(|i| format!("key{}:value {i}\n", i % 4)).collect();
    stdout(&partlog(d, &["produce", "orders", "--key-separator", ":"], Some(&lines)));
    assert_eq!(stdout(&partlog(d, &["topics", "list"], None)), "orders\n");

    // Keyed records follow the partitioner: the same key, one partition, in order.
    let out =
        stdout(&partlog(d, &["consume", "orders", "--from-beginning", "--print-key", "--key-separator", "="], None));
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(got.len(), 30);
    let key1: Vec<&str> = got.iter().filter(|l| l.starts_with("key1=")).copied().collect();
    let want: Vec<String> = (0..30).filter(|i| i % 4 == 1).map(|i| format!("key1=value {i}")).collect();
    assert_eq!(key1, want);
    // The default starts at the end, as kafka-console-consumer.
    assert_eq!(stdout(&partlog(d, &["consume", "orders"], None)), "");

    let described = stdout(&partlog(d, &["--json", "topics", "describe", "orders"], None));
    let parts: Vec<serde_json::Value> = described.lines().skip(1).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts.iter().map(|p| p["log_end_offset"].as_u64().unwrap()).sum::<u64>(), 30);
    assert!(parts.iter().all(|p| !p["segments"].as_array().unwrap().is_empty()));

    // A group reads 5 records, commits what it printed, and the next run goes on from there.
    let first =
        stdout(&partlog(d, &["consume", "orders", "--group", "g", "--from-beginning", "--max-messages", "5"], None));
    assert_eq!(first.lines().count(), 5);
    let rest = stdout(&partlog(d, &["consume", "orders", "--group", "g"], None));
    assert_eq!(rest.lines().count(), 25, "each record once across the two runs");
    let mut all: Vec<&str> = first.lines().chain(rest.lines()).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 30);
    assert!(stdout(&partlog(d, &["groups", "list"], None)).starts_with("g\t"));
    let lag = stdout(&partlog(d, &["--json", "groups", "describe", "g"], None));
    let rows: Vec<serde_json::Value> = lag.lines().skip(1).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["lag"] == 0), "{lag}");

    // Changing config, adding partitions, deleting the topic.
    stdout(&partlog(
        d,
        &[
            "topics",
            "alter",
            "orders",
            "--config",
            "retention.ms=-1",
            "-c",
            "compression.type=lz4",
            "--partitions",
            "5",
        ],
        None,
    ));
    let topic = Log::open_read_only(d).unwrap().topic("orders").unwrap();
    assert_eq!(topic.partition_count(), 5);
    assert_eq!((topic.config().retention_ms, topic.config().compression_type.to_string()), (-1, "lz4".to_string()));
    let nothing = partlog(d, &["topics", "alter", "orders"], None);
    assert_eq!(nothing.status.code(), Some(2), "clap refuses an alter that changes nothing");
    let bad = partlog(d, &["topics", "alter", "orders", "-c", "retention.ms=soon"], None);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("retention.ms"));
    let fewer = partlog(d, &["topics", "alter", "orders", "--partitions", "2"], None);
    assert_eq!(fewer.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&fewer.stderr).contains("can only be added"));
    stdout(&partlog(d, &["topics", "delete", "orders"], None));
    // Kafka's internal offsets topic stays, as `kafka-topics --list` shows it too.
    assert_eq!(stdout(&partlog(d, &["topics", "list"], None)), "__consumer_offsets\n");
}

/// Reading commands work while an application holds the directory, and change nothing;
/// writing ones are refused with the reason.
#[test]
fn reads_beside_a_running_application() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let log = Log::open(d).unwrap();
    let p = log.create_topic("live", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    p.append(&[Record::new(b"one").with_key(b"k").with_timestamp(1_000)]).unwrap();
    p.append(&[Record::new(b"two").with_timestamp(2_000)]).unwrap();

    let out =
        stdout(&partlog(d, &["consume", "live", "--from-beginning", "--print-offset", "--print-timestamp"], None));
    assert_eq!(out, "Partition:0\tOffset:0\tCreateTime:1000\tone\nPartition:0\tOffset:1\tCreateTime:2000\ttwo\n");
    let out = stdout(&partlog(d, &["consume", "live", "--timestamp", "1500"], None));
    assert_eq!(out, "two\n");
    let out = stdout(&partlog(d, &["consume", "live", "--partition", "0", "--offset", "1", "--print-key"], None));
    assert_eq!(out, "null\ttwo\n");
    assert!(stdout(&partlog(d, &["verify"], None)).starts_with("OK: 1 partitions"));

    // Following: records appended by the application while the tool runs are printed.
    // It starts at offset 2, so it prints the same whenever it opens the directory.
    let follower = Command::new(env!("CARGO_BIN_EXE_partlog"))
        .arg("--dir")
        .arg(d)
        .args(["consume", "live", "--follow", "--max-messages", "3", "--partition", "0", "--offset", "2"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = follower.id();
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(60));
        // Still running after a minute: the test fails on its output instead of hanging.
        let _ = Command::new("kill").arg(pid.to_string()).status();
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    p.append(&[Record::new(b"a")]).unwrap();
    p.append(&[Record::new(b"b"), Record::new(b"c")]).unwrap();
    let followed = follower.wait_with_output().unwrap();
    drop(watchdog);
    assert_eq!(String::from_utf8(followed.stdout).unwrap(), "a\nb\nc\n");

    let refused = partlog(d, &["produce", "live"], Some("x\n"));
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("already open"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_eq!(p.log_end_offset(), 5);
    log.close().unwrap();
}

#[test]
fn dump_prints_batches_and_records_and_verify_finds_damage() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let log = Log::open(d).unwrap();
    let mut config = TopicConfig::default();
    config.index_interval_bytes = 1;
    let p = log.create_topic("t", 1, config).unwrap().partition(0).unwrap();
    for i in 0..5u8 {
        p.append(&[Record::new(&[b'v', b'0' + i]).with_key(b"k"), Record::new(b"x")]).unwrap();
    }
    log.close().unwrap();
    let seg = d.join("t-0/00000000000000000000.log");
    let out = stdout(&partlog(d, &["dump", "--print-data-log", seg.to_str().unwrap()], None));
    assert_eq!(out.lines().filter(|l| l.starts_with("baseOffset:")).count(), 5);
    assert!(out.contains("baseOffset: 2 lastOffset: 3 count: 2"), "{out}");
    assert!(out.contains("| offset: 4 ") && out.contains("key: k payload: v2"), "{out}");
    assert!(out.contains("crcValid: true") && !out.contains("crcValid: false"));
    let json = stdout(&partlog(
        d,
        &["--json", "dump", "--deep-iteration", "--index-sanity-check", d.join("t-0").to_str().unwrap()],
        None,
    ));
    let offsets: Vec<u64> = json
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter_map(|v| v.get("position").and(v.get("offset")).and_then(|o| o.as_u64()))
        .collect();
    assert!(!offsets.is_empty(), "index entries listed: {json}");
    assert!(!json.contains("damage"));

    // A flipped byte inside the third batch: verify names the file and position, exit 1.
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = bytes.len() * 3 / 5;
    bytes[at] ^= 0xff;
    std::fs::write(&seg, &bytes).unwrap();
    let verified = partlog(d, &["verify"], None);
    assert_eq!(verified.status.code(), Some(1));
    let text = String::from_utf8_lossy(&verified.stdout);
    // The last segment: its bytes from the bad batch on are not read (as a write in progress
    // would be), and still so after a pause, so they are damage.
    assert!(text.contains("t-0/00000000000000000000.log at position"), "{text}");
    assert!(text.contains("DAMAGED"), "{text}");
    let dumped = partlog(d, &["dump", seg.to_str().unwrap()], None);
    assert_eq!(dumped.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&dumped.stdout).contains("DAMAGE"));
    assert_eq!(std::fs::read(&seg).unwrap(), bytes, "reading changed nothing");
}
