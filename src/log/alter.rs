//! Changing a topic of an open log: more partitions ([`Log::add_partitions`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::topic::{Topic, TopicInner, MAX_PARTITIONS};
use super::{write_partition_count, Log, Opening, PartitionCount};
use crate::error::{Error, Result};
use crate::segment::Offsets;
use crate::storage::files;

impl Log {
    /// Grows topic `name` to `partitions` partitions, as Kafka's `kafka-topics --alter
    /// --partitions` does: only more, never fewer, and existing partitions keep their data.
    ///
    /// **Key placement changes**: the default partitioner maps a key to `murmur2(key) %
    /// partitions`, so most keys map to a different partition from now on, and records of one
    /// key written before and after are in two partitions, no longer in one order. Topics whose
    /// consumers depend on per-key order (compacted topics, event stores keyed by entity) are
    /// usually created with enough partitions instead.
    ///
    /// The new partitions exist on disk (durably) before the new count is recorded, the commit
    /// point: a crash in between leaves the old count. [`Topic`] handles taken before keep the
    /// old partitions; ask the log again ([`Log::topic`]). Producers pick the new count up on
    /// their next send.
    ///
    /// Errors: [`Error::UnknownTopic`]; [`Error::InvalidConfig`] if `partitions` is not more than
    /// now or past 65 536; [`Error::ReadOnly`].
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 2, TopicConfig::default())?.partition(0)?.append(&[Record::new(b"kept")])?;
    /// let topic = log.add_partitions("orders", 6)?;
    /// assert_eq!(topic.partition_count(), 6);
    /// assert_eq!(log.partition("orders", 0)?.log_end_offset(), 1); // data stays where it was
    /// assert!(log.add_partitions("orders", 3).is_err()); // never fewer
    /// log.close()?;
    /// assert_eq!(Log::open(dir.path())?.topic("orders")?.partition_count(), 6);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn add_partitions(&self, name: &str, partitions: u32) -> Result<Topic> {
        self.check_writable("add_partitions")?;
        let _admin = self.inner.admin.lock();
        let topic = self.topic(name)?;
        let now = topic.partition_count();
        if partitions <= now || partitions > MAX_PARTITIONS {
            return Err(Error::InvalidConfig {
                key: "partitions".into(),
                value: partitions.to_string(),
                reason: format!("topic {name} has {now}: partitions can only be added, up to {MAX_PARTITIONS}"),
            });
        }
        let inner = &*self.inner;
        let dir = &inner.dir;
        let never_compacted = topic.partitions().iter().all(|p| p.offsets() == Offsets::Dense);
        let none = BTreeMap::new();
        let opening = Opening {
            options: &inner.options,
            checkpoints: &inner.checkpoint_hook,
            read_only: false,
            never_compacted,
            prefill: &inner.prefill,
            clean_shutdown: true,
            recovery_points: &none,
            log_start_offsets: &none,
            first_dirty_offsets: &none,
        };
        let config = topic.inner.config.clone();
        let added = opening.partitions(dir, name, now..partitions, &config, &mut Vec::new())?;
        for p in &added {
            p.flush()?;
        }
        // The commit point: until the count says so, the new directories are strays that
        // change no key's partition.
        let count = PartitionCount { partitions, never_compacted };
        if let Err(e) = write_partition_count(&*inner.options.io, dir, name, count) {
            for p in &added {
                p.abandon();
                let _ = std::fs::remove_dir_all(p.dir());
            }
            let _ = files::sync_dir(&*inner.options.io, dir);
            return Err(e);
        }
        let mut all = topic.partitions().to_vec();
        all.extend(added);
        let grown = Topic { inner: Arc::new(TopicInner { name: name.to_owned(), config, partitions: all }) };
        inner.topics.write().insert(name.to_owned(), grown.clone());
        Ok(grown)
    }
}
