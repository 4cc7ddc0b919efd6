//! The member's side of the group (Kafka's `ConsumerCoordinator` membership half): joins,
//! follows rebalances and takes assignments through the group protocol
//! (`coordinator/protocol.rs`), running the rebalance callbacks on the way.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::subscription::Mode;
use super::{CommitMode, Consumer};
use crate::coordinator::protocol::{self, GroupProtocol, HeartbeatResponse, JoinRequest};
use crate::coordinator::types::TopicPartition;
use crate::error::{Error, Result};

/// A member's identity in its group (Kafka's `ConsumerGroupMetadata`).
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::time::Duration;
/// use partlog::{Consumer, ConsumerConfig, Log, TopicConfig};
/// let log = Log::open(dir.path())?;
/// log.create_topic("orders", 1, TopicConfig::default())?;
/// let config = ConsumerConfig::default().set("group.id", "billing")?.set("group.instance.id", "host-a")?;
/// let mut consumer = Consumer::new(&log, config)?;
/// consumer.subscribe(&["orders"])?;
/// consumer.poll(Duration::from_millis(10))?; // joins the group
/// let metadata = consumer.group_metadata().expect("joined");
/// assert_eq!((metadata.group_id.as_str(), metadata.group_instance_id.as_deref()), ("billing", Some("host-a")));
/// assert_eq!(metadata.generation, 1); // the group's first assignment
/// assert!(metadata.member_id.starts_with("host-a-")); // a static member's id starts with its instance id
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    /// `group.id`.
    pub group_id: String,
    /// The generation of the member's current assignment.
    pub generation: i32,
    /// The member id the coordinator gave it.
    pub member_id: String,
    /// `group.instance.id`, for a static member.
    pub group_instance_id: Option<String>,
}

/// This consumer's place in its group: its member id, and the generation of the assignment it
/// holds (−1 until it takes one).
pub(super) struct Membership {
    pub(super) id: String,
    pub(super) generation: i32,
}

impl Consumer {
    fn cooperative(&self) -> bool {
        self.config.partition_assignment_strategy.iter().all(|a| a.is_cooperative())
    }

    pub(super) fn group(&self) -> Result<&str> {
        self.config.group_id.as_deref().ok_or(Error::InvalidState { what: "this needs a group.id" })
    }

    pub(super) fn coordinator(&mut self) -> Result<Arc<dyn GroupProtocol>> {
        if let Some(c) = &self.coordinator {
            return Ok(c.clone());
        }
        let c = protocol::coordinator_of(&self.log)?;
        self.coordinator = Some(c.clone());
        Ok(c)
    }

    /// Takes part in the group: joins, follows rebalances, takes assignments. Returns when the
    /// group next needs a check-in.
    pub(super) fn group_step(&mut self) -> Result<Option<Instant>> {
        self.liveness.clear_group_change();
        let coordinator = self.coordinator()?;
        let group = self.group()?.to_owned();
        // Each round either settles or moves the member one step through a rebalance.
        for _ in 0..16 {
            let Some(member_id) = self.member.as_ref().map(|m| m.id.clone()) else {
                let id = coordinator.join(&self.log, &group, None, self.join_request())?;
                self.member = Some(Membership { id, generation: -1 });
                self.rejoin = false;
                continue;
            };
            if self.rejoin {
                self.rejoin = false;
                self.prepare_rejoin()?;
                self.join_again(&*coordinator, &group, &member_id)?;
                continue;
            }
            let (heartbeat, deadline) = coordinator.heartbeat(&self.log, &group, &member_id)?;
            match heartbeat {
                HeartbeatResponse::Stable | HeartbeatResponse::Waiting => return Ok(deadline),
                HeartbeatResponse::Rejoin => {
                    self.prepare_rejoin()?;
                    self.join_again(&*coordinator, &group, &member_id)?;
                }
                HeartbeatResponse::Assigned { generation, assignment, lost_first } => {
                    if lost_first {
                        let lost = self.order.clone();
                        self.set_parts(&[]);
                        if !lost.is_empty() {
                            self.callback("on_partitions_lost", |l, c| l.on_partitions_lost(c, &lost));
                        }
                    }
                    self.take_assignment(&*coordinator, &group, &member_id, generation, assignment)?;
                }
                HeartbeatResponse::Unknown => {
                    let lost = self.order.clone();
                    self.member = None;
                    self.set_parts(&[]);
                    if !lost.is_empty() {
                        self.callback("on_partitions_lost", |l, c| l.on_partitions_lost(c, &lost));
                    }
                }
                HeartbeatResponse::Fenced => {
                    return Err(Error::FencedInstanceId {
                        group,
                        instance_id: self.config.group_instance_id.clone().unwrap_or_default(),
                    })
                }
            }
        }
        Ok(None)
    }

    fn join_request(&self) -> JoinRequest {
        let topics = match &self.mode {
            Mode::Subscribed(t) => t.clone(),
            _ => BTreeSet::new(),
        };
        let owned = if self.cooperative() { self.order.clone() } else { self.last_assignment.0.clone() };
        JoinRequest {
            client_id: self.config.client_id.clone(),
            instance_id: self.config.group_instance_id.clone(),
            topics,
            assignors: self.config.partition_assignment_strategy.clone(),
            owned,
            cooperative: self.cooperative(),
            session_timeout: Duration::from_millis(self.config.session_timeout_ms),
            max_poll_interval: Duration::from_millis(self.config.max_poll_interval_ms),
            signal: self.signal.clone(),
            liveness: self.liveness.clone(),
        }
    }

    fn join_again(&mut self, coordinator: &dyn GroupProtocol, group: &str, member_id: &str) -> Result<()> {
        match coordinator.join(&self.log, group, Some(member_id), self.join_request()) {
            Ok(_) => Ok(()),
            Err(Error::CommitFailed { .. }) => {
                // Removed meanwhile: the partitions are lost; join as a new member.
                let lost = self.order.clone();
                self.member = None;
                self.set_parts(&[]);
                if !lost.is_empty() {
                    self.callback("on_partitions_lost", |l, c| l.on_partitions_lost(c, &lost));
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Before rejoining: eager members commit (auto-commit) and revoke everything; cooperative
    /// members revoke only the partitions of topics they no longer subscribe to.
    fn prepare_rejoin(&mut self) -> Result<()> {
        if self.config.auto_commit() {
            let _ = self.auto_commit(CommitMode::Sync);
        }
        let revoked: Vec<TopicPartition> = if self.cooperative() {
            let subscribed = self.subscription();
            self.order.iter().filter(|tp| !subscribed.contains(&tp.topic)).cloned().collect()
        } else {
            self.order.clone()
        };
        let first_join = self.member.as_ref().is_none_or(|m| m.generation < 0);
        if !self.cooperative() && !first_join || !revoked.is_empty() {
            self.callback("on_partitions_revoked", |l, c| l.on_partitions_revoked(c, &revoked));
        }
        let kept: Vec<TopicPartition> = self.order.iter().filter(|tp| !revoked.contains(tp)).cloned().collect();
        self.set_parts(&kept);
        Ok(())
    }

    fn take_assignment(
        &mut self,
        coordinator: &dyn GroupProtocol,
        group: &str,
        member_id: &str,
        generation: i32,
        assignment: Vec<TopicPartition>,
    ) -> Result<()> {
        if let Some(m) = &mut self.member {
            m.generation = generation;
        }
        self.last_assignment = (assignment.clone(), generation);
        if !self.cooperative() {
            self.set_parts(&assignment);
            self.next_auto_commit = Instant::now() + Duration::from_millis(self.config.auto_commit_interval_ms);
            self.callback("on_partitions_assigned", |l, c| l.on_partitions_assigned(c, &assignment));
            return Ok(());
        }
        let owned: BTreeSet<TopicPartition> = self.order.iter().cloned().collect();
        let target: BTreeSet<TopicPartition> = assignment.iter().cloned().collect();
        let revoked: Vec<TopicPartition> = owned.difference(&target).cloned().collect();
        let added: Vec<TopicPartition> = target.difference(&owned).cloned().collect();
        if !revoked.is_empty() {
            if self.config.auto_commit() {
                let _ = self.auto_commit(CommitMode::Sync);
            }
            self.callback("on_partitions_revoked", |l, c| l.on_partitions_revoked(c, &revoked));
            let kept: Vec<TopicPartition> = owned.intersection(&target).cloned().collect();
            self.set_parts(&kept);
        }
        self.set_parts(&assignment);
        self.next_auto_commit = Instant::now() + Duration::from_millis(self.config.auto_commit_interval_ms);
        self.callback("on_partitions_assigned", |l, c| l.on_partitions_assigned(c, &added));
        if !revoked.is_empty() {
            // The revoked partitions are free now: a second round gives them to their new owner.
            coordinator.release(&self.log, group, member_id, &self.order)?;
        }
        Ok(())
    }

    /// This member's group identity, once it has joined.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{Consumer, ConsumerConfig, Log, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("orders", 1, TopicConfig::default())?;
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("group.id", "billing")?)?;
    /// consumer.subscribe(&["orders"])?;
    /// assert_eq!(consumer.group_metadata(), None); // joins at the first poll
    /// consumer.poll(Duration::from_millis(100))?;
    /// let metadata = consumer.group_metadata().unwrap();
    /// assert_eq!(metadata.group_id, "billing");
    /// assert!(metadata.generation >= 1 && metadata.member_id.starts_with("consumer"));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn group_metadata(&self) -> Option<ConsumerGroupMetadata> {
        let m = self.member.as_ref()?;
        Some(ConsumerGroupMetadata {
            group_id: self.config.group_id.clone()?,
            generation: m.generation,
            member_id: m.id.clone(),
            group_instance_id: self.config.group_instance_id.clone(),
        })
    }

    /// Revokes (or, if no longer a member, loses) every partition and leaves the group.
    pub(super) fn leave_group(&mut self) -> Result<()> {
        let Some(member) = self.member.take() else { return Ok(()) };
        let partitions = self.order.clone();
        if !partitions.is_empty() || member.generation >= 0 {
            // Restored for the callback, so that it can commit.
            self.member = Some(member);
            self.callback("on_partitions_revoked", |l, c| l.on_partitions_revoked(c, &partitions));
            let member = self.member.take().expect("restored above");
            let group = self.group()?.to_owned();
            return self.coordinator()?.leave(&self.log, &group, &member.id);
        }
        let group = self.group()?.to_owned();
        self.coordinator()?.leave(&self.log, &group, &member.id)
    }
}
