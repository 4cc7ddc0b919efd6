//! Kafka's client-side partition assignors, run by the in-process coordinator: `range`
//! (`RangeAssignor`), `roundrobin` (`RoundRobinAssignor`), `sticky` and `cooperative-sticky`
//! (`AbstractStickyAssignor`'s constrained builder when every member subscribes to the same
//! topics; balance first, then stickiness, when they differ). Members are ordered as Kafka
//! orders them: static members by `group.instance.id` first, then dynamic ones by member id.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use super::types::TopicPartition;

/// A partition assignment strategy (`partition.assignment.strategy`), by Kafka's protocol name.
///
/// # Example
/// ```
/// use partlog::Assignor;
/// assert_eq!("cooperative-sticky".parse::<Assignor>()?, Assignor::CooperativeSticky);
/// assert_eq!(Assignor::Range.to_string(), "range");
/// assert!(Assignor::CooperativeSticky.is_cooperative() && !Assignor::Range.is_cooperative());
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Assignor {
    /// `range` (`RangeAssignor`, Kafka's first default): per topic, consecutive ranges of
    /// partitions, the first members taking one more when they do not divide evenly.
    Range,
    /// `roundrobin` (`RoundRobinAssignor`): all partitions dealt in turn.
    RoundRobin,
    /// `sticky` (`StickyAssignor`): balanced, keeping previous owners where it can; eager.
    Sticky,
    /// `cooperative-sticky` (`CooperativeStickyAssignor`, KIP-429): as sticky, but only the
    /// partitions that move are revoked, over two rebalances; members keep consuming the rest.
    CooperativeSticky,
}

impl Assignor {
    /// Kafka's protocol name.
    ///
    /// # Example
    /// ```
    /// use partlog::Assignor;
    /// assert_eq!(Assignor::CooperativeSticky.name(), "cooperative-sticky");
    /// // The name is what `partition.assignment.strategy` takes.
    /// assert_eq!(Assignor::RoundRobin.name().parse::<Assignor>()?, Assignor::RoundRobin);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Assignor::Range => "range",
            Assignor::RoundRobin => "roundrobin",
            Assignor::Sticky => "sticky",
            Assignor::CooperativeSticky => "cooperative-sticky",
        }
    }

    /// Whether it supports the cooperative rebalance protocol.
    ///
    /// # Example
    /// ```
    /// use partlog::Assignor;
    /// let all = [Assignor::Range, Assignor::RoundRobin, Assignor::Sticky, Assignor::CooperativeSticky];
    /// let cooperative: Vec<Assignor> = all.into_iter().filter(|a| a.is_cooperative()).collect();
    /// assert_eq!(cooperative, [Assignor::CooperativeSticky]); // the others are eager
    /// ```
    pub fn is_cooperative(self) -> bool {
        self == Assignor::CooperativeSticky
    }
}

impl fmt::Display for Assignor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Assignor {
    type Err = crate::Error;

    /// Accepts the protocol name or Kafka's class name (`RangeAssignor`,
    /// `org.apache.kafka.clients.consumer.CooperativeStickyAssignor`, ...).
    fn from_str(s: &str) -> crate::Result<Assignor> {
        let short = s.trim().rsplit('.').next().unwrap_or("");
        Ok(match short {
            "range" | "RangeAssignor" => Assignor::Range,
            "roundrobin" | "RoundRobinAssignor" => Assignor::RoundRobin,
            "sticky" | "StickyAssignor" => Assignor::Sticky,
            "cooperative-sticky" | "CooperativeStickyAssignor" => Assignor::CooperativeSticky,
            _ => {
                return Err(crate::Error::InvalidConfig {
                    key: "partition.assignment.strategy".into(),
                    value: s.into(),
                    reason: "not one of range, roundrobin, sticky, cooperative-sticky".into(),
                })
            }
        })
    }
}

/// One member as the assignor sees it.
#[derive(Debug, Clone)]
pub(crate) struct MemberSpec {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub topics: BTreeSet<String>,
    /// Partitions it owned, with the generation it owned them in (sticky assignors).
    pub owned: Vec<TopicPartition>,
    pub generation: i32,
    /// Runs the cooperative protocol: it keeps consuming what it owns during a rebalance, so
    /// a partition it gives up must wait a round. An eager member's `owned` is only a
    /// stickiness hint (it revoked everything before joining).
    pub cooperative: bool,
}

/// Kafka's member order: static members by instance id, then dynamic members by member id.
pub(crate) fn sort_members(members: &mut [MemberSpec]) {
    members.sort_by(|a, b| match (&a.instance_id, &b.instance_id) {
        (Some(x), Some(y)) => x.cmp(y).then_with(|| a.member_id.cmp(&b.member_id)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.member_id.cmp(&b.member_id),
    });
}

/// Runs `assignor` over `members` (any order) and the subscribed topics' partition counts
/// (topics missing from `partitions` do not exist and get nothing). Every member gets an entry.
pub(crate) fn assign(
    assignor: Assignor,
    members: &[MemberSpec],
    partitions: &BTreeMap<String, u32>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let mut sorted = members.to_vec();
    sort_members(&mut sorted);
    let mut out: BTreeMap<String, Vec<TopicPartition>> =
        sorted.iter().map(|m| (m.member_id.clone(), Vec::new())).collect();
    match assignor {
        Assignor::Range => range(&sorted, partitions, &mut out),
        Assignor::RoundRobin => round_robin(&sorted, partitions, &mut out),
        Assignor::Sticky | Assignor::CooperativeSticky => {
            sticky(&sorted, partitions, &mut out);
            if assignor == Assignor::CooperativeSticky {
                withhold_transfers(&sorted, &mut out);
            }
        }
    }
    for assigned in out.values_mut() {
        assigned.sort();
    }
    out
}

fn range(members: &[MemberSpec], partitions: &BTreeMap<String, u32>, out: &mut BTreeMap<String, Vec<TopicPartition>>) {
    for (topic, &count) in partitions {
        let subscribed: Vec<&MemberSpec> = members.iter().filter(|m| m.topics.contains(topic)).collect();
        if subscribed.is_empty() {
            continue;
        }
        let n = subscribed.len() as u32;
        let (per, extra) = (count / n, count % n);
        for (i, m) in subscribed.iter().enumerate() {
            let i = i as u32;
            let start = per * i + i.min(extra);
            let len = per + u32::from(i < extra);
            let list = out.get_mut(&m.member_id).expect("every member has an entry");
            list.extend((start..start + len).map(|p| TopicPartition::new(topic.clone(), p)));
        }
    }
}

fn round_robin(
    members: &[MemberSpec],
    partitions: &BTreeMap<String, u32>,
    out: &mut BTreeMap<String, Vec<TopicPartition>>,
) {
    if members.is_empty() {
        return;
    }
    let mut next = 0usize;
    for (topic, &count) in partitions {
        if !members.iter().any(|m| m.topics.contains(topic)) {
            continue;
        }
        for p in 0..count {
            while !members[next % members.len()].topics.contains(topic) {
                next += 1;
            }
            let m = &members[next % members.len()];
            out.get_mut(&m.member_id).expect("every member has an entry").push(TopicPartition::new(topic.clone(), p));
            next += 1;
        }
    }
}

/// Previous owners' claims that still hold: the partition exists, the member still subscribes
/// to its topic, and no other member claims it from a higher or equal generation (a tie voids
/// both claims, as Kafka's `AbstractStickyAssignor` does).
fn valid_owned(members: &[MemberSpec], partitions: &BTreeMap<String, u32>) -> HashMap<TopicPartition, String> {
    let mut claims: HashMap<TopicPartition, (i32, Option<String>)> = HashMap::new();
    for m in members {
        for tp in &m.owned {
            let exists = partitions.get(&tp.topic).is_some_and(|&n| tp.partition < n);
            if !exists || !m.topics.contains(&tp.topic) {
                continue;
            }
            match claims.get_mut(tp) {
                None => {
                    claims.insert(tp.clone(), (m.generation, Some(m.member_id.clone())));
                }
                Some((generation, owner)) => {
                    if m.generation > *generation {
                        *generation = m.generation;
                        *owner = Some(m.member_id.clone());
                    } else if m.generation == *generation {
                        *owner = None;
                    }
                }
            }
        }
    }
    claims.into_iter().filter_map(|(tp, (_, owner))| owner.map(|o| (tp, o))).collect()
}

fn sticky(members: &[MemberSpec], partitions: &BTreeMap<String, u32>, out: &mut BTreeMap<String, Vec<TopicPartition>>) {
    if members.is_empty() {
        return;
    }
    let owners = valid_owned(members, partitions);
    let all_same = members.windows(2).all(|w| w[0].topics == w[1].topics);
    if all_same {
        constrained(members, partitions, &owners, out);
    } else {
        general(members, partitions, &owners, out);
    }
}

/// `ConstrainedAssignmentBuilder`: every member subscribes to the same topics.
fn constrained(
    members: &[MemberSpec],
    partitions: &BTreeMap<String, u32>,
    owners: &HashMap<TopicPartition, String>,
    out: &mut BTreeMap<String, Vec<TopicPartition>>,
) {
    let topics = &members[0].topics;
    let all: Vec<TopicPartition> = partitions
        .iter()
        .filter(|(t, _)| topics.contains(*t))
        .flat_map(|(t, &n)| (0..n).map(move |p| TopicPartition::new(t.clone(), p)))
        .collect();
    let n = members.len();
    let min_quota = all.len() / n;
    let max_quota = all.len().div_ceil(n);
    let expected_over_min = all.len() % n;
    let mut over_min = 0usize;
    let mut under_min: Vec<String> = Vec::new();
    let mut exactly_min: std::collections::VecDeque<String> = Default::default();
    let mut assigned: BTreeSet<TopicPartition> = BTreeSet::new();
    // Pass 1: members keep what they owned, up to their quota.
    for m in members {
        let mut owned: Vec<TopicPartition> =
            m.owned.iter().filter(|tp| owners.get(*tp) == Some(&m.member_id)).cloned().collect();
        owned.sort_by(|a, b| a.partition.cmp(&b.partition).then_with(|| a.topic.cmp(&b.topic)));
        owned.dedup();
        let list = out.get_mut(&m.member_id).expect("every member has an entry");
        let keep = if owned.len() < min_quota {
            under_min.push(m.member_id.clone());
            owned.len()
        } else if owned.len() >= max_quota && over_min < expected_over_min {
            over_min += 1;
            if over_min == expected_over_min {
                exactly_min.clear();
            }
            max_quota
        } else {
            if over_min != expected_over_min {
                exactly_min.push_back(m.member_id.clone());
            }
            min_quota
        };
        for tp in owned.into_iter().take(keep) {
            assigned.insert(tp.clone());
            list.push(tp);
        }
    }
    // Pass 2: the rest, dealt to members under their minimum quota, then one more each to
    // members at it until enough members hold the maximum.
    under_min.sort();
    let mut cursor = 0usize;
    for tp in all.into_iter().filter(|tp| !assigned.contains(tp)) {
        let member = if !under_min.is_empty() {
            if cursor >= under_min.len() {
                cursor = 0;
            }
            under_min[cursor].clone()
        } else if let Some(m) = exactly_min.pop_front() {
            m
        } else {
            // Unreachable by the quota arithmetic; Kafka logs and assigns anyway.
            members.iter().min_by_key(|m| out[&m.member_id].len()).map(|m| m.member_id.clone()).unwrap_or_default()
        };
        let list = out.get_mut(&member).expect("every member has an entry");
        list.push(tp);
        let count = list.len();
        if under_min.get(cursor) == Some(&member) {
            if count == min_quota {
                under_min.remove(cursor);
                exactly_min.push_back(member);
            } else {
                cursor += 1;
            }
        } else if count == max_quota {
            over_min += 1;
            if over_min == expected_over_min {
                exactly_min.clear();
            }
        }
    }
}

/// Subscriptions differ: keep valid previous owners, give each unassigned partition to the
/// least-loaded member subscribed to its topic (topics with the fewest candidates first), then
/// move partitions from a member to one holding two or more fewer while that is possible.
fn general(
    members: &[MemberSpec],
    partitions: &BTreeMap<String, u32>,
    owners: &HashMap<TopicPartition, String>,
    out: &mut BTreeMap<String, Vec<TopicPartition>>,
) {
    let mut assigned: BTreeSet<TopicPartition> = BTreeSet::new();
    for m in members {
        for tp in &m.owned {
            if owners.get(tp) == Some(&m.member_id) && assigned.insert(tp.clone()) {
                out.get_mut(&m.member_id).expect("every member has an entry").push(tp.clone());
            }
        }
    }
    let mut topics: Vec<(&String, u32, usize)> = partitions
        .iter()
        .map(|(t, &n)| (t, n, members.iter().filter(|m| m.topics.contains(t)).count()))
        .filter(|(_, _, candidates)| *candidates > 0)
        .collect();
    topics.sort_by(|a, b| a.2.cmp(&b.2).then_with(|| a.0.cmp(b.0)));
    for (topic, count, _) in topics {
        for p in 0..count {
            let tp = TopicPartition::new(topic.clone(), p);
            if assigned.contains(&tp) {
                continue;
            }
            let member = members
                .iter()
                .filter(|m| m.topics.contains(topic))
                .min_by_key(|m| out[&m.member_id].len())
                .expect("the topic has candidates");
            out.get_mut(&member.member_id).expect("every member has an entry").push(tp.clone());
            assigned.insert(tp);
        }
    }
    // Balance: each move lowers the sum of squared loads, so this ends.
    loop {
        let mut moved = false;
        'search: for from in members {
            for to in members {
                if out[&from.member_id].len() < out[&to.member_id].len() + 2 {
                    continue;
                }
                let candidate = out[&from.member_id].iter().position(|tp| to.topics.contains(&tp.topic));
                if let Some(i) = candidate {
                    let tp = out.get_mut(&from.member_id).expect("entry").remove(i);
                    out.get_mut(&to.member_id).expect("entry").push(tp);
                    moved = true;
                    break 'search;
                }
            }
        }
        if !moved {
            break;
        }
    }
}

/// Cooperative: a partition that moves to a new owner is left unassigned this round; its old
/// owner revokes it and rejoins, and the next round gives it to the new owner.
fn withhold_transfers(members: &[MemberSpec], out: &mut BTreeMap<String, Vec<TopicPartition>>) {
    let mut previous: HashMap<&TopicPartition, &str> = HashMap::new();
    for m in members.iter().filter(|m| m.cooperative) {
        for tp in &m.owned {
            previous.insert(tp, &m.member_id);
        }
    }
    for (member, list) in out.iter_mut() {
        list.retain(|tp| previous.get(tp).is_none_or(|owner| *owner == member.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, topics: &[&str], owned: &[(&str, u32)]) -> MemberSpec {
        MemberSpec {
            member_id: id.into(),
            instance_id: None,
            topics: topics.iter().map(|t| t.to_string()).collect(),
            owned: owned.iter().map(|(t, p)| TopicPartition::new(*t, *p)).collect(),
            generation: 1,
            cooperative: true,
        }
    }

    fn show(out: &BTreeMap<String, Vec<TopicPartition>>) -> Vec<String> {
        out.iter()
            .map(|(m, tps)| format!("{m}:{}", tps.iter().map(|tp| tp.to_string()).collect::<Vec<_>>().join(",")))
            .collect()
    }

    fn counts(list: &[(&str, u32)]) -> BTreeMap<String, u32> {
        list.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    #[test]
    fn range_and_round_robin_match_kafkas_examples() {
        // kafka-clients.md §3.7, checked there against Kafka's own assignor classes.
        let two = [member("C0", &["t0", "t1"], &[]), member("C1", &["t0", "t1"], &[])];
        let topics = counts(&[("t0", 3), ("t1", 3)]);
        assert_eq!(show(&assign(Assignor::Range, &two, &topics)), ["C0:t0-0,t0-1,t1-0,t1-1", "C1:t0-2,t1-2"]);
        assert_eq!(show(&assign(Assignor::RoundRobin, &two, &topics)), ["C0:t0-0,t0-2,t1-1", "C1:t0-1,t1-0,t1-2"]);
        let three = [member("C0", &["t"], &[]), member("C1", &["t"], &[]), member("C2", &["t"], &[])];
        let seven = counts(&[("t", 7)]);
        assert_eq!(show(&assign(Assignor::Range, &three, &seven)), ["C0:t-0,t-1,t-2", "C1:t-3,t-4", "C2:t-5,t-6"]);
        assert_eq!(show(&assign(Assignor::RoundRobin, &three, &seven)), ["C0:t-0,t-3,t-6", "C1:t-1,t-4", "C2:t-2,t-5"]);
    }

    #[test]
    fn cooperative_sticky_matches_kafkas_worked_example() {
        let six = counts(&[("t", 6)]);
        let fresh = [member("C0", &["t"], &[]), member("C1", &["t"], &[]), member("C2", &["t"], &[])];
        let round0 = assign(Assignor::CooperativeSticky, &fresh, &six);
        assert_eq!(show(&round0), ["C0:t-0,t-3", "C1:t-1,t-4", "C2:t-2,t-5"]);
        // C3 joins: t-5 is withheld from everyone in round 1...
        let owned = |id: &str| round0[id].iter().map(|tp| (tp.topic.as_str(), tp.partition)).collect::<Vec<_>>();
        let joined = [
            member("C0", &["t"], &owned("C0")),
            member("C1", &["t"], &owned("C1")),
            member("C2", &["t"], &owned("C2")),
            member("C3", &["t"], &[]),
        ];
        assert_eq!(
            show(&assign(Assignor::CooperativeSticky, &joined, &six)),
            ["C0:t-0,t-3", "C1:t-1,t-4", "C2:t-2", "C3:"]
        );
        // ...the eager sticky assignor moves it at once...
        assert_eq!(show(&assign(Assignor::Sticky, &joined, &six)), ["C0:t-0,t-3", "C1:t-1,t-4", "C2:t-2", "C3:t-5"]);
        // ...and once C2 revoked it, round 2 gives it to C3.
        let revoked = [
            member("C0", &["t"], &owned("C0")),
            member("C1", &["t"], &owned("C1")),
            member("C2", &["t"], &[("t", 2)]),
            member("C3", &["t"], &[]),
        ];
        assert_eq!(
            show(&assign(Assignor::CooperativeSticky, &revoked, &six)),
            ["C0:t-0,t-3", "C1:t-1,t-4", "C2:t-2", "C3:t-5"]
        );
    }

    #[test]
    fn eager_members_under_cooperative_sticky_have_nothing_withheld() {
        // The first step of Kafka's upgrade path: members list [cooperative-sticky, range] and
        // still run the eager protocol; their previous assignment must not leave partitions
        // unassigned (nobody would release them).
        let mut a = member("A", &["t"], &[("t", 0), ("t", 1), ("t", 2), ("t", 3)]);
        a.cooperative = false;
        let mut b = member("B", &["t"], &[]);
        b.cooperative = false;
        let out = assign(Assignor::CooperativeSticky, &[a, b], &counts(&[("t", 4)]));
        assert_eq!(show(&out), ["A:t-0,t-1", "B:t-2,t-3"]);
    }

    #[test]
    fn static_members_sort_first_and_differing_subscriptions_balance() {
        let mut a = member("z-dynamic", &["t"], &[]);
        a.instance_id = None;
        let mut b = member("m-2", &["t"], &[]);
        b.instance_id = Some("instance-a".into());
        let out = assign(Assignor::Range, &[a, b], &counts(&[("t", 3)]));
        assert_eq!(show(&out), ["m-2:t-0,t-1", "z-dynamic:t-2"]);

        let members = [member("A", &["x", "y"], &[]), member("B", &["y"], &[])];
        let out = assign(Assignor::Sticky, &members, &counts(&[("x", 2), ("y", 2)]));
        let loads: Vec<usize> = out.values().map(Vec::len).collect();
        assert_eq!(loads, [2, 2]);
        assert!(out["B"].iter().all(|tp| tp.topic == "y"));
        // Every partition assigned exactly once, for every assignor, with missing topics.
        for assignor in [Assignor::Range, Assignor::RoundRobin, Assignor::Sticky, Assignor::CooperativeSticky] {
            let out = assign(assignor, &members, &counts(&[("x", 3), ("y", 5)]));
            let mut all: Vec<_> = out.values().flatten().cloned().collect();
            all.sort();
            all.dedup();
            assert_eq!(all.len(), 8, "{assignor}");
        }
    }
}
