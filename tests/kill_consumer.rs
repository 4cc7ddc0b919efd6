//! At-least-once under SIGKILL. A child process runs two consumers of group `g` (one thread
//! each) over a 4-partition topic; each prints every record it processed, then commits
//! synchronously after each poll. This process kills the child at random moments and starts
//! another on the same directory, until a child finds nothing left to consume. Then every record
//! must have been processed at least once (none skipped, whatever the kills hit: a poll, a
//! commit's append or its fsync, a rebalance, the reopen's replay of `__consumer_offsets`), and
//! the last committed offsets must be the log end offsets.
//!
//! 20 kills by default; `PARTLOG_KILL_CONSUMER_POINTS=200 cargo test --test kill_consumer`.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use partlog::{Admin, Consumer, ConsumerConfig, Log, LogOptions, Record, TopicConfig};

const PARTITIONS: u32 = 4;
const PER_PARTITION: u64 = 10000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(Path::new(&args[i + 1]));
        return;
    }
    parent();
}

fn child(dir: &Path) {
    let log = Log::open_with(dir, LogOptions::default().maintenance_interval_ms(None)).unwrap();
    let threads: Vec<_> = (0..2)
        .map(|i| {
            let log = log.clone();
            std::thread::spawn(move || {
                let config = ConsumerConfig::default()
                    .set("group.id", "g")
                    .unwrap()
                    .set("client.id", &format!("c{i}"))
                    .unwrap()
                    .set("enable.auto.commit", "false")
                    .unwrap()
                    .set("auto.offset.reset", "earliest")
                    .unwrap()
                    .set("max.poll.records", "37")
                    .unwrap();
                let mut c = Consumer::new(&log, config).unwrap();
                c.subscribe(&["t"]).unwrap();
                let mut idle = 0;
                while idle < 5 {
                    let records = c.poll(Duration::from_millis(20)).unwrap();
                    if records.is_empty() {
                        idle += 1;
                        continue;
                    }
                    idle = 0;
                    let mut out = String::new();
                    for r in &records {
                        out.push_str(&format!("processed {} {}\n", r.partition, r.offset));
                    }
                    print!("{out}");
                    // Slow enough processing that kills land in every phase.
                    std::thread::sleep(Duration::from_micros(300));
                    match c.commit_sync() {
                        Ok(()) => {}
                        // A rebalance moved partitions: their records are read again elsewhere.
                        Err(partlog::Error::CommitFailed { .. } | partlog::Error::RebalanceInProgress { .. }) => {}
                        Err(e) => panic!("commit: {e}"),
                    }
                }
                c.close().unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    println!("done");
}

fn parent() {
    let kills: usize = std::env::var("PARTLOG_KILL_CONSUMER_POINTS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    {
        let log = Log::open(dir.path()).unwrap();
        let topic = log.create_topic("t", PARTITIONS, TopicConfig::default()).unwrap();
        for p in 0..PARTITIONS {
            let values: Vec<Vec<u8>> = (0..PER_PARTITION).map(|o| format!("{p}:{o}").into_bytes()).collect();
            for chunk in values.chunks(100) {
                let records: Vec<Record<'_>> = chunk.iter().map(|v| Record::new(v)).collect();
                topic.partition(p).unwrap().append(&records).unwrap();
            }
        }
        log.close().unwrap();
    }
    let exe = std::env::current_exe().unwrap();
    let mut processed: HashSet<(u32, u64)> = HashSet::new();
    let mut total = 0usize;
    let mut state = 0x9e3779b97f4a7c15u64;
    let mut killed = 0;
    let started = Instant::now();
    let mut finished = false;
    for round in 0..kills + 50 {
        let mut child =
            Command::new(&exe).args(["--child", dir.path().to_str().unwrap()]).stdout(Stdio::piped()).spawn().unwrap();
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        // Kill after a random number of processed lines (the last rounds run to the end).
        let kill_after = if killed < kills { 1 + (state >> 33) % 1200 } else { u64::MAX };
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut lines = 0u64;
        let mut done = false;
        let mut was_killed = false;
        // Read to the end even after the kill: what the child printed before it died (still
        // in the pipe) was processed, and may have been committed.
        for line in stdout.lines() {
            let Ok(line) = line else { break };
            if line == "done" {
                done = true;
                continue;
            }
            let mut parts = line.split(' ').skip(1);
            let (Some(p), Some(o)) = (parts.next(), parts.next()) else { continue };
            processed.insert((p.parse().unwrap(), o.parse().unwrap()));
            total += 1;
            lines += 1;
            if lines == kill_after {
                child.kill().unwrap();
                killed += 1;
                was_killed = true;
            }
        }
        let status = child.wait().unwrap();
        if done && !was_killed {
            assert!(status.success(), "round {round}: the child failed: {status}");
            finished = true;
            break;
        }
        assert!(was_killed, "round {round}: the child died by itself: {status}");
    }
    assert!(finished, "no child ever finished");
    let expected = PARTITIONS as usize * PER_PARTITION as usize;
    let missing: Vec<_> = (0..PARTITIONS)
        .flat_map(|p| (0..PER_PARTITION).map(move |o| (p, o)))
        .filter(|k| !processed.contains(k))
        .take(10)
        .collect();
    assert!(missing.is_empty(), "records never processed (skipped): {missing:?}");
    let log = Log::open(dir.path()).unwrap();
    let offsets = Admin::new(&log).list_group_offsets("g").unwrap();
    assert_eq!(offsets.len(), PARTITIONS as usize);
    assert!(offsets.iter().all(|(_, o)| o.offset == PER_PARTITION), "{offsets:?}");
    println!(
        "kill_consumer: {killed} kills, {expected} records all processed at least once \
         ({} processings, {:.1}% again), in {:.1} s",
        total,
        100.0 * (total - expected) as f64 / expected as f64,
        started.elapsed().as_secs_f64()
    );
}
