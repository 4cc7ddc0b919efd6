//! Data files are closed again when too many are open (least recently used first) and opened
//! again when needed: a log of many partitions, or of long histories in small segments, works
//! within a small `ulimit -n`. The limit is set low here with `PARTLOG_MAX_OPEN_FILES`, read
//! once per process: this binary holds this one test.

use partlog::{Fetch, Log, LogOptions, Record, TopicConfig};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn many_partitions_and_segments_within_a_small_file_limit() {
    const LIMIT: usize = 40;
    std::env::set_var("PARTLOG_MAX_OPEN_FILES", LIMIT.to_string());
    let dir = tempfile::tempdir().unwrap();
    let before = open_fds();
    let options = LogOptions::default().maintenance_interval_ms(None);
    let log = Log::open_with(dir.path(), options.clone()).unwrap();
    let wide = log.create_topic("wide", 300, TopicConfig::default()).unwrap();
    let mut small = TopicConfig::default();
    small.segment_bytes = 1024;
    let long = log.create_topic("long", 1, small).unwrap().partition(0).unwrap();
    for round in 0..3u32 {
        for p in wide.partitions() {
            p.append(&[Record::new(format!("{} {round}", p.id()).as_bytes())]).unwrap();
        }
    }
    for i in 0..2000u32 {
        long.append(&[Record::new(format!("record {i:04} {}", "x".repeat(40)).as_bytes())]).unwrap();
    }
    assert!(long.segments().len() > 100, "{} segments", long.segments().len());
    let fds = open_fds() - before;
    assert!(fds <= LIMIT + 8, "{fds} descriptors open with a limit of {LIMIT}");

    // Everything reads back, through files opened again.
    let mut fetch = Fetch::new();
    let mut next = 0;
    while next < long.log_end_offset() {
        long.fetch(next, 1 << 12, &mut fetch).unwrap();
        for r in fetch.records() {
            let r = r.unwrap();
            assert!(r.value().unwrap().starts_with(format!("record {:04}", r.offset()).as_bytes()));
        }
        next = fetch.next_offset();
    }
    for p in wide.partitions() {
        let values: Vec<Vec<u8>> = p.read(0, 1 << 20).unwrap().into_iter().map(|r| r.value.unwrap()).collect();
        assert_eq!(values.len(), 3);
        assert_eq!(values[2], format!("{} 2", p.id()).into_bytes());
    }
    assert!(open_fds() - before <= LIMIT + 8);

    // Retention renames segments a reader may still hold: they stay readable.
    let held = long.segments()[0].clone();
    long.delete_records(500).unwrap();
    log.enforce_retention().unwrap();
    assert!(long.segments()[0].base_offset() > held.base_offset());

    // Flushed (through reopened handles), crashed, reopened: nothing acknowledged is lost.
    log.flush().unwrap();
    drop((wide, long, held));
    log.simulate_crash();
    let log = Log::open_with(dir.path(), options).unwrap();
    assert_eq!(log.partition("long", 0).unwrap().log_end_offset(), 2000);
    assert_eq!(log.topic("wide").unwrap().partitions().iter().map(|p| p.log_end_offset()).sum::<u64>(), 900);
    for p in log.topic("wide").unwrap().partitions() {
        p.verify().unwrap();
    }
    log.partition("long", 0).unwrap().verify().unwrap();
    assert!(open_fds() - before <= LIMIT + 8);
    log.close().unwrap();
}
