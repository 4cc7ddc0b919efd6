//! partlog side by side with the crates a user would otherwise pick, on the same data in the same
//! run: 1M records of ~100 B event JSON appended in batches of 100, then read back in full.
//!
//!     cd benches/peers && cargo bench
//!
//! Durability is the weakest each offers, so the numbers compare the storage paths: partlog with
//! page-cache durability (no fsync), commitlog 0.2 (no flush), ironwal 0.6 (`SyncMode::Async`, no
//! compression), SQLite through rusqlite (bundled, WAL, `synchronous=OFF`, one transaction per
//! batch), and as the physical bounds a buffered file write and an mmap scan of the same bytes.

use std::io::Write;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

mod common;

use common::{BATCH, RECORDS};

fn events() -> Vec<Vec<u8>> {
    common::events(RECORDS)
}

trait Peer {
    const NAME: &'static str;
    fn open(dir: &std::path::Path) -> Self;
    fn append_all(&mut self, events: &[Vec<u8>]);
    /// Reads every record back; returns the bytes of payload seen.
    fn read_all(&mut self) -> usize;
}

/// The `Log` is held so the partition's directory stays open and locked.
struct Partlog(#[allow(dead_code)] partlog::Log, partlog::Partition);

impl Partlog {
    fn open_with(dir: &std::path::Path, options: partlog::LogOptions) -> Self {
        let log = partlog::Log::open_with(dir, options.maintenance_interval_ms(None)).unwrap();
        let p = log.create_topic("events", 1, partlog::TopicConfig::default()).unwrap().partition(0).unwrap();
        Partlog(log, p)
    }
}

impl Peer for Partlog {
    const NAME: &'static str = "partlog";
    fn open(dir: &std::path::Path) -> Self {
        Partlog::open_with(dir, partlog::LogOptions::default())
    }
    fn append_all(&mut self, events: &[Vec<u8>]) {
        for chunk in events.chunks(BATCH) {
            let records: Vec<partlog::Record<'_>> = chunk.iter().map(|v| partlog::Record::new(v)).collect();
            self.1.append(&records).unwrap();
        }
    }
    fn read_all(&mut self) -> usize {
        let mut fetch = partlog::Fetch::new();
        let (mut next, mut bytes) = (0, 0);
        while next < self.1.log_end_offset() {
            self.1.fetch(next, 1 << 20, &mut fetch).unwrap();
            bytes += fetch.records().map(|r| r.unwrap().value().map_or(0, <[u8]>::len)).sum::<usize>();
            next = fetch.next_offset();
        }
        bytes
    }
}

/// partlog without its prefill thread (`preallocate_in_background(false)`): each append
/// zero-fills the file ahead of itself, as on a machine with no core to spare.
struct PartlogOneThread(Partlog);

impl Peer for PartlogOneThread {
    const NAME: &'static str = "partlog-no-prefill-thread";
    fn open(dir: &std::path::Path) -> Self {
        PartlogOneThread(Partlog::open_with(dir, partlog::LogOptions::default().preallocate_in_background(false)))
    }
    fn append_all(&mut self, events: &[Vec<u8>]) {
        self.0.append_all(events)
    }
    fn read_all(&mut self) -> usize {
        self.0.read_all()
    }
}

struct CommitLog(commitlog::CommitLog);

impl Peer for CommitLog {
    const NAME: &'static str = "commitlog";
    fn open(dir: &std::path::Path) -> Self {
        CommitLog(commitlog::CommitLog::new(commitlog::LogOptions::new(dir)).unwrap())
    }
    fn append_all(&mut self, events: &[Vec<u8>]) {
        for chunk in events.chunks(BATCH) {
            let mut buf: commitlog::message::MessageBuf = chunk.iter().collect();
            self.0.append(&mut buf).unwrap();
        }
    }
    fn read_all(&mut self) -> usize {
        use commitlog::message::MessageSet;
        let (mut next, mut bytes) = (0, 0);
        let end = self.0.next_offset();
        while next < end {
            let set = self.0.read(next, commitlog::ReadLimit::max_bytes(1 << 20)).unwrap();
            for m in set.iter() {
                bytes += m.payload().len();
                next = m.offset() + 1;
            }
        }
        bytes
    }
}

struct IronWal(ironwal::Wal);

impl Peer for IronWal {
    const NAME: &'static str = "ironwal";
    fn open(dir: &std::path::Path) -> Self {
        let mut options = ironwal::WalOptions::new(dir);
        options.sync_mode = ironwal::SyncMode::Async;
        options.compression = ironwal::CompressionType::None;
        IronWal(ironwal::Wal::new(options).unwrap())
    }
    fn append_all(&mut self, events: &[Vec<u8>]) {
        for chunk in events.chunks(BATCH) {
            let entries: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
            self.0.append_batch("events", &entries).unwrap();
        }
    }
    fn read_all(&mut self) -> usize {
        self.0.iter("events", 0).unwrap().map(|e| e.unwrap().len()).sum()
    }
}

struct Sqlite(rusqlite::Connection);

impl Peer for Sqlite {
    const NAME: &'static str = "sqlite";
    fn open(dir: &std::path::Path) -> Self {
        let c = rusqlite::Connection::open(dir.join("events.db")).unwrap();
        c.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; CREATE TABLE events (offset INTEGER PRIMARY KEY, value BLOB NOT NULL);").unwrap();
        Sqlite(c)
    }
    fn append_all(&mut self, events: &[Vec<u8>]) {
        let mut offset = 0i64;
        for chunk in events.chunks(BATCH) {
            let tx = self.0.transaction().unwrap();
            {
                let mut insert = tx.prepare_cached("INSERT INTO events (offset, value) VALUES (?1, ?2)").unwrap();
                for v in chunk {
                    insert.execute(rusqlite::params![offset, v]).unwrap();
                    offset += 1;
                }
            }
            tx.commit().unwrap();
        }
    }
    fn read_all(&mut self) -> usize {
        let mut stmt = self.0.prepare_cached("SELECT value FROM events ORDER BY offset").unwrap();
        let mut rows = stmt.query([]).unwrap();
        let mut bytes = 0;
        while let Some(row) = rows.next().unwrap() {
            bytes += row.get_ref(0).unwrap().as_blob().unwrap().len();
        }
        bytes
    }
}

/// The physical bound: the same payloads, length-prefixed, through a buffered file; read back by
/// scanning an mmap of the file.
struct FileBound(std::path::PathBuf);

impl Peer for FileBound {
    const NAME: &'static str = "file-bound";
    fn open(dir: &std::path::Path) -> Self {
        FileBound(dir.join("events.bin"))
    }
    fn append_all(&mut self, events: &[Vec<u8>]) {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&self.0).unwrap());
        for v in events {
            w.write_all(&(v.len() as u32).to_le_bytes()).unwrap();
            w.write_all(v).unwrap();
        }
        w.flush().unwrap();
    }
    fn read_all(&mut self) -> usize {
        let file = std::fs::File::open(&self.0).unwrap();
        let map = unsafe { memmap2::Mmap::map(&file).unwrap() };
        let (mut pos, mut bytes) = (0, 0);
        while pos + 4 <= map.len() {
            let len = u32::from_le_bytes(map[pos..pos + 4].try_into().unwrap()) as usize;
            bytes += map[pos + 4..pos + 4 + len].len();
            pos += 4 + len;
        }
        bytes
    }
}

fn append<P: Peer>(c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, events: &[Vec<u8>]) {
    c.bench_function(P::NAME, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().unwrap();
                let mut peer = P::open(dir.path());
                let start = Instant::now();
                peer.append_all(events);
                total += start.elapsed();
            }
            total
        })
    });
}

fn read<P: Peer>(c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, events: &[Vec<u8>]) {
    let dir = tempfile::tempdir().unwrap();
    let mut peer = P::open(dir.path());
    peer.append_all(events);
    let payload: usize = events.iter().map(Vec::len).sum();
    c.bench_function(P::NAME, |b| b.iter(|| assert_eq!(peer.read_all(), payload)));
}

fn peers(c: &mut Criterion) {
    let events = events();
    let payload: usize = events.iter().map(Vec::len).sum();
    eprintln!("{RECORDS} records, {:.1} bytes each on average", payload as f64 / RECORDS as f64);
    let mut group = c.benchmark_group("append_1M_batches_of_100");
    group.sample_size(10).measurement_time(Duration::from_secs(20)).warm_up_time(Duration::from_secs(2));
    group.throughput(Throughput::Elements(RECORDS as u64));
    append::<Partlog>(&mut group, &events);
    append::<PartlogOneThread>(&mut group, &events);
    append::<CommitLog>(&mut group, &events);
    append::<IronWal>(&mut group, &events);
    append::<Sqlite>(&mut group, &events);
    append::<FileBound>(&mut group, &events);
    group.finish();

    let mut group = c.benchmark_group("read_1M");
    group.sample_size(10).measurement_time(Duration::from_secs(20)).warm_up_time(Duration::from_secs(2));
    group.throughput(Throughput::Elements(RECORDS as u64));
    read::<Partlog>(&mut group, &events);
    read::<CommitLog>(&mut group, &events);
    read::<IronWal>(&mut group, &events);
    read::<Sqlite>(&mut group, &events);
    read::<FileBound>(&mut group, &events);
    group.finish();
}

criterion_group!(benches, peers);
criterion_main!(benches);
