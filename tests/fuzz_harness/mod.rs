//! The fuzz targets' logic, shared by `fuzz/` (cargo-fuzz) and `tests/fuzz_corpus.rs`, which
//! replays the committed seeds under `cargo test`. Each function panics on a bug and on nothing
//! else, whatever the bytes.

#![allow(dead_code)]

use std::sync::Arc;

use partlog::{Error, FaultyIo, Fetch, Log, LogOptions, Record, TopicConfig};

/// Arbitrary bytes as batches: decoding returns batches or an error, never panics, never
/// allocates what a length field claims.
pub fn decode_batch(data: &[u8]) {
    if let Ok(batches) = partlog::batch::for_each_record(data, |_, _| {}) {
        // The smallest entry is a magic-0 message with no key or value: 26 bytes.
        assert!(batches * 26 <= data.len());
    }
}

/// Whether an error is about the records inside a batch whose framing, CRC and offsets are valid.
/// Recovery checks what Kafka checks (length, magic, CRC, offsets), so a batch written with a
/// valid CRC over undecodable records (only a faulty writer makes one; the fuzzer does, by
/// planting the CRC it sees compared) survives recovery and is reported when read.
fn inside_a_valid_batch(e: &Error) -> bool {
    use partlog::FormatError as F;
    match e {
        Error::UnsupportedCodec { .. } => true,
        Error::CorruptBatch { problem, .. } => matches!(
            problem,
            F::Decompress { .. }
                | F::DecompressedTooLarge { .. }
                | F::BadRecord { .. }
                | F::RecordCountMismatch { .. }
                | F::TrailingBytes { .. }
        ),
        _ => false,
    }
}

/// Arbitrary bytes as the only segment of a partition after a crash: opening recovers (cutting
/// the tail at the first batch that fails its framing, CRC or offset checks); everything left
/// reads back, except records inside a CRC-valid batch that cannot be decoded, which are
/// reported, never served; appends continue after the recovered tail.
pub fn open_segment(data: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let partition_dir = dir.path().join("fuzz-0");
    std::fs::create_dir_all(&partition_dir).unwrap();
    std::fs::write(partition_dir.join("00000000000000000000.log"), data).unwrap();
    let log = Log::open_with(dir.path(), LogOptions::default().maintenance_interval_ms(None)).unwrap();
    let p = log.partition("fuzz", 0).unwrap();
    if let Err(e) = p.verify() {
        assert!(inside_a_valid_batch(&e), "recovery left a batch that fails framing checks: {e}");
    }
    // Whole-batch reads never fail after recovery: framing and CRCs were checked.
    let mut raw = Vec::new();
    let mut next = p.log_start_offset();
    while next < p.log_end_offset() {
        raw.clear();
        let after = p.read_raw(next, 1 << 16, &mut raw).unwrap();
        assert!(after > next);
        next = after;
    }
    let mut fetch = Fetch::new();
    let mut next = p.log_start_offset();
    while next < p.log_end_offset() {
        match p.fetch(next, 1 << 16, &mut fetch) {
            Ok(()) => {
                assert!(fetch.next_offset() > next);
                next = fetch.next_offset();
                // Records are decoded as iteration reaches them: the same class of error only.
                if let Some(Err(e)) = fetch.records().find(Result::is_err) {
                    assert!(inside_a_valid_batch(&e), "{e}");
                    break;
                }
            }
            Err(e) => {
                assert!(inside_a_valid_batch(&e), "{e}");
                break;
            }
        }
    }
    if let Err(e) = p.offset_for_timestamp(0) {
        assert!(inside_a_valid_batch(&e), "{e}");
    }
    match p.append(&[Record::new(b"after recovery")]) {
        Ok(info) => assert_eq!(info.first_offset, p.log_end_offset() - 1),
        // Offsets found at the very end of the offset space.
        Err(Error::OffsetOverflow(_)) => {}
        Err(e) => panic!("append after recovery: {e}"),
    }
}

/// Reads the fuzzer's bytes as a sequence of small numbers.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn next(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
}

/// A random sequence of append, read, flush, roll, injected write failures, crash-and-reopen
/// and clean reopen against a model: after every reopen the log holds exactly the acknowledged
/// records; reads always return a prefix of what the model holds from there.
pub fn operations(data: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let io = Arc::new(FaultyIo::new());
    let open =
        || Log::open_with(dir.path(), LogOptions::default().maintenance_interval_ms(None).io(io.clone())).unwrap();
    let mut log = open();
    let mut config = TopicConfig::default();
    config.segment_bytes = 1024;
    config.segment_index_bytes = 96;
    config.index_interval_bytes = 100;
    log.create_topic("f", 1, config).unwrap();
    let mut model: Vec<Vec<u8>> = Vec::new();
    let mut stopped = false;
    let mut input = Bytes(data);
    while let Some(op) = input.next() {
        let p = log.partition("f", 0).unwrap();
        let arg = input.next().unwrap_or(0) as usize;
        match op % 8 {
            0 | 1 => {
                let values: Vec<Vec<u8>> =
                    (0..1 + arg % 6).map(|i| vec![(model.len() + i) as u8; (arg * 7 + i) % 300]).collect();
                let records: Vec<Record<'_>> = values.iter().map(|v| Record::new(v)).collect();
                match p.append(&records) {
                    Ok(info) => {
                        assert!(!stopped);
                        assert_eq!(info.first_offset, model.len() as u64);
                        model.extend(values);
                    }
                    Err(Error::Io { .. } | Error::WritesStopped { .. }) => stopped = true,
                    // Bigger than a segment: refused before anything is written.
                    Err(Error::BatchTooLarge { .. }) => {}
                    Err(e) => panic!("append: {e}"),
                }
            }
            2 => {
                let from = if model.is_empty() { 0 } else { arg % (model.len() + 1) };
                let got = p.read(from as u64, 1 + arg * 13).unwrap();
                assert_eq!(got.is_empty(), from == model.len());
                for (i, r) in got.iter().enumerate() {
                    assert_eq!(r.value.as_deref(), Some(&model[from + i][..]));
                }
            }
            3 => match p.flush() {
                Ok(()) => assert_eq!(p.recovery_point(), model.len() as u64),
                Err(_) => stopped = true,
            },
            4 => {
                if p.roll().is_err() {
                    stopped = true;
                }
            }
            5 => io.fail_write_after(arg as u64 % 4, std::io::ErrorKind::StorageFull, arg.is_multiple_of(2)),
            6 | 7 => {
                drop(p);
                io.heal();
                if op % 8 == 6 {
                    log.simulate_crash();
                } else if log.close().is_ok() {
                    assert!(!stopped, "a stopped partition must not close cleanly");
                }
                log = open();
                stopped = false;
                let p = log.partition("f", 0).unwrap();
                assert_eq!(p.log_end_offset(), model.len() as u64, "exactly the acknowledged records");
                let all = p.read(0, usize::MAX).unwrap();
                assert_eq!(all.len(), model.len());
                for (r, v) in all.iter().zip(&model) {
                    assert_eq!(r.value.as_deref(), Some(&v[..]));
                }
            }
            _ => unreachable!(),
        }
    }
}
