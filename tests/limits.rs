//! Every limit and every bad input returns its documented error, and loses nothing.

mod common;

use partlog::{
    batch, BatchHeader, CleanupPolicy, Compression, CompressionType, Error, FormatError, Log, Partition, Record,
    TopicConfig,
};

use common::partition_with;

fn raw_batch(p: &Partition, records: &[Record<'_>]) -> Vec<u8> {
    let from = p.log_end_offset();
    p.append(records).unwrap();
    let mut raw = Vec::new();
    p.read_raw(from, usize::MAX, &mut raw).unwrap();
    raw
}

#[test]
fn reads_outside_the_log_report_the_valid_range() {
    let (_dir, _log, p) = partition_with(TopicConfig::default());
    p.append(&[Record::new(b"a"), Record::new(b"b")]).unwrap();
    match p.read(3, 100) {
        Err(Error::OffsetOutOfRange { offset: 3, log_start_offset: 0, log_end_offset: 2, partition: 0, topic }) => {
            assert_eq!(topic, "t")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.read(2, 100).unwrap(), vec![], "reading at the log end offset returns nothing");
    let msg = p.read(9, 100).unwrap_err().to_string();
    assert!(msg.contains("0..2"), "the message names the range: {msg}");
}

#[test]
fn batches_over_max_message_bytes_are_rejected_and_nothing_is_written() {
    let mut config = TopicConfig::default();
    config.max_message_bytes = 1000;
    let (_dir, _log, p) = partition_with(config);
    let big = vec![7u8; 2000];
    match p.append(&[Record::new(&big)]) {
        Err(Error::BatchTooLarge { limit: 1000, setting: "max.message.bytes", size }) => assert!(size > 2000),
        other => panic!("{other:?}"),
    }
    assert_eq!(p.log_end_offset(), 0);
    p.append(&[Record::new(b"small")]).unwrap();
    assert_eq!(p.read(0, 100).unwrap().len(), 1);
}

#[test]
fn compressed_batches_no_reader_could_decompress_are_refused_not_acknowledged() {
    // Zeros compress to almost nothing: under max.message.bytes on disk, but past the limit every
    // reader puts on a batch's decompressed records. Acknowledged, they could never be read.
    let big = vec![0u8; batch::MAX_DECOMPRESSED_BYTES + 1];
    for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4] {
        let mut config = TopicConfig::default();
        config.compression_type = CompressionType::Codec(codec);
        let (_dir, _log, p) = partition_with(config);
        p.append(&[Record::new(b"before")]).unwrap();
        match p.append(&[Record::new(&big)]) {
            Err(Error::BatchTooLarge { size, limit, setting }) => {
                assert!(setting.contains("MAX_DECOMPRESSED_BYTES"), "{codec}: {setting}");
                assert_eq!(limit, (batch::MAX_DECOMPRESSED_BYTES + batch::HEADER_LEN) as u64, "{codec}");
                assert!(size > limit, "{codec}: {size}");
            }
            other => panic!("{codec}: {other:?}"),
        }
        assert_eq!(p.log_end_offset(), 1, "{codec}: nothing written");
        p.append(&[Record::new(b"after")]).unwrap();
        let values: Vec<_> = p.read(0, 1 << 20).unwrap().into_iter().map(|r| r.value.unwrap()).collect();
        assert_eq!(values, [b"before".to_vec(), b"after".to_vec()], "{codec}");
    }
}

#[test]
fn batches_over_segment_bytes_are_rejected() {
    let mut config = TopicConfig::default();
    config.segment_bytes = 500;
    let (_dir, _log, p) = partition_with(config);
    assert!(matches!(
        p.append(&[Record::new(&[1u8; 600])]),
        Err(Error::BatchTooLarge { limit: 500, setting: "segment.bytes", .. })
    ));
}

#[test]
fn empty_appends_are_rejected() {
    let (_dir, _log, p) = partition_with(TopicConfig::default());
    assert!(matches!(p.append(&[]), Err(Error::EmptyAppend)));
    assert!(matches!(p.append_raw(&[]), Err(Error::EmptyAppend)));
}

#[test]
fn compacted_topics_reject_null_keys_naming_the_record() {
    let mut config = TopicConfig::default();
    config.cleanup_policy = CleanupPolicy::Compact;
    let (_dir, _log, p) = partition_with(config);
    let records = [Record::new(b"v").with_key(b"k"), Record::new(b"no key")];
    assert!(matches!(p.append(&records), Err(Error::InvalidRecord { index: 1, .. })));
    assert_eq!(p.log_end_offset(), 0, "all or nothing");
    p.append(&[Record::tombstone(b"k")]).unwrap();
}

#[test]
fn negative_timestamps_are_rejected() {
    let (_dir, _log, p) = partition_with(TopicConfig::default());
    assert!(matches!(p.append(&[Record::new(b"v").with_timestamp(-5)]), Err(Error::InvalidRecord { index: 0, .. })));
}

#[test]
fn unknown_topics_partitions_and_duplicate_topics_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    log.create_topic("t", 2, TopicConfig::default()).unwrap();
    assert!(matches!(log.topic("nope"), Err(Error::UnknownTopic { .. })));
    assert!(matches!(log.partition("t", 2), Err(Error::UnknownPartition { partition: 2, partitions: 2, .. })));
    assert!(matches!(log.create_topic("t", 1, TopicConfig::default()), Err(Error::TopicExists { .. })));
    assert!(matches!(log.create_topic("u", 0, TopicConfig::default()), Err(Error::InvalidConfig { .. })));
    assert!(matches!(log.delete_topic("nope"), Err(Error::UnknownTopic { .. })));
}

#[test]
fn topic_names_that_could_escape_the_directory_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path().join("data")).unwrap();
    for name in ["", ".", "..", "../x", "a/b", "/abs", "a\\b", "name with space", "ünïcode", &"x".repeat(250)] {
        assert!(
            matches!(log.create_topic(name, 1, TopicConfig::default()), Err(Error::InvalidTopicName { .. })),
            "{name:?}"
        );
    }
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(entries, ["data"], "nothing was created outside the data directory");
    // The longest legal name fits every file the log makes for it: partition directory, config
    // file, temporary files, deletion directory.
    let longest = "x".repeat(249);
    log.create_topic(&longest, 1, TopicConfig::default())
        .unwrap()
        .partition(0)
        .unwrap()
        .append(&[Record::new(b"v")])
        .unwrap();
    log.close().unwrap();
    let log = Log::open(dir.path().join("data")).unwrap();
    assert_eq!(log.partition(&longest, 0).unwrap().log_end_offset(), 1);
    log.delete_topic(&longest).unwrap();
}

#[test]
fn invalid_configs_are_rejected_at_topic_creation() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let mut config = TopicConfig::default();
    config.segment_bytes = 10;
    assert!(
        matches!(log.create_topic("t", 1, config), Err(Error::InvalidConfig { key, .. }) if key == "segment.bytes")
    );
}

#[test]
fn a_second_open_of_a_locked_directory_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let err = Log::open(dir.path()).unwrap_err();
    match &err {
        Error::DirectoryLocked { path, holder } => {
            assert_eq!(path, &dir.path().join(".lock"));
            assert!(holder.contains("another Log"), "{holder}");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("already open"), "{err}");
    drop(log);
    Log::open(dir.path()).unwrap();
}

#[test]
fn an_unreadable_topic_config_file_is_a_bad_file_error() {
    let dir = tempfile::tempdir().unwrap();
    Log::open(dir.path()).unwrap().create_topic("t", 1, TopicConfig::default()).unwrap();
    std::fs::write(dir.path().join("t.conf"), "segment.bytes=banana\n").unwrap();
    match Log::open(dir.path()) {
        Err(Error::BadFile { path, .. }) => assert!(path.ends_with("t.conf")),
        other => panic!("{other:?}"),
    }
}

/// Raw batches are checked before anything is written; each bad input gets its error with the
/// byte position, and the log is unchanged.
#[test]
fn invalid_raw_batches_are_rejected_with_their_position() {
    let (_dir, _log, p) = partition_with(TopicConfig::default());
    let good = raw_batch(&p, &[Record::new(b"one"), Record::new(b"two").with_key(b"k")]);
    let end = p.log_end_offset();
    let two = [good.clone(), good.clone()].concat();

    let check = |bytes: &[u8], position: u64, problem: &dyn Fn(&FormatError) -> bool| match p.append_raw(bytes) {
        Err(Error::InvalidBatch { position: at, problem: got }) => {
            assert_eq!(at, position, "{got}");
            assert!(problem(&got), "{got:?}");
        }
        other => panic!("expected InvalidBatch, got {other:?}"),
    };
    check(&good[..40], 0, &|e| matches!(e, FormatError::Truncated { .. }));
    check(&two[..two.len() - 1], good.len() as u64, &|e| matches!(e, FormatError::Truncated { .. }));
    let mut bad = two.clone();
    bad[good.len() + 16] = 1;
    // A legacy entry is refused before it is decoded.
    check(&bad, good.len() as u64, &|e| matches!(e, FormatError::LegacyAppend { magic: 1 }));
    bad[good.len() + 16] = 3;
    check(&bad, good.len() as u64, &|e| matches!(e, FormatError::BadMagic { got: 3 }));
    let mut bad = good.clone();
    bad[70] ^= 0x40;
    check(&bad, 0, &|e| matches!(e, FormatError::CrcMismatch { .. }));
    let mut bad = good.clone();
    bad[22] |= 0x07; // codec 7; the CRC would catch it too, so fix the CRC
    let crc = crc32c::crc32c(&bad[21..]);
    bad[17..21].copy_from_slice(&crc.to_be_bytes());
    check(&bad, 0, &|e| matches!(e, FormatError::UnknownCodec { id: 7 }));
    let mut bad = good.clone();
    bad[8..12].copy_from_slice(&5i32.to_be_bytes());
    check(&bad, 0, &|e| matches!(e, FormatError::LengthTooSmall { length: 5 }));
    let mut garbage = good.clone();
    garbage.extend_from_slice(&[0xAB; 100]);
    check(&garbage, good.len() as u64, &|_| true);

    assert_eq!(p.log_end_offset(), end, "nothing was written");
    assert_eq!(p.append_raw(&two).unwrap().first_offset, end);
}

/// Rewrites header bytes of a raw batch and fixes its CRC (which covers bytes 21..).
fn patched(raw: &[u8], edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = raw.to_vec();
    edit(&mut b);
    let len = (b.len() - 12) as i32;
    b[8..12].copy_from_slice(&len.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// `append_raw` takes a producer's batches and refuses what Kafka's broker refuses from one.
/// Regression: a last offset delta of `i32::MAX` with 3 records (the log end jumped by 2^31),
/// control batches, empty batches, records whose offset deltas leave gaps and a producer id
/// without a sequence were all accepted.
#[test]
fn raw_batches_a_broker_would_refuse_from_a_producer_are_refused() {
    let (_dir, _log, p) = partition_with(TopicConfig::default());
    let three = raw_batch(&p, &[Record::new(b"a"), Record::new(b"b"), Record::new(b"c")]);
    let end = p.log_end_offset();
    let refused = |bytes: &[u8], field: &str| match p.append_raw(bytes) {
        Err(Error::InvalidBatch { position: 0, problem: FormatError::BadHeaderField { field: got, .. } }) => {
            assert!(got.starts_with(field), "{got}")
        }
        other => panic!("{field}: {other:?}"),
    };
    refused(&patched(&three, |b| b[23..27].copy_from_slice(&i32::MAX.to_be_bytes())), "lastOffsetDelta");
    refused(&patched(&three, |b| b[22] |= 0x20), "attributes");
    refused(&patched(&three, |b| b[57..61].copy_from_slice(&0i32.to_be_bytes())), "recordsCount");
    refused(
        &patched(&three, |b| {
            b[43..51].copy_from_slice(&7i64.to_be_bytes()); // producer id 7
            b[53..57].copy_from_slice(&(-1i32).to_be_bytes()); // no sequence
        }),
        "baseSequence",
    );
    // The second record's offset delta (after its length and attributes and timestamp delta)
    // rewritten from 1 to 2: a gap between records.
    let second = 61 + 1 + three[61] as usize / 2; // varint length of record 0, then record 0
    let gap = patched(&three, |b| {
        let at = second + 1 + 1 + 1; // length, attributes, timestamp delta (all one byte here)
        assert_eq!(b[at], 2, "offset delta 1, zigzag");
        b[at] = 4;
    });
    match p.append_raw(&gap) {
        Err(Error::InvalidBatch { position: 0, problem: FormatError::BadRecord { index: 1, .. } }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(p.log_end_offset(), end, "nothing was written");
}

/// `append_replicated` keeps the batches' offsets: they must follow the log end, and a partition
/// partlog knows was never compacted takes no gaps; a compacted topic's replica takes them.
#[test]
fn replica_appends_keep_offsets_that_follow_the_log_end() {
    let (_dir, _log, p) = partition_with(TopicConfig::default());
    let one = raw_batch(&p, &[Record::new(b"a")]); // at offset 0
    let at = |base: i64| patched(&one, |b| b[..8].copy_from_slice(&base.to_be_bytes()));
    assert!(matches!(p.append_replicated(&at(0)), Err(Error::InvalidBatch { .. })), "below the log end");
    assert!(matches!(p.append_replicated(&at(5)), Err(Error::InvalidBatch { .. })), "a gap: dense offsets");
    assert_eq!(p.append_replicated(&at(1)).unwrap().first_offset, 1);

    let mut config = TopicConfig::default();
    config.cleanup_policy = CleanupPolicy::Compact;
    let (_dir2, _log2, compacted) = partition_with(config);
    let keyed = raw_batch(&compacted, &[Record::new(b"v").with_key(b"k")]);
    let with_gap = [
        patched(&keyed, |b| b[..8].copy_from_slice(&5i64.to_be_bytes())),
        patched(&keyed, |b| b[..8].copy_from_slice(&9i64.to_be_bytes())),
    ]
    .concat();
    let info = compacted.append_replicated(&with_gap).unwrap();
    assert_eq!((info.first_offset, info.last_offset), (5, 9));
    let offsets: Vec<u64> = compacted.read(0, 1 << 20).unwrap().iter().map(|r| r.offset).collect();
    assert_eq!(offsets, [0, 5, 9]);
    assert!(compacted.append_replicated(&with_gap).is_err(), "not again: below the log end");
}

#[test]
fn raw_batches_over_max_message_bytes_are_rejected() {
    let mut config = TopicConfig::default();
    config.max_message_bytes = 200;
    let (_dir, _log, p) = partition_with(TopicConfig::default());
    let raw = raw_batch(&p, &[Record::new(&[9u8; 300])]);
    let (_dir2, _log2, small) = partition_with(config);
    assert!(matches!(small.append_raw(&raw), Err(Error::BatchTooLarge { limit: 200, .. })));
}

/// A batch whose compressed records would expand past the decompression limit is an error, not
/// an allocation of what it claims.
#[test]
fn decompression_bombs_are_rejected() {
    let (_dir, _log, p) = partition_with(TopicConfig::default());
    let template = raw_batch(&p, &[Record::new(b"x")]);
    // 200 MiB of zeros as one LZ4 frame of independent 64 KiB blocks: about 800 KB.
    let block = lz4_flex::block::compress(&[0u8; 65536]);
    let mut frame = vec![0x04, 0x22, 0x4D, 0x18, 0x60, 0x40, 0x82];
    for _ in 0..3200 {
        frame.extend_from_slice(&(block.len() as u32).to_le_bytes());
        frame.extend_from_slice(&block);
    }
    frame.extend_from_slice(&[0; 4]);
    let mut bomb = template[..61].to_vec();
    bomb.extend_from_slice(&frame);
    let len = (bomb.len() - 12) as i32;
    bomb[8..12].copy_from_slice(&len.to_be_bytes());
    bomb[22] = Compression::Lz4.id();
    let crc = crc32c::crc32c(&bomb[21..]);
    bomb[17..21].copy_from_slice(&crc.to_be_bytes());
    assert!(BatchHeader::parse(&bomb).unwrap().check(u64::MAX).is_ok());

    let mut config = TopicConfig::default();
    config.max_message_bytes = 2 << 20;
    let (_dir, _log, big) = partition_with(config);
    match big.append_raw(&bomb) {
        Err(Error::InvalidBatch {
            problem: FormatError::DecompressedTooLarge { codec: Compression::Lz4, limit },
            ..
        }) => {
            assert_eq!(limit, batch::MAX_DECOMPRESSED_BYTES as u64)
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(big.log_end_offset(), 0);
}

/// The records a fetch decompresses are bounded, however many compressed batches fit its byte
/// limit: it ends before the batch that would pass `MAX_DECOMPRESSED_BYTES`, and the next fetch
/// goes on from there. Regression: every batch within the byte limit was decompressed into one
/// buffer (100 batches of 100 MiB, 100 KB each on disk, would take 10 GiB).
#[test]
fn a_fetch_of_many_compressed_batches_holds_a_bounded_amount_decompressed() {
    let mut config = TopicConfig::default();
    config.compression_type = CompressionType::Codec(Compression::Lz4);
    let (_dir, _log, p) = partition_with(config);
    let value = vec![7u8; 50 << 20]; // ~200 KB as lz4
    for _ in 0..4 {
        p.append(&[Record::new(&value)]).unwrap();
    }
    let mut fetch = partlog::Fetch::new();
    p.fetch(0, 16 << 20, &mut fetch).unwrap(); // every batch fits the byte limit
                                               // 50 + 50 + 50 MiB passes the 128 MiB limit: the fourth batch is left for the next fetch.
    assert_eq!(fetch.records().count(), 3);
    assert_eq!(fetch.next_offset(), 3);
    assert!(fetch.records().all(|r| r.unwrap().value() == Some(&value[..])));
    p.fetch(fetch.next_offset(), 16 << 20, &mut fetch).unwrap();
    let rest: Vec<u64> = fetch.records().map(|r| r.unwrap().offset()).collect();
    assert_eq!(rest, [3]);
}

/// The config given to topics found without one is checked as `create_topic` checks a config.
/// Regression: a gzip level of 10 was accepted, and the first append panicked in the codec.
#[test]
fn an_invalid_default_topic_config_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = TopicConfig::default();
    config.compression_type = CompressionType::Codec(Compression::Gzip);
    config.compression_gzip_level = 10;
    let options = partlog::LogOptions::default().default_topic_config(config);
    match Log::open_with(dir.path(), options) {
        Err(Error::InvalidConfig { key, .. }) => assert_eq!(key, "compression.gzip.level"),
        other => panic!("{other:?}"),
    }
}

/// A bit flipped on disk after the fact is reported with the file and position, never served.
#[test]
fn corruption_on_disk_is_reported_on_read_with_file_and_position() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let p = log.create_topic("t", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    p.append(&[Record::new(b"first batch")]).unwrap();
    let second_at = p.segments()[0].size();
    p.append(&[Record::new(b"second batch")]).unwrap();
    p.roll().unwrap();
    p.append(&[Record::new(b"third")]).unwrap();
    let path = p.segments()[0].log_path().to_owned();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[second_at as usize + 70] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();

    assert_eq!(p.read(0, 10).unwrap().len(), 1, "the batch before the damage reads fine");
    match p.read(1, 1 << 20) {
        Err(Error::CorruptBatch { path: at, position, problem: FormatError::CrcMismatch { .. } }) => {
            assert_eq!((at, position), (path, second_at))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.read(2, 1 << 20).unwrap()[0].value.as_deref(), Some(&b"third"[..]));
}

#[test]
fn appends_after_delete_or_close_fail_with_closed() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let p = log.create_topic("t", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    let q = log.create_topic("u", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    log.delete_topic("t").unwrap();
    assert!(matches!(p.append(&[Record::new(b"x")]), Err(Error::Closed { .. })));
    assert!(!dir.path().join("t-0").exists());
    log.close().unwrap();
    assert!(matches!(q.append(&[Record::new(b"x")]), Err(Error::Closed { .. })));
    let log = Log::open(dir.path()).unwrap();
    assert_eq!(log.topic_names(), ["u"]);
}

#[test]
fn codecs_that_are_not_compiled_in_are_refused_at_topic_creation() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let mut config = TopicConfig::default();
    config.compression_type = CompressionType::Codec(Compression::Zstd);
    let result = log.create_topic("t", 1, config);
    if cfg!(feature = "zstd") {
        result.unwrap();
    } else {
        assert!(matches!(result, Err(Error::InvalidConfig { key, .. }) if key == "compression.type"));
    }
}

/// A record malformed inside a batch whose CRC matches (a faulty writer or a crafted file) is an
/// error where iteration reaches it, with the file and the batch's position, after the records
/// before it; the iteration then ends.
#[test]
fn a_malformed_record_under_a_matching_crc_is_an_error_where_iteration_reaches_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let p = log.create_topic("t", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    p.append(&[Record::new(b"aaaa"), Record::new(b"bbbb"), Record::new(b"cccc")]).unwrap();
    p.roll().unwrap();
    let path = p.segments()[0].log_path().to_owned();
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.windows(4).position(|w| w == b"cccc").unwrap();
    assert_eq!(bytes[at - 1], 8, "the zigzag varint of the value length 4");
    bytes[at - 1] = 10; // length 5: the value now runs into the header count
    let crc = crc32c::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    std::fs::write(&path, bytes).unwrap();

    let mut fetch = partlog::Fetch::new();
    p.fetch(0, 1 << 20, &mut fetch).unwrap();
    assert_eq!(fetch.len(), 3, "as the header declares");
    let mut records = fetch.records();
    assert_eq!(records.next().unwrap().unwrap().value(), Some(&b"aaaa"[..]));
    assert_eq!(records.next().unwrap().unwrap().value(), Some(&b"bbbb"[..]));
    match records.next() {
        Some(Err(Error::CorruptBatch { path: at, position: 0, problem: FormatError::BadRecord { index: 2, .. } })) => {
            assert_eq!(at, path)
        }
        other => panic!("{other:?}"),
    }
    assert!(records.next().is_none());
    assert!(matches!(p.read(0, 1 << 20), Err(Error::CorruptBatch { .. })));
}

/// A segment file too large for Kafka's int32 positions is refused at open with its path, and
/// left on disk as it is. Regression: its length became the segment's size, and a read of it
/// could ask for terabytes of memory.
#[test]
fn a_segment_file_past_int32_positions_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let p = log.create_topic("t", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    p.append(&[Record::new(b"kept")]).unwrap();
    let path = p.segments()[0].log_path().to_owned();
    log.close().unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(1 << 40).unwrap(); // sparse
    drop(file);
    match Log::open(dir.path()) {
        Err(Error::BadFile { path: bad, .. }) => assert_eq!(bad, path),
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 1 << 40);
}

#[test]
fn the_consumer_groups_topic_is_neither_created_nor_deleted_by_users() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    match log.create_topic("__consumer_offsets", 1, TopicConfig::default()) {
        Err(Error::InternalTopic { topic, op: "create_topic" }) => assert_eq!(topic, "__consumer_offsets"),
        other => panic!("{other:?}"),
    }
    assert!(!dir.path().join("__consumer_offsets-0").exists(), "nothing created");
    // A group creates it, with its own config; then a user can neither delete it nor grow it.
    let config = partlog::ConsumerConfig::default().set("group.id", "g").unwrap();
    let mut consumer = partlog::Consumer::new(&log, config).unwrap();
    log.create_topic("t", 1, TopicConfig::default()).unwrap();
    consumer.subscribe(&["t"]).unwrap();
    consumer.poll(std::time::Duration::from_millis(10)).unwrap();
    let offsets = log.topic("__consumer_offsets").unwrap();
    assert_eq!(offsets.partition_count(), 50);
    assert!(matches!(log.delete_topic("__consumer_offsets"), Err(Error::InternalTopic { op: "delete_topic", .. })));
    assert!(matches!(log.add_partitions("__consumer_offsets", 51), Err(Error::InvalidConfig { .. })));
    assert!(dir.path().join("__consumer_offsets-0").is_dir(), "the groups' offsets stay");
    // Other names starting with "__" are a user's, as in Kafka.
    log.create_topic("__mine", 1, TopicConfig::default()).unwrap();
    log.delete_topic("__mine").unwrap();
}
