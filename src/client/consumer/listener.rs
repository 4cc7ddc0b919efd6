//! Rebalance callbacks (Kafka's `ConsumerRebalanceListener`): the [`RebalanceListener`] trait,
//! and how the consumer runs one.

use super::Consumer;
use crate::coordinator::types::TopicPartition;
use crate::error::{Error, Result};

/// Called on the consumer's thread, inside `poll` (or `close`, `unsubscribe`), when the group
/// moves partitions (Kafka's `ConsumerRebalanceListener`). The consumer is passed in, so that
/// a callback can commit (`commit_sync` in `on_partitions_revoked` is the usual pattern) or
/// seek; `poll` from a callback is refused.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use partlog::{Consumer, ConsumerConfig, Log, RebalanceListener, Record, TopicConfig, TopicPartition};
/// /// Commits its progress before partitions go; keeps a journal.
/// struct CommitOnRevoke(Arc<Mutex<Vec<String>>>);
/// impl RebalanceListener for CommitOnRevoke {
///     fn on_partitions_revoked(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) -> partlog::ListenerResult {
///         consumer.commit_sync().expect("still the owner");
///         self.0.lock().unwrap().push(format!("revoked {}", partitions.len()));
///         Ok(())
///     }
///     fn on_partitions_assigned(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) -> partlog::ListenerResult {
///         self.0.lock().unwrap().push(format!("assigned {}", partitions.len()));
///         Ok(())
///     }
/// }
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("orders", 1, TopicConfig::default())?.partition(0)?;
/// p.append(&[Record::new(b"a"), Record::new(b"b")])?;
/// let config = ConsumerConfig::default().set("group.id", "billing")?.set("auto.offset.reset", "earliest")?;
/// let mut consumer = Consumer::new(&log, config.set("enable.auto.commit", "false")?)?;
/// let journal = Arc::new(Mutex::new(Vec::new()));
/// consumer.subscribe_with_listener(&["orders"], CommitOnRevoke(journal.clone()))?;
/// assert_eq!(consumer.poll(Duration::from_millis(100))?.len(), 2);
/// consumer.unsubscribe()?; // leaves the group, revoking first
/// assert_eq!(*journal.lock().unwrap(), ["assigned 1", "revoked 1"]);
/// let committed = consumer.committed(&[TopicPartition::new("orders", 0)])?;
/// assert_eq!(committed[0].as_ref().map(|c| c.offset), Some(2)); // by the callback
/// # Ok::<(), partlog::Error>(())
/// ```
pub trait RebalanceListener: Send {
    /// Partitions are being taken away; the member still owns them, and may commit them.
    /// Eager protocols (range, roundrobin, sticky) revoke every partition at the start of each
    /// rebalance; cooperative-sticky only those that move.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use partlog::{Consumer, ConsumerConfig, Log, RebalanceListener, TopicConfig, TopicPartition};
    /// struct Revoked(Arc<Mutex<Vec<TopicPartition>>>);
    /// impl RebalanceListener for Revoked {
    ///     fn on_partitions_revoked(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) -> partlog::ListenerResult {
    ///         self.0.lock().unwrap().extend_from_slice(partitions);
    ///         Ok(())
    ///     }
    /// }
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 1, TopicConfig::default())?;
    /// log.create_topic("invoices", 1, TopicConfig::default())?;
    /// let config = ConsumerConfig::default().set("group.id", "billing")?;
    /// let mut consumer = Consumer::new(&log, config.set("partition.assignment.strategy", "range")?)?;
    /// let revoked = Arc::new(Mutex::new(Vec::new()));
    /// consumer.subscribe_with_listener(&["orders"], Revoked(revoked.clone()))?;
    /// consumer.poll(Duration::from_millis(10))?; // joins: nothing to revoke
    /// assert!(revoked.lock().unwrap().is_empty());
    /// consumer.subscribe(&["orders", "invoices"])?; // the listener stays
    /// consumer.poll(Duration::from_millis(10))?; // eager: everything is revoked before the rebalance
    /// assert_eq!(*revoked.lock().unwrap(), [TopicPartition::new("orders", 0)]);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    fn on_partitions_revoked(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) -> ListenerResult {
        let _ = (consumer, partitions);
        Ok(())
    }

    /// Partitions were given to this member (eager: all of them, every rebalance, even none;
    /// cooperative: the new ones only).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use partlog::{Consumer, ConsumerConfig, Log, RebalanceListener, TopicConfig, TopicPartition};
    /// struct Assigned(Arc<Mutex<Vec<Vec<TopicPartition>>>>);
    /// impl RebalanceListener for Assigned {
    ///     fn on_partitions_assigned(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) -> partlog::ListenerResult {
    ///         self.0.lock().unwrap().push(partitions.to_vec());
    ///         Ok(())
    ///     }
    /// }
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 1, TopicConfig::default())?;
    /// log.create_topic("invoices", 1, TopicConfig::default())?;
    /// let config = ConsumerConfig::default().set("group.id", "billing")?;
    /// let mut consumer = Consumer::new(&log, config.set("partition.assignment.strategy", "cooperative-sticky")?)?;
    /// let calls = Arc::new(Mutex::new(Vec::new()));
    /// consumer.subscribe_with_listener(&["orders"], Assigned(calls.clone()))?;
    /// consumer.poll(Duration::from_millis(10))?;
    /// consumer.subscribe(&["orders", "invoices"])?;
    /// consumer.poll(Duration::from_millis(10))?;
    /// let (orders, invoices) = (TopicPartition::new("orders", 0), TopicPartition::new("invoices", 0));
    /// assert_eq!(*calls.lock().unwrap(), [vec![orders], vec![invoices]]); // cooperative: only the new one
    /// # Ok::<(), partlog::Error>(())
    /// ```
    fn on_partitions_assigned(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) -> ListenerResult {
        let _ = (consumer, partitions);
        Ok(())
    }

    /// The member lost its partitions without a chance to revoke them (it was removed from the
    /// group, e.g. after `max.poll.interval.ms`): they may belong to another member already, so
    /// committing them is pointless. Calls `on_partitions_revoked` unless overridden.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use partlog::{Admin, Consumer, ConsumerConfig, Log, RebalanceListener, TopicConfig, TopicPartition};
    /// struct Lost(Arc<Mutex<Vec<TopicPartition>>>);
    /// impl RebalanceListener for Lost {
    ///     fn on_partitions_lost(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) -> partlog::ListenerResult {
    ///         self.0.lock().unwrap().extend_from_slice(partitions);
    ///         Ok(())
    ///     }
    /// }
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 1, TopicConfig::default())?;
    /// let config = ConsumerConfig::default().set("group.id", "billing")?.set("max.poll.interval.ms", "1")?;
    /// let mut consumer = Consumer::new(&log, config)?;
    /// let lost = Arc::new(Mutex::new(Vec::new()));
    /// consumer.subscribe_with_listener(&["orders"], Lost(lost.clone()))?;
    /// consumer.poll(Duration::from_millis(10))?;
    /// std::thread::sleep(Duration::from_millis(5)); // out of poll for longer than max.poll.interval.ms
    /// Admin::new(&log).describe_group("billing")?; // the group checks its timers: the member is removed
    /// consumer.poll(Duration::from_millis(10))?; // finds out, and joins again as a new member
    /// assert_eq!(*lost.lock().unwrap(), [TopicPartition::new("orders", 0)]);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    fn on_partitions_lost(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) -> ListenerResult {
        self.on_partitions_revoked(consumer, partitions)
    }
}

/// What a [`RebalanceListener`] callback returns: `Ok`, or an error that the call running it
/// (`poll`, `close`, `unsubscribe`) returns as [`Error::RebalanceCallback`] once the rebalance
/// has gone on (Kafka rethrows a callback's exception from `poll` the same way).
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::time::Duration;
/// use partlog::{Consumer, ConsumerConfig, Error, ListenerResult, Log, RebalanceListener, TopicConfig, TopicPartition};
/// struct Picky;
/// impl RebalanceListener for Picky {
///     fn on_partitions_assigned(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) -> ListenerResult {
///         if partitions.len() > 1 {
///             return Err(format!("cannot handle {} partitions", partitions.len()).into());
///         }
///         Ok(())
///     }
/// }
/// let log = Log::open(dir.path())?;
/// log.create_topic("orders", 2, TopicConfig::default())?;
/// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("group.id", "billing")?)?;
/// consumer.subscribe_with_listener(&["orders"], Picky)?;
/// match consumer.poll(Duration::from_millis(100)) {
///     Err(Error::RebalanceCallback { callback, reason, .. }) => {
///         assert_eq!((callback, reason.as_str()), ("on_partitions_assigned", "cannot handle 2 partitions"));
///     }
///     other => panic!("expected the listener's error, got {other:?}"),
/// }
/// assert_eq!(consumer.assignment().len(), 2); // the assignment stands; the next poll reads
/// assert!(consumer.poll(Duration::from_millis(10)).is_ok());
/// # Ok::<(), partlog::Error>(())
/// ```
pub type ListenerResult = std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;

impl Consumer {
    /// Runs a rebalance callback with the listener taken out, so that it can use the consumer.
    /// As Kafka's poll timer, `max.poll.interval.ms` runs while it does: a member stuck in a
    /// callback is removed from the group, and its partitions move on. An error or a panic of
    /// the callback is kept for the caller to return once its work is done (the first one).
    pub(super) fn callback(
        &mut self,
        name: &'static str,
        f: impl FnOnce(&mut dyn RebalanceListener, &mut Consumer) -> ListenerResult,
    ) {
        let Some(mut listener) = self.listener.take() else { return };
        let polling = self.liveness.in_poll();
        if polling {
            self.liveness.leave_poll();
        }
        self.in_callback = true;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut *listener, self)));
        self.in_callback = false;
        if polling {
            self.liveness.enter_poll();
        }
        if self.listener.is_none() {
            self.listener = Some(listener);
        }
        let error = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(e)) => Error::RebalanceCallback { callback: name, reason: e.to_string(), source: Some(e) },
            Err(panic) => {
                let reason = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".into());
                Error::RebalanceCallback { callback: name, reason: format!("panicked: {reason}"), source: None }
            }
        };
        self.callback_error.get_or_insert(error);
    }

    /// The error of a rebalance callback run since the last call, if any.
    pub(super) fn take_callback_error(&mut self) -> Result<()> {
        self.callback_error.take().map_or(Ok(()), Err)
    }
}
