//! The in-process group coordinator, the broker's side of consumer groups (Kafka's
//! `group-coordinator`: `GroupMetadataManager` and `OffsetMetadataManager`): one per open
//! [`Log`], kept with [`Log::shared`]. Members join, the coordinator runs the assignor itself
//! (as KIP-848's coordinator does, with the client assignors' results), generations and member
//! ids fence stale commits, and committed offsets and group metadata are records of
//! `__consumer_offsets` in Kafka's schemas, replayed when the log is opened.
//!
//! Clients reach it through the group protocol (`protocol.rs`), [`Admin`](crate::Admin)
//! through the methods of [`Coordinator`]. The files, by concern: `classic.rs` (the classic
//! protocol's join, heartbeat and leave, and a group's state), `liveness.rs` (members' timers,
//! without a network), `offsets.rs` (commits, fetches, expiry, deletion), `persistence.rs`
//! (the group record, replay, and the committed-offsets check at open), `describe.rs`,
//! `assignor.rs` (Kafka's assignors), `schema.rs` (the records of `__consumer_offsets`), and
//! `types.rs`, the public value types the clients share with it.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::Result;
use crate::format::record::Record;
use crate::log::topic::Topic;
use crate::log::Log;
use classic::Group;

pub(crate) mod assignor;
mod classic;
pub(crate) mod describe;
mod liveness;
mod offsets;
mod persistence;
pub(crate) mod protocol;
pub(crate) mod schema;
pub(crate) mod types;

pub(crate) use persistence::clamp_committed_offsets;

/// One group, locked on its own: one group's work never waits for another's.
type GroupCell = Arc<Mutex<Group>>;

/// The coordinator of one open log.
///
/// Locks: `groups` is held only to find, add or remove a group, never across a group's work
/// and never while waiting for a group's lock; a group's lock may be held while taking
/// `groups` (to remove itself). Appends to `__consumer_offsets` happen under a group's lock
/// (its records stay in order); the coordinator's own fsyncs (commits, expiry, deletion)
/// happen under none of its locks. (An append that rolls an offsets partition's segment leaves
/// the fsync of the sealed one to the log's background thread, as every roll inside an append
/// does; a commit's own fsync covers it if it is still owed.)
pub(crate) struct Coordinator {
    topic: Topic,
    clock: Arc<dyn crate::Clock>,
    groups: Mutex<HashMap<String, GroupCell>>,
    next_member: AtomicU64,
    /// Log-clock time of the last offset expiry pass.
    last_expiry_check_ms: AtomicI64,
}

impl fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coordinator").field("topic", &self.topic.name()).finish()
    }
}

impl Coordinator {
    /// The coordinator of `log`, loaded on first use.
    pub(crate) fn of(log: &Log) -> Result<Arc<Coordinator>> {
        log.shared(Coordinator::load)
    }

    /// Runs `f` on group `name` under its lock: `None` if there is no such group, unless
    /// `create_at_ms` says to create it (empty, at that log-clock time).
    fn with_group<R>(&self, name: &str, create_at_ms: Option<i64>, f: impl FnOnce(&mut Group) -> R) -> Option<R> {
        loop {
            let cell = match create_at_ms {
                Some(now_ms) => self
                    .groups
                    .lock()
                    .entry(name.to_owned())
                    .or_insert_with(|| Arc::new(Mutex::new(Group::new(now_ms))))
                    .clone(),
                None => self.groups.lock().get(name)?.clone(),
            };
            let mut g = cell.lock();
            if !g.dead {
                return Some(f(&mut g));
            }
            // Deleted while we waited: it is out of the map now (removed under its lock).
            create_at_ms?;
        }
    }

    /// Every group, by name, as the map holds them now (locked one at a time after).
    fn cells(&self) -> Vec<(String, GroupCell)> {
        self.groups.lock().iter().map(|(n, g)| (n.clone(), g.clone())).collect()
    }

    /// Marks `g` deleted and takes it out of the map; the caller holds its lock.
    fn remove_locked(&self, name: &str, g: &mut Group) {
        g.dead = true;
        self.groups.lock().remove(name);
    }

    fn partition_of(&self, group: &str) -> Result<crate::partition::Partition> {
        self.topic.partition(schema::partition_for_group(group, self.topic.partition_count()))
    }

    /// Appends coordinator records for `group` (not yet durable); returns the offset after them.
    fn write(&self, group: &str, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<u64> {
        let list: Vec<Record<'_>> = records
            .iter()
            .map(|(k, v)| match v {
                Some(v) => Record::new(v).with_key(k),
                None => Record::tombstone(k),
            })
            .collect();
        let info = self.partition_of(group)?.append(&list)?;
        Ok(info.last_offset + 1)
    }

    fn durable(&self, group: &str, upto: u64) -> Result<()> {
        self.partition_of(group)?.flush_to(upto)
    }
}
