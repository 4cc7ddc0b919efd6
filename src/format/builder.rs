//! A RecordBatch v2 built one record at a time (Kafka's `MemoryRecordsBuilder`), for the
//! producer: the byte layout is [`batch`](super::batch)'s; this file only fills it in.

use super::batch::{
    length_too_large, parse_record_body, write_record, BatchSpec, EncodeError, EncodedBatch, TimestampType, ATTRIBUTES,
    BASE_OFFSET, BASE_SEQUENCE, BASE_TIMESTAMP, CRC, DECOMPRESSED_LIMIT, HEADER_LEN, LAST_OFFSET_DELTA, LENGTH,
    LOG_OVERHEAD, MAGIC, MAGIC_V2, MAX_DECOMPRESSED_BYTES, MAX_RECORDS_BYTES, MAX_TIMESTAMP, PARTITION_LEADER_EPOCH,
    PRODUCER_EPOCH, PRODUCER_ID, RECORDS_COUNT, TIMESTAMP_TYPE_MASK,
};
use super::codec::{self, Compression};
use super::record::{Record, RecordRef};
use super::varint;

/// A batch built one record at a time, by the thread that makes the records (Kafka's
/// `MemoryRecordsBuilder`): records are written uncompressed after room for the header as they
/// come, and [`seal`](Self::seal) compresses them by the topic's codec, writes the header and the
/// CRC. The base offset is left 0, for the append to set (the CRC does not cover it).
///
/// Every record is checked as it is pushed (a timestamp ≥ 0, lengths within int32), so a sealed
/// batch is valid by construction: the append that takes it checks only what depends on the
/// partition (its size limits, keys on a compacted topic).
#[derive(Debug, Default)]
pub(crate) struct BatchBuilder {
    /// Room for the header, then the records, uncompressed.
    plain: Vec<u8>,
    /// The sealed batch, when it is compressed.
    compressed: Vec<u8>,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    /// The index of the first record without a key.
    first_null_key: Option<usize>,
}

impl BatchBuilder {
    /// An empty builder over `plain` (a buffer to reuse: its contents are dropped).
    pub(crate) fn with_buffer(mut plain: Vec<u8>) -> Self {
        plain.clear();
        plain.resize(HEADER_LEN, 0);
        BatchBuilder { plain, ..BatchBuilder::default() }
    }

    /// Records pushed.
    pub(crate) fn record_count(&self) -> usize {
        self.count as usize
    }

    /// The index of the first record pushed without a key.
    pub(crate) fn first_null_key(&self) -> Option<usize> {
        self.first_null_key
    }

    /// Appends one record, stamped `timestamp`. A refused record leaves the batch as it was.
    pub(crate) fn push(&mut self, record: &Record<'_>, timestamp: i64) -> Result<(), &'static str> {
        if timestamp < 0 {
            return Err("a record's timestamp must not be negative");
        }
        if self.count == i32::MAX {
            return Err("more than i32::MAX records in one batch");
        }
        if self.plain.len() < HEADER_LEN {
            self.plain.resize(HEADER_LEN, 0);
        }
        if self.count == 0 {
            self.base_timestamp = timestamp;
            self.max_timestamp = timestamp;
        }
        let start = self.plain.len();
        let delta = timestamp.checked_sub(self.base_timestamp).ok_or("timestamp delta overflows")?;
        write_record(&mut self.plain, record, delta, self.count)?;
        if self.plain.len() - HEADER_LEN > MAX_RECORDS_BYTES {
            self.plain.truncate(start);
            return Err("the batch would pass the int32 batch length");
        }
        if record.key.is_none() && self.first_null_key.is_none() {
            self.first_null_key = Some(self.count as usize);
        }
        self.max_timestamp = self.max_timestamp.max(timestamp);
        self.count += 1;
        Ok(())
    }

    /// Seals the batch as `spec` says (codec; on a LogAppendTime topic, its max timestamp is the
    /// append time, as Kafka's broker stamps it) and returns its bytes, base offset 0, with what
    /// it holds. Sealing again (after an append refused it) seals the same records afresh.
    pub(crate) fn seal(&mut self, spec: &BatchSpec) -> Result<(&mut [u8], EncodedBatch), EncodeError> {
        assert!(self.count > 0, "callers seal only batches with records");
        let log_append_time = spec.timestamp_type == TimestampType::LogAppendTime;
        let max_timestamp = if log_append_time { spec.now_ms } else { self.max_timestamp };
        let out = if spec.codec == Compression::None {
            &mut self.plain
        } else {
            let records = &self.plain[HEADER_LEN..];
            if records.len() > MAX_DECOMPRESSED_BYTES {
                let (size, limit) = ((records.len() + HEADER_LEN) as u64, (MAX_DECOMPRESSED_BYTES + HEADER_LEN) as u64);
                return Err(EncodeError::TooLarge { size, limit, what: DECOMPRESSED_LIMIT });
            }
            self.compressed.clear();
            self.compressed.resize(HEADER_LEN, 0);
            codec::compress(spec.codec, spec.levels, records, &mut self.compressed)
                .map_err(|_| EncodeError::Unsupported(spec.codec))?;
            &mut self.compressed
        };
        let total = out.len();
        let batch_length = i32::try_from(total - LOG_OVERHEAD).map_err(|_| length_too_large(total))?;
        let attributes = spec.codec.id() as i16 | if log_append_time { TIMESTAMP_TYPE_MASK } else { 0 };
        let h = &mut out[..HEADER_LEN];
        h[BASE_OFFSET..LENGTH].copy_from_slice(&0i64.to_be_bytes());
        h[LENGTH..LOG_OVERHEAD].copy_from_slice(&batch_length.to_be_bytes());
        h[PARTITION_LEADER_EPOCH..MAGIC].copy_from_slice(&spec.partition_leader_epoch.to_be_bytes());
        h[MAGIC] = MAGIC_V2 as u8;
        h[ATTRIBUTES..LAST_OFFSET_DELTA].copy_from_slice(&attributes.to_be_bytes());
        h[LAST_OFFSET_DELTA..BASE_TIMESTAMP].copy_from_slice(&(self.count - 1).to_be_bytes());
        h[BASE_TIMESTAMP..MAX_TIMESTAMP].copy_from_slice(&self.base_timestamp.to_be_bytes());
        h[MAX_TIMESTAMP..PRODUCER_ID].copy_from_slice(&max_timestamp.to_be_bytes());
        h[PRODUCER_ID..PRODUCER_EPOCH].copy_from_slice(&(-1i64).to_be_bytes());
        h[PRODUCER_EPOCH..BASE_SEQUENCE].copy_from_slice(&(-1i16).to_be_bytes());
        h[BASE_SEQUENCE..RECORDS_COUNT].copy_from_slice(&(-1i32).to_be_bytes());
        h[RECORDS_COUNT..HEADER_LEN].copy_from_slice(&self.count.to_be_bytes());
        let crc = crate::format::crc::crc32c(&out[ATTRIBUTES..]);
        out[CRC..ATTRIBUTES].copy_from_slice(&crc.to_be_bytes());
        Ok((&mut out[..], EncodedBatch { last_offset_delta: self.count - 1, max_timestamp }))
    }

    /// The records pushed, in order, as an append would read them back at base offset 0 (offset
    /// = index; CreateTime timestamps): what a failed or split batch gives back.
    pub(crate) fn records(&self) -> impl Iterator<Item = RecordRef<'_>> + '_ {
        let mut pos = HEADER_LEN.min(self.plain.len());
        let base_timestamp = self.base_timestamp;
        std::iter::from_fn(move || {
            let bytes = &self.plain;
            if pos >= bytes.len() {
                return None;
            }
            // Written by `push`: a failure here is a bug, not bad input.
            let len = varint::read_varint(bytes, &mut pos).expect("a record length push wrote");
            let body = &bytes[pos..pos + len as usize];
            pos += len as usize;
            let r = parse_record_body(body).expect("a record push wrote");
            Some(RecordRef {
                offset: r.offset_delta as u64,
                timestamp: base_timestamp + r.timestamp_delta,
                timestamp_type: TimestampType::CreateTime,
                key: r.key,
                value: r.value,
                headers: r.headers,
            })
        })
    }

    /// The buffers, to reuse.
    pub(crate) fn into_buffers(self) -> (Vec<u8>, Vec<u8>) {
        (self.plain, self.compressed)
    }
}
