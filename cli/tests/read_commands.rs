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

    let out = stdout(&partlog(dir.path(), &["consume", "appended", "--from-beginning", "--print-timestamp"], None));
    assert!(out.starts_with("LogAppendTime:") && out.ends_with("\tv\n"), "{out}");
    let out = stdout(&partlog(dir.path(), &["consume", "created", "--from-beginning", "--print-timestamp"], None));
    assert_eq!(out, "CreateTime:1700000000000\tw\n");
    let json = stdout(&partlog(dir.path(), &["--json", "consume", "appended", "--from-beginning"], None));
    let record: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(record["timestamp_type"], "LogAppendTime");
    // In a group too (the application has closed the directory).
    log.close().unwrap();
    let out = stdout(&partlog(
        dir.path(),
        &["consume", "appended", "--group", "g", "--from-beginning", "--print-timestamp"],
        None,
    ));
    assert!(out.starts_with("LogAppendTime:"), "{out}");
}

#[test]
fn following_a_topic_reads_partitions_added_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    log.create_topic("t", 1, TopicConfig::default())
        .unwrap()
        .partition(0)
        .unwrap()
        .append(&[Record::new(b"first")])
        .unwrap();
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
