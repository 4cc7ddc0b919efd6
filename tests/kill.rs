//! Kill test. A child process appends and prints each acknowledged offset range: on even rounds
//! to topic `k` with synchronous durability (`flush.messages=1`, positioned writes and fsyncs), on
//! odd rounds to topic `m` with page-cache durability (appends copied into the memory-mapped
//! active segment), which a killed process must not lose either, since the kernel keeps its page
//! cache; this process SIGKILLs it at random moments, reopens
//! the log (recovery), and checks that every acknowledged record is present and intact, that
//! offsets are dense and that no corrupt batch is served. Then the next child continues on the
//! same directory, so every round also recovers what the previous kill left.
//!
//! 50 kill points by default; `PARTLOG_KILL_POINTS=5000 cargo test --test kill` for more.
//! While a child runs, opening the same directory from this process must fail (the lock).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use partlog::{Log, LogOptions, Record, TopicConfig};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(Path::new(&args[i + 1]), &args[i + 2], args[i + 3].parse().unwrap());
        return;
    }
    parent();
}

/// Value of the record at `offset`: names its offset, so misplaced or altered records show.
fn value(offset: u64) -> Vec<u8> {
    let mut v = format!("offset={offset};").into_bytes();
    v.resize(20 + (offset % 200) as usize, b'a' + (offset % 26) as u8);
    v
}

fn child(dir: &Path, name: &str, seed: u64) {
    let log = Log::open_with(dir, LogOptions::default().maintenance_interval_ms(None)).unwrap();
    let topic = match log.topic(name) {
        Ok(t) => t,
        Err(_) => {
            let mut config = TopicConfig::default();
            if name == "k" {
                config.flush_messages = 1; // synchronous: acknowledged means fsynced
            }
            config.segment_bytes = 16 * 1024; // frequent rolls
            config.index_interval_bytes = 512;
            log.create_topic(name, 1, config).unwrap()
        }
    };
    let p = topic.partition(0).unwrap();
    let mut next = p.log_end_offset();
    println!("start {next}");
    let mut state = seed | 1;
    loop {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let n = 1 + (state >> 60);
        let values: Vec<Vec<u8>> = (next..next + n).map(value).collect();
        let records: Vec<Record<'_>> = values.iter().map(|v| Record::new(v)).collect();
        let info = p.append(&records).unwrap();
        assert_eq!(info.first_offset, next);
        println!("ack {} {}", info.first_offset, info.last_offset);
        next = info.last_offset + 1;
    }
}

fn parent() {
    let kill_points: u64 = std::env::var("PARTLOG_KILL_POINTS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    // Per topic (k, m): one past the highest acknowledged offset.
    let mut acknowledged = [0u64; 2];
    let mut rng = 0x1234_5678_u64;
    let started = Instant::now();
    for round in 0..kill_points {
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let (name, acknowledged_end) =
            if round % 2 == 0 { ("k", &mut acknowledged[0]) } else { ("m", &mut acknowledged[1]) };
        let acknowledged_end_before = *acknowledged_end;
        let mut child = Command::new(&exe)
            .arg("--child")
            .arg(dir.path())
            .arg(name)
            .arg(rng.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                // A line cut by the kill is not an acknowledgement.
                if line.ends_with('\n') {
                    let _ = tx.send(line.trim_end().to_owned());
                }
                line.clear();
            }
        });
        let first = rx.recv_timeout(Duration::from_secs(60)).expect("the child starts");
        let start: u64 = first.strip_prefix("start ").unwrap().parse().unwrap();
        assert!(
            start >= acknowledged_end_before,
            "round {round}: child resumed at {start}, below acknowledged {acknowledged_end_before}"
        );
        if round == 0 {
            let err = Log::open(dir.path()).expect_err("the directory is locked by the child");
            assert!(err.to_string().contains("another Log"), "{err}");
        }
        std::thread::sleep(Duration::from_micros(500 + (rng >> 40) % 40_000));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        for line in rx.try_iter() {
            let last: u64 = line.strip_prefix("ack ").unwrap().split(' ').nth(1).unwrap().parse().unwrap();
            *acknowledged_end = (*acknowledged_end).max(last + 1);
        }
        let acknowledged_end = *acknowledged_end;

        let log = Log::open_with(dir.path(), LogOptions::default().maintenance_interval_ms(None)).unwrap();
        let p = log.partition(name, 0).unwrap();
        assert!(p.log_end_offset() >= acknowledged_end, "round {round}: lost acknowledged records");
        // What this child wrote every round; everything every 25 rounds and at the end.
        let whole = round % 25 == 24 || round + 1 == kill_points;
        if whole {
            p.verify().unwrap();
        }
        let mut next = if whole { p.log_start_offset() } else { start };
        while next < p.log_end_offset() {
            let records = p.read(next, 1 << 20).unwrap();
            for r in &records {
                assert_eq!(r.offset, next, "round {round}: offsets are dense");
                assert_eq!(r.value.as_deref(), Some(&value(next)[..]), "round {round}: record {next} intact");
                next += 1;
            }
        }
        // Leave it as a crash would, so the next child recovers too.
        log.simulate_crash();
    }
    println!(
        "kill test: {kill_points} kill points, {} acknowledged records synchronous and {} in the page cache, all present ({:.1}s)",
        acknowledged[0],
        acknowledged[1],
        started.elapsed().as_secs_f64()
    );
}
