//! The group protocol: the calls a group member (the consumer) makes to its group coordinator,
//! and the requests and responses that cross between them. Kafka's member-to-coordinator
//! requests, minus the network: JoinGroup (with SyncGroup: the in-process coordinator assigns
//! in the same step, and hands the assignment out with the next heartbeat), Heartbeat,
//! LeaveGroup, OffsetCommit and OffsetFetch.
//!
//! The consumer knows the coordinator only through this module (and the public value types,
//! `types.rs` and [`Assignor`]): [`GroupProtocol`], which the classic coordinator implements
//! (`classic.rs`) and a KIP-848 coordinator (`group.protocol=consumer`) could implement later;
//! [`JoinRequest`], [`HeartbeatResponse`], [`CommitRequest`] and [`CommitWritten`]; and
//! [`Liveness`], the member's side of liveness without a network (`liveness.rs`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::assignor::Assignor;
pub(crate) use super::liveness::Liveness;
use super::types::{OffsetAndMetadata, TopicPartition};
use super::Coordinator;
use crate::error::{Error, Result};
use crate::log::Log;
use crate::partition::{AppendSignal, Partition};

/// What a group member asks of its coordinator. `log` is the log whose groups these are: the
/// coordinator is kept in [`Log::shared`], so it cannot hold its log.
pub(crate) trait GroupProtocol: Send + Sync {
    /// A member joins `group` (`member_id` `None`: a new handle) or rejoins. Returns its member
    /// id. Rejoining fails with [`Error::CommitFailed`] if the member is no longer in the group
    /// (its partitions are lost: it joins again as a new member).
    fn join(&self, log: &Log, group: &str, member_id: Option<&str>, request: JoinRequest) -> Result<String>;

    /// A member's check-in at each `poll`: what it should do, and when to check in again at
    /// the latest (a group timer).
    fn heartbeat(&self, log: &Log, group: &str, member_id: &str) -> Result<(HeartbeatResponse, Option<Instant>)>;

    /// A member gives up partitions it revoked (cooperative), so the next round can move them:
    /// `kept` is what it owns now.
    fn release(&self, log: &Log, group: &str, member_id: &str, kept: &[TopicPartition]) -> Result<()>;

    /// A handle closed or dropped: a dynamic member leaves at once (LeaveGroup); a static one
    /// stays for its session timeout.
    fn leave(&self, log: &Log, group: &str, member_id: &str) -> Result<()>;

    /// Commits offsets for `group`, fenced as Kafka's `validateOffsetCommit` fences them:
    /// written (the group sees them at once), not yet durable; `None` if there was nothing to
    /// commit.
    fn commit_offsets(&self, log: &Log, group: &str, request: CommitRequest<'_>) -> Result<Option<CommitWritten>>;

    /// The committed offsets of `partitions` (`None` where there is none).
    fn fetch_offsets(&self, group: &str, partitions: &[TopicPartition]) -> Vec<Option<OffsetAndMetadata>>;
}

/// The coordinator of `log`'s groups, loaded on first use: the classic one, the only protocol
/// partlog runs (`group.protocol=consumer` is refused).
pub(crate) fn coordinator_of(log: &Log) -> Result<Arc<dyn GroupProtocol>> {
    Ok(Coordinator::of(log)?)
}

/// JoinGroup's request: what a member sends when it joins, its subscription and settings.
pub(crate) struct JoinRequest {
    /// `client.id`: the prefix of a dynamic member's id.
    pub client_id: String,
    /// `group.instance.id`, for a static member.
    pub instance_id: Option<String>,
    /// The subscribed topics.
    pub topics: BTreeSet<String>,
    /// The assignors it supports, in order of preference.
    pub assignors: Vec<Assignor>,
    /// The partitions it owns (or owned last, eager), for the sticky assignors.
    pub owned: Vec<TopicPartition>,
    /// Runs the cooperative protocol (every assignor it lists is cooperative).
    pub cooperative: bool,
    /// `session.timeout.ms`.
    pub session_timeout: Duration,
    /// `max.poll.interval.ms`, also the rebalance timeout.
    pub max_poll_interval: Duration,
    /// Notified when the group changes: the member's `poll` wakes for it.
    pub signal: Arc<AppendSignal>,
    /// The member's polls, which the coordinator checks against `max.poll.interval.ms`.
    pub liveness: Arc<Liveness>,
}

/// Heartbeat's response: what a member should do, answered to its heartbeat (each `poll`).
#[derive(Debug)]
pub(crate) enum HeartbeatResponse {
    /// Nothing changed.
    Stable,
    /// A rebalance started: give up partitions as the protocol says, then join.
    Rejoin,
    /// Joined; waiting for the others. Wake by this time to check again.
    Waiting,
    /// A new generation's assignment.
    /// `lost_first`: the member missed the join phase of this generation (a static member
    /// kept for its session while it did not rejoin): what it owned may have moved, so it
    /// loses it before taking the new assignment (Kafka answers it ILLEGAL_GENERATION).
    Assigned { generation: i32, assignment: Vec<TopicPartition>, lost_first: bool },
    /// The member is gone from the group (it stopped polling, or the group was reloaded):
    /// its partitions are lost; join again as a new member.
    Unknown,
    /// Another handle took over this member's `group.instance.id`.
    Fenced,
}

/// OffsetCommit's request.
pub(crate) struct CommitRequest<'a> {
    /// (member id, generation) for a group member; `None` for a consumer with manual
    /// assignment (generation −1), accepted only while the group has no members.
    pub member: Option<(&'a str, i32)>,
    /// `group.instance.id`, for a static member.
    pub instance_id: Option<&'a str>,
    /// The offsets to commit: the next offset to read in each partition.
    pub offsets: &'a [(TopicPartition, OffsetAndMetadata)],
}

/// OffsetCommit's response: the commit is written to `__consumer_offsets`, and the group sees it;
/// [`make_durable`](Self::make_durable) waits until it survives a power loss. Concurrent commits
/// share the fsync.
pub(crate) struct CommitWritten {
    /// The group's `__consumer_offsets` partition.
    pub(super) partition: Partition,
    /// The offset after the commit's records.
    pub(super) upto: u64,
}

impl CommitWritten {
    /// Makes the commit durable (and whatever was written before it to the same partition).
    pub(crate) fn make_durable(&self) -> Result<()> {
        self.partition.flush_to(self.upto)
    }
}

/// Kafka strings are int16-length-prefixed: longer ones cannot be stored.
const MAX_STRING_BYTES: usize = i16::MAX as usize;

fn check_string(key: &str, value: &str) -> Result<()> {
    if value.len() > MAX_STRING_BYTES {
        return Err(Error::InvalidConfig {
            key: key.to_owned(),
            value: format!("{}...", value.chars().take(20).collect::<String>()),
            reason: format!("{} bytes; Kafka's strings hold at most {MAX_STRING_BYTES}", value.len()),
        });
    }
    Ok(())
}

/// A group id must fit Kafka's string encoding.
pub(crate) fn check_group_id(group: &str) -> Result<()> {
    check_string("group.id", group)
}

/// A member's ids must fit Kafka's string encoding.
pub(super) fn check_member_strings(request: &JoinRequest) -> Result<()> {
    check_string("client.id", &request.client_id)?;
    if let Some(i) = &request.instance_id {
        check_string("group.instance.id", i)?;
    }
    Ok(())
}
