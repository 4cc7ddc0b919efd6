//! The async consumer (the `async` feature): `poll` as a future and records as a `Stream`, for
//! any executor. Waiting is the consumer's [`AppendSignal`] with the task's waker registered:
//! an append to any assigned partition, a group change, a `wakeup`, or a group timer (fired by
//! one process-wide timer thread) wakes the task; nothing polls.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::consumer::{Consumer, ConsumerRecord};
use super::timer;
use crate::error::Result;

/// A [`Consumer`] for async code (rust-rdkafka's `StreamConsumer`): [`poll`](Self::poll) is a
/// future, [`stream`](Self::stream) yields records one by one. Runtime-agnostic.
///
/// While a poll is pending the consumer counts as polling for `max.poll.interval.ms`, as a
/// blocked `Consumer::poll` does; between polls, as in Kafka, the time the application takes
/// counts against it.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{AsyncConsumer, Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
/// let mut consumer = AsyncConsumer::new(Consumer::new(&log, ConsumerConfig::default())?);
/// consumer.consumer().assign(&[TopicPartition::new("t", 0)])?;
/// let writer = std::thread::spawn(move || {
///     std::thread::sleep(std::time::Duration::from_millis(20));
///     p.append(&[Record::new(b"hello")])
/// });
/// // Any executor; a minimal one here.
/// let records = futures_executor_block_on(consumer.poll())?;
/// assert_eq!(records[0].value.as_deref(), Some(&b"hello"[..]));
/// writer.join().unwrap()?;
/// # fn futures_executor_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     use std::task::{Context, Poll, Wake, Waker};
/// #     struct Unpark(std::thread::Thread);
/// #     impl Wake for Unpark { fn wake(self: std::sync::Arc<Self>) { self.0.unpark() } }
/// #     let waker = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
/// #     let mut f = std::pin::pin!(f);
/// #     loop {
/// #         if let Poll::Ready(v) = f.as_mut().poll(&mut Context::from_waker(&waker)) { return v }
/// #         std::thread::park();
/// #     }
/// # }
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug)]
pub struct AsyncConsumer {
    consumer: Consumer,
}

impl AsyncConsumer {
    /// Wraps `consumer`.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{AsyncConsumer, Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a")])?;
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("auto.offset.reset", "earliest")?)?;
    /// consumer.assign(&[TopicPartition::new("t", 0)])?;
    /// let mut consumer = AsyncConsumer::new(consumer);
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap(); // or any executor
    /// let records = rt.block_on(consumer.poll())?;
    /// assert_eq!(records[0].value.as_deref(), Some(&b"a"[..]));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn new(consumer: Consumer) -> AsyncConsumer {
        AsyncConsumer { consumer }
    }

    /// The consumer: subscribe, assign, commit, seek, close.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{AsyncConsumer, Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b")])?;
    /// let mut consumer = AsyncConsumer::new(Consumer::new(&log, ConsumerConfig::default())?);
    /// let tp = TopicPartition::new("t", 0);
    /// consumer.consumer().assign(&[tp.clone()])?;
    /// consumer.consumer().seek(&tp, 1)?;
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// assert_eq!(rt.block_on(consumer.poll())?[0].value.as_deref(), Some(&b"b"[..]));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn consumer(&mut self) -> &mut Consumer {
        &mut self.consumer
    }

    /// The consumer, unwrapped. Records fetched but not yet yielded stay with it: its
    /// position is the next record the application gets, as for every consumer.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{AsyncConsumer, Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b")])?;
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("auto.offset.reset", "earliest")?)?;
    /// let tp = TopicPartition::new("t", 0);
    /// consumer.assign(&[tp.clone()])?;
    /// let mut consumer = AsyncConsumer::new(consumer);
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// assert_eq!(rt.block_on(consumer.recv())?.offset, 0);
    /// let mut consumer = consumer.into_inner();
    /// assert_eq!(consumer.position(&tp)?, 1); // "b" was not handed out: it comes next
    /// assert_eq!(consumer.poll(std::time::Duration::ZERO)?[0].value.as_deref(), Some(&b"b"[..]));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn into_inner(self) -> Consumer {
        self.consumer
    }

    /// Resolves to the next records (at most `max.poll.records`, at least one), as
    /// `Consumer::poll` returns them, or an error.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{AsyncConsumer, Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b"), Record::new(b"c")])?;
    /// let config = ConsumerConfig::default().set("auto.offset.reset", "earliest")?.set("max.poll.records", "2")?;
    /// let mut consumer = Consumer::new(&log, config)?;
    /// consumer.assign(&[TopicPartition::new("t", 0)])?;
    /// let mut consumer = AsyncConsumer::new(consumer);
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// assert_eq!(rt.block_on(consumer.poll())?.len(), 2); // max.poll.records
    /// assert_eq!(rt.block_on(consumer.poll())?[0].offset, 2);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn poll(&mut self) -> PollFuture<'_> {
        let max_records = self.consumer.config().max_poll_records;
        PollFuture { consumer: &mut self.consumer, pending: Pending::default(), max_records }
    }

    /// The records one by one, as a `futures_core::Stream` of `Result<ConsumerRecord>`; never
    /// ends by itself. (`partlog::futures_core` is the `futures-core` it implements.)
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::pin::Pin;
    /// use partlog::futures_core::Stream;
    /// use partlog::{AsyncConsumer, Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b"), Record::new(b"c")])?;
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("auto.offset.reset", "earliest")?)?;
    /// consumer.assign(&[TopicPartition::new("t", 0)])?;
    /// let mut consumer = AsyncConsumer::new(consumer);
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let offsets = rt.block_on(async {
    ///     let mut stream = consumer.stream();
    ///     let mut offsets = Vec::new();
    ///     while offsets.len() < 3 {
    ///         let next = std::future::poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await;
    ///         offsets.push(next.expect("never ends")?.offset);
    ///     }
    ///     Ok::<_, partlog::Error>(offsets)
    /// })?;
    /// assert_eq!(offsets, [0, 1, 2]); // one record at a time
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn stream(&mut self) -> RecordStream<'_> {
        RecordStream { inner: self, pending: Pending::default() }
    }

    /// The next record (rust-rdkafka's `StreamConsumer::recv`), without a `Stream` adapter.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{AsyncConsumer, Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b")])?;
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("auto.offset.reset", "earliest")?)?;
    /// consumer.assign(&[TopicPartition::new("t", 0)])?;
    /// let mut consumer = AsyncConsumer::new(consumer);
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let first = rt.block_on(consumer.recv())?;
    /// assert_eq!((first.offset, first.value.as_deref()), (0, Some(&b"a"[..])));
    /// assert_eq!(rt.block_on(consumer.recv())?.offset, 1);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub async fn recv(&mut self) -> Result<ConsumerRecord> {
        let mut stream = self.stream();
        std::future::poll_fn(|cx| {
            futures_core::Stream::poll_next(Pin::new(&mut stream), cx).map(|r| r.expect("the stream never ends"))
        })
        .await
    }
}

/// A pending poll's state: counted as polling (`max.poll.interval.ms`), and the group deadline
/// the timer thread will wake it at.
#[derive(Debug, Default)]
struct Pending {
    polling: bool,
    armed: Option<std::time::Instant>,
}

/// Polls `consumer` once without blocking; registers the task first, so that nothing arriving
/// after the look is missed.
fn poll_once(
    consumer: &mut Consumer,
    pending: &mut Pending,
    max_records: usize,
    cx: &mut Context<'_>,
) -> Poll<Result<Vec<ConsumerRecord>>> {
    let (signal, _) = consumer.wake_parts();
    signal.register_waker(cx.waker());
    let outcome = consumer.poll_now(max_records);
    let (_, liveness) = consumer.wake_parts();
    match outcome {
        Ok((records, next_check)) if records.is_empty() => {
            if !pending.polling {
                liveness.enter_poll();
                pending.polling = true;
            }
            // One timer entry per deadline, not one per wake-up.
            if let Some(at) = next_check.filter(|at| pending.armed != Some(*at)) {
                let (signal, _) = consumer.wake_parts();
                timer::fire_at(at, signal);
                pending.armed = Some(at);
            }
            Poll::Pending
        }
        other => {
            if pending.polling {
                liveness.leave_poll();
                pending.polling = false;
            }
            Poll::Ready(other.map(|(records, _)| records))
        }
    }
}

/// The future of [`AsyncConsumer::poll`].
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::future::Future;
/// use std::pin::Pin;
/// use std::task::{Context, Poll, Waker};
/// use partlog::{AsyncConsumer, Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
/// let mut consumer = AsyncConsumer::new(Consumer::new(&log, ConsumerConfig::default())?);
/// consumer.consumer().assign(&[TopicPartition::new("t", 0)])?;
/// let mut future = consumer.poll();
/// let mut cx = Context::from_waker(Waker::noop());
/// assert!(Pin::new(&mut future).poll(&mut cx).is_pending()); // nothing to read yet
/// p.append(&[Record::new(b"a")])?; // (would wake the task)
/// let Poll::Ready(records) = Pin::new(&mut future).poll(&mut cx) else { panic!("the record is there") };
/// assert_eq!(records?[0].value.as_deref(), Some(&b"a"[..]));
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct PollFuture<'a> {
    consumer: &'a mut Consumer,
    pending: Pending,
    max_records: usize,
}

impl Future for PollFuture<'_> {
    type Output = Result<Vec<ConsumerRecord>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        poll_once(this.consumer, &mut this.pending, this.max_records, cx)
    }
}

impl Drop for PollFuture<'_> {
    fn drop(&mut self) {
        if self.pending.polling {
            self.consumer.wake_parts().1.leave_poll();
        }
    }
}

/// The stream of [`AsyncConsumer::stream`].
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::pin::Pin;
/// use std::task::{Context, Poll, Waker};
/// use partlog::futures_core::Stream;
/// use partlog::{AsyncConsumer, Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
/// let mut consumer = AsyncConsumer::new(Consumer::new(&log, ConsumerConfig::default())?);
/// consumer.consumer().assign(&[TopicPartition::new("t", 0)])?;
/// let mut stream = consumer.stream();
/// let mut cx = Context::from_waker(Waker::noop());
/// assert!(Pin::new(&mut stream).poll_next(&mut cx).is_pending()); // nothing to read yet
/// p.append(&[Record::new(b"a")])?;
/// let Poll::Ready(Some(record)) = Pin::new(&mut stream).poll_next(&mut cx) else { panic!("the record is there") };
/// assert_eq!(record?.value.as_deref(), Some(&b"a"[..]));
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct RecordStream<'a> {
    inner: &'a mut AsyncConsumer,
    pending: Pending,
}

impl futures_core::Stream for RecordStream<'_> {
    type Item = Result<ConsumerRecord>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        // One record at a time: the rest stay in the consumer's fetch buffer, not yet handed
        // out, so a commit never covers them.
        match poll_once(&mut this.inner.consumer, &mut this.pending, 1, cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok(mut records)) => Poll::Ready(records.pop().map(Ok)),
        }
    }
}

impl Drop for RecordStream<'_> {
    fn drop(&mut self) {
        if self.pending.polling {
            self.inner.consumer.wake_parts().1.leave_poll();
        }
    }
}
