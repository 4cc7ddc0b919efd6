//! Groups as `kafka-consumer-groups --list` and `--describe` show them: the list with states,
//! and a group's members, assignment and lag ([`GroupDescription`]).

use std::collections::{BTreeMap, BTreeSet};

use super::classic::Group;
use super::types::{GroupState, TopicPartition};
use super::Coordinator;
use crate::error::{Error, Result};
use crate::log::Log;

/// A member as [`describe_group`](crate::Admin::describe_group) reports it.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::time::Duration;
/// use partlog::{Admin, Consumer, ConsumerConfig, Log, TopicConfig, TopicPartition};
/// let log = Log::open(dir.path())?;
/// log.create_topic("orders", 1, TopicConfig::default())?;
/// let config = ConsumerConfig::default().set("group.id", "billing")?.set("client.id", "biller")?;
/// let mut consumer = Consumer::new(&log, config.set("group.instance.id", "host-a")?)?;
/// consumer.subscribe(&["orders"])?;
/// consumer.poll(Duration::from_millis(10))?; // joins the group
/// let admin = Admin::new(&log);
/// let member = admin.describe_group("billing")?.members.remove(0);
/// assert_eq!((member.client_id.as_str(), member.group_instance_id.as_deref()), ("biller", Some("host-a")));
/// assert_eq!((member.attached, member.assignment), (true, vec![TopicPartition::new("orders", 0)]));
/// consumer.close()?; // a static member's slot outlives its handle, for session.timeout.ms
/// let kept = admin.describe_group("billing")?.members.remove(0);
/// assert_eq!((kept.member_id, kept.attached), (member.member_id, false));
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// The member id the coordinator gave it.
    pub member_id: String,
    /// `group.instance.id`, for a static member.
    pub group_instance_id: Option<String>,
    /// `client.id`.
    pub client_id: String,
    /// Whether a live handle holds it (a static member may be kept without one).
    pub attached: bool,
    /// Its partitions in the current generation.
    pub assignment: Vec<TopicPartition>,
}

/// One partition's committed offset and lag, as `kafka-consumer-groups --describe` prints it.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::time::Duration;
/// use partlog::{Admin, Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};
/// let log = Log::open(dir.path())?;
/// let topic = log.create_topic("orders", 2, TopicConfig::default())?;
/// topic.partition(0)?.append(&[Record::new(b"a"), Record::new(b"b"), Record::new(b"c")])?;
/// let config = ConsumerConfig::default().set("group.id", "billing")?.set("max.poll.records", "1")?;
/// let mut consumer = Consumer::new(&log, config.set("auto.offset.reset", "earliest")?)?;
/// consumer.subscribe(&["orders"])?;
/// assert_eq!(consumer.poll(Duration::from_millis(100))?.len(), 1);
/// consumer.commit_sync()?; // orders-0 at 1; orders-1 at 0
/// let lags = Admin::new(&log).describe_group("billing")?.partitions;
/// let member = consumer.group_metadata().unwrap().member_id;
/// assert_eq!(lags[0].partition, TopicPartition::new("orders", 0));
/// assert_eq!((lags[0].committed, lags[0].log_end_offset, lags[0].lag), (Some(1), 3, Some(2)));
/// assert_eq!(lags[0].member_id, Some(member));
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    /// The partition.
    pub partition: TopicPartition,
    /// The committed offset (next to read).
    pub committed: Option<u64>,
    /// The partition's log end offset.
    pub log_end_offset: u64,
    /// `log_end_offset - committed`; `None` without a committed offset.
    pub lag: Option<u64>,
    /// The member that owns it now, if any.
    pub member_id: Option<String>,
}

/// A group, described (Kafka's `kafka-consumer-groups --describe`).
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::time::Duration;
/// use partlog::{Admin, Consumer, ConsumerConfig, GroupState, Log, TopicConfig};
/// let log = Log::open(dir.path())?;
/// log.create_topic("orders", 2, TopicConfig::default())?;
/// let config = ConsumerConfig::default().set("group.id", "billing")?;
/// let mut consumer = Consumer::new(&log, config.set("partition.assignment.strategy", "roundrobin")?)?;
/// consumer.subscribe(&["orders"])?;
/// consumer.poll(Duration::from_millis(10))?; // joins the group
/// let group = Admin::new(&log).describe_group("billing")?;
/// assert_eq!((group.group.as_str(), group.state, group.generation), ("billing", GroupState::Stable, 1));
/// assert_eq!((group.protocol.as_deref(), group.members.len()), (Some("roundrobin"), 1));
/// assert_eq!(group.partitions.len(), 2); // owned, though nothing is committed yet
/// assert!(group.partitions.iter().all(|p| p.committed.is_none() && p.lag.is_none()));
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// `group.id`.
    pub group: String,
    /// Its state.
    pub state: GroupState,
    /// The current generation.
    pub generation: i32,
    /// The assignor in use (`range`, `cooperative-sticky`, ...), if the group has members.
    pub protocol: Option<String>,
    /// The members.
    pub members: Vec<MemberDescription>,
    /// Every partition that has a committed offset or an owner, with its lag.
    pub partitions: Vec<PartitionLag>,
}

impl Coordinator {
    /// Every group the coordinator knows, with its state.
    pub(crate) fn list(&self) -> Vec<(String, GroupState)> {
        let mut out: Vec<_> = self
            .cells()
            .into_iter()
            .filter_map(|(n, cell)| {
                let g = cell.lock();
                (!g.dead).then(|| (n, g.state))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// A group's members, assignment and lag.
    pub(crate) fn describe(&self, log: &Log, name: &str) -> Result<GroupDescription> {
        self.with_group(name, None, |g| self.describe_locked(log, name, g))
            .unwrap_or_else(|| Err(Error::UnknownGroup { group: name.to_owned() }))
    }

    fn describe_locked(&self, log: &Log, name: &str, g: &mut Group) -> Result<GroupDescription> {
        if !log.is_read_only() {
            // A read-only log shows the group as its owner's records left it: the members are
            // the owner's, alive or not, and nothing here may write.
            self.expire(log, name, g)?;
        }
        let mut owners: BTreeMap<TopicPartition, String> = BTreeMap::new();
        let members = g
            .members
            .iter()
            .map(|(id, m)| {
                for tp in &m.assignment {
                    owners.insert(tp.clone(), id.clone());
                }
                MemberDescription {
                    member_id: id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    attached: m.handle.is_some(),
                    assignment: m.assignment.clone(),
                }
            })
            .collect();
        let all: BTreeSet<&TopicPartition> = g.offsets.keys().chain(owners.keys()).collect();
        let mut partitions = Vec::new();
        for tp in all {
            let committed = g.offsets.get(tp).map(|c| c.value.offset);
            let log_end_offset = log.partition(&tp.topic, tp.partition).map(|p| p.log_end_offset()).unwrap_or(0);
            partitions.push(PartitionLag {
                partition: tp.clone(),
                committed,
                log_end_offset,
                lag: committed.map(|c| log_end_offset.saturating_sub(c)),
                member_id: owners.get(tp).cloned(),
            });
        }
        Ok(GroupDescription {
            group: name.to_owned(),
            state: g.state,
            generation: g.generation,
            protocol: g.protocol.map(|a| a.name().to_owned()),
            members,
            partitions,
        })
    }
}
