//! `Log::open_read_only`: a second reader of a directory its owner holds and writes. It takes
//! no lock, changes no file, reads only whole batches, and follows the owner with `refresh`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use partlog::{Error, Log, Record, TopicConfig};

/// Every file under `dir`: path → (length, content hash, modification time).
fn files(dir: &Path) -> BTreeMap<String, (u64, u64, std::time::SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                stack.push(e.path());
                out.insert(e.path().display().to_string(), (0, 0, meta.modified().unwrap()));
            } else {
                let bytes = std::fs::read(e.path()).unwrap();
                let hash =
                    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
                out.insert(e.path().display().to_string(), (meta.len(), hash, meta.modified().unwrap()));
            }
        }
    }
    out
}

fn small_segments() -> TopicConfig {
    let mut config = TopicConfig::default();
    config.segment_bytes = 4096;
    config
}

#[test]
fn reads_a_directory_its_owner_holds_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Log::open(dir.path()).unwrap();
    let p = writer.create_topic("t", 2, small_segments()).unwrap().partition(1).unwrap();
    for i in 0..200u32 {
        p.append(&[Record::new(format!("v{i}").as_bytes()).with_key(b"k")]).unwrap();
    }
    writer.flush().unwrap();
    let before = files(dir.path());

    let reader = Log::open_read_only(dir.path()).unwrap();
    assert!(reader.is_read_only());
    assert_eq!(reader.topic_names(), ["t"]);
    let r = reader.partition("t", 1).unwrap();
    assert_eq!((r.log_start_offset(), r.log_end_offset()), (0, 200));
    assert!(r.segments().len() > 3, "several segments");
    let records = r.read(0, usize::MAX).unwrap();
    let mut all = records.clone();
    let mut next = records.last().unwrap().offset + 1;
    while next < 200 {
        let more = r.read(next, 1 << 20).unwrap();
        next = more.last().unwrap().offset + 1;
        all.extend(more);
    }
    for (i, rec) in all.iter().enumerate() {
        assert_eq!(rec.offset, i as u64);
        assert_eq!(rec.value.as_deref(), Some(format!("v{i}").as_bytes()));
    }
    let hit = r.offset_for_timestamp(0).unwrap().unwrap();
    assert_eq!(hit.offset, 0);
    r.verify().unwrap();
    // Every write is refused, and says why.
    let refused = [
        r.append(&[Record::new(b"x")]).map(|_| ()),
        r.truncate_to(10).map(|_| ()),
        r.delete_records(10).map(|_| ()),
        r.flush(),
        reader.create_topic("u", 1, TopicConfig::default()).map(|_| ()),
        reader.delete_topic("t"),
        reader.enforce_retention().map(|_| ()),
        reader.compact().map(|_| ()),
        reader.flush(),
    ];
    for result in refused {
        let e = result.unwrap_err();
        assert!(matches!(e, Error::ReadOnly { .. }), "{e}");
        assert!(e.to_string().contains("read-only"), "{e}");
    }
    reader.refresh().unwrap();
    reader.close().unwrap();
    assert_eq!(files(dir.path()), before, "the read-only open changed files");

    // After the owner closes (clean shutdown marker and all), a read-only open leaves it all.
    writer.close().unwrap();
    let closed = files(dir.path());
    let reader = Log::open_read_only(dir.path()).unwrap();
    assert_eq!(reader.partition("t", 1).unwrap().log_end_offset(), 200);
    drop(reader);
    assert_eq!(files(dir.path()), closed);
    Log::open(dir.path()).unwrap().close().unwrap(); // and the owner reopens it cleanly
}

#[test]
fn refresh_follows_appends_rolls_retention_truncation_and_topics() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Log::open(dir.path()).unwrap();
    let p = writer.create_topic("t", 1, small_segments()).unwrap().partition(0).unwrap();
    p.append(&[Record::new(b"first")]).unwrap();
    let reader = Log::open_read_only(dir.path()).unwrap();
    let r = reader.partition("t", 0).unwrap();
    assert_eq!(r.log_end_offset(), 1);

    // A reader blocked on the next offset wakes when a refresh finds it.
    let waiter = {
        let r = r.clone();
        std::thread::spawn(move || r.wait_for(1, Duration::from_secs(20)).unwrap())
    };
    for i in 0..300u32 {
        p.append(&[Record::new(format!("r{i}").as_bytes())]).unwrap();
    }
    std::thread::sleep(Duration::from_millis(20));
    assert!(reader.refresh().unwrap().is_empty());
    assert!(waiter.join().unwrap());
    assert_eq!(r.log_end_offset(), 301);
    assert_eq!(r.segments().len(), p.segments().len());
    assert_eq!(r.read(300, 1 << 20).unwrap()[0].value.as_deref(), Some(&b"r299"[..]));

    // Retention (log start inside a segment, then whole segments deleted), then truncation.
    p.delete_records(150).unwrap();
    writer.enforce_retention().unwrap();
    p.truncate_to(250).unwrap();
    p.append(&[Record::new(b"after truncation")]).unwrap();
    reader.refresh().unwrap();
    assert_eq!((r.log_start_offset(), r.log_end_offset()), (p.log_start_offset(), 251));
    assert_eq!(r.read(250, 1 << 20).unwrap()[0].value.as_deref(), Some(&b"after truncation"[..]));
    assert_eq!(
        r.read(150, 1 << 20).unwrap().iter().map(|x| x.value.clone()).collect::<Vec<_>>(),
        p.read(150, 1 << 20).unwrap().iter().map(|x| x.value.clone()).collect::<Vec<_>>()
    );
    assert!(matches!(r.read(100, 1 << 20), Err(Error::OffsetOutOfRange { .. })));

    // Topics created, grown and deleted by the owner.
    writer
        .create_topic("new", 2, TopicConfig::default())
        .unwrap()
        .partition(1)
        .unwrap()
        .append(&[Record::new(b"n")])
        .unwrap();
    reader.refresh().unwrap();
    assert_eq!(reader.topic_names(), ["new", "t"]);
    assert_eq!(reader.partition("new", 1).unwrap().log_end_offset(), 1);
    writer.add_partitions("new", 3).unwrap().partition(2).unwrap().append(&[Record::new(b"m")]).unwrap();
    reader.refresh().unwrap();
    assert_eq!(reader.topic("new").unwrap().partition_count(), 3);
    assert_eq!(reader.partition("new", 2).unwrap().log_end_offset(), 1);
    assert_eq!(reader.partition("new", 1).unwrap().log_end_offset(), 1);
    writer.delete_topic("t").unwrap();
    reader.refresh().unwrap();
    assert_eq!(reader.topic_names(), ["new"]);
    assert!(matches!(r.read(250, 1 << 20), Err(Error::Closed { .. })));
}

/// The owner in the middle of a write: bytes of a batch not yet whole are not read, and are
/// read once whole. Made by hand in a copy: the owner's last segment cut inside its last batch.
#[test]
fn a_batch_being_written_is_not_read_until_whole() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Log::open(dir.path()).unwrap();
    let p = writer.create_topic("t", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    p.append(&[Record::new(b"whole")]).unwrap();
    let end_of_first = p.segments()[0].size();
    p.append(&[Record::new(&[7u8; 500])]).unwrap();
    let size = p.segments()[0].size();
    writer.close().unwrap();
    let log_file = dir.path().join("t-0/00000000000000000000.log");
    let bytes = std::fs::read(&log_file).unwrap();
    assert_eq!(bytes.len() as u64, size);
    // Half of the second batch written, the rest of the file zero (as the owner's prefill
    // leaves it), no clean-shutdown marker (the owner is running).
    let mut partial = bytes[..(end_of_first + (size - end_of_first) / 2) as usize].to_vec();
    partial.resize(1 << 20, 0);
    std::fs::write(&log_file, &partial).unwrap();
    std::fs::remove_file(dir.path().join(".kafka_cleanshutdown")).unwrap();

    let reader = Log::open_read_only(dir.path()).unwrap();
    let r = reader.partition("t", 0).unwrap();
    assert_eq!(r.log_end_offset(), 1, "only the whole batch");
    assert_eq!(reader.recovery_report().len(), 1, "the partial batch is reported: {:?}", reader.recovery_report());
    assert!(reader.recovery_report()[0].reason.contains("not read"));
    assert_eq!(r.read(0, 1 << 20).unwrap().len(), 1);

    // The write completes.
    let mut whole = bytes.clone();
    whole.resize(1 << 20, 0);
    std::fs::write(&log_file, &whole).unwrap();
    assert!(reader.refresh().unwrap().is_empty());
    assert_eq!(r.log_end_offset(), 2);
    assert_eq!(r.read(1, 1 << 20).unwrap()[0].value.as_deref(), Some(&[7u8; 500][..]));
    drop(reader);
    assert_eq!(std::fs::read(&log_file).unwrap(), whole, "nothing cut");
}

/// A reader refreshing and reading while the owner appends, rolls and truncates (in place,
/// then writes the same offsets again) as fast as it can: every record read is one the owner
/// wrote at that offset, and nothing faults.
#[test]
fn a_reader_follows_a_busy_writer_without_seeing_partial_batches() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Log::open(dir.path()).unwrap();
    let mut config = TopicConfig::default();
    config.segment_bytes = 64 << 10;
    let p = writer.create_topic("t", 1, config).unwrap().partition(0).unwrap();
    p.append(&[Record::new(b"0")]).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let appender = {
        let (p, stop) = (p.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 1u64;
            let mut rounds = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let batch: Vec<Vec<u8>> = (0..20).map(|i| (n + i).to_string().into_bytes()).collect();
                let records: Vec<Record> = batch.iter().map(|v| Record::new(v)).collect();
                p.append(&records).unwrap();
                n += 20;
                rounds += 1;
                if rounds.is_multiple_of(50) {
                    // Cut in place, then the same offsets written again (with the same values).
                    n = p.truncate_to(n - 30).unwrap();
                }
            }
            n
        })
    };
    let reader = Log::open_read_only(dir.path()).unwrap();
    let r = reader.partition("t", 0).unwrap();
    let mut next = 0u64;
    let deadline = std::time::Instant::now() + Duration::from_millis(1500);
    while std::time::Instant::now() < deadline {
        reader.refresh().unwrap();
        next = next.min(r.log_end_offset()); // the owner truncated below what was read
        while next < r.log_end_offset() {
            // The owner may cut what this snapshot holds: an error then, never a wrong record.
            let Ok(records) = r.read(next, 1 << 16) else { break };
            for rec in records {
                assert_eq!(rec.value.as_deref(), Some(rec.offset.to_string().as_bytes()));
                if rec.offset >= next {
                    assert_eq!(rec.offset, next);
                    next += 1;
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let written = appender.join().unwrap();
    assert!(next > 1000, "the reader kept up with some of it: {next} of {written}");
    assert!(r.segments().len() > 1);
}

#[test]
fn refuses_what_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(Log::open_read_only(dir.path().join("missing")), Err(Error::Io { .. })));
    assert!(!dir.path().join("missing").exists(), "nothing created");
    std::fs::create_dir(dir.path().join("topic-configs")).unwrap();
    let e = Log::open_read_only(dir.path()).unwrap_err();
    assert!(e.to_string().contains("earlier partlog build"), "{e}");
}

/// A truncation in place followed by appends keeps the file's inode and may make it longer
/// again: the reader must not keep what it had checked of the old bytes.
#[test]
fn a_tail_cut_and_rewritten_between_refreshes_is_read_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Log::open(dir.path()).unwrap();
    let p = writer.create_topic("t", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    for i in 0..10u32 {
        p.append(&[Record::new(format!("old {i}").as_bytes())]).unwrap();
    }
    let reader = Log::open_read_only(dir.path()).unwrap();
    let r = reader.partition("t", 0).unwrap();
    assert_eq!(r.log_end_offset(), 10);
    p.truncate_to(4).unwrap();
    for i in 4..20u32 {
        p.append(&[Record::new(format!("new {i} {}", "x".repeat(i as usize)).as_bytes())]).unwrap();
    }
    assert!(reader.refresh().unwrap().is_empty());
    assert_eq!(r.log_end_offset(), 20);
    let values = |part: &partlog::Partition| -> Vec<Vec<u8>> {
        part.read(0, 1 << 20).unwrap().into_iter().map(|x| x.value.unwrap()).collect()
    };
    assert_eq!(values(&r), values(&p));
    // Cut shorter than before, with no appends: the reader's end comes down too.
    p.truncate_to(2).unwrap();
    reader.refresh().unwrap();
    assert_eq!((r.log_end_offset(), values(&r)), (2, values(&p)));
}

/// Compaction replaces segments (`.cleaned`, `.swap`, renames): a reader refreshing beside it
/// reads what the owner reads. A swap caught between its renames is read from the swap file.
#[test]
fn compaction_and_segment_swaps_are_followed() {
    use partlog::CleanupPolicy;
    let dir = tempfile::tempdir().unwrap();
    let writer = Log::open(dir.path()).unwrap();
    let mut config = small_segments();
    config.cleanup_policy = CleanupPolicy::Compact;
    let p = writer.create_topic("c", 1, config).unwrap().partition(0).unwrap();
    for i in 0..400u32 {
        p.append(&[Record::new(format!("v{i}").as_bytes()).with_key(format!("k{}", i % 7).as_bytes())]).unwrap();
    }
    let reader = Log::open_read_only(dir.path()).unwrap();
    let r = reader.partition("c", 0).unwrap();
    let all = |part: &partlog::Partition| -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        let mut next = part.log_start_offset();
        while next < part.log_end_offset() {
            let got = part.read(next, 1 << 20).unwrap();
            next = got.last().unwrap().offset + 1;
            out.extend(got.into_iter().map(|x| (x.offset, x.value.unwrap())));
        }
        out
    };
    assert_eq!(all(&r), all(&p));
    p.roll().unwrap();
    p.compact().unwrap().unwrap();
    reader.refresh().unwrap();
    assert_eq!(all(&r), all(&p));
    assert!(all(&r).len() < 400);

    // Between the renames: the first segment's data only in its swap file, the other
    // segments it replaced already gone. A copy made to look so.
    writer.close().unwrap();
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir(copy.path().join(entry.file_name())).unwrap();
            for f in std::fs::read_dir(entry.path()).unwrap() {
                let f = f.unwrap();
                std::fs::copy(f.path(), copy.path().join(entry.file_name()).join(f.file_name())).unwrap();
            }
        } else {
            std::fs::copy(entry.path(), copy.path().join(entry.file_name())).unwrap();
        }
    }
    let reopened = Log::open_read_only(dir.path()).unwrap();
    let expected = all(&reopened.partition("c", 0).unwrap());
    let first = copy.path().join("c-0/00000000000000000000.log");
    std::fs::rename(&first, copy.path().join("c-0/00000000000000000000.log.swap")).unwrap();
    let during = Log::open_read_only(copy.path()).unwrap();
    assert_eq!(all(&during.partition("c", 0).unwrap()), expected);
    // A swap file next to the segment it would replace: the segment is read, the swap not.
    std::fs::write(
        copy.path().join("c-0/00000000000000000000.log"),
        std::fs::read(copy.path().join("c-0/00000000000000000000.log.swap")).unwrap(),
    )
    .unwrap();
    std::fs::write(copy.path().join("c-0/00000000000000000000.log.swap"), b"not a segment").unwrap();
    assert_eq!(all(&Log::open_read_only(copy.path()).unwrap().partition("c", 0).unwrap()), expected);
}

/// A topic deleted and created again between refreshes is read anew, not from the old view.
#[test]
fn a_topic_deleted_and_created_again_is_read_anew() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Log::open(dir.path()).unwrap();
    writer
        .create_topic("t", 1, TopicConfig::default())
        .unwrap()
        .partition(0)
        .unwrap()
        .append(&[Record::new(b"first life")])
        .unwrap();
    let reader = Log::open_read_only(dir.path()).unwrap();
    let old = reader.partition("t", 0).unwrap();
    writer.delete_topic("t").unwrap();
    let mut config = TopicConfig::default();
    config.retention_ms = -1;
    let p = writer.create_topic("t", 1, config).unwrap().partition(0).unwrap();
    p.append(&[Record::new(b"second life a"), Record::new(b"second life b")]).unwrap();
    reader.refresh().unwrap();
    let new = reader.partition("t", 0).unwrap();
    assert_eq!(new.log_end_offset(), 2);
    assert_eq!(new.read(0, 1 << 20).unwrap()[1].value.as_deref(), Some(&b"second life b"[..]));
    assert_eq!(new.config().retention_ms, -1);
    assert!(old.read(0, 1 << 20).is_err(), "the old handle is closed");
}

#[test]
fn a_missing_partition_directory_is_reported_not_passed_over() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Log::open(dir.path()).unwrap();
    let topic = writer.create_topic("t", 3, TopicConfig::default()).unwrap();
    for p in topic.partitions() {
        p.append(&[Record::new(b"v")]).unwrap();
    }
    writer.close().unwrap();
    let reader = Log::open_read_only(dir.path()).unwrap();
    assert!(reader.recovery_report().is_empty());
    std::fs::remove_dir_all(dir.path().join("t-1")).unwrap();

    // A view that had the topic: the refresh says which directory went.
    let events = reader.refresh().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!((events[0].partition.as_str(), events[0].segment.clone()), ("t-1", dir.path().join("t-1")));
    assert!(events[0].reason.contains("partition directory missing"), "{}", events[0].reason);
    assert!(matches!(reader.topic("t"), Err(Error::UnknownTopic { .. })));
    // A new view says the same at open, and again at each refresh while it is missing.
    let fresh = Log::open_read_only(dir.path()).unwrap();
    assert_eq!(fresh.recovery_report().len(), 1);
    assert_eq!(fresh.recovery_report()[0].partition, "t-1");
    assert_eq!(fresh.refresh().unwrap().len(), 1);
}

#[test]
fn a_brokers_topic_with_some_partitions_is_not_reported_missing_the_others() {
    // A broker hosts some partitions of a topic: orders-1 only, no partlog count file.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("orders-1")).unwrap();
    let reader = Log::open_read_only(dir.path()).unwrap();
    assert!(reader.recovery_report().is_empty(), "{:?}", reader.recovery_report());
}

#[test]
fn a_view_of_a_writer_rolling_fast_never_sees_a_segment_end_early() {
    // A listing of the directory while segments roll faster than it lists could show a segment
    // looked at while it was empty, followed by newer ones (a sealed segment ending early), or
    // miss a segment created meanwhile while showing a newer one: every read across it
    // "changed under the view". Views are refreshed, and opened anew.
    let dir = tempfile::tempdir().unwrap();
    let writer = Log::open(dir.path()).unwrap();
    let mut config = TopicConfig::default();
    config.segment_bytes = 4096;
    config.segment_index_bytes = 4096;
    let p = writer.create_topic("t", 1, config).unwrap().partition(0).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let appender = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            for _ in 0..30_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                p.append(&[Record::new(&[7u8; 200])]).unwrap();
            }
        })
    };
    let mut view = Log::open_read_only(dir.path()).unwrap();
    let started = std::time::Instant::now();
    let (mut checked, mut changed) = (0, Vec::new());
    while started.elapsed() < Duration::from_secs(4) {
        if checked % 2 == 0 {
            view.refresh().unwrap();
        } else {
            view = Log::open_read_only(dir.path()).unwrap();
        }
        let p = view.partition("t", 0).unwrap();
        match p.verify() {
            Ok(()) => checked += 1,
            Err(Error::ChangedUnderView { .. }) => changed.push(p.segments().iter().filter(|s| s.size() == 0).count()),
            Err(e) => panic!("{e}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    appender.join().unwrap();
    assert!(changed.is_empty(), "{} of {} checks saw the files change: {changed:?}", changed.len(), checked);
    assert!(checked > 10, "{checked}");
}

#[test]
fn a_partition_without_segment_files_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Log::open(dir.path()).unwrap();
    writer
        .create_topic("t", 2, TopicConfig::default())
        .unwrap()
        .partition(1)
        .unwrap()
        .append(&[Record::new(b"v")])
        .unwrap();
    writer.close().unwrap();
    for entry in std::fs::read_dir(dir.path().join("t-1")).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let reader = Log::open_read_only(dir.path()).unwrap();
    let report = reader.recovery_report();
    assert_eq!(report.len(), 1, "{report:?}");
    assert_eq!(report[0].partition, "t-1");
    assert!(report[0].reason.contains("no segment file"), "{}", report[0].reason);
}
