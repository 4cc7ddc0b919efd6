#![cfg(unix)]
//! A Kafka broker locks its `log.dir` with `FileChannel.tryLock`, a POSIX record lock (`fcntl`),
//! which on Linux does not see partlog's `flock` lock. partlog takes a record lock too: a
//! directory another process holds that way (a running broker) does not open. (Its own test
//! binary: it runs itself as the process holding the lock.)

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

const HOLD: &str = "PARTLOG_TEST_HOLD_RECORD_LOCK";

/// Not a test of its own: the process `another_process_holding_a_record_lock_keeps_the_log_closed`
/// starts. Takes an `fcntl` write lock on the file `$PARTLOG_TEST_HOLD_RECORD_LOCK`, as the JVM's
/// `FileChannel.tryLock` does, says "locked" and holds it until its standard input closes.
#[test]
#[ignore = "run by another_process_holding_a_record_lock_keeps_the_log_closed"]
fn hold_record_lock() {
    use std::os::unix::io::AsRawFd;
    let Some(path) = std::env::var_os(HOLD) else { return };
    let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).unwrap();
    // SAFETY: all-zero is a valid `flock` (integers only); the fields used are set below.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as _;
    lock.l_whence = libc::SEEK_SET as _;
    // SAFETY: `file`'s descriptor is open for the call; `lock` is initialised and outlives it.
    assert_eq!(unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &lock as *const libc::flock) }, 0);
    println!("locked");
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
}

#[test]
fn another_process_holding_a_record_lock_keeps_the_log_closed() {
    let dir = tempfile::tempdir().unwrap();
    let mut holder = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "hold_record_lock", "--nocapture", "--test-threads=1"])
        .env(HOLD, dir.path().join(".lock"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(holder.stdout.take().unwrap());
    // The harness prints "test hold_record_lock ... " before the test's own "locked".
    let locked = stdout.by_ref().lines().map(Result::unwrap).any(|line| line.ends_with("locked"));
    assert!(locked, "the holder took the lock");

    match partlog::Log::open(dir.path()) {
        Err(partlog::Error::DirectoryLocked { holder, .. }) => {
            assert!(holder.contains("another process"), "{holder}")
        }
        other => panic!("opened a directory another process holds: {other:?}"),
    }
    drop(holder.stdin.take()); // the holder exits, and its lock with it
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap(); // its harness's last words, so it can write them
    assert!(holder.wait().unwrap().success(), "{rest}");
    let log = partlog::Log::open(dir.path()).unwrap();
    log.close().unwrap();
}

const TRY: &str = "PARTLOG_TEST_TRY_RECORD_LOCK";

/// Not a test of its own: run by `a_refused_second_open_keeps_the_record_lock`. Tries to take
/// an `fcntl` write lock on `$PARTLOG_TEST_TRY_RECORD_LOCK`, as a starting broker would, and
/// prints "free" or "held".
#[test]
#[ignore = "run by a_refused_second_open_keeps_the_record_lock"]
fn try_record_lock() {
    use std::os::unix::io::AsRawFd;
    let Some(path) = std::env::var_os(TRY) else { return };
    let file = std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap();
    // SAFETY: all-zero is a valid `flock` (integers only); the fields used are set below.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as _;
    lock.l_whence = libc::SEEK_SET as _;
    // SAFETY: `file`'s descriptor is open for the call; `lock` is initialised and outlives it.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &lock as *const libc::flock) };
    println!("{}", if rc == 0 { "free" } else { "held" });
}

fn record_lock_state(path: &std::path::Path) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "try_record_lock", "--nocapture", "--test-threads=1"])
        .env(TRY, path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if text.contains("held") {
        "held".into()
    } else if text.contains("free") {
        "free".into()
    } else {
        panic!("the child said neither: {text}")
    }
}

/// A record lock belongs to the process and goes when any of its descriptors of the file is
/// closed: a second open of a directory this process holds is refused without touching its
/// `.lock`, so a broker still cannot start on it. `Log::close` releases it, clients alive or not.
#[test]
fn a_refused_second_open_keeps_the_record_lock_and_close_releases_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = partlog::Log::open(dir.path()).unwrap();
    log.create_topic("t", 1, partlog::TopicConfig::default()).unwrap();
    let lock = dir.path().join(".lock");
    assert_eq!(record_lock_state(&lock), "held");
    assert!(matches!(partlog::Log::open(dir.path()), Err(partlog::Error::DirectoryLocked { .. })));
    assert_eq!(record_lock_state(&lock), "held", "a refused second open dropped the lock against a broker");
    let producer = partlog::Producer::new(&log, partlog::ProducerConfig::default()).unwrap();
    let mut consumer = partlog::Consumer::new(&log, partlog::ConsumerConfig::default()).unwrap();
    consumer.assign(&[partlog::TopicPartition::new("t", 0)]).unwrap();
    log.clone().close().unwrap();
    assert_eq!(record_lock_state(&lock), "free", "close left the directory locked");
    assert!(matches!(consumer.poll(std::time::Duration::ZERO), Err(partlog::Error::Closed { .. })));
    let sent = producer.send(partlog::ProducerRecord::new("t", b"late".to_vec()));
    let failed = sent.wait().expect_err("a send to a closed log fails");
    assert!(matches!(*failed.error, partlog::Error::Closed { .. }), "typed: {:?}", failed.error);
    let again = partlog::Log::open(dir.path()).unwrap();
    assert_eq!(again.partition("t", 0).unwrap().log_end_offset(), 0);
    drop((producer, consumer, log));
    again.close().unwrap();
}
