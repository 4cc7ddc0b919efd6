//! See `tests/fuzz_harness/mod.rs`: the logic is shared with the corpus replay of `cargo test`.
#![no_main]

#[path = "../../tests/fuzz_harness/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::open_segment(data));
