//! Helpers shared by the integration tests (each test binary uses some of them).
#![allow(dead_code)]

/// A fixed point in time (2023-11-14) for tests driven by a `ManualClock`.
pub const T0: i64 = 1_700_000_000_000;

/// A value naming its offset, fixed width, so that records can be checked against their offsets.
pub fn value_of(offset: u64) -> Vec<u8> {
    format!("value-{offset:08}").into_bytes()
}
