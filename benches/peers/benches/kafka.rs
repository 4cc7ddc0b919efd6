//! partlog beside Apache Kafka's own log layer (`UnifiedLog`, driven in-process on the JVM by
//! `interop/kafka/LogBench.java`) on the peers workload, in one run: 1M records of ~100 B event
//! JSON appended in batches of 100, read back in full, and 200,000 appends of one record;
//! page-cache durability on both sides. Needs Java 17 and Kafka's jars:
//!
//!     (cd interop/kafka && mvn -q dependency:copy-dependencies -DoutputDirectory=target/lib)
//!     cd benches/peers && cargo bench --bench kafka
//!
//! Each side takes medians of its own samples after warming up (the JVM's JIT needs it): partlog
//! is measured, then Kafka, then partlog again, and partlog's median is over both halves, so a
//! slow spell on the shared machine does not land on one side only.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

mod common;

use common::{events, BATCH, RECORDS};
const SINGLE_RECORDS: usize = 200_000;
const WARMUP: usize = 3;
const SAMPLES: usize = 5;

fn fresh_partition(dir: &std::path::Path) -> (partlog::Log, partlog::Partition) {
    let log = partlog::Log::open_with(dir, partlog::LogOptions::default().maintenance_interval_ms(None)).unwrap();
    let p = log.create_topic("events", 1, partlog::TopicConfig::default()).unwrap().partition(0).unwrap();
    (log, p)
}

/// Records per second of `samples` runs of `f`, which returns the records it handled.
fn rates(samples: usize, mut f: impl FnMut() -> (usize, std::time::Duration)) -> Vec<f64> {
    (0..samples).map(|_| f()).map(|(n, t)| n as f64 / t.as_secs_f64()).collect()
}

fn append(events: &[Vec<u8>], batch: usize) -> (usize, std::time::Duration) {
    let dir = tempfile::tempdir().unwrap();
    let (_log, p) = fresh_partition(dir.path());
    let start = Instant::now();
    for chunk in events.chunks(batch) {
        let records: Vec<partlog::Record<'_>> = chunk.iter().map(|v| partlog::Record::new(v)).collect();
        p.append(&records).unwrap();
    }
    (events.len(), start.elapsed())
}

fn read_full(p: &partlog::Partition, payload: usize) -> (usize, std::time::Duration) {
    let start = Instant::now();
    let mut fetch = partlog::Fetch::new();
    let (mut next, mut bytes, mut records) = (0, 0, 0);
    while next < p.log_end_offset() {
        p.fetch(next, 1 << 20, &mut fetch).unwrap();
        for r in fetch.records() {
            bytes += r.unwrap().value().map_or(0, <[u8]>::len);
            records += 1;
        }
        next = fetch.next_offset();
    }
    assert_eq!((records, bytes), (RECORDS, payload));
    (records, start.elapsed())
}

/// partlog's rates for the three workloads.
fn partlog_round(events: &[Vec<u8>], single: &[Vec<u8>], out: &mut [Vec<f64>; 3]) {
    let payload: usize = events.iter().map(Vec::len).sum();
    for _ in 0..WARMUP {
        append(events, BATCH);
    }
    out[0].extend(rates(SAMPLES, || append(events, BATCH)));
    let dir = tempfile::tempdir().unwrap();
    let (_log, p) = fresh_partition(dir.path());
    for chunk in events.chunks(BATCH) {
        let records: Vec<partlog::Record<'_>> = chunk.iter().map(|v| partlog::Record::new(v)).collect();
        p.append(&records).unwrap();
    }
    for _ in 0..WARMUP {
        read_full(&p, payload);
    }
    out[1].extend(rates(SAMPLES, || read_full(&p, payload)));
    for _ in 0..WARMUP {
        append(single, 1);
    }
    out[2].extend(rates(SAMPLES, || append(single, 1)));
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes --bench; nothing else is taken.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let lib = std::env::var_os("KAFKA_LIB").map_or_else(|| root.join("interop/kafka/target/lib"), PathBuf::from);
    if !lib.is_dir() {
        eprintln!("no Kafka jars at {}: see this bench's header", lib.display());
        std::process::exit(2);
    }
    let events = events(RECORDS);
    let single = &events[..SINGLE_RECORDS];
    let mut ours: [Vec<f64>; 3] = Default::default();
    eprintln!("partlog, first half");
    partlog_round(&events, single, &mut ours);

    eprintln!("Kafka's UnifiedLog on the JVM (interop/kafka/LogBench.java)");
    let output = Command::new("java")
        .args(["-Xms1g", "-Xmx1g", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35"])
        .arg("-cp")
        .arg(lib.join("*"))
        .arg(root.join("interop/kafka/LogBench.java"))
        .output()
        .expect("java runs");
    assert!(output.status.success(), "LogBench failed: {}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let field = |name: &str| -> Vec<String> {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|rest| rest.split_whitespace().map(str::to_owned).collect()))
            .unwrap_or_else(|| panic!("LogBench printed no {name}: {stdout}"))
    };
    let version = field("kafka-version ")[0].clone();

    eprintln!("partlog, second half");
    partlog_round(&events, single, &mut ours);
    for (name, samples) in ["append_batch100", "read_full", "append_batch1"].iter().zip(&ours) {
        let shown: Vec<String> = samples.iter().map(|r| format!("{:.2}", r / 1e6)).collect();
        eprintln!("partlog {name} samples (M records/s): {}", shown.join(" "));
    }
    eprintln!("Kafka: {}", stdout.trim().replace('\n', "; "));

    println!("\npartlog vs Apache Kafka {version} UnifiedLog (JVM, in-process), medians; records/s");
    println!("| workload | partlog | Kafka {version} | partlog ÷ Kafka |");
    println!("|---|---|---|---|");
    for (i, (label, key)) in [
        ("append 1M × ~90 B, batches of 100", "append_batch100 "),
        ("full read of the same", "read_full "),
        ("append, batches of 1 (200k records)", "append_batch1 "),
    ]
    .into_iter()
    .enumerate()
    {
        let kafka: f64 = field(key)[0].parse().unwrap();
        let partlog = median(&ours[i]);
        println!("| {label} | {:.2} M | {:.2} M | {:.2}× |", partlog / 1e6, kafka / 1e6, partlog / kafka);
    }
}
