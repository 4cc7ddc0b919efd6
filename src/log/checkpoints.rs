//! Kafka's offset checkpoint files in the data directory: per partition, the recovery point,
//! the log start offset and compaction's first dirty offset. Format: a version line (0), a count
//! line, then `topic partition offset` lines; written atomically. Entries of partitions partlog
//! does not open (a KRaft broker's `__cluster_metadata 0`, a topic of another tool) are read,
//! and written back as they were.

use std::collections::BTreeMap;
use std::path::Path;

use super::{LogInner, RecoveryMode};
use crate::error::{Error, Result};
use crate::log::topic::is_kafka_topic_name;
use crate::partition::{Partition, RecoveryEvent};
use crate::storage::files;

pub(super) const RECOVERY_POINT_FILE: &str = "recovery-point-offset-checkpoint";
pub(super) const LOG_START_OFFSET_FILE: &str = "log-start-offset-checkpoint";
pub(super) const CLEANER_OFFSET_FILE: &str = "cleaner-offset-checkpoint";

impl LogInner {
    /// Writes `recovery-point-offset-checkpoint` and `log-start-offset-checkpoint` atomically
    /// (Kafka's format: version, count, then `topic partition offset` lines).
    pub(super) fn write_checkpoints(&self) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        let _guard = self.checkpoint.lock();
        let partitions = self.partitions();
        let foreign = self.foreign_checkpoints.lock();
        let write = |file: &str, foreign: &Checkpoint, offset: &dyn Fn(&Partition) -> u64| {
            let mut text = format!("0\n{}\n", partitions.len() + foreign.len());
            for p in &partitions {
                text.push_str(&format!("{} {} {}\n", p.topic(), p.id(), offset(p)));
            }
            // Entries of partitions partlog did not open, as they were.
            for ((topic, id), offset) in foreign {
                text.push_str(&format!("{topic} {id} {offset}\n"));
            }
            files::write_atomic(&*self.options.io, &self.dir.join(file), text.as_bytes())
        };
        write(RECOVERY_POINT_FILE, &foreign[0], &|p| p.recovery_point())?;
        write(LOG_START_OFFSET_FILE, &foreign[1], &|p| p.log_start_offset())?;
        write(CLEANER_OFFSET_FILE, &foreign[2], &|p| p.first_dirty_offset())
    }
}

/// An offset checkpoint file's content: `(topic, partition) → offset`.
pub(super) type Checkpoint = BTreeMap<(String, u32), u64>;

/// Reads an offset checkpoint (`recovery-point-offset-checkpoint`, `log-start-offset-checkpoint`).
/// A missing file means "no knowledge" (recover everything, log start at the first segment); an
/// unreadable one is reported and means the same, or fails the open in strict mode.
pub(super) fn read_checkpoint(path: &Path, mode: RecoveryMode, report: &mut Vec<RecoveryEvent>) -> Result<Checkpoint> {
    let path = path.to_owned();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Checkpoint::new()),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => String::new(),
        Err(e) => return Err(Error::io("read", &path)(e)),
    };
    match parse_checkpoint(&text) {
        Some(points) => Ok(points),
        None if mode == RecoveryMode::Strict => {
            Err(Error::BadFile { path, reason: "not a Kafka offset checkpoint (version 0, count, entries)".into() })
        }
        None => {
            report.push(RecoveryEvent {
                partition: "*".into(),
                segment: path,
                position: 0,
                bytes_dropped: 0,
                lost_offsets: None,
                reason: "unreadable offset checkpoint: ignored (recovery checks every segment; log start offsets \
                         fall back to the first segment)"
                    .into(),
            });
            Ok(Checkpoint::new())
        }
    }
}

fn parse_checkpoint(text: &str) -> Option<Checkpoint> {
    let mut lines = text.lines();
    if lines.next()? != "0" {
        return None;
    }
    let count: usize = lines.next()?.parse().ok()?;
    let mut points = Checkpoint::new();
    for _ in 0..count {
        let mut fields = lines.next()?.split(' ');
        let (topic, partition, offset) = (fields.next()?, fields.next()?.parse().ok()?, fields.next()?.parse().ok()?);
        if fields.next().is_some() || !is_kafka_topic_name(topic) {
            return None;
        }
        points.insert((topic.to_owned(), partition), offset);
    }
    lines.next().is_none().then_some(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_point_checkpoints_parse_kafkas_format_only() {
        let points = parse_checkpoint("0\n3\norders 0 15\na-b.c 3 0\n__cluster_metadata 0 7\n").unwrap();
        assert_eq!(points.get(&("orders".into(), 0)), Some(&15));
        // A KRaft broker's metadata log: not partlog's, but a broker's checkpoints list it.
        assert_eq!(points.get(&("__cluster_metadata".into(), 0)), Some(&7));
        assert_eq!(points.get(&("a-b.c".into(), 3)), Some(&0));
        for bad in ["", "1\n0\n", "0\n2\norders 0 15\n", "0\n1\norders 0\n", "0\n1\n../x 0 1\n", "0\n0\nextra\n"] {
            assert_eq!(parse_checkpoint(bad), None, "{bad:?}");
        }
    }
}
