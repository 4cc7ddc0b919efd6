//! Topics as a directory holds them: creation is all or nothing, the partition count is
//! persisted, handles to a deleted topic read nothing, checkpoint entries are hints.

mod common;

use partlog::{Error, Log, Record, TopicConfig};

use common::{options, read_all};

/// Regression: a `create_topic` that failed at partition 3 of 5 left partitions 0..3 behind,
/// and the reopened log showed a topic that could not be created again.
#[test]
fn a_topic_creation_that_fails_midway_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open_with(dir.path(), options()).unwrap();
    let obstacle = dir.path().join("t-3");
    std::fs::write(&obstacle, b"not a directory").unwrap(); // partition 3 cannot be created
    assert!(matches!(log.create_topic("t", 5, TopicConfig::default()), Err(Error::Io { .. })));
    assert!(log.topic("t").is_err());
    for id in [0, 1, 2, 4] {
        assert!(!dir.path().join(format!("t-{id}")).exists(), "t-{id} was removed");
    }
    assert_eq!(std::fs::read(&obstacle).unwrap(), b"not a directory", "what it did not create is left alone");
    log.close().unwrap();

    let log = Log::open_with(dir.path(), options()).unwrap();
    assert!(log.topic_names().is_empty(), "{:?}", log.topic_names());
    std::fs::remove_file(&obstacle).unwrap();
    let p = log.create_topic("t", 5, TopicConfig::default()).unwrap().partition(3).unwrap();
    p.append(&[Record::new(b"at last")]).unwrap();
}

/// Regression: the partition count came from directory names, so a stray `events-5` made a
/// one-partition topic reopen with six partitions, changing which partition every key maps to.
#[test]
fn the_partition_count_is_persisted_and_a_stray_directory_is_reported_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open_with(dir.path(), options()).unwrap();
    let topic = log.create_topic("events", 1, TopicConfig::default()).unwrap();
    let before = topic.partition_for_key(b"k").id();
    topic.partition(0).unwrap().append(&[Record::new(b"v")]).unwrap();
    log.close().unwrap();
    let stray = dir.path().join("events-5");
    std::fs::create_dir(&stray).unwrap();
    std::fs::write(stray.join("notes.txt"), b"someone else's").unwrap();

    let log = Log::open_with(dir.path(), options()).unwrap();
    let topic = log.topic("events").unwrap();
    assert_eq!(topic.partition_count(), 1);
    assert_eq!(topic.partition_for_key(b"k").id(), before);
    let report = log.recovery_report();
    assert!(report.iter().any(|e| e.segment == stray && e.reason.contains("left as it is")), "{report:?}");
    assert_eq!(std::fs::read(stray.join("notes.txt")).unwrap(), b"someone else's");
    assert_eq!(std::fs::read_dir(&stray).unwrap().count(), 1, "nothing created in it");
}

/// Regression: handles to a deleted topic's partitions still read its old data, even after a
/// topic of the same name was created again; they fail with `Error::Closed`, as documented.
#[test]
fn handles_to_a_deleted_topic_read_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open_with(dir.path(), options()).unwrap();
    let old = log.create_topic("t", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    old.append(&[Record::new(b"old")]).unwrap();
    log.delete_topic("t").unwrap();
    assert!(matches!(old.read(0, 1 << 20), Err(Error::Closed { .. })));
    assert!(matches!(old.offset_for_timestamp(0), Err(Error::Closed { .. })));
    let new = log.create_topic("t", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    new.append(&[Record::new(b"new")]).unwrap();
    assert!(matches!(old.read(0, 1 << 20), Err(Error::Closed { .. })));
    let mut raw = Vec::new();
    assert!(matches!(old.read_raw(0, 1 << 20, &mut raw), Err(Error::Closed { .. })));
    assert_eq!(read_all(&new)[0].value.as_deref(), Some(&b"new"[..]));
}

/// Regression: a log-start-offset checkpoint entry past the log end set the log start to the
/// end, and the next retention pass deleted every segment. An impossible entry is reported and
/// ignored.
#[test]
fn an_impossible_log_start_offset_checkpoint_is_reported_and_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open_with(dir.path(), options()).unwrap();
    let p = log.create_topic("t", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    for i in 0..3u8 {
        p.append(&[Record::new(&[i])]).unwrap();
        p.roll().unwrap();
    }
    log.close().unwrap();
    std::fs::write(dir.path().join("log-start-offset-checkpoint"), "0\n1\nt 0 1000\n").unwrap();

    let log = Log::open_with(dir.path(), options()).unwrap();
    let p = log.partition("t", 0).unwrap();
    assert_eq!(p.log_start_offset(), 0);
    let report = log.recovery_report();
    assert!(report.iter().any(|e| e.reason.contains("past the log end")), "{report:?}");
    assert_eq!(log.enforce_retention().unwrap(), []);
    assert_eq!(read_all(&p).len(), 3);
}

/// A directory is a valid Kafka `log.dir`: nothing but partitions below it. Regression: topic
/// configs and partition counts were kept in `topic-configs/` and `topic-partitions/`, which a
/// broker refuses (`parseTopicPartitionName` throws on them). Directories in that layout are
/// moved at open, including one a crash left half moved.
#[test]
fn metadata_lives_in_top_level_files_and_the_old_layout_is_moved() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = TopicConfig::default();
    config.segment_bytes = 4096;
    {
        let log = Log::open_with(dir.path(), options()).unwrap();
        for name in ["orders", "events.v2"] {
            let t = log.create_topic(name, 2, config.clone()).unwrap();
            t.partition(1).unwrap().append(&[Record::new(name.as_bytes())]).unwrap();
        }
        log.close().unwrap();
    }
    let subdirs: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    for name in &subdirs {
        let (topic, n) = name.rsplit_once('-').unwrap();
        assert!(["orders", "events.v2"].contains(&topic) && n.parse::<u32>().is_ok(), "{name} is not a partition");
    }
    assert_eq!(subdirs.len(), 4);
    assert_eq!(std::fs::read_to_string(dir.path().join("orders.part")).unwrap(), "2\nnever-compacted\n");
    assert!(std::fs::read_to_string(dir.path().join("orders.conf")).unwrap().contains("segment.bytes=4096\n"));

    // Back to the old layout, "orders" fully and "events.v2" half (a crash during the move),
    // with a temporary file an interrupted write left.
    for (sub, suffix) in [("topic-configs", ".conf"), ("topic-partitions", ".part")] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
        std::fs::rename(dir.path().join(format!("orders{suffix}")), dir.path().join(sub).join("orders")).unwrap();
    }
    std::fs::rename(dir.path().join("events.v2.conf"), dir.path().join("topic-configs/events.v2")).unwrap();
    std::fs::write(dir.path().join("topic-configs/~orders"), "segment.bytes=banana\n").unwrap();
    {
        let log = Log::open_with(dir.path(), options()).unwrap();
        for name in ["orders", "events.v2"] {
            let t = log.topic(name).unwrap();
            assert_eq!(t.partitions().len(), 2);
            assert_eq!(t.config().segment_bytes, 4096, "{name}: its config, not the default");
            assert_eq!(read_all(&t.partition(1).unwrap())[0].value.as_deref(), Some(name.as_bytes()));
        }
        log.close().unwrap();
    }
    for sub in ["topic-configs", "topic-partitions"] {
        assert!(!dir.path().join(sub).exists(), "{sub} removed");
    }
    assert!(dir.path().join("orders.conf").is_file() && dir.path().join("events.v2.part").is_file());

    // Anything else in an old directory is reported and left alone.
    std::fs::create_dir(dir.path().join("topic-configs")).unwrap();
    std::fs::write(dir.path().join("topic-configs/orders"), "segment.bytes=4096\n").unwrap();
    match Log::open_with(dir.path(), options()) {
        Err(Error::BadFile { path, reason }) => {
            assert!(path.ends_with("topic-configs/orders") && reason.contains("exists too"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(dir.path().join("topic-configs/orders").exists() && dir.path().join("orders.conf").exists());
}

/// Regression: a broker's clean-shutdown marker (`{"version":0,"brokerEpoch":N}`, which KIP-966
/// uses at its next registration) was rewritten with epoch 0 when partlog opened and closed its
/// log.dir. The epoch is written back if nothing changed, and -1 (Kafka's "unknown") otherwise:
/// a broker must not take changed logs for the ones it left.
#[test]
fn a_brokers_clean_shutdown_epoch_survives_only_an_unchanged_open_and_close() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open_with(dir.path(), options()).unwrap();
    log.create_topic("t", 1, TopicConfig::default()).unwrap();
    log.close().unwrap();
    let marker = dir.path().join(".kafka_cleanshutdown");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), r#"{"version":0,"brokerEpoch":-1}"#);
    std::fs::write(&marker, r#"{"version":0,"brokerEpoch":11}"#).unwrap();
    let log = Log::open_with(dir.path(), options()).unwrap();
    assert!(!marker.exists(), "deleted while open: a crash now counts as unclean");
    assert!(log.partition("t", 0).unwrap().read(0, 100).unwrap().is_empty());
    log.close().unwrap();
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), r#"{"version":0,"brokerEpoch":11}"#);

    let log = Log::open_with(dir.path(), options()).unwrap();
    log.partition("t", 0).unwrap().append(&[Record::new(b"changed")]).unwrap();
    log.close().unwrap();
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), r#"{"version":0,"brokerEpoch":-1}"#);
}

/// A topic found without a config (a partition directory copied from a broker, whose configs
/// live in the cluster's metadata) keeps all its data: regression, it took the default config
/// and its 7-day retention deleted a broker's older segments.
#[test]
fn a_topic_found_without_a_config_keeps_everything() {
    let source = tempfile::tempdir().unwrap();
    {
        let log = Log::open_with(source.path(), options()).unwrap();
        let mut config = TopicConfig::default();
        config.retention_ms = -1;
        config.segment_bytes = 1024;
        let p = log.create_topic("old", 1, config).unwrap().partition(0).unwrap();
        for i in 0..50 {
            p.append(&[Record::new(format!("record {i} {}", "x".repeat(100)).as_bytes()).with_timestamp(1_000 + i)])
                .unwrap();
        }
        log.close().unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("old-0");
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(source.path().join("old-0")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    let log = Log::open_with(dir.path(), options()).unwrap();
    let p = log.partition("old", 0).unwrap();
    assert_eq!((p.config().retention_ms, p.config().retention_bytes), (-1, -1));
    assert!(p.segments().len() > 3);
    assert!(log.enforce_retention().unwrap().is_empty(), "records from 1970 are kept");
    assert_eq!(p.read(0, usize::MAX).unwrap().len(), 50);
    assert!(std::fs::read_to_string(dir.path().join("old.conf")).unwrap().contains("retention.ms=-1\n"));
}

/// Checkpoint entries of partitions partlog does not open (a broker's `-future` logs, for
/// example) are written back as they were; regression: partlog rewrote the checkpoints with its
/// own partitions only. Creating a topic of that name drops them.
#[test]
fn checkpoint_entries_of_partitions_partlog_does_not_open_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    Log::open_with(dir.path(), options()).unwrap().create_topic("mine", 1, TopicConfig::default()).unwrap();
    for file in ["recovery-point-offset-checkpoint", "log-start-offset-checkpoint", "cleaner-offset-checkpoint"] {
        std::fs::write(dir.path().join(file), "0\n2\nmine 0 0\nbrokers 3 42\n").unwrap();
    }
    let entry = |file: &str| std::fs::read_to_string(dir.path().join(file)).unwrap().contains("brokers 3 42\n");
    let log = Log::open_with(dir.path(), options()).unwrap();
    log.partition("mine", 0).unwrap().append(&[Record::new(b"v")]).unwrap();
    log.flush().unwrap();
    log.close().unwrap();
    for file in ["recovery-point-offset-checkpoint", "log-start-offset-checkpoint", "cleaner-offset-checkpoint"] {
        assert!(entry(file), "{file}: {}", std::fs::read_to_string(dir.path().join(file)).unwrap());
    }
    let log = Log::open_with(dir.path(), options()).unwrap();
    log.create_topic("brokers", 4, TopicConfig::default()).unwrap();
    log.close().unwrap();
    assert!(!entry("recovery-point-offset-checkpoint"), "the topic's own entries now");
}

/// Someone else's `*.conf` beside the partitions (no partition count, no partition directory)
/// is not a topic: left alone, and no `foo-0` is made for it.
#[test]
fn a_config_file_alone_is_not_a_topic() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("jaas.conf"), "KafkaServer { };\n").unwrap();
    std::fs::write(dir.path().join("empty.conf"), "").unwrap();
    let log = Log::open_with(dir.path(), options()).unwrap();
    assert!(log.topic_names().is_empty());
    log.close().unwrap();
    assert!(!dir.path().join("empty-0").exists() && !dir.path().join("jaas-0").exists());
    assert_eq!(std::fs::read_to_string(dir.path().join("jaas.conf")).unwrap(), "KafkaServer { };\n");
}

/// A broker marks a deleted topic's partitions `<topic>-<n>.<32 hex digits>-delete` and removes
/// them itself; partlog removed every `…-delete` directory at open, including those. It now
/// removes only its own (an interrupted `delete_topic`) and leaves a broker's alone.
#[test]
fn only_partlogs_own_deletion_directories_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let brokers = dir.path().join("old-0.0123456789abcdef0123456789abcdef-delete");
    std::fs::create_dir(&brokers).unwrap();
    std::fs::write(brokers.join("00000000000000000000.log"), b"").unwrap();
    {
        let log = Log::open_with(dir.path(), options()).unwrap();
        log.create_topic("gone", 2, TopicConfig::default()).unwrap();
        log.close().unwrap();
    }
    // An interrupted delete_topic: renamed as delete_topic renames, not yet removed.
    let ours = dir.path().join("gone-0.p18b2f3a4c5d6e7f01-delete");
    std::fs::rename(dir.path().join("gone-0"), &ours).unwrap();
    let earlier_build = dir.path().join("gone-1.18b2f3a4c5d6e7f01-delete");
    std::fs::rename(dir.path().join("gone-1"), &earlier_build).unwrap();
    std::fs::remove_file(dir.path().join("gone.conf")).unwrap();
    std::fs::remove_file(dir.path().join("gone.part")).unwrap();
    let log = Log::open_with(dir.path(), options()).unwrap();
    assert!(!ours.exists() && !earlier_build.exists(), "partlog's deletions are finished");
    assert!(brokers.join("00000000000000000000.log").exists(), "a broker's is left alone");
    assert!(log.topic_names().is_empty());
}

/// `alter_topic_config`: each setting takes effect where Kafka's does, and survives a reopen.
#[test]
fn altered_settings_take_effect_on_the_open_log() {
    use partlog::{BatchHeader, Compression};
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let p = log.create_topic("t", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    p.append(&[Record::new(&[b'a'; 300])]).unwrap();

    let config = (p.config().as_ref().clone())
        .set("compression.type", "lz4")
        .unwrap()
        .set("max.message.bytes", "1000")
        .unwrap()
        .set("segment.bytes", "1200") // smaller: the active segment rolls at the next append
        .unwrap();
    let altered = log.alter_topic_config("t", config).unwrap();
    assert_eq!(altered.config().segment_bytes, 1200);
    assert_eq!(log.topic("t").unwrap().config().segment_bytes, 1200);

    // The next append: compressed, size-checked, and in a new segment once the old is past 1200 bytes.
    let info = p.append(&[Record::new(&[b'b'; 300])]).unwrap();
    let mut raw = Vec::new();
    p.read_raw(info.first_offset, 1 << 20, &mut raw).unwrap();
    let header = BatchHeader::parse(&raw).unwrap();
    assert_eq!(header.base_offset as u64, info.first_offset);
    assert_eq!(header.compression(), Some(Compression::Lz4));
    // Incompressible: lz4 leaves it at its size.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let big: Vec<u8> = (0..2000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    assert!(matches!(p.append(&[Record::new(&big)]), Err(Error::BatchTooLarge { setting: "max.message.bytes", .. })));
    for i in 0..4 {
        p.append(&[Record::new(&big[i * 300..(i + 1) * 300])]).unwrap();
    }
    assert!(p.segments().len() > 1, "rolled at the smaller segment.bytes");

    // Retention: at the next pass.
    let config = p.config().as_ref().clone().set("retention.bytes", "1").unwrap();
    log.alter_topic_config("t", config).unwrap();
    let outcome = log.enforce_retention().unwrap();
    assert!(!outcome.is_empty() && p.log_start_offset() > 0, "{outcome:?}");

    // Adding compaction to a topic created without it: refused until the next open, then on.
    let config =
        p.config().as_ref().clone().set("cleanup.policy", "compact").unwrap().set("retention.bytes", "-1").unwrap();
    log.alter_topic_config("t", config).unwrap();
    let e = p.compact().unwrap_err();
    assert!(matches!(e, Error::NotCompacted { .. }) && e.to_string().contains("next open"), "{e}");
    assert!(log.compact().unwrap().is_empty(), "the log's pass skips it");
    log.close().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let p = log.partition("t", 0).unwrap();
    assert_eq!(p.config().cleanup_policy.to_string(), "compact");
    assert_eq!(p.config().segment_bytes, 1200);
    p.compact().unwrap(); // no longer refused
    p.verify().unwrap();
    assert!(matches!(log.alter_topic_config("nope", TopicConfig::default()), Err(Error::UnknownTopic { .. })));
    let mut bad = TopicConfig::default();
    bad.segment_bytes = 0;
    assert!(matches!(log.alter_topic_config("t", bad), Err(Error::InvalidConfig { .. })));
    assert_eq!(p.config().segment_bytes, 1200, "a refused config changes nothing");
}

/// Partitions added to a compacted topic can have gaps; to a never-compacted one, not.
#[test]
fn added_partitions_survive_a_reopen_and_keep_the_topics_offset_rule() {
    use partlog::CleanupPolicy;
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let mut compacted = TopicConfig::default();
    compacted.cleanup_policy = CleanupPolicy::Compact;
    log.create_topic("c", 1, compacted).unwrap();
    log.create_topic("d", 1, TopicConfig::default()).unwrap();
    for name in ["c", "d"] {
        let t = log.add_partitions(name, 3).unwrap();
        t.partition(2).unwrap().append(&[Record::new(b"v").with_key(b"k")]).unwrap();
    }
    log.close().unwrap();
    let log = Log::open(dir.path()).unwrap();
    for name in ["c", "d"] {
        assert_eq!(log.topic(name).unwrap().partition_count(), 3);
        assert_eq!(log.partition(name, 2).unwrap().log_end_offset(), 1);
    }
    assert!(log.recovery_report().is_empty(), "{:?}", log.recovery_report());
}

/// A directory past the partition count that holds files is someone's data: `add_partitions`
/// refuses, leaves it and the topic as they are; an empty one is taken; `__consumer_offsets`
/// never grows; only more partitions are accepted.
#[test]
fn adding_partitions_never_adopts_a_stray_directory_with_files() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    log.create_topic("t", 2, TopicConfig::default()).unwrap();
    let stray = dir.path().join("t-3");
    std::fs::create_dir(&stray).unwrap();
    std::fs::write(stray.join("00000000000000000000.log"), b"someone's bytes").unwrap();
    match log.add_partitions("t", 4) {
        Err(Error::BadFile { path, reason }) => {
            assert_eq!(path, stray);
            assert!(reason.contains("holds files"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(stray.join("00000000000000000000.log")).unwrap(), b"someone's bytes");
    assert_eq!(log.topic("t").unwrap().partition_count(), 2);
    assert!(!dir.path().join("t-2").exists(), "nothing was made for the refused call");
    // Only more, and not the groups' offsets topic.
    assert!(matches!(log.add_partitions("t", 2), Err(Error::InvalidConfig { .. })));
    // Empty: taken as the new partition.
    std::fs::remove_file(stray.join("00000000000000000000.log")).unwrap();
    let t = log.add_partitions("t", 4).unwrap();
    assert_eq!(t.partition(3).unwrap().append(&[Record::new(b"v")]).unwrap().first_offset, 0);
    log.close().unwrap();
    let log = Log::open(dir.path()).unwrap();
    assert_eq!(log.topic("t").unwrap().partition_count(), 4);
    assert_eq!(log.partition("t", 3).unwrap().log_end_offset(), 1);
}

/// A topic grown past the parallel-open threshold in one call: every new partition works and
/// survives a reopen (partitions are opened by several threads from 16 on).
#[test]
fn many_partitions_added_at_once_open_in_parallel_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    log.create_topic("t", 1, TopicConfig::default()).unwrap();
    let t = log.add_partitions("t", 40).unwrap();
    for i in 0..40 {
        t.partition(i).unwrap().append(&[Record::new(format!("{i}").as_bytes())]).unwrap();
    }
    log.close().unwrap();
    let log = Log::open(dir.path()).unwrap();
    for i in 0..40u32 {
        let p = log.partition("t", i).unwrap();
        let records = read_all(&p);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].value.as_deref(), Some(format!("{i}").as_bytes()));
    }
}

#[test]
fn opening_removes_only_partlogs_own_unfinished_temporaries() {
    let dir = tempfile::tempdir().unwrap();
    Log::open(dir.path()).unwrap().close().unwrap();
    let theirs = ["~$report.docx", "~notes", "~orders.conf.bak"];
    let ours = ["~orders.conf", "~orders.part", "~recovery-point-offset-checkpoint", "~.kafka_cleanshutdown"];
    for name in theirs.iter().chain(&ours) {
        std::fs::write(dir.path().join(name), "half written").unwrap();
    }
    Log::open(dir.path()).unwrap().close().unwrap();
    for name in theirs {
        assert!(dir.path().join(name).exists(), "{name} is not partlog's: left alone");
    }
    for name in ours {
        assert!(!dir.path().join(name).exists(), "{name}: an unfinished write of partlog's, removed");
    }
}
