//! `groups reset-offsets` and `groups delete`, end to end (kafka-consumer-groups --reset-offsets
//! and --delete).

mod common;

use std::path::Path;
use std::time::Duration;

use common::{partlog, stdout};
use partlog::{Admin, Consumer, ConsumerConfig, Log, OffsetAndMetadata, Record, TopicConfig, TopicPartition};

/// Topic `t` of 2 partitions, partition 0 holding 3 records stamped 1, 2 and 3 s after the
/// epoch; group `g` committed at 3 (t-0) and 0 (t-1). Closed.
fn committed_group() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let p = log.create_topic("t", 2, TopicConfig::default()).unwrap().partition(0).unwrap();
    for ts in [1_000, 2_000, 3_000] {
        p.append(&[Record::new(b"v").with_timestamp(ts)]).unwrap();
    }
    let offsets = [
        (TopicPartition::new("t", 0), OffsetAndMetadata::new(3)),
        (TopicPartition::new("t", 1), OffsetAndMetadata::new(0)),
    ];
    Admin::new(&log).alter_group_offsets("g", &offsets).unwrap();
    log.close().unwrap();
    dir
}

/// The committed offsets of `group`, by partition of `t`.
fn committed(dir: &Path, group: &str) -> Vec<(u32, u64)> {
    let log = Log::open_read_only(dir).unwrap();
    Admin::new(&log).list_group_offsets(group).unwrap().into_iter().map(|(tp, o)| (tp.partition, o.offset)).collect()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn reset_offsets_plans_by_default_and_resets_with_execute() {
    let dir = committed_group();
    let d = dir.path();
    // A dry run by default: the plan, as kafka-consumer-groups prints it, and nothing changed.
    let o = partlog(d, &["groups", "reset-offsets", "g", "--to-earliest", "--topic", "t"], None);
    assert_eq!(
        stdout(&o),
        "GROUP           TOPIC           PARTITION  NEW-OFFSET\n\
         g               t               0          0\n\
         g               t               1          0\n"
    );
    assert!(stderr(&o).contains("Dry run: nothing changed"), "{}", stderr(&o));
    let o = partlog(d, &["groups", "reset-offsets", "g", "--to-earliest", "--topic", "t", "--dry-run"], None);
    assert_eq!(stderr(&o), "", "--dry-run says it is one: no note");
    assert_eq!(committed(d, "g"), [(0, 3), (1, 0)]);

    let reset = |args: &[&str]| {
        let o = partlog(d, &[&["groups", "reset-offsets", "g"][..], args, &["--execute"]].concat(), None);
        (stdout(&o), stderr(&o))
    };
    reset(&["--to-offset", "1", "--topic", "t:0"]);
    assert_eq!(committed(d, "g"), [(0, 1), (1, 0)]);
    // Past the end: moved to the end, with Kafka's warning.
    let (_, warning) = reset(&["--shift-by", "1", "--all-topics"]);
    assert_eq!(committed(d, "g"), [(0, 2), (1, 0)]);
    assert!(warning
        .contains("New offset (1) is higher than latest offset for topic partition t-1. Value will be set to 0."));
    let (_, warning) = reset(&["--shift-by", "-10", "--topic", "t:0"]);
    assert_eq!(committed(d, "g"), [(0, 0), (1, 0)]);
    assert!(warning.contains("New offset (-8) is lower than earliest offset"), "{warning}");
    reset(&["--to-datetime", "1970-01-01T00:00:02.000", "--topic", "t:0"]);
    assert_eq!(committed(d, "g"), [(0, 1), (1, 0)]);
    reset(&["--to-latest", "--topic", "t:0"]);
    assert_eq!(committed(d, "g"), [(0, 3), (1, 0)]);
    // A time zone; a time past every record: the end, as Kafka falls back to the latest offset.
    let (plan, _) = reset(&["--to-datetime", "1970-01-01T01:00:02.000+01:00", "--topic", "t:0"]);
    assert!(plan.ends_with("g               t               0          1\n"), "{plan}");
    let (plan, _) = reset(&["--to-datetime", "2100-01-01T00:00:00.000", "--topic", "t:0"]);
    assert!(plan.ends_with(" 3\n"), "{plan}");
    let json = stdout(&partlog(d, &["--json", "groups", "reset-offsets", "g", "--to-current", "--topic", "t:0"], None));
    assert_eq!(json, "{\"group\":\"g\",\"new_offset\":3,\"partition\":0,\"topic\":\"t\"}\n");

    // A group that does not exist yet is made, as Kafka makes it; it has nothing to shift from.
    reset(&["--to-earliest", "--topic", "t"]);
    let o = partlog(d, &["groups", "reset-offsets", "fresh", "--shift-by", "1", "--topic", "t", "--execute"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no current committed offset"), "{}", stderr(&o));
    stdout(&partlog(d, &["groups", "reset-offsets", "fresh", "--to-latest", "--topic", "t", "--execute"], None));
    assert_eq!(committed(d, "fresh"), [(0, 3), (1, 0)]);
}

#[test]
fn reset_offsets_refuses_what_it_cannot_do() {
    let dir = committed_group();
    let d = dir.path();
    for (args, says) in [
        (&["--to-earliest", "--topic", "nosuch"][..], "nosuch"),
        (&["--to-earliest", "--topic", "t:7"], "7"),
        (&["--to-earliest", "--topic", "t:x"], "not a number"),
        (&["--to-earliest"], "--all-topics"),
        (&["--topic", "t"], "--to-earliest"),
        (&["--to-datetime", "yesterday", "--topic", "t"], "expected YYYY-MM-DDTHH:mm:SS.sss"),
        (&["--to-earliest", "--topic", "t", "--dry-run", "--execute"], "cannot be used with"),
    ] {
        let o = partlog(d, &[&["groups", "reset-offsets", "g"][..], args].concat(), None);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
    // The application has the directory open: the group's members are its own.
    let log = Log::open(d).unwrap();
    let o = partlog(d, &["groups", "reset-offsets", "g", "--to-earliest", "--topic", "t", "--execute"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("close it first"), "{}", stderr(&o));
    log.close().unwrap();
    assert_eq!(committed(d, "g"), [(0, 3), (1, 0)]);
}

/// A group with active members is not reset, dry run or not, nor deleted, as in Kafka. Here a
/// static member, which stays in its group past the close, within its session timeout.
#[test]
fn a_group_with_active_members_is_neither_reset_nor_deleted() {
    let dir = committed_group();
    let d = dir.path();
    let log = Log::open(d).unwrap();
    let config = ConsumerConfig::default().set("group.id", "g").unwrap().set("group.instance.id", "worker-1").unwrap();
    let mut consumer = Consumer::new(&log, config).unwrap();
    consumer.subscribe(&["t"]).unwrap();
    consumer.poll(Duration::from_millis(100)).unwrap();
    consumer.close().unwrap();
    log.close().unwrap();
    for mode in ["--dry-run", "--execute"] {
        let o = partlog(d, &["groups", "reset-offsets", "g", "--to-earliest", "--topic", "t", mode], None);
        assert_eq!(o.status.code(), Some(2), "{mode}");
        assert!(
            stderr(&o).contains("Assignments can only be reset if the group 'g' is inactive, but the current state is"),
            "{mode}: {}",
            stderr(&o)
        );
        assert_eq!(String::from_utf8_lossy(&o.stdout), "", "no plan");
    }
    assert_eq!(committed(d, "g"), [(0, 3), (1, 0)]);
    let o = partlog(d, &["groups", "delete", "g"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stdout).contains("* Group 'g' could not be deleted due to:"));
    assert_eq!(committed(d, "g"), [(0, 3), (1, 0)]);
}

#[test]
fn delete_removes_groups_and_their_offsets() {
    let dir = committed_group();
    let d = dir.path();
    let log = Log::open(d).unwrap();
    Admin::new(&log).alter_group_offsets("other", &[(TopicPartition::new("t", 0), OffsetAndMetadata::new(1))]).unwrap();
    log.close().unwrap();
    let out = stdout(&partlog(d, &["groups", "delete", "g", "other"], None));
    assert_eq!(out, "Deletion of requested consumer groups ('g', 'other') was successful.\n");
    assert_eq!(stdout(&partlog(d, &["groups", "list"], None)), "");
    let o = partlog(d, &["groups", "delete", "g"], None);
    assert_eq!(o.status.code(), Some(2), "deleted already");

    // Without any group ever: no offsets topic is made by asking.
    let empty = tempfile::tempdir().unwrap();
    Log::open(empty.path()).unwrap().create_topic("t", 1, TopicConfig::default()).unwrap();
    let o = partlog(empty.path(), &["--json", "groups", "delete", "nosuch"], None);
    assert_eq!(o.status.code(), Some(2));
    let line: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
    assert_eq!((&line["group"], &line["deleted"]), (&serde_json::json!("nosuch"), &serde_json::json!(false)));
    let o = partlog(empty.path(), &["groups", "reset-offsets", "nosuch", "--to-earliest", "--topic", "t"], None);
    assert!(stdout(&o).ends_with(&format!("{:15} {:15} {:<10} 0\n", "nosuch", "t", 0)), "{}", stdout(&o));
    assert!(!empty.path().join("__consumer_offsets-0").exists());
}

/// `dump --offsets-decoder` prints each record of `__consumer_offsets` decoded, as Kafka's
/// kafka-dump-log does: offset commits, group metadata (with members' assignments), and
/// tombstones as `<DELETE>`; a record that is not one says so in place of its key.
#[test]
fn dump_offsets_decoder_shows_commits_group_metadata_and_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let log = Log::open(d).unwrap();
    log.create_topic("t", 1, TopicConfig::default())
        .unwrap()
        .partition(0)
        .unwrap()
        .append(&[Record::new(b"v")])
        .unwrap();
    let config = ConsumerConfig::default()
        .set("group.id", "g")
        .unwrap()
        .set("client.id", "c1")
        .unwrap()
        .set("auto.offset.reset", "earliest")
        .unwrap();
    let mut consumer = Consumer::new(&log, config).unwrap();
    consumer.subscribe(&["t"]).unwrap();
    assert_eq!(consumer.poll(Duration::from_millis(500)).unwrap().len(), 1);
    consumer.commit_sync().unwrap();
    consumer.close().unwrap();
    let admin = Admin::new(&log);
    admin.alter_group_offsets("other", &[(TopicPartition::new("t", 0), OffsetAndMetadata::new(1))]).unwrap();
    admin.delete_group("other").unwrap();
    log.close().unwrap();

    let mut partitions: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("__consumer_offsets-"))
        .map(|p| p.display().to_string())
        .collect();
    partitions.sort();
    let args: Vec<&str> =
        ["dump", "--offsets-decoder"].into_iter().chain(partitions.iter().map(String::as_str)).collect();
    let text = stdout(&partlog(d, &args, None));
    for want in [
        r#"key: {"type":"1","data":{"group":"g","topic":"t","partition":0}} payload: {"version":"3","data":{"offset":1,"leaderEpoch":-1,"metadata":"","commitTimestamp":"#,
        r#"key: {"type":"2","data":{"group":"g"}} payload: {"version":"3","data":{"protocolType":"consumer","generation":1,"protocol":"range","leader":"#,
        r#""clientId":"c1","clientHost":"#,
        r#""assignment":{"assignedPartitions":[{"topic":"t","partitions":[0]}]}"#,
        r#"key: {"type":"1","data":{"group":"other","topic":"t","partition":0}} payload: {"version":"3","data":{"offset":1,"#,
        r#"key: {"type":"1","data":{"group":"other","topic":"t","partition":0}} payload: <DELETE>"#,
        r#"key: {"type":"2","data":{"group":"other"}} payload: <DELETE>"#,
    ] {
        assert!(text.contains(want), "{want}\nnot in\n{text}");
    }
    let json = stdout(&partlog(d, &[&["--json"][..], &args].concat(), None));
    let records: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("key").is_some())
        .collect();
    let commit = records.iter().find(|r| r["key"]["type"] == "1" && r["key"]["data"]["group"] == "g").unwrap();
    assert_eq!(commit["payload"]["data"]["offset"], 1, "{commit}");
    let tombstone = records.iter().find(|r| r["key"]["type"] == "2" && r["key"]["data"]["group"] == "other").unwrap();
    assert!(tombstone["payload"].is_null(), "{tombstone}");

    // Records of another topic are not coordinator records: said in place of the key.
    let other = stdout(&partlog(d, &["dump", "--offsets-decoder", d.join("t-0").to_str().unwrap()], None));
    assert!(
        other.contains("| offset: 0 ")
            && other.contains("key: Failed to decode message at offset 0 (message had a missing key)"),
        "{other}"
    );
}
