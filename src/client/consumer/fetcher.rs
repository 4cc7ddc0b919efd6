//! The fetch buffer (Kafka's `Fetcher` and `CompletedFetch`): how records are read from the
//! assigned partitions, buffered (each batch read and checked once, served across polls) and
//! handed out, moving positions past them.

#[cfg(feature = "async")]
use std::sync::atomic::Ordering;
#[cfg(feature = "async")]
use std::time::Instant;

use super::subscription::{Mode, PartState};
use super::{Consumer, ConsumerRecord, OffsetReset};
#[cfg(feature = "async")]
use crate::coordinator::types::TopicPartition;
use crate::error::{Error, Result};
use crate::partition::Fetch;

impl Consumer {
    /// Hands out buffered records, up to `remaining`: at most one partition keeps a buffer
    /// from poll to poll, so this empties it before anything is fetched.
    fn drain_buffers(&mut self, remaining: &mut usize, out: &mut Vec<ConsumerRecord>) {
        let n = self.order.len();
        let start = if n == 0 { 0 } else { self.cursor % n };
        for i in 0..n {
            let state = self.parts.get_mut(&self.order[(start + i) % n]).expect("order lists parts");
            if state.buffered.front().is_some_and(|r| r.offset < state.partition.log_start_offset()) {
                // Deleted since it was fetched (retention, delete_records): not handed out;
                // the position is out of range now, and the fetch resets it.
                state.buffered.clear();
            }
            if !state.paused {
                hand_out(state, remaining, out);
            }
        }
    }

    /// Buffered records, handed out without a group step, a commit or any I/O: for the async
    /// consumer to answer on the executor's thread. `None` when the next poll has other work
    /// (an async commit to complete, auto-commit due, a wake-up) or nothing is buffered.
    #[cfg(feature = "async")]
    pub(crate) fn take_buffered(&mut self, max_records: usize) -> Option<Vec<ConsumerRecord>> {
        let other_work = self.closed
            || self.log.is_closed()
            || self.in_callback
            || self.mode == Mode::None
            || !self.pending.is_empty()
            || self.callback_error.is_some()
            || self.wakeup.load(Ordering::SeqCst)
            // The group: a rejoin asked for (a new subscription), a rebalance begun or ended,
            // a group timer due.
            || self.rejoin
            || (matches!(self.mode, Mode::Subscribed(_))
                && (self.liveness.group_changed() || self.next_check.is_some_and(|at| at <= Instant::now())))
            || (self.config.auto_commit() && Instant::now() >= self.next_auto_commit);
        if other_work || !self.parts.values().any(|s| !s.paused && !s.buffered.is_empty()) {
            return None;
        }
        let (mut remaining, mut out) = (max_records, Vec::new());
        self.drain_buffers(&mut remaining, &mut out);
        (!out.is_empty()).then_some(out)
    }

    /// Takes back records handed out that never reached the application (an async poll's
    /// outcome nobody awaited): they are buffered again, and the positions moved back to them.
    #[cfg(feature = "async")]
    pub(crate) fn give_back(&mut self, records: Vec<ConsumerRecord>) {
        for record in records.into_iter().rev() {
            let tp = TopicPartition::new(&*record.topic, record.partition);
            // Only partitions still assigned, at the position the record left them.
            let Some(state) = self.parts.get_mut(&tp) else { continue };
            if state.paused || state.position.is_none_or(|p| p <= record.offset) {
                continue;
            }
            state.position = Some(record.offset);
            state.buffered.push_front(record);
        }
    }

    /// Hands out up to `max_records` records: first those already buffered, then from fetches
    /// of the partitions with none buffered, starting at a rotating one so that a busy
    /// partition cannot starve the others. A position moves only past records handed out, so
    /// that a commit never covers a record the application did not receive; a fetch that
    /// fails skips nothing (records handed out before it are returned first, and the error
    /// comes with the next poll).
    pub(super) fn collect(&mut self, max_records: usize) -> Result<Vec<ConsumerRecord>> {
        let n = self.order.len();
        let mut out = Vec::new();
        if n == 0 {
            return Ok(out);
        }
        let start = self.cursor % n;
        let mut remaining = max_records;
        self.drain_buffers(&mut remaining, &mut out);
        let mut bytes_left = self.config.fetch_max_bytes;
        let in_group = matches!(self.mode, Mode::Subscribed(_));
        for i in 0..n {
            if remaining == 0 || bytes_left == 0 {
                break;
            }
            let index = (start + i) % n;
            let tp = &self.order[index];
            let state = self.parts.get_mut(tp).expect("order lists parts");
            if state.paused || state.position.is_none() || !state.buffered.is_empty() {
                continue;
            }
            // The next fetch starts at the partition after this one.
            self.cursor = (index + 1) % n;
            let max_bytes = self.config.max_partition_fetch_bytes.min(bytes_left).max(1);
            match fill(state, tp.partition, &mut self.fetch, self.config.auto_offset_reset, max_bytes, in_group) {
                Ok(read) => bytes_left = bytes_left.saturating_sub(read),
                Err(e) if out.is_empty() => return Err(e),
                // The records handed out are the application's now; the error comes next time.
                Err(_) => break,
            }
            hand_out(state, &mut remaining, &mut out);
        }
        Ok(out)
    }
}

/// Moves up to `remaining` buffered records of `state` to `out`, and the position past them.
fn hand_out(state: &mut PartState, remaining: &mut usize, out: &mut Vec<ConsumerRecord>) {
    let mut moved = false;
    while *remaining > 0 {
        let Some(record) = state.buffered.pop_front() else { break };
        state.position = Some(record.offset + 1);
        out.push(record);
        *remaining -= 1;
        moved = true;
    }
    if moved && state.buffered.is_empty() {
        // Past what the fetch covered: control batches, offsets compaction removed.
        state.position = state.position.map(|p| p.max(state.fetched_to));
    }
}

/// Fetches the records of `state` from its position into its (empty) buffer, resetting an
/// out-of-range position by `auto.offset.reset`. Returns the bytes read.
fn fill(
    state: &mut PartState,
    id: u32,
    fetch: &mut Fetch,
    reset: OffsetReset,
    max_bytes: usize,
    in_group: bool,
) -> Result<usize> {
    debug_assert!(state.buffered.is_empty());
    let Some(mut position) = state.position else { return Ok(0) };
    let partition = &state.partition;
    state.fetched_to = position;
    for attempt in 0..2 {
        if position == partition.log_end_offset() && position >= partition.log_start_offset() {
            return Ok(0);
        }
        match partition.fetch(position, max_bytes, fetch) {
            Ok(()) => break,
            // Out of range (retention deleted it, or past the end): reset by auto.offset.reset
            // and read from there in this same poll.
            Err(e @ Error::OffsetOutOfRange { .. }) => {
                position = match reset {
                    OffsetReset::None => return Err(e),
                    OffsetReset::Earliest => partition.log_start_offset(),
                    OffsetReset::Latest => partition.log_end_offset(),
                };
                state.position = Some(position);
                state.fetched_to = position;
                if attempt == 1 {
                    // Moved again meanwhile (a racing delete): the next poll tries again.
                    return Ok(0);
                }
            }
            // Its topic was deleted: the group rebalances it away at the next check-in.
            Err(Error::Closed { .. }) if in_group => return Ok(0),
            Err(e) => return Err(e),
        }
    }
    let mut next = fetch.next_offset().max(position);
    for record in fetch.records() {
        let record = match record {
            Ok(r) => r,
            // Records before the damage are served; the fetch from after them fails again,
            // with the located error, once they are handed out.
            Err(_) if !state.buffered.is_empty() => {
                next = state.buffered.back().map_or(position, |r| r.offset + 1);
                break;
            }
            Err(e) => return Err(e),
        };
        if record.offset() < position {
            continue;
        }
        let owned = record.to_owned();
        state.buffered.push_back(ConsumerRecord {
            topic: state.topic.clone(),
            partition: id,
            offset: owned.offset,
            timestamp: owned.timestamp,
            timestamp_type: record.timestamp_type(),
            key: owned.key,
            value: owned.value,
            headers: owned.headers,
        });
    }
    state.fetched_to = next;
    if state.buffered.is_empty() {
        // Nothing to hand out (control batches, offsets compaction removed): past it.
        state.position = Some(next);
    }
    Ok(fetch.raw_batches().len())
}
