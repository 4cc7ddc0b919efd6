//! Kafka's client half, in-process: producer threads send payments to a six-partition topic; a
//! group of three consumers shares the partitions, commits after processing, and one of them
//! leaves mid-run, so that the others take over its partitions. Every record is accounted for:
//! none lost, some delivered twice (at-least-once: what the leaver had read but not committed).
//! Run it twice on the same directory: the second run resumes from the committed offsets.
//!
//!     cargo run --example producer_consumer -- DIR     # DIR defaults to ./data/producer_consumer

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use partlog::{
    Admin, Consumer, ConsumerConfig, Error, Log, Producer, ProducerConfig, ProducerRecord, RebalanceListener,
    TopicConfig, TopicPartition,
};

const TOPIC: &str = "payments";
const PARTITIONS: u32 = 6;
const PRODUCERS: usize = 4;
const PER_PRODUCER: usize = 25_000;
const CONSUMERS: usize = 3;
const GROUP: &str = "billing";

/// Times each record of this run was processed, by value.
type Seen = Arc<Mutex<HashMap<Vec<u8>, u32>>>;

/// Prints what the group moves, as it happens.
struct Announce(&'static str);

impl RebalanceListener for Announce {
    fn on_partitions_assigned(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) -> partlog::ListenerResult {
        if !partitions.is_empty() {
            let list: Vec<String> = partitions.iter().map(|p| p.partition.to_string()).collect();
            println!("  {} was assigned partitions [{}]", self.0, list.join(","));
        }
        Ok(())
    }
}

fn main() -> Result<(), Error> {
    let dir = std::env::args_os().nth(1).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("data/producer_consumer"));
    let log = Log::open(&dir)?;
    let run = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    if let Err(Error::UnknownTopic { .. }) = log.topic(TOPIC) {
        log.create_topic(TOPIC, PARTITIONS, TopicConfig::default())?;
    }
    let earlier = Admin::new(&log).list_group_offsets(GROUP).map(|o| o.len()).unwrap_or(0);
    println!(
        "{} in {}: topic {TOPIC:?}, {PARTITIONS} partitions; group {GROUP:?} {}",
        if earlier == 0 { "first run" } else { "another run" },
        dir.display(),
        if earlier == 0 { "is new".to_string() } else { format!("resumes from {earlier} committed offsets") }
    );

    // Consumers first, so that the group is formed while the producers run.
    let seen: Seen = Arc::default();
    let older = Arc::new(AtomicUsize::new(0));
    let produced_all = Arc::new(AtomicBool::new(false));
    let names = ["consumer-0", "consumer-1", "consumer-2"];
    let mut consumers = Vec::new();
    for (i, name) in names.iter().enumerate().take(CONSUMERS) {
        let config = ConsumerConfig::default()
            .set("group.id", GROUP)?
            .set("client.id", name)?
            .set("enable.auto.commit", "false")? // commit after processing: at-least-once
            .set("auto.offset.reset", "earliest")?;
        let mut consumer = Consumer::new(&log, config)?;
        consumer.subscribe_with_listener(&[TOPIC], Announce(name))?;
        let (seen, older, produced_all) = (seen.clone(), older.clone(), produced_all.clone());
        let run_tag = format!("{run}:").into_bytes();
        consumers.push(std::thread::spawn(move || -> Result<usize, Error> {
            let started = Instant::now();
            let mut processed = 0usize;
            loop {
                let records = consumer.poll(Duration::from_millis(100))?;
                for r in &records {
                    let value = r.value.clone().unwrap_or_default();
                    if value.starts_with(&run_tag) {
                        *seen.lock().unwrap().entry(value).or_default() += 1;
                    } else {
                        older.fetch_add(1, Ordering::Relaxed);
                    }
                }
                processed += records.len();
                // consumer-2 leaves a third of the way through, without committing its last poll.
                if i == 2 && processed >= PRODUCERS * PER_PRODUCER / 9 {
                    println!("  {} leaves after processing {processed} records", names[i]);
                    drop(consumer); // no commit of the last batch: its records are read again
                    return Ok(processed);
                }
                consumer.commit_sync()?;
                let done = produced_all.load(Ordering::Acquire) && records.is_empty();
                if done || started.elapsed() > Duration::from_secs(60) {
                    consumer.close()?;
                    return Ok(processed);
                }
            }
        }));
    }

    let producer = Producer::new(&log, ProducerConfig::default())?;
    let started = Instant::now();
    let threads: Vec<_> = (0..PRODUCERS)
        .map(|t| {
            let producer = producer.clone();
            std::thread::spawn(move || {
                for seq in 0..PER_PRODUCER {
                    let value = format!("{run}:producer-{t}:{seq}");
                    let key = format!("account-{}", seq % 1000);
                    // Fire and forget; flush() below waits for every record.
                    drop(producer.send(ProducerRecord::new(TOPIC, value.into_bytes()).key(key.into_bytes())));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("producer thread");
    }
    producer.flush()?;
    let sent = PRODUCERS * PER_PRODUCER;
    println!("{PRODUCERS} producer threads sent {sent} records in {:.2} s", started.elapsed().as_secs_f64());
    produced_all.store(true, Ordering::Release);

    let mut processed = 0;
    for c in consumers {
        processed += c.join().expect("consumer thread")?;
    }
    let seen = seen.lock().unwrap();
    let lost = sent - seen.len();
    let twice: usize = seen.values().filter(|&&n| n > 1).count();
    println!(
        "consumed {processed} records: {} distinct of {sent} sent, lost {lost}, delivered twice {twice}, from earlier runs {}",
        seen.len(),
        older.load(Ordering::Relaxed)
    );
    let group = Admin::new(&log).describe_group(GROUP)?;
    let lag: u64 = group.partitions.iter().filter_map(|p| p.lag).sum();
    println!("group {GROUP:?} is {} at generation {}; total lag {lag}", group.state, group.generation);
    if lost != 0 {
        eprintln!("records were lost");
        std::process::exit(1);
    }
    Ok(())
}
