//! How a [`Log`](super::Log) is opened: [`LogOptions`] and [`RecoveryMode`].

use std::sync::Arc;

#[cfg(doc)]
use {super::Log, crate::Error};

use crate::clock::{Clock, SystemClock};
use crate::config::TopicConfig;
use crate::storage::io::{Io, OsIo};

/// What opening does with corruption found after an unclean shutdown.
///
/// # Example
/// ```
/// use partlog::{LogOptions, RecoveryMode};
/// assert_eq!(RecoveryMode::default(), RecoveryMode::TruncateCorruptTail); // Kafka's
/// assert_eq!(LogOptions::default().recovery_mode, RecoveryMode::TruncateCorruptTail);
/// ```
///
/// [`LogOptions::recovery_mode`] shows both modes on a damaged tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// Cut each damaged segment at its first invalid batch, delete the segments after it, and
    /// report what was dropped in [`Log::recovery_report`] (Kafka's behaviour).
    #[default]
    TruncateCorruptTail,
    /// Refuse to open: any invalid batch found by recovery is an [`Error::CorruptBatch`], and
    /// no data file is changed.
    Strict,
}

/// How a [`Log`] is opened.
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use partlog::{LogOptions, ManualClock, RecoveryMode, TopicConfig};
/// let mut defaults = TopicConfig::default();
/// defaults.retention_ms = 3_600_000;
/// let options = LogOptions::default()
///     .default_topic_config(defaults)
///     .clock(Arc::new(ManualClock::new(0)))
///     .recovery_mode(RecoveryMode::Strict)
///     .maintenance_interval_ms(None)
///     .preallocate_in_background(false);
/// assert_eq!(options.default_topic_config.retention_ms, 3_600_000);
/// assert!(!options.preallocate_in_background && LogOptions::default().preallocate_in_background);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LogOptions {
    /// Config of topics found on disk without a config file (for example partition
    /// directories copied from a Kafka broker).
    pub default_topic_config: TopicConfig,
    /// Time source for append timestamps and time-based decisions.
    pub clock: Arc<dyn Clock>,
    /// What to do with corruption found when opening after an unclean shutdown.
    pub recovery_mode: RecoveryMode,
    /// The file operations durability depends on; replace it to inject faults in tests.
    pub io: Arc<dyn Io>,
    /// How often the background maintenance thread wakes (applying `flush.ms` to partitions
    /// nobody appends to, writing checkpoints); `None` runs no thread. Default 1000 ms.
    pub maintenance_interval_ms: Option<u64>,
    /// `log.flush.offset.checkpoint.interval.ms`: how often the maintenance thread writes the
    /// recovery-point and log-start-offset checkpoints (default 60 000). They are also written by
    /// [`Log::flush`], [`Log::enforce_retention`] and on close.
    pub checkpoint_interval_ms: u64,
    /// `log.retention.check.interval.ms`: how often the maintenance thread applies retention
    /// (default 300 000); `None` leaves it to [`Log::enforce_retention`].
    pub retention_check_interval_ms: Option<u64>,
    /// `log.cleaner.dedupe.buffer.size`: memory for one compaction pass's key map, 24 bytes per
    /// key (default 128 MiB). A pass whose dirty range has more keys cleans the part it covers.
    pub cleaner_dedupe_buffer_bytes: usize,
    /// `log.cleaner.backoff.ms`: how often the maintenance thread looks for compacted partitions
    /// whose dirty ratio passed `min.cleanable.dirty.ratio` (default 15 000); `None` leaves
    /// compaction to [`Log::compact`].
    pub cleaner_backoff_ms: Option<u64>,
    /// Whether a background thread zero-fills the active segments' files ahead of their
    /// appends (default `true`). Appends then skip the zero-fill and the page faults on the
    /// pages it prepared, a large part of an uncompressed append (the README's performance
    /// section has the numbers), when a core is free to do it. Without the thread (or when an
    /// append outruns it) each append fills for itself. With it, a second thread, started at
    /// the first roll inside an append, fsyncs the segments such rolls seal, as Kafka flushes a
    /// rolled segment in the background; without it, that roll fsyncs before the append returns.
    pub preallocate_in_background: bool,
    /// Open the directory read-only (default `false`); [`Log::open_read_only`] sets it. See
    /// there for what that means.
    pub read_only: bool,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            default_topic_config: TopicConfig::default(),
            clock: Arc::new(SystemClock),
            recovery_mode: RecoveryMode::default(),
            io: Arc::new(OsIo),
            maintenance_interval_ms: Some(1000),
            checkpoint_interval_ms: 60_000,
            retention_check_interval_ms: Some(300_000),
            cleaner_dedupe_buffer_bytes: 128 << 20,
            cleaner_backoff_ms: Some(15_000),
            preallocate_in_background: true,
            read_only: false,
        }
    }
}

impl LogOptions {
    /// Sets [`read_only`](Self::read_only).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Error, Log, LogOptions, Record, TopicConfig};
    /// let writer = Log::open(dir.path())?;
    /// writer.create_topic("t", 1, TopicConfig::default())?.partition(0)?.append(&[Record::new(b"a")])?;
    /// let reader = Log::open_with(dir.path(), LogOptions::default().read_only(true))?;
    /// let p = reader.partition("t", 0)?;
    /// assert_eq!(p.read(0, 1 << 20)?.len(), 1);
    /// assert!(matches!(p.append(&[Record::new(b"b")]), Err(Error::ReadOnly { .. })));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn read_only(mut self, on: bool) -> Self {
        self.read_only = on;
        self
    }

    /// Sets [`default_topic_config`](Self::default_topic_config).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, LogOptions, Record, TopicConfig};
    /// // A partition directory without partlog's config file, as copied from a Kafka broker.
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("copied", 1, TopicConfig::default())?.partition(0)?.append(&[Record::new(b"a")])?;
    /// log.close()?;
    /// std::fs::remove_file(dir.path().join("copied.conf"))?;
    ///
    /// let log = Log::open_with(dir.path(), LogOptions::default().default_topic_config(TopicConfig::event_store()))?;
    /// assert_eq!(log.topic("copied")?.config().retention_ms, -1);
    /// assert_eq!(log.partition("copied", 0)?.log_end_offset(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn default_topic_config(mut self, config: TopicConfig) -> Self {
        self.default_topic_config = config;
        self
    }

    /// Sets [`clock`](Self::clock).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::sync::Arc;
    /// use partlog::{Log, LogOptions, ManualClock, Record, TopicConfig};
    /// let clock = Arc::new(ManualClock::new(1_000));
    /// let log = Log::open_with(dir.path(), LogOptions::default().clock(clock.clone()))?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a")])?; // no timestamp: the clock's time
    /// clock.advance_ms(500);
    /// p.append(&[Record::new(b"b")])?;
    /// assert_eq!(p.read(0, 1 << 20)?.iter().map(|r| r.timestamp).collect::<Vec<_>>(), [1_000, 1_500]);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets [`recovery_mode`](Self::recovery_mode).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::io::{Seek, SeekFrom, Write};
    /// use partlog::{Error, Log, LogOptions, Record, RecoveryMode, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"kept")])?;
    /// let (file, end) = (p.segments()[0].log_path().to_owned(), p.size_bytes());
    /// // A crash, with a second copy of the batch written but one byte of it wrong.
    /// let mut batch = std::fs::read(&file)?[..end as usize].to_vec();
    /// log.simulate_crash();
    /// *batch.last_mut().unwrap() ^= 1;
    /// let mut f = std::fs::OpenOptions::new().write(true).open(&file)?;
    /// f.seek(SeekFrom::Start(end))?;
    /// f.write_all(&batch)?;
    ///
    /// let strict = Log::open_with(dir.path(), LogOptions::default().recovery_mode(RecoveryMode::Strict));
    /// assert!(matches!(strict, Err(Error::CorruptBatch { .. })));
    /// let log = Log::open(dir.path())?; // the default cuts the damaged tail and reports it
    /// assert_eq!(log.recovery_report()[0].position, end);
    /// assert_eq!(log.partition("t", 0)?.log_end_offset(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recovery_mode(mut self, mode: RecoveryMode) -> Self {
        self.recovery_mode = mode;
        self
    }

    /// Sets [`io`](Self::io).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::sync::Arc;
    /// use partlog::{FaultyIo, Log, LogOptions, Record, TopicConfig};
    /// let io = Arc::new(FaultyIo::new()); // counts (and can fail) the log's writes and fsyncs
    /// let log = Log::open_with(dir.path(), LogOptions::default().io(io.clone()))?;
    /// let before = io.writes();
    /// log.create_topic("t", 1, TopicConfig::default())?.partition(0)?.append(&[Record::new(b"a")])?;
    /// assert!(io.writes() > before);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn io(mut self, io: Arc<dyn Io>) -> Self {
        self.io = io;
        self
    }

    /// Sets [`maintenance_interval_ms`](Self::maintenance_interval_ms).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, LogOptions};
    /// assert_eq!(LogOptions::default().maintenance_interval_ms, Some(1000));
    /// // No background thread: retention, compaction and checkpoints only when called.
    /// let options = LogOptions::default().maintenance_interval_ms(None);
    /// assert_eq!(options.maintenance_interval_ms, None);
    /// let log = Log::open_with(dir.path(), options)?;
    /// assert!(log.enforce_retention()?.is_empty());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn maintenance_interval_ms(mut self, interval_ms: Option<u64>) -> Self {
        self.maintenance_interval_ms = interval_ms;
        self
    }

    /// Sets [`retention_check_interval_ms`](Self::retention_check_interval_ms).
    ///
    /// # Example
    /// ```
    /// use partlog::LogOptions;
    /// assert_eq!(LogOptions::default().retention_check_interval_ms, Some(300_000)); // Kafka's 5 minutes
    /// let options = LogOptions::default().retention_check_interval_ms(Some(10_000));
    /// assert_eq!(options.retention_check_interval_ms, Some(10_000));
    /// ```
    pub fn retention_check_interval_ms(mut self, interval_ms: Option<u64>) -> Self {
        self.retention_check_interval_ms = interval_ms;
        self
    }

    /// Sets [`cleaner_dedupe_buffer_bytes`](Self::cleaner_dedupe_buffer_bytes).
    ///
    /// # Example
    /// ```
    /// use partlog::LogOptions;
    /// assert_eq!(LogOptions::default().cleaner_dedupe_buffer_bytes, 128 << 20);
    /// let options = LogOptions::default().cleaner_dedupe_buffer_bytes(24 << 20); // about a million keys a pass
    /// assert_eq!(options.cleaner_dedupe_buffer_bytes / 24, 1 << 20);
    /// ```
    pub fn cleaner_dedupe_buffer_bytes(mut self, bytes: usize) -> Self {
        self.cleaner_dedupe_buffer_bytes = bytes;
        self
    }

    /// Sets [`cleaner_backoff_ms`](Self::cleaner_backoff_ms).
    ///
    /// # Example
    /// ```
    /// use partlog::LogOptions;
    /// // Background maintenance on, but retention and compaction left to explicit calls.
    /// let options = LogOptions::default()
    ///     .retention_check_interval_ms(None)
    ///     .cleaner_backoff_ms(None)
    ///     .cleaner_dedupe_buffer_bytes(16 << 20)
    ///     .checkpoint_interval_ms(10_000);
    /// assert_eq!((options.retention_check_interval_ms, options.cleaner_backoff_ms), (None, None));
    /// assert_eq!((options.cleaner_dedupe_buffer_bytes, options.checkpoint_interval_ms), (16 << 20, 10_000));
    /// assert_eq!(LogOptions::default().cleaner_backoff_ms, Some(15_000));
    /// ```
    pub fn cleaner_backoff_ms(mut self, interval_ms: Option<u64>) -> Self {
        self.cleaner_backoff_ms = interval_ms;
        self
    }

    /// Sets [`preallocate_in_background`](Self::preallocate_in_background).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, LogOptions, Record, TopicConfig};
    /// // On a machine with no core to spare: each append zero-fills for itself.
    /// let log = Log::open_with(dir.path(), LogOptions::default().preallocate_in_background(false))?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// assert_eq!(p.append(&[Record::new(b"a")])?.first_offset, 0);
    /// assert!(LogOptions::default().preallocate_in_background);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn preallocate_in_background(mut self, on: bool) -> Self {
        self.preallocate_in_background = on;
        self
    }

    /// Sets [`checkpoint_interval_ms`](Self::checkpoint_interval_ms).
    ///
    /// # Example
    /// ```
    /// use partlog::LogOptions;
    /// assert_eq!(LogOptions::default().checkpoint_interval_ms, 60_000); // Kafka's default
    /// assert_eq!(LogOptions::default().checkpoint_interval_ms(5_000).checkpoint_interval_ms, 5_000);
    /// ```
    pub fn checkpoint_interval_ms(mut self, interval_ms: u64) -> Self {
        self.checkpoint_interval_ms = interval_ms;
        self
    }
}
