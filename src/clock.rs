//! Time, injectable so tests (and simulations) control it instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in milliseconds since the Unix epoch.
///
/// partlog asks it for the timestamp of records appended without one, for LogAppendTime, and
/// for time-based decisions (`segment.ms` without record timestamps).
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::sync::Arc;
/// use partlog::{Clock, Log, LogOptions, Record, TopicConfig};
/// #[derive(Debug)]
/// struct Frozen(i64); // a clock stopped at one instant
/// impl Clock for Frozen {
///     fn now_ms(&self) -> i64 {
///         self.0
///     }
/// }
/// let log = Log::open_with(dir.path(), LogOptions::default().clock(Arc::new(Frozen(42_000))))?;
/// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
/// p.append(&[Record::new(b"a")])?; // no timestamp of its own: the clock's
/// assert_eq!(p.read(0, 1 << 20)?[0].timestamp, 42_000);
/// assert_eq!(log.clock().now_ms(), 42_000);
/// # Ok::<(), partlog::Error>(())
/// ```
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// Milliseconds since the Unix epoch.
    ///
    /// # Example
    /// ```
    /// use partlog::{Clock, ManualClock, SystemClock};
    /// assert_eq!(ManualClock::new(1_700_000_000_000).now_ms(), 1_700_000_000_000);
    /// assert!(SystemClock.now_ms() > 1_577_836_800_000); // after 2020-01-01
    /// ```
    fn now_ms(&self) -> i64;
}

/// The operating system's clock.
///
/// # Example
/// ```
/// use partlog::{Clock, LogOptions, SystemClock};
/// let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
/// assert!((SystemClock.now_ms() - now.as_millis() as i64).abs() < 60_000);
/// assert_eq!(format!("{:?}", LogOptions::default().clock), "SystemClock"); // the default clock
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
    }
}

/// A clock that moves only when told to.
///
/// # Example
/// ```
/// use partlog::{Clock, ManualClock};
/// let clock = ManualClock::new(1_000);
/// clock.advance_ms(500);
/// assert_eq!(clock.now_ms(), 1_500);
/// clock.set_ms(7);
/// assert_eq!(clock.now_ms(), 7);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock {
    now_ms: AtomicI64,
}

impl ManualClock {
    /// A clock reading `now_ms`.
    ///
    /// # Example
    /// ```
    /// use partlog::{Clock, ManualClock};
    /// let clock = ManualClock::new(1_000);
    /// assert_eq!((clock.now_ms(), clock.now_ms()), (1_000, 1_000)); // it does not move by itself
    /// assert_eq!(ManualClock::default().now_ms(), 0);
    /// ```
    pub fn new(now_ms: i64) -> Self {
        ManualClock { now_ms: AtomicI64::new(now_ms) }
    }

    /// Sets the time.
    ///
    /// # Example
    /// ```
    /// use partlog::{Clock, ManualClock};
    /// let clock = ManualClock::new(1_000);
    /// clock.set_ms(5_000);
    /// assert_eq!(clock.now_ms(), 5_000);
    /// clock.set_ms(10); // backwards too, as a wall clock may go
    /// assert_eq!(clock.now_ms(), 10);
    /// ```
    pub fn set_ms(&self, now_ms: i64) {
        self.now_ms.store(now_ms, Ordering::SeqCst);
    }

    /// Moves the time forward by `ms`.
    ///
    /// # Example
    /// ```
    /// use std::sync::Arc;
    /// use partlog::{Clock, ManualClock};
    /// let clock = Arc::new(ManualClock::new(1_000));
    /// let shared: Arc<dyn Clock> = clock.clone(); // as a Log holds it
    /// clock.advance_ms(250);
    /// clock.advance_ms(250);
    /// assert_eq!(shared.now_ms(), 1_500);
    /// ```
    pub fn advance_ms(&self, ms: i64) {
        self.now_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}
