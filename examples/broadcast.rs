//! The payment-result broadcast from the project's notes on Kafka: POS terminals hold long-lived
//! connections to one of several servers, but the payment network answers through a gateway that
//! does not know which. The gateway publishes every result; each server is its own consumer group,
//! so every server receives every result; only the server holding that POS's connection answers
//! it. A result that no server claims within a timeout is an error.
//!
//!     cargo run --example broadcast -- DIR      # DIR defaults to a fresh temp directory

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use partlog::{Consumer, ConsumerConfig, Error, Log, Producer, ProducerConfig, ProducerRecord, TopicConfig};

const SERVERS: usize = 3;
const TERMINALS: u32 = 12;
const PAYMENTS: u32 = 600;
const CLAIM_TIMEOUT: Duration = Duration::from_millis(500);

/// The POS terminal a payment came from: terminal 99 is connected to no server.
fn terminal_of(payment: u32) -> u32 {
    if payment == PAYMENTS / 2 {
        99
    } else {
        payment % TERMINALS
    }
}

fn main() -> Result<(), Error> {
    let dir = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("partlog-broadcast-{}", std::process::id())));
    let log = Log::open(&dir)?;
    if log.topic("payment-results").is_err() {
        log.create_topic("payment-results", 4, TopicConfig::default())?;
    }
    // payment -> (server that answered, time from publish to answer)
    let answered: Arc<Mutex<HashMap<u32, (usize, Duration)>>> = Arc::default();
    let published: Arc<Mutex<HashMap<u32, Instant>>> = Arc::default();
    let received = Arc::new(Mutex::new(vec![0usize; SERVERS]));

    let mut servers = Vec::new();
    for server in 0..SERVERS {
        // Each server is its own group ("latest": only results published from now on).
        // Auto-commit: a result is only worth answering while its POS waits; latency matters
        // more here than redelivery after a crash.
        let config = ConsumerConfig::default().set("group.id", &format!("pos-server-{server}"))?;
        let mut consumer = Consumer::new(&log, config)?;
        consumer.subscribe(&["payment-results"])?;
        consumer.poll(Duration::ZERO)?; // join and take positions at the end before anything is published
        let (answered, published, received) = (answered.clone(), published.clone(), received.clone());
        let wakeup = consumer.wakeup_handle();
        let thread = std::thread::spawn(move || -> Result<(), Error> {
            // The terminals connected to this server.
            let mine = |terminal: u32| terminal != 99 && terminal as usize % SERVERS == server;
            loop {
                let records = match consumer.poll(Duration::from_secs(5)) {
                    Ok(records) => records,
                    Err(Error::Wakeup) => return consumer.close(),
                    Err(e) => return Err(e),
                };
                for r in &records {
                    received.lock().unwrap()[server] += 1;
                    let key = String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).to_string();
                    let payment: u32 =
                        String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).parse().unwrap_or(0);
                    let terminal: u32 = key.trim_start_matches("pos-").parse().unwrap_or(0);
                    if mine(terminal) {
                        // Answer the POS over its connection (here: note who answered, and when).
                        let sent = published.lock().unwrap()[&payment];
                        answered.lock().unwrap().insert(payment, (server, sent.elapsed()));
                    }
                }
            }
        });
        servers.push((thread, wakeup));
    }

    // The gateway publishes each result as the payment network answers.
    let gateway = Producer::new(&log, ProducerConfig::default().set("linger.ms", "0")?)?;
    for payment in 0..PAYMENTS {
        let terminal = terminal_of(payment);
        published.lock().unwrap().insert(payment, Instant::now());
        let record = ProducerRecord::new("payment-results", payment.to_string().into_bytes())
            .key(format!("pos-{terminal}").into_bytes());
        drop(gateway.send(record));
        if payment % 50 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    gateway.flush()?;

    // A result nobody claims within the timeout is an error.
    let deadline = Instant::now() + CLAIM_TIMEOUT;
    while Instant::now() < deadline && answered.lock().unwrap().len() < PAYMENTS as usize - 1 {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(CLAIM_TIMEOUT.saturating_sub(Duration::from_millis(400)));
    for (thread, wakeup) in servers {
        wakeup.wakeup();
        thread.join().expect("server thread")?;
    }

    let answered = answered.lock().unwrap();
    let received = received.lock().unwrap();
    println!(
        "{SERVERS} servers, each its own group, received {:?} of {PAYMENTS} results (every server gets every result)",
        *received
    );
    let mut per_server = vec![0; SERVERS];
    let mut latencies: Vec<Duration> = Vec::new();
    for (server, latency) in answered.values() {
        per_server[*server] += 1;
        latencies.push(*latency);
    }
    latencies.sort();
    let p50 = latencies.get(latencies.len() / 2).copied().unwrap_or_default();
    let p99 = latencies.get(latencies.len() * 99 / 100).copied().unwrap_or_default();
    println!(
        "answered by the server holding the POS connection: {per_server:?} (publish → answer p50 {:.0} µs, p99 {:.0} µs)",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6
    );
    let unclaimed: Vec<u32> = (0..PAYMENTS).filter(|p| !answered.contains_key(p)).collect();
    for p in &unclaimed {
        println!("error: payment {p} for pos-{} was claimed by no server within {CLAIM_TIMEOUT:?}", terminal_of(*p));
    }
    let all_received = received.iter().all(|&n| n == PAYMENTS as usize);
    if unclaimed != [PAYMENTS / 2] || !all_received {
        eprintln!("unexpected outcome");
        std::process::exit(1);
    }
    Ok(())
}
