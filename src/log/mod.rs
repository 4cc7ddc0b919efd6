//! The `Log`: a data directory holding topics (Kafka's `log.dir` and `LogManager`).
//!
//! Layout:
//!
//! | path | content |
//! |---|---|
//! | `.lock` | held with an advisory lock while the directory is open |
//! | `.kafka_cleanshutdown` | written on close after everything was flushed; deleted at open |
//! | `recovery-point-offset-checkpoint` | per partition, the offset below which data was fsynced (Kafka's format) |
//! | `log-start-offset-checkpoint` | per partition, the log start offset (Kafka's format) |
//! | `cleaner-offset-checkpoint` | per partition, where compaction's next key map starts (Kafka's format) |
//! | `<topic>.conf` | the topic's config, Kafka `key=value` properties; written last by `create_topic`, the commit point of a topic |
//! | `<topic>.part` | the topic's partition count (Kafka keeps it in cluster metadata, not in the log dir) |
//! | `<topic>-<partition>/` | a partition: segments, as in a Kafka broker's log dir |
//! | `<topic>-<partition>/partlog-lost-offsets` | only after damage: offsets found lost, where nothing else would find them again (`partition/lost.rs`); a broker looks past it |
//! | `<topic prefix>-<partition>.p<id>-delete/` | a partition of a deleted topic, removed at open (a broker's own `…-delete` directories are left alone) |
//!
//! The directory is a valid Kafka `log.dir`: a broker loads every sub-directory as a partition
//! (and refuses one whose name is not `<topic>-<n>`) and looks past files it does not know, so
//! partlog keeps its own metadata in files at the top level. Directories written by earlier
//! partlog builds kept them in `topic-configs/<topic>` and `topic-partitions/<topic>`, which a
//! broker refuses; open moves them to the files above (each move an atomic rename) and removes
//! the emptied directories.
//!
//! Names stay within the 255-byte file name limit for the longest topic name (249 bytes):
//! metadata files carry a 5-byte suffix, temporary files a one-character `~` prefix, and
//! deletion directories a prefix of the topic name plus a unique id.
//!
//! Topics are found again at open from their config files and partition directories; a
//! partition directory copied from a Kafka broker opens as a partition of its topic, with the
//! default config and as many partitions as its directories say (then persisted). A directory
//! whose number is past its topic's persisted partition count is reported and left alone: it
//! never changes which partition a key maps to. Topic names are checked as Kafka does, so no
//! name leaves the directory.

mod alter;
mod checkpoints;
mod maintenance;
mod options;
mod read_only;
pub(crate) mod topic;

pub use options::{LogOptions, RecoveryMode};

use checkpoints::{read_checkpoint, Checkpoint, CLEANER_OFFSET_FILE, LOG_START_OFFSET_FILE, RECOVERY_POINT_FILE};
use maintenance::Maintenance;

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::config::TopicConfig;
use crate::error::{Error, Result};
use crate::log::topic::{validate_topic_name, Topic, TopicInner, MAX_PARTITIONS};
use crate::partition::{
    CheckpointHook, CompactionOutcome, OpenSpec, Partition, RecoveryEvent, RetentionOutcome, Trigger,
};
use crate::segment::Offsets;
use crate::storage::files;
use crate::storage::io::Io;
use crate::storage::prefill::Prefill;

const LOCK_FILE: &str = ".lock";
const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
/// Suffix of a topic's config file, `<topic>.conf`.
const CONFIG_SUFFIX: &str = ".conf";
/// Suffix of a topic's partition count file, `<topic>.part`.
const PARTITIONS_SUFFIX: &str = ".part";
/// Where earlier builds kept configs and partition counts (moved at open).
const LEGACY_CONFIG_DIR: &str = "topic-configs";
const LEGACY_PARTITIONS_DIR: &str = "topic-partitions";
const DELETE_SUFFIX: &str = "-delete";
/// Starts the unique id of partlog's deletion directories.
const DELETE_MARK: char = 'p';

struct LogInner {
    /// `Log` handles (clones) alive: the last one dropped closes the log.
    handles: std::sync::atomic::AtomicUsize,
    dir: PathBuf,
    options: LogOptions,
    /// Held for the advisory lock; released by `close` (or when the last handle goes). `None`
    /// when opened read-only.
    lock: Mutex<Option<DirLock>>,
    /// Opened with [`Log::open_read_only`].
    read_only: bool,
    topics: RwLock<BTreeMap<String, Topic>>,
    /// Bumped after every change of the topics or their partition counts
    /// ([`Log::topics_version`]).
    topics_version: std::sync::atomic::AtomicU64,
    /// Serialises topic creation and deletion.
    admin: Mutex<()>,
    recovery: Vec<RecoveryEvent>,
    closed: AtomicBool,
    /// Serialises writes of the recovery-point checkpoint.
    checkpoint: Mutex<()>,
    maintenance: Maintenance,
    prefill: Option<Arc<Prefill>>,
    /// Given to partitions: writes the checkpoints (it holds the log weakly).
    checkpoint_hook: CheckpointHook,
    /// Values shared by the layers above ([`Log::shared`]), by type.
    shared: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    /// The `brokerEpoch` of the clean-shutdown marker found at open (-1, Kafka's "unknown", if
    /// none), written back at close if nothing changed.
    broker_epoch: i64,
    /// Every partition's offsets and segments as opened: at close, a broker's epoch is written
    /// back only if they are unchanged (KIP-966 takes a matching epoch as "this broker's logs
    /// are as it left them").
    opened_as: Fingerprint,
    /// Checkpoint entries (recovery point, log start, cleaner offset) found at open for
    /// partitions partlog did not open (a broker's `-future` logs, directories past a topic's
    /// count): written back as they were, until a topic of that name is created or deleted.
    foreign_checkpoints: Mutex<[Checkpoint; 3]>,
}

/// Per partition: topic, id, log start and end offsets, and each segment's base offset and size.
type Fingerprint = Vec<(String, u32, u64, u64, Vec<(u64, u64)>)>;

fn fingerprint(partitions: &[Partition]) -> Fingerprint {
    partitions
        .iter()
        .map(|p| {
            let segments = p.segments().iter().map(|s| (s.base_offset(), s.size())).collect();
            (p.topic().to_owned(), p.id(), p.log_start_offset(), p.log_end_offset(), segments)
        })
        .collect()
}

/// A data directory of topics: the entry point of partlog.
///
/// Opening takes an advisory lock on the directory; closing (or dropping the last handle)
/// flushes every partition, trims the indexes and records a clean shutdown, so the next open
/// skips recovery. Clones are handles to the same open log, cheap to make (a [`Producer`]
/// keeps one); [`close`](Self::close) on any of them closes it for all.
///
/// [`Producer`]: crate::Producer
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Log, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let topic = log.create_topic("events", 2, TopicConfig::default())?;
/// topic.partition(1)?.append(&[Record::new(b"hello")])?;
/// log.close()?;
///
/// let log = Log::open(dir.path())?; // finds the topic again
/// assert_eq!(log.topic_names(), vec!["events".to_string()]);
/// assert_eq!(log.partition("events", 1)?.log_end_offset(), 1);
/// assert!(log.recovery_report().is_empty());
/// # Ok::<(), partlog::Error>(())
/// ```
pub struct Log {
    inner: Arc<LogInner>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log").field("dir", &self.inner.dir).field("topics", &self.topic_names()).finish()
    }
}

impl Log {
    /// Opens the data directory `dir`, creating it if missing, with default options.
    ///
    /// Errors as [`open_with`](Self::open_with); a directory already open is
    /// [`Error::DirectoryLocked`]:
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Error, Log};
    /// let log = Log::open(dir.path().join("data"))?; // created, with its parents
    /// match Log::open(dir.path().join("data")) {
    ///     Err(Error::DirectoryLocked { path, .. }) => assert!(path.ends_with(".lock")),
    ///     other => panic!("expected DirectoryLocked, got {other:?}"),
    /// }
    /// log.close()?;
    /// assert!(Log::open(dir.path().join("data")).is_ok()); // free again once closed
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn open(dir: impl AsRef<Path>) -> Result<Log> {
        Log::open_with(dir, LogOptions::default())
    }

    /// Opens the data directory `dir`, creating it if missing.
    ///
    /// Errors: [`Error::DirectoryLocked`] if another open `Log` (of this or another process) or a
    /// running Kafka broker has the directory; [`Error::Io`] if it cannot be read;
    /// [`Error::BadFile`] for an unreadable topic config.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, LogOptions, RecoveryMode, TopicConfig};
    /// let options = LogOptions::default()
    ///     .default_topic_config(TopicConfig::event_store()) // for topics found without a config
    ///     .recovery_mode(RecoveryMode::Strict)              // refuse to open on damage
    ///     .maintenance_interval_ms(None);                   // no background thread
    /// let log = Log::open_with(dir.path(), options)?;
    /// assert!(log.recovery_report().is_empty());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn open_with(dir: impl AsRef<Path>, options: LogOptions) -> Result<Log> {
        // Topics found without a config file get it: it must be one `create_topic` would take.
        options.default_topic_config.validate()?;
        if options.read_only {
            return Log::open_read_only_with(dir.as_ref(), options);
        }
        let dir = dir.as_ref().to_owned();
        if dir.as_os_str().is_empty() {
            // Not the current directory: nothing is created or locked for a path that names none.
            let source = std::io::Error::new(std::io::ErrorKind::InvalidInput, "an empty path names no directory");
            return Err(Error::Io { op: "open", path: dir, source });
        }
        // The nearest ancestor that exists: the entries of everything made below it are fsynced.
        let existing = dir.ancestors().find(|a| a.as_os_str().is_empty() || a.exists()).map(Path::to_path_buf);
        let mut created = false;
        if !dir.exists() {
            std::fs::create_dir_all(&dir).map_err(Error::io("create directory", &dir))?;
            created = true;
        }
        let lock = lock_dir(&dir)?;
        let io = &*options.io;
        // New directories' entries are made durable (a power loss could otherwise take them,
        // and the topics later created in them, away).
        if created {
            files::sync_dir(io, &dir)?;
        }
        if let Some(existing) = existing.filter(|e| *e != dir) {
            // From the data directory's parent up to the ancestor that existed.
            for made in dir.ancestors().skip(1) {
                let path = if made.as_os_str().is_empty() { Path::new(".") } else { made };
                files::sync_dir(io, path)?;
                if made == existing {
                    break;
                }
            }
        }
        let clean_path = dir.join(CLEAN_SHUTDOWN_FILE);
        let clean_shutdown = clean_path.exists();
        // A broker's marker carries its epoch (KIP-966 uses it at the next registration): kept
        // and written back at close, so a broker's log.dir opened by partlog still says it.
        let broker_epoch = if clean_shutdown {
            std::fs::read_to_string(&clean_path).ok().and_then(|text| parse_broker_epoch(&text)).unwrap_or(-1)
        } else {
            -1
        };
        if clean_shutdown {
            // Deleted first, so that a crash while loading counts as unclean (KAFKA-10471).
            std::fs::remove_file(&clean_path).map_err(Error::io("delete", &clean_path))?;
            files::sync_dir(io, &dir)?;
        }
        remove_unfinished_temporaries(&dir)?;
        migrate_legacy_metadata(io, &dir)?;
        let mut recovery = Vec::new();
        let recovery_points = read_checkpoint(&dir.join(RECOVERY_POINT_FILE), options.recovery_mode, &mut recovery)?;
        let log_start_offsets =
            read_checkpoint(&dir.join(LOG_START_OFFSET_FILE), options.recovery_mode, &mut recovery)?;
        let first_dirty_offsets =
            read_checkpoint(&dir.join(CLEANER_OFFSET_FILE), options.recovery_mode, &mut recovery)?;
        let found = discover(&dir, true)?;
        // Started once the log is open: a failed open leaves no thread behind.
        let prefill = options.preallocate_in_background.then(|| Arc::new(Prefill::default()));
        // The partitions' way to the log's checkpoints, once the log exists.
        let log_cell: Arc<std::sync::OnceLock<std::sync::Weak<LogInner>>> = Arc::default();
        let checkpoints: CheckpointHook = {
            let cell = log_cell.clone();
            Arc::new(move || match cell.get().and_then(std::sync::Weak::upgrade) {
                Some(inner) => inner.write_checkpoints(),
                None => Ok(()),
            })
        };
        let mut topics = BTreeMap::new();
        for (name, FoundTopic { config: config_text, dirs, partitions }) in found {
            let count = match partitions {
                Some(count) => count,
                None => {
                    // A topic from before partition counts were persisted, or from a Kafka broker:
                    // its directories say; from now on the count is kept. Whether it was ever
                    // compacted is not known: offsets may have gaps.
                    let count =
                        PartitionCount { partitions: dirs.last().map_or(1, |&id| id + 1), never_compacted: false };
                    write_partition_count(io, &dir, &name, count)?;
                    count
                }
            };
            let partition_count = count.partitions;
            for &stray in dirs.iter().filter(|&&id| id >= partition_count) {
                let path = dir.join(format!("{name}-{stray}"));
                recovery.push(RecoveryEvent {
                    partition: format!("{name}-{stray}"),
                    segment: path,
                    position: 0,
                    bytes_dropped: 0,
                    lost_offsets: None,
                    reason: format!(
                        "directory past topic {name}'s {partition_count} partitions: not opened, left as it is"
                    ),
                });
            }
            let config = match config_text {
                Some((path, text)) => {
                    TopicConfig::from_properties(&text).map_err(|e| Error::BadFile { path, reason: e.to_string() })?
                }
                None => {
                    let config = found_config(&options);
                    write_config(io, &dir, &name, &config)?;
                    config
                }
            };
            let never_compacted = count.never_compacted && !config.cleanup_policy.compacts();
            if count.never_compacted && !never_compacted {
                // The config now compacts (edited by hand): from now on gaps are legal, for good.
                write_partition_count(io, &dir, &name, PartitionCount { never_compacted: false, ..count })?;
            }
            let opening = Opening {
                options: &options,
                checkpoints: &checkpoints,
                read_only: false,
                never_compacted,
                prefill: &prefill,
                clean_shutdown,
                recovery_points: &recovery_points,
                log_start_offsets: &log_start_offsets,
                first_dirty_offsets: &first_dirty_offsets,
            };
            let topic = opening.topic(&dir, &name, partition_count, Arc::new(config), &mut recovery)?;
            topics.insert(name, topic);
        }
        if !clean_shutdown {
            if let Some(offsets) = topics.get(topic::GROUP_OFFSETS_TOPIC) {
                // Before anything is appended: committed offsets a crash left past their data.
                let log_end = |t: &str, p: u32| topics.get(t)?.partition(p).ok().map(|p| p.log_end_offset());
                let now_ms = options.clock.now_ms();
                match crate::coordinator::clamp_committed_offsets(offsets, now_ms, log_end) {
                    Ok(events) => recovery.extend(events),
                    // The open goes on: the groups report the damage when they load.
                    Err(e) => recovery.push(RecoveryEvent {
                        partition: topic::GROUP_OFFSETS_TOPIC.to_owned(),
                        segment: dir.join(format!("{}-0", topic::GROUP_OFFSETS_TOPIC)),
                        position: 0,
                        bytes_dropped: 0,
                        lost_offsets: None,
                        reason: format!("committed offsets not checked against the recovered log ends: {e}"),
                    }),
                }
            }
        }
        let opened: Vec<Partition> = topics.values().flat_map(|t: &Topic| t.partitions().iter().cloned()).collect();
        let open_ids: std::collections::BTreeSet<(String, u32)> =
            opened.iter().map(|p| (p.topic().to_owned(), p.id())).collect();
        let foreign = [recovery_points, log_start_offsets, first_dirty_offsets].map(|mut checkpoint| {
            checkpoint.retain(|key, _| !open_ids.contains(key));
            checkpoint
        });
        let opened_as = fingerprint(&opened);
        let log = Log {
            inner: Arc::new(LogInner {
                handles: std::sync::atomic::AtomicUsize::new(1),
                dir,
                options,
                lock: Mutex::new(Some(lock)),
                read_only: false,
                topics: RwLock::new(topics),
                topics_version: std::sync::atomic::AtomicU64::new(0),
                admin: Mutex::new(()),
                recovery,
                closed: AtomicBool::new(false),
                checkpoint: Mutex::new(()),
                maintenance: Maintenance::default(),
                prefill,
                checkpoint_hook: checkpoints,
                shared: Mutex::new(HashMap::new()),
                broker_epoch,
                opened_as,
                foreign_checkpoints: Mutex::new(foreign),
            }),
        };
        let _ = log_cell.set(Arc::downgrade(&log.inner));
        // Recovery made everything it kept durable: record that before anything else happens.
        log.write_checkpoints()?;
        if let Some(prefill) = &log.inner.prefill {
            prefill.start().map_err(Error::io("start the prefill thread", &log.inner.dir))?;
        }
        log.start_maintenance()?;
        Ok(log)
    }

    /// The data directory, as given to [`open`](Self::open).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, TopicConfig};
    /// let log = Log::open(dir.path().join("data"))?;
    /// log.create_topic("t", 1, TopicConfig::default())?;
    /// assert!(log.dir().join("t-0").is_dir()); // Kafka's layout: <topic>-<partition>
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// What opening found damaged or dropped: one event per truncated segment, and per damage
    /// found and left as it is (offsets lost are named in
    /// [`RecoveryEvent::lost_offsets`](crate::RecoveryEvent::lost_offsets)). Empty after a clean
    /// shutdown of an undamaged directory.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::io::Write;
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"acknowledged")])?;
    /// let (file, end) = (p.segments()[0].log_path().to_owned(), p.size_bytes());
    /// log.simulate_crash();
    /// // A torn write after the last batch: a length, then nothing of what it announced.
    /// let mut f = std::fs::OpenOptions::new().write(true).open(&file)?;
    /// std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(end))?;
    /// f.write_all(&[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 200, 0, 0, 0, 0, 2])?;
    ///
    /// let log = Log::open(dir.path())?;
    /// let report = log.recovery_report();
    /// assert_eq!((report.len(), report[0].partition.as_str(), report[0].position), (1, "t-0", end));
    /// assert_eq!(log.partition("t", 0)?.log_end_offset(), 1); // the acknowledged record stays
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recovery_report(&self) -> &[RecoveryEvent] {
        &self.inner.recovery
    }

    /// The clock the log reads time from ([`LogOptions::clock`]).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::sync::Arc;
    /// use partlog::{Log, LogOptions, ManualClock};
    /// let log = Log::open_with(dir.path(), LogOptions::default().clock(Arc::new(ManualClock::new(42))))?;
    /// assert_eq!(log.clock().now_ms(), 42);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn clock(&self) -> &Arc<dyn crate::Clock> {
        &self.inner.options.clock
    }

    /// A value of type `T` shared by everything using this open log: made by `init` the first
    /// time a `T` is asked for, the same `Arc` after that, dropped with the log. For layers
    /// built on the log; partlog's consumer groups keep their coordinator here. `init` runs
    /// with the registry locked, so it must not ask for a shared value itself; if it fails,
    /// nothing is stored and the next call tries again.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// struct Counter(AtomicU64);
    /// let log = partlog::Log::open(dir.path())?;
    /// let a = log.shared(|_| Ok(Counter(AtomicU64::new(0))))?;
    /// a.0.fetch_add(1, Ordering::Relaxed);
    /// let b = log.clone().shared(|_| Ok(Counter(AtomicU64::new(100))))?; // not run
    /// assert_eq!(b.0.load(Ordering::Relaxed), 1);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn shared<T: Any + Send + Sync>(&self, init: impl FnOnce(&Log) -> Result<T>) -> Result<Arc<T>> {
        let mut shared = self.inner.shared.lock();
        if let Some(value) = shared.get(&TypeId::of::<T>()) {
            let value: Arc<dyn Any + Send + Sync> = value.clone();
            return Ok(value.downcast::<T>().expect("stored under its own TypeId"));
        }
        self.check_open()?;
        let value = Arc::new(init(self)?);
        shared.insert(TypeId::of::<T>(), value.clone());
        Ok(value)
    }

    /// Whether the log was closed ([`close`](Self::close) on any handle); everything using it
    /// then fails with [`Error::Closed`].
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Error, Log, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// assert!(!log.is_closed());
    /// log.clone().close()?;
    /// assert!(log.is_closed());
    /// assert!(matches!(log.create_topic("t", 1, TopicConfig::default()), Err(Error::Closed { .. })));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// A number that changes whenever a topic is created or deleted or gains partitions: who
    /// derives something from the topics (a group's partition counts) looks again only then.
    pub(crate) fn topics_version(&self) -> u64 {
        self.inner.topics_version.load(Ordering::Acquire)
    }

    fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed { what: format!("log {}", self.inner.dir.display()) });
        }
        Ok(())
    }

    /// Refuses `op` on a closed log, and on one opened read-only.
    fn check_writable(&self, op: &'static str) -> Result<()> {
        self.check_open()?;
        if self.inner.read_only {
            return Err(Error::ReadOnly { what: format!("log {}", self.inner.dir.display()), op });
        }
        Ok(())
    }

    /// Whether the log was opened with [`open_read_only`](Self::open_read_only).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Error, Log, TopicConfig};
    /// let owner = Log::open(dir.path())?;
    /// let reader = Log::open_read_only(dir.path())?;
    /// assert!(!owner.is_read_only() && reader.is_read_only());
    /// assert!(matches!(reader.create_topic("t", 1, TopicConfig::default()), Err(Error::ReadOnly { .. })));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn is_read_only(&self) -> bool {
        self.inner.read_only
    }

    /// Creates a topic with `partitions` partitions and `config`, on disk and durably.
    ///
    /// Errors: [`Error::InvalidTopicName`], [`Error::TopicExists`], [`Error::InvalidConfig`]
    /// (including a partition count outside 1..=65536), [`Error::InternalTopic`] for
    /// `__consumer_offsets` (consumer groups create it).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Error, Log, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let config = TopicConfig::default().set("retention.ms", "86400000")?; // Kafka's names and values
    /// let topic = log.create_topic("orders", 3, config)?;
    /// assert_eq!((topic.partition_count(), topic.config().retention_ms), (3, 86_400_000));
    /// assert!(matches!(log.create_topic("orders", 1, TopicConfig::default()), Err(Error::TopicExists { .. })));
    /// assert!(matches!(log.create_topic("no/slash", 1, TopicConfig::default()), Err(Error::InvalidTopicName { .. })));
    /// assert!(matches!(log.create_topic("none", 0, TopicConfig::default()), Err(Error::InvalidConfig { .. })));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn create_topic(&self, name: &str, partitions: u32, config: TopicConfig) -> Result<Topic> {
        self.check_writable("create_topic")?;
        if name == topic::GROUP_OFFSETS_TOPIC {
            return Err(Error::InternalTopic { topic: name.to_owned(), op: "create_topic" });
        }
        self.create_topic_unchecked(name, partitions, config)
    }

    /// [`create_topic`](Self::create_topic) for any valid name, internal ones included: the
    /// group coordinator creates `__consumer_offsets` with its own config.
    pub(crate) fn create_topic_unchecked(&self, name: &str, partitions: u32, config: TopicConfig) -> Result<Topic> {
        self.check_writable("create_topic")?;
        validate_topic_name(name)?;
        config.validate()?;
        if !(1..=MAX_PARTITIONS).contains(&partitions) {
            return Err(Error::InvalidConfig {
                key: "partitions".into(),
                value: partitions.to_string(),
                reason: format!("must be 1..={MAX_PARTITIONS}"),
            });
        }
        let _admin = self.inner.admin.lock();
        if self.inner.topics.read().contains_key(name) {
            return Err(Error::TopicExists { topic: name.to_owned() });
        }
        self.inner.forget_foreign_checkpoints(name);
        let options = &self.inner.options;
        let config = Arc::new(config);
        // Partition directories first, then the config file: the config file is the commit point
        // of the topic's config (without it, a reopen finds the topic with the default config).
        let none = BTreeMap::new();
        let opening = Opening {
            options,
            checkpoints: &self.inner.checkpoint_hook,
            read_only: false,
            never_compacted: !config.cleanup_policy.compacts(),
            prefill: &self.inner.prefill,
            clean_shutdown: true,
            recovery_points: &none,
            log_start_offsets: &none,
            first_dirty_offsets: &none,
        };
        let dir = &self.inner.dir;
        // All or nothing: what this call creates is removed again if any step fails (a full
        // disk, no file descriptors left), so that no part of the topic shows up at the next open.
        let new_dirs: Vec<PathBuf> =
            (0..partitions).map(|id| dir.join(format!("{name}-{id}"))).filter(|d| !d.exists()).collect();
        let created = (|| {
            let topic = opening.topic(dir, name, partitions, config.clone(), &mut Vec::new())?;
            for p in topic.partitions() {
                p.flush()?;
            }
            let count = PartitionCount { partitions, never_compacted: !config.cleanup_policy.compacts() };
            write_partition_count(&*options.io, dir, name, count)?;
            write_config(&*options.io, dir, name, &config)?;
            Ok(topic)
        })();
        match created {
            Ok(topic) => {
                self.inner.topics.write().insert(name.to_owned(), topic.clone());
                self.inner.topics_changed();
                Ok(topic)
            }
            Err(e) => {
                // Best effort: what cannot be removed now is a topic without a config file at
                // the next open, with the default config.
                let _ = std::fs::remove_file(partitions_path(dir, name));
                for path in &new_dirs {
                    let _ = std::fs::remove_dir_all(path);
                }
                let _ = files::sync_dir(&*options.io, dir);
                Err(e)
            }
        }
    }

    /// The topic called `name`, or [`Error::UnknownTopic`].
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Error, Log, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("a", 1, TopicConfig::default())?;
    /// assert_eq!(log.topic("a")?.name(), "a");
    /// assert!(matches!(log.topic("b"), Err(Error::UnknownTopic { .. })));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn topic(&self, name: &str) -> Result<Topic> {
        self.inner.topics.read().get(name).cloned().ok_or_else(|| Error::UnknownTopic { topic: name.to_owned() })
    }

    /// Names of all topics, sorted.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// for name in ["payments", "orders"] {
    ///     log.create_topic(name, 1, TopicConfig::default())?;
    /// }
    /// assert_eq!(log.topic_names(), ["orders", "payments"]);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn topic_names(&self) -> Vec<String> {
        self.inner.topics.read().keys().cloned().collect()
    }

    /// Partition `partition` of topic `topic`: [`Error::UnknownTopic`], or
    /// [`Error::UnknownPartition`] past its count.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Error, Log, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("a", 2, TopicConfig::default())?;
    /// assert_eq!(log.partition("a", 1)?.name(), "a-1");
    /// assert!(matches!(log.partition("a", 2), Err(Error::UnknownPartition { .. })));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn partition(&self, topic: &str, partition: u32) -> Result<Partition> {
        self.topic(topic)?.partition(partition)
    }

    /// Deletes a topic and its data. Handles to its partitions fail with [`Error::Closed`] from
    /// then on. Files are renamed to `…-delete` first, so a crash midway finishes the deletion at
    /// the next open. `__consumer_offsets` is refused ([`Error::InternalTopic`]): deleting it
    /// would lose every consumer group's committed offsets.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Error, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("old", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"x")])?;
    /// log.delete_topic("old")?;
    /// assert!(log.topic_names().is_empty());
    /// assert!(!dir.path().join("old-0").exists());
    /// assert!(matches!(p.read(0, 1 << 20), Err(Error::Closed { .. })));
    /// assert!(matches!(log.delete_topic("old"), Err(Error::UnknownTopic { .. })));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        self.check_writable("delete_topic")?;
        if name == topic::GROUP_OFFSETS_TOPIC {
            return Err(Error::InternalTopic { topic: name.to_owned(), op: "delete_topic" });
        }
        let _admin = self.inner.admin.lock();
        let topic =
            self.inner.topics.write().remove(name).ok_or_else(|| Error::UnknownTopic { topic: name.to_owned() })?;
        self.inner.topics_changed();
        self.inner.forget_foreign_checkpoints(name);
        let dir = &self.inner.dir;
        let mut doomed = Vec::new();
        for p in topic.partitions() {
            p.mark_deleted();
            let target = dir.join(delete_dir_name(name, p.id()));
            std::fs::rename(p.dir(), &target).map_err(Error::io("rename for deletion", p.dir()))?;
            doomed.push(target);
        }
        for path in [config_path(dir, name), partitions_path(dir, name)] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("delete", &path)(e)),
            }
        }
        let io = &*self.inner.options.io;
        files::sync_dir(io, dir)?;
        for path in doomed {
            std::fs::remove_dir_all(&path).map_err(Error::io("delete", &path))?;
        }
        // Its checkpoint entries go now: they must not apply to a topic created with its name.
        self.inner.write_checkpoints()
    }

    /// Applies retention to every partition now: the log start offset, `retention.bytes` and
    /// `retention.ms` (for topics whose `cleanup.policy` includes `delete`), oldest segment first,
    /// stopping at the first that must stay. Returns what each partition lost. The maintenance
    /// thread does the same every `retention_check_interval_ms`.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::sync::Arc;
    /// use partlog::{Log, LogOptions, ManualClock, Record, TopicConfig};
    /// let clock = Arc::new(ManualClock::new(1_000_000));
    /// let log = Log::open_with(dir.path(), LogOptions::default().clock(clock.clone()))?;
    /// let mut config = TopicConfig::default();
    /// config.retention_ms = 60_000; // a minute
    /// let p = log.create_topic("t", 1, config)?.partition(0)?;
    /// p.append(&[Record::new(b"old"), Record::new(b"older")])?;
    /// p.roll()?; // retention deletes whole segments
    /// clock.advance_ms(30_000);
    /// p.append(&[Record::new(b"new")])?;
    ///
    /// assert!(log.enforce_retention()?.is_empty()); // nothing is a minute old yet
    /// clock.advance_ms(31_000); // the first segment is, the second is not
    /// let outcome = log.enforce_retention()?;
    /// assert_eq!((outcome[0].partition.as_str(), outcome[0].segments_deleted), ("t-0", 1));
    /// assert_eq!((outcome[0].log_start_offset, p.log_start_offset()), (2, 2));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn enforce_retention(&self) -> Result<Vec<RetentionOutcome>> {
        self.check_writable("enforce_retention")?;
        self.inner.enforce_retention()
    }

    /// Compacts every partition of the topics whose `cleanup.policy` includes `compact`, now
    /// (see [`Partition::compact`]). The maintenance thread does the same every
    /// `cleaner_backoff_ms` for partitions whose dirty ratio reached `min.cleanable.dirty.ratio`.
    /// Topics without `compact` are left alone.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{CleanupPolicy, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let mut config = TopicConfig::default();
    /// config.cleanup_policy = CleanupPolicy::Compact;
    /// let users = log.create_topic("users", 1, config)?.partition(0)?;
    /// let events = log.create_topic("events", 1, TopicConfig::default())?.partition(0)?;
    /// for p in [&users, &events] {
    ///     p.append(&[Record::new(b"v1").with_key(b"alice"), Record::new(b"v2").with_key(b"alice")])?;
    ///     p.roll()?; // the active segment is never compacted
    /// }
    /// let outcomes = log.compact()?;
    /// assert_eq!(outcomes.len(), 1); // only the compacted topic
    /// assert_eq!((outcomes[0].partition.as_str(), outcomes[0].records_removed), ("users-0", 1));
    /// assert_eq!(users.read(0, 1 << 20)?.len(), 1);
    /// assert_eq!(events.read(0, 1 << 20)?.len(), 2);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn compact(&self) -> Result<Vec<CompactionOutcome>> {
        self.check_writable("compact")?;
        self.inner.compact(Trigger::Now)
    }

    /// Makes everything appended to every partition durable (see [`Partition::flush`]) and
    /// records the recovery points, so that a recovery after a crash starts from here.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 2, TopicConfig::default())?.partition(1)?;
    /// p.append(&[Record::new(b"durable once flushed")])?;
    /// log.flush()?;
    /// assert_eq!(p.recovery_point(), 1);
    /// log.simulate_crash(); // a crash now loses nothing
    /// assert_eq!(Log::open(dir.path())?.partition("t", 1)?.log_end_offset(), 1);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn flush(&self) -> Result<()> {
        self.check_writable("flush")?;
        for p in self.partitions() {
            p.flush()?;
        }
        self.write_checkpoints()
    }

    fn partitions(&self) -> Vec<Partition> {
        self.inner.partitions()
    }

    fn write_checkpoints(&self) -> Result<()> {
        self.inner.write_checkpoints()
    }

    fn stop_prefill(&self) {
        if let Some(prefill) = &self.inner.prefill {
            prefill.stop();
        }
    }

    /// Flushes and seals every partition, writes the recovery points, records a clean
    /// shutdown and releases the directory's lock, for every handle: when it returns, the
    /// directory can be opened again, and producers, consumers and other clients of this log
    /// fail with [`Error::Closed`] (records waiting in a producer fail with it too). Partition
    /// handles still held can read but no longer append. Dropping a `Log`
    /// does the same, ignoring errors. If a partition had failed a write or fsync, its error is
    /// returned and no clean shutdown is recorded, so the next open recovers.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Error, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a")])?;
    /// log.clone().close()?; // any handle closes it for all
    /// assert!(matches!(p.append(&[Record::new(b"b")]), Err(Error::Closed { .. })));
    /// assert_eq!(p.read(0, 1 << 20)?.len(), 1); // handles still read
    /// assert!(dir.path().join(".kafka_cleanshutdown").exists());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn close(self) -> Result<()> {
        self.close_inner()
    }

    /// Drops the log as if the process had died at this instant: no flush, no seal, no
    /// recovery-point checkpoint, no clean-shutdown marker; files stay exactly as they are (what
    /// was written is in the page cache, as after a real process crash). Partition handles still
    /// held stop accepting appends. For crash tests: the next open recovers.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("t", 1, TopicConfig::default())?.partition(0)?.append(&[Record::new(b"v")])?;
    /// log.simulate_crash();
    /// let log = Log::open(dir.path())?; // recovers: every batch is checked again
    /// assert_eq!(log.partition("t", 0)?.log_end_offset(), 1);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn simulate_crash(self) {
        self.inner.closed.store(true, Ordering::Release);
        self.stop_maintenance();
        self.stop_prefill();
        for p in self.partitions() {
            p.abandon();
        }
        // A process that dies releases its locks.
        self.inner.lock.lock().take();
    }

    fn close_inner(&self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let result = self.close_files();
        // Closed for every handle and client now (they fail with `Error::Closed`), whatever
        // the outcome: the directory is free for the next open.
        self.inner.lock.lock().take();
        result
    }

    fn close_files(&self) -> Result<()> {
        self.stop_maintenance();
        self.stop_prefill();
        let mut first_error = None;
        for p in self.partitions() {
            if let Err(e) = p.close() {
                first_error.get_or_insert(e);
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        if self.inner.read_only {
            return Ok(()); // nothing was written, and nothing is
        }
        // A clean-shutdown marker is a promise that everything is flushed: only without errors.
        self.write_checkpoints()?;
        let marker = self.inner.dir.join(CLEAN_SHUTDOWN_FILE);
        let unchanged = fingerprint(&self.partitions()) == self.inner.opened_as;
        let epoch = if unchanged { self.inner.broker_epoch } else { -1 };
        let text = format!("{{\"version\":0,\"brokerEpoch\":{epoch}}}");
        files::write_atomic(&*self.inner.options.io, &marker, text.as_bytes())
    }
}

impl LogInner {
    fn topics_changed(&self) {
        self.topics_version.fetch_add(1, Ordering::AcqRel);
    }

    fn forget_foreign_checkpoints(&self, topic: &str) {
        for checkpoint in self.foreign_checkpoints.lock().iter_mut() {
            checkpoint.retain(|(t, _), _| t != topic);
        }
    }

    fn partitions(&self) -> Vec<Partition> {
        self.topics.read().values().flat_map(|t| t.partitions().iter().cloned()).collect()
    }

    fn compact(&self, trigger: Trigger) -> Result<Vec<CompactionOutcome>> {
        let mut outcomes = Vec::new();
        for p in self.partitions() {
            let pass = match trigger {
                Trigger::Now => match p.compact() {
                    Err(Error::NotCompacted { .. }) => None, // the log compacts the topics that compact
                    other => other?,
                },
                Trigger::IfDirty => p.compact_if_dirty()?,
            };
            outcomes.extend(pass);
        }
        if !outcomes.is_empty() {
            self.write_checkpoints()?;
        }
        Ok(outcomes)
    }

    fn enforce_retention(&self) -> Result<Vec<RetentionOutcome>> {
        let mut outcomes = Vec::new();
        for p in self.partitions() {
            if let Some(outcome) = p.enforce_retention()? {
                outcomes.push(outcome);
            }
        }
        if !outcomes.is_empty() {
            self.write_checkpoints()?;
        }
        Ok(outcomes)
    }
}

impl Clone for Log {
    fn clone(&self) -> Self {
        self.inner.handles.fetch_add(1, Ordering::AcqRel);
        Log { inner: self.inner.clone() }
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        if self.inner.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            let _ = self.close_inner();
        }
    }
}

/// The `.lock` file of an open data directory, locked; unlocked when dropped.
struct DirLock {
    /// Held open: closing it releases both locks.
    file: Option<File>,
    /// Its identity (device, inode) in [`LOCKED`].
    id: (u64, u64),
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Closed before its entry goes: an open of the same directory by another thread
        // waits for the registry, then finds the file free, and its new descriptor is not
        // the one whose close drops the process's record locks.
        let mut locked = LOCKED.lock();
        drop(self.file.take());
        locked.remove(&self.id);
    }
}

/// The `.lock` files this process holds. A record lock (`fcntl`) belongs to the process and is
/// released when the process closes any descriptor of the file: a second `Log::open` of a
/// directory this process has open must be refused without opening its `.lock`, or closing that
/// descriptor would drop the first one's lock against a Kafka broker.
static LOCKED: Mutex<std::collections::BTreeSet<(u64, u64)>> = Mutex::new(std::collections::BTreeSet::new());

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn file_id(_meta: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

fn lock_dir(dir: &Path) -> Result<DirLock> {
    let path = dir.join(LOCK_FILE);
    let mut locked = LOCKED.lock();
    let held = |path: &Path| std::fs::metadata(path).ok().is_some_and(|m| locked.contains(&file_id(&m)));
    if cfg!(unix) && held(&path) {
        return Err(Error::DirectoryLocked { path, holder: "another Log of this process" });
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(Error::io("open", &path))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(Error::DirectoryLocked { path, holder: "another Log (of this or another process)" })
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("lock", &path)(e)),
    }
    posix_lock(&file, &path)?;
    let id = file_id(&file.metadata().map_err(Error::io("stat", &path))?);
    locked.insert(id);
    Ok(DirLock { file: Some(file), id })
}

/// A Kafka broker locks its `log.dir`'s `.lock` with `FileChannel.tryLock`: a POSIX record
/// lock (`fcntl`), which on Linux neither sees nor is seen by the `flock` lock above. partlog
/// takes both, so it cannot open a directory a running broker holds, nor a broker start on one
/// partlog holds. (A record lock is per process: two `Log`s of one process are kept apart by the
/// `flock` lock.)
#[cfg(unix)]
fn posix_lock(file: &File, path: &Path) -> Result<()> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: `libc::flock` is a plain C struct of integers, for which all zero bytes is a
    // valid value; the fields that matter are set below.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as _;
    lock.l_whence = libc::SEEK_SET as _;
    lock.l_start = 0;
    lock.l_len = 0; // the whole file
                    // SAFETY: the descriptor belongs to `file`, which is open for the whole call (borrowed), and
                    // `&lock` points to an initialised `flock` that lives across the call; F_SETLK only reads it.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &lock as *const libc::flock) };
    if rc == 0 {
        return Ok(());
    }
    let source = std::io::Error::last_os_error();
    match source.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EACCES) => Err(Error::DirectoryLocked {
            path: path.to_owned(),
            holder: "another process, such as a running Kafka broker,",
        }),
        _ => Err(Error::io("lock", path)(source)),
    }
}

#[cfg(not(unix))]
fn posix_lock(_file: &File, _path: &Path) -> Result<()> {
    Ok(())
}

fn config_path(dir: &Path, topic: &str) -> PathBuf {
    dir.join(format!("{topic}{CONFIG_SUFFIX}"))
}

/// `<topic prefix>-<partition>.p<unique hex id>-delete`, at most 200 + 6 + 1 + 33 + 7 bytes.
/// The `p` tells it from a broker's `<topic>-<partition>.<32 hex digits>-delete`, which is not
/// partlog's to remove.
fn delete_dir_name(topic: &str, partition: u32) -> String {
    static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let unique = format!("{DELETE_MARK}{nanos:x}{:x}", SEQUENCE.fetch_add(1, Ordering::Relaxed));
    format!("{}-{partition}.{unique}{DELETE_SUFFIX}", &topic[..topic.len().min(200)])
}

/// Whether `name` is a deletion directory partlog made: `p` and hex digits (this build), or hex
/// digits not 32 long (earlier builds). A broker names its own with a UUID's 32 hex digits; those
/// are left for the broker.
fn is_partlog_deletion(name: &str) -> bool {
    let Some((_, unique)) = name.strip_suffix(DELETE_SUFFIX).and_then(|stem| stem.rsplit_once('.')) else {
        return false;
    };
    let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    match unique.strip_prefix(DELETE_MARK) {
        Some(rest) => hex(rest),
        None => hex(unique) && unique.len() != 32,
    }
}

fn partitions_path(dir: &Path, topic: &str) -> PathBuf {
    dir.join(format!("{topic}{PARTITIONS_SUFFIX}"))
}

/// Moves the config and partition-count files of a directory written by an earlier build from
/// `topic-configs/` and `topic-partitions/` (sub-directories a Kafka broker refuses) to
/// `<topic>.conf` and `<topic>.part`, then removes the emptied directories. Each move is an
/// atomic rename, made durable before the old directory goes, so a crash at any point leaves
/// every file in one place or the other and the next open finishes the move. A name found in
/// both places, or anything else in an old directory, is reported and left as it is.
fn migrate_legacy_metadata(io: &dyn Io, dir: &Path) -> Result<()> {
    for (sub, suffix) in [(LEGACY_CONFIG_DIR, CONFIG_SUFFIX), (LEGACY_PARTITIONS_DIR, PARTITIONS_SUFFIX)] {
        let old_dir = dir.join(sub);
        if !old_dir.is_dir() {
            continue;
        }
        let mut moved = false;
        for entry in std::fs::read_dir(&old_dir).map_err(Error::io("list", &old_dir))? {
            let entry = entry.map_err(Error::io("list", &old_dir))?;
            let name = entry.file_name();
            let name = name.to_str().filter(|n| validate_topic_name(n).is_ok() || n.starts_with(files::TMP_PREFIX));
            let is_file = entry.file_type().map_err(Error::io("stat", entry.path()))?.is_file();
            let Some(name) = name.filter(|_| is_file) else {
                return Err(Error::BadFile {
                    path: entry.path(),
                    reason: format!(
                        "not a topic's file, in {sub}/ (its files now live in `<topic>{suffix}`): left as it is"
                    ),
                });
            };
            if name.starts_with(files::TMP_PREFIX) {
                // An unfinished write: the previous version, if any, is still in place.
                std::fs::remove_file(entry.path()).map_err(Error::io("delete", entry.path()))?;
                continue;
            }
            let target = dir.join(format!("{name}{suffix}"));
            if target.exists() {
                return Err(Error::BadFile {
                    path: entry.path(),
                    reason: format!("{} exists too: which one holds the topic's state is not known", target.display()),
                });
            }
            std::fs::rename(entry.path(), &target).map_err(Error::io("move to the top level", entry.path()))?;
            moved = true;
        }
        if moved {
            files::sync_dir(io, dir)?;
        }
        std::fs::remove_dir(&old_dir).map_err(Error::io("delete", &old_dir))?;
        files::sync_dir(io, dir)?;
    }
    Ok(())
}

/// What `<topic>.part` holds: the partition count, and whether partlog knows that
/// the topic was never compacted (then its offsets are dense, and a gap is damage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PartitionCount {
    partitions: u32,
    never_compacted: bool,
}

const NEVER_COMPACTED: &str = "never-compacted";

fn write_partition_count(io: &dyn Io, dir: &Path, topic: &str, count: PartitionCount) -> Result<()> {
    let mut text = format!("{}\n", count.partitions);
    if count.never_compacted {
        text.push_str(NEVER_COMPACTED);
        text.push('\n');
    }
    files::write_atomic(io, &partitions_path(dir, topic), text.as_bytes())
}

/// A persisted partition count: a number in `1..=MAX_PARTITIONS` on the first line, optionally
/// `never-compacted` on the second.
fn parse_partition_count(text: &str) -> Option<PartitionCount> {
    let mut lines = text.strip_suffix('\n')?.split('\n');
    let partitions: u32 = lines.next()?.parse().ok()?;
    let never_compacted = match lines.next() {
        None => false,
        Some(NEVER_COMPACTED) => true,
        Some(_) => return None,
    };
    (lines.next().is_none() && (1..=MAX_PARTITIONS).contains(&partitions))
        .then_some(PartitionCount { partitions, never_compacted })
}

/// The config of a topic found without one (a broker's partition, whose config lives in the
/// cluster's metadata): the default config, but nothing is deleted by age or size until a config
/// says so. Data partlog knows nothing about is kept.
fn found_config(options: &LogOptions) -> TopicConfig {
    let mut config = options.default_topic_config.clone();
    config.retention_ms = -1;
    config.retention_bytes = -1;
    config
}

fn write_config(io: &dyn Io, dir: &Path, topic: &str, config: &TopicConfig) -> Result<()> {
    files::write_atomic(io, &config_path(dir, topic), config.to_properties().as_bytes())
}

/// The `brokerEpoch` of a clean-shutdown marker, `{"version":0,"brokerEpoch":N}` (Kafka's
/// `CleanShutdownFileHandler`); `None` for anything else.
fn parse_broker_epoch(text: &str) -> Option<i64> {
    let rest = &text[text.find("\"brokerEpoch\"")? + "\"brokerEpoch\"".len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '-')).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Deletes temporary files of writes that did not finish (the previous version, if any, is
/// still in place): `~<name>` for the files partlog writes whole (the checkpoints, the
/// clean-shutdown marker, a topic's config and partition count), and nothing else starting
/// with `~`, which is someone else's.
fn remove_unfinished_temporaries(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(Error::io("list", dir))? {
        let entry = entry.map_err(Error::io("list", dir))?;
        let name = entry.file_name();
        let Some(written) = name.to_str().and_then(|n| n.strip_prefix(files::TMP_PREFIX)) else { continue };
        let topic_file = [CONFIG_SUFFIX, PARTITIONS_SUFFIX]
            .iter()
            .any(|suffix| written.strip_suffix(suffix).is_some_and(|topic| validate_topic_name(topic).is_ok()));
        let log_file =
            [RECOVERY_POINT_FILE, LOG_START_OFFSET_FILE, CLEANER_OFFSET_FILE, CLEAN_SHUTDOWN_FILE].contains(&written);
        if (topic_file || log_file) && entry.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::remove_file(entry.path()).map_err(Error::io("delete", entry.path()))?;
        }
    }
    Ok(())
}

/// Splits a partition directory name `<topic>-<n>` into its parts.
fn parse_partition_dir(name: &str) -> Option<(&str, u32)> {
    let (topic, id) = name.rsplit_once('-')?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) || validate_topic_name(topic).is_err() {
        return None;
    }
    Some((topic, id.parse().ok().filter(|&id| id < MAX_PARTITIONS)?))
}

/// What the directory holds of one topic.
#[derive(Default)]
struct FoundTopic {
    /// The config file and its text.
    config: Option<(PathBuf, String)>,
    /// The numbers of its partition directories.
    dirs: std::collections::BTreeSet<u32>,
    /// The persisted partition count.
    partitions: Option<PartitionCount>,
}

type Found = BTreeMap<String, FoundTopic>;

/// Finds the topics in `dir`: partition directories, config files and partition counts;
/// with `tidy`, removes what interrupted deletions left.
fn discover(dir: &Path, tidy: bool) -> Result<Found> {
    let mut found: Found = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(Error::io("list", dir))? {
        let entry = entry.map_err(Error::io("list", dir))?;
        let Ok(name) = entry.file_name().into_string() else { continue };
        if entry.file_type().map_err(Error::io("stat", entry.path()))?.is_dir() {
            if is_partlog_deletion(&name) {
                if !tidy {
                    continue;
                }
                std::fs::remove_dir_all(entry.path()).map_err(Error::io("delete", entry.path()))?;
            } else if let Some((topic, id)) = parse_partition_dir(&name) {
                found.entry(topic.to_owned()).or_default().dirs.insert(id);
            }
            continue;
        }
        let (topic, is_config) = if let Some(topic) = name.strip_suffix(CONFIG_SUFFIX) {
            (topic, true)
        } else if let Some(topic) = name.strip_suffix(PARTITIONS_SUFFIX) {
            (topic, false)
        } else {
            continue;
        };
        // Followed if a link: a symlinked config is still the topic's config.
        if validate_topic_name(topic).is_err() || !std::fs::metadata(entry.path()).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let text = match std::fs::read_to_string(entry.path()) {
            Ok(text) => text,
            // Deleted since the listing: read-only logs share the directory with its owner.
            Err(e) if !tidy && e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("read", entry.path())(e)),
        };
        let slot = found.entry(topic.to_owned()).or_default();
        if is_config {
            slot.config = Some((entry.path(), text));
        } else {
            let count = parse_partition_count(&text).ok_or_else(|| Error::BadFile {
                path: entry.path(),
                reason: format!("not a partition count (1..={MAX_PARTITIONS}, then optionally `{NEVER_COMPACTED}`)"),
            })?;
            slot.partitions = Some(count);
        }
    }
    // A config file alone, with neither a partition count nor a partition directory, is not a
    // topic (`create_topic` writes the count first): someone else's `*.conf`, left alone.
    found.retain(|_, t| t.partitions.is_some() || !t.dirs.is_empty());
    Ok(found)
}

/// What every partition being opened shares.
struct Opening<'a> {
    options: &'a LogOptions,
    /// Open the partitions read-only.
    read_only: bool,
    /// Writes the log's checkpoints (after a partition's truncation).
    checkpoints: &'a CheckpointHook,
    /// partlog created the topic without `compact` and has never compacted it.
    never_compacted: bool,
    prefill: &'a Option<Arc<Prefill>>,
    clean_shutdown: bool,
    recovery_points: &'a Checkpoint,
    log_start_offsets: &'a Checkpoint,
    first_dirty_offsets: &'a Checkpoint,
}

/// At most this many threads open the partitions of one topic.
const PARALLEL_OPEN_THREADS: usize = 8;

/// Threads that open partitions: the CPUs available, up to [`PARALLEL_OPEN_THREADS`]; looked up
/// once (on Linux the lookup reads cgroup files).
fn open_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()).min(PARALLEL_OPEN_THREADS))
}
/// Topics with fewer partitions are opened by the calling thread alone.
const PARALLEL_OPEN_MIN_PARTITIONS: usize = 16;

impl Opening<'_> {
    fn topic(
        &self,
        dir: &Path,
        name: &str,
        partitions: u32,
        config: Arc<TopicConfig>,
        recovery: &mut Vec<RecoveryEvent>,
    ) -> Result<Topic> {
        let partitions = self.partitions(dir, name, 0..partitions, &config, recovery)?;
        Ok(Topic { inner: Arc::new(TopicInner { name: name.to_owned(), config, partitions }) })
    }

    /// Opens partitions `ids` of topic `name`.
    fn partitions(
        &self,
        dir: &Path,
        name: &str,
        ids: std::ops::Range<u32>,
        config: &Arc<TopicConfig>,
        recovery: &mut Vec<RecoveryEvent>,
    ) -> Result<Vec<Partition>> {
        let topic_name: Arc<str> = Arc::from(name);
        let open_one = |id: u32, recovery: &mut Vec<RecoveryEvent>| {
            let spec = OpenSpec {
                topic: topic_name.clone(),
                id,
                dir: dir.join(format!("{name}-{id}")),
                config: config.clone(),
                clock: self.options.clock.clone(),
                io: self.options.io.clone(),
                prefill: self.prefill.clone(),
                clean_shutdown: self.clean_shutdown,
                recovery_point: self.recovery_points.get(&(name.to_owned(), id)).copied(),
                log_start_offset: self.log_start_offsets.get(&(name.to_owned(), id)).copied(),
                first_dirty_offset: self.first_dirty_offsets.get(&(name.to_owned(), id)).copied(),
                dedupe_buffer_bytes: self.options.cleaner_dedupe_buffer_bytes,
                strict: self.options.recovery_mode == RecoveryMode::Strict,
                on_truncate: self.checkpoints.clone(),
                offsets: if self.never_compacted && !config.cleanup_policy.compacts() {
                    Offsets::Dense
                } else {
                    Offsets::Increasing
                },
                read_only: self.read_only,
            };
            match self.read_only {
                true => Partition::open_read_only(spec, recovery),
                false => Partition::open(spec, recovery),
            }
        };
        // Opening is mostly system calls (listing, opening and checking each segment's files):
        // many partitions are opened by a few threads at once, as Kafka's
        // `num.recovery.threads.per.data.dir` does, with results and events in partition order.
        if ids.len() < PARALLEL_OPEN_MIN_PARTITIONS || open_threads() < 2 {
            return ids.map(|id| open_one(id, recovery)).collect();
        }
        let ids: Vec<u32> = ids.collect();
        let chunk = ids.len().div_ceil(open_threads());
        // After a failure no further partition is opened (as the sequential open stops at the
        // first): opening may cut torn tails, and the failed open reports nothing.
        let failed = std::sync::atomic::AtomicBool::new(false);
        let opened: Vec<Vec<(Result<Partition>, Vec<RecoveryEvent>)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = ids
                .chunks(chunk)
                .map(|part| {
                    let (open_one, failed) = (&open_one, &failed);
                    scope.spawn(move || {
                        let mut opened = Vec::new();
                        for &id in part {
                            if failed.load(std::sync::atomic::Ordering::SeqCst) {
                                break;
                            }
                            let mut events = Vec::new();
                            let result = open_one(id, &mut events);
                            if result.is_err() {
                                failed.store(true, std::sync::atomic::Ordering::SeqCst);
                            }
                            opened.push((result, events));
                        }
                        opened
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
        });
        let mut partitions = Vec::with_capacity(ids.len());
        for (result, events) in opened.into_iter().flatten() {
            recovery.extend(events);
            partitions.push(result?);
        }
        // A thread stops early only after another pushed its error, which the loop returned.
        debug_assert_eq!(partitions.len(), ids.len());
        Ok(partitions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_directory_names_parse_at_the_last_dash() {
        assert_eq!(parse_partition_dir("orders-3"), Some(("orders", 3)));
        assert_eq!(parse_partition_dir("a-1-0"), Some(("a-1", 0)));
        assert_eq!(parse_partition_dir("orders-"), None);
        assert_eq!(parse_partition_dir("orders-x"), None);
        assert_eq!(parse_partition_dir("-3"), None);
        assert_eq!(parse_partition_dir("topic-configs"), None);
        assert_eq!(parse_partition_dir("orders.conf"), None);
    }

    #[test]
    fn broker_epochs_are_read_from_clean_shutdown_markers() {
        assert_eq!(parse_broker_epoch(r#"{"version":0,"brokerEpoch":11}"#), Some(11));
        assert_eq!(parse_broker_epoch(r#"{"brokerEpoch": -1, "version":0}"#), Some(-1));
        assert_eq!(parse_broker_epoch(""), None);
        assert_eq!(parse_broker_epoch(r#"{"brokerEpoch":"x"}"#), None);
        assert_eq!(parse_broker_epoch(r#"{"brokerEpoch":99999999999999999999999}"#), None);
        assert_eq!(parse_partition_dir("orders-3.1a2b-delete"), None);
        assert_eq!(parse_partition_dir("orders-3.0123456789abcdef0123456789abcdef-delete"), None);
    }

    #[test]
    fn partlogs_deletion_directories_are_told_from_a_brokers() {
        let name = delete_dir_name("orders", 3);
        assert!(name.starts_with("orders-3.p") && is_partlog_deletion(&name), "{name}");
        assert!(delete_dir_name(&"t".repeat(249), 65_535).len() <= 255);
        assert!(is_partlog_deletion("orders-3.18b2f3a4c5d6e7f01-delete"), "an earlier build's");
        assert!(!is_partlog_deletion("orders-3.0123456789abcdef0123456789abcdef-delete"), "a broker's");
        assert!(!is_partlog_deletion("orders-3.pxyz-delete"));
        assert!(!is_partlog_deletion("orders-3-delete"));
        assert!(!is_partlog_deletion("orders-3.abc-stray"));
    }
}
