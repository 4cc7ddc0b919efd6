//! The reading commands, end to end: `consume` and `verify` beside a live `Log`, and on damage.

mod common;

use common::{command, partlog, stdout, wait_at_most};
use partlog::{Log, Record, TimestampType, TopicConfig};

#[test]
fn consuming_an_unknown_topic_in_a_group_is_an_error_that_makes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    Log::open(dir.path()).unwrap().create_topic("t", 1, TopicConfig::default()).unwrap();
    let out = partlog(dir.path(), &["consume", "nosuch", "--group", "g"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nosuch"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!dir.path().join("__consumer_offsets-0").exists(), "no group made for a topic that is not there");

    let missing = dir.path().join("typo");
    let out = partlog(&missing, &["consume", "t", "--group", "g"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(!missing.exists(), "a mistyped --dir is not created");
}

#[test]
fn timestamps_are_printed_with_their_batch_type() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let mut config = TopicConfig::default();
    config.message_timestamp_type = TimestampType::LogAppendTime;
    log.create_topic("appended", 1, config).unwrap().partition(0).unwrap().append(&[Record::new(b"v")]).unwrap();
    let created = log.create_topic("created", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    created.append(&[Record::new(b"w").with_timestamp(1_700_000_000_000)]).unwrap();

    let out = stdout(&partlog(
        dir.path(),
        &["consume", "appended", "--from-beginning", "--timeout-ms", "0", "--print-timestamp"],
        None,
    ));
    assert!(out.starts_with("LogAppendTime:") && out.ends_with("\tv\n"), "{out}");
    let out = stdout(&partlog(
        dir.path(),
        &["consume", "created", "--from-beginning", "--timeout-ms", "0", "--print-timestamp"],
        None,
    ));
    assert_eq!(out, "CreateTime:1700000000000\tw\n");
    let json =
        stdout(&partlog(dir.path(), &["--json", "consume", "appended", "--from-beginning", "--timeout-ms", "0"], None));
    let record: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(record["timestamp_type"], "LogAppendTime");
    // In a group too (the application has closed the directory).
    log.close().unwrap();
    let out = stdout(&partlog(
        dir.path(),
        &["consume", "appended", "--group", "g", "--from-beginning", "--timeout-ms", "0", "--print-timestamp"],
        None,
    ));
    assert!(out.starts_with("LogAppendTime:"), "{out}");
}

/// A data directory with topic `t` of one partition holding `value`, and its open log.
fn one_record(value: &[u8]) -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    log.create_topic("t", 1, TopicConfig::default())
        .unwrap()
        .partition(0)
        .unwrap()
        .append(&[Record::new(value)])
        .unwrap();
    (dir, log)
}

#[test]
fn following_a_topic_reads_partitions_added_meanwhile() {
    let (dir, log) = one_record(b"first");
    let mut child =
        command(dir.path(), &["consume", "t", "--from-beginning", "--follow", "--max-messages", "2"]).spawn().unwrap();
    drop(child.stdin.take());
    std::thread::sleep(std::time::Duration::from_millis(300)); // following partition 0 by now
    log.add_partitions("t", 2).unwrap();
    log.partition("t", 1).unwrap().append(&[Record::new(b"in the new partition")]).unwrap();
    let out = wait_at_most(child, 30);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "first\nin the new partition\n");
}

#[cfg(unix)]
#[test]
fn ctrl_c_ends_a_group_consumer_cleanly() {
    use std::io::BufRead;
    let (dir, log) = one_record(b"a");
    log.close().unwrap();
    let mut child =
        command(dir.path(), &["consume", "t", "--group", "g", "--from-beginning", "--follow"]).spawn().unwrap();
    drop(child.stdin.take());
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert_eq!(first, "a\n");
    let sent = std::process::Command::new("kill").arg("-INT").arg(child.id().to_string()).status().unwrap();
    assert!(sent.success());
    let out = wait_at_most(child, 30);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // The member left its group, and what it printed is committed.
    let log = Log::open(dir.path()).unwrap();
    let group = partlog::Admin::new(&log).describe_group("g").unwrap();
    assert!(group.members.is_empty(), "{group:?}");
    assert_eq!(group.partitions[0].committed, Some(1));
}

/// A closed data directory: topic `t`, 2 partitions of 3 segments each, 60 records.
fn three_segments_each() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let mut config = TopicConfig::default();
    config.segment_bytes = 1500;
    for p in log.create_topic("t", 2, config).unwrap().partitions() {
        for i in 0..30 {
            p.append(&[Record::new(format!("value {i:03} {}", "x".repeat(60)).as_bytes())]).unwrap();
        }
        assert!(p.segments().len() >= 3, "{}", p.segments().len());
    }
    log.close().unwrap();
    dir
}

fn segment_logs(partition: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut logs: Vec<_> = std::fs::read_dir(partition)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs
}

fn flip(file: &std::path::Path, position: usize) {
    let mut bytes = std::fs::read(file).unwrap();
    bytes[position] ^= 0xff;
    std::fs::write(file, bytes).unwrap();
}

#[test]
fn verify_lists_every_damaged_batch_not_only_the_first_of_a_partition() {
    let dir = three_segments_each();
    let logs = segment_logs(&dir.path().join("t-0"));
    flip(&logs[0], 100); // in the first batch's records
    flip(&logs[1], 100);
    let out = partlog(dir.path(), &["verify"], None);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    let damage: Vec<&str> = text.lines().filter(|l| l.starts_with("DAMAGE ")).collect();
    assert_eq!(damage.len(), 2, "{text}");
    assert!(damage[0].contains(&*logs[0].to_string_lossy()) && damage[1].contains(&*logs[1].to_string_lossy()));
    // Each line reads on its own: it says what happens to the batch, not what "the dump" does.
    assert!(
        damage
            .iter()
            .all(|l| !l.contains("dump") && l.contains("bytes are skipped, and the batches after it are read")),
        "{text}"
    );
    assert!(text.ends_with("\n") && text.lines().last().unwrap().starts_with("DAMAGED"), "{text}");
}

/// Offsets lost from the end of a cleanly closed log (its last segment cut at a batch
/// boundary): `verify` said OK, before and after the log was opened again. It names them, in
/// text and in JSON.
#[test]
fn verify_names_offsets_lost_from_the_last_segment() {
    let dir = three_segments_each();
    let last = segment_logs(&dir.path().join("t-0")).pop().unwrap();
    let bytes = std::fs::read(&last).unwrap();
    let batch = 12 + u32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize; // one record each
    std::fs::write(&last, &bytes[..bytes.len() - 2 * batch]).unwrap();
    for reopened in [false, true] {
        let out = partlog(dir.path(), &["verify"], None);
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(out.status.code(), Some(1), "reopened {reopened}: {text}");
        assert!(text.lines().any(|l| l.starts_with("DAMAGE") && l.contains("offsets 28..30")), "{text}");
        assert!(text.lines().last().unwrap().starts_with("DAMAGED"), "{text}");
        let json = String::from_utf8(partlog(dir.path(), &["--json", "verify"], None).stdout).unwrap();
        assert!(json.lines().any(|l| l.contains("\"damage\"") && l.contains("offsets 28..30")), "{json}");
        // The owner opens it: the offsets are never handed out again, and stay lost.
        let log = Log::open(dir.path()).unwrap();
        assert_eq!(log.partition("t", 0).unwrap().log_end_offset(), 30);
        log.close().unwrap();
    }
}

#[test]
fn verify_fails_on_what_it_could_not_check() {
    // A partition directory gone: its topic cannot be read at all.
    let dir = three_segments_each();
    std::fs::remove_dir_all(dir.path().join("t-1")).unwrap();
    let out = partlog(dir.path(), &["verify"], None);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("t-1") && text.contains("partition directory missing"), "{text}");
    // Other commands say so too, on standard error.
    let out = partlog(dir.path(), &["topics", "list"], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("partition directory missing"));

    // A segment in the middle gone.
    let dir = three_segments_each();
    std::fs::remove_file(&segment_logs(&dir.path().join("t-1"))[1]).unwrap();
    let out = partlog(dir.path(), &["verify"], None);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(!text.lines().last().unwrap().starts_with("OK"), "{text}");

    // Not a data directory at all.
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::create_dir(elsewhere.path().join("dbus-1")).unwrap();
    let out = partlog(elsewhere.path(), &["verify"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a partlog data directory"));
}

#[test]
fn verify_beside_a_busy_writer_reports_no_damage() {
    // Appends roll small segments all the time; a roll trims the index files a verify may be
    // reading. None of that is damage.
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let mut config = TopicConfig::default();
    config.segment_bytes = 4096;
    config.segment_index_bytes = 4096;
    let p = log.create_topic("t", 1, config).unwrap().partition(0).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                p.append(&[Record::new(&[7u8; 200])]).unwrap();
            }
        })
    };
    for _ in 0..15 {
        let out = partlog(dir.path(), &["verify", "--quiet"], None);
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
}

#[test]
fn describe_shows_the_settings_that_differ_from_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    stdout(&partlog(
        dir.path(),
        &["topics", "create", "t", "-c", "retention.ms=-1", "-c", "segment.bytes=100000"],
        None,
    ));
    let text = stdout(&partlog(dir.path(), &["topics", "describe", "t"], None));
    let first = text.lines().next().unwrap();
    assert_eq!(first, "Topic: t\tPartitionCount: 1\tConfigs: retention.ms=-1,segment.bytes=100000");
    let json = stdout(&partlog(dir.path(), &["--json", "topics", "describe", "t"], None));
    let topic: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(topic["overrides"], serde_json::json!({"retention.ms": "-1", "segment.bytes": "100000"}));
    assert_eq!(topic["config"]["cleanup.policy"], "delete"); // every setting, defaults too
}

#[test]
fn no_command_makes_a_directory_of_other_files_a_data_directory() {
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(elsewhere.path().join("~$report.docx"), "someone's").unwrap();
    std::fs::create_dir(elsewhere.path().join("photos-1")).unwrap();
    for args in [
        &["topics", "create", "t"][..],
        &["produce", "t"],
        &["topics", "delete", "t"],
        &["topics", "alter", "t", "-p", "2"],
        &["consume", "t", "--group", "g"],
    ] {
        let out = partlog(elsewhere.path(), args, Some("x\n"));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("not a partlog data directory"), "{args:?}");
    }
    let mut names: Vec<_> =
        std::fs::read_dir(elsewhere.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["photos-1", "~$report.docx"], "nothing written");
    // An empty directory may become one.
    let empty = tempfile::tempdir().unwrap();
    stdout(&partlog(empty.path(), &["topics", "create", "t"], None));
}

/// `consume T` with no flags printed nothing and ended at once. It waits for new records, as
/// kafka-console-consumer does, and reports its count when stopped (Ctrl-C here).
#[cfg(unix)]
#[test]
fn consume_waits_for_records_and_reports_its_count() {
    use std::io::BufRead;
    let (dir, log) = one_record(b"old");
    let mut child = command(dir.path(), &["consume", "t"]).spawn().unwrap();
    drop(child.stdin.take());
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none(), "still waiting for records");
    log.partition("t", 0).unwrap().append(&[Record::new(b"new")]).unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert_eq!(first, "new\n", "from the end, as kafka-console-consumer");
    let sent = std::process::Command::new("kill").arg("-INT").arg(child.id().to_string()).status().unwrap();
    assert!(sent.success());
    let out = wait_at_most(child, 30);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "Processed a total of 1 messages\n");
}

/// --timeout-ms ends consuming once no record has arrived for that long (0: what is there now),
/// and --max-messages after that many; each reports its count, with or without a group.
#[test]
fn consume_stops_at_timeout_or_max_messages_with_its_count() {
    let (dir, log) = one_record(b"a");
    log.partition("t", 0).unwrap().append(&[Record::new(b"b")]).unwrap();
    let started = std::time::Instant::now();
    let out = partlog(dir.path(), &["consume", "t", "--from-beginning", "--timeout-ms", "400"], None);
    assert!(started.elapsed() >= std::time::Duration::from_millis(400));
    assert_eq!(stdout(&out), "a\nb\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "Processed a total of 2 messages\n");
    let out = partlog(dir.path(), &["consume", "t", "--from-beginning", "--max-messages", "1"], None);
    assert_eq!(
        (stdout(&out).as_str(), &*String::from_utf8_lossy(&out.stderr)),
        ("a\n", "Processed a total of 1 messages\n")
    );
    let out = partlog(dir.path(), &["consume", "t", "--timeout-ms", "0"], None);
    assert_eq!(
        (stdout(&out).as_str(), &*String::from_utf8_lossy(&out.stderr)),
        ("", "Processed a total of 0 messages\n")
    );

    log.close().unwrap();
    let out = partlog(dir.path(), &["consume", "t", "--group", "g", "--from-beginning", "--timeout-ms", "300"], None);
    assert_eq!(
        (stdout(&out).as_str(), &*String::from_utf8_lossy(&out.stderr)),
        ("a\nb\n", "Processed a total of 2 messages\n")
    );
    // An error before consuming began reports no count.
    let out = partlog(dir.path(), &["consume", "nosuch", "--timeout-ms", "0"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("Processed"));
}

/// --offset takes `earliest` and `latest` as well as a number, as kafka-console-consumer's does.
#[test]
fn consume_offset_earliest_and_latest() {
    let (dir, log) = one_record(b"a");
    log.partition("t", 0).unwrap().append(&[Record::new(b"b")]).unwrap();
    let consume = |offset: &str| {
        stdout(&partlog(dir.path(), &["consume", "t", "-p", "0", "--offset", offset, "--timeout-ms", "0"], None))
    };
    assert_eq!(consume("earliest"), "a\nb\n");
    assert_eq!(consume("EARLIEST"), "a\nb\n");
    assert_eq!(consume("1"), "b\n");
    assert_eq!(consume("latest"), "");
    let bad = partlog(dir.path(), &["consume", "t", "-p", "0", "--offset=-1"], None);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected 'earliest', 'latest' or a non-negative number"));
}
