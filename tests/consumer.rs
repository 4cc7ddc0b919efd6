//! The consumer without groups' rebalancing: polling many partitions on one wake-up, positions,
//! resets, seeks, pause, commits that survive a close and a crash, wakeup, and the bytes of
//! `__consumer_offsets`.

use std::time::{Duration, Instant};

use partlog::{
    CommitMode, Consumer, ConsumerConfig, Error, Log, OffsetAndMetadata, Record, TopicConfig, TopicPartition,
};

fn tp(topic: &str, partition: u32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

fn config(pairs: &[(&str, &str)]) -> ConsumerConfig {
    let mut c = ConsumerConfig::default();
    for (k, v) in pairs {
        c = c.set(k, v).unwrap();
    }
    c
}

fn values(records: &[partlog::ConsumerRecord]) -> Vec<String> {
    records.iter().map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap()).collect()
}

#[test]
fn poll_reads_every_assigned_partition_and_wakes_on_an_append_to_any() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let topic = log.create_topic("t", 4, TopicConfig::default()).unwrap();
    let mut c = Consumer::new(&log, config(&[("auto.offset.reset", "earliest")])).unwrap();
    let all: Vec<_> = (0..4).map(|p| tp("t", p)).collect();
    c.assign(&all).unwrap();
    assert!(c.poll(Duration::from_millis(20)).unwrap().is_empty());

    // Each partition in turn wakes the blocked poll.
    for p in 0..4u32 {
        let writer = topic.partition(p).unwrap();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            writer.append(&[Record::new(format!("v{p}").as_bytes())]).unwrap();
        });
        let start = Instant::now();
        let got = c.poll(Duration::from_secs(10)).unwrap();
        assert!(start.elapsed() < Duration::from_secs(5), "woken by the append, not the timeout");
        assert_eq!(values(&got), [format!("v{p}")]);
        assert_eq!((got[0].partition, got[0].offset), (p, 0));
        t.join().unwrap();
        assert_eq!(c.position(&tp("t", p)).unwrap(), 1);
    }
}

#[test]
fn max_poll_records_is_shared_fairly_and_no_record_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let topic = log.create_topic("t", 3, TopicConfig::default()).unwrap();
    for p in 0..3u32 {
        let records: Vec<Vec<u8>> = (0..100).map(|i| format!("{p}:{i}").into_bytes()).collect();
        let batch: Vec<Record<'_>> = records.iter().map(|r| Record::new(r)).collect();
        topic.partition(p).unwrap().append(&batch).unwrap();
    }
    let mut c = Consumer::new(&log, config(&[("auto.offset.reset", "earliest"), ("max.poll.records", "7")])).unwrap();
    c.assign(&[tp("t", 0), tp("t", 1), tp("t", 2)]).unwrap();
    let mut first_partitions = Vec::new();
    let mut next = [0u64; 3];
    let mut total = 0;
    while total < 300 {
        let got = c.poll(Duration::from_secs(5)).unwrap();
        assert!(!got.is_empty() && got.len() <= 7);
        first_partitions.push(got[0].partition);
        for r in &got {
            assert_eq!(r.offset, next[r.partition as usize], "dense, in order, per partition");
            next[r.partition as usize] += 1;
        }
        total += got.len();
    }
    assert_eq!(next, [100, 100, 100]);
    // A fetch's records are handed out before the next fetch (Kafka's fetch buffer), and
    // fetches start at each partition in turn.
    first_partitions.dedup();
    assert_eq!(&first_partitions[..3], &[0, 1, 2]);
}

#[test]
fn auto_offset_reset_applies_when_kafka_applies_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let p = log.create_topic("t", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    p.append(&[Record::new(b"a"), Record::new(b"b"), Record::new(b"c")]).unwrap();

    let mut latest = Consumer::new(&log, ConsumerConfig::default()).unwrap();
    latest.assign(&[tp("t", 0)]).unwrap();
    assert_eq!(latest.position(&tp("t", 0)).unwrap(), 3);
    assert!(latest.poll(Duration::from_millis(10)).unwrap().is_empty());

    let mut none = Consumer::new(&log, config(&[("auto.offset.reset", "none")])).unwrap();
    none.assign(&[tp("t", 0)]).unwrap();
    assert!(matches!(none.poll(Duration::from_millis(10)), Err(Error::NoOffsetForPartition { .. })));
    none.seek(&tp("t", 0), 1).unwrap();
    assert_eq!(values(&none.poll(Duration::from_millis(10)).unwrap()), ["b", "c"]);

    // A position below the log start (retention deleted it) is out of range.
    let mut earliest = Consumer::new(&log, config(&[("auto.offset.reset", "earliest")])).unwrap();
    earliest.assign(&[tp("t", 0)]).unwrap();
    earliest.seek(&tp("t", 0), 0).unwrap();
    p.delete_records(2).unwrap();
    assert_eq!(values(&earliest.poll(Duration::from_millis(10)).unwrap()), ["c"]);
    none.seek(&tp("t", 0), 0).unwrap();
    assert!(matches!(none.poll(Duration::from_millis(10)), Err(Error::OffsetOutOfRange { .. })));
    // Past the end (after a truncation) too.
    earliest.seek(&tp("t", 0), 99).unwrap();
    assert_eq!(values(&earliest.poll(Duration::from_millis(10)).unwrap()), ["c"]);
}

#[test]
fn seeks_pause_and_offsets_for_times() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let topic = log.create_topic("t", 2, TopicConfig::default()).unwrap();
    for (i, v) in ["a", "b", "c"].iter().enumerate() {
        topic.partition(0).unwrap().append(&[Record::new(v.as_bytes()).with_timestamp(1000 * (i as i64 + 1))]).unwrap();
        topic.partition(1).unwrap().append(&[Record::new(v.as_bytes())]).unwrap();
    }
    let mut c = Consumer::new(&log, config(&[("auto.offset.reset", "earliest")])).unwrap();
    c.assign(&[tp("t", 0), tp("t", 1)]).unwrap();
    c.pause(&[tp("t", 1)]).unwrap();
    let got = c.poll(Duration::from_millis(10)).unwrap();
    assert!(got.iter().all(|r| r.partition == 0) && got.len() == 3);
    assert!(c.poll(Duration::from_millis(10)).unwrap().is_empty(), "partition 1 is paused");
    assert_eq!(c.paused(), [tp("t", 1)]);
    c.resume(&[tp("t", 1)]).unwrap();
    assert_eq!(c.poll(Duration::from_millis(10)).unwrap().len(), 3);

    c.seek_to_beginning(&[tp("t", 0)]).unwrap();
    assert_eq!(c.position(&tp("t", 0)).unwrap(), 0);
    c.seek_to_end(&[]).unwrap();
    assert_eq!((c.position(&tp("t", 0)).unwrap(), c.position(&tp("t", 1)).unwrap()), (3, 3));
    let found = c.offsets_for_times(&[(tp("t", 0), 1500), (tp("t", 0), 9999)]).unwrap();
    assert_eq!(found[0].map(|f| (f.offset, f.timestamp)), Some((1, 2000)));
    assert!(found[1].is_none());
    assert_eq!(c.beginning_offsets(&[tp("t", 0)]).unwrap(), [0]);
    assert_eq!(c.end_offsets(&[tp("t", 0)]).unwrap(), [3]);

    // Bad input: typed errors, nothing changed.
    assert!(matches!(c.seek(&tp("t", 7), 0), Err(Error::InvalidState { .. })));
    assert!(matches!(c.pause(&[tp("t", 0), tp("nope", 0)]), Err(Error::InvalidState { .. })));
    assert!(c.paused().is_empty(), "a failed pause pauses nothing");
    assert!(matches!(c.assign(&[tp("nope", 0)]), Err(Error::UnknownTopic { .. })));
    assert!(matches!(c.assign(&[tp("t", 2)]), Err(Error::UnknownPartition { .. })));
    assert_eq!(c.assignment(), [tp("t", 0), tp("t", 1)]);
    assert!(matches!(c.seek(&tp("t", 0), u64::MAX), Err(Error::OffsetOverflow(_))));
    assert!(matches!(c.commit_sync(), Err(Error::InvalidState { .. })), "commits need a group.id");
    assert!(matches!(c.subscribe(&["t"]), Err(Error::InvalidState { .. })));
    let mut idle = Consumer::new(&log, ConsumerConfig::default()).unwrap();
    assert!(matches!(idle.poll(Duration::ZERO), Err(Error::InvalidState { .. })));
    assert!(Consumer::new(&log, config(&[("enable.auto.commit", "true")])).is_err());
}

#[test]
fn commits_survive_a_close_and_a_crash_in_kafkas_record_format() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = Log::open(dir.path()).unwrap();
        let p = log.create_topic("t", 2, TopicConfig::default()).unwrap().partition(1).unwrap();
        p.append(&[Record::new(b"a"), Record::new(b"b")]).unwrap();
        let mut c = Consumer::new(
            &log,
            config(&[("group.id", "g1"), ("enable.auto.commit", "false"), ("auto.offset.reset", "earliest")]),
        )
        .unwrap();
        c.assign(&[tp("t", 1)]).unwrap();
        assert_eq!(c.poll(Duration::from_millis(10)).unwrap().len(), 2);
        c.commit_offsets(&[(tp("t", 1), OffsetAndMetadata::new(1).with_metadata("half"))], CommitMode::Sync).unwrap();
        assert_eq!(
            c.committed(&[tp("t", 1), tp("t", 0)]).unwrap(),
            [Some(OffsetAndMetadata::new(1).with_metadata("half")), None]
        );
        // Too much metadata is refused, and changes nothing.
        let long = "x".repeat(4097);
        assert!(matches!(
            c.commit_offsets(&[(tp("t", 1), OffsetAndMetadata::new(2).with_metadata(long))], CommitMode::Sync),
            Err(Error::OffsetMetadataTooLarge { .. })
        ));
        assert!(matches!(
            c.commit_offsets(&[(tp("t", 9), OffsetAndMetadata::new(2))], CommitMode::Sync),
            Err(Error::UnknownPartition { .. })
        ));
        drop(c); // auto-commit is off: nothing more is committed
        log.simulate_crash();
    }
    let log = Log::open(dir.path()).unwrap();
    // The record is where Kafka puts it: partition abs("g1".hashCode()) % 50 = 42, key type 1,
    // value version 3.
    let records = log.partition("__consumer_offsets", 42).unwrap().read(0, 1 << 20).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].key.as_deref().unwrap(), [0, 1, 0, 2, b'g', b'1', 0, 1, b't', 0, 0, 0, 1]);
    let value = records[0].value.as_deref().unwrap();
    assert_eq!(&value[..14], [0, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
    assert_eq!(&value[14..20], [0, 4, b'h', b'a', b'l', b'f']);

    let mut c = Consumer::new(&log, config(&[("group.id", "g1"), ("enable.auto.commit", "false")])).unwrap();
    c.assign(&[tp("t", 1)]).unwrap();
    assert_eq!(c.position(&tp("t", 1)).unwrap(), 1, "resumed from the committed offset");
    assert_eq!(values(&c.poll(Duration::from_millis(10)).unwrap()), ["b"]);
}

#[test]
fn async_commits_report_after_they_are_durable_and_auto_commit_runs_on_close() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let p = log.create_topic("t", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    p.append(&[Record::new(b"a"), Record::new(b"b")]).unwrap();
    let outcomes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    {
        let mut c = Consumer::new(&log, config(&[("group.id", "g"), ("auto.offset.reset", "earliest")])).unwrap();
        c.assign(&[tp("t", 0)]).unwrap();
        assert_eq!(c.poll(Duration::from_millis(10)).unwrap().len(), 2);
        for i in 0..3 {
            let outcomes = outcomes.clone();
            c.commit_async(move |r| outcomes.lock().unwrap().push((i, r.is_ok())));
        }
        assert!(outcomes.lock().unwrap().is_empty(), "callbacks run in a later call");
        c.poll(Duration::ZERO).unwrap();
        assert_eq!(*outcomes.lock().unwrap(), [(0, true), (1, true), (2, true)]);
        c.seek(&tp("t", 0), 1).unwrap();
        c.close().unwrap(); // auto-commit is on: commits position 1
    }
    let admin = partlog::Admin::new(&log);
    assert_eq!(admin.list_group_offsets("g").unwrap(), [(tp("t", 0), OffsetAndMetadata::new(1))]);
}

#[test]
fn wakeup_interrupts_a_blocked_poll() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    log.create_topic("t", 1, TopicConfig::default()).unwrap();
    let mut c = Consumer::new(&log, ConsumerConfig::default()).unwrap();
    c.assign(&[tp("t", 0)]).unwrap();
    let handle = c.wakeup_handle();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        handle.wakeup();
    });
    let start = Instant::now();
    assert!(matches!(c.poll(Duration::from_secs(30)), Err(Error::Wakeup)));
    assert!(start.elapsed() < Duration::from_secs(10));
    t.join().unwrap();
    // Only once.
    assert!(c.poll(Duration::from_millis(1)).unwrap().is_empty());
}

/// CPU time of the calling thread, in clock ticks (Linux).
#[cfg(target_os = "linux")]
fn thread_cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn an_idle_consumer_blocked_in_poll_uses_no_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    log.create_topic("t", 64, TopicConfig::default()).unwrap();
    let mut consumers = Vec::new();
    for _ in 0..4 {
        let mut c = Consumer::new(&log, ConsumerConfig::default()).unwrap();
        c.assign(&(0..64).map(|p| tp("t", p)).collect::<Vec<_>>()).unwrap();
        c.poll(Duration::ZERO).unwrap(); // positions initialised
        consumers.push(c);
    }
    let handles: Vec<_> = consumers.iter().map(|c| c.wakeup_handle()).collect();
    let threads: Vec<_> = consumers
        .into_iter()
        .map(|mut c| {
            std::thread::spawn(move || {
                let before = thread_cpu_ticks();
                let woken = matches!(c.poll(Duration::from_secs(60)), Err(Error::Wakeup));
                (woken, thread_cpu_ticks() - before)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    handles.iter().for_each(|h| h.wakeup());
    for t in threads {
        let (woken, ticks) = t.join().unwrap();
        assert!(woken);
        // 1.5 s blocked on 64 partitions: a polling loop would use ~150 ticks (10 ms each).
        eprintln!("an idle consumer used {ticks} clock ticks in 1.5 s");
        assert!(ticks <= 1, "an idle consumer used {ticks} ticks of 10 ms in 1.5 s");
    }
}

#[test]
fn a_consumer_of_a_closed_log_fails_instead_of_polling_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    log.create_topic("t", 1, TopicConfig::default()).unwrap();
    let mut c = Consumer::new(&log, config(&[("group.id", "g")])).unwrap();
    c.subscribe(&["t"]).unwrap();
    c.poll(Duration::ZERO).unwrap();
    log.close().unwrap();
    assert!(matches!(c.poll(Duration::from_millis(10)), Err(Error::Closed { .. })));
    let err = c.commit_sync().unwrap_err();
    assert!(matches!(&err, Error::Closed { what } if what.starts_with("log ")), "{err}");
    // A Kafka producer's codec setting is refused rather than silently ignored.
    assert!(partlog::ProducerConfig::default().set("compression.type", "lz4").is_err());
    assert!(partlog::ProducerConfig::default().set("compression.type", "none").is_ok());
}

/// Regression: `Consumer::new` reported every refused setting with the value `true`, and the
/// zero-value check under one combined key.
#[test]
fn refused_settings_name_their_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let log = partlog::Log::open(dir.path()).unwrap();
    let mut config = partlog::ConsumerConfig::default();
    config.max_poll_records = 0;
    match partlog::Consumer::new(&log, config) {
        Err(partlog::Error::InvalidConfig { key, value, .. }) => {
            assert_eq!((key.as_str(), value.as_str()), ("max.poll.records", "0"))
        }
        other => panic!("{other:?}"),
    }
    let config = partlog::ConsumerConfig::default().set("group.instance.id", "pos-1").unwrap();
    match partlog::Consumer::new(&log, config) {
        Err(partlog::Error::InvalidConfig { key, value, .. }) => {
            assert_eq!((key.as_str(), value.as_str()), ("group.instance.id", "pos-1"))
        }
        other => panic!("{other:?}"),
    }
}

/// A seek, a pause or a reset drops the records fetched ahead for that partition: nothing
/// stale is handed out afterwards, and the position is always the next record handed out.
#[test]
fn buffered_records_never_outlive_a_seek_pause_or_reset() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let p = log.create_topic("t", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    let values: Vec<Vec<u8>> = (0..100u32).map(|i| i.to_be_bytes().to_vec()).collect();
    p.append(&values.iter().map(|v| Record::new(v)).collect::<Vec<_>>()).unwrap();
    let config =
        ConsumerConfig::default().set("auto.offset.reset", "earliest").unwrap().set("max.poll.records", "10").unwrap();
    let mut consumer = Consumer::new(&log, config).unwrap();
    let tp = TopicPartition::new("t", 0);
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    let offsets = |records: Vec<partlog::ConsumerRecord>| records.iter().map(|r| r.offset).collect::<Vec<_>>();
    assert_eq!(offsets(consumer.poll(Duration::from_secs(1)).unwrap()), (0..10).collect::<Vec<_>>());
    assert_eq!(consumer.position(&tp).unwrap(), 10, "the next record handed out, not the fetch's end");
    consumer.seek(&tp, 50).unwrap();
    assert_eq!(offsets(consumer.poll(Duration::from_secs(1)).unwrap()), (50..60).collect::<Vec<_>>());
    consumer.seek(&tp, 5).unwrap(); // backwards, below everything fetched
    assert_eq!(offsets(consumer.poll(Duration::from_secs(1)).unwrap()), (5..15).collect::<Vec<_>>());
    consumer.pause(std::slice::from_ref(&tp)).unwrap();
    assert!(consumer.poll(Duration::from_millis(10)).unwrap().is_empty());
    consumer.resume(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(offsets(consumer.poll(Duration::from_secs(1)).unwrap()), (15..25).collect::<Vec<_>>());
    consumer.seek_to_end(std::slice::from_ref(&tp)).unwrap();
    assert!(consumer.poll(Duration::from_millis(10)).unwrap().is_empty());
    assert_eq!(consumer.position(&tp).unwrap(), 100);
    consumer.seek_to_beginning(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(offsets(consumer.poll(Duration::from_secs(1)).unwrap()), (0..10).collect::<Vec<_>>());
}

/// Records carry their batch's timestamp type.
#[test]
fn consumer_records_say_whose_timestamp_they_carry() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let config = TopicConfig::default().set("message.timestamp.type", "LogAppendTime").unwrap();
    log.create_topic("appended", 1, config).unwrap().partition(0).unwrap().append(&[Record::new(b"a")]).unwrap();
    log.create_topic("created", 1, TopicConfig::default())
        .unwrap()
        .partition(0)
        .unwrap()
        .append(&[Record::new(b"b")])
        .unwrap();
    let mut consumer =
        Consumer::new(&log, ConsumerConfig::default().set("auto.offset.reset", "earliest").unwrap()).unwrap();
    consumer.assign(&[TopicPartition::new("appended", 0), TopicPartition::new("created", 0)]).unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        for r in consumer.poll(Duration::from_secs(1)).unwrap() {
            seen.push((r.topic.to_string(), r.timestamp_type));
        }
    }
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        seen,
        [
            ("appended".to_string(), partlog::TimestampType::LogAppendTime),
            ("created".to_string(), partlog::TimestampType::CreateTime)
        ]
    );
}

/// `poll_with` hands out what `poll` hands out (same records, same order, same positions, across
/// polls that serve one fetch), borrowed; a closure that panics leaves its record to come again,
/// and nothing before it.
#[test]
fn poll_with_hands_out_what_poll_does_and_a_panicking_closure_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let topic = log.create_topic("t", 3, TopicConfig::default()).unwrap();
    for i in 0..3000u32 {
        let value = format!("v{i}");
        let key = i.to_be_bytes();
        topic.partition(i % 3).unwrap().append(&[partlog::Record::new(value.as_bytes()).with_key(&key)]).unwrap();
    }
    let all: Vec<TopicPartition> = (0..3).map(|p| tp("t", p)).collect();
    let small = config(&[("max.poll.records", "7"), ("auto.offset.reset", "earliest")]);
    let (mut owned, mut borrowed) = (Consumer::new(&log, small.clone()).unwrap(), Consumer::new(&log, small).unwrap());
    owned.assign(&all).unwrap();
    borrowed.assign(&all).unwrap();
    let mut polls = 0;
    let mut seen = 0;
    while seen < 3000 {
        let expected: Vec<(u32, u64, Vec<u8>)> = owned
            .poll(Duration::from_secs(1))
            .unwrap()
            .into_iter()
            .map(|r| (r.partition, r.offset, r.value.unwrap()))
            .collect();
        let mut got = Vec::new();
        let n = borrowed
            .poll_with(Duration::from_secs(1), |tp, r| {
                got.push((tp.partition, r.offset(), r.value().unwrap().to_vec()))
            })
            .unwrap();
        assert_eq!((n, &got), (expected.len(), &expected), "poll {polls}");
        for p in &all {
            assert_eq!(owned.position(p).unwrap(), borrowed.position(p).unwrap());
        }
        seen += n;
        polls += 1;
        assert!(n > 0, "poll {polls} returned nothing at {seen}");
    }
    assert!(polls >= 3000 / 7, "max.poll.records held: {polls} polls");

    // A closure that panics on its third record: the first two were handed out, the third comes again.
    let mut c = Consumer::new(&log, config(&[("max.poll.records", "10"), ("auto.offset.reset", "earliest")])).unwrap();
    c.assign(&[tp("t", 0)]).unwrap();
    let mut handed = Vec::new();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        c.poll_with(Duration::from_secs(1), |_, r| {
            assert!(handed.len() < 2, "a bug in the application");
            handed.push(r.offset());
        })
    }));
    assert!(panicked.is_err());
    assert_eq!(handed, [0, 1]);
    assert_eq!(c.position(&tp("t", 0)).unwrap(), 2);
    let next = c.poll(Duration::from_secs(1)).unwrap();
    assert_eq!(next[0].offset, 2, "the record the closure panicked on comes again");
}
