//! The writing commands: `topics create|alter|delete` and `produce`. They open the directory
//! as its owner, so the application that has it open must close it first.

use std::io::BufRead;
use std::path::Path;
use std::time::Duration;

use partlog::{Log, Producer, ProducerConfig, ProducerRecord, TopicConfig};

use crate::{Failure, Outcome};

fn open(dir: &Path) -> Result<Log, Failure> {
    Log::open(dir).map_err(|e| format!("cannot open {} to write: {e}", dir.display()).into())
}

pub fn topics_create(dir: &Path, topic: &str, partitions: u32, configs: &[String]) -> Result<Outcome, Failure> {
    let mut config = TopicConfig::default();
    for setting in configs {
        let (key, value) = setting.split_once('=').ok_or_else(|| format!("--config {setting}: expected key=value"))?;
        config.set(key, value)?;
    }
    let log = open(dir)?;
    log.create_topic(topic, partitions, config)?;
    log.close()?;
    println!("Created topic {topic} with {partitions} partitions.");
    Ok(Outcome::Clean)
}

pub fn topics_alter(dir: &Path, topic: &str, partitions: Option<u32>, configs: &[String]) -> Result<Outcome, Failure> {
    let log = open(dir)?;
    if !configs.is_empty() {
        let mut config = log.topic(topic)?.config().clone();
        for setting in configs {
            let (key, value) =
                setting.split_once('=').ok_or_else(|| format!("--config {setting}: expected key=value"))?;
            config.set(key, value)?;
        }
        log.alter_topic_config(topic, config)?;
        println!("Topic {topic}: {} changed.", configs.join(", "));
    }
    if let Some(partitions) = partitions {
        log.add_partitions(topic, partitions)?;
        println!("Topic {topic} has {partitions} partitions now; keys map to partitions anew.");
    }
    log.close()?;
    Ok(Outcome::Clean)
}

pub fn topics_delete(dir: &Path, topic: &str) -> Result<Outcome, Failure> {
    let log = open(dir)?;
    log.delete_topic(topic)?;
    log.close()?;
    println!("Deleted topic {topic}.");
    Ok(Outcome::Clean)
}

#[derive(clap::Args)]
pub struct ProduceArgs {
    pub topic: String,
    /// Split each line at the first occurrence into key and value (default: no key).
    #[arg(long)]
    pub key_separator: Option<String>,
    /// Append to this partition (default: the partitioner's choice).
    #[arg(short, long)]
    pub partition: Option<u32>,
    /// A producer setting, `key=value` (Kafka's names, e.g. compression.type=lz4); repeatable.
    #[arg(long = "producer-property", value_name = "KEY=VALUE")]
    pub properties: Vec<String>,
}

pub fn produce(dir: &Path, args: &ProduceArgs) -> Result<Outcome, Failure> {
    let log = open(dir)?;
    log.topic(&args.topic)?;
    let mut config = ProducerConfig::default();
    for setting in &args.properties {
        let (key, value) = setting.split_once('=').ok_or_else(|| format!("{setting}: expected key=value"))?;
        config = config.set(key, value)?;
    }
    let producer = Producer::new(&log, config)?;
    let mut pending = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let (key, value) = match &args.key_separator {
            Some(sep) => match line.split_once(sep.as_str()) {
                Some((k, v)) => (Some(k.as_bytes().to_vec()), v.as_bytes().to_vec()),
                None => return Err(format!("no key separator {sep:?} in line: {line}").into()),
            },
            None => (None, line.into_bytes()),
        };
        let mut record = ProducerRecord::new(args.topic.clone(), value);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(p) = args.partition {
            record = record.partition(p);
        }
        pending.push(producer.send(record));
    }
    producer.flush()?;
    let mut sent = 0;
    for delivery in pending {
        delivery.wait()?;
        sent += 1;
    }
    producer.close(Duration::from_secs(30));
    log.close()?;
    eprintln!("{sent} records appended to {}", args.topic);
    Ok(Outcome::Clean)
}
