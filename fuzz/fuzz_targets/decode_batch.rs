//! Arbitrary bytes as batches: decoding returns batches or an error, never panics, never
//! allocates what a length field claims.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut records = 0usize;
    if let Ok(batches) = partlog::batch::for_each_record(data, |_, _| records += 1) {
        assert!(batches * 61 <= data.len());
    }
});
