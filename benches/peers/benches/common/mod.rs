//! What the peers and Kafka benches share: the workload.

/// Records per run.
pub const RECORDS: usize = 1_000_000;
/// Records per appended batch.
pub const BATCH: usize = 100;

/// `n` event JSON values of ~90 B, the same as `interop/kafka/LogBench.java` builds.
pub fn events(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"id":{i},"user":"user-{}","action":"{}","page":"/products/{}","ts":{}}}"#,
                i % 5000,
                ["view", "click", "buy"][i % 3],
                i % 997,
                1_700_000_000_000u64 + i as u64
            )
            .into_bytes()
        })
        .collect()
}
