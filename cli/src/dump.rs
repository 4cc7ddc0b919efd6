//! `partlog dump`: segment files and indexes as `kafka-dump-log` prints them, with the checks
//! `partlog verify` runs on every segment.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use partlog::batch::{self, BatchHeader, LOG_OVERHEAD};
use partlog::TimestampType;
use serde_json::json;

use crate::write::count;
use crate::{json_bytes, show, Failure, Out, Outcome};

/// The size of a v2 batch header (Kafka's `RECORD_BATCH_OVERHEAD`).
const BATCH_HEADER_LEN: usize = 61;
/// The largest batch a segment can hold (int32 positions).
const MAX_BATCH: u64 = i32::MAX as u64;

#[derive(clap::Args)]
pub struct DumpArgs {
    /// `.log`, `.index` or `.timeindex` files, partition directories (all their segments), or
    /// data directories (every partition directory in them).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Decode every record of every batch.
    #[arg(long)]
    pub deep_iteration: bool,
    /// Print each record's key and value (implies --deep-iteration).
    #[arg(long)]
    pub print_data_log: bool,
    /// Print each record of `__consumer_offsets` decoded, as Kafka's: offset commits, group
    /// metadata, tombstones as `<DELETE>` (implies --print-data-log).
    #[arg(long)]
    pub offsets_decoder: bool,
    /// Check index entries against their segment's data file; prints the damage found and the
    /// verdict, not the entries (as Kafka's does).
    #[arg(long)]
    pub index_sanity_check: bool,
}

/// What a dump prints of each record's key and value.
#[derive(Clone, Copy, PartialEq)]
pub enum Data {
    /// Their sizes only.
    Sizes,
    /// Their bytes (--print-data-log).
    Bytes,
    /// Decoded as records of `__consumer_offsets` (--offsets-decoder).
    Offsets,
}

pub fn run(args: &DumpArgs, out: &Out) -> Result<Outcome, Failure> {
    let data = match (args.offsets_decoder, args.print_data_log) {
        (true, _) => Data::Offsets,
        (false, true) => Data::Bytes,
        (false, false) => Data::Sizes,
    };
    let deep = args.deep_iteration || data != Data::Sizes;
    let mut damaged = false;
    for path in &args.files {
        for file in expand(path)? {
            out.line(|| format!("Dumping {}", file.display()), || json!({"file": file}));
            damaged |= dump_file(&file, deep, data, args.index_sanity_check, out)?;
        }
    }
    Ok(if damaged { Outcome::Damaged } else { Outcome::Clean })
}

/// The file itself; a partition directory's segment files (each `.log` with its indexes); or,
/// for a data directory, those of every partition directory in it, by topic and partition.
/// A directory with no segment file in it or in its subdirectories is an error.
pub fn expand(path: &Path) -> Result<Vec<PathBuf>, Failure> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let files = segment_files(path)?;
    if !files.is_empty() {
        return Ok(files);
    }
    let mut partitions: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| format!("cannot list {}: {e}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    // `orders-2` before `orders-10`.
    partitions.sort_by_cached_key(|p| {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match name.rsplit_once('-').and_then(|(topic, id)| Some((topic.to_owned(), id.parse::<u32>().ok()?))) {
            Some((topic, id)) => (topic, id, name),
            None => (name.clone(), u32::MAX, name),
        }
    });
    let mut files = Vec::new();
    for partition in &partitions {
        files.extend(segment_files(partition)?);
    }
    if files.is_empty() {
        return Err(format!(
            "{}: no segment file (.log, .index, .timeindex) in it or in a partition directory in it",
            path.display()
        )
        .into());
    }
    Ok(files)
}

/// The segment files of one directory, sorted.
fn segment_files(dir: &Path) -> Result<Vec<PathBuf>, Failure> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("log" | "index" | "timeindex")))
        .collect();
    files.sort();
    Ok(files)
}

/// Dumps one file; true if it found damage.
pub fn dump_file(path: &Path, deep: bool, data: Data, sanity: bool, out: &Out) -> Result<bool, Failure> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("log") => dump_log(path, deep, data, out),
        Some("index") => dump_index(path, IndexKind::Offset, sanity, out),
        Some("timeindex") => dump_index(path, IndexKind::Time, sanity, out),
        _ => Err(format!("{}: not a .log, .index or .timeindex file", path.display()).into()),
    }
}

fn base_offset_of(path: &Path) -> Result<u64, Failure> {
    path.file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{}: not a segment file name (20 digits, the base offset)", path.display()).into())
}

fn read_at(file: &File, path: &Path, position: u64, len: usize) -> Result<Vec<u8>, Failure> {
    let mut buf = vec![0; len];
    file.read_exact_at(&mut buf, position).map_err(|e| format!("cannot read {} at {position}: {e}", path.display()))?;
    Ok(buf)
}

/// A problem found at `position` of `path`: printed, and counted as damage.
fn damage(out: &Out, path: &Path, position: u64, problem: &str) {
    out.line(
        || format!("DAMAGE {} at position {position}: {problem}", path.display()),
        || json!({"damage": problem, "file": path, "position": position}),
    );
}

/// Dumps a `.log` file batch by batch. A batch whose CRC fails or whose records cannot be
/// decoded is reported and passed over, as Kafka's DumpLogSegments does, while its length field
/// is usable; where it is not (or the file ends inside a batch), the dump stops, reporting the
/// position and the bytes not read.
fn dump_log(path: &Path, deep: bool, data: Data, out: &Out) -> Result<bool, Failure> {
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let len = file.metadata()?.len();
    let base = base_offset_of(path)?;
    out.line(|| format!("Log starting offset: {base}"), || json!({"log_starting_offset": base}));
    let mut position = 0u64;
    let mut expected_next: Option<i64> = None;
    let mut damaged = false;
    while position < len {
        let left = len - position;
        let head = read_at(&file, path, position, (left as usize).min(BATCH_HEADER_LEN))?;
        if head.len() >= LOG_OVERHEAD && head[8..12] == [0; 4] && zeros_from(&file, path, position, len)? {
            out.line(
                || format!("Zero-filled from position {position} to the end ({left} bytes): space a running writer reserved"),
                || json!({"zero_filled_from": position, "bytes": left}),
            );
            return Ok(damaged);
        }
        let not_read = |problem: String| format!("{problem}; the last {left} bytes of the file are not read");
        if head.len() < LOG_OVERHEAD + 5 {
            damage(out, path, position, &not_read("the file ends inside a batch header".into()));
            return Ok(true);
        }
        let length = i32::from_be_bytes(head[8..12].try_into().expect("4 bytes"));
        let magic = head[16] as i8;
        let total = (length as i64 + LOG_OVERHEAD as i64).max(0) as u64;
        // A v2 batch is at least its header; other magic values are for the checks below.
        let least = if magic == 2 { BATCH_HEADER_LEN as u64 } else { LOG_OVERHEAD as u64 + 5 };
        if length <= 0 || total > MAX_BATCH || total < least {
            damage(out, path, position, &not_read(format!("batch length {length} is not a batch's")));
            return Ok(true);
        }
        if total > left {
            damage(out, path, position, &not_read(format!("the file ends inside a batch of {total} bytes")));
            return Ok(true);
        }
        let bytes = read_at(&file, path, position, total as usize)?;
        let mut records = Vec::new();
        let checked = batch::for_each_record(&bytes, |_, r| {
            if deep {
                records.push(record_line(&r, data));
            }
        });
        if magic != 2 {
            out.line(
                || {
                    format!(
                        "position: {position} size: {total} magic: {magic} ({}) valid: {}",
                        if magic == 0 || magic == 1 { "a legacy message set" } else { "not a known format" },
                        checked.is_ok()
                    )
                },
                || json!({"position": position, "size": total, "magic": magic, "valid": checked.is_ok()}),
            );
        } else if let Some(header) = BatchHeader::parse(&bytes) {
            let crc_valid = crc32c::crc32c(&bytes[21..]) == header.crc;
            batch_line(out, &header, position, crc_valid);
            if let Some(next) = expected_next.filter(|&next| header.base_offset < next) {
                damage(
                    out,
                    path,
                    position,
                    &format!("base offset {} is below {next}, where the batch before ended", header.base_offset),
                );
                damaged = true;
            }
            // From this batch on, even after one out of order: a damaged base offset is reported
            // once, not again for every batch after it.
            expected_next = Some(header.last_offset().saturating_add(1));
        }
        for (text, value) in records {
            out.line(|| text, || value);
        }
        if let Err(e) = checked {
            let problem = match e {
                partlog::Error::InvalidBatch { problem, .. } => problem.to_string(),
                other => other.to_string(),
            };
            damage(
                out,
                path,
                position,
                &format!("{problem}; this batch's {total} bytes are skipped, and the batches after it are read"),
            );
            damaged = true;
        }
        position += total;
    }
    Ok(damaged)
}

fn zeros_from(file: &File, path: &Path, mut position: u64, len: u64) -> Result<bool, Failure> {
    while position < len {
        let chunk = read_at(file, path, position, ((len - position) as usize).min(1 << 20))?;
        if chunk.iter().any(|&b| b != 0) {
            return Ok(false);
        }
        position += chunk.len() as u64;
    }
    Ok(true)
}

fn batch_line(out: &Out, h: &BatchHeader, position: u64, crc_valid: bool) {
    let time_type = match h.timestamp_type() {
        TimestampType::CreateTime => "CreateTime",
        TimestampType::LogAppendTime => "LogAppendTime",
    };
    let codec = match h.compression() {
        Some(c) => format!("{c:?}").to_lowercase(),
        None => "unknown".into(),
    };
    let last_sequence = if h.base_sequence < 0 { -1 } else { h.base_sequence.wrapping_add(h.last_offset_delta) };
    out.line(
        || {
            format!(
                "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {last_sequence} producerId: {} \
                 producerEpoch: {} partitionLeaderEpoch: {} isTransactional: {} isControl: {} position: {position} \
                 {time_type}: {} size: {} magic: {} compresscodec: {codec} crcValid: {crc_valid}",
                h.base_offset,
                h.last_offset(),
                h.records_count,
                h.base_sequence,
                h.producer_id,
                h.producer_epoch,
                h.partition_leader_epoch,
                h.is_transactional(),
                h.is_control(),
                h.max_timestamp,
                h.total_size(),
                h.magic,
            )
        },
        || {
            json!({
                "base_offset": h.base_offset, "last_offset": h.last_offset(), "count": h.records_count,
                "base_sequence": h.base_sequence, "last_sequence": last_sequence, "producer_id": h.producer_id,
                "producer_epoch": h.producer_epoch, "partition_leader_epoch": h.partition_leader_epoch,
                "is_transactional": h.is_transactional(), "is_control": h.is_control(), "position": position,
                "timestamp_type": time_type, "max_timestamp": h.max_timestamp, "size": h.total_size(),
                "magic": h.magic, "compression": codec, "crc_valid": crc_valid,
            })
        },
    );
}

fn record_line(r: &partlog::RecordRef<'_>, data: Data) -> (String, serde_json::Value) {
    let len = |b: Option<&[u8]>| b.map_or(-1, |b| b.len() as i64);
    let header_keys: Vec<String> = r.headers().map(|h| show(Some(h.key))).collect();
    let mut text = format!(
        "| offset: {} timestamp: {} keySize: {} valueSize: {} headerKeys: [{}]",
        r.offset(),
        r.timestamp(),
        len(r.key()),
        len(r.value()),
        header_keys.join(",")
    );
    let mut value = json!({
        "offset": r.offset(), "timestamp": r.timestamp(), "key_size": len(r.key()),
        "value_size": len(r.value()), "header_keys": header_keys,
    });
    match data {
        Data::Sizes => {}
        Data::Bytes => {
            text.push_str(&format!(" key: {} payload: {}", show(r.key()), show(r.value())));
            value["key"] = json_bytes(r.key());
            value["payload"] = json_bytes(r.value());
        }
        // As Kafka's: the key and payload decoded, `<DELETE>` for a tombstone, or in place of
        // the key why the record could not be decoded (JSON: null payload, or "decode_error").
        Data::Offsets => match crate::offsets::decode_record(r.offset() as i64, r.key(), r.value()) {
            Ok((key, payload)) => {
                let shown = payload.as_ref().map_or_else(|| "<DELETE>".to_owned(), |p| p.to_string());
                text.push_str(&format!(" key: {key} payload: {shown}"));
                value["key"] = (&key).into();
                value["payload"] = payload.as_ref().map_or(serde_json::Value::Null, Into::into);
            }
            Err(problem) => {
                text.push_str(&format!(" key: {problem}"));
                value["decode_error"] = problem.into();
            }
        },
    }
    (text, value)
}

#[derive(Clone, Copy, PartialEq)]
enum IndexKind {
    Offset,
    Time,
}

/// Dumps an index; with `sanity`, instead checks each entry as Kafka's `--index-sanity-check`
/// and `partlog verify` do (keys increasing, offsets within the segment, offset entries naming a
/// batch of their data file that starts at or below them), printing the damage and the verdict.
fn dump_index(path: &Path, kind: IndexKind, sanity: bool, out: &Out) -> Result<bool, Failure> {
    let base = base_offset_of(path)?;
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let size = if kind == IndexKind::Offset { 8 } else { 12 };
    if bytes.len() % size != 0 {
        damage(out, path, 0, &format!("length {} is not a multiple of the {size}-byte entry", bytes.len()));
        return Ok(true);
    }
    let log_path = path.with_extension("log");
    // Without its data file (deleted meanwhile), entries are checked among themselves only.
    let log = File::open(&log_path).ok();
    let log_len = log.as_ref().and_then(|f| f.metadata().ok()).map_or(0, |m| m.len());
    let entries: Vec<(i64, u64)> = bytes
        .chunks_exact(size)
        .map(|e| match kind {
            IndexKind::Offset => {
                let rel = u32::from_be_bytes(e[..4].try_into().expect("4")) as u64;
                (base.saturating_add(rel) as i64, u32::from_be_bytes(e[4..8].try_into().expect("4")) as u64)
            }
            IndexKind::Time => {
                let ts = i64::from_be_bytes(e[..8].try_into().expect("8"));
                (ts, base.saturating_add(u32::from_be_bytes(e[8..12].try_into().expect("4")) as u64))
            }
        })
        .collect();
    // An active segment's index is preallocated: zero slots after the entries.
    let used =
        entries.iter().rposition(|&(k, v)| !(k == base as i64 && v == 0 || k == 0 && v == base)).map_or(0, |i| i + 1);
    let mut damaged = false;
    let mut last_key = None;
    for (slot, &(key, second)) in entries[..used].iter().enumerate() {
        // A sanity check prints its verdict and any damage, not the entries (as Kafka's does).
        if !sanity {
            match kind {
                IndexKind::Offset => out.line(
                    || format!("offset: {key} position: {second}"),
                    || json!({"offset": key, "position": second}),
                ),
                IndexKind::Time => out.line(
                    || format!("timestamp: {key} offset: {second}"),
                    || json!({"timestamp": key, "offset": second}),
                ),
            }
            continue;
        }
        let position = (slot * size) as u64;
        if last_key.is_some_and(|last| key <= last) {
            damage(out, path, position, &format!("entry {slot}: key {key} does not increase"));
            damaged = true;
        }
        last_key = Some(key);
        if kind == IndexKind::Offset {
            match &log {
                None => {}
                // The base offset is all a check needs: legacy message sets have it too.
                Some(log) if second + LOG_OVERHEAD as u64 <= log_len => {
                    let head = read_at(log, &log_path, second, LOG_OVERHEAD)?;
                    let batch_base = i64::from_be_bytes(head[..8].try_into().expect("8"));
                    if batch_base > key {
                        damage(out, path, position, &format!("entry {slot}: the batch at position {second} starts at {batch_base}, past offset {key}"));
                        damaged = true;
                    }
                }
                _ => {
                    damage(
                        out,
                        path,
                        position,
                        &format!("entry {slot}: position {second} is past the data file's {log_len} bytes"),
                    );
                    damaged = true;
                }
            }
        } else if second - base > i32::MAX as u64 {
            damage(out, path, position, &format!("entry {slot}: relative offset {} is past int32", second - base));
            damaged = true;
        }
    }
    if used < entries.len() && !sanity {
        let unused = entries.len() - used;
        out.line(
            || {
                format!(
                    "{} after {}: preallocated by a running writer",
                    count(unused as u64, "empty slot", "empty slots"),
                    count(used as u64, "entry", "entries")
                )
            },
            || json!({"empty_slots": unused, "entries": used}),
        );
    }
    if sanity {
        // Kafka's verdict line; in JSON, no "damage" key, so that `verify` (damage only) skips it.
        let verdict = if damaged { "failed" } else { "passed" };
        out.line(
            || format!("{} {verdict} sanity check.", path.display()),
            || json!({"file": path, "sanity_check": verdict}),
        );
    }
    Ok(damaged)
}
