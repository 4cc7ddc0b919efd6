//! Kafka's `RecordAccumulator`, in-process: one queue per partition, each with its open batch,
//! encoded into by the thread that sends (no global lock, no hand-off), and the batches closed
//! behind it. A closed batch is appended by whichever thread finds its queue with no appender: the
//! thread that filled it, a `flush`, a sender blocked on `buffer.memory`, or the producer's own
//! thread when `linger.ms` runs out. One appender per queue at a time keeps a partition's batches
//! in send order; a batch's completion is the one its futures share.
//!
//! `buffer.memory` is counted in credit taken per batch (`batch.size` at a time, less when the
//! buffer is small), so that sending threads do not meet on a shared counter per record; a
//! sender that finds it spent waits its turn (first come, first served) and meanwhile closes and
//! appends what lingers, which is what frees memory.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::delivery::{BatchCompletion, BatchOutcome, Callback, CallbackJob, RunResult};
use super::Shared;
use crate::config::TopicConfig;
use crate::error::Error;
use crate::format::batch::TimestampType;
use crate::format::builder::BatchBuilder;
use crate::format::record::Record;
use crate::log::topic::Topic;
use crate::partition::Partition;

/// A batch's bytes besides its records (its 61-byte header).
pub(super) const BATCH_OVERHEAD: usize = 61;

/// Buffers a queue keeps for its next batches.
const RECYCLED_BUFFERS: usize = 2;

/// Kafka's estimate of a record's bytes in a batch (`DefaultRecord.sizeInBytes` upper bound):
/// what `batch.size` and `buffer.memory` count.
pub(super) fn record_size(record: &Record<'_>) -> usize {
    let headers: usize = record.headers.iter().map(|h| h.key.len() + h.value.map_or(0, <[u8]>::len) + 10).sum();
    21 + record.key.map_or(0, <[u8]>::len) + record.value.map_or(0, <[u8]>::len) + headers
}

/// Bytes of records per batch for a partition whose config is `topic`: `batch.size`, within what
/// the partition accepts as one batch.
fn batch_limit(batch_size: usize, topic: &TopicConfig) -> usize {
    let topic_limit = (topic.max_message_bytes.min(topic.segment_bytes) as usize).saturating_sub(BATCH_OVERHEAD);
    batch_size.min(topic_limit).max(1)
}

/// `buffer.memory`: credit taken by batches, and the senders waiting for it, in turn.
pub(super) struct Memory {
    limit: usize,
    used: AtomicUsize,
    /// Senders waiting: while any waits, no one takes credit ahead of it.
    waiting: AtomicUsize,
    turns: Mutex<Turns>,
    freed: Condvar,
}

/// The senders waiting for credit, first come first served.
#[derive(Default)]
struct Turns {
    next: u64,
    line: VecDeque<u64>,
}

impl Memory {
    pub(super) fn new(limit: usize) -> Self {
        Memory {
            limit,
            used: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            turns: Mutex::new(Turns::default()),
            freed: Condvar::new(),
        }
    }

    /// Takes `bytes` of credit if they are free and no one waits for them.
    fn try_take(&self, bytes: usize) -> bool {
        if self.waiting.load(Ordering::Acquire) > 0 {
            return false;
        }
        self.take_now(bytes)
    }

    fn take_now(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.limit)
            })
            .is_ok()
    }

    /// Takes `bytes` of credit, in turn, until `deadline`; calls `help` before each wait.
    pub(super) fn take(&self, bytes: usize, deadline: Option<Instant>, help: impl Fn()) -> bool {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let mut turns = self.turns.lock();
        let mine = turns.next;
        turns.next += 1;
        turns.line.push_back(mine);
        let taken = loop {
            if turns.line.front() == Some(&mine) && self.take_now(bytes) {
                break true;
            }
            drop(turns);
            help();
            turns = self.turns.lock();
            if turns.line.front() == Some(&mine) && self.take_now(bytes) {
                break true;
            }
            let timed_out = match deadline {
                // Help again now and then: what lingers may be all that holds the memory.
                Some(d) => self.freed.wait_until(&mut turns, d.min(Instant::now() + Duration::from_millis(10))),
                None => self.freed.wait_for(&mut turns, Duration::from_millis(10)),
            }
            .timed_out();
            if timed_out && deadline.is_some_and(|d| d <= Instant::now()) {
                break false;
            }
        };
        // Served, or gave up: either way out of the line, and the next one's turn.
        turns.line.retain(|&t| t != mine);
        drop(turns);
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        self.freed.notify_all();
        taken
    }

    pub(super) fn release(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        self.used.fetch_sub(bytes, Ordering::AcqRel);
        if self.waiting.load(Ordering::Acquire) > 0 {
            let _turns = self.turns.lock();
            self.freed.notify_all();
        }
    }
}

/// A topic's queues, as the producer resolved it. It is looked up again when the log's topics
/// changed since (`Log::topics_version`): a partition's queue is kept as long as the partition
/// is the same, so that each partition has one queue; a topic with other partitions (grown, or
/// deleted and created again) gets new queues, which those holding the old ones follow
/// ([`current`](Self::current)).
pub(super) struct TopicQueues {
    pub(super) topic: Topic,
    pub(super) queues: Vec<Arc<PartitionQueue>>,
    /// The log's topics version this was checked against.
    version: AtomicU64,
    /// What replaced it, once the topic's partitions changed.
    successor: std::sync::OnceLock<Arc<TopicQueues>>,
    /// The sticky partition for null keys (KIP-794) in the high 32 bits, and the bytes sent to
    /// it in the low 32: it moves on, at random, once `batch.size` bytes went there.
    sticky: AtomicU64,
}

impl TopicQueues {
    /// Queues for `topic` as of the log's topics `version`, reusing those of `earlier` for the
    /// partitions it still has.
    pub(super) fn new(topic: Topic, version: u64, earlier: Option<&TopicQueues>) -> Self {
        let name: Arc<str> = Arc::from(topic.name());
        let queues = topic
            .partitions()
            .iter()
            .map(|p| {
                let kept = earlier.and_then(|e| e.queues.iter().find(|q| q.partition.same_as(p)));
                kept.cloned().unwrap_or_else(|| {
                    Arc::new(PartitionQueue {
                        partition: p.clone(),
                        topic: name.clone(),
                        state: Mutex::new(QueueState::default()),
                    })
                })
            })
            .collect();
        let sticky = AtomicU64::new((random_below(topic.partition_count()) as u64) << 32);
        TopicQueues { topic, queues, version: AtomicU64::new(version), successor: Default::default(), sticky }
    }

    /// Whether it has exactly `topic`'s partitions.
    pub(super) fn same_partitions(&self, topic: &Topic) -> bool {
        self.queues.len() == topic.partitions().len()
            && self.queues.iter().zip(topic.partitions()).all(|(q, p)| q.partition.same_as(p))
    }

    /// Whether it was checked against the log's topics `version`.
    pub(super) fn is_current(&self, version: u64) -> bool {
        self.version.load(Ordering::Acquire) == version
    }

    /// Whether it was checked against a version of the log's topics later than `version`.
    pub(super) fn checked_after(&self, version: u64) -> bool {
        self.version.load(Ordering::Acquire) > version
    }

    /// Checked again: still right as of `version`.
    pub(super) fn confirm(&self, version: u64) {
        self.version.fetch_max(version, Ordering::AcqRel);
    }

    /// Replaced by `next`.
    pub(super) fn replace_with(&self, next: Arc<TopicQueues>) {
        let _ = self.successor.set(next);
    }

    /// The latest queues of the topic: this, or what replaced it.
    pub(super) fn current(self: &Arc<Self>) -> &Arc<TopicQueues> {
        let mut current = self;
        while let Some(next) = current.successor.get() {
            current = next;
        }
        current
    }

    pub(super) fn sticky_partition(&self) -> u32 {
        ((self.sticky.load(Ordering::Relaxed) >> 32) as u32) % (self.queues.len() as u32).max(1)
    }

    /// Counts `bytes` sent to the sticky partition `partition`; after `batch_size` of them, null
    /// keys go to another partition, drawn at random.
    pub(super) fn sent_sticky(&self, partition: u32, bytes: usize, batch_size: usize) {
        let _ = self.sticky.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |current| {
            if (current >> 32) as u32 != partition {
                return None; // moved on already
            }
            let sent = (current & u32::MAX as u64) as usize + bytes;
            Some(match sent >= batch_size.min(u32::MAX as usize) {
                true => (random_below(self.queues.len() as u32) as u64) << 32,
                false => (partition as u64) << 32 | sent as u64,
            })
        });
    }
}

/// A number below `n` (> 0), from a per-thread xorshift64*.
fn random_below(n: u32) -> u32 {
    thread_local! {
        static RNG: std::cell::Cell<u64> = std::cell::Cell::new(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1,
        );
    }
    RNG.with(|rng| {
        let mut x = rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        rng.set(x);
        ((x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as u32) % n.max(1)
    })
}

/// The batches of one partition: the open one, then the closed ones waiting for their append.
pub(super) struct PartitionQueue {
    pub(super) partition: Partition,
    pub(super) topic: Arc<str>,
    state: Mutex<QueueState>,
}

#[derive(Default)]
struct QueueState {
    open: Option<OpenBatch>,
    /// Closed batches, in send order.
    ready: VecDeque<OpenBatch>,
    /// A thread is appending this queue's batches: only it appends them, in order.
    appending: bool,
    /// The number of the next batch opened.
    next_id: u64,
    /// Batches numbered below this have their outcomes (they complete in order).
    done_below: u64,
    /// Buffers of appended batches, for the next ones.
    buffers: Vec<Vec<u8>>,
}

impl QueueState {
    /// Closes the open batch (it goes behind the closed ones) if it has records.
    fn close_open(&mut self) {
        if let Some(open) = self.open.take() {
            self.ready.push_back(open);
        }
    }

    /// Claims the appending of the queue if there is something to append and no one appends.
    fn claim(&mut self) -> bool {
        let claim = !self.appending && !self.ready.is_empty();
        self.appending |= claim;
        claim
    }
}

/// A batch being filled or waiting for its append.
pub(super) struct OpenBatch {
    id: u64,
    builder: BatchBuilder,
    /// Estimated bytes of its records: what `batch.size` counts.
    bytes: usize,
    /// `buffer.memory` credit it holds.
    credit: usize,
    /// Bytes of records it takes at most (`batch.size` within the topic's limits when it opened).
    limit: usize,
    /// The topic's config when it opened: what its records are checked against.
    config: Arc<TopicConfig>,
    /// Its append may fsync (the topic has `flush.messages` or `flush.ms`): it is appended by the
    /// producer's thread, so that a `send` does not wait for the disk.
    fsyncs: bool,
    completion: Arc<BatchCompletion>,
    callbacks: Vec<(u32, Callback)>,
    timestamps: Vec<i64>,
    opened: Instant,
}

impl Drop for OpenBatch {
    /// A batch dropped without its outcome (a bug unwound the thread that held it) fails, so
    /// that no future waits forever; its callbacks run here.
    fn drop(&mut self) {
        if self.completion.outcome().is_some() || self.builder.record_count() == 0 {
            return;
        }
        let error = Arc::new(Error::Closed {
            what: "producer (a thread stopped while appending the batch: read the partition to see whether it was)"
                .into(),
        });
        let count = self.builder.record_count() as u32;
        let outcome =
            BatchOutcome::failed(count, error, std::mem::take(&mut self.timestamps), std::mem::take(&mut self.builder));
        self.completion.complete(Arc::new(outcome));
        let callbacks = std::mem::take(&mut self.callbacks);
        CallbackJob { completion: self.completion.clone(), callbacks }.run();
    }
}

/// A record on its way into a queue.
pub(super) struct Send<'a> {
    pub(super) record: &'a Record<'a>,
    pub(super) timestamp: i64,
    pub(super) size: usize,
    pub(super) callback: Option<Callback>,
}

/// Adds a record to the open batch of `topic`'s partition `partition` (opening one if there is
/// none or it is full), and appends closed batches if no thread is appending them. Returns the
/// record's batch and index, or why it was refused (the record alone).
pub(super) fn add(
    shared: &Arc<Shared>,
    topic: &TopicQueues,
    partition: u32,
    send: Send<'_>,
) -> std::result::Result<(Arc<BatchCompletion>, u32), (Error, Option<Callback>)> {
    let queue = &topic.queues[partition as usize];
    let config = &shared.config;
    let size = send.size;
    let chunk = config.batch_size.min(config.buffer_memory / 8).max(1);
    // Credit this thread waited for, for the batch that takes the record.
    let mut carried = 0usize;
    let mut opened = None;
    let mut st = queue.state.lock();
    let credit = loop {
        if let Some(open) = &st.open {
            if open.bytes + size > open.limit && open.builder.record_count() > 0 {
                st.close_open();
                continue;
            }
            if let Err(error) = check_record(send.record, size, config, &open.config) {
                shared.memory.release(carried);
                return Err((error, send.callback));
            }
            let need = (open.bytes + size).saturating_sub(open.credit);
            if need <= carried {
                break carried;
            }
            let need = need - carried;
            let want = need.max(chunk.min(open.limit.saturating_sub(open.credit + carried)));
            if shared.memory.try_take(want) {
                break carried + want;
            }
            if want != need && shared.memory.try_take(need) {
                break carried + need;
            }
        } else {
            let topic_config = queue.partition.config();
            if let Err(error) = check_record(send.record, size, config, &topic_config) {
                shared.memory.release(carried);
                return Err((error, send.callback));
            }
            let limit = batch_limit(config.batch_size, &topic_config);
            let need = size.saturating_sub(carried);
            let want = need.max(chunk.min(limit.saturating_sub(carried)));
            let taken = if need == 0 {
                Some(0)
            } else if shared.memory.try_take(want) {
                Some(want)
            } else if want != need && shared.memory.try_take(need) {
                Some(need)
            } else {
                None
            };
            if let Some(taken) = taken {
                let now = Instant::now();
                open_batch(shared, queue, &mut st, topic_config, limit, now);
                opened = Some(now);
                break carried + taken;
            }
        }
        // No credit free: wait in turn, outside the queue's lock, appending what lingers.
        drop(st);
        let need = size.saturating_sub(carried);
        if let Err(error) = shared.wait_for_memory(need) {
            shared.memory.release(carried);
            return Err((error, send.callback));
        }
        carried += need;
        st = queue.state.lock();
    };
    let open = st.open.as_mut().expect("a batch is open");
    open.credit += credit;
    if let Err(reason) = open.builder.push(send.record, send.timestamp) {
        return Err((Error::InvalidRecord { index: 0, reason }, send.callback));
    }
    let index = open.builder.record_count() as u32 - 1;
    open.bytes += size;
    open.timestamps.push(send.timestamp);
    if let Some(callback) = send.callback {
        open.callbacks.push((index, callback));
    }
    let completion = open.completion.clone();
    let fsyncs = open.fsyncs;
    let full = open.bytes >= open.limit;
    // With linger.ms 0 a batch goes at once, unless a thread is appending: then it gathers what
    // comes meanwhile, and that thread takes it next (Kafka batches behind in-flight requests).
    if full || (config.linger_ms == 0 && !st.appending) {
        st.close_open();
    }
    let claimed = !fsyncs && st.claim();
    let closed = !st.ready.is_empty();
    drop(st);
    if claimed {
        drain(shared, queue);
    } else if shared.closed.load(Ordering::SeqCst) {
        // Closed while this send waited: the producer's thread may have looked for the last
        // time before this batch opened, so it goes now.
        push_all(shared, queue);
    } else if fsyncs && closed {
        shared.wake_sender_by(Instant::now());
    } else if let Some(at) = opened.and_then(|t| t.checked_add(Duration::from_millis(config.linger_ms))) {
        shared.wake_sender_by(at);
    }
    Ok((completion, index))
}

/// Opens a new batch in `queue`.
fn open_batch(
    shared: &Arc<Shared>,
    queue: &Arc<PartitionQueue>,
    st: &mut QueueState,
    config: Arc<TopicConfig>,
    limit: usize,
    now: Instant,
) {
    let id = st.next_id;
    st.next_id += 1;
    let buffer = st.buffers.pop().unwrap_or_default();
    let timeout = Duration::from_millis(shared.config.delivery_timeout_ms);
    let completion = Arc::new(BatchCompletion::new(queue, Arc::downgrade(shared), id, now, timeout));
    st.open = Some(OpenBatch {
        id,
        builder: BatchBuilder::with_buffer(buffer),
        bytes: 0,
        credit: 0,
        limit,
        fsyncs: config.flush_messages != i64::MAX || config.flush_ms != i64::MAX,
        config,
        completion,
        callbacks: Vec::new(),
        timestamps: Vec::new(),
        opened: now,
    });
}

/// Refuses, for this record alone, what the partition would refuse (in a batch with others it
/// would fail them all) and what could never fit the producer's limits.
pub(super) fn check_record(
    record: &Record<'_>,
    size: usize,
    config: &super::ProducerConfig,
    topic: &TopicConfig,
) -> crate::Result<()> {
    // The topic's limit is on the batch: this record alone, with a batch header.
    let limits = [
        (size, config.max_request_size, "max.request.size"),
        (size, config.buffer_memory, "buffer.memory"),
        (size + BATCH_OVERHEAD, topic.max_message_bytes as usize, "max.message.bytes"),
    ];
    if let Some(&(size, limit, setting)) = limits.iter().find(|(size, limit, _)| size > limit) {
        return Err(Error::BatchTooLarge { size: size as u64, limit: limit as u64, setting });
    }
    if record.timestamp.is_some_and(|t| t < 0) {
        return Err(Error::InvalidRecord { index: 0, reason: "a record's timestamp must not be negative" });
    }
    if topic.cleanup_policy.compacts() && record.key.is_none() {
        return Err(Error::InvalidRecord { index: 0, reason: "compacted topics reject records without a key" });
    }
    Ok(())
}

/// Appends the queue's closed batches, in order, until none is left (with `linger.ms` 0, also
/// what joined the open batch meanwhile). The caller claimed the queue ([`QueueState::claim`]).
pub(super) fn drain(shared: &Shared, queue: &PartitionQueue) {
    /// Gives the claim up if an append unwinds (a bug), so that the queue is not stuck.
    struct Claim<'a>(&'a PartitionQueue);
    impl Drop for Claim<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                self.0.state.lock().appending = false;
            }
        }
    }
    let _claim = Claim(queue);
    let mut st = queue.state.lock();
    // What is closed now, and then what joined meanwhile with linger.ms 0: a thread that keeps
    // finding more hands the queue on rather than append for others forever.
    let mut budget = st.ready.len() + 1;
    loop {
        if st.ready.is_empty() && shared.config.linger_ms == 0 {
            st.close_open();
        }
        // Handed on only to a producer's thread that will take it: once the producer closes,
        // that thread may be gone, and what is closed here is appended (or failed) here.
        if budget == 0 && !st.ready.is_empty() && !shared.closed.load(Ordering::SeqCst) {
            st.appending = false;
            drop(st);
            shared.wake_sender_by(Instant::now());
            return;
        }
        budget = budget.saturating_sub(1);
        let Some(batch) = st.ready.pop_front() else {
            st.appending = false;
            return;
        };
        drop(st);
        let id = batch.id;
        // Its append starts now: only a batch whose futures already heard its timeout fails.
        let failed = batch.completion.outcome().is_some();
        let builder = if let Some(error) = shared.stopped() {
            fail(shared, batch, error)
        } else if failed {
            fail(shared, batch, timeout_error(shared, queue))
        } else {
            // A panic in the append (a bug) fails the batch as it unwinds (`OpenBatch`'s drop)
            // and closes the producer, instead of taking the sending thread down.
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| append(shared, queue, batch))) {
                Ok(builder) => builder,
                Err(panic) => {
                    shared.stop_after_panic(super::panic_message(&*panic));
                    BatchBuilder::default()
                }
            }
        };
        st = queue.state.lock();
        st.done_below = id + 1;
        if st.buffers.len() < RECYCLED_BUFFERS && builder.record_count() > 0 {
            st.buffers.push(builder.into_buffers().0);
        }
        shared.batches_done();
    }
}

fn timeout_error(shared: &Shared, queue: &PartitionQueue) -> Error {
    Error::DeliveryTimeout {
        partition: format!("{}-{}", queue.topic, queue.partition.id()),
        timeout_ms: shared.config.delivery_timeout_ms,
    }
}

/// Appends one batch (split in halves while the partition refuses it as too large, so that only
/// a record too large on its own fails) and completes it. Returns its builder, to reuse.
fn append(shared: &Shared, queue: &PartitionQueue, mut batch: OpenBatch) -> BatchBuilder {
    let runs = append_runs(&queue.partition, &mut batch.builder);
    let log_append_time = queue.partition.config().message_timestamp_type == TimestampType::LogAppendTime;
    let failed = runs.iter().any(|(_, r)| r.is_err());
    let builder = std::mem::take(&mut batch.builder);
    let (records, reuse) = if failed { (Some(builder), BatchBuilder::default()) } else { (None, builder) };
    let outcome = BatchOutcome { runs, timestamps: std::mem::take(&mut batch.timestamps), log_append_time, records };
    complete(shared, batch, outcome);
    reuse
}

/// Fails a whole batch with `error`, without appending it.
fn fail(shared: &Shared, mut batch: OpenBatch, error: Error) -> BatchBuilder {
    if batch.completion.outcome().is_some() {
        // Failed while it waited its turn: what is left is to finish it.
        finish(shared, batch);
        return BatchBuilder::default();
    }
    let count = batch.builder.record_count() as u32;
    let builder = std::mem::take(&mut batch.builder);
    let outcome = BatchOutcome::failed(count, Arc::new(error), std::mem::take(&mut batch.timestamps), builder);
    complete(shared, batch, outcome);
    BatchBuilder::default()
}

/// Hands a batch's outcome to its futures, queues its callbacks for the producer's thread, and
/// frees its memory.
fn complete(shared: &Shared, batch: OpenBatch, outcome: BatchOutcome) {
    batch.completion.complete(Arc::new(outcome));
    finish(shared, batch);
}

/// Queues a completed batch's callbacks for the producer's thread and frees its memory.
fn finish(shared: &Shared, mut batch: OpenBatch) {
    let callbacks = std::mem::take(&mut batch.callbacks);
    if !callbacks.is_empty() {
        shared.run_behind(CallbackJob { completion: batch.completion.clone(), callbacks });
    }
    shared.memory.release(batch.credit);
}

/// Appends `builder`'s records; a batch refused as too large is appended again in two halves
/// (Kafka's `splitAndReenqueue`), in order.
fn append_runs(partition: &Partition, builder: &mut BatchBuilder) -> Vec<(u32, RunResult)> {
    let count = builder.record_count() as u32;
    match partition.append_built(builder) {
        Ok(info) => vec![(count, Ok((info.first_offset, info.max_timestamp)))],
        Err(Error::BatchTooLarge { .. }) if count > 1 => {
            let mut halves = [BatchBuilder::default(), BatchBuilder::default()];
            let mut headers = Vec::new();
            for r in builder.records() {
                headers.clear();
                headers.extend(r.headers());
                let record = Record { key: r.key(), value: r.value(), timestamp: None, headers: &headers };
                let half = &mut halves[(r.offset() >= (count / 2) as u64) as usize];
                half.push(&record, r.timestamp()).expect("a record that was pushed once");
            }
            let [first, second] = &mut halves;
            let mut runs = append_runs(partition, first);
            let shift = first.record_count() as u32;
            runs.extend(append_runs(partition, second).into_iter().map(|(end, r)| (end + shift, r)));
            runs
        }
        Err(error) => vec![(count, Err(Arc::new(error)))],
    }
}

/// Closes `queue`'s open batch and appends what is closed, unless another thread is appending
/// (it appends them). Returns the number of the last batch that must complete for everything
/// sent so far to have its outcome.
pub(super) fn push_all(shared: &Shared, queue: &PartitionQueue) -> u64 {
    let mut st = queue.state.lock();
    st.close_open();
    let target = st.next_id;
    let claimed = st.claim();
    drop(st);
    if claimed {
        drain(shared, queue);
    }
    target
}

/// From the producer's own thread, waiting for batch `id`: closes it if it is still open, and
/// appends the queue's batches unless another thread is appending them.
pub(super) fn push_out(shared: &Shared, queue: &PartitionQueue, id: u64) {
    let mut st = queue.state.lock();
    if st.open.as_ref().is_some_and(|b| b.id <= id) {
        st.close_open();
    }
    let claimed = st.claim();
    drop(st);
    if claimed {
        drain(shared, queue);
    }
}

/// Whether the queue holds nothing and no thread is appending it.
pub(super) fn is_empty(queue: &PartitionQueue) -> bool {
    let st = queue.state.lock();
    st.open.is_none() && st.ready.is_empty() && !st.appending
}

/// Whether every batch numbered below `target` has its outcome.
pub(super) fn done(queue: &PartitionQueue, target: u64) -> bool {
    queue.state.lock().done_below >= target
}

/// Fails the batches of `queue` that waited `delivery.timeout.ms` by `now`, unless a thread is
/// appending the queue (it fails them in their turn: batches complete in order).
pub(super) fn expire(shared: &Shared, queue: &PartitionQueue, now: Instant) {
    let mut st = queue.state.lock();
    let due = |b: &OpenBatch| b.completion.deadline.is_some_and(|d| d <= now);
    if st.appending {
        // Batches complete in order: the appending thread finishes these in their turn (their
        // callbacks, their memory), but their futures hear the timeout now.
        if st.open.as_ref().is_some_and(due) {
            st.close_open();
        }
        let mut wake = Vec::new();
        for batch in st.ready.iter_mut().take_while(|b| due(b)) {
            if batch.completion.outcome().is_none() {
                let outcome = BatchOutcome::failed(
                    batch.builder.record_count() as u32,
                    Arc::new(timeout_error(shared, queue)),
                    std::mem::take(&mut batch.timestamps),
                    std::mem::take(&mut batch.builder),
                );
                wake.push(batch.completion.set(Arc::new(outcome)));
            }
        }
        drop(st);
        // Wakers run with no lock held: an executor's may poll at once.
        for wakers in wake {
            wakers.run();
        }
        return;
    }
    let mut expired = Vec::new();
    while st.ready.front().is_some_and(due) {
        expired.push(st.ready.pop_front().expect("a front"));
    }
    if st.ready.is_empty() && st.open.as_ref().is_some_and(due) {
        expired.extend(st.open.take());
    }
    let Some(last) = expired.last().map(|b| b.id) else { return };
    // Claimed while failing them, so that no append passes them.
    st.appending = true;
    drop(st);
    for batch in expired {
        fail(shared, batch, timeout_error(shared, queue));
    }
    let mut st = queue.state.lock();
    st.done_below = last + 1;
    st.appending = false;
    let claimed = st.claim();
    drop(st);
    shared.batches_done();
    if claimed {
        drain(shared, queue);
    }
}

/// What the producer's thread does with `queue` at `now`: appends a batch that lingered
/// `linger.ms` (or every batch, when `all`) and what is closed, unless another thread is
/// appending; then the futures of batches waiting behind that append past `delivery.timeout.ms`
/// hear so. Returns when to look again.
pub(super) fn tend(shared: &Shared, queue: &PartitionQueue, now: Instant, all: bool) -> Option<Instant> {
    let linger = Duration::from_millis(shared.config.linger_ms);
    let mut st = queue.state.lock();
    // A linger too long to represent never runs out.
    if all || st.open.as_ref().and_then(|b| b.opened.checked_add(linger)).is_some_and(|due| due <= now) {
        st.close_open();
    }
    let claimed = st.claim();
    if !claimed && st.appending {
        drop(st);
        expire(shared, queue, now);
        st = queue.state.lock();
    }
    let lingers_until = st.open.as_ref().and_then(|b| b.opened.checked_add(linger));
    // The first deadline still to come of a batch not failed yet (failed ones wait for the
    // appending thread to finish them: nothing to do here until then).
    let deadline = st
        .ready
        .iter()
        .chain(st.open.as_ref())
        .filter(|b| b.completion.outcome().is_none())
        .find_map(|b| b.completion.deadline)
        .filter(|&d| d > now);
    drop(st);
    if claimed {
        drain(shared, queue);
    }
    [lingers_until, deadline].into_iter().flatten().min()
}

/// Fails everything `queue` holds that no thread is appending (the producer closed, out of
/// time); `false` if a thread is appending it (what it holds is left to that thread).
pub(super) fn abort(shared: &Shared, queue: &PartitionQueue, error: &Arc<Error>) -> bool {
    let mut st = queue.state.lock();
    if st.appending {
        return false;
    }
    st.close_open();
    let left: Vec<OpenBatch> = st.ready.drain(..).collect();
    let Some(last) = left.last().map(|b| b.id) else { return true };
    st.appending = true;
    drop(st);
    for batch in left {
        fail(shared, batch, Error::Closed { what: format!("producer ({error})") });
    }
    let mut st = queue.state.lock();
    st.done_below = last + 1;
    st.appending = false;
    drop(st);
    shared.batches_done();
    true
}
