//! Arbitrary bytes as the active segment of a partition after a crash: opening recovers (cutting
//! the tail at the first invalid batch) and everything it then serves reads back without error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let partition_dir = dir.path().join("fuzz-0");
    std::fs::create_dir_all(&partition_dir).unwrap();
    std::fs::write(partition_dir.join("00000000000000000000.log"), data).unwrap();
    let log = partlog::Log::open(dir.path()).unwrap();
    let p = log.partition("fuzz", 0).unwrap();
    let mut next = p.log_start_offset();
    let mut fetch = partlog::Fetch::new();
    while next < p.log_end_offset() {
        p.fetch(next, 1 << 16, &mut fetch).unwrap();
        assert!(fetch.next_offset() > next);
        next = fetch.next_offset();
    }
    let _ = p.offset_for_timestamp(0).unwrap();
    // Appending continues after the recovered tail (unless the offsets found are at the very end
    // of the offset space).
    match p.append(&[partlog::Record::new(b"after recovery")]) {
        Ok(info) => assert_eq!(info.first_offset, next),
        Err(partlog::Error::OffsetOverflow(_)) => {}
        Err(e) => panic!("append after recovery: {e}"),
    }
});
