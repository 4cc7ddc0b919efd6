//! The log's maintenance thread: `flush.ms` for partitions nobody appends to, checkpoints,
//! retention and background compaction, each on its own interval, until the log closes.

use parking_lot::{Condvar, Mutex};

use super::{Log, LogInner};
use crate::error::{Error, Result};
use crate::partition::Trigger;

/// The background thread's stop signal.
#[derive(Default)]
pub(super) struct Maintenance {
    stop: Mutex<bool>,
    wake: Condvar,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// The maintenance thread: applies `flush.ms` to partitions with unflushed data and writes the
/// recovery-point checkpoint every `checkpoint_interval_ms`, until the log closes.
fn maintenance_loop(inner: &LogInner, interval_ms: u64) {
    let mut last_checkpoint = inner.options.clock.now_ms();
    let mut last_retention = last_checkpoint;
    let mut last_cleaning = last_checkpoint;
    loop {
        {
            let mut stop = inner.maintenance.stop.lock();
            if !*stop {
                inner.maintenance.wake.wait_for(&mut stop, std::time::Duration::from_millis(interval_ms));
            }
            if *stop {
                break;
            }
        }
        let now = inner.options.clock.now_ms();
        for p in inner.partitions() {
            if p.flush_due(now) {
                // A failed fsync stops the partition's appends; its callers see the error.
                let _ = p.flush();
            }
            p.purge_deleted(now);
        }
        if let Some(every) = inner.options.cleaner_backoff_ms {
            if now.saturating_sub(last_cleaning) >= ms_i64(every) {
                // A failed write or fsync stops that partition's appends; the next pass retries.
                let _ = inner.compact(Trigger::IfDirty);
                last_cleaning = now;
            }
        }
        if let Some(every) = inner.options.retention_check_interval_ms {
            if now.saturating_sub(last_retention) >= ms_i64(every) {
                // A failed write or fsync stops that partition's appends; the next pass retries.
                let _ = inner.enforce_retention();
                last_retention = now;
            }
        }
        if now.saturating_sub(last_checkpoint) >= ms_i64(inner.options.checkpoint_interval_ms) {
            let _ = inner.write_checkpoints();
            last_checkpoint = now;
        }
    }
}

impl Log {
    pub(super) fn start_maintenance(&self) -> Result<()> {
        let Some(interval_ms) = self.inner.options.maintenance_interval_ms else { return Ok(()) };
        let inner = self.inner.clone();
        let handle = std::thread::Builder::new()
            .name("partlog-maintenance".into())
            .spawn(move || maintenance_loop(&inner, interval_ms.max(1)))
            .map_err(Error::io("start the maintenance thread", &self.inner.dir))?;
        *self.inner.maintenance.thread.lock() = Some(handle);
        Ok(())
    }

    pub(super) fn stop_maintenance(&self) {
        *self.inner.maintenance.stop.lock() = true;
        self.inner.maintenance.wake.notify_all();
        if let Some(handle) = self.inner.maintenance.thread.lock().take() {
            let _ = handle.join();
        }
    }
}

/// An interval in milliseconds as the clock's `i64`: past `i64::MAX` it never comes.
fn ms_i64(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}
