//! partlog in one minute: create a topic, append keyed events in batches, read them back by
//! offset and by time, and leave Kafka-format segment files behind.
//!
//!     cargo run --example quickstart              # a fresh directory under the system temp dir
//!     cargo run --example quickstart -- DIR       # DIR, created if missing, reopened if present

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use partlog::{Compression, CompressionType, Error, Fetch, Header, Log, Record, TopicConfig};

const TOPIC: &str = "events";
const PARTITIONS: u32 = 4;
const EVENTS: usize = 20_000;
const BATCH: usize = 100;
const USERS: usize = 50;

fn main() -> Result<(), Error> {
    let dir = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => std::env::temp_dir().join(format!("partlog-quickstart-{}-{}", std::process::id(), now_ms())),
    };
    let log = Log::open(&dir)?;
    println!("opened {}", dir.display());

    let topic = match log.topic(TOPIC) {
        Ok(topic) => {
            println!("found topic {TOPIC:?} again ({} partitions)", topic.partition_count());
            topic
        }
        Err(Error::UnknownTopic { .. }) => {
            let mut config = TopicConfig::default();
            config.compression_type = CompressionType::Codec(Compression::Lz4);
            config.segment_bytes = 64 * 1024; // small segments, so there are several to look at
            let topic = log.create_topic(TOPIC, PARTITIONS, config)?;
            println!("created topic {TOPIC:?}: {PARTITIONS} partitions, lz4, 64 KiB segments");
            topic
        }
        Err(e) => return Err(e),
    };

    // Append keyed events in batches of 100: each user's events go to one partition, in order.
    let start_ms = now_ms();
    let ends_before: Vec<u64> = topic.partitions().iter().map(|p| p.log_end_offset()).collect();
    let mut batches = 0;
    for chunk_start in (0..EVENTS).step_by(BATCH) {
        let events: Vec<(String, String, i64)> = (chunk_start..chunk_start + BATCH)
            .map(|i| {
                let user = format!("user-{}", i % USERS);
                let json = format!(
                    r#"{{"seq":{i},"user":"{user}","action":"{}","amount":{}}}"#,
                    ["view", "click", "buy"][i % 3],
                    i % 997
                );
                (user, json, start_ms + i as i64)
            })
            .collect();
        let headers = [Header::new("source", b"quickstart")];
        for p in topic.partitions() {
            let records: Vec<Record<'_>> = events
                .iter()
                .filter(|(user, _, _)| topic.partition_for_key(user.as_bytes()).id() == p.id())
                .map(|(user, json, ts)| {
                    Record::new(json.as_bytes()).with_key(user.as_bytes()).with_timestamp(*ts).with_headers(&headers)
                })
                .collect();
            if !records.is_empty() {
                p.append(&records)?;
                batches += 1;
            }
        }
    }
    log.flush()?;
    println!("appended {EVENTS} events in {batches} batches:");
    for (p, before) in topic.partitions().iter().zip(&ends_before) {
        println!("  {}: offsets {}..{} ({} segments)", p.name(), before, p.log_end_offset(), p.segments().len());
    }

    // Read one partition back by offset range, without a copy per record.
    let p = topic.partition(0)?;
    let (mut next, mut count, mut bytes) = (ends_before[0], 0usize, 0usize);
    let mut fetch = Fetch::new();
    while next < p.log_end_offset() {
        p.fetch(next, 64 * 1024, &mut fetch)?;
        count += fetch.len();
        for r in fetch.records() {
            bytes += r?.value().map_or(0, <[u8]>::len); // decoded as reached; a malformed record is an error
        }
        next = fetch.next_offset();
    }
    println!("read {count} events ({bytes} value bytes) back from {} by offset", p.name());

    // Find the first event at or after a point in time, in every partition.
    let t = start_ms + EVENTS as i64 / 2;
    for p in topic.partitions() {
        if let Some(hit) = p.offset_for_timestamp(t)? {
            let record = &p.read(hit.offset, 1)?[0];
            println!(
                "  {}: first event at or after +{} ms is offset {}: {}",
                p.name(),
                t - start_ms,
                hit.offset,
                String::from_utf8_lossy(record.value.as_deref().unwrap_or_default())
            );
        }
    }

    log.close()?;
    println!("closed; Kafka-format segments (.log, .index, .timeindex) are in {}", dir.display());
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
