//! Replays the committed fuzz seeds (`tests/data/fuzz-seeds/<target>/`) through the same code the fuzz
//! targets run, so `cargo test` keeps every interesting input found so far passing.

mod fuzz_harness;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz-seeds").join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| run(&data));
        assert!(result.is_ok(), "{target}: seed {} fails", path.display());
        count += 1;
    }
    count
}

#[test]
fn decode_batch_seeds_pass() {
    assert!(replay("decode_batch", fuzz_harness::decode_batch) > 10);
}

#[test]
fn open_segment_seeds_pass() {
    assert!(replay("open_segment", fuzz_harness::open_segment) > 10);
}

#[test]
fn operations_seeds_pass() {
    assert!(replay("operations", fuzz_harness::operations) > 10);
}
