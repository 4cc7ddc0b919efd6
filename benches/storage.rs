//! Criterion benches of partlog's hot paths: append, sequential scan, random reads and
//! offset-for-timestamp lookups. Comparisons with other crates live in a separate target.
//!
//!     cargo bench --bench storage

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use partlog::{Compression, CompressionType, Fetch, Log, Partition, Record, TopicConfig};

/// About 100 bytes of event JSON per record.
fn event(i: u64) -> Vec<u8> {
    format!(r#"{{"id":{i},"user":"user-{}","action":"click","page":"/products/{}","ms":{}}}"#, i % 1000, i % 97, i * 7)
        .into_bytes()
}

fn partition(dir: &std::path::Path, codec: Compression) -> (Log, Partition) {
    let log = Log::open(dir).unwrap();
    let mut config = TopicConfig::default();
    config.compression_type = CompressionType::Codec(codec);
    let p = log.create_topic("bench", 1, config).unwrap().partition(0).unwrap();
    (log, p)
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    for codec in [Compression::None, Compression::Lz4, Compression::Snappy, Compression::Gzip] {
        for batch in [1u64, 100] {
            let values: Vec<Vec<u8>> = (0..batch).map(event).collect();
            let records: Vec<Record<'_>> = values.iter().map(|v| Record::new(v).with_key(b"user-1")).collect();
            group.throughput(Throughput::Elements(batch));
            group.bench_function(BenchmarkId::new(codec.name(), format!("batch{batch}")), |b| {
                let dir = tempfile::tempdir().unwrap();
                let (_log, p) = partition(dir.path(), codec);
                b.iter(|| p.append(&records).unwrap());
            });
        }
    }
    group.finish();
}

fn reads(c: &mut Criterion) {
    const RECORDS: u64 = 200_000;
    let dir = tempfile::tempdir().unwrap();
    let (_log, p) = partition(dir.path(), Compression::None);
    let values: Vec<Vec<u8>> = (0..100).map(event).collect();
    for chunk in 0..RECORDS / 100 {
        let records: Vec<Record<'_>> =
            values.iter().map(|v| Record::new(v).with_timestamp(chunk as i64 * 10)).collect();
        p.append(&records).unwrap();
    }
    let bytes = p.size_bytes();

    let mut group = c.benchmark_group("read");
    group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(RECORDS));
    group.bench_function("scan_records", |b| {
        let mut fetch = Fetch::new();
        b.iter(|| {
            let (mut next, mut n) = (0, 0usize);
            while next < RECORDS {
                p.fetch(next, 1 << 20, &mut fetch).unwrap();
                n += fetch.records().map(|r| r.unwrap().value().map_or(0, <[u8]>::len)).sum::<usize>();
                next = fetch.next_offset();
            }
            n
        });
    });
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("scan_raw_bytes", |b| {
        let mut raw = Vec::new();
        b.iter(|| {
            let mut next = 0;
            while next < RECORDS {
                raw.clear();
                next = p.read_raw(next, 1 << 20, &mut raw).unwrap();
            }
        });
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("random_offset", |b| {
        let mut fetch = Fetch::new();
        let mut x = 12345u64;
        b.iter_batched(
            || {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                (x >> 20) % RECORDS
            },
            |offset| {
                p.fetch(offset, 1, &mut fetch).unwrap();
                fetch.len()
            },
            BatchSize::SmallInput,
        );
    });
    group.bench_function("offset_for_timestamp", |b| {
        let mut t = 0i64;
        b.iter(|| {
            t = (t + 7919) % (RECORDS as i64 / 10);
            p.offset_for_timestamp(t).unwrap()
        });
    });
    group.finish();
}

criterion_group!(benches, append, reads);
criterion_main!(benches);
