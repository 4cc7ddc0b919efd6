//! The coordinator's records in `__consumer_offsets` (`schema.rs`): the group's metadata record
//! written after each assignment; the replay that rebuilds every group and its committed offsets
//! when the coordinator is loaded; and the check of committed offsets against the recovered log
//! ends that `Log::open` runs after an unclean shutdown (`docs/design.md`, Layers).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::assignor::Assignor;
use super::classic::{metadata_for, Group, Member};
use super::offsets::Committed;
use super::schema::{self, CoordinatorRecord, GroupValue, MemberValue, OffsetValue, Subscription};
use super::types::{GroupState, OffsetAndMetadata, TopicPartition};
use super::Coordinator;
use crate::config::{CleanupPolicy, TopicConfig};
use crate::error::{Error, Result};
use crate::format::record::Record;
use crate::log::topic::Topic;
use crate::log::Log;
use crate::partition::Fetch;

/// `offsets.load.buffer.size`.
const LOAD_BUFFER_BYTES: usize = 5 << 20;

/// The configuration `__consumer_offsets` is created with (`GroupCoordinatorService`).
fn offsets_topic_config() -> TopicConfig {
    TopicConfig { cleanup_policy: CleanupPolicy::Compact, segment_bytes: 104857600, ..TopicConfig::default() }
}

impl Coordinator {
    /// Creates `__consumer_offsets` if missing, and replays it.
    pub(super) fn load(log: &Log) -> Result<Coordinator> {
        let topic = match log.topic(schema::OFFSETS_TOPIC) {
            Ok(topic) => topic,
            Err(Error::UnknownTopic { .. }) => {
                match log.create_topic_unchecked(
                    schema::OFFSETS_TOPIC,
                    schema::OFFSETS_TOPIC_PARTITIONS,
                    offsets_topic_config(),
                ) {
                    Err(Error::TopicExists { .. }) => log.topic(schema::OFFSETS_TOPIC)?,
                    other => other?,
                }
            }
            Err(e) => return Err(e),
        };
        let clock = log.clock().clone();
        let now_ms = clock.now_ms();
        let mut groups = replay_topic(&topic, now_ms)?;
        let version = log.topics_version();
        let now = Instant::now();
        // Read-only: the members are the owner's, and stay as its records say.
        for group in groups.values_mut().filter(|_| !log.is_read_only()) {
            // Dynamic members belonged to handles of an earlier open: they cannot come back.
            // Static members may, within their session timeout.
            let before = group.members.len();
            group.members.retain(|_, m| m.instance_id.is_some());
            for m in group.members.values_mut() {
                m.detached_at = Some(now);
            }
            if group.members.is_empty() {
                group.state = GroupState::Empty;
            } else {
                group.metadata = metadata_for(log, group.members.values().flat_map(|m| m.topics.iter()));
                group.metadata_version = version;
                if group.members.len() < before {
                    // The dropped members' partitions need owners: rebalance at the first call.
                    group.state = GroupState::PreparingRebalance;
                    group.rebalance_deadline = Some(now);
                }
            }
        }
        Ok(Coordinator {
            topic,
            clock,
            groups: Mutex::new(groups.into_iter().map(|(name, g)| (name, Arc::new(Mutex::new(g)))).collect()),
            next_member: AtomicU64::new(0),
            last_expiry_check_ms: AtomicI64::new(now_ms),
        })
    }

    /// The group's metadata record, as the coordinator writes it after an assignment.
    pub(super) fn group_record(&self, name: &str, g: &Group) -> (Vec<u8>, Option<Vec<u8>>) {
        let members = g
            .members
            .iter()
            .map(|(id, m)| {
                let mut owned: BTreeMap<String, Vec<u32>> = BTreeMap::new();
                for tp in &m.owned {
                    owned.entry(tp.topic.clone()).or_default().push(tp.partition);
                }
                let mut assigned: BTreeMap<String, Vec<u32>> = BTreeMap::new();
                for tp in &m.assignment {
                    assigned.entry(tp.topic.clone()).or_default().push(tp.partition);
                }
                let subscription =
                    Subscription { topics: m.topics.iter().cloned().collect(), owned, generation: m.owned_generation };
                MemberValue {
                    member_id: id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: "/in-process".into(),
                    rebalance_timeout: m.max_poll_interval.as_millis().min(i32::MAX as u128) as i32,
                    session_timeout: m.session_timeout.as_millis().min(i32::MAX as u128) as i32,
                    subscription: schema::subscription_bytes(&subscription),
                    assignment: schema::assignment_bytes(&assigned),
                }
            })
            .collect();
        let value = GroupValue {
            protocol_type: g.protocol_type.clone(),
            generation: g.generation,
            protocol: g.protocol.map(|a| a.name().to_owned()),
            leader: g.leader.clone(),
            current_state_timestamp: g.state_since_ms,
            members,
        };
        (schema::group_key(name), Some(schema::group_value(&value)))
    }
}

/// Every group's state and committed offsets, as `__consumer_offsets` records them.
fn replay_topic(topic: &Topic, now_ms: i64) -> Result<HashMap<String, Group>> {
    let mut groups: HashMap<String, Group> = HashMap::new();
    let mut fetch = Fetch::new();
    for p in topic.partitions() {
        let mut from = p.log_start_offset();
        while from < p.log_end_offset() {
            p.fetch(from, LOAD_BUFFER_BYTES, &mut fetch)?;
            for record in fetch.records() {
                let record = record?;
                let Some(key) = record.key() else { continue };
                let decoded = schema::decode(key, record.value()).map_err(|reason| Error::BadCoordinatorRecord {
                    partition: p.name(),
                    offset: record.offset(),
                    reason,
                })?;
                replay(&mut groups, decoded, now_ms);
            }
            if fetch.next_offset() <= from {
                break;
            }
            from = fetch.next_offset();
        }
    }
    Ok(groups)
}

/// The second line behind commits made durable after their data (see
/// `Consumer::commit_sync`): after an unclean shutdown, a committed offset past its
/// partition's recovered log end points at records a crash took (a commit fsynced before the
/// data it covers, by an older build or by another writer of the directory). Left alone, new
/// appends would land below it and the group would skip them. Each is set to the log end
/// (durably, before anything is appended) and reported. `log_end` gives a partition's recovered
/// log end (`None`: not a partition of this log, left alone).
pub(crate) fn clamp_committed_offsets(
    offsets_topic: &Topic,
    now_ms: i64,
    log_end: impl Fn(&str, u32) -> Option<u64>,
) -> Result<Vec<crate::partition::RecoveryEvent>> {
    let groups = replay_topic(offsets_topic, now_ms)?;
    let mut names: Vec<&String> = groups.keys().collect();
    names.sort();
    let mut events = Vec::new();
    for name in names {
        let p = offsets_topic.partition(schema::partition_for_group(name, offsets_topic.partition_count()))?;
        let mut records = Vec::new();
        for (tp, committed) in &groups[name].offsets {
            let Some(end) = log_end(&tp.topic, tp.partition) else { continue };
            let offset = committed.value.offset;
            if offset <= end {
                continue;
            }
            records.push((
                schema::offset_key(name, &tp.topic, tp.partition),
                schema::offset_value(end, &committed.value.metadata, now_ms),
            ));
            events.push(crate::partition::RecoveryEvent {
                partition: tp.to_string(),
                segment: p.dir().to_owned(),
                position: 0,
                bytes_dropped: 0,
                lost_offsets: None,
                reason: format!(
                    "group {name}'s committed offset {offset} was past the partition's recovered log end {end} \
                     (records a crash took): set to {end}, so that records appended from now on are read"
                ),
            });
        }
        if records.is_empty() {
            continue;
        }
        let list: Vec<Record<'_>> = records.iter().map(|(k, v)| Record::new(v).with_key(k)).collect();
        let info = p.append(&list)?;
        p.flush_to(info.last_offset + 1)?;
    }
    Ok(events)
}

/// Applies one record of `__consumer_offsets` (later records override earlier ones).
fn replay(groups: &mut HashMap<String, Group>, record: CoordinatorRecord, now_ms: i64) {
    match record {
        CoordinatorRecord::Offset { group, topic, partition, value } => {
            let g = groups.entry(group).or_insert_with(|| Group::new(now_ms));
            let tp = TopicPartition::new(topic, partition);
            match value {
                Some(OffsetValue { offset, metadata, commit_timestamp, expire_timestamp, .. }) if offset >= 0 => {
                    let value = OffsetAndMetadata { offset: offset as u64, metadata };
                    g.offsets.insert(tp, Committed { value, commit_timestamp, expire_timestamp });
                }
                _ => {
                    g.offsets.remove(&tp);
                }
            }
        }
        CoordinatorRecord::Group { group, value: None } => {
            groups.remove(&group);
        }
        CoordinatorRecord::Group { group, value: Some(v) } => {
            let g = groups.entry(group).or_insert_with(|| Group::new(now_ms));
            g.generation = v.generation;
            g.protocol_type = v.protocol_type;
            g.protocol = v.protocol.and_then(|p| p.parse().ok());
            g.leader = v.leader;
            g.state_since_ms = if v.current_state_timestamp >= 0 { v.current_state_timestamp } else { now_ms };
            g.members.clear();
            for m in v.members {
                let subscription = schema::subscription_decode(&m.subscription).unwrap_or_default();
                let assignment: Vec<TopicPartition> = schema::assignment_decode(&m.assignment)
                    .unwrap_or_default()
                    .into_iter()
                    .flat_map(|(t, ps)| ps.into_iter().map(move |p| TopicPartition::new(t.clone(), p)))
                    .collect();
                let session = Duration::from_millis(m.session_timeout.max(0) as u64);
                let rebalance =
                    if m.rebalance_timeout < 0 { session } else { Duration::from_millis(m.rebalance_timeout as u64) };
                g.members.insert(
                    m.member_id,
                    Member {
                        instance_id: m.group_instance_id,
                        client_id: m.client_id,
                        topics: subscription.topics.into_iter().collect(),
                        assignors: g.protocol.into_iter().collect(),
                        owned: assignment.clone(),
                        owned_generation: v.generation,
                        cooperative: g.protocol.is_some_and(Assignor::is_cooperative),
                        session_timeout: session,
                        max_poll_interval: rebalance,
                        joined: false,
                        missed_join: false,
                        assignment,
                        acked_generation: v.generation,
                        handle: None,
                        detached_at: None,
                    },
                );
            }
            g.state = if g.members.is_empty() { GroupState::Empty } else { GroupState::Stable };
            g.metadata.clear();
        }
        CoordinatorRecord::Other => {}
    }
}
