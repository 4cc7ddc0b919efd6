//! Committed offsets (Kafka's `OffsetMetadataManager`): commits, fenced as the classic protocol
//! fences them; offset fetches; offset expiry (`offsets.retention.minutes`, KIP-211); and the
//! deletion of a group with its offsets.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use super::classic::{fenced, Group, UNKNOWN_MEMBER};
use super::protocol::{check_group_id, CommitRequest, CommitWritten};
use super::schema;
use super::types::{GroupState, OffsetAndMetadata, TopicPartition};
use super::Coordinator;
use crate::error::{Error, Result};
use crate::log::Log;

/// `offset.metadata.max.bytes`: the longest metadata string, in characters as Kafka counts
/// them (UTF-16 units).
pub(crate) const MAX_METADATA_CHARS: usize = 4096;
/// `offsets.retention.minutes` (7 days).
const OFFSETS_RETENTION_MS: i64 = 10080 * 60 * 1000;
/// `offsets.retention.check.interval.ms`.
const OFFSETS_RETENTION_CHECK_MS: i64 = 600_000;

/// A committed offset, with the times `OffsetCommitValue` records for its expiry.
pub(super) struct Committed {
    pub(super) value: OffsetAndMetadata,
    pub(super) commit_timestamp: i64,
    pub(super) expire_timestamp: i64,
}

impl Coordinator {
    /// Commits offsets for `group` (written, not yet durable: the caller makes the returned
    /// [`CommitWritten`] durable), fenced as Kafka's `validateOffsetCommit` fences them.
    pub(crate) fn commit(&self, log: &Log, name: &str, request: CommitRequest<'_>) -> Result<Option<CommitWritten>> {
        let CommitRequest { member, instance_id, offsets } = request;
        for (tp, o) in offsets {
            let chars = o.metadata.encode_utf16().count();
            if chars > MAX_METADATA_CHARS {
                return Err(Error::OffsetMetadataTooLarge {
                    partition: tp.to_string(),
                    chars,
                    max: MAX_METADATA_CHARS,
                });
            }
            if o.offset > i64::MAX as u64 {
                return Err(Error::OffsetOverflow("a committed offset must fit an int64"));
            }
        }
        check_group_id(name)?;
        if offsets.is_empty() {
            return Ok(None);
        }
        let now_ms = self.clock.now_ms();
        self.maybe_expire_offsets(now_ms)?;
        // A consumer outside the group (manual assignment) may create it; a member may not.
        let create = if member.is_none() { Some(now_ms) } else { None };
        let upto = self
            .with_group(name, create, |g| -> Result<u64> {
                self.expire(log, name, g)?;
                validate_commit(name, g, member, instance_id)?;
                let records: Vec<_> = offsets
                    .iter()
                    .map(|(tp, o)| {
                        (
                            schema::offset_key(name, &tp.topic, tp.partition),
                            Some(schema::offset_value(o.offset, &o.metadata, now_ms)),
                        )
                    })
                    .collect();
                let upto = self.write(name, &records)?;
                for (tp, o) in offsets {
                    g.offsets.insert(
                        tp.clone(),
                        Committed { value: o.clone(), commit_timestamp: now_ms, expire_timestamp: -1 },
                    );
                }
                Ok(upto)
            })
            .unwrap_or_else(|| Err(Error::UnknownGroup { group: name.to_owned() }))?;
        // The caller makes it durable (`make_durable`): concurrent commits share the fsync.
        Ok(Some(CommitWritten { partition: self.partition_of(name)?, upto }))
    }

    /// The committed offsets of `partitions` (`None` where there is none).
    pub(crate) fn committed(&self, name: &str, partitions: &[TopicPartition]) -> Vec<Option<OffsetAndMetadata>> {
        self.with_group(name, None, |g| {
            partitions.iter().map(|tp| g.offsets.get(tp).map(|c| c.value.clone())).collect()
        })
        .unwrap_or_else(|| vec![None; partitions.len()])
    }

    /// Deletes an empty group: tombstones for its offsets and its metadata.
    pub(crate) fn delete_group(&self, log: &Log, name: &str) -> Result<()> {
        let upto = self
            .with_group(name, None, |g| -> Result<u64> {
                self.expire(log, name, g)?;
                if !g.members.is_empty() {
                    return Err(Error::NonEmptyGroup { group: name.to_owned(), members: g.members.len() });
                }
                let mut records: Vec<_> =
                    g.offsets.keys().map(|tp| (schema::offset_key(name, &tp.topic, tp.partition), None)).collect();
                records.push((schema::group_key(name), None));
                let upto = self.write(name, &records)?;
                self.remove_locked(name, g);
                Ok(upto)
            })
            .unwrap_or_else(|| Err(Error::UnknownGroup { group: name.to_owned() }))?;
        // Outside the group's lock: its members' polls and commits do not wait for the fsync.
        self.durable(name, upto)
    }

    /// Kafka's offset expiry (`offsets.retention.minutes`, KIP-211), at most once per
    /// `offsets.retention.check.interval.ms` of the log's clock.
    pub(super) fn maybe_expire_offsets(&self, now_ms: i64) -> Result<()> {
        let last = self.last_expiry_check_ms.load(Ordering::Acquire);
        if now_ms.saturating_sub(last) < OFFSETS_RETENTION_CHECK_MS {
            return Ok(());
        }
        // One caller runs the pass; the others go on.
        if self.last_expiry_check_ms.compare_exchange(last, now_ms, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return Ok(());
        }
        self.expire_offsets(now_ms)
    }

    /// One expiry pass: each group in turn under its own lock (tombstones appended there), then
    /// the fsyncs, under no lock.
    fn expire_offsets(&self, now_ms: i64) -> Result<()> {
        let cells = self.cells();
        let mut durable: Vec<(String, u64)> = Vec::new();
        for (name, cell) in cells {
            let mut g = cell.lock();
            if g.dead {
                continue;
            }
            if let Some(upto) = self.expire_group_offsets(&name, &mut g, now_ms)? {
                durable.push((name, upto));
            }
        }
        for (name, upto) in durable {
            self.durable(&name, upto)?;
        }
        Ok(())
    }

    /// Expires `g`'s offsets that are due (removing the group if that empties it); returns the
    /// offset its tombstones end at, to be made durable.
    fn expire_group_offsets(&self, name: &str, g: &mut Group, now_ms: i64) -> Result<Option<u64>> {
        let subscribed: BTreeSet<&String> = g.members.values().flat_map(|m| m.topics.iter()).collect();
        let base_is_state_time = !g.protocol_type.is_empty() && g.state == GroupState::Empty;
        let expirable = g.protocol_type.is_empty() || matches!(g.state, GroupState::Empty | GroupState::Stable);
        if !expirable {
            return Ok(None);
        }
        let expired: Vec<TopicPartition> = g
            .offsets
            .iter()
            .filter(|(tp, c)| {
                if subscribed.contains(&tp.topic) {
                    return false;
                }
                if c.expire_timestamp != -1 {
                    return now_ms >= c.expire_timestamp;
                }
                let base = if base_is_state_time { g.state_since_ms } else { c.commit_timestamp };
                now_ms.saturating_sub(base) >= OFFSETS_RETENTION_MS
            })
            .map(|(tp, _)| tp.clone())
            .collect();
        if expired.is_empty() {
            return Ok(None);
        }
        let mut records: Vec<_> =
            expired.iter().map(|tp| (schema::offset_key(name, &tp.topic, tp.partition), None)).collect();
        for tp in &expired {
            g.offsets.remove(tp);
        }
        let emptied = g.offsets.is_empty() && g.members.is_empty();
        if emptied {
            records.push((schema::group_key(name), None));
        }
        let upto = self.write(name, &records)?;
        if emptied {
            self.remove_locked(name, g);
        }
        Ok(Some(upto))
    }

    /// Runs the offset expiry now (tests and [`Admin`](crate::Admin)).
    pub(crate) fn expire_offsets_now(&self) -> Result<()> {
        let now_ms = self.clock.now_ms();
        self.last_expiry_check_ms.store(now_ms, Ordering::Release);
        self.expire_offsets(now_ms)
    }
}

/// Kafka's `ClassicGroup#validateOffsetCommit`, in its order.
fn validate_commit(name: &str, g: &Group, member: Option<(&str, i32)>, instance_id: Option<&str>) -> Result<()> {
    let Some((member_id, generation)) = member else {
        if g.members.is_empty() {
            return Ok(());
        }
        return Err(Error::CommitFailed {
            group: name.to_owned(),
            reason: "the group has active members; a consumer outside it (manual assignment) cannot commit",
        });
    };
    if let Some(instance) = instance_id {
        if g.static_member(instance).is_some_and(|current| current != member_id) {
            return Err(fenced(name, Some(instance)));
        }
    }
    if g.fenced.contains(member_id) {
        return Err(fenced(name, instance_id));
    }
    let Some(m) = g.members.get(member_id) else {
        return Err(Error::CommitFailed { group: name.to_owned(), reason: UNKNOWN_MEMBER });
    };
    if generation != g.generation {
        // Kafka's CompletingRebalance: the member is in the group but has not taken the new
        // generation's assignment yet (the in-process coordinator skips that state).
        let not_taken = m.acked_generation < g.generation && generation == m.acked_generation;
        if g.state == GroupState::PreparingRebalance || not_taken {
            return Err(Error::RebalanceInProgress { group: name.to_owned() });
        }
        return Err(Error::CommitFailed {
            group: name.to_owned(),
            reason: "the group has rebalanced since this member's generation; its partitions may have moved",
        });
    }
    Ok(())
}
