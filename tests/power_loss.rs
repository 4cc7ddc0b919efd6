//! Power loss, simulated: every write and fsync goes through an `Io` that keeps what was made
//! durable apart from what is only in the page cache, and at a chosen call loses power: the
//! data directory is rebuilt as a disk could hold it then, and reopened; each row of the
//! README's durability table is checked against what was acknowledged.
//!
//! The model of the disk:
//! - A file's durable content is what it held at its last fsync (`Io::sync_data`, which on Linux
//!   also writes back a mapping's dirty pages). Since then, each 4 KiB page that differs may or
//!   may not have reached the disk, independently and in any order, and the file's length is the
//!   durable one or the current one.
//! - A directory's durable entries are what it held at its last fsync (`Io::sync_dir`): after the
//!   loss it holds either those or its current entries (a journaling file system commits a
//!   directory's operations in order, so a rename is never half done). A directory never
//!   fsynced since it was made has no durable entries.
//! - Files and directories are followed by identity (inode and birth time), through renames.
//!
//! Nothing here calls a real fsync: durability is the model's, so the test is fast and counts
//! only what partlog asked for. `PARTLOG_POWER_LOSS_CASES` sets the number of cut points (400 by
//! default).

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use partlog::{Io, Log, LogOptions, Record, TopicConfig};

const PAGE: usize = 4096;

/// A file or directory, across renames: inode number and birth time.
type Id = (u64, i128);

fn id_of(meta: &std::fs::Metadata) -> Id {
    let born = meta.created().expect("birth time (statx)");
    let born = born.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i128).unwrap_or(0);
    (meta.ino(), born)
}

#[derive(Clone, Debug)]
struct Entry {
    name: OsString,
    id: Id,
    dir: bool,
}

fn entries(dir: &Path) -> Vec<Entry> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let meta = std::fs::symlink_metadata(e.path()).unwrap();
        out.push(Entry { name: e.file_name(), id: id_of(&meta), dir: meta.is_dir() });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
}

#[derive(Default)]
struct State {
    calls: u64,
    crash_at: u64,
    crashed: bool,
    /// Durable content of each file, at its last fsync.
    files: HashMap<Id, Vec<u8>>,
    /// Durable entries of each directory, at its last fsync.
    dirs: HashMap<Id, Vec<Entry>>,
}

/// The `Io` that loses power at its `crash_at`-th call, leaving the disk image in `image`.
struct PowerLoss {
    root: PathBuf,
    image: PathBuf,
    seed: u64,
    state: Mutex<State>,
}

impl std::fmt::Debug for PowerLoss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PowerLoss")
    }
}

fn lost() -> io::Error {
    io::Error::other("power lost")
}

impl PowerLoss {
    /// Every call passes through here: counts it, and at the chosen one loses power. `Err`
    /// once the power is gone.
    fn call(&self) -> io::Result<parking_lot::MutexGuard<'_, State>> {
        let mut state = self.state.lock();
        if state.crashed {
            return Err(lost());
        }
        state.calls += 1;
        if state.calls == state.crash_at {
            self.lose_power(&state);
            state.crashed = true;
            return Err(lost());
        }
        Ok(state)
    }

    /// Writes the disk as it could be after a power loss now into `self.image`.
    fn lose_power(&self, state: &State) {
        // What the page cache holds now, by identity.
        let mut current_files: HashMap<Id, Vec<u8>> = HashMap::new();
        let mut current_dirs: HashMap<Id, Vec<Entry>> = HashMap::new();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let list = entries(&dir);
            for e in &list {
                let path = dir.join(&e.name);
                if e.dir {
                    stack.push(path);
                } else {
                    current_files.insert(e.id, std::fs::read(&path).unwrap());
                }
            }
            current_dirs.insert(id_of(&std::fs::metadata(&dir).unwrap()), list);
        }
        let root = id_of(&std::fs::metadata(&self.root).unwrap());
        let mut rng = Rng(self.seed ^ state.crash_at.wrapping_mul(0x2545_f491_4f6c_dd1d));
        std::fs::create_dir_all(&self.image).unwrap();
        build(root, &self.image, state, &current_files, &current_dirs, &mut rng);
    }
}

/// Rebuilds directory `dir` at `out`: its durable entries or its current ones, each file with
/// a mix of durable and current pages.
fn build(
    dir: Id,
    out: &Path,
    state: &State,
    current_files: &HashMap<Id, Vec<u8>>,
    current_dirs: &HashMap<Id, Vec<Entry>>,
    rng: &mut Rng,
) {
    let durable = state.dirs.get(&dir).cloned().unwrap_or_default();
    let list = match current_dirs.get(&dir) {
        Some(current) if rng.coin() => current.clone(),
        _ => durable,
    };
    for e in list {
        let path = out.join(&e.name);
        if e.dir {
            std::fs::create_dir(&path).unwrap();
            build(e.id, &path, state, current_files, current_dirs, rng);
            continue;
        }
        let old = state.files.get(&e.id).map(Vec::as_slice).unwrap_or(&[]);
        let content = match current_files.get(&e.id) {
            None => old.to_vec(),
            Some(new) => {
                let len = if rng.coin() { new.len() } else { old.len() };
                let mut content = vec![0u8; len];
                for start in (0..len).step_by(PAGE) {
                    let end = (start + PAGE).min(len);
                    let source = if rng.coin() { new.as_slice() } else { old };
                    if source.len() > start {
                        let have = source.len().min(end);
                        content[start..have].copy_from_slice(&source[start..have]);
                    }
                }
                content
            }
        };
        std::fs::write(&path, content).unwrap();
    }
}

impl Io for PowerLoss {
    fn write_all_at(&self, file: &File, _path: &Path, buf: &[u8], position: u64) -> io::Result<()> {
        let _state = self.call()?;
        std::os::unix::fs::FileExt::write_all_at(file, buf, position)
    }

    fn write_mapped(&self, dst: &mut [u8], src: &[u8], _path: &Path) -> io::Result<()> {
        let _state = self.call()?;
        dst.copy_from_slice(src);
        Ok(())
    }

    fn sync_data(&self, file: &File, path: &Path) -> io::Result<()> {
        let mut state = self.call()?;
        let meta = file.metadata()?;
        // Read by path (the handle may be write-only): the same file, as the identity shows.
        let content = std::fs::read(path)?;
        assert_eq!(id_of(&std::fs::metadata(path)?), id_of(&meta), "{} moved during its fsync", path.display());
        state.files.insert(id_of(&meta), content);
        Ok(())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut state = self.call()?;
        let id = id_of(&std::fs::metadata(path)?);
        state.dirs.insert(id, entries(path));
        Ok(())
    }
}

/// What the workload was told, per partition: every value written at each offset, and the
/// offsets below which everything must survive.
#[derive(Default, Debug)]
struct Acked {
    written: BTreeMap<u64, Vec<u8>>,
    keys: HashMap<u64, Vec<u8>>,
    /// Every acknowledged append (synchronous topics) or the recovery point the partition
    /// reported after an acknowledged operation.
    durable_end: u64,
}

/// Topics and their `flush.messages`; `keyed` is compacted.
const TOPICS: [(&str, i64); 4] = [("sync", 1), ("every3", 3), ("paged", i64::MAX), ("keyed", 1)];

fn config(flush_messages: i64, compressed: bool) -> TopicConfig {
    let mut c = TopicConfig::default();
    c.min_cleanable_dirty_ratio = 0.0;
    c.flush_messages = flush_messages;
    c.segment_bytes = 2048;
    c.segment_index_bytes = 4096;
    if compressed {
        c.compression_type = partlog::CompressionType::Codec(partlog::Compression::Lz4);
    }
    c
}

/// One run: a seeded workload that loses power at the `crash_at`-th I/O call (or never, past
/// the end), then the checks. Returns the number of I/O calls the run made.
/// A run's directories: `root` (the data directory, empty and durable) and `image` (where the
/// disk is rebuilt at the power loss), with the `Io` that loses power at its `crash_at`-th call
/// and the log options that use it.
struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    image: PathBuf,
    io: Arc<PowerLoss>,
    options: LogOptions,
}

fn setup(seed: u64, crash_at: u64) -> Setup {
    setup_with(seed, crash_at, false)
}

/// `background`: the log runs its prefill thread, and with it the thread that fsyncs segments
/// sealed by rolls inside appends, behind the appends.
fn setup_with(seed: u64, crash_at: u64, background: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let image = dir.path().join("image");
    std::fs::create_dir(&root).unwrap();
    let io = Arc::new(PowerLoss { root: root.clone(), image: image.clone(), seed, state: Mutex::default() });
    {
        let mut state = io.state.lock();
        state.crash_at = crash_at;
        // The empty data directory is durable.
        state.dirs.insert(id_of(&std::fs::metadata(&root).unwrap()), Vec::new());
    }
    let options =
        LogOptions::default().maintenance_interval_ms(None).preallocate_in_background(background).io(io.clone());
    Setup { _dir: dir, root, image, io, options }
}

fn run(seed: u64, crash_at: u64) -> u64 {
    run_with(seed, crash_at, false)
}

fn run_with(seed: u64, crash_at: u64, background: bool) -> u64 {
    let Setup { _dir, root, image, io, options } = setup_with(seed, crash_at, background);
    let mut acked: HashMap<&str, Acked> = HashMap::new();
    let mut extra_topics: BTreeMap<String, bool> = BTreeMap::new(); // name -> exists (acknowledged)
    let mut rng = Rng(seed);
    // Everything up to the first failure: after it the power is gone.
    let _ = (|| -> partlog::Result<()> {
        let log = Log::open_with(&root, options)?;
        for (i, (name, flush)) in TOPICS.iter().enumerate() {
            let mut c = config(*flush, i == 2);
            if *name == "keyed" {
                c.cleanup_policy = partlog::CleanupPolicy::Compact;
            }
            log.create_topic(name, 1, c)?;
            acked.insert(name, Acked::default());
        }
        for step in 0..120u64 {
            let roll = rng.below(100);
            match roll {
                0..=79 => {
                    let (name, flush) = TOPICS[rng.below(4) as usize];
                    let p = log.partition(name, 0)?;
                    let n = 1 + rng.below(4);
                    let values: Vec<Vec<u8>> = (0..n)
                        .map(|i| format!("{name}-{step}-{i}-{}", "x".repeat(rng.below(300) as usize)).into_bytes())
                        .collect();
                    let keys: Vec<Vec<u8>> = (0..n).map(|_| format!("key{}", rng.below(6)).into_bytes()).collect();
                    let records: Vec<Record<'_>> =
                        values.iter().zip(&keys).map(|(v, k)| Record::new(v).with_key(k)).collect();
                    let a = acked.get_mut(name).unwrap();
                    let first = p.log_end_offset();
                    for (k, v) in values.iter().enumerate() {
                        a.written.insert(first + k as u64, v.clone());
                        a.keys.insert(first + k as u64, keys[k].clone());
                    }
                    let info = p.append(&records)?;
                    assert_eq!(info.first_offset, first);
                    if flush == 1 {
                        a.durable_end = p.log_end_offset();
                    }
                    // The row for flush.messages=N: fewer than N acknowledged records above the
                    // recovery point (an append that makes N or more unflushed fsyncs them).
                    if flush > 1 && flush < i64::MAX {
                        let (rp, end) = (p.recovery_point(), p.log_end_offset());
                        assert!(end - rp < flush as u64, "{name}: {} records above the recovery point", end - rp);
                    }
                    a.durable_end = a.durable_end.max(p.recovery_point());
                }
                80..=87 => {
                    let (name, _) = TOPICS[rng.below(4) as usize];
                    let p = log.partition(name, 0)?;
                    p.flush()?;
                    assert_eq!(p.recovery_point(), p.log_end_offset());
                    let a = acked.get_mut(name).unwrap();
                    a.durable_end = a.durable_end.max(p.recovery_point());
                }
                88..=90 => {
                    let (name, _) = TOPICS[rng.below(4) as usize];
                    let p = log.partition(name, 0)?;
                    p.roll()?;
                    // A roll makes what it sealed durable.
                    assert_eq!(p.recovery_point(), p.log_end_offset(), "{name}: after a roll");
                    let a = acked.get_mut(name).unwrap();
                    a.durable_end = a.durable_end.max(p.recovery_point());
                }
                91 => {
                    log.flush()?;
                    for (name, a) in acked.iter_mut() {
                        let p = log.partition(name, 0)?;
                        assert_eq!(p.recovery_point(), p.log_end_offset(), "{name}: after Log::flush");
                        a.durable_end = a.durable_end.max(p.recovery_point());
                    }
                }
                92..=93 => {
                    let p = log.partition("keyed", 0)?;
                    p.compact()?;
                }
                94..=96 => {
                    let name = format!("extra{step}");
                    log.create_topic(&name, 1, config(i64::MAX, false))?;
                    extra_topics.insert(name, true);
                }
                _ => {
                    if let Some((name, _)) = extra_topics.iter().find(|(_, exists)| **exists) {
                        let name = name.clone();
                        // Interrupted, it may or may not have happened.
                        extra_topics.remove(&name);
                        log.delete_topic(&name)?;
                        extra_topics.insert(name, false);
                    }
                }
            }
        }
        log.close()?;
        // A clean close makes everything durable.
        for a in acked.values_mut() {
            a.durable_end = a.written.keys().next_back().map_or(0, |&o| o + 1);
        }
        Ok(())
    })();
    let calls = io.state.lock().calls;
    if !io.state.lock().crashed {
        // No cut point within the run: the power goes right after the clean close.
        let mut state = io.state.lock();
        io.lose_power(&state);
        state.crashed = true;
    }

    // After the power loss.
    let tree = describe(&image);
    let log = Log::open_with(&image, LogOptions::default().maintenance_interval_ms(None))
        .unwrap_or_else(|e| panic!("seed {seed}, power lost at I/O call {crash_at}: reopen failed: {e}\n{tree}"));
    let what =
        format!("seed {seed}, power lost at I/O call {crash_at} (image:\n{tree}recovery: {:?})", log.recovery_report());
    for (name, a) in &acked {
        let p = log.partition(name, 0).unwrap_or_else(|e| panic!("{what}: topic {name} lost: {e}"));
        // Records not yet durable may be lost with their segment's unflushed pages while a later
        // segment's file survived: recovery reports those offsets lost (reads of them fail,
        // located), never serves them, and they must all lie past what was acknowledged durable.
        let end = p.log_end_offset();
        let (mut records, mut lost, mut from) = (Vec::new(), 0, 0);
        while from < end {
            match p.read(from, usize::MAX) {
                Ok(read) if read.is_empty() => break,
                Ok(read) => {
                    from = read.last().map_or(end, |r| r.offset + 1);
                    records.extend(read);
                }
                Err(partlog::Error::OffsetsLost { from: lost_from, to, .. }) if lost_from >= from && to > lost_from => {
                    assert!(
                        lost_from >= a.durable_end,
                        "{what}: {name} lost acknowledged durable offsets {lost_from}..{to} (durable up to {})",
                        a.durable_end
                    );
                    lost += to - lost_from;
                    from = to;
                }
                Err(e) => panic!("{what}: {name}: {e}"),
            }
        }
        for r in &records {
            assert_eq!(
                Some(r.value.as_deref().unwrap()),
                a.written.get(&r.offset).map(Vec::as_slice),
                "{what}: {name} serves a record at an offset it was not written at"
            );
        }
        assert!(
            end >= a.durable_end,
            "{what}: {name} lost acknowledged durable records: log ends at {end}, durable up to {}",
            a.durable_end
        );
        if *name == "keyed" {
            // Compacted: each key's latest durable value, or a later one, is there.
            let mut latest: HashMap<&[u8], u64> = HashMap::new();
            for (o, _) in a.written.range(..a.durable_end) {
                latest.insert(&a.keys[o], *o);
            }
            for (key, offset) in latest {
                assert!(
                    records.iter().any(|r| r.key.as_deref() == Some(key) && r.offset >= offset),
                    "{what}: keyed lost key {:?} (latest durable at {offset})",
                    String::from_utf8_lossy(key)
                );
            }
        } else {
            assert_eq!(records.len() as u64 + lost, end, "{what}: {name}: offsets from 0 are dense, or reported lost");
        }
        // Appends go on after what survived, never below what was acknowledged as durable.
        let next = p.append(&[Record::new(b"after").with_key(b"after")]).unwrap().first_offset;
        assert_eq!(next, end, "{what}: {name}");
    }
    for (name, exists) in &extra_topics {
        if *exists {
            log.topic(name).unwrap_or_else(|e| panic!("{what}: created topic {name} lost: {e}"));
        } else {
            assert!(log.topic(name).is_err(), "{what}: deleted topic {name} came back");
        }
    }
    log.close().unwrap();
    calls
}

/// The image's files and sizes, for failure messages.
fn describe(dir: &Path) -> String {
    let mut out = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in entries(&d) {
            let path = d.join(&e.name);
            if e.dir {
                stack.push(path);
            } else {
                let len = std::fs::metadata(&path).unwrap().len();
                out += &format!("  {} {len}\n", path.strip_prefix(dir).unwrap().display());
            }
        }
    }
    out
}

#[test]
fn power_loss_at_any_io_call_keeps_what_the_durability_table_promises() {
    let cases: u64 = std::env::var("PARTLOG_POWER_LOSS_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(400);
    let seeds = 12;
    for seed in 0..seeds {
        // The run without a power loss counts the calls; the cut points spread over them.
        let calls = run(seed, u64::MAX);
        assert!(calls > 50, "the workload does I/O ({calls} calls)");
        let per_seed = cases.div_ceil(seeds);
        let mut rng = Rng(seed.wrapping_mul(7919));
        for _ in 0..per_seed {
            run(seed, 1 + rng.below(calls));
        }
    }
}

/// The same with the log's background threads: segments sealed by rolls inside appends are
/// fsynced behind the appends, and the recovery point passes each only once it is durable; the
/// I/O calls of those threads interleave with the appender's, so each cut point lands somewhere
/// else from run to run.
#[test]
fn power_loss_with_rolled_segments_fsynced_behind_the_appends() {
    let cases: u64 = std::env::var("PARTLOG_POWER_LOSS_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(400) / 2;
    let seeds = 8;
    for seed in 0..seeds {
        let calls = run_with(seed, u64::MAX, true);
        let per_seed = cases.div_ceil(seeds);
        let mut rng = Rng(seed.wrapping_mul(104_729));
        for _ in 0..per_seed {
            run_with(seed, 1 + rng.below(calls), true);
        }
    }
}

/// A consumer group on a page-cache topic, committing after every poll, loses power at the
/// `crash_at`-th I/O call. Whatever survives, the committed offset never lies past the
/// recovered log end, and a member resumed after new appends reads every one of them (issue
/// 24: the commit was fsynced but not the data below it, and the group skipped new records).
fn run_commits(seed: u64, crash_at: u64) -> u64 {
    use partlog::{CommitMode, Consumer, ConsumerConfig, TopicPartition};
    let Setup { _dir, root, image, io, options } = setup(seed, crash_at);
    let group = || {
        ConsumerConfig::default()
            .set("group.id", "g")
            .unwrap()
            .set("auto.offset.reset", "earliest")
            .unwrap()
            .set("enable.auto.commit", "false")
            .unwrap()
    };
    let mut rng = Rng(seed);
    let _ = (|| -> partlog::Result<()> {
        let log = Log::open_with(&root, options)?;
        let mut c = config(i64::MAX, false); // the default: the page cache only
        c.segment_bytes = 1 << 20;
        let p = log.create_topic("paged", 1, c)?.partition(0)?;
        let mut consumer = Consumer::new(&log, group())?;
        consumer.subscribe(&["paged"])?;
        for step in 0..30u64 {
            let n = 1 + rng.below(5);
            let values: Vec<Vec<u8>> = (0..n).map(|i| format!("before-{step}-{i}").into_bytes()).collect();
            p.append(&values.iter().map(|v| Record::new(v)).collect::<Vec<_>>())?;
            consumer.poll(std::time::Duration::from_millis(1))?;
            match rng.below(3) {
                0 => consumer.commit_offsets(&[], CommitMode::Sync)?,
                1 => consumer.commit_async(|_| {}),
                _ => consumer.commit_sync()?,
            }
        }
        consumer.close()?;
        log.simulate_crash();
        Ok(())
    })();
    let calls = io.state.lock().calls;
    let from = if io.state.lock().crashed { image } else { root };
    let what = format!("seed {seed}, power lost at I/O call {crash_at}");
    let log = Log::open(&from).unwrap_or_else(|e| panic!("{what}: reopen failed: {e}"));
    let Ok(p) = log.partition("paged", 0) else { return calls }; // the topic itself was not durable
    let end = p.log_end_offset();
    let tp = TopicPartition::new("paged", 0);
    let mut consumer = Consumer::new(&log, group()).unwrap();
    let committed = consumer.committed(std::slice::from_ref(&tp)).unwrap()[0].as_ref().map_or(0, |c| c.offset);
    assert!(committed <= end, "{what}: committed offset {committed} past the recovered log end {end}");
    let after: Vec<Vec<u8>> = (0..3).map(|i| format!("after-{i}").into_bytes()).collect();
    p.append(&after.iter().map(|v| Record::new(v)).collect::<Vec<_>>()).unwrap();
    consumer.subscribe(&["paged"]).unwrap();
    let mut read = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while read.iter().filter(|v: &&Vec<u8>| v.starts_with(b"after")).count() < 3 {
        assert!(std::time::Instant::now() < deadline, "{what}: the resumed member never read the new records");
        read.extend(consumer.poll(std::time::Duration::from_millis(50)).unwrap().into_iter().filter_map(|r| r.value));
    }
    assert_eq!(read.iter().filter(|v| v.starts_with(b"after")).cloned().collect::<Vec<_>>(), after, "{what}");
    drop(consumer);
    log.close().unwrap();
    calls
}

#[test]
fn power_loss_never_leaves_a_committed_offset_past_the_data() {
    // Each run creates `__consumer_offsets` (50 partitions): a twenty-fifth of the cases above.
    let cases: u64 = std::env::var("PARTLOG_POWER_LOSS_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(400) / 25;
    let seeds = 4;
    for seed in 0..seeds {
        let calls = run_commits(seed, u64::MAX);
        assert!(calls > 20, "the workload does I/O ({calls} calls)");
        let mut rng = Rng(seed.wrapping_mul(104_729));
        for _ in 0..cases.div_ceil(seeds) {
            run_commits(seed, 1 + rng.below(calls));
        }
    }
}
