//! The producer (issue 13's first part): Kafka's partitioning, per-partition batching by
//! `batch.size` and `linger.ms`, `buffer.memory` with `max.block.ms`, delivery futures and
//! callbacks, `flush` and `close`, and per-record failures that affect no other record.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::options;
use partlog::{Error, Log, Producer, ProducerConfig, ProducerRecord, TopicConfig};

fn log_with(partitions: u32, config: TopicConfig) -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open_with(dir.path(), options()).unwrap();
    log.create_topic("t", partitions, config).unwrap();
    (dir, log)
}

#[test]
fn keyed_records_go_where_kafka_puts_them_and_every_record_is_delivered_once() {
    let (_dir, log) = log_with(4, TopicConfig::default());
    let producer = Producer::new(&log, ProducerConfig::default()).unwrap();
    let topic = log.topic("t").unwrap();
    let futures: Vec<_> = (0..200)
        .map(|i| {
            let key = format!("key-{}", i % 17).into_bytes();
            (key.clone(), producer.send(ProducerRecord::new("t", format!("v{i}").into_bytes()).key(key)))
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    for (key, f) in futures {
        let meta = f.wait().unwrap();
        assert_eq!(meta.partition, topic.partition_for_key(&key).id(), "murmur2, as Kafka");
        assert!(seen.insert((meta.partition, meta.offset)), "one offset per record");
        let got = topic.partition(meta.partition).unwrap().read(meta.offset, 1).unwrap();
        assert_eq!(got[0].key.as_deref(), Some(&key[..]));
    }
    let total: u64 = topic.partitions().iter().map(|p| p.log_end_offset()).sum();
    assert_eq!(total, 200);
}

#[test]
fn records_wait_for_linger_or_a_full_batch_and_go_as_one_batch_per_partition() {
    let (_dir, log) = log_with(1, TopicConfig::default());
    let config = ProducerConfig::default().set("linger.ms", "60000").unwrap().set("batch.size", "1000").unwrap();
    let producer = Producer::new(&log, config).unwrap();
    let p = log.partition("t", 0).unwrap();
    let small: Vec<_> = (0..5).map(|i| producer.send(ProducerRecord::new("t", vec![i; 10]).partition(0))).collect();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(p.log_end_offset(), 0, "under batch.size, they linger");
    assert!(small.iter().all(|f| !f.is_done()));
    // Past batch.size: the batch goes at once, as one append (one RecordBatch).
    let big = producer.send(ProducerRecord::new("t", vec![9; 1000]).partition(0));
    let meta = big.wait().unwrap();
    assert_eq!(meta.offset, 5);
    let offsets: Vec<u64> = small.into_iter().map(|f| f.wait().unwrap().offset).collect();
    assert_eq!(offsets, [0, 1, 2, 3, 4], "in send order");
    let mut raw = Vec::new();
    p.read_raw(0, usize::MAX, &mut raw).unwrap();
    let mut batches = 0;
    partlog::batch::for_each_record(&raw, |_, _| {}).map(|n| batches = n).unwrap();
    assert!(batches <= 2, "5 small records and a big one in at most 2 batches, got {batches}");

    // flush() sends what lingers.
    let f = producer.send(ProducerRecord::new("t", b"late".to_vec()).partition(0));
    let started = Instant::now();
    producer.flush().unwrap();
    assert!(f.is_done() && started.elapsed() < Duration::from_secs(30));
}

#[test]
fn null_keys_stick_to_one_partition_per_batch() {
    let (_dir, log) = log_with(8, TopicConfig::default());
    let config = ProducerConfig::default().set("batch.size", "1000").unwrap().set("linger.ms", "0").unwrap();
    let producer = Producer::new(&log, config).unwrap();
    let partitions: Vec<u32> =
        (0..400).map(|_| producer.send(ProducerRecord::new("t", vec![0u8; 79])).wait().unwrap().partition).collect();
    // 100-byte records (79 + 21 estimated): 10 to a partition, then a switch.
    let runs = partitions.chunk_by(|a, b| a == b).count();
    assert!(runs <= 40 + 1, "sticky: {runs} runs");
    let used: std::collections::HashSet<u32> = partitions.into_iter().collect();
    assert!(used.len() > 1, "and spread: {used:?}");
}

#[test]
fn a_record_that_cannot_be_sent_fails_alone() {
    let (_dir, log) = log_with(2, TopicConfig::default());
    let config = ProducerConfig::default().set("max.request.size", "1000").unwrap();
    let producer = Producer::new(&log, config).unwrap();
    let good = producer.send(ProducerRecord::new("t", b"fine".to_vec()));
    let unknown = producer.send(ProducerRecord::new("nope", b"x".to_vec())).wait().unwrap_err();
    assert!(matches!(*unknown.error, Error::UnknownTopic { .. }), "{unknown}");
    assert_eq!(unknown.record.value.as_deref(), Some(&b"x"[..]), "the record comes back");
    let partition = producer.send(ProducerRecord::new("t", b"x".to_vec()).partition(5)).wait().unwrap_err();
    assert!(matches!(*partition.error, Error::UnknownPartition { partition: 5, partitions: 2, .. }));
    let big = producer.send(ProducerRecord::new("t", vec![0; 2000])).wait().unwrap_err();
    assert!(matches!(*big.error, Error::BatchTooLarge { setting: "max.request.size", .. }), "{big}");
    // The callback form reports the same, at once.
    let got = Arc::new(Mutex::new(None));
    let slot = got.clone();
    producer.send_with_callback(ProducerRecord::new("nope", b"x".to_vec()), move |r| *slot.lock().unwrap() = Some(r));
    assert!(got.lock().unwrap().as_ref().unwrap().is_err());
    assert!(good.wait().is_ok());
}

#[test]
fn a_full_buffer_blocks_send_up_to_max_block_ms_then_fails() {
    let (_dir, log) = log_with(1, TopicConfig::default());
    // Room for two 521-byte records; they linger for a minute unless the buffer is needed.
    let config = ProducerConfig::default()
        .set("buffer.memory", "1100")
        .unwrap()
        .set("linger.ms", "60000")
        .unwrap()
        .set("max.block.ms", "200")
        .unwrap();
    let producer = Producer::new(&log, config).unwrap();
    let a = producer.send(ProducerRecord::new("t", vec![1; 500]));
    let b = producer.send(ProducerRecord::new("t", vec![2; 500]));
    // A blocked sender makes what waits ready: this one gets room once those are appended.
    let c = producer.send(ProducerRecord::new("t", vec![3; 500]));
    assert!(a.is_done() && b.is_done(), "appended to make room");
    producer.flush().unwrap(); // c lingers otherwise
    assert_eq!([a, b, c].map(|f| f.wait().unwrap().offset), [0, 1, 2]);

    // With the sender thread held by a callback, the buffer stays full: the next send waits
    // max.block.ms, then fails alone.
    let gate = Arc::new(Mutex::new(()));
    let held = gate.lock().unwrap();
    let g = gate.clone();
    producer.send_with_callback(ProducerRecord::new("t", vec![4; 500]), move |_| drop(g.lock()));
    let y = producer.send(ProducerRecord::new("t", vec![5; 500]));
    let started = Instant::now();
    let z = producer.send(ProducerRecord::new("t", vec![6; 500])).wait().unwrap_err();
    assert!(matches!(*z.error, Error::BufferFull { waited_ms: 200, .. }), "{z}");
    assert!(started.elapsed() >= Duration::from_millis(190));
    drop(held);
    assert_eq!(y.wait().unwrap().offset, 4);
}

#[test]
fn close_delivers_what_waits_and_later_sends_fail() {
    let (_dir, log) = log_with(3, TopicConfig::default());
    let producer = Producer::new(&log, ProducerConfig::default().set("linger.ms", "60000").unwrap()).unwrap();
    let delivered = Arc::new(AtomicUsize::new(0));
    for i in 0..100u32 {
        let d = delivered.clone();
        producer.send_with_callback(ProducerRecord::new("t", i.to_be_bytes().to_vec()), move |r| {
            r.unwrap();
            d.fetch_add(1, Ordering::SeqCst);
        });
    }
    producer.close(Duration::from_secs(30));
    assert_eq!(delivered.load(Ordering::SeqCst), 100);
    let after = producer.send(ProducerRecord::new("t", b"late".to_vec())).wait().unwrap_err();
    assert!(matches!(*after.error, Error::Closed { .. }));
    let total: u64 = log.topic("t").unwrap().partitions().iter().map(|p| p.log_end_offset()).sum();
    assert_eq!(total, 100);
}

#[test]
fn a_synchronous_topic_delivers_after_the_fsync_and_many_threads_share_one_producer() {
    let mut config = TopicConfig::default();
    config.flush_messages = 1;
    let (_dir, log) = log_with(4, config);
    let producer = Producer::new(&log, ProducerConfig::default().set("linger.ms", "1").unwrap()).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let producer = producer.clone();
            let log = log.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let meta = producer.send(ProducerRecord::new("t", format!("{t}-{i}").into_bytes())).wait().unwrap();
                    let p = log.partition("t", meta.partition).unwrap();
                    assert!(p.recovery_point() > meta.offset, "delivered means durable on a synchronous topic");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let total: u64 = log.topic("t").unwrap().partitions().iter().map(|p| p.log_end_offset()).sum();
    assert_eq!(total, 200);
}

#[test]
fn callbacks_run_in_send_order_per_partition_and_a_panicking_one_is_contained() {
    let (_dir, log) = log_with(2, TopicConfig::default());
    let producer = Producer::new(&log, ProducerConfig::default().set("batch.size", "500").unwrap()).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    for i in 0..300u64 {
        let seen = seen.clone();
        let record = ProducerRecord::new("t", i.to_be_bytes().to_vec()).partition((i % 2) as u32);
        producer.send_with_callback(record, move |r| {
            let meta = r.unwrap();
            seen.lock().unwrap().push((meta.partition, meta.offset, i));
            if i == 7 {
                panic!("a callback that panics");
            }
        });
    }
    producer.flush().unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 300, "records after the panicking callback are delivered too");
    for partition in 0..2 {
        let mine: Vec<(u64, u64)> = seen.iter().filter(|s| s.0 == partition).map(|s| (s.1, s.2)).collect();
        assert!(mine.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1), "send order within partition {partition}");
    }
}

#[test]
fn flush_and_close_from_a_callback_neither_hang_nor_reorder() {
    let (_dir, log) = log_with(1, TopicConfig::default());
    let producer = Producer::new(&log, ProducerConfig::default().set("linger.ms", "0").unwrap()).unwrap();
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let (p, o) = (producer.clone(), outcomes.clone());
    producer.send_with_callback(ProducerRecord::new("t", b"first".to_vec()), move |r| {
        r.unwrap();
        let flushed = p.flush();
        assert!(matches!(flushed, Err(Error::InvalidState { .. })));
        o.lock().unwrap().push("flush refused".to_string());
        p.close(Duration::ZERO); // Kafka's close(0) from a callback: what waits fails afterwards
    });
    drop(producer.send(ProducerRecord::new("t", b"second".to_vec())));
    producer.close(Duration::from_secs(30));
    assert_eq!(outcomes.lock().unwrap().len(), 1);
    let late = producer.send(ProducerRecord::new("t", b"late".to_vec())).wait().unwrap_err();
    assert!(matches!(*late.error, Error::Closed { .. }));
}

#[test]
fn batches_keep_within_the_topics_max_message_bytes_and_bad_records_fail_alone() {
    let mut config = TopicConfig::default();
    config.max_message_bytes = 2000;
    config.cleanup_policy = partlog::CleanupPolicy::Compact;
    let (_dir, log) = log_with(1, config);
    // batch.size is 16 KiB, above the topic's limit: batches are cut at the topic's limit.
    let producer = Producer::new(&log, ProducerConfig::default().set("linger.ms", "60000").unwrap()).unwrap();
    let good: Vec<_> = (0..50u32)
        .map(|i| producer.send(ProducerRecord::new("t", vec![1; 100]).key(i.to_be_bytes().to_vec())))
        .collect();
    // Among them, records the partition would refuse: each fails alone.
    let no_key = producer.send(ProducerRecord::new("t", vec![2; 10]));
    let negative = producer.send(ProducerRecord::new("t", vec![3; 10]).key(b"k".to_vec()).timestamp(-5));
    let too_big = producer.send(ProducerRecord::new("t", vec![4; 3000]).key(b"k".to_vec()));
    producer.flush().unwrap();
    assert!(matches!(*no_key.wait().unwrap_err().error, Error::InvalidRecord { .. }));
    assert!(matches!(*negative.wait().unwrap_err().error, Error::InvalidRecord { .. }));
    match *too_big.wait().unwrap_err().error {
        // The limit named is the topic's setting, and the size is the batch it would make.
        Error::BatchTooLarge { setting: "max.message.bytes", limit: 2000, size } => assert!(size > 3000, "{size}"),
        ref other => panic!("{other:?}"),
    }
    let offsets: Vec<u64> = good.into_iter().map(|f| f.wait().unwrap().offset).collect();
    assert_eq!(offsets, (0..50).collect::<Vec<_>>());
}
