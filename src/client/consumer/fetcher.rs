//! The fetch buffer (Kafka's `Fetcher` and `CompletedFetch`): how records are read from the
//! assigned partitions, buffered (each batch read and checked once, served across polls) and
//! handed out, moving positions past them.

#[cfg(feature = "async")]
use std::sync::atomic::Ordering;
#[cfg(feature = "async")]
use std::time::Instant;

use super::subscription::{Mode, PartState};
use super::{Consumer, ConsumerRecord, OffsetReset};
use std::sync::Arc;

use crate::coordinator::types::TopicPartition;
use crate::error::{Error, Result};
use crate::format::record::{OwnedHeader, RecordRef};
use crate::partition::{Fetch, RecordsAt};

/// Where handed-out records go: owned [`ConsumerRecord`]s (`poll`), or borrowed, to a closure
/// (`poll_with`).
pub(super) trait Sink {
    fn take(&mut self, tp: &TopicPartition, topic: &Arc<str>, record: RecordRef<'_>);
    /// Records taken so far.
    fn taken(&self) -> usize;
}

impl Sink for Vec<ConsumerRecord> {
    fn take(&mut self, tp: &TopicPartition, topic: &Arc<str>, record: RecordRef<'_>) {
        self.push(ConsumerRecord {
            topic: topic.clone(),
            partition: tp.partition,
            offset: record.offset(),
            timestamp: record.timestamp(),
            timestamp_type: record.timestamp_type(),
            key: record.key().map(<[u8]>::to_vec),
            value: record.value().map(<[u8]>::to_vec),
            headers: record
                .headers()
                .map(|h| OwnedHeader { key: h.key.to_vec(), value: h.value.map(<[u8]>::to_vec) })
                .collect(),
        });
    }

    fn taken(&self) -> usize {
        self.len()
    }
}

/// Records handed to a closure, borrowed from the fetched batches.
pub(super) struct Borrowed<F> {
    pub(super) f: F,
    pub(super) taken: usize,
}

impl<F: FnMut(&TopicPartition, RecordRef<'_>)> Sink for Borrowed<F> {
    fn take(&mut self, tp: &TopicPartition, _topic: &Arc<str>, record: RecordRef<'_>) {
        (self.f)(tp, record);
        self.taken += 1;
    }

    fn taken(&self) -> usize {
        self.taken
    }
}

/// A partition's fetched batches not yet handed out, and where handing them out stands (Kafka's
/// `CompletedFetch`): each batch is read, checked and decoded once, its records handed out
/// across polls straight from the fetched bytes. Dropped by anything that moves the position or
/// stops the partition being read.
#[derive(Default)]
pub(super) struct Buffered {
    fetched: Option<(Fetch, RecordsAt)>,
}

impl Buffered {
    pub(super) fn clear(&mut self) {
        self.fetched = None;
    }

    pub(super) fn is_empty(&self) -> bool {
        self.fetched.is_none()
    }

    /// The offset of the next record to hand out (a look ahead, decoding it), if there is one.
    fn next_offset(&self) -> Option<u64> {
        let (fetch, at) = self.fetched.as_ref()?;
        fetch.records_at(*at).next()?.ok().map(|r| r.offset())
    }
}

impl Consumer {
    /// Hands out buffered records, up to `remaining`: at most one partition keeps a buffer
    /// from poll to poll (besides paused ones), so this empties it before anything is fetched.
    /// A record that fails to decode fails the poll if nothing was handed out before it.
    fn drain_buffers(&mut self, remaining: &mut usize, out: &mut impl Sink) -> Result<()> {
        let n = self.order.len();
        let start = if n == 0 { 0 } else { self.cursor % n };
        for i in 0..n {
            let tp = &self.order[(start + i) % n];
            let state = self.parts.get_mut(tp).expect("order lists parts");
            if state.buffered.next_offset().is_some_and(|next| next < state.partition.log_start_offset()) {
                // Deleted since it was fetched (retention, delete_records): not handed out;
                // the position is out of range now, and the fetch resets it.
                state.buffered.clear();
            }
            if !state.paused {
                hand_out(state, tp, remaining, out, &mut self.fetch)?;
            }
        }
        Ok(())
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
        // A record that fails to decode: the poll that fetches it again reports it.
        let _ = self.drain_buffers(&mut remaining, &mut out);
        (!out.is_empty()).then_some(out)
    }

    /// Takes back records handed out that never reached the application (an async poll's
    /// outcome nobody awaited): the positions move back to them, and the partitions' buffers
    /// are dropped, to be fetched again from there.
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
            state.buffered.clear();
        }
    }

    /// Hands out up to `max_records` records: first those already buffered, then from fetches
    /// of the partitions with none buffered, starting at a rotating one so that a busy
    /// partition cannot starve the others. A position moves only past records handed out, so
    /// that a commit never covers a record the application did not receive; a fetch that
    /// fails skips nothing (records handed out before it are returned first, and the error
    /// comes with the next poll).
    pub(super) fn collect(&mut self, max_records: usize, out: &mut impl Sink) -> Result<()> {
        let n = self.order.len();
        if n == 0 {
            return Ok(());
        }
        let start = self.cursor % n;
        let mut remaining = max_records;
        let taken_before = out.taken();
        self.drain_buffers(&mut remaining, out)?;
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
            let filled =
                fill(state, &mut self.fetch, self.config.auto_offset_reset, max_bytes, in_group).and_then(|read| {
                    bytes_left = bytes_left.saturating_sub(read);
                    hand_out(state, tp, &mut remaining, out, &mut self.fetch)
                });
            match filled {
                Ok(()) => {}
                Err(e) if out.taken() == taken_before => return Err(e),
                // The records handed out are the application's now; the error comes next time.
                Err(_) => break,
            }
        }
        Ok(())
    }
}

/// Moves up to `remaining` buffered records of `state` (partition `id`) to `out`, decoded from
/// the fetched bytes, and the position past them; an emptied buffer's `Fetch` goes back to
/// `spare`. A record that fails to decode drops the buffer: it is an error if nothing of the
/// partition was handed out before it (else the next fetch, from after them, meets it again).
fn hand_out(
    state: &mut PartState,
    tp: &TopicPartition,
    remaining: &mut usize,
    out: &mut impl Sink,
    spare: &mut Fetch,
) -> Result<()> {
    let Some((fetch, at)) = &mut state.buffered.fetched else { return Ok(()) };
    let mut records = fetch.records_at(*at);
    let mut moved = false;
    let mut exhausted = false;
    while *remaining > 0 {
        let record = match records.next() {
            None => {
                exhausted = true;
                break;
            }
            Some(Ok(record)) => record,
            Some(Err(e)) => {
                state.buffered.clear();
                return if moved { Ok(()) } else { Err(e) };
            }
        };
        if state.position.is_some_and(|p| record.offset() < p) {
            continue;
        }
        let offset = record.offset();
        out.take(tp, &state.topic, record);
        // Past it once it was taken: a closure that panics leaves it to be handed out again.
        state.position = Some(offset + 1);
        *remaining -= 1;
        moved = true;
    }
    if !exhausted {
        *at = records.at();
        return Ok(());
    }
    // Past what the fetch covered: control batches, offsets compaction removed.
    state.position = state.position.map(|p| p.max(state.fetched_to));
    if let Some((fetch, _)) = state.buffered.fetched.take() {
        *spare = fetch;
    }
    Ok(())
}

/// Fetches the records of `state` from its position into its (empty) buffer, with `spare`'s
/// buffers, resetting an out-of-range position by `auto.offset.reset`. Returns the bytes read.
fn fill(
    state: &mut PartState,
    spare: &mut Fetch,
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
        match partition.fetch(position, max_bytes, spare) {
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
    state.fetched_to = spare.next_offset().max(position);
    let read = spare.raw_batches().len();
    let fetch = std::mem::take(spare);
    let at = fetch.records().at();
    state.buffered.fetched = Some((fetch, at));
    Ok(read)
}
