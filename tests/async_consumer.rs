//! The async consumer under tokio: records as a stream from many partitions, delivery futures
//! awaited, wakeup, and a group timer (another member's `max.poll.interval.ms`) waking an idle
//! async member that has no record to wake it.
#![cfg(feature = "async")]

use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;
use partlog::{
    AsyncConsumer, Consumer, ConsumerConfig, Error, Log, Producer, ProducerConfig, ProducerRecord, Record, TopicConfig,
    TopicPartition,
};

/// Polls `f` with a waker that counts wake-ups, until it is ready or settles: pending with no
/// wake-up for 100 ms (its work on the consumer's thread done, waiting for records).
fn poll_settled<F: std::future::Future + Unpin>(
    f: &mut F,
    wakes: &std::sync::Arc<Wakes>,
) -> std::task::Poll<F::Output> {
    use std::sync::atomic::Ordering;
    let waker = std::task::Waker::from(wakes.clone());
    let mut cx = std::task::Context::from_waker(&waker);
    loop {
        let seen = wakes.0.load(Ordering::SeqCst);
        if let std::task::Poll::Ready(v) = Pin::new(&mut *f).poll(&mut cx) {
            return std::task::Poll::Ready(v);
        }
        let start = std::time::Instant::now();
        while wakes.0.load(Ordering::SeqCst) == seen {
            if start.elapsed() > Duration::from_millis(100) {
                return std::task::Poll::Pending;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Counts wake-ups.
struct Wakes(std::sync::atomic::AtomicUsize);

impl std::task::Wake for Wakes {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn next<S: Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
}

#[tokio::test]
async fn a_stream_of_records_from_many_partitions_and_awaited_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    log.create_topic("t", 4, TopicConfig::default()).unwrap();
    let config = ConsumerConfig::default().set("group.id", "g").unwrap().set("auto.offset.reset", "earliest").unwrap();
    let mut consumer = AsyncConsumer::new(Consumer::new(&log, config).unwrap());
    consumer.consumer().subscribe(&["t"]).unwrap();

    // linger.ms=0: each send is awaited before the next, so lingering would only add 5 ms each.
    let producer = Producer::new(&log, ProducerConfig::default().set("linger.ms", "0").unwrap()).unwrap();
    let sender = tokio::spawn(async move {
        for i in 0..1000u32 {
            let record = ProducerRecord::new("t", i.to_be_bytes().to_vec()).key(format!("k{}", i % 17).into_bytes());
            let meta = producer.send(record).await.expect("delivered"); // a Future: no blocked thread
            assert!(meta.partition < 4);
            if i % 100 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });
    let mut stream = consumer.stream();
    let mut seen = std::collections::HashSet::new();
    while seen.len() < 1000 {
        let r = tokio::time::timeout(Duration::from_secs(20), next(&mut stream))
            .await
            .expect("records arrive")
            .unwrap()
            .unwrap();
        seen.insert(u32::from_be_bytes(r.value.unwrap().try_into().unwrap()));
    }
    drop(stream);
    sender.await.unwrap();
    // recv(): one record at a time, without a Stream adapter.
    let log2 = log.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        log2.partition("t", 3).unwrap().append(&[Record::new(b"one more")]).unwrap();
    });
    let r = tokio::time::timeout(Duration::from_secs(10), consumer.recv()).await.expect("arrives").unwrap();
    assert_eq!(r.value.as_deref(), Some(&b"one more"[..]));
    consumer.consumer().commit_sync().unwrap();
    let wakeup = consumer.consumer().wakeup_handle();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        wakeup.wakeup();
    });
    assert!(matches!(consumer.poll().await, Err(Error::Wakeup)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_timer_wakes_an_idle_async_member() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let topic = log.create_topic("t", 2, TopicConfig::default()).unwrap();
    let config = |id: &str, poll_interval: &str| {
        ConsumerConfig::default()
            .set("group.id", "g")
            .unwrap()
            .set("client.id", id)
            .unwrap()
            .set("auto.offset.reset", "earliest")
            .unwrap()
            .set("max.poll.interval.ms", poll_interval)
            .unwrap()
    };
    let mut stale = Consumer::new(&log, config("a-stale", "300")).unwrap();
    stale.subscribe(&["t"]).unwrap();
    let mut live = AsyncConsumer::new(Consumer::new(&log, config("b-live", "300000")).unwrap());
    live.consumer().subscribe(&["t"]).unwrap();
    // Settle: both poll until each holds one partition.
    for _ in 0..100 {
        stale.poll(Duration::from_millis(1)).unwrap();
        let _ = tokio::time::timeout(Duration::from_millis(5), live.poll()).await;
        if stale.assignment().len() == 1 && live.consumer().assignment().len() == 1 {
            break;
        }
    }
    assert_eq!(stale.assignment().len(), 1);
    let theirs = stale.assignment()[0].clone();
    // A record only the stale member would read; it stops polling.
    topic.partition(theirs.partition).unwrap().append(&[Record::new(b"orphan")]).unwrap();
    let records = tokio::time::timeout(Duration::from_secs(10), live.poll()).await.expect("the timer woke it").unwrap();
    assert_eq!(records[0].value.as_deref(), Some(&b"orphan"[..]));
    assert!(live.consumer().assignment().contains(&TopicPartition::new("t", theirs.partition)));
    drop(stale);
}

fn thousand_records(log: &Log) {
    let p = log.create_topic("t", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    let values: Vec<Vec<u8>> = (0..1000u32).map(|i| i.to_be_bytes().to_vec()).collect();
    let records: Vec<Record<'_>> = values.iter().map(|v| Record::new(v)).collect();
    p.append(&records).unwrap();
}

fn group_config(auto_commit: bool) -> ConsumerConfig {
    ConsumerConfig::default()
        .set("group.id", "g")
        .unwrap()
        .set("auto.offset.reset", "earliest")
        .unwrap()
        .set("enable.auto.commit", if auto_commit { "true" } else { "false" })
        .unwrap()
}

/// The stream fetches up to `max.poll.records` at a time, but yields one: a commit, explicit or
/// the auto-commit of drop, covers only what was yielded, so a new member resumes right after
/// the last record the application received (issue 24: 1..=499 were skipped).
#[test]
fn commits_of_a_stream_cover_only_the_records_it_yielded() {
    for (auto_commit, explicit) in [(false, true), (true, false), (true, true)] {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path()).unwrap();
        thousand_records(&log);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut consumer = Consumer::new(&log, group_config(auto_commit)).unwrap();
        consumer.subscribe(&["t"]).unwrap();
        let mut ac = AsyncConsumer::new(consumer);
        for expected in 0..3 {
            assert_eq!(rt.block_on(ac.recv()).unwrap().offset, expected);
        }
        if explicit {
            ac.consumer().commit_sync().unwrap();
        }
        drop(ac);
        let mut next = Consumer::new(&log, group_config(false)).unwrap();
        let tp = TopicPartition::new("t", 0);
        assert_eq!(
            next.committed(&[tp]).unwrap()[0].as_ref().map(|c| c.offset),
            Some(3),
            "auto-commit {auto_commit}, explicit commit {explicit}: committed past what was yielded"
        );
        next.subscribe(&["t"]).unwrap();
        let first = next.poll(Duration::from_secs(5)).unwrap();
        assert_eq!(first[0].offset, 3);
    }
}

/// A paused partition is not watched: appends to it do not wake a pending poll; appends to
/// the others do, and so does resuming it.
#[test]
fn appends_to_a_paused_partition_do_not_wake_the_task() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let topic = log.create_topic("t", 2, TopicConfig::default()).unwrap();
    let mut consumer = AsyncConsumer::new(Consumer::new(&log, ConsumerConfig::default()).unwrap());
    let (p0, p1) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
    consumer.consumer().assign(&[p0.clone(), p1.clone()]).unwrap();
    consumer.consumer().pause(std::slice::from_ref(&p1)).unwrap();
    let wakes = Arc::new(Wakes(AtomicUsize::new(0)));
    {
        let mut future = consumer.poll();
        assert!(poll_settled(&mut future, &wakes).is_pending());
        let before = wakes.0.load(Ordering::SeqCst);
        for _ in 0..10 {
            topic.partition(1).unwrap().append(&[Record::new(b"paused")]).unwrap();
        }
        assert_eq!(wakes.0.load(Ordering::SeqCst), before, "an append to a paused partition woke the task");
        topic.partition(0).unwrap().append(&[Record::new(b"live")]).unwrap();
        assert!(wakes.0.load(Ordering::SeqCst) > before, "an append to an assigned partition wakes it");
    }
    consumer.consumer().resume(&[p1]).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut values = Vec::new();
    while values.len() < 11 {
        values.extend(rt.block_on(consumer.poll()).unwrap().into_iter().map(|r| r.value.unwrap()));
    }
    assert_eq!(values.iter().filter(|v| v.as_slice() == b"paused").count(), 10);
}

/// A static member that misses an eager join phase (its poll future pending, not polled by
/// its task) is kept for its session and given a new assignment; when it comes back it first
/// loses what it owned (Kafka answers it ILLEGAL_GENERATION), so no per-partition state leaks.
#[test]
fn a_static_member_that_missed_a_join_phase_loses_its_partitions_before_taking_new_ones() {
    use partlog::{ListenerResult, RebalanceListener};
    use std::sync::{Arc, Mutex};
    struct Journal(Arc<Mutex<Vec<String>>>);
    impl RebalanceListener for Journal {
        fn on_partitions_revoked(&mut self, _: &mut Consumer, p: &[TopicPartition]) -> ListenerResult {
            self.0.lock().unwrap().push(format!("revoked {}", p.len()));
            Ok(())
        }
        fn on_partitions_assigned(&mut self, _: &mut Consumer, p: &[TopicPartition]) -> ListenerResult {
            self.0.lock().unwrap().push(format!("assigned {}", p.len()));
            Ok(())
        }
        fn on_partitions_lost(&mut self, _: &mut Consumer, p: &[TopicPartition]) -> ListenerResult {
            self.0.lock().unwrap().push(format!("lost {}", p.len()));
            Ok(())
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    log.create_topic("t", 2, TopicConfig::default()).unwrap();
    let config = |instance: Option<&str>| {
        let mut c = ConsumerConfig::default()
            .set("group.id", "g")
            .unwrap()
            .set("partition.assignment.strategy", "range")
            .unwrap()
            .set("max.poll.interval.ms", "300")
            .unwrap();
        if let Some(i) = instance {
            c = c.set("group.instance.id", i).unwrap();
        }
        c
    };
    let journal = Arc::new(Mutex::new(Vec::new()));
    let mut a = Consumer::new(&log, config(Some("a"))).unwrap();
    a.subscribe_with_listener(&["t"], Journal(journal.clone())).unwrap();
    while a.assignment().len() < 2 {
        a.poll(Duration::from_millis(20)).unwrap();
    }
    let mut a = AsyncConsumer::new(a);
    journal.lock().unwrap().clear();
    {
        let mut future = a.poll();
        let wakes = Arc::new(Wakes(std::sync::atomic::AtomicUsize::new(0)));
        assert!(poll_settled(&mut future, &wakes).is_pending()); // then not polled for a while
        let mut c = Consumer::new(&log, config(None)).unwrap();
        c.subscribe(&["t"]).unwrap();
        let start = std::time::Instant::now();
        while c.assignment().len() != 1 {
            assert!(start.elapsed() < Duration::from_secs(10), "the group never completed the rebalance without a");
            c.poll(Duration::from_millis(20)).unwrap();
        }
        assert!(journal.lock().unwrap().is_empty());
        // a's task runs again: it checks in with the group.
        let _ = poll_settled(&mut future, &wakes);
        c.close().unwrap();
    }
    let events = journal.lock().unwrap().clone();
    assert_eq!(events.first().map(String::as_str), Some("lost 2"), "{events:?}");
    assert!(events.iter().any(|e| e == "assigned 1"), "{events:?}");
}

/// A listener whose assignment callback takes half a second (as one that commits
/// synchronously on a slow disk might).
struct Slow;

impl partlog::RebalanceListener for Slow {
    fn on_partitions_assigned(&mut self, _: &mut Consumer, _: &[TopicPartition]) -> partlog::ListenerResult {
        std::thread::sleep(Duration::from_millis(500));
        Ok(())
    }
}

/// The executor's thread never waits for the consumer's work: a rebalance callback that takes
/// half a second (as one that commits synchronously on a slow disk might) runs on the
/// consumer's own thread while another task on the same single-threaded executor keeps ticking.
#[test]
fn a_slow_rebalance_callback_does_not_block_the_executor() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let p = log.create_topic("t", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    p.append(&[Record::new(b"a")]).unwrap();
    let mut consumer = Consumer::new(&log, group_config(false)).unwrap();
    consumer.subscribe_with_listener(&["t"], Slow).unwrap();
    let mut consumer = AsyncConsumer::new(consumer);
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let (records, longest_gap) = rt.block_on(async {
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ticking = done.clone();
        let ticker = tokio::spawn(async move {
            let mut longest = Duration::ZERO;
            let mut last = std::time::Instant::now();
            while !ticking.load(std::sync::atomic::Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(5)).await;
                longest = longest.max(last.elapsed());
                last = std::time::Instant::now();
            }
            longest
        });
        tokio::time::sleep(Duration::from_millis(30)).await; // the ticker is ticking
        let records = tokio::time::timeout(Duration::from_secs(10), consumer.poll()).await.unwrap().unwrap();
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        (records, ticker.await.unwrap())
    });
    assert_eq!(records[0].value.as_deref(), Some(&b"a"[..]));
    assert!(longest_gap < Duration::from_millis(250), "the executor was blocked for {longest_gap:?}");
}

/// An async consumer whose polls always find records (never pending) is alive: each poll
/// counts for `max.poll.interval.ms`, so it keeps its partitions.
#[test]
fn an_async_consumer_busy_with_records_is_not_expired() {
    use partlog::{ListenerResult, RebalanceListener};
    use std::sync::{Arc, Mutex};
    struct Lost(Arc<Mutex<usize>>);
    impl RebalanceListener for Lost {
        fn on_partitions_lost(&mut self, _: &mut Consumer, p: &[TopicPartition]) -> ListenerResult {
            *self.0.lock().unwrap() += p.len();
            Ok(())
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let p = log.create_topic("t", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    for i in 0..1000u32 {
        p.append(&[Record::new(&i.to_be_bytes())]).unwrap(); // a batch each
    }
    let lost = Arc::new(Mutex::new(0));
    // One batch per fetch: every poll does the consumer's work, and finds a record at once.
    let config =
        group_config(false).set("max.poll.interval.ms", "150").unwrap().set("max.partition.fetch.bytes", "1").unwrap();
    let mut consumer = Consumer::new(&log, config).unwrap();
    consumer.subscribe_with_listener(&["t"], Lost(lost.clone())).unwrap();
    let mut consumer = AsyncConsumer::new(consumer);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let started = std::time::Instant::now();
    let mut offsets = Vec::new();
    while started.elapsed() < Duration::from_millis(600) {
        offsets.push(rt.block_on(consumer.recv()).unwrap().offset);
        std::thread::sleep(Duration::from_millis(2)); // handling each record
    }
    assert_eq!(*lost.lock().unwrap(), 0, "expired while it polled every few milliseconds");
    assert!(offsets.windows(2).all(|w| w[1] == w[0] + 1), "no record read twice or skipped");
}

/// A stream consumer working through a large fetched buffer still takes part in its group: a
/// rebalance is joined at the next record, not after the buffer is drained (the shortcut
/// through buffered records stops when the group changes).
#[test]
fn a_stream_consumer_with_records_buffered_still_joins_a_rebalance() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let topic = log.create_topic("t", 2, TopicConfig::default()).unwrap();
    let values: Vec<Vec<u8>> = (0..2000u32).map(|i| i.to_be_bytes().to_vec()).collect();
    for p in 0..2 {
        topic.partition(p).unwrap().append(&values.iter().map(|v| Record::new(v)).collect::<Vec<_>>()).unwrap();
    }
    let config = group_config(false).set("partition.assignment.strategy", "range").unwrap();
    let mut a = Consumer::new(&log, config.clone()).unwrap();
    a.subscribe(&["t"]).unwrap();
    let mut a = AsyncConsumer::new(a);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(a.recv()).unwrap(); // a owns both partitions; 1999 records of one wait in its buffer
    let log2 = log.clone();
    let b = std::thread::spawn(move || {
        let mut b = Consumer::new(&log2, config).unwrap();
        b.subscribe(&["t"]).unwrap();
        let start = std::time::Instant::now();
        while b.assignment().is_empty() && start.elapsed() < Duration::from_secs(20) {
            b.poll(Duration::from_millis(20)).unwrap();
        }
        (b.assignment().len(), start.elapsed())
    });
    let start = std::time::Instant::now();
    while !b.is_finished() && start.elapsed() < Duration::from_secs(30) {
        rt.block_on(a.recv()).unwrap();
        std::thread::sleep(Duration::from_millis(10)); // handling a record
    }
    let (assigned, took) = b.join().unwrap();
    assert_eq!(assigned, 1, "the new member never got a partition ({took:?})");
    assert!(took < Duration::from_secs(5), "the rebalance waited {took:?} for the busy member");
}

/// Dropping a pending poll never waits for its work (here a rebalance callback of half a
/// second): the executor goes on at once; the consumer is usable after, and nothing is lost.
#[test]
fn dropping_a_pending_poll_does_not_wait_for_its_work() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    thousand_records(&log);
    let mut consumer = Consumer::new(&log, group_config(false)).unwrap();
    consumer.subscribe_with_listener(&["t"], Slow).unwrap();
    let mut consumer = AsyncConsumer::new(consumer);
    let wakes = std::sync::Arc::new(Wakes(std::sync::atomic::AtomicUsize::new(0)));
    let waker = std::task::Waker::from(wakes.clone());
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = consumer.poll();
    assert!(std::future::Future::poll(Pin::new(&mut future), &mut cx).is_pending()); // the join and its callback run
    let start = std::time::Instant::now();
    drop(future);
    assert!(start.elapsed() < Duration::from_millis(200), "the drop waited {:?}", start.elapsed());
    // The consumer: back when asked for; the records the dropped poll fetched come next.
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut offsets = Vec::new();
    while offsets.len() < 1000 {
        offsets.extend(rt.block_on(consumer.poll()).unwrap().into_iter().map(|r| r.offset));
    }
    assert_eq!(offsets, (0..1000).collect::<Vec<_>>());
}

/// A waker that panics does not stop the consumer's worker thread: later polls still work.
#[test]
fn a_panicking_waker_does_not_stop_the_async_consumer() {
    struct Panics;
    impl std::task::Wake for Panics {
        fn wake(self: std::sync::Arc<Self>) {
            panic!("executor bug");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    thousand_records(&log);
    let mut consumer = Consumer::new(&log, group_config(false)).unwrap();
    consumer.subscribe(&["t"]).unwrap();
    let mut consumer = AsyncConsumer::new(consumer);
    {
        let waker = std::task::Waker::from(std::sync::Arc::new(Panics));
        let mut cx = std::task::Context::from_waker(&waker);
        let mut future = consumer.poll();
        let _ = std::future::Future::poll(Pin::new(&mut future), &mut cx); // its job wakes the panicking waker
        std::thread::sleep(Duration::from_millis(200));
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let records = rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), consumer.poll()).await });
    assert!(!records.expect("the consumer still answers").unwrap().is_empty());
}

/// Async members of one group, joining and leaving while a producer writes, on one
/// multi-threaded runtime: every record is received (at least once), and no member stalls
/// (each poll is bounded by a timeout here, so a lost wake-up shows as records never arriving).
#[test]
fn async_members_under_churn_receive_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let topic = log.create_topic("t", 4, TopicConfig::default()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().unwrap();
    const TOTAL: u32 = 4_000;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    rt.block_on(async {
        let producer = {
            let topic = topic.clone();
            tokio::spawn(async move {
                for i in 0..TOTAL {
                    let value = i.to_be_bytes();
                    topic.partition(i % 4).unwrap().append(&[Record::new(&value)]).unwrap();
                    if i % 200 == 0 {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            })
        };
        let mut members = Vec::new();
        for m in 0..3u64 {
            let (log, seen) = (log.clone(), seen.clone());
            members.push(tokio::spawn(async move {
                // Each member comes and goes: a few short lives, then one until the end.
                for life in 0..3 {
                    let config = group_config(true).set("auto.commit.interval.ms", "50").unwrap();
                    let mut consumer = Consumer::new(&log, config).unwrap();
                    consumer.subscribe(&["t"]).unwrap();
                    let mut consumer = AsyncConsumer::new(consumer);
                    let until = tokio::time::Instant::now() + Duration::from_millis(150 * (m + 1) + 100 * life);
                    let last = life == 2;
                    loop {
                        if !last && tokio::time::Instant::now() > until {
                            break;
                        }
                        if last && seen.lock().unwrap().len() == TOTAL as usize {
                            break;
                        }
                        // Nothing for 200 ms: look again.
                        if let Ok(r) = tokio::time::timeout(Duration::from_millis(200), consumer.recv()).await {
                            let r = r.unwrap();
                            seen.lock().unwrap().insert(u32::from_be_bytes(r.value.unwrap().try_into().unwrap()));
                        }
                    }
                    drop(consumer); // auto-commit of what was received, then leave
                }
            }));
        }
        producer.await.unwrap();
        for m in members {
            tokio::time::timeout(Duration::from_secs(60), m).await.expect("every record arrives").unwrap();
        }
    });
    assert_eq!(seen.lock().unwrap().len(), TOTAL as usize);
}
