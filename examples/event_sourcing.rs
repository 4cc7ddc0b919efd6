//! Event sourcing with partlog: bank accounts whose every change is an event.
//!
//! - Commands (open, deposit, withdraw) are checked against the current state; only valid ones
//!   become events, appended to the account's partition (keyed by account, so one account's
//!   events stay in order), synchronously (fsynced before the command is acknowledged).
//! - A projection consumes the events into balances. Every few hundred events it writes one
//!   snapshot per account to a compacted topic, together with its own positions, in one batch:
//!   state and position are stored together, so they can never disagree.
//! - After a restart the state is rebuilt from the snapshots plus the events after their
//!   positions, and checked against a full replay from the first event.
//!
//! An event store keeps its history for years: Kafka's default `retention.ms` (7 days) would
//! delete it. The event topic here is created with `TopicConfig::event_store()`:
//! `retention.ms=-1` and `retention.bytes=-1`.
//!
//!     cargo run --example event_sourcing -- DIR    # run it again on DIR: history grows, state is rebuilt

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use partlog::{CleanupPolicy, Consumer, ConsumerConfig, Error, Log, Record, TopicConfig, TopicPartition};

const EVENTS: &str = "account-events";
const SNAPSHOTS: &str = "account-snapshots";
const PARTITIONS: u32 = 4;
const ACCOUNTS: u64 = 20;
const COMMANDS: u64 = 2000;
const SNAPSHOT_EVERY: usize = 300;

/// The topic configuration of an event store: nothing is ever deleted by time or size, and
/// every event is fsynced before it is acknowledged.
fn event_store_config() -> Result<TopicConfig, Error> {
    // `retention.ms=-1` and `retention.bytes=-1`: Kafka's 7-day default would delete history.
    TopicConfig::event_store().set("flush.messages", "1")
}

/// Balances by account, and the position (next offset) per event partition they include.
#[derive(Debug, Default, PartialEq)]
struct State {
    balances: BTreeMap<String, i64>,
    positions: BTreeMap<u32, u64>,
}

impl State {
    fn apply(&mut self, event: &str) {
        let mut parts = event.split(' ');
        match (parts.next(), parts.next(), parts.next().and_then(|a| a.parse::<i64>().ok())) {
            (Some("opened"), Some(account), _) => {
                self.balances.insert(account.to_owned(), 0);
            }
            (Some("deposited"), Some(account), Some(amount)) => {
                *self.balances.entry(account.to_owned()).or_default() += amount
            }
            (Some("withdrew"), Some(account), Some(amount)) => {
                *self.balances.entry(account.to_owned()).or_default() -= amount
            }
            _ => {}
        }
    }
}

/// Reads every event from the given positions on (or from the start) into `state`.
fn catch_up(log: &Log, state: &mut State) -> Result<usize, Error> {
    let mut consumer = Consumer::new(log, ConsumerConfig::default())?;
    let partitions: Vec<TopicPartition> = (0..PARTITIONS).map(|p| TopicPartition::new(EVENTS, p)).collect();
    consumer.assign(&partitions)?;
    for tp in &partitions {
        consumer.seek(tp, state.positions.get(&tp.partition).copied().unwrap_or(0))?;
    }
    let ends = consumer.end_offsets(&partitions)?;
    let mut applied = 0;
    while partitions.iter().zip(&ends).any(|(tp, end)| state.positions.get(&tp.partition).copied().unwrap_or(0) < *end)
    {
        for r in consumer.poll(Duration::from_millis(100))? {
            state.apply(&String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()));
            state.positions.insert(r.partition, r.offset + 1);
            applied += 1;
        }
    }
    Ok(applied)
}

/// Writes one snapshot per account and the positions, as one batch of the compacted topic.
fn snapshot(log: &Log, state: &State) -> Result<(), Error> {
    let mut records: Vec<(String, String)> =
        state.balances.iter().map(|(account, balance)| (format!("account/{account}"), balance.to_string())).collect();
    records.extend(state.positions.iter().map(|(p, next)| (format!("position/{p}"), next.to_string())));
    let batch: Vec<Record<'_>> =
        records.iter().map(|(k, v)| Record::new(v.as_bytes()).with_key(k.as_bytes())).collect();
    log.partition(SNAPSHOTS, 0)?.append(&batch)?;
    Ok(())
}

/// The latest snapshot of every key (a compacted topic read to its end).
fn load_snapshot(log: &Log) -> Result<State, Error> {
    let mut state = State::default();
    let p = log.partition(SNAPSHOTS, 0)?;
    for r in p.read(p.log_start_offset(), usize::MAX)? {
        let (Some(key), Some(value)) = (r.key, r.value) else { continue };
        let (key, value) = (String::from_utf8_lossy(&key).to_string(), String::from_utf8_lossy(&value).to_string());
        if let Some(account) = key.strip_prefix("account/") {
            state.balances.insert(account.to_owned(), value.parse().unwrap_or(0));
        } else if let Some(partition) = key.strip_prefix("position/") {
            state.positions.insert(partition.parse().unwrap_or(0), value.parse().unwrap_or(0));
        }
    }
    Ok(state)
}

fn main() -> Result<(), Error> {
    let dir = std::env::args_os().nth(1).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("data/event_sourcing"));
    let log = Log::open(&dir)?;
    let events = match log.topic(EVENTS) {
        Ok(t) => t,
        Err(Error::UnknownTopic { .. }) => log.create_topic(EVENTS, PARTITIONS, event_store_config()?)?,
        Err(e) => return Err(e),
    };
    if log.topic(SNAPSHOTS).is_err() {
        let mut config = TopicConfig::default();
        config.cleanup_policy = CleanupPolicy::Compact;
        log.create_topic(SNAPSHOTS, 1, config)?;
    }
    let history: u64 = events.partitions().iter().map(|p| p.log_end_offset()).sum();
    println!(
        "{} with {history} events in history; {EVENTS}: retention.ms={} (kept forever), flush.messages={}",
        dir.display(),
        events.config().retention_ms,
        events.config().flush_messages
    );

    // Rebuild the current state: snapshots, then the events after them.
    let mut state = load_snapshot(&log)?;
    let from_snapshot = state.balances.len();
    let replayed = catch_up(&log, &mut state)?;
    println!("state rebuilt: {from_snapshot} account snapshots + {replayed} events replayed after their positions");

    // Commands, checked against the current state.
    let (mut accepted, mut rejected, mut since_snapshot) = (0, 0, 0);
    let mut rng = 0x2545f4914f6cdd1du64 ^ history;
    for _ in 0..COMMANDS {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let account = format!("acct-{}", rng % ACCOUNTS);
        let amount = (rng >> 8) % 500 + 1;
        let event = match (state.balances.get(&account), (rng >> 20) % 3) {
            (None, _) => format!("opened {account}"),
            (Some(_), 0 | 1) => format!("deposited {account} {amount}"),
            (Some(&balance), _) if balance >= amount as i64 => format!("withdrew {account} {amount}"),
            (Some(_), _) => {
                rejected += 1; // insufficient funds: no event
                continue;
            }
        };
        let partition = events.partition_for_key(account.as_bytes());
        let info = partition.append(&[Record::new(event.as_bytes()).with_key(account.as_bytes())])?;
        state.apply(&event);
        state.positions.insert(partition.id(), info.last_offset + 1);
        accepted += 1;
        since_snapshot += 1;
        if since_snapshot == SNAPSHOT_EVERY {
            snapshot(&log, &state)?;
            since_snapshot = 0;
        }
    }
    println!("{accepted} commands accepted as events, {rejected} rejected (insufficient funds)");
    log.close()?;

    // A restart: rebuild from the snapshots, and check against a full replay.
    let log = Log::open(&dir)?;
    let mut rebuilt = load_snapshot(&log)?;
    let (snapshots, replayed) = (rebuilt.balances.len(), catch_up(&log, &mut rebuilt)?);
    let mut full = State::default();
    let all = catch_up(&log, &mut full)?;
    let total: i64 = rebuilt.balances.values().sum();
    println!(
        "after a restart: {snapshots} snapshots + {replayed} events replayed = a full replay of {all} events: {}; total balance {total}",
        if rebuilt == full { "identical" } else { "DIFFERENT" }
    );
    if rebuilt != full || rebuilt != state {
        std::process::exit(1);
    }
    Ok(())
}
