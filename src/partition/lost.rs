//! Offsets found lost: written, and their data gone (a segment cut or deleted behind partlog's
//! back; `docs/design.md`, Recovery). Reads that reach them fail with [`Error::OffsetsLost`];
//! no offset of them is handed out again.
//!
//! Where a partition's offsets are dense, a gap between segments is found again at every open.
//! Where gaps are legal (compaction, Kafka's data), the offsets lost below a recorded recovery
//! point are found only once, so those are recorded in the partition directory, in
//! `partlog-lost-offsets` (Kafka ignores files it does not know there), written atomically:
//!
//! | line | content |
//! |---|---|
//! | 1 | version, `0` |
//! | 2 | number of ranges |
//! | each next | `<first offset lost> <offset after the last>` |

use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::storage::files;
use crate::storage::io::Io;

/// The record's file name in the partition directory.
pub(crate) const LOST_OFFSETS_FILE: &str = "partlog-lost-offsets";

/// The most ranges a record holds: each open adds at most one.
const MAX_RANGES: usize = 10_000;

/// A range of lost offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LostOffsets {
    pub range: Range<u64>,
    /// The segment file they follow.
    pub after: PathBuf,
}

/// The ranges recorded in `dir`; none if there is no record. An unreadable record is an error
/// naming the file (it is never rewritten from nothing: the ranges it holds would be forgotten).
pub(crate) fn read_record(dir: &Path) -> Result<Vec<Range<u64>>> {
    let path = dir.join(LOST_OFFSETS_FILE);
    let text = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read", &path)(e)),
    };
    parse(&String::from_utf8_lossy(&text)).ok_or_else(|| Error::BadFile {
        path,
        reason: format!(
            "not a record of lost offsets (version 0, a count of at most {MAX_RANGES}, then `from to` lines with \
             from < to)"
        ),
    })
}

/// Deletes what an interrupted [`write_record`] left in `dir`; the record before it is intact.
pub(crate) fn remove_unfinished(dir: &Path) -> Result<()> {
    let tmp = dir.join(format!("{}{LOST_OFFSETS_FILE}", files::TMP_PREFIX));
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("delete", &tmp)(e)),
        _ => Ok(()),
    }
}

/// Records `ranges` in `dir` (the file is removed when there are none).
pub(crate) fn write_record(io: &dyn Io, dir: &Path, ranges: &[Range<u64>]) -> Result<()> {
    let path = dir.join(LOST_OFFSETS_FILE);
    if ranges.is_empty() {
        return match std::fs::remove_file(&path) {
            Ok(()) => files::sync_dir(io, dir),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("delete", &path)(e)),
        };
    }
    // Bounded as the reader bounds it (a record it would refuse would make the partition
    // unopenable): past MAX_RANGES, the oldest ranges are forgotten and read as gaps again.
    let ranges = &ranges[ranges.len().saturating_sub(MAX_RANGES)..];
    files::write_atomic(io, &path, format(ranges).as_bytes())
}

fn format(ranges: &[Range<u64>]) -> String {
    let mut text = format!("0\n{}\n", ranges.len());
    for r in ranges {
        text.push_str(&format!("{} {}\n", r.start, r.end));
    }
    text
}

fn parse(text: &str) -> Option<Vec<Range<u64>>> {
    let mut lines = text.lines();
    if lines.next()? != "0" {
        return None;
    }
    let count: usize = lines.next()?.parse().ok().filter(|&n| n <= MAX_RANGES)?;
    let mut ranges = Vec::with_capacity(count);
    for _ in 0..count {
        let (from, to) = lines.next()?.split_once(' ')?;
        let range = from.parse().ok()?..to.parse().ok()?;
        if range.is_empty() {
            return None;
        }
        ranges.push(range);
    }
    lines.next().is_none().then_some(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_of_lost_offsets_parse_what_they_format_only() {
        let ranges = vec![24..30, 100..15_000];
        assert_eq!(parse(&format(&ranges)), Some(ranges));
        assert_eq!(parse("0\n0\n"), Some(Vec::new()));
        for bad in
            ["", "1\n0\n", "0\n1\n", "0\n1\n5 5\n", "0\n1\n6 5\n", "0\n1\n1 2 3\n", "0\n1\n1 2\n3 4\n", "0\n99999\n"]
        {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_record_is_never_written_longer_than_a_reader_takes() {
        let dir = tempfile::tempdir().unwrap();
        let ranges: Vec<Range<u64>> = (0..MAX_RANGES as u64 + 5).map(|i| i * 10..i * 10 + 5).collect();
        write_record(&crate::storage::io::OsIo, dir.path(), &ranges).unwrap();
        let read = read_record(dir.path()).expect("readable");
        assert_eq!(read.len(), MAX_RANGES);
        assert_eq!(read.last(), ranges.last(), "the newest kept");
    }
}
