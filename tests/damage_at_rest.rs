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

/// What happened to the active segment of a cleanly closed log.
#[derive(Debug, Clone, Copy)]
enum ActiveDamage {
    /// Cut at a batch boundary: its last batches are gone.
    CutAtBoundary,
    /// Cut inside a batch.
    CutInside,
    /// Its data file deleted.
    Deleted,
    /// Cut inside a batch, and the clean-shutdown marker removed (recovery runs).
    TornUnclean,
}

/// Applies `damage` to the active segment `active` (base 20, five batches of two records) of
/// the log in `dir`; returns the offset its data now ends at.
fn damage_active(dir: &Path, active: &Path, damage: ActiveDamage) -> u64 {
    let bytes = std::fs::read(active).unwrap();
    let positions = batch_positions(&bytes);
    let (keep, end) = match damage {
        ActiveDamage::CutAtBoundary => (positions[2], 24),
        ActiveDamage::CutInside | ActiveDamage::TornUnclean => (positions[3] + 20, 26),
        ActiveDamage::Deleted => {
            std::fs::remove_file(active).unwrap();
            return 20;
        }
    };
    std::fs::write(active, &bytes[..keep]).unwrap();
    if matches!(damage, ActiveDamage::TornUnclean) {
        std::fs::remove_file(dir.join(".kafka_cleanshutdown")).unwrap();
    }
    end
}

/// Reads of every lost offset fail naming the range and the file it follows; a read from
/// before them delivers up to them; `verify()` names them.
fn lost_range_is_named(p: &Partition, lost: std::ops::Range<u64>, after: &Path, context: &str) {
    for offset in lost.clone() {
        match p.read(offset, 1 << 20) {
            Err(Error::OffsetsLost { from, to, path, .. }) => {
                assert_eq!((from..to, path.as_path()), (lost.clone(), after), "{context}: read from {offset}")
            }
            other => panic!("{context}: read from {offset}: expected the lost offsets, named: {other:?}"),
        }
    }
    let before: Vec<u64> = p.read(0, usize::MAX).unwrap().iter().map(|r| r.offset).collect();
    assert_eq!(before, (0..lost.start).collect::<Vec<_>>(), "{context}: a read stops before the lost offsets");
    match p.verify() {
        Err(Error::OffsetsLost { from, to, .. }) => assert_eq!(from..to, lost, "{context}: verify"),
        other => panic!("{context}: verify must name the lost offsets: {other:?}"),
    }
    never_misplaced(p);
}

/// The five kinds: after a clean close, the active segment cut at a batch boundary or
/// inside a batch, deleted, or torn with the clean-shutdown marker removed. The open kept the
/// log end (no offset reused) and reported an event, but reads stepped over the missing
/// offsets as if nothing were there and `verify()` said Ok. Now the event, every read of them
/// and `verify()` name them, at this open and the next ones.
#[test]
fn offsets_lost_from_the_active_segment_are_named_by_reads_and_verify() {
    for damage in
        [ActiveDamage::CutAtBoundary, ActiveDamage::CutInside, ActiveDamage::Deleted, ActiveDamage::TornUnclean]
    {
        let context = format!("{damage:?}");
        let dir = tempfile::tempdir().unwrap();
        let files = write_log(dir.path(), 3, 5, 4096);
        let end = damage_active(dir.path(), &files[2], damage);
        // The lost offsets follow the last data there is.
        let after = if matches!(damage, ActiveDamage::Deleted) { &files[1] } else { &files[2] };
        let (log, p) = reopen(dir.path());
        let report = log.recovery_report();
        assert!(report.iter().any(|e| e.lost_offsets == Some(end..30)), "{context}: {report:?}");
        assert_eq!(p.log_end_offset(), 30, "{context}: no offset is handed out again");
        lost_range_is_named(&p, end..30, after, &context);
        assert_eq!(p.append(&[Record::new(&value_of(30))]).unwrap().first_offset, 30, "{context}");
        assert_eq!(p.read(30, 1 << 20).unwrap()[0].value.as_deref(), Some(&value_of(30)[..]), "{context}");
        lost_range_is_named(&p, end..30, after, &context);
        drop(p);
        log.close().unwrap();

        // Still named after the next clean open: the offsets are dense, so the gap is loss.
        let (log, p) = reopen(dir.path());
        let report = log.recovery_report();
        assert!(report.iter().any(|e| e.lost_offsets == Some(end..30)), "{context}, reopened: {report:?}");
        lost_range_is_named(&p, end..30, after, &format!("{context}, reopened"));
    }
}

/// A recovery-point checkpoint far past the log end (a bit flip: 30 became 3,000): the log
/// end jumps there so that no offset it says was written is handed out again, and the jump is
/// reported as lost offsets, not applied silently.
#[test]
fn a_recovery_point_far_past_the_end_is_reported_as_lost_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_log(dir.path(), 3, 5, 4096);
    let checkpoint = dir.path().join("recovery-point-offset-checkpoint");
    let text = std::fs::read_to_string(&checkpoint).unwrap();
    assert!(text.contains("d 0 30\n"), "{text:?}");
    std::fs::write(&checkpoint, text.replace("d 0 30\n", "d 0 3000\n")).unwrap();
    let (log, p) = reopen(dir.path());
    assert!(log.recovery_report().iter().any(|e| e.lost_offsets == Some(30..3000)), "{:?}", log.recovery_report());
    assert_eq!(p.log_end_offset(), 3000);
    for offset in [30, 1500, 2999] {
        assert!(
            matches!(p.read(offset, 1 << 20), Err(Error::OffsetsLost { from: 30, to: 3000, ref path, .. }) if *path == files[2]),
            "read from {offset}"
        );
    }
    assert!(matches!(p.verify(), Err(Error::OffsetsLost { from: 30, to: 3000, .. })));
    assert_eq!(p.read(0, usize::MAX).unwrap().len(), 30, "every record written is there");
}

/// Where offsets may have gaps (a topic that compacts, or Kafka's data), a gap between segments
/// is not loss; offsets below the recorded recovery point that are gone still are.
#[test]
fn lost_offsets_are_named_where_gaps_are_legal_too() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open_with(dir.path(), options()).unwrap();
    let mut config = TopicConfig::default();
    config.cleanup_policy = partlog::CleanupPolicy::Compact;
    let p = log.create_topic("c", 1, config).unwrap().partition(0).unwrap();
    for i in 0..10u64 {
        p.append(&[Record::new(&value_of(i)).with_key(&[(i % 2) as u8])]).unwrap();
    }
    p.roll().unwrap();
    p.compact().unwrap();
    p.append(&[Record::new(&value_of(10)).with_key(b"k")]).unwrap();
    p.append(&[Record::new(&value_of(11)).with_key(b"k")]).unwrap();
    let active = p.segments().last().unwrap().log_path().to_owned();
    let kept: Vec<u64> = p.read(0, usize::MAX).unwrap().iter().map(|r| r.offset).collect();
    assert_eq!(kept, [8, 9, 10, 11], "compaction left a gap");
    drop(p);
    log.close().unwrap();
    let log = Log::open_with(dir.path(), options()).unwrap();
    assert_eq!(log.recovery_report(), [], "a compaction gap is not damage");
    log.partition("c", 0).unwrap().verify().unwrap();
    log.close().unwrap();

    let bytes = std::fs::read(&active).unwrap();
    std::fs::write(&active, &bytes[..batch_positions(&bytes)[1]]).unwrap();
    let log = Log::open_with(dir.path(), options()).unwrap();
    assert!(log.recovery_report().iter().any(|e| e.lost_offsets == Some(11..12)), "{:?}", log.recovery_report());
    let p = log.partition("c", 0).unwrap();
    assert!(matches!(p.read(11, 1 << 20), Err(Error::OffsetsLost { from: 11, to: 12, .. })));
    assert_eq!(p.read(0, usize::MAX).unwrap().iter().map(|r| r.offset).collect::<Vec<_>>(), [8, 9, 10]);
    assert!(p.verify().is_err());
    p.append(&[Record::new(&value_of(12)).with_key(b"k")]).unwrap();
    drop(p);
    log.close().unwrap();

    // Nothing tells this gap from one compaction left but the record partlog keeps of it.
    for read_only in [false, true] {
        let log = match read_only {
            true => Log::open_read_only(dir.path()).unwrap(),
            false => Log::open_with(dir.path(), options()).unwrap(),
        };
        let report = log.recovery_report();
        assert!(report.iter().any(|e| e.lost_offsets == Some(11..12)), "read-only {read_only}: {report:?}");
        let p = log.partition("c", 0).unwrap();
        assert!(matches!(p.read(11, 1 << 20), Err(Error::OffsetsLost { from: 11, to: 12, .. })));
        assert_eq!(p.read(12, 1 << 20).unwrap()[0].value.as_deref(), Some(&value_of(12)[..]));
        assert!(matches!(p.verify(), Err(Error::OffsetsLost { from: 11, to: 12, .. })), "read-only {read_only}");
    }
}

/// A truncation below lost offsets hands them out again: they are no longer lost.
#[test]
fn a_truncation_below_lost_offsets_gives_them_back() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_log(dir.path(), 3, 5, 4096);
    damage_active(dir.path(), &files[2], ActiveDamage::CutAtBoundary);
    let (_log, p) = reopen(dir.path());
    assert!(matches!(p.read(26, 1 << 20), Err(Error::OffsetsLost { from: 24, to: 30, .. })));
    assert_eq!(p.truncate_to(26).unwrap(), 26);
    assert!(matches!(p.read(24, 1 << 20), Err(Error::OffsetsLost { from: 24, to: 26, .. })));
    assert_eq!(p.truncate_to(24).unwrap(), 24);
    assert_eq!(p.append(&[Record::new(&value_of(24))]).unwrap().first_offset, 24);
    assert_eq!(p.read(0, usize::MAX).unwrap().len(), 25);
    p.verify().unwrap();
    drop((_log, p));
    let (log, p) = reopen(dir.path());
    assert_eq!(log.recovery_report(), [], "nothing is lost any more");
    p.verify().unwrap();
}

/// A read-only view (what `partlog verify` opens) names lost offsets too: before the owner
/// opened the damaged log (they are past the view's end) and after (a gap before the segment
/// the owner rolled at the recovery point). Its `verify()` said Ok both times.
#[test]
fn a_read_only_view_names_lost_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_log(dir.path(), 3, 5, 4096);
    damage_active(dir.path(), &files[2], ActiveDamage::CutAtBoundary);
    for owner_opened in [false, true] {
        let view = Log::open_read_only(dir.path()).unwrap();
        let p = view.partition("d", 0).unwrap();
        match p.verify() {
            Err(Error::OffsetsLost { from: 24, to: 30, path, .. }) => assert_eq!(path, files[2]),
            other => panic!("owner opened {owner_opened}: {other:?}"),
        }
        assert_eq!(p.read(0, usize::MAX).unwrap().len(), 24, "owner opened {owner_opened}");
        drop((p, view));
        if !owner_opened {
            let (log, _) = reopen(dir.path());
            log.close().unwrap();
        }
    }
}

/// Flips a byte of the record section of the batch at `position` in `path` (inside the CRC),
/// through the file, as a bad disk or a stray program would while the log is open.
fn flip_record_byte(path: &Path, position: usize) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap();
    let at = (position + 70) as u64; // past the 61-byte header, inside the first record
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, at).unwrap();
    file.write_all_at(&[byte[0] ^ 0x5a], at).unwrap();
}

/// Reads skip the CRC of a batch their segment object checked before (the memo of checked
/// batches). What that memo may miss, and what it never does: damage done while the log is open
/// may be served by reads that already checked the batch, but `verify()` finds it, a reopen
/// finds it, and a segment object made anew (truncation) checks the bytes written since, even
/// at the positions its predecessor had checked.
#[test]
fn the_memo_of_checked_batches_never_hides_damage_from_verify_a_reopen_or_new_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open_with(dir.path(), options()).unwrap();
    let p = log.create_topic("d", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    for _ in 0..20 {
        let o = p.log_end_offset();
        p.append(&[Record::new(&value_of(o)), Record::new(&value_of(o + 1))]).unwrap();
    }
    p.roll().unwrap();
    p.append(&[Record::new(&value_of(40))]).unwrap();
    let sealed = p.segments()[0].log_path().to_owned();
    let active = p.segments()[1].log_path().to_owned();
    let read_every_offset = |p: &Partition| {
        for o in p.log_start_offset()..p.log_end_offset() {
            let records = p.read(o, 1)?;
            assert!(records.iter().all(|r| r.value.as_deref() == Some(&value_of(r.offset)[..])));
        }
        Ok::<(), Error>(())
    };
    read_every_offset(&p).unwrap(); // every batch checked once: in the memo now
    let positions = batch_positions(&std::fs::read(&sealed).unwrap());
    flip_record_byte(&sealed, positions[7]);
    flip_record_byte(&active, 0);
    // verify() checks every byte, memo or not.
    match p.verify() {
        Err(Error::CorruptBatch { path, position, .. }) => {
            assert_eq!((path, position), (sealed.clone(), positions[7] as u64))
        }
        other => panic!("verify missed the damage: {other:?}"),
    }
    // A segment object made anew by truncation checks what is written after it, at the same
    // positions the old object had checked.
    p.truncate_to(40).unwrap();
    p.append(&[Record::new(&value_of(40))]).unwrap();
    flip_record_byte(&active, 0);
    assert!(matches!(p.read(40, 1), Err(Error::CorruptBatch { .. })), "new bytes are checked");
    drop(p);
    log.simulate_crash();
    // A reopen checks every batch it reads again.
    let (_log, p) = reopen(dir.path());
    match p.read(14, 1) {
        Err(Error::CorruptBatch { path, position, .. }) => assert_eq!((path, position), (sealed, positions[7] as u64)),
        other => panic!("the reopened log served damaged data: {other:?}"),
    }
}
