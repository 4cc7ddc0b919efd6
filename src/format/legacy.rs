//! Legacy message sets (magic 0 and 1), read so that segments written by old brokers open
//! intact (Kafka's `LegacyRecord`, `AbstractLegacyRecordBatch`). partlog never writes them.
//!
//! Each log entry is one message:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | offset: the message's own; for a compressed wrapper, its last inner message's |
//! | 8 | 4 | size of the message that follows (the same place as a v2 batch's length) |
//! | 12 | 4 | CRC-32 (IEEE, not Castagnoli) of magic..end |
//! | 16 | 1 | magic: 0 or 1 (the same place as a v2 batch's magic) |
//! | 17 | 1 | attributes: bits 0..2 codec (none, gzip, snappy, lz4), bit 3 LogAppendTime (magic 1) |
//! | 18 | 8 | timestamp (magic 1 only) |
//! | … | 4 + n | key length (−1 for null) and key |
//! | … | 4 + n | value length (−1 for null) and value |
//!
//! A compressed message is a wrapper: its value is a compressed message set of uncompressed
//! inner messages of the same magic. Magic-0 inner messages carry absolute offsets; magic-1 inner
//! offsets are relative, the wrapper's offset being the last one's absolute offset. Inner
//! timestamps of a LogAppendTime wrapper are the wrapper's. Magic-0 lz4 uses the 0.8-era framing,
//! whose header checksum is wrong and ignored, as Kafka does.
//!
//! An entry reads as a batch: [`summarize`] gives the [`BatchHeader`] Kafka's batch interface
//! would (first and last offset, record count, max timestamp = the wrapper's timestamp), and
//! [`transcode`] gives its records as a v2 records section, so every reader after it is the v2
//! one.

use std::ops::Range;

use super::batch::{BatchHeader, LOG_OVERHEAD, MAX_DECOMPRESSED_BYTES};
use super::codec::{self, Compression, DecompressError};
use super::varint;
use crate::error::FormatError;

/// Where the magic byte is, in a legacy message and in a v2 batch alike.
pub(crate) const MAGIC_AT: usize = 16;
const CRC_AT: usize = 12;
const ATTRIBUTES_AT: usize = 17;
const CODEC_MASK: u8 = 0x07;
const LOG_APPEND_TIME: u8 = 0x08;
/// crc, magic, attributes, key length, value length.
const MESSAGE_OVERHEAD_V0: usize = 4 + 1 + 1 + 4 + 4;
/// Plus the timestamp.
const MESSAGE_OVERHEAD_V1: usize = MESSAGE_OVERHEAD_V0 + 8;
const NO_TIMESTAMP: i64 = -1;

/// Whether the entry at the start of `bytes` is a legacy message (its magic byte is 0 or 1).
pub(crate) fn is_legacy(bytes: &[u8]) -> bool {
    bytes.get(MAGIC_AT).is_some_and(|&m| m < 2)
}

/// The smallest whole entry of this magic.
pub(crate) fn min_entry_size(magic: u8) -> u64 {
    (LOG_OVERHEAD + if magic == 0 { MESSAGE_OVERHEAD_V0 } else { MESSAGE_OVERHEAD_V1 }) as u64
}

fn bad(problem: &'static str) -> FormatError {
    FormatError::BadLegacyMessage { index: None, problem }
}

/// One message, parsed and checked (size, CRC, attributes, key and value lengths).
struct Message<'a> {
    offset: i64,
    magic: u8,
    attributes: u8,
    timestamp: i64,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
}

impl Message<'_> {
    fn codec(&self) -> Result<Compression, FormatError> {
        match self.attributes & CODEC_MASK {
            id @ 0..=3 => Ok(Compression::from_id(id).expect("ids 0..3 are codecs")),
            id => Err(FormatError::UnknownCodec { id }),
        }
    }
}

fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be_i64(b: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Whether [`parse`] checks a message's CRC-32: Kafka checks a log entry's, never those of the
/// messages inside a wrapper (the wrapper's covers them, compressed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Crc {
    Verify,
    Skip,
}

/// Parses the entry that is exactly `entry`, as Kafka's `LegacyRecord` reads one: a negative
/// key or value length is null, and bytes after the value are not read.
fn parse(entry: &[u8], crc: Crc) -> Result<Message<'_>, FormatError> {
    let truncated = |needed| FormatError::Truncated { what: "legacy message", needed, available: entry.len() as u64 };
    let magic = *entry.get(MAGIC_AT).ok_or(truncated(MAGIC_AT as u64 + 1))?;
    if magic > 1 {
        return Err(FormatError::BadMagic { got: magic as i8 });
    }
    let size = be_i32(entry, 8).expect("present below the magic byte");
    let min = min_entry_size(magic);
    if (size as i64) + (LOG_OVERHEAD as i64) < min as i64 {
        return Err(bad("size field below the message overhead"));
    }
    if size as u64 + LOG_OVERHEAD as u64 != entry.len() as u64 {
        return Err(truncated(size as u64 + LOG_OVERHEAD as u64));
    }
    if crc == Crc::Verify {
        let stored = u32::from_be_bytes(entry[CRC_AT..CRC_AT + 4].try_into().expect("4 bytes"));
        let computed = crc32(&entry[MAGIC_AT..]);
        if stored != computed {
            return Err(FormatError::LegacyCrcMismatch { stored, computed });
        }
    }
    let attributes = entry[ATTRIBUTES_AT];
    let (timestamp, mut pos) = match magic {
        0 => (NO_TIMESTAMP, ATTRIBUTES_AT + 1),
        _ => (be_i64(entry, ATTRIBUTES_AT + 1).expect("within the minimum size"), ATTRIBUTES_AT + 9),
    };
    let mut bytes = |what| -> Result<Option<&[u8]>, FormatError> {
        let len = be_i32(entry, pos).ok_or(bad(what))?;
        pos += 4;
        let Ok(len) = usize::try_from(len) else {
            return Ok(None);
        };
        let b = entry.get(pos..pos.checked_add(len).ok_or(bad(what))?).ok_or(bad(what))?;
        pos += len;
        Ok(Some(b))
    };
    let key = bytes("key length beyond the message")?;
    let value = bytes("value length beyond the message")?;
    let message = Message { offset: be_i64(entry, 0).expect("8 bytes"), magic, attributes, timestamp, key, value };
    message.codec()?;
    Ok(message)
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

/// Calls `visit` with each record of the entry `entry` (offset, timestamp, key, value), checking
/// what Kafka's reader checks and that offsets increase; returns the batch header the entry reads
/// as. A compressed wrapper is decompressed into `scratch` (cleared first).
fn walk<'s>(
    entry: &'s [u8],
    scratch: &'s mut Vec<u8>,
    mut visit: impl FnMut(i64, i64, Option<&'s [u8]>, Option<&'s [u8]>) -> Result<(), FormatError>,
) -> Result<BatchHeader, FormatError> {
    let wrapper = parse(entry, Crc::Verify)?;
    let codec = wrapper.codec()?;
    let header = |base_offset: i64, base_timestamp: i64, count: i32| -> Result<BatchHeader, FormatError> {
        let delta = wrapper.offset.checked_sub(base_offset).and_then(|d| i32::try_from(d).ok());
        Ok(BatchHeader {
            base_offset,
            batch_length: (entry.len() - LOG_OVERHEAD) as i32,
            partition_leader_epoch: -1,
            magic: wrapper.magic as i8,
            crc: u32::from_be_bytes(entry[CRC_AT..CRC_AT + 4].try_into().expect("4 bytes")),
            attributes: (wrapper.attributes & (CODEC_MASK | LOG_APPEND_TIME)) as i16,
            last_offset_delta: delta.ok_or(bad("inner offsets span more than an int32"))?,
            base_timestamp,
            max_timestamp: wrapper.timestamp,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            records_count: count,
        })
    };
    if wrapper.offset < 0 {
        return Err(bad("negative offset"));
    }
    if codec == Compression::None {
        visit(wrapper.offset, wrapper.timestamp, wrapper.key, wrapper.value)?;
        return header(wrapper.offset, wrapper.timestamp, 1);
    }
    let compressed = wrapper.value.ok_or(bad("compressed wrapper without a value"))?;
    scratch.clear();
    codec::decompress_legacy(codec, wrapper.magic, compressed, scratch, MAX_DECOMPRESSED_BYTES).map_err(
        |e| match e {
            DecompressError::Format(f) => f,
            DecompressError::Unsupported(_) => unreachable!("legacy codecs are always built in"),
        },
    )?;
    let inner: &'s [u8] = scratch;
    // The inner entries, checked; then the offsets, which for magic 1 hang off the last one.
    let mut entries = Vec::new();
    let mut pos = 0;
    // As Kafka's `DataLogInputStream`: the set ends where no whole message is left.
    while let Some(size) = be_i32(inner, pos + 8) {
        let index = Some(entries.len() as u32);
        let located = |e: FormatError| match e {
            FormatError::BadLegacyMessage { problem, .. } => FormatError::BadLegacyMessage { index, problem },
            other => other,
        };
        let Some(end) = usize::try_from(size)
            .ok()
            .and_then(|s| (pos + LOG_OVERHEAD).checked_add(s))
            .filter(|&end| end <= inner.len())
        else {
            break;
        };
        // Inner magic may differ from the wrapper's: Kafka 0.10.0's cleaner wrote magic-1
        // wrappers around magic-0 messages (KAFKA-4298), and Kafka's reader takes them.
        let m = parse(&inner[pos..end], Crc::Skip).map_err(located)?;
        if m.attributes & CODEC_MASK != 0 {
            return Err(FormatError::BadLegacyMessage { index, problem: "inner message compressed again" });
        }
        entries.push(m);
        pos = end;
    }
    let last = entries.last().ok_or(bad("compressed wrapper with no inner messages"))?;
    // Kafka's `DeepRecordsIterator`: relative inner offsets under a magic-1 wrapper.
    let shift = match wrapper.magic {
        0 => 0,
        _ => wrapper
            .offset
            .checked_sub(last.offset)
            .filter(|&s| s >= 0)
            .ok_or(bad("inner relative offsets past the wrapper's offset"))?,
    };
    if last.offset.checked_add(shift) != Some(wrapper.offset) {
        return Err(bad("last inner offset is not the wrapper's offset"));
    }
    let append_time = wrapper.attributes & LOG_APPEND_TIME != 0 && wrapper.magic == 1;
    let mut previous = None;
    let mut first = None;
    for (i, m) in entries.iter().enumerate() {
        let offset = m.offset.checked_add(shift).filter(|&o| o >= 0);
        let offset = offset
            .filter(|&o| previous.is_none_or(|p| o > p))
            .ok_or(FormatError::BadLegacyMessage { index: Some(i as u32), problem: "inner offsets not increasing" })?;
        // A magic-0 message has no timestamp, whatever wraps it.
        let timestamp = if append_time && m.magic == 1 { wrapper.timestamp } else { m.timestamp };
        first.get_or_insert((offset, timestamp));
        previous = Some(offset);
        visit(offset, timestamp, m.key, m.value)?;
    }
    let (base, base_timestamp) = first.expect("at least one inner message");
    let count = i32::try_from(entries.len()).map_err(|_| bad("too many inner messages"))?;
    header(base, base_timestamp, count)
}

/// The batch header the whole legacy entry `entry` reads as, after checking it all (CRC,
/// decompression, inner messages); `scratch` is working space.
pub(crate) fn summarize(entry: &[u8], scratch: &mut Vec<u8>) -> Result<BatchHeader, FormatError> {
    walk(entry, scratch, |_, _, _, _| Ok(()))
}

/// Checks the legacy entry `entry` as [`summarize`] does, and appends its records to `out` as an
/// uncompressed v2 records section that reads as the returned header says (offset deltas from
/// its base offset, timestamp deltas from its base timestamp, no headers).
pub(crate) fn transcode(entry: &[u8], out: &mut Vec<u8>) -> Result<(BatchHeader, Range<usize>), FormatError> {
    let start = out.len();
    let mut inner = Vec::new();
    let mut body = Vec::new();
    // The header's base offset and timestamp are the first record's.
    let mut base = None;
    let header = walk(entry, &mut inner, |offset, timestamp, key, value| {
        let (base_offset, base_timestamp) = *base.get_or_insert((offset, timestamp));
        body.clear();
        body.push(0); // attributes
        varint::put_varlong(&mut body, timestamp.checked_sub(base_timestamp).ok_or(bad("timestamps too far apart"))?);
        // Within an int32: `walk` checks the span before it returns, and this checks as it goes.
        let offset_delta =
            i32::try_from(offset - base_offset).map_err(|_| bad("inner offsets span more than an int32"))?;
        varint::put_varint(&mut body, offset_delta);
        for field in [key, value] {
            match field {
                None => varint::put_varint(&mut body, -1),
                Some(b) => {
                    varint::put_varint(&mut body, b.len() as i32);
                    body.extend_from_slice(b);
                }
            }
        }
        varint::put_varint(&mut body, 0); // headers
        varint::put_varint(out, body.len() as i32);
        out.extend_from_slice(&body);
        Ok(())
    });
    match header {
        Ok(header) => Ok((header, start..out.len())),
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One magic-1 message as Kafka's `LegacyRecord.write` lays it out.
    fn message(
        magic: u8,
        offset: i64,
        attributes: u8,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Vec<u8> {
        let mut m = vec![magic, attributes];
        if magic == 1 {
            m.extend_from_slice(&timestamp.to_be_bytes());
        }
        for field in [key, value] {
            match field {
                None => m.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(b) => {
                    m.extend_from_slice(&(b.len() as i32).to_be_bytes());
                    m.extend_from_slice(b);
                }
            }
        }
        let mut e = offset.to_be_bytes().to_vec();
        e.extend_from_slice(&((m.len() + 4) as i32).to_be_bytes());
        e.extend_from_slice(&crc32(&m).to_be_bytes());
        e.extend_from_slice(&m);
        e
    }

    #[test]
    fn a_single_message_reads_as_a_one_record_batch() {
        let e = message(1, 7, 0, 1234, Some(b"k"), None);
        let h = summarize(&e, &mut Vec::new()).unwrap();
        assert_eq!((h.base_offset, h.last_offset(), h.records_count, h.max_timestamp, h.magic), (7, 7, 1, 1234, 1));
        assert_eq!(h.total_size(), e.len() as u64);
        let e0 = message(0, 3, 0, 0, None, Some(b"v"));
        assert_eq!(summarize(&e0, &mut Vec::new()).unwrap().max_timestamp, NO_TIMESTAMP);
    }

    #[test]
    fn damage_is_reported_not_misread() {
        let e = message(1, 7, 0, 1234, Some(b"key"), Some(b"value"));
        let mut flipped = e.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(matches!(summarize(&flipped, &mut Vec::new()), Err(FormatError::LegacyCrcMismatch { .. })));
        assert!(summarize(&e[..e.len() - 1], &mut Vec::new()).is_err(), "cut");
        // A key length that runs past the message, with a matching CRC (a negative one is null,
        // as Kafka reads it).
        let mut long_key = message(1, 7, 0, 1234, Some(b"key"), Some(b"value"));
        long_key[26..30].copy_from_slice(&100i32.to_be_bytes());
        let crc = crc32(&long_key[16..]);
        long_key[12..16].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(summarize(&long_key, &mut Vec::new()), Err(FormatError::BadLegacyMessage { .. })));
        // zstd (4) never existed for legacy messages.
        let zstd = message(1, 7, 4, 1234, None, Some(b"x"));
        assert!(matches!(summarize(&zstd, &mut Vec::new()), Err(FormatError::UnknownCodec { id: 4 })));
        // A wrapper whose value is not a compressed stream.
        let bogus = message(1, 7, 1, 1234, None, Some(b"not gzip at all, not at all"));
        assert!(matches!(summarize(&bogus, &mut Vec::new()), Err(FormatError::Decompress { .. })));
    }

    /// Found by fuzzing: a negative size field in an entry whose magic byte is 0 or 1 panicked.
    #[test]
    fn a_negative_size_field_is_an_error() {
        let mut e = message(1, 7, 0, 1234, Some(b"k"), None);
        e[8..12].copy_from_slice(&(-3i32).to_be_bytes());
        assert!(matches!(
            crate::format::batch::peek(&e, u64::MAX, &mut Vec::new()),
            Err(FormatError::BadLegacyMessage { .. })
        ));
    }

    /// Kafka 0.10.0's cleaner wrote magic-1 wrappers around magic-0 messages (KAFKA-4298);
    /// Kafka's reader takes them, and so does partlog: relative offsets (the wrapper's magic),
    /// no timestamps (the messages' magic). A partial message at the end of the set is where it
    /// ends, as Kafka reads it; inner CRCs are not checked (the wrapper's covers them).
    #[test]
    fn reads_what_kafkas_reader_takes() {
        let mut inner: Vec<u8> = [0i64, 1].iter().flat_map(|&o| message(0, o, 0, 0, None, Some(b"v"))).collect();
        inner[13] ^= 0xff; // the first inner CRC
        inner.extend_from_slice(&message(0, 2, 0, 0, None, Some(b"cut"))[..20]);
        let mut gz = Vec::new();
        codec::compress(Compression::Gzip, codec::Levels::default(), &inner, &mut gz).unwrap();
        let w = message(1, 41, 1 | LOG_APPEND_TIME, 777, None, Some(&gz));
        let mut out = Vec::new();
        let (h, _) = transcode(&w, &mut out).unwrap();
        assert_eq!((h.base_offset, h.last_offset(), h.records_count), (40, 41, 2));
        let mut seen = Vec::new();
        walk(&w, &mut Vec::new(), |offset, timestamp, _, value| {
            seen.push((offset, timestamp, value.map(<[u8]>::to_vec)));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, [(40, NO_TIMESTAMP, Some(b"v".to_vec())), (41, NO_TIMESTAMP, Some(b"v".to_vec()))]);
        // A wrapper offset below its last relative offset: Kafka refuses it too.
        let inner: Vec<u8> = [3i64, 4, 6].iter().flat_map(|&o| message(1, o, 0, 5, None, Some(b"v"))).collect();
        let mut gz = Vec::new();
        codec::compress(Compression::Gzip, codec::Levels::default(), &inner, &mut gz).unwrap();
        let w = message(1, 5, 1, 5, None, Some(&gz));
        assert!(matches!(summarize(&w, &mut Vec::new()), Err(FormatError::BadLegacyMessage { .. })));
    }

    #[test]
    fn wrapper_offsets_must_be_consistent() {
        let inner: Vec<u8> = [0i64, 1, 1].iter().flat_map(|&o| message(1, o, 0, 5, None, Some(b"v"))).collect();
        let mut gz = Vec::new();
        codec::compress(Compression::Gzip, codec::Levels::default(), &inner, &mut gz).unwrap();
        let w = message(1, 10, 1, 5, None, Some(&gz));
        assert!(matches!(
            summarize(&w, &mut Vec::new()),
            Err(FormatError::BadLegacyMessage { index: Some(2), problem: "inner offsets not increasing" })
        ));
        let inner: Vec<u8> = [0i64, 1, 2].iter().flat_map(|&o| message(1, o, 0, 5 + o, None, Some(b"v"))).collect();
        gz.clear();
        codec::compress(Compression::Gzip, codec::Levels::default(), &inner, &mut gz).unwrap();
        let w = message(1, 10, 1, 7, None, Some(&gz));
        let mut out = Vec::new();
        let (h, range) = transcode(&w, &mut out).unwrap();
        assert_eq!((h.base_offset, h.last_offset(), h.records_count, h.base_timestamp), (8, 10, 3, 5));
        assert_eq!(range, 0..out.len());
    }
}
