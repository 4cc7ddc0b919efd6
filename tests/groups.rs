//! Consumer groups: assignment on join, rebalance on leave and on a missed poll, fencing of a
//! removed member's commits, static membership, cooperative rebalancing, callbacks in order,
//! group metadata surviving a reopen, describe with lag, deletion and offset expiry.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use partlog::{
    Admin, Consumer, ConsumerConfig, Error, GroupState, Log, LogOptions, ManualClock, OffsetAndMetadata,
    RebalanceListener, Record, TopicConfig, TopicPartition,
};

fn tp(topic: &str, partition: u32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

fn member(log: &Log, pairs: &[(&str, &str)]) -> Consumer {
    let mut c = ConsumerConfig::default().set("group.id", "g").unwrap().set("auto.offset.reset", "earliest").unwrap();
    for (k, v) in pairs {
        c = c.set(k, v).unwrap();
    }
    Consumer::new(log, c).unwrap()
}

/// Records rebalance callbacks as "name:event:partitions".
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<String>>>);

struct Recorder {
    name: &'static str,
    events: Events,
}

impl Events {
    fn listener(&self, name: &'static str) -> Recorder {
        Recorder { name, events: self.clone() }
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn show(partitions: &[TopicPartition]) -> String {
    partitions.iter().map(|tp| tp.to_string()).collect::<Vec<_>>().join(",")
}

impl RebalanceListener for Recorder {
    fn on_partitions_revoked(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) -> partlog::ListenerResult {
        self.events.0.lock().unwrap().push(format!("{}:revoked:{}", self.name, show(partitions)));
        Ok(())
    }
    fn on_partitions_assigned(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) -> partlog::ListenerResult {
        self.events.0.lock().unwrap().push(format!("{}:assigned:{}", self.name, show(partitions)));
        Ok(())
    }
    fn on_partitions_lost(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) -> partlog::ListenerResult {
        self.events.0.lock().unwrap().push(format!("{}:lost:{}", self.name, show(partitions)));
        Ok(())
    }
}

/// Polls every consumer in turn until the group is stable with the members holding
/// assignments of the expected sizes (in any order). Returns how many records each one read meanwhile.
fn settle(consumers: &mut [&mut Consumer], sizes: &[usize]) -> Vec<usize> {
    let mut read = vec![0; consumers.len()];
    for _ in 0..200 {
        for (i, c) in consumers.iter_mut().enumerate() {
            read[i] += c.poll(Duration::from_millis(1)).unwrap().len();
        }
        let mut now: Vec<usize> = consumers.iter().map(|c| c.assignment().len()).collect();
        let mut wanted = sizes.to_vec();
        now.sort();
        wanted.sort();
        if now == wanted {
            // One more round, so that nobody is left mid-rebalance.
            for (i, c) in consumers.iter_mut().enumerate() {
                read[i] += c.poll(Duration::ZERO).unwrap().len();
            }
            let mut again: Vec<usize> = consumers.iter().map(|c| c.assignment().len()).collect();
            again.sort();
            if again == wanted {
                return read;
            }
        }
    }
    panic!("group did not settle on {sizes:?}: {:?}", consumers.iter().map(|c| c.assignment()).collect::<Vec<_>>());
}

fn setup(partitions: u32) -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let topic = log.create_topic("t", partitions, TopicConfig::default()).unwrap();
    for p in 0..partitions {
        topic.partition(p).unwrap().append(&[Record::new(format!("p{p}").as_bytes())]).unwrap();
    }
    (dir, log)
}

#[test]
fn members_share_partitions_and_take_over_when_one_leaves_with_eager_callbacks_in_order() {
    let (_dir, log) = setup(4);
    let events = Events::default();
    let mut a = member(&log, &[("client.id", "a")]);
    a.subscribe_with_listener(&["t"], events.listener("A")).unwrap();
    settle(&mut [&mut a], &[4]);
    assert_eq!(events.take(), ["A:assigned:t-0,t-1,t-2,t-3"], "nothing revoked on the first join");

    let mut b = member(&log, &[("client.id", "b")]);
    b.subscribe_with_listener(&["t"], events.listener("B")).unwrap();
    settle(&mut [&mut a, &mut b], &[2, 2]);
    // Range: the member ids sort "a-..." before "b-...".
    assert_eq!(a.assignment(), [tp("t", 0), tp("t", 1)]);
    assert_eq!(b.assignment(), [tp("t", 2), tp("t", 3)]);
    let seen = events.take();
    assert_eq!(seen, ["A:revoked:t-0,t-1,t-2,t-3", "A:assigned:t-0,t-1", "B:assigned:t-2,t-3"]);

    let generation = a.group_metadata().unwrap().generation;
    assert_eq!(b.group_metadata().unwrap().generation, generation);
    let d = Admin::new(&log).describe_group("g").unwrap();
    assert_eq!(
        (d.state, d.generation, d.protocol.as_deref(), d.members.len()),
        (GroupState::Stable, generation, Some("range"), 2)
    );

    b.close().unwrap();
    settle(&mut [&mut a], &[4]);
    assert_eq!(events.take(), ["B:revoked:t-2,t-3", "A:revoked:t-0,t-1", "A:assigned:t-0,t-1,t-2,t-3"]);
    assert!(a.group_metadata().unwrap().generation > generation);
}

#[test]
fn a_member_that_stops_polling_is_removed_and_its_stale_commit_is_fenced() {
    let (_dir, log) = setup(2);
    let events = Events::default();
    let mut slow =
        member(&log, &[("client.id", "a"), ("max.poll.interval.ms", "200"), ("enable.auto.commit", "false")]);
    slow.subscribe_with_listener(&["t"], events.listener("slow")).unwrap();
    let mut fast = member(&log, &[("client.id", "b"), ("enable.auto.commit", "false")]);
    fast.subscribe(&["t"]).unwrap();
    settle(&mut [&mut slow, &mut fast], &[1, 1]);
    let mine = slow.assignment();
    fast.commit_sync().unwrap();
    events.take();

    // `slow` is busy for longer than max.poll.interval.ms; `fast` takes its partition.
    std::thread::sleep(Duration::from_millis(300));
    let read = settle(&mut [&mut fast], &[2]);
    assert_eq!(read, [1], "the taken-over partition is read again: nothing was committed for it");
    fast.commit_sync().unwrap();

    // The stale commit cannot overwrite the new owner's progress.
    let err = slow.commit_sync().unwrap_err();
    assert!(matches!(err, Error::CommitFailed { .. }), "{err}");
    let committed = fast.committed(&mine).unwrap();
    assert_eq!(committed, [Some(OffsetAndMetadata::new(1))]);

    // Its next poll finds out: the partitions are lost, and it rejoins.
    settle(&mut [&mut slow, &mut fast], &[1, 1]);
    assert_eq!(events.take()[0], format!("slow:lost:{}", show(&mine)));
}

#[test]
fn a_static_member_comes_back_without_a_rebalance_and_a_second_handle_fences_the_first() {
    let (_dir, log) = setup(4);
    let events = Events::default();
    let mut s = member(&log, &[("group.instance.id", "s1"), ("session.timeout.ms", "60000")]);
    s.subscribe(&["t"]).unwrap();
    let mut d = member(&log, &[("client.id", "a-dynamic")]);
    d.subscribe_with_listener(&["t"], events.listener("D")).unwrap();
    settle(&mut [&mut s, &mut d], &[2, 2]);
    // Static members sort before dynamic ones.
    assert_eq!(s.assignment(), [tp("t", 0), tp("t", 1)]);
    let generation = d.group_metadata().unwrap().generation;
    s.close().unwrap(); // a static member does not leave
    events.take();

    let mut back = member(&log, &[("group.instance.id", "s1"), ("session.timeout.ms", "60000")]);
    back.subscribe(&["t"]).unwrap();
    settle(&mut [&mut back, &mut d], &[2, 2]);
    assert_eq!(back.assignment(), [tp("t", 0), tp("t", 1)]);
    assert_eq!(back.group_metadata().unwrap().generation, generation, "no rebalance");
    assert!(events.take().is_empty(), "the other member saw nothing");

    // Another live handle with the same instance id takes over; the first is fenced.
    let mut usurper = member(&log, &[("group.instance.id", "s1")]);
    usurper.subscribe(&["t"]).unwrap();
    usurper.poll(Duration::from_millis(1)).unwrap();
    assert!(matches!(back.poll(Duration::from_millis(1)), Err(Error::FencedInstanceId { .. })));
    assert!(matches!(back.commit_sync(), Err(Error::FencedInstanceId { .. })));
    drop(back);
    settle(&mut [&mut usurper, &mut d], &[2, 2]);
}

#[test]
fn a_static_member_that_does_not_come_back_within_its_session_timeout_is_replaced() {
    let (_dir, log) = setup(2);
    let mut s = member(&log, &[("group.instance.id", "s1"), ("session.timeout.ms", "1000")]);
    s.subscribe(&["t"]).unwrap();
    let mut d = member(&log, &[]);
    d.subscribe(&["t"]).unwrap();
    settle(&mut [&mut s, &mut d], &[1, 1]);
    s.close().unwrap();
    d.poll(Duration::from_millis(50)).unwrap();
    assert_eq!(d.assignment().len(), 1, "the slot is kept during the session timeout");
    std::thread::sleep(Duration::from_millis(1100));
    settle(&mut [&mut d], &[2]);
}

#[test]
fn cooperative_sticky_moves_only_the_partitions_that_change_owner() {
    let (_dir, log) = setup(6);
    let events = Events::default();
    let coop = [("partition.assignment.strategy", "cooperative-sticky")];
    let names = ["C0", "C1", "C2", "C3"];
    let mut members: Vec<Consumer> = (0..3)
        .map(|i| {
            let mut c = member(&log, &[coop[0], ("client.id", names[i])]);
            c.subscribe_with_listener(&["t"], events.listener(names[i])).unwrap();
            c
        })
        .collect();
    {
        let mut refs: Vec<&mut Consumer> = members.iter_mut().collect();
        settle(&mut refs, &[2, 2, 2]);
    }
    let before: Vec<_> = members.iter().map(|c| c.assignment()).collect();
    events.take();

    let mut c3 = member(&log, &[coop[0], ("client.id", "C3")]);
    c3.subscribe_with_listener(&["t"], events.listener("C3")).unwrap();
    members.push(c3);
    {
        let mut refs: Vec<&mut Consumer> = members.iter_mut().collect();
        settle(&mut refs, &[2, 2, 1, 1]);
    }
    let moved = members[3].assignment();
    assert_eq!(moved.len(), 1);
    for (i, was) in before.iter().enumerate() {
        let now = members[i].assignment();
        assert!(now.iter().all(|p| was.contains(p)), "C{i} kept only what it had: {was:?} -> {now:?}");
    }
    let seen = events.take();
    // One member revoked one partition; nobody else revoked anything and kept consuming.
    let revoked: Vec<_> = seen.iter().filter(|e| e.contains(":revoked:")).collect();
    assert_eq!(revoked.len(), 1, "{seen:?}");
    assert!(revoked[0].ends_with(&format!(":revoked:{}", moved[0])), "{seen:?}");
    let assigned = format!("C3:assigned:{}", moved[0]);
    let c3_assigned = seen.iter().position(|e| *e == assigned).expect("C3 was assigned it");
    let revoked_at = seen.iter().position(|e| e == revoked[0]).unwrap();
    assert!(revoked_at < c3_assigned, "revoked before it is assigned elsewhere: {seen:?}");
}

#[test]
fn round_robin_and_a_topic_created_after_subscribing() {
    let (_dir, log) = setup(3);
    let rr = ("partition.assignment.strategy", "roundrobin");
    let mut a = member(&log, &[rr, ("client.id", "a")]);
    let mut b = member(&log, &[rr, ("client.id", "b")]);
    a.subscribe(&["t", "later"]).unwrap();
    b.subscribe(&["t", "later"]).unwrap();
    settle(&mut [&mut a, &mut b], &[2, 1]);
    assert_eq!(a.assignment(), [tp("t", 0), tp("t", 2)]);
    log.create_topic("later", 3, TopicConfig::default()).unwrap();
    settle(&mut [&mut a, &mut b], &[3, 3]);
    assert_eq!(a.assignment(), [tp("later", 0), tp("later", 2), tp("t", 1)]);
}

#[test]
fn a_static_members_assignment_survives_a_reopen_and_committed_offsets_resume() {
    let dir = tempfile::tempdir().unwrap();
    let generation;
    {
        let log = Log::open(dir.path()).unwrap();
        let topic = log.create_topic("t", 2, TopicConfig::default()).unwrap();
        for p in 0..2 {
            topic.partition(p).unwrap().append(&[Record::new(b"x"), Record::new(b"y")]).unwrap();
        }
        let mut s = member(&log, &[("group.instance.id", "s1")]);
        s.subscribe(&["t"]).unwrap();
        let mut got = settle(&mut [&mut s], &[2])[0];
        while got < 4 {
            got += s.poll(Duration::from_millis(10)).unwrap().len();
        }
        generation = s.group_metadata().unwrap().generation;
        s.close().unwrap(); // auto-commit
        log.close().unwrap();
    }
    let log = Log::open(dir.path()).unwrap();
    let d = Admin::new(&log).describe_group("g").unwrap();
    assert_eq!((d.state, d.generation, d.members.len()), (GroupState::Stable, generation, 1));
    assert!(!d.members[0].attached);
    assert_eq!(d.partitions.iter().map(|p| p.lag).collect::<Vec<_>>(), [Some(0), Some(0)]);
    let mut s = member(&log, &[("group.instance.id", "s1")]);
    s.subscribe(&["t"]).unwrap();
    assert_eq!(settle(&mut [&mut s], &[2]), [0], "resumed after the committed offsets");
    assert_eq!(s.group_metadata().unwrap().generation, generation, "re-attached without a rebalance");
}

#[test]
fn describe_lag_delete_and_offset_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let log = Log::open_with(dir.path(), LogOptions::default().clock(clock.clone())).unwrap();
    let p = log.create_topic("t", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    p.append(&[Record::new(b"a"), Record::new(b"b"), Record::new(b"c")]).unwrap();
    let admin = Admin::new(&log);
    assert!(matches!(admin.describe_group("nope"), Err(Error::UnknownGroup { .. })));
    assert!(matches!(admin.delete_group("nope"), Err(Error::UnknownGroup { .. })));

    let mut c = member(&log, &[("enable.auto.commit", "false")]);
    c.subscribe(&["t"]).unwrap();
    settle(&mut [&mut c], &[1]);
    c.commit_offsets(&[(tp("t", 0), OffsetAndMetadata::new(1))], partlog::CommitMode::Sync).unwrap();
    let d = admin.describe_group("g").unwrap();
    assert_eq!(d.partitions[0].lag, Some(2));
    assert_eq!(d.partitions[0].member_id.as_deref(), Some(d.members[0].member_id.as_str()));
    // A group with members cannot be deleted or have its offsets altered from outside.
    assert!(matches!(admin.delete_group("g"), Err(Error::NonEmptyGroup { members: 1, .. })));
    assert!(matches!(
        admin.alter_group_offsets("g", &[(tp("t", 0), OffsetAndMetadata::new(0))]),
        Err(Error::CommitFailed { .. })
    ));
    c.close().unwrap();
    assert_eq!(admin.describe_group("g").unwrap().state, GroupState::Empty);

    // Expiry: 7 days after the group became empty.
    clock.advance_ms(6 * 24 * 3600 * 1000);
    admin.expire_offsets().unwrap();
    assert_eq!(admin.list_group_offsets("g").unwrap().len(), 1);
    clock.advance_ms(2 * 24 * 3600 * 1000);
    admin.expire_offsets().unwrap();
    assert!(admin.list_groups().unwrap().is_empty(), "offsets expired, then the empty group");
    // The tombstones are in the log: a reopen does not bring the group back.
    drop(admin);
    log.close().unwrap();
    let log = Log::open(dir.path()).unwrap();
    assert!(Admin::new(&log).list_groups().unwrap().is_empty());
}

#[test]
fn a_member_sharing_no_assignor_is_refused_alone() {
    let (_dir, log) = setup(2);
    let mut a = member(&log, &[("partition.assignment.strategy", "range")]);
    a.subscribe(&["t"]).unwrap();
    settle(&mut [&mut a], &[2]);
    let mut b = member(&log, &[("partition.assignment.strategy", "roundrobin")]);
    b.subscribe(&["t"]).unwrap();
    for _ in 0..3 {
        assert!(matches!(b.poll(Duration::from_millis(1)), Err(Error::InconsistentGroupProtocol { .. })));
        a.poll(Duration::from_millis(1)).unwrap();
        a.commit_sync().unwrap();
    }
    assert_eq!(a.assignment().len(), 2, "the group goes on without the newcomer");
}

#[test]
fn a_static_member_back_from_a_missed_poll_interval_loses_then_regains_its_slot() {
    let (_dir, log) = setup(2);
    let events = Events::default();
    let mut s =
        member(&log, &[("group.instance.id", "s1"), ("max.poll.interval.ms", "100"), ("session.timeout.ms", "60000")]);
    s.subscribe_with_listener(&["t"], events.listener("S")).unwrap();
    let mut d = member(&log, &[]);
    d.subscribe(&["t"]).unwrap();
    settle(&mut [&mut s, &mut d], &[1, 1]);
    let slot = s.assignment();
    events.take();
    std::thread::sleep(Duration::from_millis(200));
    d.poll(Duration::from_millis(1)).unwrap(); // notices: the static member is detached
    settle(&mut [&mut s, &mut d], &[1, 1]);
    assert_eq!(s.assignment(), slot);
    assert_eq!(events.take()[0], format!("S:lost:{}", show(&slot)), "it rejoined after losing its partitions");
}

/// Copies a data directory as a crash would leave it (everything written is in the page cache).
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != ".lock" {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn dynamic_members_gone_at_a_reopen_leave_their_partitions_to_a_rebalance() {
    let dir = tempfile::tempdir().unwrap();
    let copy = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    log.create_topic("t", 4, TopicConfig::default()).unwrap();
    let mut s = member(&log, &[("group.instance.id", "s1")]);
    s.subscribe(&["t"]).unwrap();
    let mut d = member(&log, &[]);
    d.subscribe(&["t"]).unwrap();
    settle(&mut [&mut s, &mut d], &[2, 2]);
    // The process dies with both members in the group: a copy of the directory as it is now.
    copy_dir(dir.path(), copy.path());
    let log = Log::open(copy.path()).unwrap();
    let mut back = member(&log, &[("group.instance.id", "s1")]);
    back.subscribe(&["t"]).unwrap();
    settle(&mut [&mut back], &[4]);
}

#[test]
fn a_commit_between_a_rebalance_and_taking_its_assignment_is_retriable() {
    let (_dir, log) = setup(4);
    let coop = ("partition.assignment.strategy", "cooperative-sticky");
    let mut a = member(&log, &[coop, ("client.id", "a"), ("enable.auto.commit", "false")]);
    let mut b = member(&log, &[coop, ("client.id", "b"), ("enable.auto.commit", "false")]);
    a.subscribe(&["t"]).unwrap();
    b.subscribe(&["t"]).unwrap();
    settle(&mut [&mut a, &mut b], &[2, 2]);
    let mut c = member(&log, &[coop, ("client.id", "c"), ("enable.auto.commit", "false")]);
    c.subscribe(&["t"]).unwrap();
    c.poll(Duration::ZERO).unwrap(); // joins: a rebalance starts
    a.poll(Duration::ZERO).unwrap(); // rejoins, waits for b
    b.poll(Duration::ZERO).unwrap(); // rejoins: the rebalance completes; a has not seen it yet
    let err = a.commit_sync().unwrap_err();
    assert!(matches!(err, Error::RebalanceInProgress { .. }), "{err}");
    settle(&mut [&mut a, &mut b, &mut c], &[1, 1, 2]);
    a.commit_sync().unwrap();
}

#[test]
fn bad_settings_and_names_are_refused_with_typed_errors() {
    let (_dir, log) = setup(1);
    let long = "g".repeat(40_000);
    let config = ConsumerConfig::default().set("group.id", &long).unwrap();
    assert!(matches!(Consumer::new(&log, config), Err(Error::InvalidConfig { .. })));
    assert!(matches!(
        Admin::new(&log).alter_group_offsets(&long, &[(tp("t", 0), OffsetAndMetadata::new(0))]),
        Err(Error::InvalidConfig { .. })
    ));
    assert!(ConsumerConfig::default().set("max.poll.interval.ms", "2147483648").is_err());
    let mut config = ConsumerConfig::default();
    config.session_timeout_ms = u64::MAX;
    assert!(matches!(Consumer::new(&log, config), Err(Error::InvalidConfig { .. })));
    // An async commit with nothing to commit still calls back.
    let mut c = member(&log, &[("enable.auto.commit", "false")]);
    c.assign(&[tp("t", 0)]).unwrap();
    let called = Arc::new(Mutex::new(None));
    let seen = called.clone();
    c.commit_async(move |r| *seen.lock().unwrap() = Some(r.is_ok()));
    c.poll(Duration::ZERO).unwrap();
    assert_eq!(*called.lock().unwrap(), Some(true));
}

/// After an unclean shutdown, a committed offset past its partition's recovered log end is set
/// to the log end before anything is appended, and reported: new appends are read, not skipped.
#[test]
fn a_committed_offset_past_the_recovered_log_end_is_clamped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let p = log.create_topic("t", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    p.append(&[Record::new(b"a"), Record::new(b"b")]).unwrap();
    p.flush().unwrap();
    let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("group.id", "g").unwrap()).unwrap();
    // As if the commit were made durable and the data below it lost.
    let past = OffsetAndMetadata::new(40).with_metadata("kept");
    consumer.commit_offsets(&[(tp("t", 0), past)], partlog::CommitMode::Sync).unwrap();
    drop(consumer);
    log.simulate_crash();

    let log = Log::open(dir.path()).unwrap();
    let events: Vec<_> = log.recovery_report().iter().filter(|e| e.reason.contains("committed offset 40")).collect();
    assert_eq!(events.len(), 1, "{:?}", log.recovery_report());
    assert_eq!(events[0].partition, "t-0");
    let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("group.id", "g").unwrap()).unwrap();
    assert_eq!(consumer.committed(&[tp("t", 0)]).unwrap()[0], Some(OffsetAndMetadata::new(2).with_metadata("kept")));
    log.partition("t", 0).unwrap().append(&[Record::new(b"new")]).unwrap();
    consumer.subscribe(&["t"]).unwrap();
    let records = consumer.poll(Duration::from_secs(5)).unwrap();
    assert_eq!(records[0].value.as_deref(), Some(&b"new"[..]));

    // After a clean shutdown nothing was lost: a commit past the end is the application's, kept.
    consumer.close().unwrap(); // (auto-commit: 3)
    let config = ConsumerConfig::default().set("group.id", "g").unwrap().set("enable.auto.commit", "false").unwrap();
    let mut consumer = Consumer::new(&log, config).unwrap();
    consumer.commit_offsets(&[(tp("t", 0), OffsetAndMetadata::new(90))], partlog::CommitMode::Sync).unwrap();
    drop(consumer);
    log.close().unwrap();
    let log = Log::open(dir.path()).unwrap();
    assert!(log.recovery_report().is_empty());
    let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("group.id", "g").unwrap()).unwrap();
    assert_eq!(consumer.committed(&[tp("t", 0)]).unwrap()[0].as_ref().map(|c| c.offset), Some(90));
}

/// A listener that panics: `poll` returns the panic as `Error::RebalanceCallback`, the
/// rebalance stands, and the consumer goes on working (it was unusable: `in_callback` stayed set).
#[test]
fn a_panicking_listener_fails_the_poll_and_leaves_the_consumer_usable() {
    struct Panics;
    impl RebalanceListener for Panics {
        fn on_partitions_assigned(&mut self, _: &mut Consumer, _: &[TopicPartition]) -> partlog::ListenerResult {
            panic!("listener bug");
        }
    }
    let (_dir, log) = setup(2);
    let mut c = member(&log, &[]);
    c.subscribe_with_listener(&["t"], Panics).unwrap();
    match c.poll(Duration::from_secs(5)) {
        Err(Error::RebalanceCallback { callback: "on_partitions_assigned", reason, source: None }) => {
            assert!(reason.contains("listener bug"), "{reason}")
        }
        other => panic!("expected the panic as an error, got {other:?}"),
    }
    assert_eq!(c.assignment().len(), 2);
    let mut read = 0;
    for _ in 0..20 {
        read += c.poll(Duration::from_millis(100)).unwrap().len();
    }
    assert_eq!(read, 2, "the consumer still reads");
    c.commit_sync().unwrap();
    c.close().unwrap();
}

/// Kafka's poll timer runs during rebalance callbacks: a member stuck in one past
/// `max.poll.interval.ms` is removed, and the others take its partitions meanwhile. When the
/// callback returns, the member learns it lost them.
#[test]
fn a_member_stuck_in_a_callback_is_removed_and_its_partitions_move_on() {
    struct Stuck(Arc<std::sync::atomic::AtomicBool>, Events);
    impl RebalanceListener for Stuck {
        fn on_partitions_assigned(&mut self, _: &mut Consumer, p: &[TopicPartition]) -> partlog::ListenerResult {
            self.1 .0.lock().unwrap().push(format!("assigned {}", show(p)));
            if !p.is_empty() && !self.0.swap(true, std::sync::atomic::Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1500)); // stuck, the first time
            }
            Ok(())
        }
        fn on_partitions_lost(&mut self, _: &mut Consumer, p: &[TopicPartition]) -> partlog::ListenerResult {
            self.1 .0.lock().unwrap().push(format!("lost {}", show(p)));
            Ok(())
        }
    }
    let (_dir, log) = setup(2);
    let events = Events::default();
    let stuck = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let config = [("max.poll.interval.ms", "300"), ("enable.auto.commit", "false")];
    // b owns both partitions, then shares them with a, then takes a's back while a is stuck.
    let (joined_tx, joined_rx) = std::sync::mpsc::channel();
    let log2 = log.clone();
    let other = std::thread::spawn(move || {
        let mut b = member(&log2, &[("max.poll.interval.ms", "300"), ("enable.auto.commit", "false")]);
        b.subscribe(&["t"]).unwrap();
        let mut sizes = vec![];
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            b.poll(Duration::from_millis(20)).unwrap();
            let n = b.assignment().len();
            if sizes.last() != Some(&n) {
                sizes.push(n);
                if sizes == [2] {
                    joined_tx.send(()).unwrap();
                }
                if sizes.ends_with(&[1, 2]) {
                    return (sizes, std::time::Instant::now());
                }
            }
        }
        (sizes, std::time::Instant::now())
    });
    joined_rx.recv().unwrap();
    let mut a = member(&log, &config);
    a.subscribe_with_listener(&["t"], Stuck(stuck.clone(), events.clone())).unwrap();
    let before = std::time::Instant::now();
    while !stuck.load(std::sync::atomic::Ordering::SeqCst) {
        a.poll(Duration::from_millis(10)).unwrap(); // joins; stuck in on_partitions_assigned
    }
    let (stuck_for, back) = (before.elapsed(), std::time::Instant::now());
    let (sizes, taken) = other.join().unwrap();
    assert!(sizes.ends_with(&[1, 2]), "the other member never took the stuck member's partition: {sizes:?}");
    assert!(taken < back, "the partition moved only after the callback returned, {:?} later", taken - back);
    assert!(stuck_for >= Duration::from_millis(1400), "(a's callback was stuck for {stuck_for:?})");
    // Back from the callback: a is no longer a member, and learns it lost its partition.
    for _ in 0..20 {
        a.poll(Duration::from_millis(20)).unwrap();
    }
    let seen = events.take();
    assert!(seen.iter().any(|e| e.starts_with("lost t-")), "{seen:?}");
}

/// An `Io` whose fsyncs of `__consumer_offsets` files take a while once `slow` is set.
#[derive(Debug)]
struct SlowOffsetsSync {
    slow: std::sync::atomic::AtomicBool,
}

impl partlog::Io for SlowOffsetsSync {
    fn write_all_at(&self, file: &std::fs::File, _: &std::path::Path, buf: &[u8], at: u64) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(file, buf, at)
    }
    fn sync_data(&self, file: &std::fs::File, path: &std::path::Path) -> std::io::Result<()> {
        let offsets = path.to_string_lossy().contains("__consumer_offsets-");
        if offsets && self.slow.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1500));
        }
        file.sync_data()
    }
    fn sync_dir(&self, path: &std::path::Path) -> std::io::Result<()> {
        std::fs::File::open(path)?.sync_all()
    }
}

/// One group's work does not stall another's: an offset expiry pass that fsyncs (here, slowly)
/// holds no lock another group's members need (it held the coordinator's one mutex).
#[test]
fn a_slow_fsync_for_one_group_does_not_stall_another_group() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let io = Arc::new(SlowOffsetsSync { slow: std::sync::atomic::AtomicBool::new(false) });
    let options = LogOptions::default().clock(clock.clone()).io(io.clone());
    let log = Log::open_with(dir.path(), options).unwrap();
    log.create_topic("t", 1, TopicConfig::default()).unwrap();
    let config = |g: &str| ConsumerConfig::default().set("group.id", g).unwrap();
    // Group "old": offsets committed long ago, by a consumer outside the group.
    let mut old = Consumer::new(&log, config("old")).unwrap();
    old.commit_offsets(&[(tp("t", 0), OffsetAndMetadata::new(1))], partlog::CommitMode::Sync).unwrap();
    drop(old);
    // Group "busy": one member, polling (without auto-commit, so that its own commits, and the
    // roll their appends would make, do not fsync).
    let mut busy = Consumer::new(&log, config("busy").set("enable.auto.commit", "false").unwrap()).unwrap();
    busy.subscribe(&["t"]).unwrap();
    while busy.assignment().is_empty() {
        busy.poll(Duration::from_millis(10)).unwrap();
    }
    clock.advance_ms(8 * 24 * 3600 * 1000); // past offsets.retention.minutes
    io.slow.store(true, std::sync::atomic::Ordering::SeqCst);
    let admin = Admin::new(&log);
    let expiry = std::thread::spawn(move || admin.expire_offsets());
    // Polls all through the pass, which fsyncs (slowly) for its tombstones and for the roll
    // its append makes (the clock passed segment.ms).
    let mut slowest = Duration::ZERO;
    let mut polls = 0;
    while !expiry.is_finished() {
        let start = std::time::Instant::now();
        busy.poll(Duration::from_millis(1)).unwrap();
        slowest = slowest.max(start.elapsed());
        polls += 1;
    }
    expiry.join().unwrap().unwrap();
    assert!(polls > 10, "polled during the pass ({polls})");
    io.slow.store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(slowest < Duration::from_millis(700), "a poll of another group waited {slowest:?} for the fsync");
    let mut check = Consumer::new(&log, config("old")).unwrap();
    assert_eq!(check.committed(&[tp("t", 0)]).unwrap(), [None], "the old offsets expired");
}

/// A commit callback that panics: the poll that ran it reports it, the commits after it are
/// still made durable and reported, and the consumer goes on.
#[test]
fn a_panicking_commit_callback_is_reported_and_the_commits_after_it_complete() {
    let (_dir, log) = setup(1);
    let mut c = member(&log, &[("enable.auto.commit", "false")]);
    c.assign(&[tp("t", 0)]).unwrap();
    while c.poll(Duration::from_millis(50)).unwrap().is_empty() {}
    let after = Arc::new(Mutex::new(None));
    let seen = after.clone();
    c.commit_async(|_| panic!("callback bug"));
    c.commit_async(move |r| *seen.lock().unwrap() = Some(r.is_ok()));
    assert!(c.poll(Duration::from_millis(10)).is_err(), "the panic is reported");
    assert_eq!(*after.lock().unwrap(), Some(true), "the commit after it completed");
    assert!(c.poll(Duration::from_millis(10)).is_ok(), "the consumer goes on");
    assert_eq!(c.committed(&[tp("t", 0)]).unwrap()[0].as_ref().map(|o| o.offset), Some(1));
}

/// After an unclean shutdown, a `__consumer_offsets` record that cannot be decoded does not
/// stop the log from opening: the check of committed offsets is reported as not done.
#[test]
fn an_undecodable_offsets_record_does_not_stop_an_unclean_open() {
    let (dir, log) = setup(1);
    let mut c = member(&log, &[]);
    c.commit_offsets(&[(tp("t", 0), OffsetAndMetadata::new(1))], partlog::CommitMode::Sync).unwrap();
    drop(c);
    // A record no coordinator wrote: an offset commit key whose group name is cut short.
    let p = log.partition("__consumer_offsets", 0).unwrap();
    p.append(&[Record::new(b"garbage").with_key(&[0, 1, 0, 5, b'g'])]).unwrap();
    log.simulate_crash();
    let log = Log::open(dir.path()).expect("opens");
    let report = log.recovery_report();
    assert!(report.iter().any(|e| e.reason.contains("committed offsets not checked")), "{report:?}");
    assert_eq!(log.partition("t", 0).unwrap().log_end_offset(), 1);
}
