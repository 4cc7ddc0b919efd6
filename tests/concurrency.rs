//! Appenders and readers together: offsets stay dense, every batch is whole and intact, readers
//! blocked in `wait_for` are woken by appends, nothing deadlocks. The soak runs for
//! `PARTLOG_SOAK_SECS` seconds (default 3) while another thread flushes and rolls.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use partlog::{Fetch, Log, Record, TopicConfig};

const WRITERS: u64 = 4;

/// Each record's value names its writer, the writer's batch and the record's place in it, so a
/// reader can check that every batch it sees is complete and in one piece.
fn value(writer: u64, batch: u64, i: u64, n: u64) -> Vec<u8> {
    format!("{writer}:{batch}:{i}:{n}:{}", "x".repeat((batch % 7 * 13) as usize)).into_bytes()
}

#[test]
fn concurrent_appenders_and_readers_see_dense_whole_batches() {
    let soak = Duration::from_secs(std::env::var("PARTLOG_SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(3));
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let mut config = TopicConfig::default();
    config.segment_bytes = 64 * 1024; // many rolls while readers read
    config.flush_messages = 50; // some appends fsync, sharing with the flusher thread
    let p = log.create_topic("c", 1, config).unwrap().partition(0).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let writing_until = Instant::now() + soak;
    let deadline = writing_until + Duration::from_secs(120);

    let flusher = {
        let p = p.clone();
        std::thread::spawn(move || {
            let mut rounds = 0u64;
            while Instant::now() < writing_until {
                p.flush().unwrap();
                if rounds.is_multiple_of(3) {
                    p.roll().unwrap();
                }
                rounds += 1;
                std::thread::sleep(Duration::from_millis(7));
            }
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let p = p.clone();
            std::thread::spawn(move || {
                let mut last = None;
                let mut batches = Vec::new();
                for b in 0.. {
                    if Instant::now() >= writing_until {
                        break;
                    }
                    let n = 1 + (b * 7 + w) % 9;
                    let values: Vec<Vec<u8>> = (0..n).map(|i| value(w, b, i, n)).collect();
                    let records: Vec<Record<'_>> = values.iter().map(|v| Record::new(v)).collect();
                    let info = p.append(&records).unwrap();
                    assert_eq!(info.last_offset - info.first_offset + 1, n);
                    if let Some(prev) = last {
                        assert!(info.first_offset > prev, "a writer's own batches get increasing offsets");
                    }
                    last = Some(info.last_offset);
                    batches.push(n);
                }
                batches.iter().sum::<u64>()
            })
        })
        .collect();

    // Readers scan from the start in fetches of varying sizes, following the tail with wait_for.
    let readers: Vec<_> = (0..3)
        .map(|r| {
            let p = p.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let mut fetch = Fetch::new();
                let mut next = 0u64;
                let mut seen = 0u64;
                let mut per_writer = [None::<u64>; WRITERS as usize];
                loop {
                    if next == p.log_end_offset() {
                        if done.load(Ordering::Acquire) && next == p.log_end_offset() {
                            break;
                        }
                        p.wait_for(next, Duration::from_millis(50)).unwrap();
                        assert!(Instant::now() < deadline, "reader {r} stalled");
                        continue;
                    }
                    p.fetch(next, 200 + (seen as usize % 5000), &mut fetch).unwrap();
                    let mut expect_in_batch: Option<(u64, u64, u64, u64)> = None;
                    for rec in fetch.records() {
                        let rec = rec.unwrap();
                        assert_eq!(rec.offset(), next, "offsets are dense");
                        let text = std::str::from_utf8(rec.value().unwrap()).unwrap();
                        let f: Vec<u64> = text.split(':').take(4).map(|x| x.parse().unwrap()).collect();
                        let (w, b, i, n) = (f[0], f[1], f[2], f[3]);
                        match expect_in_batch {
                            Some((ew, eb, ei, en)) => {
                                assert_eq!((w, b, i, n), (ew, eb, ei, en), "records of a batch stay together")
                            }
                            None => {
                                assert_eq!(i, 0, "a batch is never seen from its middle");
                                let prev = per_writer[w as usize].replace(b);
                                assert!(prev.is_none_or(|p| p < b), "a writer's batches in order");
                            }
                        }
                        expect_in_batch = (i + 1 < n).then_some((w, b, i + 1, n));
                        next += 1;
                        seen += 1;
                    }
                    assert!(expect_in_batch.is_none(), "a fetch ends on a batch boundary");
                    // Regression: a fetch that met a roll reported a next offset past batches
                    // it had not returned (the segment's size was read before the roll sealed
                    // more appends into it); a consumer moving to it skipped them.
                    assert_eq!(fetch.next_offset(), next, "a fetch never steps over batches it did not return");
                }
                seen
            })
        })
        .collect();

    let total: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    flusher.join().unwrap();
    done.store(true, Ordering::Release);
    assert_eq!(p.log_end_offset(), total);
    for r in readers {
        assert_eq!(r.join().unwrap(), total, "every reader saw every record");
    }
    assert!(p.segments().len() > 3, "segments rolled while readers read");
}

#[test]
fn a_blocked_reader_is_woken_by_the_append_not_by_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let p = log.create_topic("w", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    for round in 0..50u64 {
        let waiter = {
            let p = p.clone();
            std::thread::spawn(move || {
                let start = Instant::now();
                assert!(p.wait_for(round, Duration::from_secs(30)).unwrap());
                start.elapsed()
            })
        };
        std::thread::sleep(Duration::from_millis(2));
        p.append(&[Record::new(b"tick")]).unwrap();
        let waited = waiter.join().unwrap();
        assert!(waited < Duration::from_secs(10), "round {round}: woken after {waited:?}");
    }
}

#[test]
fn closing_the_log_wakes_waiters_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let p = log.create_topic("w", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    let waiter = {
        let p = p.clone();
        std::thread::spawn(move || p.wait_for(0, Duration::from_secs(30)))
    };
    std::thread::sleep(Duration::from_millis(20));
    let start = Instant::now();
    log.close().unwrap();
    assert!(matches!(waiter.join().unwrap(), Err(partlog::Error::Closed { .. })));
    assert!(start.elapsed() < Duration::from_secs(10));
}

/// Regression: `wait_for(0, Duration::MAX)` panicked ("overflow when adding duration to
/// instant"). A timeout too long to represent waits without one: until the append, or the close.
#[test]
fn waiting_without_a_representable_deadline_ends_at_the_append_or_the_close() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let p = log.create_topic("w", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    let waiter = {
        let p = p.clone();
        std::thread::spawn(move || p.wait_for(0, Duration::MAX))
    };
    std::thread::sleep(Duration::from_millis(20));
    p.append(&[Record::new(b"tick")]).unwrap();
    assert!(waiter.join().unwrap().unwrap());

    let waiter = {
        let p = p.clone();
        std::thread::spawn(move || p.wait_for(1, Duration::MAX))
    };
    std::thread::sleep(Duration::from_millis(20));
    log.close().unwrap();
    assert!(matches!(waiter.join().unwrap(), Err(partlog::Error::Closed { .. })));
}

/// `wait_for_spinning`: woken by an append during the spin and after it (parked), false at its
/// timeout, `Closed` when the log closes while it spins or parks, and no overflow at
/// `Duration::MAX`.
#[test]
fn a_spinning_waiter_sees_appends_timeouts_and_the_close() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let p = log.create_topic("w", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    let spin_then_wait = |offset: u64, spin: Duration, timeout: Duration| {
        let p = p.clone();
        std::thread::spawn(move || p.wait_for_spinning(offset, spin, timeout))
    };
    // Appended during a long spin, then after a short one (the waiter is parked by then).
    for (offset, spin) in [(0u64, Duration::from_secs(30)), (1, Duration::from_micros(1))] {
        let waiter = spin_then_wait(offset, spin, Duration::MAX);
        std::thread::sleep(Duration::from_millis(20));
        p.append(&[Record::new(b"tick")]).unwrap();
        assert!(waiter.join().unwrap().unwrap(), "offset {offset}");
    }
    // Already there; and a timeout shorter than the spin ends the wait at the timeout.
    assert!(p.wait_for_spinning(1, Duration::from_secs(30), Duration::ZERO).unwrap());
    let start = Instant::now();
    assert!(!p.wait_for_spinning(2, Duration::from_secs(30), Duration::from_millis(20)).unwrap());
    assert!(start.elapsed() < Duration::from_secs(10));
    // Closed while spinning, and while parked.
    let spinning = spin_then_wait(2, Duration::from_secs(30), Duration::from_secs(30));
    let parked = spin_then_wait(2, Duration::ZERO, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(20));
    log.close().unwrap();
    assert!(matches!(spinning.join().unwrap(), Err(partlog::Error::Closed { .. })));
    assert!(matches!(parked.join().unwrap(), Err(partlog::Error::Closed { .. })));
}
