//! Kafka's classic group protocol (`ClassicGroup`, and `GroupMetadataManager`'s join, sync,
//! heartbeat and leave): the state of a group and of its members, rebalances (the join phase,
//! then the assignment, computed here), and the coordinator's side of the group protocol
//! (`protocol.rs`).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::assignor::{self, Assignor, MemberSpec};
use super::liveness::{next_deadline, Liveness};
use super::offsets::Committed;
use super::protocol::{
    check_group_id, check_member_strings, CommitRequest, CommitWritten, GroupProtocol, HeartbeatResponse, JoinRequest,
};
use super::types::{GroupState, OffsetAndMetadata, TopicPartition};
use super::Coordinator;
use crate::error::{Error, Result};
use crate::log::Log;
use crate::partition::AppendSignal;

/// A member, as its group keeps it.
pub(super) struct Member {
    pub(super) instance_id: Option<String>,
    pub(super) client_id: String,
    pub(super) topics: BTreeSet<String>,
    pub(super) assignors: Vec<Assignor>,
    pub(super) owned: Vec<TopicPartition>,
    pub(super) owned_generation: i32,
    pub(super) cooperative: bool,
    pub(super) session_timeout: Duration,
    pub(super) max_poll_interval: Duration,
    /// Rejoined during the current join phase.
    pub(super) joined: bool,
    /// Did not rejoin in the join phase of the current generation (kept as a static member).
    pub(super) missed_join: bool,
    pub(super) assignment: Vec<TopicPartition>,
    /// The generation whose assignment the handle has taken.
    pub(super) acked_generation: i32,
    /// The live handle, if any: static members outlive theirs.
    pub(super) handle: Option<(Arc<AppendSignal>, Arc<Liveness>)>,
    /// When a static member's handle went away.
    pub(super) detached_at: Option<Instant>,
}

/// A group: its state, members and committed offsets.
pub(super) struct Group {
    pub(super) state: GroupState,
    pub(super) generation: i32,
    pub(super) protocol_type: String,
    pub(super) protocol: Option<Assignor>,
    pub(super) leader: Option<String>,
    /// Log-clock time the group entered its state (offset expiry of empty groups).
    pub(super) state_since_ms: i64,
    pub(super) members: BTreeMap<String, Member>,
    /// Member ids replaced by a static member's new handle.
    pub(super) fenced: HashSet<String>,
    pub(super) rebalance_deadline: Option<Instant>,
    /// Partition counts the current assignment was computed from.
    pub(super) metadata: BTreeMap<String, u32>,
    /// The log's topics version `metadata` was checked against (`Log::topics_version`).
    pub(super) metadata_version: u64,
    pub(super) offsets: BTreeMap<TopicPartition, Committed>,
    /// Deleted (emptied by `delete_group` or offset expiry): whoever finds it locked looks the
    /// group up again.
    pub(super) dead: bool,
}

impl Group {
    pub(super) fn new(now_ms: i64) -> Group {
        Group {
            state: GroupState::Empty,
            generation: 0,
            protocol_type: String::new(),
            protocol: None,
            leader: None,
            state_since_ms: now_ms,
            members: BTreeMap::new(),
            fenced: HashSet::new(),
            rebalance_deadline: None,
            metadata: BTreeMap::new(),
            metadata_version: 0,
            offsets: BTreeMap::new(),
            dead: false,
        }
    }

    pub(super) fn static_member(&self, instance: &str) -> Option<String> {
        self.members.iter().find(|(_, m)| m.instance_id.as_deref() == Some(instance)).map(|(id, _)| id.clone())
    }

    fn notify_all(&self) {
        for m in self.members.values() {
            if let Some((signal, liveness)) = &m.handle {
                liveness.mark_group_changed();
                signal.notify();
            }
        }
    }
}

/// The classic coordinator's side of the calls members make (`protocol.rs` says what each
/// does); commits and offset fetches are `offsets.rs`'s, which `Admin` uses too.
impl GroupProtocol for Coordinator {
    fn join(&self, log: &Log, name: &str, member_id: Option<&str>, request: JoinRequest) -> Result<String> {
        let now_ms = self.clock.now_ms();
        self.maybe_expire_offsets(now_ms)?;
        check_group_id(name)?;
        check_member_strings(&request)?;
        self.with_group(name, Some(now_ms), |g| self.join_locked(log, name, g, member_id, request))
            .unwrap_or_else(|| Err(Error::UnknownGroup { group: name.to_owned() }))
    }

    fn heartbeat(&self, log: &Log, name: &str, member_id: &str) -> Result<(HeartbeatResponse, Option<Instant>)> {
        self.with_group(name, None, |g| self.heartbeat_locked(log, name, g, member_id))
            .unwrap_or(Ok((HeartbeatResponse::Unknown, None)))
    }

    fn release(&self, log: &Log, name: &str, member_id: &str, kept: &[TopicPartition]) -> Result<()> {
        self.with_group(name, None, |g| {
            if let Some(m) = g.members.get_mut(member_id) {
                m.owned = kept.to_vec();
            }
            self.prepare_rebalance(g, Instant::now());
            self.try_complete(log, name, g, Instant::now())
        })
        .unwrap_or(Ok(()))
    }

    fn leave(&self, log: &Log, name: &str, member_id: &str) -> Result<()> {
        self.with_group(name, None, |g| self.leave_locked(log, name, g, member_id)).unwrap_or(Ok(()))
    }

    fn commit_offsets(&self, log: &Log, group: &str, request: CommitRequest<'_>) -> Result<Option<CommitWritten>> {
        self.commit(log, group, request)
    }

    fn fetch_offsets(&self, group: &str, partitions: &[TopicPartition]) -> Vec<Option<OffsetAndMetadata>> {
        self.committed(group, partitions)
    }
}

impl Coordinator {
    pub(super) fn prepare_rebalance(&self, g: &mut Group, now: Instant) {
        if g.state != GroupState::PreparingRebalance {
            g.state = GroupState::PreparingRebalance;
            g.state_since_ms = self.clock.now_ms();
            for m in g.members.values_mut() {
                m.joined = false;
            }
            let timeout = g.members.values().map(|m| m.max_poll_interval).max().unwrap_or_default();
            g.rebalance_deadline = now.checked_add(timeout);
        }
        g.notify_all();
    }

    /// Ends the join phase once every live member has rejoined (or the rebalance timeout
    /// passed): assigns, bumps the generation, records the group.
    pub(super) fn try_complete(&self, log: &Log, name: &str, g: &mut Group, now: Instant) -> Result<()> {
        if g.state != GroupState::PreparingRebalance {
            return Ok(());
        }
        let timed_out = g.rebalance_deadline.is_some_and(|d| now >= d);
        let waiting = g.members.values().any(|m| m.handle.is_some() && !m.joined);
        if waiting && !timed_out {
            return Ok(());
        }
        if timed_out {
            // Dynamic members that did not rejoin in time are removed.
            g.members.retain(|_, m| m.joined || m.instance_id.is_some());
        }
        let next_generation = g.generation.wrapping_add(1).max(1);
        let record;
        if g.members.is_empty() {
            g.generation = next_generation;
            g.state = GroupState::Empty;
            g.protocol = None;
            g.leader = None;
            g.metadata.clear();
            g.state_since_ms = self.clock.now_ms();
            record = self.group_record(name, g);
        } else {
            let protocol =
                select_protocol(g).ok_or_else(|| Error::InconsistentGroupProtocol { group: name.to_owned() })?;
            let version = log.topics_version();
            let metadata = metadata_for(log, g.members.values().flat_map(|m| m.topics.iter()));
            g.metadata_version = version;
            let specs: Vec<MemberSpec> = g
                .members
                .iter()
                .map(|(id, m)| MemberSpec {
                    member_id: id.clone(),
                    instance_id: m.instance_id.clone(),
                    topics: m.topics.clone(),
                    owned: m.owned.clone(),
                    generation: m.owned_generation,
                    cooperative: m.cooperative,
                })
                .collect();
            let mut assignment = assignor::assign(protocol, &specs, &metadata);
            for (id, m) in g.members.iter_mut() {
                m.assignment = assignment.remove(id).unwrap_or_default();
                m.missed_join = !m.joined;
                m.joined = false;
            }
            g.generation = next_generation;
            g.protocol = Some(protocol);
            g.protocol_type = "consumer".into();
            if g.leader.as_ref().is_none_or(|l| !g.members.contains_key(l)) {
                g.leader = g.members.keys().next().cloned();
            }
            g.metadata = metadata;
            g.state = GroupState::Stable;
            g.state_since_ms = self.clock.now_ms();
            record = self.group_record(name, g);
        }
        g.rebalance_deadline = None;
        g.notify_all();
        self.write(name, &[record])?;
        Ok(())
    }

    fn join_locked(
        &self,
        log: &Log,
        name: &str,
        g: &mut Group,
        member_id: Option<&str>,
        request: JoinRequest,
    ) -> Result<String> {
        self.expire(log, name, g)?;
        // A member that shares no assignor with the others is refused alone (Kafka's
        // INCONSISTENT_GROUP_PROTOCOL), before it can stall the group's rebalance.
        let others_share = |a: &Assignor| {
            g.members.iter().filter(|(id, _)| Some(id.as_str()) != member_id).all(|(_, m)| m.assignors.contains(a))
        };
        if !request.assignors.iter().any(others_share) {
            return Err(Error::InconsistentGroupProtocol { group: name.to_owned() });
        }
        let now = Instant::now();
        let id = match member_id {
            Some(id) => {
                if g.fenced.contains(id) {
                    return Err(fenced(name, request.instance_id.as_deref()));
                }
                let Some(m) = g.members.get_mut(id) else {
                    return Err(Error::CommitFailed { group: name.to_owned(), reason: UNKNOWN_MEMBER });
                };
                update_member(m, request);
                self.prepare_rebalance(g, now);
                id.to_owned()
            }
            None => {
                let existing = request.instance_id.as_deref().and_then(|i| g.static_member(i));
                let sequence = self.next_member.fetch_add(1, Ordering::Relaxed) + 1;
                let id = new_member_id(request.instance_id.as_deref().unwrap_or(&request.client_id), sequence);
                if let Some(old) = existing {
                    // A static member's new handle replaces the old one, which is fenced.
                    let mut m = g.members.remove(&old).expect("found above");
                    if let Some((signal, _)) = &m.handle {
                        signal.notify();
                    }
                    g.fenced.insert(old.clone());
                    let unchanged =
                        m.topics == request.topics && g.protocol.is_some_and(|p| request.assignors.contains(&p));
                    let owned = std::mem::take(&mut m.owned);
                    update_member(&mut m, request);
                    m.owned = owned;
                    m.acked_generation = -1;
                    if g.leader.as_deref() == Some(old.as_str()) {
                        g.leader = Some(id.clone());
                    }
                    g.members.insert(id.clone(), m);
                    if g.state == GroupState::Stable && unchanged {
                        // KIP-345: no rebalance; the new handle gets the old assignment.
                        let record = self.group_record(name, g);
                        self.write(name, &[record])?;
                        return Ok(id);
                    }
                } else {
                    let mut m = Member {
                        instance_id: None,
                        client_id: String::new(),
                        topics: BTreeSet::new(),
                        assignors: Vec::new(),
                        owned: Vec::new(),
                        owned_generation: -1,
                        cooperative: request.cooperative,
                        session_timeout: request.session_timeout,
                        max_poll_interval: request.max_poll_interval,
                        joined: true,
                        missed_join: false,
                        assignment: Vec::new(),
                        acked_generation: -1,
                        handle: None,
                        detached_at: None,
                    };
                    update_member(&mut m, request);
                    g.members.insert(id.clone(), m);
                }
                self.prepare_rebalance(g, now);
                id
            }
        };
        if let Some(m) = g.members.get_mut(&id) {
            m.joined = true;
        }
        self.try_complete(log, name, g, now)?;
        Ok(id)
    }

    fn heartbeat_locked(
        &self,
        log: &Log,
        name: &str,
        g: &mut Group,
        member_id: &str,
    ) -> Result<(HeartbeatResponse, Option<Instant>)> {
        self.expire(log, name, g)?;
        if g.fenced.contains(member_id) {
            return Ok((HeartbeatResponse::Fenced, None));
        }
        match g.members.get(member_id) {
            None => return Ok((HeartbeatResponse::Unknown, None)),
            // A static member detached after `max.poll.interval.ms` without a poll: its handle
            // is back, but rebalances went on without it; it rejoins, as Kafka's does, with its
            // partitions lost (and, the group being stable, gets its slot back unchanged).
            Some(m) if m.handle.is_none() => return Ok((HeartbeatResponse::Unknown, None)),
            Some(_) => {}
        }
        let version = log.topics_version();
        if g.state == GroupState::Stable && version != g.metadata_version {
            // A subscribed topic created, deleted or grown since the assignment: rebalance.
            // (Looked at only when the log's topics changed: a heartbeat allocates nothing.)
            g.metadata_version = version;
            let metadata = metadata_for(log, g.members.values().flat_map(|m| m.topics.iter()));
            if metadata != g.metadata {
                self.prepare_rebalance(g, Instant::now());
            }
        }
        let deadline = next_deadline(g);
        let (generation, state) = (g.generation, g.state);
        let m = g.members.get_mut(member_id).expect("checked above");
        let answer = match state {
            GroupState::PreparingRebalance if m.joined => HeartbeatResponse::Waiting,
            GroupState::PreparingRebalance => HeartbeatResponse::Rejoin,
            GroupState::Stable if m.acked_generation != generation => {
                m.acked_generation = generation;
                m.owned = m.assignment.clone();
                m.owned_generation = generation;
                HeartbeatResponse::Assigned {
                    generation,
                    assignment: m.assignment.clone(),
                    lost_first: std::mem::take(&mut m.missed_join),
                }
            }
            _ => HeartbeatResponse::Stable,
        };
        Ok((answer, deadline))
    }

    fn leave_locked(&self, log: &Log, name: &str, g: &mut Group, member_id: &str) -> Result<()> {
        let now = Instant::now();
        match g.members.get_mut(member_id) {
            Some(m) if m.instance_id.is_some() => {
                m.handle = None;
                m.detached_at = Some(now);
            }
            Some(_) => {
                g.members.remove(member_id);
                self.prepare_rebalance(g, now);
            }
            None => return Ok(()),
        }
        self.try_complete(log, name, g, now)
    }
}

pub(super) const UNKNOWN_MEMBER: &str =
    "this member is no longer in the group (it stopped polling for max.poll.interval.ms, or left); \
     its partitions may belong to another member now";

pub(super) fn fenced(group: &str, instance_id: Option<&str>) -> Error {
    Error::FencedInstanceId { group: group.to_owned(), instance_id: instance_id.unwrap_or_default().to_owned() }
}

fn update_member(m: &mut Member, request: JoinRequest) {
    m.instance_id = request.instance_id;
    m.client_id = request.client_id;
    m.topics = request.topics;
    m.assignors = request.assignors;
    m.cooperative = request.cooperative;
    if !request.owned.is_empty() || m.acked_generation >= 0 {
        m.owned = request.owned;
    }
    m.session_timeout = request.session_timeout;
    m.max_poll_interval = request.max_poll_interval;
    m.handle = Some((request.signal, request.liveness));
    m.detached_at = None;
}

/// Kafka's member id: the client id (or instance id) and a unique suffix.
fn new_member_id(prefix: &str, sequence: u64) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(sequence);
    h.write_u128(Instant::now().elapsed().as_nanos());
    let a = h.finish();
    h.write_u64(a);
    let b = h.finish();
    format!(
        "{prefix}-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// The assignor every member supports with the most first-choice votes.
fn select_protocol(g: &Group) -> Option<Assignor> {
    let mut members = g.members.values();
    let first = members.next()?;
    let candidates: Vec<Assignor> =
        first.assignors.iter().copied().filter(|a| g.members.values().all(|m| m.assignors.contains(a))).collect();
    let mut votes: Vec<(Assignor, usize)> = candidates.iter().map(|a| (*a, 0)).collect();
    for m in g.members.values() {
        if let Some(choice) = m.assignors.iter().find(|a| candidates.contains(a)) {
            if let Some(v) = votes.iter_mut().find(|(a, _)| a == choice) {
                v.1 += 1;
            }
        }
    }
    // The most votes; ties go to the first member's earlier preference.
    votes.iter().rev().max_by_key(|(_, n)| *n).map(|(a, _)| *a)
}

/// Partition counts of `topics` (topics that do not exist are left out).
pub(super) fn metadata_for<'a>(log: &Log, topics: impl Iterator<Item = &'a String>) -> BTreeMap<String, u32> {
    let names: BTreeSet<&String> = topics.collect();
    names.into_iter().filter_map(|t| log.topic(t).ok().map(|topic| (t.clone(), topic.partition_count()))).collect()
}
