//! The `partlog` binary, run end to end: its output and exit codes, beside a live `Log`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

mod common;

use common::{partlog, stdout};
use partlog::{Log, Record, TopicConfig};

#[test]
fn create_produce_consume_describe_and_groups() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    stdout(&partlog(d, &["topics", "create", "orders", "--partitions", "3", "--config", "segment.bytes=1000"], None));
    let lines: String = (0..30).map(|i| format!("key{}:value {i}\n", i % 4)).collect();
    stdout(&partlog(d, &["produce", "orders", "--key-separator", ":"], Some(&lines)));
    assert_eq!(stdout(&partlog(d, &["topics", "list"], None)), "orders\n");

    // Keyed records follow the partitioner: the same key, one partition, in order.
    let out = stdout(&partlog(
        d,
        &["consume", "orders", "--from-beginning", "--timeout-ms", "0", "--print-key", "--key-separator", "="],
        None,
    ));
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(got.len(), 30);
    let key1: Vec<&str> = got.iter().filter(|l| l.starts_with("key1=")).copied().collect();
    let want: Vec<String> = (0..30).filter(|i| i % 4 == 1).map(|i| format!("key1=value {i}")).collect();
    assert_eq!(key1, want);
    // The default starts at the end, as kafka-console-consumer.
    assert_eq!(stdout(&partlog(d, &["consume", "orders", "--timeout-ms", "0"], None)), "");

    let described = stdout(&partlog(d, &["--json", "topics", "describe", "orders"], None));
    let parts: Vec<serde_json::Value> = described.lines().skip(1).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts.iter().map(|p| p["log_end_offset"].as_u64().unwrap()).sum::<u64>(), 30);
    assert!(parts.iter().all(|p| !p["segments"].as_array().unwrap().is_empty()));

    // A group reads 5 records, commits what it printed, and the next run goes on from there.
    let first =
        stdout(&partlog(d, &["consume", "orders", "--group", "g", "--from-beginning", "--max-messages", "5"], None));
    assert_eq!(first.lines().count(), 5);
    let rest = stdout(&partlog(d, &["consume", "orders", "--group", "g", "--timeout-ms", "0"], None));
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

    let out = stdout(&partlog(
        d,
        &["consume", "live", "--from-beginning", "--timeout-ms", "0", "--print-offset", "--print-timestamp"],
        None,
    ));
    assert_eq!(out, "Partition:0\tOffset:0\tCreateTime:1000\tone\nPartition:0\tOffset:1\tCreateTime:2000\ttwo\n");
    let out = stdout(&partlog(d, &["consume", "live", "--timestamp", "1500", "--timeout-ms", "0"], None));
    assert_eq!(out, "two\n");
    let out = stdout(&partlog(
        d,
        &["consume", "live", "--partition", "0", "--offset", "1", "--timeout-ms", "0", "--print-key"],
        None,
    ));
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
    let json = stdout(&partlog(d, &["--json", "dump", "--deep-iteration", d.join("t-0").to_str().unwrap()], None));
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

/// `partlog` with bytes on standard input, and `env` set (an empty value sets it empty).
fn partlog_with(dir: Option<&Path>, args: &[&str], stdin: &[u8], env: &[(&str, &str)], cwd: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_partlog"));
    if let Some(dir) = dir {
        command.arg("--dir").arg(dir);
    }
    command.args(args).env_remove("PARTLOG_DIR").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    // A command that fails before it reads its input closes it: not the test's failure.
    let _ = input.write_all(stdin);
    drop(input);
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Only `topics create` creates a data directory: the other writing commands refuse a missing
/// one, in one line, and leave nothing behind.
#[test]
fn writing_commands_refuse_a_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nonexistent");
    for (args, stdin) in [
        (&["produce", "x"][..], Some("x\n")),
        (&["topics", "delete", "x"][..], None),
        (&["topics", "alter", "x", "-p", "3"][..], None),
        (&["topics", "alter", "x", "-c", "retention.ms=1"][..], None),
    ] {
        let o = partlog_with(Some(&missing), args, stdin.unwrap_or_default().as_bytes(), &[], None);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        assert!(err.contains("no data directory") && err.lines().count() == 1, "{args:?}: {err}");
        assert!(!missing.exists(), "{args:?} created {}", missing.display());
    }
    stdout(&partlog(&missing, &["topics", "create", "x"], None));
    assert!(missing.join("x-0").is_dir());
}

/// `topics alter` checks every change before making any: a refused one changes nothing.
#[test]
fn alter_changes_nothing_when_one_change_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    stdout(&partlog(d, &["topics", "create", "t1", "-p", "5"], None));
    let before = Log::open_read_only(d).unwrap().topic("t1").unwrap().config().clone();
    let same = partlog(d, &["topics", "alter", "t1", "-p", "5", "-c", "segment.bytes=1048576"], None);
    assert_eq!(same.status.code(), Some(2));
    assert!(stderr(&same).contains("can only be added"), "{}", stderr(&same));
    let bad =
        partlog(d, &["topics", "alter", "t1", "-p", "6", "-c", "retention.ms=1", "-c", "segment.bytes=big"], None);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("segment.bytes"), "{}", stderr(&bad));
    let topic = Log::open_read_only(d).unwrap().topic("t1").unwrap();
    assert_eq!((topic.partition_count(), topic.config()), (5, &before), "nothing changed");
    stdout(&partlog(d, &["topics", "alter", "t1", "-p", "6", "-c", "segment.bytes=1048576"], None));
    let topic = Log::open_read_only(d).unwrap().topic("t1").unwrap();
    assert_eq!((topic.partition_count(), topic.config().segment_bytes), (6, 1048576));
}

/// Lines are bytes (values need not be UTF-8), and text output escapes what is not printable
/// UTF-8, so that bytes and text never read alike and nothing reaches the terminal raw.
#[test]
fn produce_takes_bytes_and_text_output_escapes_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    stdout(&partlog(d, &["topics", "create", "bin"], None));
    let input = b"\x00\x02\x00\x07:\xff\xfe\\x\r\nplain:caf\xc3\xa9\ttab\xc2\x85\nhex:ff\n";
    let o = partlog_with(Some(d), &["produce", "bin", "--key-separator", ":"], input, &[], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let p = Log::open_read_only(d).unwrap().partition("bin", 0).unwrap();
    let got = p.read(0, 1 << 20).unwrap();
    assert_eq!(got[0].key.as_deref(), Some(&b"\x00\x02\x00\x07"[..]));
    assert_eq!(got[0].value.as_deref(), Some(&b"\xff\xfe\\x"[..]));
    assert_eq!(got[1].value.as_deref(), Some(&b"caf\xc3\xa9\ttab\xc2\x85"[..]));

    let out = stdout(&partlog(
        d,
        &["consume", "bin", "--from-beginning", "--timeout-ms", "0", "--print-key", "--key-separator", "="],
        None,
    ));
    assert_eq!(out, "\\x00\\x02\\x00\\x07=\\xff\\xfe\\\\x\nplain=café\\ttab\\xc2\\x85\nhex=ff\n");
    let seg = d.join("bin-0/00000000000000000000.log");
    let out = stdout(&partlog(d, &["dump", "--print-data-log", seg.to_str().unwrap()], None));
    assert!(out.contains("key: \\x00\\x02\\x00\\x07 payload: \\xff\\xfe\\\\x\n"), "{out}");
    assert!(!out.bytes().any(|b| b < b' ' && b != b'\n'), "no control byte printed raw: {out:?}");
    // JSON tells bytes from text by {"hex": …}, as before.
    let json = stdout(&partlog(d, &["--json", "consume", "bin", "--from-beginning", "--max-messages", "1"], None));
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!((v["key"].as_str(), v["value"]["hex"].as_str()), (Some("\0\x02\0\x07"), Some("fffe5c78")));
    for command in ["consume", "dump"] {
        let help = stdout(&partlog(d, &[command, "--help"], None));
        assert!(help.contains("\\xNN"), "{command} --help explains the escapes: {help}");
    }
}

/// Every line that cannot be appended is named by its line number; the others are appended,
/// and the counts end the output (exit 2 when any failed).
#[test]
fn produce_names_bad_lines_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let created = stdout(&partlog(d, &["topics", "create", "big", "-c", "max.message.bytes=1000"], None));
    assert_eq!(created, "Created topic big with 1 partition.\n");
    let long = "a".repeat(2000);
    let o = partlog(d, &["produce", "big"], Some(&format!("small1\n{long}\nsmall2\n")));
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("line 2: not appended:") && err.contains("max.message.bytes"), "{err}");
    assert!(err.ends_with("2 records appended to big, 1 not appended\n"), "{err}");

    let o = partlog(d, &["produce", "big", "--key-separator", ":"], Some("k:v\nnosep\n"));
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("line 2: not appended: no key separator \":\" in nosep"), "{err}");
    assert!(err.ends_with("1 record appended to big, 1 not appended\n"), "{err}");
    let o = partlog(d, &["produce", "big"], Some("one\n"));
    assert_eq!(stderr(&o), "1 record appended to big\n");
    let p = Log::open_read_only(d).unwrap().partition("big", 0).unwrap();
    let values: Vec<Vec<u8>> = p.read(0, 1 << 20).unwrap().into_iter().map(|r| r.value.unwrap()).collect();
    assert_eq!(values, [&b"small1"[..], b"small2", b"v", b"one"]);
    assert!(stdout(&partlog(d, &["produce", "--help"], None)).contains("Every line is tried"));
}

/// --producer-property's example works; compression is the topic's. The key separator is never
/// empty, reads `\t` as a tab, and is printed readably.
#[test]
fn produce_properties_and_key_separator() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    stdout(&partlog(d, &["topics", "create", "t"], None));
    let help = stdout(&partlog(d, &["produce", "--help"], None));
    assert!(!help.contains("compression.type=lz4;") && help.contains("linger.ms=100"), "{help}");
    assert!(help.contains("topic's compression.type"), "{help}");
    stdout(&partlog(d, &["produce", "t", "--producer-property", "linger.ms=100"], Some("x\n")));

    let empty = partlog_with(Some(d), &["produce", "t", "--key-separator", ""], b"a\tb\n", &[], None);
    assert_eq!(empty.status.code(), Some(2));
    assert!(stderr(&empty).contains("must not be empty"), "{}", stderr(&empty));
    let tab = partlog(d, &["produce", "t", "--key-separator", "\\t"], Some("k\tv\nnone\n"));
    assert_eq!(tab.status.code(), Some(2));
    assert!(stderr(&tab).contains("no key separator \"\\t\" in none"), "{}", stderr(&tab));
    let p = Log::open_read_only(d).unwrap().partition("t", 0).unwrap();
    let records = p.read(0, 1 << 20).unwrap();
    assert_eq!(records.len(), 2, "nothing appended for the empty separator");
    assert_eq!((records[1].key.as_deref(), records[1].value.as_deref()), (Some(&b"k"[..]), Some(&b"v"[..])));
}

/// Dumping goes on past a batch whose CRC fails (its length is intact), as Kafka's
/// DumpLogSegments does, and stops where a length is unusable, saying what was not read.
#[test]
fn dump_goes_on_past_a_corrupt_batch() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let log = Log::open(d).unwrap();
    let p = log.create_topic("t", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    for i in 0..5u8 {
        p.append(&[Record::new(&[b'v', b'0' + i])]).unwrap();
    }
    log.close().unwrap();
    let seg = d.join("t-0/00000000000000000000.log");
    let json = stdout(&partlog(d, &["--json", "dump", seg.to_str().unwrap()], None));
    let batches: Vec<(usize, usize)> = json
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("base_offset").is_some())
        .map(|v| (v["position"].as_u64().unwrap() as usize, v["size"].as_u64().unwrap() as usize))
        .collect();
    assert_eq!(batches.len(), 5);

    // The third batch's last byte (its record's value), which the CRC covers.
    let mut bytes = std::fs::read(&seg).unwrap();
    let (at, size) = batches[2];
    bytes[at + size - 1] ^= 0xff;
    std::fs::write(&seg, &bytes).unwrap();
    let o = partlog(d, &["dump", "--deep-iteration", seg.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.lines().filter(|l| l.starts_with("baseOffset:")).count(), 5, "{out}");
    assert_eq!(out.matches("crcValid: false").count(), 1, "{out}");
    assert!(out.contains(&format!("position: {at} ")) && out.contains("| offset: 4 "), "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("DAMAGE")).count(), 1, "{out}");

    // The fourth batch's length: unusable, so the dump stops there.
    let (at4, _) = batches[3];
    bytes[at4 + 8..at4 + 12].copy_from_slice(&i32::MAX.to_be_bytes());
    std::fs::write(&seg, &bytes).unwrap();
    let o = partlog(d, &["dump", seg.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.lines().filter(|l| l.starts_with("baseOffset:")).count(), 3, "{out}");
    let left = bytes.len() - at4;
    assert!(out.contains(&format!("at position {at4}: batch length")), "{out}");
    assert!(out.contains(&format!("the last {left} bytes of the file are not read")), "{out}");
}

/// A data directory dumps every partition directory in it; a directory without any segment
/// file is an error, not silent success.
#[test]
fn dump_of_a_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    stdout(&partlog(d, &["topics", "create", "t", "-p", "11"], None));
    let out = stdout(&partlog(d, &["dump", d.to_str().unwrap()], None));
    let logs: Vec<&str> =
        out.lines().filter(|l| l.starts_with("Dumping ") && l.ends_with(".log")).map(|l| &l[8..]).collect();
    let want: Vec<String> =
        (0..11).map(|i| d.join(format!("t-{i}/00000000000000000000.log")).display().to_string()).collect();
    assert_eq!(logs, want, "by partition number: {out}");
    let empty = d.join("empty");
    std::fs::create_dir_all(empty.join("sub")).unwrap();
    let o = partlog(d, &["dump", empty.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no segment file"), "{}", stderr(&o));
}

/// --index-sanity-check prints its verdict, and not the entries, as Kafka does (text and JSON);
/// damage is listed before a failed verdict.
#[test]
fn index_sanity_check_prints_its_verdict_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let log = Log::open(d).unwrap();
    let mut config = TopicConfig::default();
    config.index_interval_bytes = 1;
    let p = log.create_topic("t", 1, config).unwrap().partition(0).unwrap();
    for value in [b"a", b"b", b"c"] {
        p.append(&[Record::new(value)]).unwrap(); // a batch each: an index entry after the first
    }
    log.close().unwrap();
    let index = d.join("t-0/00000000000000000000.index");
    let entries = stdout(&partlog(d, &["dump", index.to_str().unwrap()], None));
    assert!(entries.contains("offset: 2 position: "), "without the check, entries are listed: {entries}");
    let out = stdout(&partlog(d, &["dump", "--index-sanity-check", index.to_str().unwrap()], None));
    assert_eq!(out, format!("Dumping {0}\n{0} passed sanity check.\n", index.display()));
    let json = stdout(&partlog(d, &["--json", "dump", "--index-sanity-check", index.to_str().unwrap()], None));
    let lines: Vec<serde_json::Value> = json.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{json}");
    assert_eq!(lines[1]["sanity_check"], "passed", "{json}");
    assert!(stdout(&partlog(d, &["verify"], None)).starts_with("OK"), "verify prints no verdict per index");

    // The second entry's position past the data file: its damage, then the verdict.
    let mut bytes = std::fs::read(&index).unwrap();
    bytes[12..16].copy_from_slice(&1_000_000u32.to_be_bytes());
    std::fs::write(&index, &bytes).unwrap();
    let o = partlog(d, &["dump", "--index-sanity-check", index.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[1].starts_with("DAMAGE ") && lines[1].contains("entry 1: position 1000000"), "{out}");
    assert_eq!(lines[2], format!("{} failed sanity check.", index.display()));
}

/// --json makes the writing commands print JSON lines too.
#[test]
fn writing_commands_print_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let json = |args: &[&str], stdin: Option<&str>| -> Vec<serde_json::Value> {
        let o = partlog(d, &[&["--json"][..], args].concat(), stdin);
        let out = String::from_utf8(o.stdout).unwrap();
        out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}"))).collect()
    };
    assert_eq!(
        json(&["topics", "create", "t"], None),
        [serde_json::json!({"topic": "t", "created": true, "partitions": 1})]
    );
    let altered = json(&["topics", "alter", "t", "-p", "2", "-c", "retention.ms=-1"], None);
    assert_eq!((altered.len(), &altered[0]["partitions"]), (1, &serde_json::json!(2)));
    let produced = json(&["produce", "t", "--key-separator", ":"], Some("k:v\nnosep\n"));
    assert_eq!(produced[0]["line"], 2);
    assert_eq!(produced[1], serde_json::json!({"topic": "t", "appended": 1, "not_appended": 1}));
    assert_eq!(json(&["topics", "delete", "t"], None), [serde_json::json!({"topic": "t", "deleted": true})]);
}

/// --dir is optional in usage lines, and an empty PARTLOG_DIR counts as unset (./data).
#[test]
fn data_directory_from_partlog_dir() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = partlog_with(None, &["topics", "create", "t"], b"", &[("PARTLOG_DIR", "")], Some(d));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(d.join("data/t-0").is_dir());
    let o = partlog_with(None, &["consume", "t", "--offset", "1"], b"", &[("PARTLOG_DIR", "data")], Some(d));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("Usage:") && !stderr(&o).contains("--dir <DIR>"), "{}", stderr(&o));
    let help = stdout(&partlog_with(None, &["--help"], b"", &[], None));
    assert!(help.contains("PARTLOG_DIR"), "{help}");
}

/// `topics alter --delete-config` removes overrides (kafka-configs --delete-config): the
/// settings are Kafka's defaults again; an unknown name, or one both set and removed, changes
/// nothing.
#[test]
fn alter_delete_config_removes_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let create = ["topics", "create", "t", "-c", "retention.ms=-1", "-c", "segment.bytes=100000", "-c", "flush.ms=10"];
    stdout(&partlog(d, &create, None));
    let bad = partlog(d, &["topics", "alter", "t", "--delete-config", "retention.ms,no.such.config"], None);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("--delete-config no.such.config: unknown topic config"), "{}", stderr(&bad));
    let both = partlog(d, &["topics", "alter", "t", "-c", "flush.ms=5", "--delete-config", "flush.ms"], None);
    assert_eq!(both.status.code(), Some(2));
    assert_eq!(Log::open_read_only(d).unwrap().topic("t").unwrap().config().retention_ms, -1, "nothing changed");

    let out = stdout(&partlog(
        d,
        &["topics", "alter", "t", "--delete-config", "retention.ms,segment.bytes", "--delete-config", "flush.ms"],
        None,
    ));
    assert_eq!(out, "Topic t: retention.ms, segment.bytes, flush.ms removed; Kafka's defaults apply.\n");
    assert_eq!(Log::open_read_only(d).unwrap().topic("t").unwrap().config(), &TopicConfig::default());
    let described = stdout(&partlog(d, &["topics", "describe", "t"], None));
    assert!(described.starts_with("Topic: t\tPartitionCount: 1\tConfigs: \n"), "{described}");
}

/// `topics create --if-not-exists` and `topics delete --if-exists` do nothing, without an
/// error, where there is nothing to do (as kafka-topics); without them, that is an error.
#[test]
fn create_if_not_exists_and_delete_if_exists() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    stdout(&partlog(d, &["topics", "create", "t", "-p", "2"], None));
    assert_eq!(partlog(d, &["topics", "create", "t"], None).status.code(), Some(2));
    assert_eq!(stdout(&partlog(d, &["topics", "create", "t", "--if-not-exists"], None)), "");
    let json = stdout(&partlog(d, &["--json", "topics", "create", "t", "--if-not-exists"], None));
    assert_eq!(json, "{\"created\":false,\"topic\":\"t\"}\n");
    assert_eq!(Log::open_read_only(d).unwrap().topic("t").unwrap().partition_count(), 2, "left as it was");
    assert_eq!(
        stdout(&partlog(d, &["topics", "create", "u", "--if-not-exists"], None)),
        "Created topic u with 1 partition.\n"
    );

    assert_eq!(partlog(d, &["topics", "delete", "nosuch"], None).status.code(), Some(2));
    assert_eq!(stdout(&partlog(d, &["topics", "delete", "nosuch", "--if-exists"], None)), "");
    let json = stdout(&partlog(d, &["--json", "topics", "delete", "nosuch", "--if-exists"], None));
    assert_eq!(json, "{\"deleted\":false,\"topic\":\"nosuch\"}\n");
    assert_eq!(stdout(&partlog(d, &["topics", "delete", "u", "--if-exists"], None)), "Deleted topic u.\n");
    assert_eq!(stdout(&partlog(d, &["topics", "list"], None)), "t\n");
}
