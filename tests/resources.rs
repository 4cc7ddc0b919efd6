//! What an open log holds, per partition and per segment, stays within what the README states:
//! file descriptors, memory mappings and disk. Measured from /proc in one process; the test
//! runs alone in its binary, so nothing else opens files meanwhile.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use partlog::{Log, LogOptions, Record, TopicConfig};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps").unwrap().lines().count()
}

/// Bytes the files under `dir` occupy on disk (allocated blocks, as `du` counts them).
fn disk_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                total += meta.blocks() * 512;
            }
        }
    }
    total
}

#[test]
fn a_thousand_partitions_cost_what_the_readme_says() {
    const PARTITIONS: u32 = 1000;
    let dir = tempfile::tempdir().unwrap();
    let (fds_before, maps_before) = (open_fds(), mappings());
    let options = LogOptions::default().maintenance_interval_ms(None);
    let log = Log::open_with(dir.path(), options.clone()).unwrap();
    let topic = log.create_topic("wide", PARTITIONS, TopicConfig::default()).unwrap();
    for p in topic.partitions() {
        p.append(&[Record::new(b"five bytes")]).unwrap();
    }
    let fds = open_fds() - fds_before;
    let maps = mappings() - maps_before;
    let disk = disk_bytes(dir.path());
    eprintln!("{PARTITIONS} partitions open: {fds} fds, {maps} mappings, {disk} bytes on disk");
    // One data file per partition; its indexes hold none (see the README's resource costs).
    assert!(fds <= PARTITIONS as usize + 8, "{fds} file descriptors");
    // The data file's and the two indexes' mappings of each active segment.
    assert!(maps <= 3 * PARTITIONS as usize + 64, "{maps} mappings");
    // 64 KiB zero-filled ahead of the appends in each active segment, and little else.
    assert!(disk <= PARTITIONS as u64 * (64 << 10) + (16 << 20), "{disk} bytes on disk");
    drop(topic); // handles keep their files open (they can still read)
    log.close().unwrap();

    // Closed, the files are cut to their contents; reopened, they cost the same again.
    let closed = disk_bytes(dir.path());
    eprintln!("closed: {closed} bytes on disk");
    assert!(closed <= PARTITIONS as u64 * 3 * 4096 + (1 << 20), "{closed} bytes on disk after close");
    let started = std::time::Instant::now();
    let log = Log::open_with(dir.path(), options).unwrap();
    eprintln!("reopened in {:?}", started.elapsed());
    assert_eq!(log.topic("wide").unwrap().partitions().iter().map(|p| p.log_end_offset()).sum::<u64>(), 1000);
    let reopened_fds = open_fds() - fds_before;
    eprintln!("reopened: {reopened_fds} fds");
    assert!(reopened_fds <= PARTITIONS as usize + 8, "{reopened_fds} file descriptors after reopening");
    log.close().unwrap();
}
