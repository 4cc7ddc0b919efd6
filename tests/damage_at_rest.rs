//! Damage at rest: a log closed cleanly, then damaged (a bad disk, a stray tool, a copy gone
//! wrong). It must never serve a record at an offset it was not written at, never lose valid
//! data to a repair, and say what it found: at open (a few reads per sealed segment), and
//! through `verify()` and the reads that reach the damage.

mod common;

use std::path::{Path, PathBuf};

use common::{batch_positions, options, value_of};
use partlog::{Error, Log, Partition, Record, TopicConfig};

/// A never-compacted topic `d` (dense offsets) with segments of `per_segment` batches of two
/// records each; every value names its offset. Closed cleanly; returns the segment files.
fn write_log(dir: &Path, segments: usize, per_segment: usize, index_interval_bytes: u32) -> Vec<PathBuf> {
    let log = Log::open_with(dir, options()).unwrap();
    let mut config = TopicConfig::default();
    config.index_interval_bytes = index_interval_bytes;
    let p = log.create_topic("d", 1, config).unwrap().partition(0).unwrap();
    for s in 0..segments {
        for _ in 0..per_segment {
            let o = p.log_end_offset();
            p.append(&[Record::new(&value_of(o)), Record::new(&value_of(o + 1))]).unwrap();
        }
        if s + 1 < segments {
            p.roll().unwrap();
        }
    }
    let files = p.segments().iter().map(|s| s.log_path().to_owned()).collect();
    drop(p);
    log.close().unwrap();
    files
}

fn reopen(dir: &Path) -> (Log, Partition) {
    let log = Log::open_with(dir, options()).unwrap();
    let p = log.partition("d", 0).unwrap();
    (log, p)
}

/// Whatever a read from each offset returns, every record is the one written at its offset.
fn never_misplaced(p: &Partition) {
    for from in p.log_start_offset()..p.log_end_offset() {
        if let Ok(records) = p.read(from, 1 << 20) {
            for r in records {
                assert_eq!(r.value.as_deref(), Some(&value_of(r.offset)[..]), "read from {from}: offset {}", r.offset);
            }
        }
    }
}

fn flip_base_offset(path: &Path, batch: usize, bit: u8) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = batch_positions(&bytes)[batch];
    bytes[at + 7] ^= 1 << bit;
    std::fs::write(path, bytes).unwrap();
}

/// The case: one bit of a batch's base offset (outside the CRC) flipped, 2 → 18, in a
/// sealed segment. Reads from 0 served the batch's records as 18 and 19 and skipped to the next
/// segment; `verify()` passed.
#[test]
fn a_flipped_base_offset_is_damage_not_a_new_offset() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_log(dir.path(), 2, 10, 4096);
    flip_base_offset(&files[0], 1, 4);
    let (_log, p) = reopen(dir.path());
    // The batch before the damage is delivered; the read starting at the damage says where.
    let first = p.read(0, 1 << 20).unwrap();
    assert_eq!(first.iter().map(|r| r.offset).collect::<Vec<_>>(), [0, 1]);
    let position = batch_positions(&std::fs::read(&files[0]).unwrap())[1] as u64;
    match p.read(2, 1 << 20) {
        Err(Error::CorruptBatch { path, position: at, .. }) => assert_eq!((path, at), (files[0].clone(), position)),
        other => panic!("expected the damage, located: {other:?}"),
    }
    assert!(p.verify().is_err(), "verify finds it");
    never_misplaced(&p);
    // The next segment is intact.
    assert_eq!(p.read(20, 1 << 20).unwrap()[0].value.as_deref(), Some(&value_of(20)[..]));
}

/// A sealed segment deleted, or cut at a batch boundary: its offsets are missing, which a dense
/// partition shows. Reported at open; `verify()` fails; nothing is served at a wrong offset.
#[test]
fn a_sealed_segment_deleted_or_cut_at_a_batch_boundary_is_reported() {
    for cut in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let files = write_log(dir.path(), 3, 5, 4096);
        let middle = &files[1];
        if cut {
            let bytes = std::fs::read(middle).unwrap();
            let keep = batch_positions(&bytes)[2];
            std::fs::write(middle, &bytes[..keep]).unwrap();
        } else {
            for entry in std::fs::read_dir(middle.parent().unwrap()).unwrap() {
                let path = entry.unwrap().path();
                if path.file_stem() == middle.file_stem() {
                    std::fs::remove_file(path).unwrap();
                }
            }
        }
        let (log, p) = reopen(dir.path());
        let missing = if cut { "offsets 14..20 are missing" } else { "offsets 10..20 are missing" };
        assert!(
            log.recovery_report().iter().any(|e| e.reason.contains(missing) && e.bytes_dropped == 0),
            "cut {cut}: {:?}",
            log.recovery_report()
        );
        assert!(p.verify().is_err(), "cut {cut}: verify finds the gap");
        never_misplaced(&p);
        assert_eq!(p.log_end_offset(), 30);
    }
}

/// A sealed segment cut inside a batch: reported at open with its place, nothing cut; a fetch
/// whose window reaches the damage delivers the intact batches before it (it failed as a
/// whole); the read that starts at the damage fails there.
#[test]
fn a_sealed_segment_cut_inside_a_batch_delivers_what_is_before_the_damage() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_log(dir.path(), 2, 5, 4096);
    let bytes = std::fs::read(&files[0]).unwrap();
    let last = *batch_positions(&bytes).last().unwrap();
    let cut_len = last + 20;
    std::fs::write(&files[0], &bytes[..cut_len]).unwrap();
    let (log, p) = reopen(dir.path());
    let report = log.recovery_report();
    assert!(
        report.iter().any(|e| e.segment == files[0] && e.position == last as u64 && e.bytes_dropped == 0),
        "{report:?}"
    );
    assert_eq!(std::fs::metadata(&files[0]).unwrap().len(), cut_len as u64, "nothing cut");
    let got = p.read(0, 1 << 20).unwrap();
    assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), (0..8).collect::<Vec<_>>());
    match p.read(8, 1 << 20) {
        Err(Error::CorruptBatch { path, position, .. }) => {
            assert_eq!((path, position), (files[0].clone(), last as u64))
        }
        other => panic!("expected the damage, located: {other:?}"),
    }
    never_misplaced(&p);
}

/// Rewrites an offset index so that each entry names the batch after its own (plausible: keys
/// and positions still increase); with `keep_last`, the last entry stays right, so the check at
/// open passes and only reads can notice.
fn shift_index(log_path: &Path, keep_last: bool) {
    let index = log_path.with_extension("index");
    let positions = batch_positions(&std::fs::read(log_path).unwrap());
    let mut entries = std::fs::read(&index).unwrap();
    let n = entries.len() / 8;
    assert!(n >= 4, "an entry per batch");
    for i in 0..n - 1 {
        let position = u32::from_be_bytes(entries[i * 8 + 4..i * 8 + 8].try_into().unwrap()) as usize;
        let k = positions.iter().position(|&p| p == position).unwrap();
        entries[i * 8 + 4..i * 8 + 8].copy_from_slice(&(positions[k + 1] as u32).to_be_bytes());
    }
    if !keep_last {
        // The last entry (of the last batch) has no batch after it: it goes.
        entries.truncate((n - 1) * 8);
    }
    std::fs::write(&index, entries).unwrap();
}

/// A plausible but stale `.index` (entries one batch too far): reads skipped offsets.
#[test]
fn a_stale_offset_index_never_makes_reads_skip() {
    for keep_last in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let files = write_log(dir.path(), 2, 8, 1);
        shift_index(&files[0], keep_last);
        let (log, p) = reopen(dir.path());
        if !keep_last {
            assert!(
                log.recovery_report().iter().any(|e| e.reason.contains("offset index")),
                "{:?}",
                log.recovery_report()
            );
        }
        for from in 0..16 {
            let got = p.read(from, 1).unwrap();
            assert_eq!(got[0].offset, from, "keep_last {keep_last}: read from {from}");
        }
        never_misplaced(&p);
        p.verify().unwrap();
    }
}

/// An interrupted swap whose `.swap` is damaged, after the segment it replaces was already
/// renamed `.deleted`: the original is the intact copy, and is renamed back.
#[test]
fn a_damaged_swap_with_its_original_deleted_restores_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_log(dir.path(), 2, 6, 4096);
    let log_path = &files[0];
    let mut swap = std::fs::read(log_path).unwrap();
    let second = batch_positions(&swap)[1];
    swap[second + 70] ^= 0xff; // inside the second batch: its CRC fails
    let swap_path = PathBuf::from(format!("{}.swap", log_path.display()));
    std::fs::write(&swap_path, &swap).unwrap();
    for suffix in ["log", "index", "timeindex"] {
        let path = log_path.with_extension(suffix);
        std::fs::rename(&path, format!("{}.deleted", path.display())).unwrap();
    }
    let (log, p) = reopen(dir.path());
    assert!(
        log.recovery_report().iter().any(|e| e.segment == swap_path && e.reason.contains("renamed back")),
        "{:?}",
        log.recovery_report()
    );
    assert!(log_path.exists() && !swap_path.exists());
    let all = p.read(0, usize::MAX).unwrap();
    assert_eq!(all.len(), 24);
    never_misplaced(&p);
    p.verify().unwrap();
}
