//! Changing a topic of an open log: its config ([`Log::alter_topic_config`]) and more
//! partitions ([`Log::add_partitions`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::topic::{Topic, TopicInner, MAX_PARTITIONS};
use super::{write_config, write_partition_count, Log, Opening, PartitionCount};
use crate::config::TopicConfig;
use crate::error::{Error, Result};
use crate::segment::Offsets;
use crate::storage::files;

impl Log {
    /// Replaces topic `name`'s config, durably, as `kafka-configs --alter` does. Each setting
    /// takes effect where Kafka's does:
    ///
    /// - at the next append: `compression.type` (and its levels), `max.message.bytes`,
    ///   `message.timestamp.type`, `flush.messages`, `flush.ms`, and a smaller `segment.bytes` or
    ///   `segment.ms` (the active segment rolls if it is past them);
    /// - at the next roll: a larger `segment.bytes` (the active segment is mapped at its size),
    ///   `segment.index.bytes`, `index.interval.bytes`, `segment.jitter.ms`;
    /// - at the next retention or compaction pass: `retention.ms`, `retention.bytes`,
    ///   `delete.retention.ms`, `file.delete.delay.ms`, `min.cleanable.dirty.ratio`,
    ///   `min.compaction.lag.ms`, `max.compaction.lag.ms`, and `cleanup.policy`, with one
    ///   exception: adding `compact` to a topic created without it starts compaction at the next
    ///   open (its offsets have been dense, which every read checks; compaction leaves gaps), and
    ///   until then [`Partition::compact`](crate::Partition::compact) says so.
    ///
    /// The config file is replaced atomically: after a crash the topic has the old config or
    /// the new one. [`Topic`] handles taken before keep showing the old config;
    /// [`Partition::config`](crate::Partition::config) shows the one in force.
    ///
    /// Errors: [`Error::UnknownTopic`], [`Error::InvalidConfig`], [`Error::ReadOnly`].
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("events", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"kept for 7 days by default")])?;
    ///
    /// let config = log.topic("events")?.config().clone();
    /// let config = config.set("retention.ms", "-1")?.set("compression.type", "lz4")?; // an event store
    /// log.alter_topic_config("events", config)?;
    /// assert_eq!(p.config().retention_ms, -1);
    /// log.close()?;
    /// assert_eq!(Log::open(dir.path())?.topic("events")?.config().retention_ms, -1);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn alter_topic_config(&self, name: &str, config: TopicConfig) -> Result<Topic> {
        self.check_writable("alter_topic_config")?;
        config.validate()?;
        let _admin = self.inner.admin.lock();
        let topic = self.topic(name)?;
        let inner = &*self.inner;
        let dir = &inner.dir;
        let io = &*inner.options.io;
        let dense = topic.partitions().iter().any(|p| p.offsets() == Offsets::Dense);
        if dense && config.cleanup_policy.compacts() {
            // First: the next open must know the offsets may have gaps once compaction runs.
            let count = PartitionCount { partitions: topic.partition_count(), never_compacted: false };
            write_partition_count(io, dir, name, count)?;
        }
        write_config(io, dir, name, &config)?;
        let config = Arc::new(config);
        for p in topic.partitions() {
            p.set_config(config.clone());
        }
        let partitions = topic.partitions().to_vec();
        let altered = Topic { inner: Arc::new(TopicInner { name: name.to_owned(), config, partitions }) };
        inner.topics.write().insert(name.to_owned(), altered.clone());
        Ok(altered)
    }

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
        if name == super::topic::GROUP_OFFSETS_TOPIC {
            // A group's offsets live in the partition its name hashes to, by the count: more
            // partitions would move every group away from its commits.
            return Err(Error::InvalidConfig {
                key: "partitions".into(),
                value: partitions.to_string(),
                reason: format!("{name} holds the consumer groups' offsets by partition count: it cannot grow"),
            });
        }
        let inner = &*self.inner;
        let dir = &inner.dir;
        // Directories past the count are someone's data (an earlier partlog's, a broker's):
        // never adopted as new, empty partitions, never removed.
        for id in now..partitions {
            let path = dir.join(format!("{name}-{id}"));
            if std::fs::read_dir(&path).is_ok_and(|mut entries| entries.next().is_some()) {
                return Err(Error::BadFile {
                    path,
                    reason: format!(
                        "a directory past topic {name}'s {now} partitions holds files: left as it is; \
                         move it away to add partitions"
                    ),
                });
            }
        }
        let made: Vec<_> =
            (now..partitions).map(|id| dir.join(format!("{name}-{id}"))).filter(|d| !d.exists()).collect();
        let never_compacted = topic.partitions().iter().all(|p| p.offsets() == Offsets::Dense)
            && !topic.config().cleanup_policy.compacts();
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
        let added = (|| {
            let added = opening.partitions(dir, name, now..partitions, &config, &mut Vec::new())?;
            for p in &added {
                p.flush()?;
            }
            // The commit point: until the count says so, the new directories are strays that
            // change no key's partition.
            write_partition_count(&*inner.options.io, dir, name, PartitionCount { partitions, never_compacted })?;
            Ok::<_, Error>(added)
        })();
        let added = match added {
            Ok(added) => added,
            Err(e) => {
                // Only what this call made goes (best effort): empty partitions, no data.
                for path in &made {
                    let _ = std::fs::remove_dir_all(path);
                }
                let _ = files::sync_dir(&*inner.options.io, dir);
                return Err(e);
            }
        };
        let mut all = topic.partitions().to_vec();
        all.extend(added);
        let grown = Topic { inner: Arc::new(TopicInner { name: name.to_owned(), config, partitions: all }) };
        inner.topics.write().insert(name.to_owned(), grown.clone());
        inner.topics_changed();
        Ok(grown)
    }
}
