//! The writing commands: `topics create|alter|delete` and `produce`. They open the directory
//! as its owner, so the application that has it open must close it first. Only `topics create`
//! creates a data directory; the others refuse one that does not exist.

use std::collections::VecDeque;
use std::io::BufRead;
use std::path::Path;
use std::time::Duration;

use partlog::{DeliveryFuture, Log, Producer, ProducerConfig, ProducerRecord, TopicConfig, MAX_PARTITIONS};
use serde_json::json;

use crate::{escape, Failure, Out, Outcome};

fn open(dir: &Path) -> Result<Log, Failure> {
    Log::open(dir).map_err(|e| format!("cannot open {} to write: {e}", dir.display()).into())
}

/// Opens a data directory that exists: opening one as its owner would create it (and its lock
/// and checkpoint files), which only `topics create` may do; and a directory that is not one
/// (a mistyped --dir) is not opened either: it would get partlog's files.
fn open_existing(dir: &Path) -> Result<Log, Failure> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() && crate::has_data_dir_files(dir) => open(dir),
        Ok(m) if m.is_dir() => Err(not_a_data_dir(dir)),
        Ok(_) => Err(format!("{} is not a directory", dir.display()).into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "no data directory {} (give --dir or PARTLOG_DIR; only `topics create` creates one)",
            dir.display()
        )
        .into()),
        Err(e) => Err(format!("cannot open {}: {e}", dir.display()).into()),
    }
}

fn not_a_data_dir(dir: &Path) -> Failure {
    format!("{} is not a partlog data directory (no checkpoint files): not opened, nothing written", dir.display())
        .into()
}

/// `1 record`, `2 records`: `n` with the singular or plural.
pub fn count(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// `config` with every `key=value` of `settings` applied, each checked; nothing is changed on
/// disk.
fn configured(mut config: TopicConfig, settings: &[String]) -> Result<TopicConfig, Failure> {
    for setting in settings {
        let (key, value) = setting.split_once('=').ok_or_else(|| format!("--config {setting}: expected key=value"))?;
        config = config.set(key, value).map_err(|e| format!("--config {setting}: {e}"))?;
    }
    Ok(config)
}

pub fn topics_create(
    dir: &Path,
    topic: &str,
    partitions: u32,
    configs: &[String],
    if_not_exists: bool,
    out: &Out,
) -> Result<Outcome, Failure> {
    let config = configured(TopicConfig::default(), configs)?;
    // A new data directory is made where there is none, or in an empty one; a directory of
    // other files is not made one.
    let empty = std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_none());
    if dir.exists() && !empty && !crate::has_data_dir_files(dir) {
        return Err(not_a_data_dir(dir));
    }
    let log = open(dir)?;
    match log.create_topic(topic, partitions, config) {
        Ok(_) => {}
        // As kafka-topics --if-not-exists: nothing printed (JSON says it was not created).
        Err(partlog::Error::TopicExists { .. }) if if_not_exists => {
            log.close()?;
            if out.json {
                out.line(String::new, || json!({"topic": topic, "created": false}));
            }
            return Ok(Outcome::Clean);
        }
        Err(e) => return Err(e.into()),
    }
    log.close()?;
    out.line(
        || format!("Created topic {topic} with {}.", count(partitions.into(), "partition", "partitions")),
        || json!({"topic": topic, "created": true, "partitions": partitions}),
    );
    Ok(Outcome::Clean)
}

/// `config` with each of `keys` back to its default: a topic config holds every setting, so
/// removing an override (kafka-configs --delete-config) is setting Kafka's default.
fn without_overrides(mut config: TopicConfig, keys: &[String]) -> Result<TopicConfig, Failure> {
    let defaults = TopicConfig::default();
    for key in keys {
        let default = defaults.get(key).ok_or_else(|| format!("--delete-config {key}: unknown topic config"))?;
        config = config.set(key, &default).map_err(|e| format!("--delete-config {key}: {e}"))?;
    }
    Ok(config)
}

/// Checks every change first (the partition count grows, every setting is valid), then makes
/// them: a refused change leaves the topic as it was.
pub fn topics_alter(
    dir: &Path,
    topic: &str,
    partitions: Option<u32>,
    configs: &[String],
    delete_configs: &[String],
    out: &Out,
) -> Result<Outcome, Failure> {
    if let Some(key) = delete_configs.iter().find(|k| configs.iter().any(|c| c.split('=').next() == Some(k.as_str()))) {
        return Err(format!("{key} is both set (--config) and removed (--delete-config): nothing changed").into());
    }
    let log = open_existing(dir)?;
    let current = log.topic(topic)?;
    let now = current.partition_count();
    if let Some(partitions) = partitions {
        if partitions <= now || partitions > MAX_PARTITIONS {
            return Err(format!(
                "--partitions {partitions}: topic {topic} has {}; partitions can only be added, up to {MAX_PARTITIONS} \
                 (nothing changed)",
                count(now.into(), "partition", "partitions")
            )
            .into());
        }
    }
    let config = if configs.is_empty() && delete_configs.is_empty() {
        None
    } else {
        let config = without_overrides(current.config().clone(), delete_configs)
            .and_then(|config| configured(config, configs))
            .map_err(|e| format!("{e} (nothing changed)"))?;
        Some(config)
    };
    // Partitions first: adding them can still be refused (the offsets topic, directories in
    // the way), while the checked config can only fail to be written.
    if let Some(partitions) = partitions {
        log.add_partitions(topic, partitions)?;
    }
    if let Some(config) = config {
        log.alter_topic_config(topic, config)?;
    }
    log.close()?;
    let json = || {
        json!({"topic": topic, "altered": true, "config": configs, "deleted_config": delete_configs,
               "partitions": partitions.unwrap_or(now)})
    };
    // One JSON line in all: printed by the first line printed.
    let mut json_printed = false;
    if !configs.is_empty() {
        out.line(|| format!("Topic {topic}: {} changed.", configs.join(", ")), json);
        json_printed = true;
    }
    if !delete_configs.is_empty() {
        let text = || format!("Topic {topic}: {} removed; Kafka's defaults apply.", delete_configs.join(", "));
        out.line(text, || if json_printed { serde_json::Value::Null } else { json() });
        json_printed = true;
    }
    if let Some(partitions) = partitions {
        let text = || format!("Topic {topic} has {partitions} partitions now; keys map to partitions anew.");
        out.line(text, || if json_printed { serde_json::Value::Null } else { json() });
    }
    Ok(Outcome::Clean)
}

pub fn topics_delete(dir: &Path, topic: &str, if_exists: bool, out: &Out) -> Result<Outcome, Failure> {
    let log = open_existing(dir)?;
    match log.delete_topic(topic) {
        Ok(()) => {}
        // As kafka-topics --if-exists: nothing printed (JSON says it was not deleted).
        Err(partlog::Error::UnknownTopic { .. }) if if_exists => {
            log.close()?;
            if out.json {
                out.line(String::new, || json!({"topic": topic, "deleted": false}));
            }
            return Ok(Outcome::Clean);
        }
        Err(e) => return Err(e.into()),
    }
    log.close()?;
    out.line(|| format!("Deleted topic {topic}."), || json!({"topic": topic, "deleted": true}));
    Ok(Outcome::Clean)
}

#[derive(clap::Args)]
#[command(after_help = "Every line is tried: a line that cannot be appended (no key separator, a record larger \
than a limit) is reported with its line number, and the lines after it are still appended. At the end the count of \
records appended and not appended is printed (standard error; standard output with --json), and the exit code is 2 \
if any was not appended. Lines are bytes: values need not be UTF-8; a trailing \\n or \\r\\n is removed.")]
pub struct ProduceArgs {
    pub topic: String,
    /// Split each line at the first occurrence into key and value (default: no key); a line
    /// without it is not appended. `\t` is a tab and `\\` a backslash (Kafka's tools split at a
    /// tab); a newline (`\n`) cannot be one, each line being one record.
    #[arg(long)]
    pub key_separator: Option<String>,
    /// Append to this partition (default: the partitioner's choice).
    #[arg(short, long)]
    pub partition: Option<u32>,
    /// A producer setting, `key=value` (Kafka's names, e.g. linger.ms=100 or batch.size=65536);
    /// repeatable. Compression is the topic's compression.type, not a producer setting (`topics
    /// alter T -c compression.type=lz4`).
    #[arg(long = "producer-property", value_name = "KEY=VALUE")]
    pub properties: Vec<String>,
}

/// The key separator as given, with `\t` read as a tab, `\n` as a newline and `\\` as a backslash.
fn key_separator(given: &str) -> Result<Vec<u8>, Failure> {
    let mut sep = String::new();
    let mut chars = given.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some('t')) => sep.push('\t'),
            ('\\', Some('n')) => sep.push('\n'),
            ('\\', Some('\\')) => sep.push('\\'),
            (c, _) => {
                sep.push(c);
                continue;
            }
        }
        chars.next();
    }
    if sep.is_empty() {
        return Err("--key-separator must not be empty (leave it out for records without a key)".into());
    }
    if sep.contains(['\n', '\r']) {
        return Err(format!(
            "--key-separator \"{}\" can never split a line: each line is one record",
            escape(sep.as_bytes())
        )
        .into());
    }
    Ok(sep.into_bytes())
}

/// A line's record on its way: refused at once, or sent.
enum Pending {
    Refused(String),
    Sent(DeliveryFuture),
}

/// What `produce` has appended and not, reported line by line in input order.
struct Tally<'a> {
    out: &'a Out,
    appended: u64,
    failed: u64,
}

impl Tally<'_> {
    fn report(&mut self, line: u64, pending: Pending) {
        let problem = match pending {
            Pending::Refused(problem) => problem,
            Pending::Sent(future) => match future.wait() {
                Ok(_) => {
                    self.appended += 1;
                    return;
                }
                Err(e) => e.error.to_string(),
            },
        };
        self.failed += 1;
        if self.out.json {
            self.out.line(String::new, || json!({"line": line, "not_appended": problem}));
        } else {
            eprintln!("partlog: line {line}: not appended: {problem}");
        }
    }
}

/// The start of a line, for a message.
fn preview(line: &[u8]) -> String {
    const MAX: usize = 60;
    if line.len() <= MAX {
        escape(line)
    } else {
        format!("{}… ({} bytes)", escape(&line[..MAX]), line.len())
    }
}

pub fn produce(dir: &Path, args: &ProduceArgs, out: &Out) -> Result<Outcome, Failure> {
    let separator = args.key_separator.as_deref().map(key_separator).transpose()?;
    let mut config = ProducerConfig::default();
    for setting in &args.properties {
        let (key, value) =
            setting.split_once('=').ok_or_else(|| format!("--producer-property {setting}: expected key=value"))?;
        config = config.set(key, value).map_err(|e| format!("--producer-property {setting}: {e}"))?;
    }
    let log = open_existing(dir)?;
    log.topic(&args.topic)?;
    if let Some(p) = args.partition {
        log.partition(&args.topic, p)?;
    }
    let producer = Producer::new(&log, config)?;
    let mut tally = Tally { out, appended: 0, failed: 0 };
    // Outcomes are reported in line order, as soon as the oldest is known.
    let mut pending: VecDeque<(u64, Pending)> = VecDeque::new();
    let mut input = std::io::stdin().lock();
    let mut line = Vec::new();
    let mut number = 0u64;
    let mut input_error = None;
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                input_error = Some(format!("cannot read standard input after line {number}: {e}"));
                break;
            }
        }
        number += 1;
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        let (key, value) = match &separator {
            Some(sep) => match line.windows(sep.len()).position(|w| w == sep.as_slice()) {
                Some(at) => (Some(line[..at].to_vec()), line[at + sep.len()..].to_vec()),
                None => {
                    let problem = format!("no key separator \"{}\" in {}", escape(sep), preview(&line));
                    pending.push_back((number, Pending::Refused(problem)));
                    continue;
                }
            },
            None => (None, line.clone()),
        };
        let mut record = ProducerRecord::new(args.topic.clone(), value);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(p) = args.partition {
            record = record.partition(p);
        }
        pending.push_back((number, Pending::Sent(producer.send(record))));
        while pending.front().is_some_and(|(_, p)| !matches!(p, Pending::Sent(f) if !f.is_done())) {
            let (n, p) = pending.pop_front().expect("a front");
            tally.report(n, p);
        }
    }
    producer.flush()?;
    for (n, p) in pending {
        tally.report(n, p);
    }
    producer.close(Duration::from_secs(30));
    log.close()?;
    let Tally { appended, failed, .. } = tally;
    if let Some(e) = &input_error {
        eprintln!("partlog: {e}");
    }
    let topic = &args.topic;
    if out.json {
        out.line(String::new, || json!({"topic": topic, "appended": appended, "not_appended": failed}));
    } else if failed == 0 {
        eprintln!("{} appended to {topic}", count(appended, "record", "records"));
    } else {
        eprintln!("{} appended to {topic}, {failed} not appended", count(appended, "record", "records"));
    }
    Ok(if failed > 0 || input_error.is_some() { Outcome::Failed } else { Outcome::Clean })
}
