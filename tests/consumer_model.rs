//! A model-based test of a consumer's positions, commits, seeks and resets: random sequences of
//! appends, polls, seeks, commits, retention deletes and consumer restarts, checked against a
//! model of Kafka's rules (positions advance past returned records only; records come dense and
//! in order per partition from the position; a position out of range resets by
//! `auto.offset.reset`; a new consumer starts from the committed offset).

use std::time::Duration;

use proptest::prelude::*;

use partlog::{Consumer, ConsumerConfig, Log, Record, TopicConfig, TopicPartition};

const PARTITIONS: u32 = 3;
const MAX_POLL: usize = 5;

#[derive(Debug, Clone)]
enum Op {
    Append(u32, u8),
    Poll,
    Seek(u32, u8),
    SeekToBeginning(u32),
    SeekToEnd(u32),
    Commit,
    DeleteRecords(u32, u8),
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..PARTITIONS, 1u8..8).prop_map(|(p, n)| Op::Append(p, n)),
        6 => Just(Op::Poll),
        1 => (0..PARTITIONS, 0u8..40).prop_map(|(p, o)| Op::Seek(p, o)),
        1 => (0..PARTITIONS).prop_map(Op::SeekToBeginning),
        1 => (0..PARTITIONS).prop_map(Op::SeekToEnd),
        2 => Just(Op::Commit),
        1 => (0..PARTITIONS, 0u8..40).prop_map(|(p, o)| Op::DeleteRecords(p, o)),
        1 => Just(Op::Restart),
    ]
}

fn consumer(log: &Log) -> Consumer {
    let config = ConsumerConfig::default()
        .set("group.id", "model")
        .unwrap()
        .set("enable.auto.commit", "false")
        .unwrap()
        .set("auto.offset.reset", "earliest")
        .unwrap()
        .set("max.poll.records", &MAX_POLL.to_string())
        .unwrap();
    let mut c = Consumer::new(log, config).unwrap();
    c.assign(&(0..PARTITIONS).map(|p| TopicPartition::new("t", p)).collect::<Vec<_>>()).unwrap();
    c
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn positions_commits_seeks_and_resets_follow_kafkas_rules(ops in prop::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path()).unwrap();
        let topic = log.create_topic("t", PARTITIONS, TopicConfig::default()).unwrap();
        let mut c = consumer(&log);
        // The model: per partition, [start, end) readable, the position, the committed offset.
        let mut start = [0u64; PARTITIONS as usize];
        let mut end = [0u64; PARTITIONS as usize];
        let mut position: [Option<u64>; PARTITIONS as usize] = [None; PARTITIONS as usize];
        let mut committed: [Option<u64>; PARTITIONS as usize] = [None; PARTITIONS as usize];
        // seek_to_beginning / seek_to_end are lazy (Kafka): resolved at the next poll or position.
        let mut lazy: [Option<bool>; PARTITIONS as usize] = [None; PARTITIONS as usize];
        for op in ops {
            let resolve = |lazy: &mut [Option<bool>; PARTITIONS as usize], position: &mut [Option<u64>; PARTITIONS as usize]| {
                for p in 0..PARTITIONS as usize {
                    if let Some(to_end) = lazy[p].take() {
                        position[p] = Some(if to_end { end[p] } else { start[p] });
                    }
                }
            };
            match op {
                Op::Append(p, n) => {
                    let values: Vec<Vec<u8>> = (0..n as u64).map(|i| (end[p as usize] + i).to_string().into_bytes()).collect();
                    let records: Vec<Record<'_>> = values.iter().map(|v| Record::new(v)).collect();
                    topic.partition(p).unwrap().append(&records).unwrap();
                    end[p as usize] += n as u64;
                }
                Op::Poll => {
                    resolve(&mut lazy, &mut position);
                    let records = c.poll(Duration::ZERO).unwrap();
                    prop_assert!(records.len() <= MAX_POLL);
                    for p in 0..PARTITIONS as usize {
                        // Where this partition reads from: the position, or the reset when it has
                        // none (committed, else earliest) or it is out of range.
                        let mut from = position[p].or(committed[p]).unwrap_or(start[p]);
                        if from < start[p] || from > end[p] {
                            from = start[p];
                        }
                        let got: Vec<u64> = records.iter().filter(|r| r.partition == p as u32).map(|r| r.offset).collect();
                        let expected: Vec<u64> = (from..from + got.len() as u64).collect();
                        prop_assert_eq!(&got, &expected, "partition {} reads dense from {}", p, from);
                        for r in records.iter().filter(|r| r.partition == p as u32) {
                            let expected_value = r.offset.to_string();
                            prop_assert_eq!(r.value.as_deref().unwrap(), expected_value.as_bytes());
                        }
                        if got.is_empty() && records.len() == MAX_POLL {
                            // A full poll may have stopped before this partition: its position is
                            // where it was (even out of range), or where its reset put it.
                            let before = position[p].or(committed[p]).unwrap_or(start[p]);
                            let now = c.position(&TopicPartition::new("t", p as u32)).unwrap();
                            prop_assert!(now == before || now == from, "partition {}: {} not in {{{}, {}}}", p, now, before, from);
                            position[p] = Some(now);
                        } else {
                            position[p] = Some(from + got.len() as u64);
                        }
                    }
                    if records.len() < MAX_POLL {
                        // Not cut by max.poll.records: every partition was read to its end.
                        for p in 0..PARTITIONS as usize {
                            prop_assert_eq!(position[p], Some(end[p]), "partition {} drained", p);
                        }
                    }
                }
                Op::Seek(p, o) => {
                    c.seek(&TopicPartition::new("t", p), o as u64).unwrap();
                    position[p as usize] = Some(o as u64);
                    lazy[p as usize] = None;
                }
                Op::SeekToBeginning(p) => {
                    c.seek_to_beginning(&[TopicPartition::new("t", p)]).unwrap();
                    lazy[p as usize] = Some(false);
                }
                Op::SeekToEnd(p) => {
                    c.seek_to_end(&[TopicPartition::new("t", p)]).unwrap();
                    lazy[p as usize] = Some(true);
                }
                Op::Commit => {
                    resolve(&mut lazy, &mut position);
                    // Positions first: a partition without one gets it as poll would.
                    for p in 0..PARTITIONS as usize {
                        let tp = TopicPartition::new("t", p as u32);
                        let pos = c.position(&tp).unwrap();
                        let expected = position[p].or(committed[p]).unwrap_or(start[p]);
                        prop_assert_eq!(pos, expected);
                        position[p] = Some(pos);
                    }
                    c.commit_sync().unwrap();
                    committed = position;
                }
                Op::DeleteRecords(p, o) => {
                    let o = (o as u64).min(end[p as usize]);
                    if o > start[p as usize] {
                        topic.partition(p).unwrap().delete_records(o).unwrap();
                        start[p as usize] = o;
                    }
                }
                Op::Restart => {
                    c.close().unwrap();
                    c = consumer(&log);
                    position = [None; PARTITIONS as usize];
                    lazy = [None; PARTITIONS as usize];
                }
            }
        }
    }
}
