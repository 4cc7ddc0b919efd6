//! The rows of the performance table that are ratios to a peer or to a bound measured beside
//! partlog in the same process (issue 16): random point reads against commitlog, scans and
//! appends against the machine's file bounds, 1-record appends, and appends spread over many
//! partitions against one. Rounds rotate between the contenders; every number is a median.
//!
//!     cd benches/peers && cargo bench --bench lead
//!
//! `busy` measures appends beside another process that writes (a `dd` in a loop), against
//! commitlog beside the same process, and on the quiet machine in the same run; `sustained`
//! appends several GB (`LEAD_SUSTAINED_GB`, default 8), past the kernel's dirty-page thresholds,
//! against commitlog over the same bytes.
//!
//! `LEAD=point,scan,...` runs a subset. `LEAD_PROFILE=partlog|commitlog` only does 200,000 random
//! point reads of that store after loading it, for `valgrind --tool=callgrind`.

use std::os::unix::process::CommandExt;
use std::time::Instant;

mod common;

use common::{events, BATCH, RECORDS};

fn quiet() -> partlog::LogOptions {
    partlog::LogOptions::default().maintenance_interval_ms(None)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)] as f64
}

/// A small, fast pseudo-random sequence (the same for every contender).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 24) % n
    }
}

/// One record at a random offset, read through each store's own lookup, checked, timed one by one.
trait PointRead {
    /// Reads the record at `offset` and returns its value's length.
    fn read_one(&mut self, offset: u64) -> usize;
}

struct PartlogReader {
    _log: partlog::Log,
    p: partlog::Partition,
    fetch: partlog::Fetch,
}

impl PartlogReader {
    fn load(dir: &std::path::Path, events: &[Vec<u8>], batch: usize) -> Self {
        let log = partlog::Log::open_with(dir, quiet()).unwrap();
        let p = log.create_topic("events", 1, partlog::TopicConfig::default()).unwrap().partition(0).unwrap();
        for chunk in events.chunks(batch) {
            let records: Vec<partlog::Record<'_>> = chunk.iter().map(|v| partlog::Record::new(v)).collect();
            p.append(&records).unwrap();
        }
        PartlogReader { _log: log, p, fetch: partlog::Fetch::new() }
    }
}

impl PointRead for PartlogReader {
    fn read_one(&mut self, offset: u64) -> usize {
        self.p.fetch(offset, 1, &mut self.fetch).unwrap();
        let record = self.fetch.records().next().unwrap().unwrap();
        assert_eq!(record.offset(), offset);
        record.value().unwrap().len()
    }
}

struct CommitLogReader(commitlog::CommitLog);

impl CommitLogReader {
    fn load(dir: &std::path::Path, events: &[Vec<u8>], batch: usize) -> Self {
        let mut log = commitlog::CommitLog::new(commitlog::LogOptions::new(dir)).unwrap();
        for chunk in events.chunks(batch) {
            let mut buf: commitlog::message::MessageBuf = chunk.iter().collect();
            log.append(&mut buf).unwrap();
        }
        CommitLogReader(log)
    }
}

impl PointRead for CommitLogReader {
    fn read_one(&mut self, offset: u64) -> usize {
        use commitlog::message::MessageSet;
        // Its smallest read that holds one whole record of this workload (it refuses a limit
        // below the record's size).
        let set = self.0.read(offset, commitlog::ReadLimit::max_bytes(256)).unwrap();
        let m = set.iter().next().unwrap();
        assert_eq!(m.offset(), offset);
        m.payload().len()
    }
}

/// Latencies in ns of `n` random point reads (after `n / 4` unmeasured ones).
fn point_reads(store: &mut impl PointRead, lengths: &[usize], seed: u64, n: usize) -> Vec<u64> {
    let mut rng = Lcg(seed);
    for _ in 0..n / 4 {
        let offset = rng.below(lengths.len() as u64);
        assert_eq!(store.read_one(offset), lengths[offset as usize]);
    }
    let mut latencies = Vec::with_capacity(n);
    for _ in 0..n {
        let offset = rng.below(lengths.len() as u64);
        let start = Instant::now();
        let len = store.read_one(offset);
        latencies.push(start.elapsed().as_nanos() as u64);
        assert_eq!(len, lengths[offset as usize]);
    }
    latencies
}

/// The floor under a CRC-checked read of one batch: the checksum of `batch_bytes` at a random
/// place of a file mapping as large as the data (not in the CPU's caches), by crc-fast, an
/// independent implementation as fast as partlog's.
fn crc_floor(dir: &std::path::Path, data_bytes: usize, batch_bytes: usize) -> f64 {
    let path = dir.join("floor");
    std::fs::write(&path, vec![0x5au8; data_bytes]).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    // SAFETY (bench): the file is this run's own and nothing changes it while mapped.
    let map = unsafe { memmap2::Mmap::map(&file).unwrap() };
    let mut rng = Lcg(11);
    let mut latencies: Vec<u64> = (0..200_000)
        .map(|_| {
            let at = rng.below((data_bytes - batch_bytes) as u64) as usize;
            let start = Instant::now();
            std::hint::black_box(crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, &map[at..at + batch_bytes]));
            start.elapsed().as_nanos() as u64
        })
        .collect();
    latencies.sort_unstable();
    percentile(&latencies, 0.5) / 1e3
}

fn point(events: &[Vec<u8>], batch: usize) {
    const READS: usize = 200_000;
    const ROUNDS: u64 = 5;
    let lengths: Vec<usize> = events.iter().map(Vec::len).collect();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut partlog = PartlogReader::load(a.path(), events, batch);
    let mut commitlog = CommitLogReader::load(b.path(), events, batch);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        // Alternate which goes first, so a slow spell does not land on one side only.
        if round % 2 == 0 {
            ours.push(point_reads(&mut partlog, &lengths, round, READS));
            theirs.push(point_reads(&mut commitlog, &lengths, round, READS));
        } else {
            theirs.push(point_reads(&mut commitlog, &lengths, round, READS));
            ours.push(point_reads(&mut partlog, &lengths, round, READS));
        }
    }
    let summary = |rounds: &mut Vec<Vec<u64>>| {
        let (mut p50, mut p99) = (Vec::new(), Vec::new());
        for r in rounds.iter_mut() {
            r.sort_unstable();
            p50.push(percentile(r, 0.5));
            p99.push(percentile(r, 0.99));
        }
        (median(p50) / 1e3, median(p99) / 1e3)
    };
    let ((o50, o99), (t50, t99)) = (summary(&mut ours), summary(&mut theirs));
    let data_bytes = partlog.p.size_bytes() as usize;
    let batch_bytes = data_bytes / events.len().div_ceil(batch);
    let floor = crc_floor(a.path(), data_bytes, batch_bytes);
    println!(
        "point read, 1 random offset of {} (batches of {batch}, {batch_bytes} B): partlog p50 {o50:.2} µs p99 {o99:.2} µs; \
         commitlog p50 {t50:.2} µs p99 {t99:.2} µs; partlog ÷ commitlog p50 {:.2}  [target ≤ 1, p99 ≤ 2 µs]; \
         floor: CRC of one uncached batch p50 {floor:.2} µs ({:.2} of commitlog's read)",
        events.len(),
        o50 / t50,
        floor / t50,
    );
}

fn rate(records: usize, f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    records as f64 / start.elapsed().as_secs_f64()
}

fn partlog_append(dir: &std::path::Path, events: &[Vec<u8>], batch: usize) -> (partlog::Log, partlog::Partition) {
    let log = partlog::Log::open_with(dir, quiet()).unwrap();
    let p = log.create_topic("events", 1, partlog::TopicConfig::default()).unwrap().partition(0).unwrap();
    append_all(&p, events, batch);
    (log, p)
}

fn append_all(p: &partlog::Partition, events: &[Vec<u8>], batch: usize) {
    for chunk in events.chunks(batch) {
        let records: Vec<partlog::Record<'_>> = chunk.iter().map(|v| partlog::Record::new(v)).collect();
        p.append(&records).unwrap();
    }
}

/// Records per second of appending `events` in batches of `batch` to a fresh partition (the
/// open before and the close after are not timed).
fn partlog_append_rate(events: &[Vec<u8>], batch: usize) -> f64 {
    partlog_append_rate_with(events, batch, quiet())
}

fn partlog_append_rate_with(events: &[Vec<u8>], batch: usize, options: partlog::LogOptions) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let log = partlog::Log::open_with(dir.path(), options).unwrap();
    let p = log.create_topic("events", 1, partlog::TopicConfig::default()).unwrap().partition(0).unwrap();
    rate(events.len(), || append_all(&p, events, batch))
}

/// The same payloads, length-prefixed, through a 1 MiB buffered file (the append bound).
fn file_append(dir: &std::path::Path, events: &[Vec<u8>]) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("events.bin");
    let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).unwrap());
    for v in events {
        w.write_all(&(v.len() as u32).to_le_bytes()).unwrap();
        w.write_all(v).unwrap();
    }
    w.flush().unwrap();
    path
}

/// Every payload of the bound's file through an mmap (the scan bound); returns the bytes seen.
fn mmap_scan(path: &std::path::Path) -> usize {
    let file = std::fs::File::open(path).unwrap();
    // SAFETY (bench): the file is this run's own and nothing changes it while mapped.
    let map = unsafe { memmap2::Mmap::map(&file).unwrap() };
    let (mut pos, mut bytes) = (0, 0);
    while pos + 4 <= map.len() {
        let len = u32::from_le_bytes(map[pos..pos + 4].try_into().unwrap()) as usize;
        bytes += std::hint::black_box(&map[pos + 4..pos + 4 + len]).len();
        pos += 4 + len;
    }
    bytes
}

fn partlog_scan(p: &partlog::Partition) -> usize {
    let mut fetch = partlog::Fetch::new();
    let (mut next, mut bytes) = (0, 0);
    while next < p.log_end_offset() {
        p.fetch(next, 1 << 20, &mut fetch).unwrap();
        for r in fetch.records() {
            bytes += std::hint::black_box(r.unwrap().value().unwrap()).len();
        }
        next = fetch.next_offset();
    }
    bytes
}

/// Appends in batches of 100 against the buffered-file bound, full reads against the mmap-scan
/// bound, and appends of one record: rotating rounds, medians of the rates.
fn throughput(events: &[Vec<u8>]) {
    const ROUNDS: usize = 7;
    let payload: usize = events.iter().map(Vec::len).sum();
    let singles = &events[..200_000];
    let mut r: [Vec<f64>; 5] = Default::default();
    let kept = tempfile::tempdir().unwrap();
    let (_log, p) = partlog_append(kept.path(), events, BATCH);
    let bound_file = file_append(kept.path(), events);
    for round in 0..ROUNDS {
        let mut steps: Vec<Box<dyn FnMut(&mut [Vec<f64>; 5])>> = vec![
            Box::new(|r| r[0].push(partlog_append_rate(events, BATCH))),
            Box::new(|r| {
                let dir = tempfile::tempdir().unwrap();
                r[1].push(rate(events.len(), || drop(file_append(dir.path(), events))));
            }),
            Box::new(|r| r[2].push(rate(events.len(), || assert_eq!(partlog_scan(&p), payload)))),
            Box::new(|r| r[3].push(rate(events.len(), || assert_eq!(mmap_scan(&bound_file), payload)))),
            Box::new(|r| r[4].push(partlog_append_rate(singles, 1))),
        ];
        steps.rotate_left(round % 5);
        for step in &mut steps {
            step(&mut r);
        }
    }
    let [append, bound, scan, mmap, single] = r.map(median);
    println!(
        "append {} × ~{} B in batches of {BATCH}: partlog {:.1} M rec/s, buffered file {:.1} M/s: {:.2}×  [target ≥ 0.8]",
        events.len(),
        payload / events.len(),
        append / 1e6,
        bound / 1e6,
        append / bound
    );
    println!(
        "full read (CRC-checked): partlog {:.1} M rec/s, mmap scan {:.1} M/s: {:.2}×  [target ≥ 0.7]",
        scan / 1e6,
        mmap / 1e6,
        scan / mmap
    );
    println!("1-record appends: partlog {:.2} M/s  [target ≥ 8 M/s]", single / 1e6);
}

/// Appends of batches of 100 spread round-robin over 1,000 partitions of one topic against the
/// same batches to one partition; then a clean open of 1,000 partitions of 10 segments each.
fn many(events: &[Vec<u8>]) {
    const PARTITIONS: u32 = 1000;
    const ROUNDS: usize = 5;
    let batches: Vec<Vec<partlog::Record<'_>>> =
        events.chunks(BATCH).map(|c| c.iter().map(|v| partlog::Record::new(v)).collect()).collect();
    let run = |partitions: u32| {
        let dir = tempfile::tempdir().unwrap();
        let log = partlog::Log::open_with(dir.path(), quiet()).unwrap();
        let topic = log.create_topic("events", partitions, partlog::TopicConfig::default()).unwrap();
        let ps: Vec<partlog::Partition> = (0..partitions).map(|i| topic.partition(i).unwrap()).collect();
        rate(events.len(), || spread_appends(&ps, &batches))
    };
    let (mut one, mut spread) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        if round % 2 == 0 {
            one.push(run(1));
            spread.push(run(PARTITIONS));
        } else {
            spread.push(run(PARTITIONS));
            one.push(run(1));
        }
    }
    let (one, spread) = (median(one), median(spread));
    println!(
        "appends over {PARTITIONS} partitions: {:.1} M rec/s, one partition {:.1} M/s: {:.2}×  [target ≥ 0.5]",
        spread / 1e6,
        one / 1e6,
        spread / one
    );
    open_many(&batches);
}

fn spread_appends(ps: &[partlog::Partition], batches: &[Vec<partlog::Record<'_>>]) {
    for (i, b) in batches.iter().enumerate() {
        ps[i % ps.len()].append(b).unwrap();
    }
}

fn open_many(batches: &[Vec<partlog::Record<'_>>]) {
    const PARTITIONS: u32 = 1000;
    const ROUNDS: usize = 5;
    let dir = tempfile::tempdir().unwrap();
    {
        let log = partlog::Log::open_with(dir.path(), quiet()).unwrap();
        let topic = log.create_topic("events", PARTITIONS, partlog::TopicConfig::default()).unwrap();
        for i in 0..PARTITIONS {
            let p = topic.partition(i).unwrap();
            for s in 0..10 {
                p.append(&batches[(i as usize * 10 + s) % batches.len()]).unwrap();
                if s < 9 {
                    p.roll().unwrap();
                }
            }
        }
        log.close().unwrap();
    }
    if let Some(pause) = std::env::var_os("LEAD_PAUSE_BEFORE_OPEN") {
        // For attaching a profiler to the opens only.
        std::fs::write(&pause, std::process::id().to_string()).unwrap();
        std::thread::sleep(std::time::Duration::from_secs(3));
    }
    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let log = partlog::Log::open_with(dir.path(), quiet()).unwrap();
        times.push(start.elapsed().as_secs_f64() * 1e3);
        assert_eq!(log.topic("events").unwrap().partition(7).unwrap().segments().len(), 10);
        log.close().unwrap();
    }
    println!("clean open of {PARTITIONS} partitions × 10 segments: median {:.0} ms  [target ≤ 200 ms]", median(times));
}

fn commitlog_append_rate(events: &[Vec<u8>], batch: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let mut log = commitlog::CommitLog::new(commitlog::LogOptions::new(dir.path())).unwrap();
    rate(events.len(), || {
        for chunk in events.chunks(batch) {
            let mut buf: commitlog::message::MessageBuf = chunk.iter().collect();
            log.append(&mut buf).unwrap();
        }
    })
}

/// Another process that writes: `dd` of 12 GB of zeros to a new file, over and over, until
/// dropped (a database, a log shipper or a build writing beside the application).
struct Neighbour {
    shell: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Neighbour {
    fn start() -> Neighbour {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("neighbour");
        let script =
            format!("while :; do dd if=/dev/zero of='{0}' bs=1M count=12000 status=none; rm -f '{0}'; done", file.display());
        let shell = std::process::Command::new("sh").arg("-c").arg(script).process_group(0).spawn().unwrap();
        // Let it get past the kernel's dirty-page thresholds first.
        std::thread::sleep(std::time::Duration::from_secs(3));
        Neighbour { shell, _dir: dir }
    }
}

impl Drop for Neighbour {
    fn drop(&mut self) {
        // The whole process group: the shell and its dd.
        let _ = std::process::Command::new("kill").arg("--").arg(format!("-{}", self.shell.id())).status();
        let _ = self.shell.wait();
    }
}

/// Appends in batches of 100, on the quiet machine and then beside a writing process, against
/// commitlog in the same conditions: rotating rounds, medians.
fn busy(events: &[Vec<u8>]) {
    const ROUNDS: usize = 6;
    for condition in ["quiet", "beside a writing process"] {
        let neighbour = (condition != "quiet").then(Neighbour::start);
        let mut r: [Vec<f64>; 3] = Default::default();
        for round in 0..ROUNDS {
            let mut steps: Vec<Box<dyn FnMut(&mut [Vec<f64>; 3])>> = vec![
                Box::new(|r| r[0].push(partlog_append_rate(events, BATCH))),
                Box::new(|r| r[1].push(partlog_append_rate_with(events, BATCH, quiet().preallocate_in_background(false)))),
                Box::new(|r| r[2].push(commitlog_append_rate(events, BATCH))),
            ];
            steps.rotate_left(round % 3);
            for step in &mut steps {
                step(&mut r);
            }
        }
        drop(neighbour);
        let [partlog, alone, commitlog] = r.map(median);
        println!(
            "append {} × ~90 B in batches of {BATCH}, {condition}: partlog {:.2} M rec/s (without its prefill thread {:.2}), \
             commitlog {:.2} M/s: {:.2}× ({:.2}×)  [target ≥ 1.5 beside a writer, no loss quiet]",
            events.len(),
            partlog / 1e6,
            alone / 1e6,
            commitlog / 1e6,
            partlog / commitlog,
            alone / commitlog
        );
    }
}

/// Several GB appended without a pause (`LEAD_SUSTAINED_GB`, default 8; the kernel starts
/// writing back at `dirty_background_ratio` of memory and throttles writers at `dirty_ratio`),
/// against commitlog over the same bytes; two rounds each, alternating who goes first.
fn sustained(events: &[Vec<u8>]) {
    let gb: f64 = std::env::var("LEAD_SUSTAINED_GB").map_or(8.0, |g| g.parse().unwrap());
    let payload: usize = events.iter().map(Vec::len).sum();
    let passes = ((gb * 1e9) / payload as f64).ceil() as usize;
    let records = passes * events.len();
    let batches: Vec<Vec<partlog::Record<'_>>> =
        events.chunks(BATCH).map(|c| c.iter().map(|v| partlog::Record::new(v)).collect()).collect();
    let ours = || {
        let dir = tempfile::tempdir().unwrap();
        let log = partlog::Log::open_with(dir.path(), quiet()).unwrap();
        let p = log.create_topic("events", 1, partlog::TopicConfig::default()).unwrap().partition(0).unwrap();
        let r = rate(records, || {
            for _ in 0..passes {
                for b in &batches {
                    p.append(b).unwrap();
                }
            }
        });
        assert_eq!(p.log_end_offset(), records as u64);
        r
    };
    let theirs = || {
        let dir = tempfile::tempdir().unwrap();
        let mut log = commitlog::CommitLog::new(commitlog::LogOptions::new(dir.path())).unwrap();
        rate(records, || {
            for _ in 0..passes {
                for chunk in events.chunks(BATCH) {
                    let mut buf: commitlog::message::MessageBuf = chunk.iter().collect();
                    log.append(&mut buf).unwrap();
                }
            }
        })
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for round in 0..2 {
        if round % 2 == 0 {
            a.push(ours());
            b.push(theirs());
        } else {
            b.push(theirs());
            a.push(ours());
        }
    }
    let (a, b) = (median(a), median(b));
    let mb = |r: f64| r * payload as f64 / events.len() as f64 / 1e6;
    println!(
        "sustained append of {:.1} GB ({records} records, batches of {BATCH}): partlog {:.2} M rec/s ({:.0} MB/s of payload), \
         commitlog {:.2} M/s ({:.0} MB/s): {:.2}×  [target ≥ 1]",
        (passes * payload) as f64 / 1e9,
        a / 1e6,
        mb(a),
        b / 1e6,
        mb(b),
        a / b
    );
}

fn profile(which: &str, events: &[Vec<u8>]) {
    let lengths: Vec<usize> = events.iter().map(Vec::len).collect();
    let dir = tempfile::tempdir().unwrap();
    match which {
        "partlog" => {
            let batch = std::env::var("LEAD_BATCH").map_or(BATCH, |n| n.parse().unwrap());
            let mut store = PartlogReader::load(dir.path(), events, batch);
            let reads = std::env::var("LEAD_READS").map_or(200_000, |n| n.parse().unwrap());
            drop(point_reads(&mut store, &lengths, 7, reads))
        }
        "scan" => {
            let dir = tempfile::tempdir().unwrap();
            let (_log, p) = partlog_append(dir.path(), events, BATCH);
            let n = std::env::var("LEAD_ROUNDS").map_or(20, |n| n.parse().unwrap());
            for _ in 0..n {
                std::hint::black_box(partlog_scan(&p));
            }
        }
        "append" => {
            let n = std::env::var("LEAD_ROUNDS").map_or(10, |n| n.parse().unwrap());
            for _ in 0..n {
                std::hint::black_box(partlog_append_rate(events, BATCH));
            }
        }
        "single" => {
            let events = &events[..200_000];
            std::hint::black_box(partlog_append_rate(events, 1));
        }
        "spread" => {
            let batches: Vec<Vec<partlog::Record<'_>>> =
                events.chunks(BATCH).map(|c| c.iter().map(|v| partlog::Record::new(v)).collect()).collect();
            let dir = tempfile::tempdir().unwrap();
            let log = partlog::Log::open_with(dir.path(), quiet()).unwrap();
            let topic = log.create_topic("events", 1000, partlog::TopicConfig::default()).unwrap();
            let ps: Vec<partlog::Partition> = (0..1000).map(|i| topic.partition(i).unwrap()).collect();
            if let Some(pause) = std::env::var_os("LEAD_PAUSE_BEFORE_OPEN") {
                std::fs::write(&pause, std::process::id().to_string()).unwrap();
                std::thread::sleep(std::time::Duration::from_secs(3));
            }
            for _ in 0..5 {
                spread_appends(&ps, &batches);
            }
        }
        "open" => {
            let batches: Vec<Vec<partlog::Record<'_>>> =
                events.chunks(BATCH).map(|c| c.iter().map(|v| partlog::Record::new(v)).collect()).collect();
            open_many(&batches)
        }
        "commitlog" => drop(point_reads(&mut CommitLogReader::load(dir.path(), events, BATCH), &lengths, 7, 200_000)),
        other => panic!("LEAD_PROFILE={other}: partlog or commitlog"),
    }
}

fn main() {
    let events = events(RECORDS);
    if let Ok(which) = std::env::var("LEAD_PROFILE") {
        return profile(&which, &events);
    }
    let only = std::env::var("LEAD").ok();
    let wanted = |name: &str| only.as_deref().is_none_or(|list| list.split(',').any(|n| n == name));
    if wanted("throughput") {
        throughput(&events);
    }
    if wanted("busy") {
        busy(&events);
    }
    if wanted("sustained") {
        sustained(&events);
    }
    if wanted("many") {
        many(&events);
    }
    if wanted("point") {
        point(&events, BATCH);
        point(&events, 10);
    }
}
