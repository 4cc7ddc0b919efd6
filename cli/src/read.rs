//! The reading commands: `verify`, `topics list|describe`, `consume`, `groups`. All but
//! `consume --group` open the directory read-only.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use partlog::{Admin, BatchHeader, Consumer, ConsumerConfig, Fetch, Log, Partition, TimestampType, TopicPartition};
use serde_json::json;

use crate::{dump, json_bytes, show, Failure, Out, Outcome};

/// The offsets topic, where consumer groups live.
const OFFSETS_TOPIC: &str = "__consumer_offsets";

fn open(dir: &Path) -> Result<Log, Failure> {
    let log = Log::open_read_only(dir).map_err(|e| format!("cannot open {} read-only: {e}", dir.display()))?;
    // A directory with no topic and none of the files a data directory holds is not one (a
    // mistyped --dir): saying "no topics" or "OK" of it would mislead.
    if log.topic_names().is_empty() && log.recovery_report().is_empty() && !crate::has_data_dir_files(dir) {
        return Err(format!("{} is not a partlog data directory: no topics, no checkpoint files", dir.display()).into());
    }
    Ok(log)
}

/// [`open`], warning on standard error of what is missing (a partition directory: its topic
/// is left out).
fn open_warning(dir: &Path) -> Result<Log, Failure> {
    let log = open(dir)?;
    for event in log.recovery_report().iter().filter(|e| !e.segment.exists()) {
        eprintln!("partlog: warning: {}: {}", event.segment.display(), event.reason);
    }
    Ok(log)
}

/// Every batch (CRC, offsets) and index of every partition; damage listed with file and position.
pub fn verify(dir: &Path, quiet: bool, out: &Out) -> Result<Outcome, Failure> {
    let log = open(dir)?;
    let mut damaged = false;
    // What the view could not read: bytes of a last segment that are not whole batches, a
    // partition directory missing. The owner writing a batch, or creating or deleting a topic,
    // is done a moment later; what is still so after a pause is damage.
    // Only what the open saw is judged: what the refresh sees first may be the owner at work.
    let first = log.recovery_report().to_vec();
    let mut not_read = Vec::new();
    if !first.is_empty() {
        std::thread::sleep(Duration::from_millis(500));
        let again = log.refresh()?;
        for event in &first {
            let partition =
                event.partition.rsplit_once('-').and_then(|(topic, id)| log.partition(topic, id.parse().ok()?).ok());
            let still = match partition {
                // Bytes of a segment: still not read if the segment is still in the view and its
                // readable bytes still end at or before them (a roll since made them whole).
                Some(p) if event.segment.extension().is_some_and(|e| e == "log") => p
                    .segments()
                    .iter()
                    .find(|s| s.log_path() == event.segment)
                    .is_some_and(|s| s.size() <= event.position),
                // A partition directory missing that is there now: the owner created it.
                Some(_) => false,
                // Not in the view: still so if the refresh says so again (a topic deleted since
                // is not reported at all). An event of no partition (a checkpoint file) stays.
                None => {
                    !event.partition.contains('-')
                        || again.iter().any(|e| e.partition == event.partition && e.segment == event.segment)
                }
            };
            let seen = not_read.iter().any(|e: &partlog::RecoveryEvent| {
                (&e.partition, &e.segment, e.position) == (&event.partition, &event.segment, event.position)
            });
            if still && !seen {
                not_read.push(event.clone());
            }
        }
    }
    for event in &not_read {
        damaged = true;
        out.line(
            || {
                format!(
                    "DAMAGE {} at position {}: {} (still so after a pause: not the owner at work)",
                    event.segment.display(),
                    event.position,
                    event.reason
                )
            },
            || json!({"damage": event.reason, "file": event.segment, "position": event.position}),
        );
    }
    let partitions: Vec<Partition> = log
        .topic_names()
        .iter()
        .flat_map(|t| log.topic(t).map(|t| t.partitions().to_vec()).unwrap_or_default())
        .collect();
    let total_bytes: u64 = partitions.iter().map(Partition::size_bytes).sum();
    let progress = !quiet && !out.json && std::io::stderr().is_terminal();
    let (mut done_bytes, started) = (0u64, Instant::now());
    let (mut batches_ok, mut segments, mut skipped) = (0usize, 0usize, 0usize);
    for (i, p) in partitions.iter().enumerate() {
        if progress {
            eprint!(
                "\rverifying {} ({}/{} partitions, {} of {} MB, {:.0} s)   ",
                p.name(),
                i + 1,
                partitions.len(),
                done_bytes >> 20,
                total_bytes >> 20,
                started.elapsed().as_secs_f64()
            );
        }
        match verify_partition(&log, p) {
            Ok(()) => {}
            Err(e) if is_damage(&e) => {
                damaged = true;
                // The first damage stops the partition's check: every segment file is then
                // read on its own, to list all of it, with file and position.
                let damage_only = Out { json: out.json, damage_only: true, silent: false };
                let mut listed = false;
                for segment in p.segments() {
                    listed |= dump::dump_file(segment.log_path(), true, dump::Data::Sizes, false, &damage_only)
                        .unwrap_or(false);
                }
                if !listed {
                    // Between segments (an offset gap), or not in any one file.
                    let (file, position) = match &e {
                        partlog::Error::CorruptBatch { path, position, .. } => (Some(path.clone()), Some(*position)),
                        partlog::Error::BadFile { path, .. } | partlog::Error::OffsetsLost { path, .. } => {
                            (Some(path.clone()), None)
                        }
                        _ => (None, None),
                    };
                    out.line(
                        || format!("DAMAGE {}: {e}", p.name()),
                        || json!({"damage": e.to_string(), "partition": p.name(), "file": file, "position": position}),
                    );
                }
            }
            // Changed while checked, twice (its owner at work), or not readable: not damage
            // that was seen, but not checked either.
            Err(e) => {
                skipped += 1;
                out.line(
                    || {
                        format!(
                            "NOT CHECKED {}: {e} (if no application has the directory open, a file of it is missing \
                             or was changed)",
                            p.name()
                        )
                    },
                    || json!({"not_checked": e.to_string(), "partition": p.name()}),
                )
            }
        }
        // The index checks of `dump --index-sanity-check`, printing only damage.
        let damage_only = Out { json: out.json, damage_only: true, silent: false };
        let silent = Out { json: out.json, damage_only: true, silent: true };
        for segment in p.segments() {
            segments += 1;
            for index in [segment.log_path().with_extension("index"), segment.log_path().with_extension("timeindex")] {
                if !index.exists()
                    || dump::dump_file(&index, false, dump::Data::Sizes, true, &silent).is_ok_and(|bad| !bad)
                {
                    continue;
                }
                // Damaged, or not readable: perhaps changed while read (its owner trims an
                // index at a roll, retention deletes it, compaction replaces it). Checked again
                // if its segment is still there a moment later, and reported then.
                std::thread::sleep(Duration::from_millis(100));
                log.refresh()?;
                let current = log.partition(p.topic(), p.id()).map(|p| p.segments()).unwrap_or_default();
                if !index.exists() || !current.iter().any(|s| s.log_path() == segment.log_path()) {
                    continue;
                }
                match dump::dump_file(&index, false, dump::Data::Sizes, true, &damage_only) {
                    Ok(bad) => damaged |= bad,
                    Err(e) => {
                        damaged = true;
                        out.line(
                            || format!("DAMAGE {}: {e}", index.display()),
                            || json!({"damage": e.to_string(), "file": index, "position": null}),
                        );
                    }
                }
            }
        }
        batches_ok += 1;
        done_bytes += p.size_bytes();
    }
    if progress {
        eprintln!();
    }
    // Anything not checked fails the run too: "OK" says every byte was read and is sound.
    let verdict = match (damaged, skipped) {
        (true, _) => "DAMAGED",
        (false, 0) => "OK",
        (false, _) => "INCOMPLETE",
    };
    out.line(
        || {
            format!(
                "{verdict}: {} partitions ({skipped} not checked), {segments} segments, {total_bytes} bytes",
                partitions.len()
            )
        },
        || {
            json!({"verdict": verdict, "partitions": batches_ok, "not_checked": skipped, "segments": segments,
                   "bytes": total_bytes})
        },
    );
    Ok(if verdict == "OK" { Outcome::Clean } else { Outcome::Damaged })
}

/// Checks every batch of `p`; once more after a refresh if its owner changed it meanwhile (a
/// segment deleted by retention, the log start moved).
fn verify_partition(log: &Log, p: &Partition) -> Result<(), partlog::Error> {
    match p.verify() {
        Err(e) if !is_damage(&e) => {
            log.refresh()?;
            p.verify()
        }
        other => other,
    }
}

/// Whether an error says the bytes are wrong, rather than that they moved.
fn is_damage(e: &partlog::Error) -> bool {
    use partlog::Error::*;
    matches!(e, CorruptBatch { .. } | InvalidBatch { .. } | BadFile { .. } | OffsetsLost { .. })
}

pub fn topics_list(dir: &Path, out: &Out) -> Result<Outcome, Failure> {
    let log = open_warning(dir)?;
    for name in log.topic_names() {
        out.line(|| name.clone(), || json!({"topic": name}));
    }
    Ok(Outcome::Clean)
}

/// A topic config's settings by Kafka's names.
fn settings(config: &partlog::TopicConfig) -> std::collections::BTreeMap<String, String> {
    config
        .to_properties()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

pub fn topics_describe(dir: &Path, only: Option<&str>, out: &Out) -> Result<Outcome, Failure> {
    let log = open_warning(dir)?;
    let names = match only {
        Some(name) => vec![log.topic(name)?.name().to_owned()],
        None => log.topic_names(),
    };
    for name in names {
        let topic = log.topic(&name)?;
        // Text shows the settings that differ from Kafka's defaults, as kafka-topics does; JSON
        // has every setting too.
        let config = settings(topic.config());
        let defaults = settings(&partlog::TopicConfig::default());
        let overrides: Vec<String> =
            config.iter().filter(|(k, v)| defaults.get(*k) != Some(*v)).map(|(k, v)| format!("{k}={v}")).collect();
        out.line(
            || format!("Topic: {name}\tPartitionCount: {}\tConfigs: {}", topic.partition_count(), overrides.join(",")),
            || {
                json!({"topic": name, "partitions": topic.partition_count(), "config": config,
                       "overrides": overrides.iter().filter_map(|o| o.split_once('=')).collect::<std::collections::BTreeMap<_, _>>()})
            },
        );
        for p in topic.partitions() {
            let segments = p.segments();
            out.line(
                || {
                    format!(
                        "\tPartition: {}\tLogStartOffset: {}\tLogEndOffset: {}\tSegments: {}\tSize: {}",
                        p.id(),
                        p.log_start_offset(),
                        p.log_end_offset(),
                        segments.len(),
                        p.size_bytes()
                    )
                },
                || {
                    json!({
                        "topic": name, "partition": p.id(), "log_start_offset": p.log_start_offset(),
                        "log_end_offset": p.log_end_offset(), "size": p.size_bytes(),
                        "segments": segments.iter().map(|s| json!({"base_offset": s.base_offset(), "size": s.size()})).collect::<Vec<_>>(),
                    })
                },
            );
        }
    }
    Ok(Outcome::Clean)
}

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("start").args(["from_beginning", "offset", "timestamp"]))]
pub struct ConsumeArgs {
    pub topic: String,
    /// Only this partition (default: all).
    #[arg(short, long)]
    pub partition: Option<u32>,
    /// Start at the log start offset (default: the end, as kafka-console-consumer).
    #[arg(long)]
    pub from_beginning: bool,
    /// Start at this offset of --partition: a number, `earliest` or `latest` (the default).
    #[arg(long, requires = "partition", value_name = "OFFSET", value_parser = parse_offset)]
    pub offset: Option<StartAt>,
    /// Start at the first record at or after this time (ms since the epoch).
    #[arg(long)]
    pub timestamp: Option<i64>,
    /// Wait for new records: the default now, as kafka-console-consumer does (kept for scripts
    /// that pass it).
    #[arg(short, long)]
    pub follow: bool,
    /// Stop after this many records.
    #[arg(long)]
    pub max_messages: Option<u64>,
    /// Stop when no record has arrived for this long; 0 prints the records there are now and
    /// stops.
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
    /// Consume as a member of this consumer group, from its committed offsets, committing as it
    /// goes (opens the directory as its owner).
    #[arg(long, conflicts_with_all = ["partition", "offset", "timestamp"])]
    pub group: Option<String>,
    /// Print each record's key, then the separator, then the value.
    #[arg(long)]
    pub print_key: bool,
    /// Print each record's headers.
    #[arg(long)]
    pub print_headers: bool,
    /// Print each record's timestamp.
    #[arg(long)]
    pub print_timestamp: bool,
    /// Print each record's partition and offset.
    #[arg(long)]
    pub print_offset: bool,
    /// Between key and value.
    #[arg(long, default_value = "\t")]
    pub key_separator: String,
}

/// Where `consume --offset` starts.
#[derive(Clone, Copy, Debug)]
pub enum StartAt {
    Earliest,
    Latest,
    Offset(u64),
}

/// `earliest`, `latest` or a non-negative number, as kafka-console-consumer's --offset.
fn parse_offset(given: &str) -> Result<StartAt, String> {
    match given.to_ascii_lowercase().as_str() {
        "earliest" => Ok(StartAt::Earliest),
        "latest" => Ok(StartAt::Latest),
        number => number
            .parse()
            .map(StartAt::Offset)
            .map_err(|_| format!("'{given}': expected 'earliest', 'latest' or a non-negative number")),
    }
}

/// Kafka's name of a timestamp type, as kafka-console-consumer prints it.
fn type_name(t: TimestampType) -> &'static str {
    match t {
        TimestampType::CreateTime => "CreateTime",
        TimestampType::LogAppendTime => "LogAppendTime",
    }
}

/// The timestamp type of each batch of `raw` (whole batches, as a fetch holds them), by the
/// last offset of the batch.
fn timestamp_types(raw: &[u8]) -> Vec<(u64, TimestampType)> {
    let mut types = Vec::new();
    let mut rest = raw;
    // Every format starts with an offset (8 bytes) and a length (4), and has its magic at byte
    // 16. A legacy message (magic 0 or 1) is one entry, its offset the last of a compressed
    // wrapper's; magic 1 has the timestamp type in bit 3 of its attributes (byte 17), magic 0
    // has no timestamps (printed as CreateTime, as Kafka's consumer reports -1 times).
    while rest.len() > 17 {
        let Ok(length) = u32::try_from(i32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]])) else { break };
        let offset = u64::try_from(i64::from_be_bytes(rest[..8].try_into().expect("8 bytes"))).unwrap_or(0);
        match rest[16] {
            2 => {
                let Some(h) = BatchHeader::parse(rest) else { break };
                types.push((h.last_offset().max(0) as u64, h.timestamp_type()));
            }
            1 if rest[17] & 0x08 != 0 => types.push((offset, TimestampType::LogAppendTime)),
            _ => types.push((offset, TimestampType::CreateTime)),
        }
        let Some(next) = (length as usize).checked_add(12).and_then(|end| rest.get(end..)) else { break };
        rest = next;
    }
    types
}

/// What `consume` has printed, and when it stops: at --max-messages, after --timeout-ms without
/// a record, on Ctrl-C, or when its reader closes standard output.
struct Printed<'a> {
    args: &'a ConsumeArgs,
    out: &'a Out,
    stop: &'a AtomicBool,
    count: u64,
    /// Whether consuming began (the topic was found): then the count is reported.
    started: bool,
    /// When the last record was printed, or consuming began.
    last_record: Instant,
}

impl Printed<'_> {
    /// Prints one record; false once consuming is to stop.
    fn record(
        &mut self,
        partition: u32,
        offset: u64,
        (timestamp, timestamp_type): (i64, TimestampType),
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(String, String)],
    ) -> bool {
        let a = self.args;
        self.out.line(
            || {
                let mut line = String::new();
                if a.print_offset {
                    line.push_str(&format!("Partition:{partition}\tOffset:{offset}\t"));
                }
                if a.print_timestamp {
                    line.push_str(&format!("{}:{timestamp}\t", type_name(timestamp_type)));
                }
                if a.print_headers {
                    let h: Vec<String> = headers.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                    line.push_str(&if h.is_empty() { "NO_HEADERS".into() } else { h.join(",") });
                    line.push('\t');
                }
                if a.print_key {
                    line.push_str(&show(key));
                    line.push_str(&a.key_separator);
                }
                line.push_str(&show(value));
                line
            },
            || {
                json!({
                    "topic": a.topic, "partition": partition, "offset": offset, "timestamp": timestamp,
                    "timestamp_type": type_name(timestamp_type),
                    "key": json_bytes(key), "value": json_bytes(value),
                    "headers": headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
                })
            },
        );
        self.count += 1;
        self.last_record = Instant::now();
        !self.done()
    }

    /// Whether to stop now: Ctrl-C, --max-messages printed, standard output closed.
    fn done(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
            || self.args.max_messages.is_some_and(|max| self.count >= max)
            || self.out.closed()
    }

    /// Whether --timeout-ms has passed since the last record.
    fn timed_out(&self) -> bool {
        self.args.timeout_ms.is_some_and(|ms| self.last_record.elapsed() >= Duration::from_millis(ms))
    }

    /// How long to wait for records: `most`, or less where --timeout-ms ends sooner.
    fn wait(&self, most: Duration) -> Duration {
        let left = self.args.timeout_ms.map(|ms| Duration::from_millis(ms).saturating_sub(self.last_record.elapsed()));
        left.map_or(most, |left| left.min(most))
    }
}

/// Prints records as kafka-console-consumer does: waiting for new ones until Ctrl-C,
/// --max-messages or --timeout-ms, then the count on standard error.
pub fn consume(dir: &Path, args: &ConsumeArgs, out: &Out) -> Result<Outcome, Failure> {
    // Ctrl-C (or a SIGTERM) ends the loop, not the process: the count is printed and a group
    // member commits what it printed and leaves its group, instead of staying in it until its
    // session times out.
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        // A second Ctrl-C ends the process at once (a poll or commit that does not return).
        if flag.swap(true, Ordering::Relaxed) {
            std::process::exit(130);
        }
    })
    .map_err(|e| format!("cannot catch Ctrl-C: {e}"))?;
    let mut printed = Printed { args, out, stop: &stop, count: 0, started: false, last_record: Instant::now() };
    let result = match &args.group {
        Some(group) => consume_in_group(dir, group, &mut printed),
        None => consume_view(dir, &mut printed),
    };
    if printed.started {
        // Standard error, as Kafka's: standard output holds the records only.
        eprintln!("Processed a total of {} messages", printed.count);
    }
    result
}

/// Where reading `p` starts, by --offset, --timestamp or --from-beginning (default: its end).
fn start_offset(args: &ConsumeArgs, p: &Partition) -> Result<u64, Failure> {
    Ok(match (args.offset, args.timestamp) {
        (Some(StartAt::Offset(offset)), _) => offset,
        (Some(StartAt::Earliest), _) => p.log_start_offset(),
        (Some(StartAt::Latest), _) => p.log_end_offset(),
        (None, Some(ts)) => p.offset_for_timestamp(ts)?.map_or(p.log_end_offset(), |hit| hit.offset),
        (None, None) if args.from_beginning => p.log_start_offset(),
        (None, None) => p.log_end_offset(),
    })
}

/// `consume` without a group: reads a read-only view, refreshed to see new records.
fn consume_view(dir: &Path, printed: &mut Printed<'_>) -> Result<Outcome, Failure> {
    let args = printed.args;
    let log = open_warning(dir)?;
    let topic = log.topic(&args.topic)?;
    let ids: Vec<u32> = match args.partition {
        Some(p) => vec![topic.partition(p)?.id()],
        None => (0..topic.partition_count()).collect(),
    };
    let mut positions = Vec::new();
    for &id in &ids {
        positions.push((id, start_offset(args, &topic.partition(id)?)?));
    }
    (printed.started, printed.last_record) = (true, Instant::now());
    let mut fetch = Fetch::new();
    while !printed.done() {
        let mut progressed = false;
        for (id, next) in positions.iter_mut() {
            // Taken anew each round: a refresh may have replaced the topic.
            let p = log.partition(&args.topic, *id)?;
            while *next < p.log_end_offset() {
                match p.fetch(*next, 1 << 20, &mut fetch) {
                    Ok(()) => {}
                    // The application cut what this view holds (truncation, retention): read
                    // again after a refresh, from where it starts or ends now.
                    Err(
                        partlog::Error::ChangedUnderView { .. }
                        | partlog::Error::OffsetOutOfRange { .. }
                        | partlog::Error::Io { .. },
                    ) => {
                        log.refresh()?;
                        let p = log.partition(&args.topic, *id)?;
                        *next = (*next).clamp(p.log_start_offset(), p.log_end_offset());
                        break;
                    }
                    Err(e) => return Err(e.into()),
                }
                let types = timestamp_types(fetch.raw_batches());
                for r in fetch.records() {
                    let r = r?;
                    let headers: Vec<(String, String)> =
                        r.headers().map(|h| (show(Some(h.key)), show(h.value))).collect();
                    let t =
                        types.iter().find(|&&(last, _)| r.offset() <= last).map_or(TimestampType::CreateTime, |t| t.1);
                    if !printed.record(*id, r.offset(), (r.timestamp(), t), r.key(), r.value(), &headers) {
                        return Ok(Outcome::Clean);
                    }
                }
                if fetch.next_offset() <= *next {
                    break;
                }
                *next = fetch.next_offset();
                progressed = true;
            }
        }
        // Everything the view holds is printed: --timeout-ms counts from the last record.
        if printed.timed_out() {
            break;
        }
        if !progressed {
            std::thread::sleep(printed.wait(Duration::from_millis(100)));
        }
        log.refresh()?;
        if args.partition.is_none() {
            // Partitions added since (`topics alter -p`): read from their start, all of it new.
            let topic = log.topic(&args.topic)?;
            for id in positions.len() as u32..topic.partition_count() {
                positions.push((id, topic.partition(id)?.log_start_offset()));
            }
        }
    }
    Ok(Outcome::Clean)
}

fn consume_in_group(dir: &Path, group: &str, printed: &mut Printed<'_>) -> Result<Outcome, Failure> {
    let args = printed.args;
    let log = crate::open_for_groups(dir, "consume in a group")?;
    // As without --group: an unknown topic is an error, not a group that waits for it (and
    // neither the group nor `__consumer_offsets` is made for it).
    if let Err(e) = log.topic(&args.topic) {
        log.close()?;
        return Err(e.into());
    }
    let reset = if args.from_beginning { "earliest" } else { "latest" };
    let config = ConsumerConfig::default().set("group.id", group)?.set("auto.offset.reset", reset)?;
    let mut consumer = Consumer::new(&log, config)?;
    consumer.subscribe(&[&args.topic])?;
    (printed.started, printed.last_record) = (true, Instant::now());
    let mut joined = false;
    while !printed.done() {
        // The first poll joins the group: --timeout-ms counts from when it has.
        let wait = if joined { printed.wait(Duration::from_millis(200)) } else { Duration::from_millis(200) };
        let records = consumer.poll(wait)?;
        if !joined {
            (joined, printed.last_record) = (true, Instant::now());
        }
        let mut unprinted = &records[..0];
        for (i, r) in records.iter().enumerate() {
            let headers: Vec<(String, String)> =
                r.headers.iter().map(|h| (show(Some(&h.key)), show(h.value.as_deref()))).collect();
            let t = (r.timestamp, r.timestamp_type);
            if !printed.record(r.partition, r.offset, t, r.key.as_deref(), r.value.as_deref(), &headers) {
                unprinted = &records[i + 1..];
                break;
            }
        }
        // Commit what was printed, not what the poll returned: the records not printed are
        // the group's to read next.
        for (i, rest) in unprinted.iter().enumerate() {
            let tp = rest.topic_partition();
            if unprinted[..i].iter().all(|x| x.topic_partition() != tp) {
                consumer.seek(&tp, rest.offset)?;
            }
        }
        if !records.is_empty() {
            consumer.commit_sync()?;
        }
        if printed.timed_out() {
            break;
        }
    }
    consumer.close()?;
    log.close()?;
    Ok(Outcome::Clean)
}

pub fn groups_list(dir: &Path, out: &Out) -> Result<Outcome, Failure> {
    let log = open_warning(dir)?;
    if log.topic(OFFSETS_TOPIC).is_err() {
        return Ok(Outcome::Clean); // no group ever committed here
    }
    for (group, state) in Admin::new(&log).list_groups()? {
        out.line(|| format!("{group}\t{state:?}"), || json!({"group": group, "state": format!("{state:?}")}));
    }
    Ok(Outcome::Clean)
}

pub fn groups_describe(dir: &Path, group: &str, out: &Out) -> Result<Outcome, Failure> {
    let log = open_warning(dir)?;
    if log.topic(OFFSETS_TOPIC).is_err() {
        return Err(format!("no consumer group {group}: no group ever committed in {}", dir.display()).into());
    }
    let d = Admin::new(&log).describe_group(group)?;
    out.line(
        || format!("GROUP {}\tSTATE {:?}\tGENERATION {}\tMEMBERS {}", d.group, d.state, d.generation, d.members.len()),
        || json!({"group": d.group, "state": format!("{:?}", d.state), "generation": d.generation, "members": d.members.len()}),
    );
    out.line(
        || "TOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tCONSUMER-ID".into(),
        || serde_json::Value::Null,
    );
    for p in &d.partitions {
        let opt = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
        let TopicPartition { topic, partition } = &p.partition;
        out.line(
            || {
                format!(
                    "{topic}\t{partition}\t{}\t{}\t{}\t{}",
                    opt(p.committed),
                    p.log_end_offset,
                    opt(p.lag),
                    p.member_id.as_deref().unwrap_or("-")
                )
            },
            || {
                json!({"topic": topic, "partition": partition, "committed": p.committed,
                       "log_end_offset": p.log_end_offset, "lag": p.lag, "member": p.member_id})
            },
        );
    }
    Ok(Outcome::Clean)
}
