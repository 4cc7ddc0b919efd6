//! Model-based tests: random sequences of append, raw append, read, fetch, offset-for-timestamp,
//! roll and reopen against a plain vector of records, on topics with tiny segments and indexes so
//! that rolls on size, on a full index and reopen of many segments all happen.

use proptest::prelude::*;

use partlog::{Compression, CompressionType, Error, Fetch, Log, LogOptions, OwnedRecord, Record, TopicConfig};

#[derive(Debug, Clone)]
struct Rec {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    timestamp: i64,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<Rec>),
    /// Append the raw batches of a range already in the log (forwarding).
    AppendRawCopy {
        from: usize,
        max_bytes: usize,
    },
    Read {
        from: usize,
        max_bytes: usize,
    },
    Fetch {
        from: usize,
        max_bytes: usize,
    },
    OffsetForTimestamp(i64),
    /// The exact timestamp of a record already appended (hits time-index entries exactly).
    OffsetForRecordTimestamp(usize),
    Roll,
    /// Truncate to a random offset (whole batches: the log may end below it).
    Truncate(usize),
    Reopen,
    /// Drop the log as a crash would, then reopen (recovery).
    Crash,
}

fn rec() -> impl Strategy<Value = Rec> {
    (
        proptest::option::weighted(0.7, proptest::collection::vec(any::<u8>(), 0..12)),
        proptest::option::weighted(0.9, proptest::collection::vec(any::<u8>(), 0..300)),
        0i64..1_000,
        proptest::collection::vec(
            ("[a-zé]{0,4}", proptest::option::of(proptest::collection::vec(any::<u8>(), 0..6))),
            0..3,
        ),
    )
        .prop_map(|(key, value, timestamp, headers)| Rec { key, value, timestamp, headers })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => proptest::collection::vec(rec(), 1..12).prop_map(Op::Append),
        1 => (any::<usize>(), 1usize..3000).prop_map(|(from, max_bytes)| Op::AppendRawCopy { from, max_bytes }),
        3 => (any::<usize>(), 1usize..4000).prop_map(|(from, max_bytes)| Op::Read { from, max_bytes }),
        2 => (any::<usize>(), 1usize..4000).prop_map(|(from, max_bytes)| Op::Fetch { from, max_bytes }),
        1 => (-10i64..1_100).prop_map(Op::OffsetForTimestamp),
        2 => any::<usize>().prop_map(Op::OffsetForRecordTimestamp),
        1 => Just(Op::Roll),
        1 => any::<usize>().prop_map(Op::Truncate),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
    ]
}

fn config() -> impl Strategy<Value = TopicConfig> {
    (0usize..4, 300u32..3000, 48u32..160, 0u32..600).prop_map(|(codec, segment_bytes, index_bytes, interval)| {
        let mut c = TopicConfig::default();
        c.compression_type = CompressionType::Codec(
            [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4][codec],
        );
        c.segment_bytes = segment_bytes;
        c.segment_index_bytes = index_bytes;
        c.index_interval_bytes = interval;
        c
    })
}

fn check_records(got: &[OwnedRecord], model: &[Rec], from: usize) {
    for (i, g) in got.iter().enumerate() {
        let want = &model[from + i];
        assert_eq!(g.offset, (from + i) as u64);
        assert_eq!(
            (g.key.as_ref(), g.value.as_ref(), g.timestamp),
            (want.key.as_ref(), want.value.as_ref(), want.timestamp)
        );
        let headers: Vec<(String, Option<Vec<u8>>)> =
            g.headers.iter().map(|h| (String::from_utf8(h.key.clone()).unwrap(), h.value.clone())).collect();
        assert_eq!(headers, want.headers);
    }
}

fn run(config: TopicConfig, ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let open = || Log::open_with(dir.path(), LogOptions::default()).unwrap();
    let mut log = open();
    log.create_topic("m", 1, config).unwrap();
    let mut model: Vec<Rec> = Vec::new();
    for op in ops {
        let p = log.partition("m", 0).unwrap();
        let end = model.len();
        match op {
            Op::Append(recs) => {
                let headers: Vec<Vec<partlog::Header<'_>>> = recs
                    .iter()
                    .map(|r| {
                        r.headers.iter().map(|(k, v)| partlog::Header::from_bytes(k.as_bytes(), v.as_deref())).collect()
                    })
                    .collect();
                let records: Vec<Record<'_>> = recs
                    .iter()
                    .zip(&headers)
                    .map(|(r, h)| Record {
                        key: r.key.as_deref(),
                        value: r.value.as_deref(),
                        timestamp: Some(r.timestamp),
                        headers: h,
                    })
                    .collect();
                match p.append(&records) {
                    Ok(info) => {
                        assert_eq!((info.first_offset, info.last_offset), (end as u64, (end + recs.len() - 1) as u64));
                        model.extend(recs);
                    }
                    // Tiny segments: a batch bigger than segment.bytes is refused, and nothing changes.
                    Err(Error::BatchTooLarge { .. }) => {}
                    Err(e) => panic!("append: {e}"),
                }
            }
            Op::AppendRawCopy { from, max_bytes } => {
                if end == 0 {
                    continue;
                }
                let from = from % end;
                let mut raw = Vec::new();
                let next = p.read_raw(from as u64, max_bytes, &mut raw).unwrap() as usize;
                assert!(next > from);
                // The first batch may start before `from`: the copy covers whole batches.
                let first_copied = partlog::BatchHeader::parse(&raw).unwrap().base_offset as usize;
                match p.append_raw(&raw) {
                    Ok(info) => {
                        assert_eq!(info.first_offset, end as u64);
                        assert_eq!(info.last_offset, (end + next - first_copied - 1) as u64);
                        model.extend_from_within(first_copied..next);
                    }
                    Err(Error::BatchTooLarge { .. }) => {}
                    Err(e) => panic!("append_raw: {e}"),
                }
            }
            Op::Read { from, max_bytes } => {
                let from = from % (end + 2);
                match p.read(from as u64, max_bytes) {
                    Ok(got) => {
                        assert!(from <= end);
                        assert_eq!(got.is_empty(), from == end, "at least one record unless at the end");
                        check_records(&got, &model, from);
                    }
                    Err(Error::OffsetOutOfRange { log_end_offset, .. }) => {
                        assert!(from > end);
                        assert_eq!(log_end_offset, end as u64);
                    }
                    Err(e) => panic!("read: {e}"),
                }
            }
            Op::Fetch { from, max_bytes } => {
                if end == 0 {
                    continue;
                }
                // Fetch to the end in steps; every record exactly once, in order.
                let mut next = (from % end) as u64;
                let start = next as usize;
                let mut got = Vec::new();
                let mut fetch = Fetch::new();
                while next < end as u64 {
                    p.fetch(next, max_bytes, &mut fetch).unwrap();
                    assert!(fetch.next_offset() > next);
                    got.extend(fetch.records().map(|r| r.unwrap().to_owned()));
                    next = fetch.next_offset();
                }
                assert_eq!(got.len(), end - start);
                check_records(&got, &model, start);
            }
            Op::OffsetForTimestamp(_) | Op::OffsetForRecordTimestamp(_) => {
                let t = match op {
                    Op::OffsetForTimestamp(t) => t,
                    Op::OffsetForRecordTimestamp(i) if end > 0 => model[i % end].timestamp,
                    _ => 0,
                };
                let want = model.iter().position(|r| r.timestamp >= t).map(|i| (i as u64, model[i].timestamp));
                let got = p.offset_for_timestamp(t).unwrap().map(|h| (h.offset, h.timestamp));
                assert_eq!(got, want, "offset for timestamp {t}");
            }
            Op::Roll => p.roll().unwrap(),
            Op::Truncate(at) => {
                let at = if end == 0 { 0 } else { at % (end + 1) };
                let new_end = p.truncate_to(at as u64).unwrap() as usize;
                assert!(new_end <= at, "truncated to {new_end}, asked {at}");
                assert!(at - new_end < 12, "only the batch holding the offset goes");
                model.truncate(new_end);
                check_records(&p.read(0, usize::MAX).unwrap(), &model, 0);
            }
            Op::Reopen | Op::Crash => {
                drop(p);
                if matches!(op, Op::Crash) {
                    log.simulate_crash();
                } else {
                    log.close().unwrap();
                }
                log = open();
                assert!(log.recovery_report().is_empty(), "{:?}", log.recovery_report());
                let p = log.partition("m", 0).unwrap();
                assert_eq!(p.log_end_offset(), end as u64);
                let all = p.read(0, usize::MAX).unwrap();
                assert_eq!(all.len(), end);
                check_records(&all, &model, 0);
            }
        }
        let p = log.partition("m", 0).unwrap();
        assert_eq!(p.log_end_offset(), model.len() as u64);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn partition_behaves_like_a_vector_of_records(config in config(), ops in proptest::collection::vec(op(), 1..60)) {
        run(config, ops);
    }
}
