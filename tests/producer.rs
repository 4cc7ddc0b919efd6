//! The producer (issue 13's first part): Kafka's partitioning, per-partition batching by
//! `batch.size` and `linger.ms`, `buffer.memory` with `max.block.ms`, delivery futures and
//! callbacks, `flush` and `close`, and per-record failures that affect no other record.

mod common;

use std::fs::File;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::options;
use partlog::{Error, Io, Log, OsIo, Producer, ProducerConfig, ProducerRecord, TopicConfig};

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
}

/// Memory held by an append that does not finish (a hung disk, here in a synchronous topic's
/// fsync): the next send waits `max.block.ms` for room, then fails alone, and what was sent
/// before is delivered once the disk is back.
#[test]
fn a_buffer_held_by_a_stuck_append_fails_a_send_after_max_block_ms() {
    let (_dir, io, log) = log_with_a_disk_that_can_hang();
    let config = ProducerConfig::default()
        .set("buffer.memory", "1100")
        .unwrap()
        .set("linger.ms", "0")
        .unwrap()
        .set("max.block.ms", "200")
        .unwrap();
    let producer = Producer::new(&log, config).unwrap();
    let _unstick = Unstick(io.clone());
    io.set_stuck(true);
    let x = producer.send(ProducerRecord::new("sync", vec![4; 500]));
    wait_until_an_fsync_hangs(&io);
    let y = producer.send(ProducerRecord::new("sync", vec![5; 500])); // fits behind it
    let started = Instant::now();
    let z = producer.send(ProducerRecord::new("sync", vec![6; 500])).wait().unwrap_err();
    assert!(matches!(*z.error, Error::BufferFull { waited_ms: 200, .. }), "{z}");
    assert!(started.elapsed() >= Duration::from_millis(190));
    assert_eq!(z.record.value.as_deref(), Some(&[6; 500][..]), "the record comes back");
    io.set_stuck(false);
    assert_eq!(x.wait().unwrap().offset, 0);
    assert_eq!(y.wait().unwrap().offset, 1);
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

/// Runs `f` on its own thread and returns what it returns, failing the test if it takes more
/// than `secs` seconds (a hang fails the test instead of stalling it).
fn within<T: Send + 'static>(secs: u64, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(f()).ok());
    rx.recv_timeout(Duration::from_secs(secs)).unwrap_or_else(|_| panic!("{what} did not return in {secs} s"))
}

/// The file system, with a panic on the next segment write once armed (a bug on the producer's
/// thread, inside its append).
#[derive(Debug, Default)]
struct PanickingIo {
    armed: AtomicBool,
}

impl Io for PanickingIo {
    fn write_all_at(&self, file: &File, path: &Path, buf: &[u8], position: u64) -> std::io::Result<()> {
        assert!(!self.armed.load(Ordering::SeqCst), "a bug in the write path");
        OsIo.write_all_at(file, path, buf, position)
    }
    fn write_mapped(&self, dst: &mut [u8], src: &[u8], path: &Path) -> std::io::Result<()> {
        assert!(!self.armed.load(Ordering::SeqCst), "a bug in the write path");
        OsIo.write_mapped(dst, src, path)
    }
    fn sync_data(&self, file: &File, path: &Path) -> std::io::Result<()> {
        OsIo.sync_data(file, path)
    }
    fn sync_dir(&self, path: &Path) -> std::io::Result<()> {
        OsIo.sync_dir(path)
    }
}

/// Regression (issue 24): a panic on the producer's thread left `flush`, `close` and `Drop`
/// blocked forever, and later sends queued for nobody. Now every waiting record fails with
/// `Closed` naming the panic, the producer is closed, and nothing blocks.
#[test]
fn a_panic_on_the_producers_thread_fails_what_waits_and_closes_the_producer() {
    let dir = tempfile::tempdir().unwrap();
    let io = Arc::new(PanickingIo::default());
    let log = Log::open_with(dir.path(), options().io(io.clone())).unwrap();
    log.create_topic("t", 2, TopicConfig::default()).unwrap();
    let producer = Producer::new(&log, ProducerConfig::default().set("linger.ms", "60000").unwrap()).unwrap();
    let futures: Vec<_> =
        (0..10u32).map(|i| producer.send(ProducerRecord::new("t", vec![1; 10]).partition(i % 2))).collect();
    let called = Arc::new(Mutex::new(None));
    let slot = called.clone();
    producer.send_with_callback(ProducerRecord::new("t", b"cb".to_vec()), move |r| *slot.lock().unwrap() = Some(r));
    io.armed.store(true, Ordering::SeqCst);
    let p = producer.clone();
    within(10, "flush after a panic on the producer's thread", move || p.flush()).unwrap();
    io.armed.store(false, Ordering::SeqCst);
    for f in futures {
        let failed = f.wait().unwrap_err();
        assert!(matches!(*failed.error, Error::Closed { .. }), "{failed}");
    }
    let callback = called.lock().unwrap().take().expect("the callback ran");
    let failed = callback.unwrap_err();
    assert!(matches!(*failed.error, Error::Closed { .. }), "{failed}");
    // Closed: a later send fails at once, and says why.
    let late = producer.send(ProducerRecord::new("t", b"late".to_vec()));
    assert!(late.is_done());
    let late = late.wait().unwrap_err();
    assert!(matches!(&*late.error, Error::Closed { what } if what.contains("a bug in the write path")), "{late}");
    let p = producer.clone();
    within(10, "close", move || p.close(Duration::from_secs(60)));
    within(10, "drop", move || drop(producer));
}

/// Regression (issue 24): an executor's waker that panicked when a delivery woke it killed the
/// producer's thread. The panic is contained now: the record is delivered, the producer goes on.
#[test]
fn a_waker_that_panics_does_not_stop_the_producer() {
    struct PanickingWaker;
    impl std::task::Wake for PanickingWaker {
        fn wake(self: Arc<Self>) {
            panic!("an executor's bug");
        }
    }
    let (_dir, log) = log_with(1, TopicConfig::default());
    let producer = Producer::new(&log, ProducerConfig::default().set("linger.ms", "60000").unwrap()).unwrap();
    let waker = std::task::Waker::from(Arc::new(PanickingWaker));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = producer.send(ProducerRecord::new("t", b"a".to_vec()));
    assert!(std::pin::Pin::new(&mut future).poll(&mut cx).is_pending());
    let p = producer.clone();
    within(10, "flush", move || p.flush()).unwrap();
    match std::pin::Pin::new(&mut future).poll(&mut cx) {
        std::task::Poll::Ready(Ok(meta)) => assert_eq!(meta.offset, 0),
        other => panic!("{other:?}"),
    }
    let next = within(10, "a send after the panic", move || {
        let future = producer.send(ProducerRecord::new("t", b"b".to_vec()));
        producer.flush().unwrap();
        future.wait()
    });
    assert_eq!(next.unwrap().offset, 1);
}

/// Regression (issue 24): from a delivery callback, a send into a full buffer waited all of
/// `max.block.ms` (only the callback's own thread freed space), and `DeliveryFuture::wait` on a
/// record of the same producer blocked forever. Any thread appends now: from a callback, a send
/// into a full buffer appends what lingers to make room, and waiting for (or polling) a
/// lingering record appends its batch at once. Nothing waits, and everything is delivered in order.
#[test]
fn from_a_callback_sends_into_a_full_buffer_and_waits_for_its_own_records() {
    let (_dir, log) = log_with(1, TopicConfig::default());
    // Room for two 521-byte records; a minute of linger, half a minute of max.block.ms.
    let config = ProducerConfig::default()
        .set("buffer.memory", "1100")
        .unwrap()
        .set("linger.ms", "60000")
        .unwrap()
        .set("max.block.ms", "30000")
        .unwrap();
    let producer = Producer::new(&log, config).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (p, s) = (producer.clone(), seen.clone());
    producer.send_with_callback(ProducerRecord::new("t", vec![1; 500]), move |r| {
        r.unwrap();
        let started = Instant::now();
        let a = p.send(ProducerRecord::new("t", vec![3; 500]));
        let b = p.send(ProducerRecord::new("t", vec![4; 500]));
        // The buffer is full of lingering records: this send makes room by appending them.
        let full = p.send(ProducerRecord::new("t", vec![5; 500])).wait();
        let queued = p.send(ProducerRecord::new("t", b"small".to_vec())).wait();
        let mut polled = p.send(ProducerRecord::new("t", b"polled".to_vec()));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let polled = std::pin::Pin::new(&mut polled).poll(&mut cx);
        let waited_ms = started.elapsed().as_millis();
        s.lock().unwrap().push((waited_ms, a.wait(), b.wait(), full, queued, polled));
    });
    let second = producer.send(ProducerRecord::new("t", vec![2; 500]));
    let p = producer.clone();
    within(10, "flush, with a callback sending into a full buffer", move || p.flush()).unwrap();
    let (waited_ms, a, b, full, queued, polled) = seen.lock().unwrap().pop().expect("the callback ran");
    assert!(waited_ms < 5_000, "nothing waited for max.block.ms or linger.ms: {waited_ms} ms");
    assert_eq!(second.wait().unwrap().offset, 1);
    let offsets = [a, b, full, queued].map(|r| r.unwrap().offset);
    assert_eq!(offsets, [2, 3, 4, 5], "in send order");
    match polled {
        std::task::Poll::Ready(Ok(meta)) => assert_eq!(meta.offset, 6),
        other => panic!("polled on its own producer's thread: {other:?}"),
    }
    assert_eq!(log.partition("t", 0).unwrap().log_end_offset(), 7);
}

/// Regression (issue 24): lowering `max.message.bytes` under lingering records failed their
/// whole batch (160 records, each of which fits alone). Now batches follow the limit in force,
/// in send order, and only a record too large on its own fails.
#[test]
fn a_batch_made_too_large_by_an_alter_is_split_and_only_a_record_too_large_alone_fails() {
    let (_dir, log) = log_with(1, TopicConfig::default());
    let config = ProducerConfig::default().set("linger.ms", "60000").unwrap().set("batch.size", "1000000").unwrap();
    let producer = Producer::new(&log, config).unwrap();
    let mut futures = Vec::new();
    for i in 0..161u32 {
        let value = if i == 80 { vec![9; 3000] } else { i.to_be_bytes().repeat(20) };
        futures.push(producer.send(ProducerRecord::new("t", value).partition(0)));
    }
    let mut lowered = log.topic("t").unwrap().config().clone();
    lowered.max_message_bytes = 2000;
    log.alter_topic_config("t", lowered).unwrap();
    let p = producer.clone();
    within(10, "flush", move || p.flush()).unwrap();
    let mut offsets = Vec::new();
    for (i, f) in futures.into_iter().enumerate() {
        match (i, f.wait()) {
            (80, Err(e)) => {
                assert!(matches!(*e.error, Error::BatchTooLarge { setting: "max.message.bytes", .. }), "{e}")
            }
            (_, Ok(meta)) => offsets.push(meta.offset),
            (i, other) => panic!("record {i}: {other:?}"),
        }
    }
    assert_eq!(offsets, (0..160).collect::<Vec<u64>>(), "the others, in send order");
    let partition = log.partition("t", 0).unwrap();
    let values: Vec<Vec<u8>> = partition.read(0, usize::MAX).unwrap().into_iter().map(|r| r.value.unwrap()).collect();
    let sent: Vec<Vec<u8>> = (0..161u32).filter(|&i| i != 80).map(|i| i.to_be_bytes().repeat(20)).collect();
    assert_eq!(values, sent);
    let mut raw = Vec::new();
    partition.read_raw(0, usize::MAX, &mut raw).unwrap();
    let positions = common::batch_positions(&raw);
    assert!(positions.len() >= 160 * 101 / 2000, "{} batches", positions.len());
    for w in positions.windows(2) {
        assert!(w[1] - w[0] <= 2000, "a batch of {} bytes", w[1] - w[0]);
    }
}

/// A log on a disk whose fsync hangs while armed ([`StuckSyncIo`]), with a synchronous topic
/// "sync" (`flush.messages=1`: every append fsyncs).
fn log_with_a_disk_that_can_hang() -> (tempfile::TempDir, Arc<StuckSyncIo>, Log) {
    let dir = tempfile::tempdir().unwrap();
    let io = Arc::new(StuckSyncIo::default());
    let log = Log::open_with(dir.path(), options().io(io.clone())).unwrap();
    let mut synchronous = TopicConfig::default();
    synchronous.flush_messages = 1;
    log.create_topic("sync", 1, synchronous).unwrap();
    (dir, io, log)
}

/// Waits until an append is inside a hung fsync.
fn wait_until_an_fsync_hangs(io: &StuckSyncIo) {
    let started = Instant::now();
    while io.stalled.load(Ordering::SeqCst) == 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "the append never reached its fsync");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The file system, with an fsync that hangs while `stuck` is set (a slow or failing disk).
#[derive(Debug, Default)]
struct StuckSyncIo {
    stuck: Mutex<bool>,
    released: std::sync::Condvar,
    /// fsyncs that found the disk stuck.
    stalled: AtomicUsize,
}

impl StuckSyncIo {
    fn set_stuck(&self, stuck: bool) {
        *self.stuck.lock().unwrap() = stuck;
        self.released.notify_all();
    }
}

/// Unsticks the disk when dropped, so that a failing test does not hang in the producer's drop.
struct Unstick(Arc<StuckSyncIo>);

impl Drop for Unstick {
    fn drop(&mut self) {
        self.0.set_stuck(false);
    }
}

impl Io for StuckSyncIo {
    fn write_all_at(&self, file: &File, path: &Path, buf: &[u8], position: u64) -> std::io::Result<()> {
        OsIo.write_all_at(file, path, buf, position)
    }
    fn sync_data(&self, file: &File, path: &Path) -> std::io::Result<()> {
        let mut stuck = self.stuck.lock().unwrap();
        if *stuck {
            self.stalled.fetch_add(1, Ordering::SeqCst);
        }
        while *stuck {
            stuck = self.released.wait(stuck).unwrap();
        }
        drop(stuck);
        OsIo.sync_data(file, path)
    }
    fn sync_dir(&self, path: &Path) -> std::io::Result<()> {
        OsIo.sync_dir(path)
    }
}

/// Regression (issue 24): `delivery.timeout.ms` was accepted and ignored. Records held up
/// behind an append that does not finish (here a synchronous topic's fsync on a hung disk) fail
/// with `DeliveryTimeout` once they waited that long, and are never appended: `wait` returns at
/// the deadline even while that append is stuck, and a callback hears it, in order, once the
/// append is done. The append that had started completes with its outcome; other partitions
/// are not held up at all.
#[test]
fn a_record_held_up_past_delivery_timeout_fails_and_is_never_appended() {
    let (_dir, io, log) = log_with_a_disk_that_can_hang();
    log.create_topic("t", 1, TopicConfig::default()).unwrap();
    let config = ProducerConfig::default().set("linger.ms", "0").unwrap().set("delivery.timeout.ms", "300").unwrap();
    let producer = Producer::new(&log, config).unwrap();
    let _unstick = Unstick(io.clone());
    io.set_stuck(true);
    let stuck = producer.send(ProducerRecord::new("sync", b"fsynced".to_vec()));
    wait_until_an_fsync_hangs(&io);
    // The partition's append is stuck: these wait behind it.
    let sent = Instant::now();
    let waiting: Vec<_> = (0..5).map(|i| producer.send(ProducerRecord::new("sync", vec![i; 10]))).collect();
    let heard = Arc::new(Mutex::new(None));
    let slot = heard.clone();
    producer.send_with_callback(ProducerRecord::new("sync", b"cb".to_vec()), move |r| *slot.lock().unwrap() = Some(r));
    // Another partition is not held up.
    let other = within(10, "a send to another topic", {
        let producer = producer.clone();
        move || producer.send(ProducerRecord::new("t", b"free".to_vec())).wait()
    });
    assert_eq!(other.unwrap().offset, 0);
    let first = within(10, "wait past delivery.timeout.ms", {
        let mut waiting = waiting;
        let first = waiting.remove(0);
        move || (first.wait(), waiting)
    });
    let (first, waiting) = first;
    assert!(sent.elapsed() >= Duration::from_millis(290), "not before the deadline");
    match *first.unwrap_err().error {
        Error::DeliveryTimeout { ref partition, timeout_ms: 300 } => assert_eq!(partition, "sync-0"),
        ref other => panic!("{other:?}"),
    }
    assert!(heard.lock().unwrap().is_none(), "callbacks wait for the stuck append, in order");
    io.set_stuck(false);
    assert_eq!(stuck.wait().unwrap().offset, 0, "the append that had started completes");
    let p = producer.clone();
    within(10, "flush", move || p.flush()).unwrap();
    for f in waiting {
        assert!(matches!(*f.wait().unwrap_err().error, Error::DeliveryTimeout { .. }));
    }
    let callback = heard.lock().unwrap().take().expect("the callback ran").unwrap_err();
    assert!(matches!(*callback.error, Error::DeliveryTimeout { .. }), "{callback}");
    assert_eq!(log.partition("sync", 0).unwrap().log_end_offset(), 1, "no expired record was appended");
    // Records sent now, with the disk back, are delivered.
    assert_eq!(producer.send(ProducerRecord::new("sync", b"later".to_vec())).wait().unwrap().offset, 1);
}

/// Other things that stop a record's append fail it at once, without waiting for
/// `delivery.timeout.ms`: in-process no append error is worth retrying.
#[test]
fn a_full_disk_or_a_deleted_partition_fails_records_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let io = Arc::new(partlog::FaultyIo::new());
    let log = Log::open_with(dir.path(), options().io(io.clone())).unwrap();
    log.create_topic("t", 1, TopicConfig::default()).unwrap();
    log.create_topic("gone", 1, TopicConfig::default()).unwrap();
    let producer = Producer::new(&log, ProducerConfig::default().set("linger.ms", "60000").unwrap()).unwrap();
    // A deleted topic: its lingering records fail when their batch goes.
    let deleted = producer.send(ProducerRecord::new("gone", b"x".to_vec()));
    log.delete_topic("gone").unwrap();
    // A full disk: the partition stops its writes (fail-stop) until the log is reopened.
    let full = producer.send(ProducerRecord::new("t", b"x".to_vec()));
    io.fail_write_after(0, std::io::ErrorKind::StorageFull, false);
    let p = producer.clone();
    within(10, "flush", move || p.flush()).unwrap();
    let deleted = deleted.wait().unwrap_err();
    assert!(matches!(*deleted.error, Error::Closed { .. } | Error::UnknownTopic { .. }), "{deleted}");
    let full = full.wait().unwrap_err();
    assert!(matches!(*full.error, Error::Io { .. }), "{full}");
    let next = producer.send(ProducerRecord::new("t", b"y".to_vec()));
    let p = producer.clone();
    within(10, "flush", move || p.flush()).unwrap();
    assert!(matches!(*next.wait().unwrap_err().error, Error::WritesStopped { .. }));
}

#[test]
fn delivery_timeout_must_cover_linger_and_its_default_is_raised_to_it() {
    let (_dir, log) = log_with(1, TopicConfig::default());
    let config = ProducerConfig::default().set("linger.ms", "500").unwrap().set("delivery.timeout.ms", "100").unwrap();
    match Producer::new(&log, config) {
        Err(Error::InvalidConfig { key, value, .. }) => {
            assert_eq!((key.as_str(), value.as_str()), ("delivery.timeout.ms", "100"))
        }
        other => panic!("{other:?}"),
    }
    // Left at its default (two minutes), it is raised to a longer linger.ms, as Kafka does.
    let config = ProducerConfig::default().set("linger.ms", "200000").unwrap();
    assert_eq!(config.delivery_timeout_ms, 120_000);
    let producer = Producer::new(&log, config).unwrap();
    assert!(format!("{producer:?}").contains("delivery_timeout_ms: 200000"), "{producer:?}");
    assert!(ProducerConfig::default().set("delivery.timeout.ms", "-1").is_err());
}

/// A batch may linger exactly as long as `delivery.timeout.ms` allows (`linger.ms` equal to
/// it, as the default is raised to): it is appended when it has lingered, not failed.
#[test]
fn a_batch_lingering_as_long_as_the_delivery_timeout_is_appended() {
    let (_dir, log) = log_with(2, TopicConfig::default());
    let config = ProducerConfig::default().set("linger.ms", "200").unwrap().set("delivery.timeout.ms", "200").unwrap();
    let producer = Producer::new(&log, config).unwrap();
    for round in 0..3u64 {
        let futures: Vec<_> =
            (0..10u32).map(|i| producer.send(ProducerRecord::new("t", vec![1; 10]).partition(i % 2))).collect();
        let (tx, rx) = std::sync::mpsc::channel();
        producer.send_with_callback(ProducerRecord::new("t", b"cb".to_vec()).partition(0), move |r| {
            tx.send(r.map(|m| m.offset)).unwrap();
        });
        let delivered = rx.recv_timeout(Duration::from_secs(10)).expect("the lingering batch was appended");
        assert_eq!(delivered.unwrap(), round * 6 + 5);
        for f in futures {
            f.wait().unwrap();
        }
    }
}

/// Partitions added to a topic: the producer (and a `ProducerTopic` made before) sees them, keyed
/// records go where Kafka's partitioner now puts them, and each partition keeps one queue: the
/// records of an existing partition stay in send order across the change.
#[test]
fn partitions_added_are_used_and_records_stay_in_order() {
    let (_dir, log) = log_with(2, TopicConfig::default());
    let producer = Producer::new(&log, ProducerConfig::default().set("linger.ms", "60000").unwrap()).unwrap();
    let topic = producer.topic("t").unwrap();
    let before: Vec<_> = (0..5u32).map(|i| topic.send_to(0, &partlog::Record::new(&i.to_be_bytes()))).collect();
    log.add_partitions("t", 6).unwrap();
    // Through the old handle and through a ProducerRecord, into partition 0 again.
    let after: Vec<_> = (5..10u32)
        .map(|i| match i % 2 {
            0 => topic.send_to(0, &partlog::Record::new(&i.to_be_bytes())),
            _ => producer.send(ProducerRecord::new("t", i.to_be_bytes().to_vec()).partition(0)),
        })
        .collect();
    // Waiting for the last record sends its batch now: the earlier records of the partition
    // go first, in the same batch or before it.
    let mut after = after;
    let last = after.pop().unwrap().wait().unwrap();
    assert_eq!((last.partition, last.offset), (0, 9));
    let new = topic.send_to(5, &partlog::Record::new(b"new")).wait().unwrap();
    assert_eq!((new.partition, new.offset), (5, 0));
    let keyed = producer.send(ProducerRecord::new("t", b"k".to_vec()).key(b"user-42".to_vec())).wait().unwrap();
    assert_eq!(keyed.partition, log.topic("t").unwrap().partition_for_key(b"user-42").id());
    producer.flush().unwrap();
    let offsets: Vec<u64> = before.into_iter().chain(after).map(|f| f.wait().unwrap().offset).collect();
    assert_eq!(offsets, (0..9).collect::<Vec<u64>>(), "send order in partition 0");
    let values: Vec<u32> = log
        .partition("t", 0)
        .unwrap()
        .read(0, 1 << 20)
        .unwrap()
        .iter()
        .map(|r| u32::from_be_bytes(r.value.as_deref().unwrap().try_into().unwrap()))
        .collect();
    assert_eq!(values, (0..10).collect::<Vec<u32>>());
}

/// `close(timeout)` returns by its timeout while the producer's thread is inside an append stuck
/// on a disk that hangs, and dropping the producer afterwards does not wait for it either; the
/// stuck append completes with its outcome once the disk is back.
#[test]
fn close_and_drop_return_with_an_append_stuck_on_a_hung_disk() {
    let (_dir, io, log) = log_with_a_disk_that_can_hang();
    let producer = Producer::new(&log, ProducerConfig::default().set("linger.ms", "0").unwrap()).unwrap();
    let _unstick = Unstick(io.clone());
    io.set_stuck(true);
    let stuck = producer.send(ProducerRecord::new("sync", b"fsynced".to_vec()));
    wait_until_an_fsync_hangs(&io);
    let p = producer.clone();
    let started = Instant::now();
    within(10, "close(100 ms) with a hung disk", move || p.close(Duration::from_millis(100)));
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    within(10, "drop after a close that gave up", move || drop(producer));
    io.set_stuck(false);
    assert_eq!(stuck.wait().unwrap().offset, 0, "the append that had started completes");
}
