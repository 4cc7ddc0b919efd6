//! Opening a data directory read-only, and following what its owner writes
//! ([`Log::open_read_only`], [`Log::refresh`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::checkpoints::{
    read_checkpoint, Checkpoint, CLEANER_OFFSET_FILE, LOG_START_OFFSET_FILE, RECOVERY_POINT_FILE,
};
use super::maintenance::Maintenance;
use super::topic::{Topic, TopicInner};
use super::{
    discover, found_config, FoundTopic, Log, LogInner, LogOptions, Opening, PartitionCount, LEGACY_CONFIG_DIR,
    LEGACY_PARTITIONS_DIR,
};
use crate::config::TopicConfig;
use crate::error::{Error, Result};
use crate::partition::{CheckpointHook, Partition, RecoveryEvent, Refreshed};
use crate::segment::Offsets;

/// The checkpoints a read-only open reads: recovery points, log start offsets, cleaner offsets.
type Checkpoints = [Checkpoint; 3];

impl Log {
    /// Opens the data directory `dir` for reading only, alongside the process that owns it (or
    /// on a read-only file system, or a copy): the way to inspect a live log from another
    /// process, and what the `partlog` command-line tool does.
    ///
    /// - It takes no lock, so it opens a directory another `Log` (or a Kafka broker) holds.
    /// - It changes no file: no recovery, no checkpoint, no clean-shutdown marker, no thread.
    ///   Every write ([`Partition::append`](crate::Partition::append), truncation, retention,
    ///   compaction, flushes, topic changes) fails with [`Error::ReadOnly`].
    /// - It reads what is complete: the last segment of each partition is checked batch by batch
    ///   (length, CRC, offsets) up to the first bytes that are not a whole batch (a write in
    ///   progress), which it leaves unread. Nothing is mapped from a file, so the owner can
    ///   truncate or delete files under it.
    /// - It is a snapshot: [`refresh`](Self::refresh) reads what was appended, rolled, deleted
    ///   or compacted since.
    ///
    /// Opening costs a read of each partition's last segment (CRC-checked).
    /// [`recovery_report`](Self::recovery_report) lists bytes it found and did not read.
    ///
    /// Errors: [`Error::Io`] if `dir` does not exist or cannot be read; [`Error::BadFile`] for
    /// metadata it cannot read, for the layout of earlier partlog builds (open it once with
    /// [`Log::open`] to move it), or a partition directory without segment files.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Error, Fetch, Log, Record, TopicConfig};
    /// let writer = Log::open(dir.path())?;
    /// let p = writer.create_topic("events", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"one"), Record::new(b"two")])?;
    ///
    /// let reader = Log::open_read_only(dir.path())?; // while `writer` holds the directory
    /// let r = reader.partition("events", 0)?;
    /// assert_eq!(r.log_end_offset(), 2);
    /// assert_eq!(r.read(0, 1 << 20)?[1].value.as_deref(), Some(&b"two"[..]));
    /// assert!(matches!(r.append(&[Record::new(b"no")]), Err(Error::ReadOnly { .. })));
    ///
    /// p.append(&[Record::new(b"three")])?;
    /// assert_eq!(r.log_end_offset(), 2); // a snapshot ...
    /// reader.refresh()?;
    /// assert_eq!(r.log_end_offset(), 3); // ... until refreshed
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<Log> {
        Log::open_with(dir, LogOptions::default().read_only(true))
    }

    pub(super) fn open_read_only_with(dir: &Path, options: LogOptions) -> Result<Log> {
        let dir = dir.to_owned();
        let meta = std::fs::metadata(&dir).map_err(Error::io("open", &dir))?;
        if !meta.is_dir() {
            let source = std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a directory");
            return Err(Error::Io { op: "open", path: dir, source });
        }
        for legacy in [LEGACY_CONFIG_DIR, LEGACY_PARTITIONS_DIR] {
            if dir.join(legacy).is_dir() {
                return Err(Error::BadFile {
                    path: dir.join(legacy),
                    reason: "the layout of an earlier partlog build: open the directory once with `Log::open`, \
                             which moves its metadata, before opening it read-only"
                        .into(),
                });
            }
        }
        let mut recovery = Vec::new();
        let checkpoints = read_checkpoints(&dir, &options, &mut recovery)?;
        let mut topics = BTreeMap::new();
        for (name, found) in discover(&dir, false)? {
            if let Some(topic) = open_topic(&dir, &options, &name, found, &checkpoints, &mut recovery)? {
                topics.insert(name, topic);
            }
        }
        let hook: CheckpointHook = Arc::new(|| Ok(()));
        Ok(Log {
            inner: Arc::new(LogInner {
                handles: std::sync::atomic::AtomicUsize::new(1),
                dir,
                options,
                lock: Mutex::new(None),
                read_only: true,
                topics: RwLock::new(topics),
                topics_version: std::sync::atomic::AtomicU64::new(0),
                admin: Mutex::new(()),
                recovery,
                closed: AtomicBool::new(false),
                checkpoint: Mutex::new(()),
                maintenance: Maintenance::default(),
                prefill: None,
                checkpoint_hook: hook,
                shared: Mutex::new(Default::default()),
                broker_epoch: -1,
                opened_as: Vec::new(),
                foreign_checkpoints: Mutex::new(Default::default()),
            }),
        })
    }

    /// Reads the directory again (a log opened with [`open_read_only`](Self::open_read_only);
    /// a log opened for writing is always current, and this does nothing): records appended
    /// since become readable, new segments, topics and partitions appear, segments deleted by
    /// retention or replaced by compaction are read afresh, and deleted topics go (their
    /// handles fail with [`Error::Closed`]). Readers blocked in
    /// [`Partition::wait_for`](crate::Partition::wait_for) wake when a refresh moves their
    /// partition's end. Handles to a [`Topic`] taken before see its old partitions; ask the log
    /// again.
    ///
    /// Returns bytes it found and did not read, as [`recovery_report`](Self::recovery_report)
    /// does for the open.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let owner = Log::open(dir.path())?;
    /// let p = owner.create_topic("orders", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"first")])?;
    ///
    /// let reader = Log::open_read_only(dir.path())?;
    /// let view = reader.partition("orders", 0)?;
    /// p.append(&[Record::new(b"second")])?;
    /// owner.create_topic("payments", 1, TopicConfig::default())?;
    /// assert_eq!(view.log_end_offset(), 1); // a snapshot, until refreshed
    ///
    /// assert!(reader.refresh()?.is_empty());
    /// assert_eq!(view.log_end_offset(), 2);
    /// assert_eq!(view.read(1, 1 << 20)?[0].value.as_deref(), Some(&b"second"[..]));
    /// assert_eq!(reader.topic_names(), ["orders", "payments"]);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn refresh(&self) -> Result<Vec<RecoveryEvent>> {
        self.check_open()?;
        let mut events = Vec::new();
        if !self.inner.read_only {
            return Ok(events);
        }
        let inner = &*self.inner;
        let _admin = inner.admin.lock();
        let checkpoints = read_checkpoints(&inner.dir, &inner.options, &mut events)?;
        let found = discover(&inner.dir, false)?;
        let old = inner.topics.read().clone();
        let mut topics = BTreeMap::new();
        for (name, found) in found {
            let result = match old.get(&name) {
                None => open_topic(&inner.dir, &inner.options, &name, found, &checkpoints, &mut events),
                Some(topic) => refresh_topic(&inner.dir, &inner.options, topic, found, &checkpoints, &mut events),
            };
            match result {
                Ok(Some(topic)) => {
                    topics.insert(name, topic);
                }
                Ok(None) => {} // being created or deleted
                Err(e) => {
                    // A topic that cannot be read now (its owner in the middle of something) is
                    // reported and keeps its last view; the others are refreshed.
                    events.push(RecoveryEvent {
                        partition: name.clone(),
                        segment: inner.dir.clone(),
                        position: 0,
                        bytes_dropped: 0,
                        reason: format!("not refreshed: {e}"),
                        lost_offsets: None,
                    });
                    if let Some(topic) = old.get(&name) {
                        topics.insert(name, topic.clone());
                    }
                }
            }
        }
        for (name, topic) in &old {
            if !topics.contains_key(name) {
                for p in topic.partitions() {
                    p.mark_deleted();
                }
            }
        }
        *inner.topics.write() = topics;
        inner.topics_changed();
        Ok(events)
    }
}

fn read_checkpoints(dir: &Path, options: &LogOptions, events: &mut Vec<RecoveryEvent>) -> Result<Checkpoints> {
    let read =
        |file: &str, events: &mut Vec<RecoveryEvent>| read_checkpoint(&dir.join(file), options.recovery_mode, events);
    Ok([read(RECOVERY_POINT_FILE, events)?, read(LOG_START_OFFSET_FILE, events)?, read(CLEANER_OFFSET_FILE, events)?])
}

/// Refreshes `topic`: its partitions, its config, partitions added. `None` if it is being
/// deleted; a topic opened anew if its directories were replaced (deleted and created again)
/// or its offsets rule changed (compaction turned on: offsets may have gaps from now on).
fn refresh_topic(
    dir: &Path,
    options: &LogOptions,
    topic: &Topic,
    found: FoundTopic,
    checkpoints: &Checkpoints,
    events: &mut Vec<RecoveryEvent>,
) -> Result<Option<Topic>> {
    let name = topic.name().to_owned();
    if let Some(p) = topic.partitions().iter().find(|p| !p.dir().is_dir()) {
        events.push(missing_partition(dir, &name, p.id(), topic.partition_count()));
        return Ok(None);
    }
    let Some(config) = read_config(options, &found)? else { return Ok(None) };
    let count = found.partitions.map_or(topic.partition_count(), |c| c.partitions);
    let dense = found.partitions.is_some_and(|c| c.never_compacted) && !config.cleanup_policy.compacts();
    let mut reopen = topic.partitions().iter().any(|p| (p.offsets() == Offsets::Dense) != dense);
    for p in topic.partitions() {
        let start = checkpoints[1].get(&(name.clone(), p.id())).copied();
        reopen |= p.refresh_read_only(start, events)? == Refreshed::Replaced;
    }
    if reopen {
        for p in topic.partitions() {
            p.mark_deleted();
        }
        return open_topic(dir, options, &name, found, checkpoints, events);
    }
    let config = Arc::new(config);
    for p in topic.partitions() {
        p.set_config(config.clone());
    }
    let mut partitions = topic.partitions().to_vec();
    let now = topic.partition_count();
    if count > now {
        // Partitions the owner added: only those are opened.
        if (now..count).any(|id| !found.dirs.contains(&id)) {
            return Ok(Some(topic.clone())); // being added: next time
        }
        partitions.extend(open_partitions(dir, options, &name, now..count, dense, &config, checkpoints, events)?);
    }
    Ok(Some(Topic { inner: Arc::new(TopicInner { name, config, partitions }) }))
}

/// What a view says of a topic with partition directory `id` missing: the owner creating or
/// deleting the topic, or a directory lost. The topic is not read, but a missing partition
/// must not pass for a topic that is not there.
fn missing_partition(dir: &Path, topic: &str, id: u32, partitions: u32) -> RecoveryEvent {
    RecoveryEvent {
        partition: format!("{topic}-{id}"),
        segment: dir.join(format!("{topic}-{id}")),
        position: 0,
        bytes_dropped: 0,
        lost_offsets: None,
        reason: format!(
            "partition directory missing, of topic {topic}'s {partitions}: the topic is not read (its owner is \
             creating or deleting it, or the directory was lost)"
        ),
    }
}

/// The topic's config as the directory has it; `None` for a topic being created (its config
/// file, the commit point, not written yet).
fn read_config(options: &LogOptions, found: &FoundTopic) -> Result<Option<TopicConfig>> {
    Ok(Some(match &found.config {
        Some((path, text)) => TopicConfig::from_properties(text)
            .map_err(|e| Error::BadFile { path: path.clone(), reason: e.to_string() })?,
        None if found.partitions.is_some() => return Ok(None),
        None => found_config(options), // a broker's partition, as a read-write open takes it
    }))
}

/// Opens partitions `ids` of topic `name` read-only.
#[allow(clippy::too_many_arguments)]
fn open_partitions(
    dir: &Path,
    options: &LogOptions,
    name: &str,
    ids: std::ops::Range<u32>,
    dense: bool,
    config: &Arc<TopicConfig>,
    checkpoints: &Checkpoints,
    events: &mut Vec<RecoveryEvent>,
) -> Result<Vec<Partition>> {
    let hook: CheckpointHook = Arc::new(|| Ok(()));
    let opening = Opening {
        options,
        checkpoints: &hook,
        read_only: true,
        never_compacted: dense,
        prefill: &None,
        clean_shutdown: true,
        recovery_points: &checkpoints[0],
        log_start_offsets: &checkpoints[1],
        first_dirty_offsets: &checkpoints[2],
    };
    opening.partitions(dir, name, ids, config, events)
}

/// Opens what the directory holds of topic `name` read-only; `None` for a topic being created
/// or deleted (a partition count without its config, the commit point; or a partition
/// directory or segment file missing).
fn open_topic(
    dir: &Path,
    options: &LogOptions,
    name: &str,
    found: FoundTopic,
    checkpoints: &Checkpoints,
    events: &mut Vec<RecoveryEvent>,
) -> Result<Option<Topic>> {
    let Some(config) = read_config(options, &found)? else { return Ok(None) };
    let count = found
        .partitions
        .unwrap_or(PartitionCount { partitions: found.dirs.last().map_or(1, |&id| id + 1), never_compacted: false });
    if let Some(missing) = (0..count.partitions).find(|id| !found.dirs.contains(id)) {
        // Only where partlog recorded the count: a broker's directory holds the partitions
        // that broker hosts, not necessarily all of them.
        if found.partitions.is_some() {
            events.push(missing_partition(dir, name, missing, count.partitions));
        }
        return Ok(None);
    }
    let dense = count.never_compacted && !config.cleanup_policy.compacts();
    let config = Arc::new(config);
    match open_partitions(dir, options, name, 0..count.partitions, dense, &config, checkpoints, events) {
        Ok(partitions) => Ok(Some(Topic { inner: Arc::new(TopicInner { name: name.to_owned(), config, partitions }) })),
        // A directory or segment file gone meanwhile, or none yet: being deleted or created;
        // said where partlog recorded the topic (a partition of it without a segment file).
        Err(Error::Io { source, path, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            if found.partitions.is_some() {
                // `<topic>-<n>`: the directory under the data directory the missing path is in.
                let partition = path
                    .strip_prefix(dir)
                    .ok()
                    .and_then(|p| p.components().next())
                    .map_or_else(|| name.to_owned(), |c| c.as_os_str().to_string_lossy().into_owned());
                events.push(RecoveryEvent {
                    partition,
                    segment: path,
                    position: 0,
                    bytes_dropped: 0,
                    lost_offsets: None,
                    reason: format!(
                        "no segment file ({source}): topic {name} is not read (its owner is creating or deleting \
                         it, or the files were lost)"
                    ),
                });
            }
            Ok(None)
        }
        Err(e) => Err(e),
    }
}
