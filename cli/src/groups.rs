//! `groups reset-offsets` and `groups delete` (kafka-consumer-groups --reset-offsets and
//! --delete), through the library's [`Admin`]. A group's members live in the process that has
//! the directory open, so both open it as its owner: the application must have closed it. The
//! group is then as that open sees it (members of an earlier open that cannot come back are
//! gone; static members stay within their session timeout), so a dry run plans exactly what
//! `--execute` would do.

use std::collections::BTreeMap;
use std::path::Path;

use partlog::{Admin, GroupState, Log, OffsetAndMetadata, TopicPartition};
use serde_json::json;

use crate::{Failure, Out, Outcome};

/// The offsets topic, where consumer groups live.
const OFFSETS_TOPIC: &str = "__consumer_offsets";

#[derive(clap::Args)]
#[command(
    group = clap::ArgGroup::new("scope").required(true).args(["topic", "all_topics"]),
    group = clap::ArgGroup::new("to").required(true)
        .args(["to_earliest", "to_latest", "to_current", "to_offset", "to_datetime", "shift_by"]),
    after_help = "Without --execute this is a dry run: it prints the plan (GROUP, TOPIC, PARTITION, NEW-OFFSET) \
and changes nothing. Only a group without active members can be reset, as in Kafka. A new offset outside a partition's \
log start and end offsets is moved to the nearest of them (with a warning)."
)]
pub struct ResetArgs {
    /// The consumer group (created by --execute if it does not exist, as in Kafka).
    pub group: String,
    /// A topic (all its partitions), or `TOPIC:0,2` (those partitions); repeatable.
    #[arg(long, value_name = "TOPIC[:PARTITIONS]")]
    pub topic: Vec<String>,
    /// Every partition the group has a committed offset for.
    #[arg(long)]
    pub all_topics: bool,
    /// To each partition's log start offset.
    #[arg(long)]
    pub to_earliest: bool,
    /// To each partition's log end offset.
    #[arg(long)]
    pub to_latest: bool,
    /// To the committed offset (the log end offset where there is none).
    #[arg(long)]
    pub to_current: bool,
    /// To this offset.
    #[arg(long, value_name = "OFFSET")]
    pub to_offset: Option<u64>,
    /// To the first record at or after this time: `YYYY-MM-DDTHH:mm:SS.sss`, UTC unless it ends
    /// in `Z` or an offset such as `+02:00` (Kafka's format).
    #[arg(long, value_name = "DATETIME")]
    pub to_datetime: Option<String>,
    /// By this many offsets from the committed offset (negative: back).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub shift_by: Option<i64>,
    /// Print the plan and change nothing (the default).
    #[arg(long, conflicts_with = "execute")]
    pub dry_run: bool,
    /// Reset the offsets.
    #[arg(long)]
    pub execute: bool,
}

pub fn reset_offsets(dir: &Path, args: &ResetArgs, out: &Out) -> Result<Outcome, Failure> {
    let log = crate::open_for_groups(dir, "reset a group's offsets")?;
    let result = plan_and_reset(&log, args, out);
    log.close()?;
    result
}

fn plan_and_reset(log: &Log, args: &ResetArgs, out: &Out) -> Result<Outcome, Failure> {
    let group = &args.group;
    // Without the offsets topic no group exists; the Admin would create the topic, which only
    // --execute may do.
    let admin = log.topic(OFFSETS_TOPIC).is_ok().then(|| Admin::new(log));
    if let Some(admin) = &admin {
        match admin.describe_group(group) {
            Ok(d) if !matches!(d.state, GroupState::Empty | GroupState::Dead) => {
                return Err(format!(
                    "Assignments can only be reset if the group '{group}' is inactive, but the current state is {}.",
                    d.state
                )
                .into());
            }
            Ok(_) | Err(partlog::Error::UnknownGroup { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let committed: BTreeMap<TopicPartition, u64> = match admin.as_ref().map(|a| a.list_group_offsets(group)) {
        Some(Ok(offsets)) => offsets.into_iter().map(|(tp, o)| (tp, o.offset)).collect(),
        None | Some(Err(partlog::Error::UnknownGroup { .. })) => BTreeMap::new(),
        Some(Err(e)) => return Err(e.into()),
    };
    let partitions = if args.all_topics { committed.keys().cloned().collect() } else { partitions(log, &args.topic)? };
    let target = Target::of(args)?;
    let mut plan = Vec::new();
    for tp in partitions {
        let offset = target.offset(log, &tp, committed.get(&tp).copied())?;
        plan.push((tp, offset));
    }
    if args.execute {
        let offsets: Vec<_> = plan.iter().map(|(tp, o)| (tp.clone(), OffsetAndMetadata::new(*o))).collect();
        let admin = admin.unwrap_or_else(|| Admin::new(log));
        admin.alter_group_offsets(group, &offsets).map_err(|e| match e {
            partlog::Error::CommitFailed { .. } => {
                format!("Assignments can only be reset if the group '{group}' is inactive: {e}")
            }
            e => e.to_string(),
        })?;
    } else if !args.dry_run && !out.json {
        eprintln!("Dry run: nothing changed (give --execute to reset these offsets).");
    }
    print_plan(group, &plan, out);
    Ok(Outcome::Clean)
}

/// The partitions `--topic` names: `T` (all of T's), or `T:0,2`.
fn partitions(log: &Log, topics: &[String]) -> Result<Vec<TopicPartition>, Failure> {
    let mut all = Vec::new();
    for arg in topics {
        match arg.split_once(':') {
            None => {
                let topic = log.topic(arg)?;
                all.extend((0..topic.partition_count()).map(|p| TopicPartition::new(arg.clone(), p)));
            }
            Some((topic, list)) => {
                for p in list.split(',') {
                    let p: u32 =
                        p.trim().parse().map_err(|_| format!("--topic {arg}: partition '{p}' is not a number"))?;
                    log.partition(topic, p)?;
                    all.push(TopicPartition::new(topic, p));
                }
            }
        }
    }
    all.sort();
    all.dedup();
    Ok(all)
}

/// Where `--to-…` or `--shift-by` moves a partition's committed offset.
enum Target {
    Earliest,
    Latest,
    Current,
    Offset(u64),
    Time(i64),
    ShiftBy(i64),
}

impl Target {
    fn of(args: &ResetArgs) -> Result<Target, Failure> {
        Ok(if args.to_earliest {
            Target::Earliest
        } else if args.to_latest {
            Target::Latest
        } else if args.to_current {
            Target::Current
        } else if let Some(offset) = args.to_offset {
            Target::Offset(offset)
        } else if let Some(text) = &args.to_datetime {
            Target::Time(parse_datetime(text).map_err(|e| format!("--to-datetime {text}: {e}"))?)
        } else if let Some(n) = args.shift_by {
            Target::ShiftBy(n)
        } else {
            unreachable!("clap requires one of the --to options")
        })
    }

    /// The new offset of `tp`, whose committed offset is `committed`.
    fn offset(&self, log: &Log, tp: &TopicPartition, committed: Option<u64>) -> Result<u64, Failure> {
        let p = log.partition(&tp.topic, tp.partition)?;
        let (start, end) = (p.log_start_offset(), p.log_end_offset());
        let wanted = match *self {
            Target::Earliest => return Ok(start),
            Target::Latest => return Ok(end),
            Target::Current => return Ok(committed.unwrap_or(end)),
            // No record at or after the time: the end, as Kafka falls back to the latest offset.
            Target::Time(ts) => return Ok(p.offset_for_timestamp(ts)?.map_or(end, |hit| hit.offset)),
            Target::Offset(offset) => i128::from(offset),
            Target::ShiftBy(n) => {
                let Some(current) = committed else {
                    return Err(format!(
                        "Cannot shift offset for partition {tp} since there is no current committed offset"
                    )
                    .into());
                };
                i128::from(current) + i128::from(n)
            }
        };
        // Kafka's checkOffsetsRange: into the partition's offsets, with a warning.
        if wanted > i128::from(end) {
            eprintln!("New offset ({wanted}) is higher than latest offset for topic partition {tp}. Value will be set to {end}.");
            Ok(end)
        } else if wanted < i128::from(start) {
            eprintln!("New offset ({wanted}) is lower than earliest offset for topic partition {tp}. Value will be set to {start}.");
            Ok(start)
        } else {
            Ok(wanted as u64) // between start and end
        }
    }
}

/// The plan, as kafka-consumer-groups prints it.
fn print_plan(group: &str, plan: &[(TopicPartition, u64)], out: &Out) {
    let group_width = group.len().max(15);
    let topic_width = plan.iter().map(|(tp, _)| tp.topic.len()).max().unwrap_or(0).max(15);
    out.line(
        || format!("{:group_width$} {:topic_width$} {:10} NEW-OFFSET", "GROUP", "TOPIC", "PARTITION"),
        || serde_json::Value::Null,
    );
    for (tp, offset) in plan {
        out.line(
            || format!("{group:group_width$} {:topic_width$} {:<10} {offset}", tp.topic, tp.partition),
            || json!({"group": group, "topic": tp.topic, "partition": tp.partition, "new_offset": offset}),
        );
    }
}

/// Deletes each group (with its committed offsets), as kafka-consumer-groups --delete: only
/// groups without members. Every group is tried; exit 2 if any could not be deleted.
pub fn delete(dir: &Path, groups: &[String], out: &Out) -> Result<Outcome, Failure> {
    let log = crate::open_for_groups(dir, "delete groups")?;
    // Without the offsets topic no group exists (and none is made by asking).
    let admin = log.topic(OFFSETS_TOPIC).is_ok().then(|| Admin::new(&log));
    let mut deleted = Vec::new();
    let mut failed = Vec::new();
    for group in groups {
        let result = match &admin {
            Some(admin) => admin.delete_group(group),
            None => Err(partlog::Error::UnknownGroup { group: group.clone() }),
        };
        match result {
            Ok(()) => deleted.push(group),
            Err(e) => failed.push((group, e)),
        }
    }
    log.close()?;
    let quoted = |groups: &[&String]| groups.iter().map(|g| format!("'{g}'")).collect::<Vec<_>>().join(", ");
    if failed.is_empty() {
        out.line(
            || format!("Deletion of requested consumer groups ({}) was successful.", quoted(&deleted)),
            || serde_json::Value::Null,
        );
    } else {
        out.line(|| "Error: Deletion of some consumer groups failed:".into(), || serde_json::Value::Null);
        for (group, e) in &failed {
            out.line(
                || format!("* Group '{group}' could not be deleted due to: {e}"),
                || json!({"group": group, "deleted": false, "reason": e.to_string()}),
            );
        }
        if !deleted.is_empty() {
            out.line(
                || format!("These consumer groups were deleted successfully: {}", quoted(&deleted)),
                || serde_json::Value::Null,
            );
        }
    }
    if out.json {
        for group in &deleted {
            out.line(String::new, || json!({"group": group, "deleted": true}));
        }
    }
    Ok(if failed.is_empty() { Outcome::Clean } else { Outcome::Failed })
}

/// Milliseconds since the epoch of `YYYY-MM-DDTHH:mm:SS.sss`, optionally followed by `Z` or an
/// offset `±HH:MM`, `±HHMM` or `±HH`; without one, UTC (as Kafka's `Utils.getDateTime`). The
/// `.sss` may be left out.
fn parse_datetime(text: &str) -> Result<i64, String> {
    const FORMAT: &str = "expected YYYY-MM-DDTHH:mm:SS.sss, optionally with Z or an offset such as +02:00";
    let (date, time) = text.split_once('T').ok_or(FORMAT)?;
    let (time, zone_ms) = match time.find(['Z', '+', '-']) {
        None => (time, 0),
        Some(at) => (&time[..at], zone_offset_ms(&time[at..]).ok_or(FORMAT)?),
    };
    let number = |s: &str, digits: usize| -> Result<i64, &str> {
        if s.len() == digits && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(s.parse().expect("digits"))
        } else {
            Err(FORMAT)
        }
    };
    let mut d = date.split('-');
    let (year, month, day) = match (d.next(), d.next(), d.next(), d.next()) {
        (Some(y), Some(m), Some(d), None) => (number(y, 4)?, number(m, 2)?, number(d, 2)?),
        _ => return Err(FORMAT.into()),
    };
    let (hms, millis) = match time.split_once('.') {
        Some((hms, ms)) => (hms, number(ms, 3)?),
        None => (time, 0),
    };
    let mut t = hms.split(':');
    let (hour, minute, second) = match (t.next(), t.next(), t.next(), t.next()) {
        (Some(h), Some(m), Some(s), None) => (number(h, 2)?, number(m, 2)?, number(s, 2)?),
        _ => return Err(FORMAT.into()),
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month[month as usize - 1] {
        return Err(format!("no such date {date}"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(format!("no such time {hms}"));
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Ok(seconds * 1000 + millis - zone_ms)
}

/// `Z`, `±HH:MM`, `±HHMM` or `±HH` in milliseconds east of UTC.
fn zone_offset_ms(zone: &str) -> Option<i64> {
    if zone == "Z" {
        return Some(0);
    }
    let sign = match zone.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: String = zone[1..].chars().filter(|&c| c != ':').collect();
    if !(digits.len() == 2 || digits.len() == 4) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i64 = digits[..2].parse().ok()?;
    let minutes: i64 = if digits.len() == 4 { digits[2..].parse().ok()? } else { 0 };
    (hours <= 23 && minutes <= 59).then_some(sign * (hours * 3600 + minutes * 60) * 1000)
}

/// Days since 1970-01-01 of a date of the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse_datetime;

    #[test]
    fn datetimes_parse_as_kafka_reads_them() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00.000"), Ok(0));
        assert_eq!(parse_datetime("1970-01-01T00:00:02.500Z"), Ok(2_500));
        assert_eq!(parse_datetime("2023-11-14T22:13:20.000"), Ok(1_700_000_000_000));
        assert_eq!(parse_datetime("2023-11-15T00:13:20.000+02:00"), Ok(1_700_000_000_000));
        assert_eq!(parse_datetime("2023-11-14T20:13:20-0200"), Ok(1_700_000_000_000));
        assert_eq!(parse_datetime("2024-02-29T00:00:00.000"), Ok(1_709_164_800_000));
        for bad in ["2023-11-14", "2023-02-29T00:00:00.000", "2023-11-14T24:00:00.000", "2023-11-14T22:13:20.5", "x"] {
            assert!(parse_datetime(bad).is_err(), "{bad}");
        }
    }
}
