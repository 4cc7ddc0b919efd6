//! gzip (codec 1): one RFC 1952 member, as `java.util.zip.GZIPOutputStream` writes it.
//! Readers accept concatenated members, as `GZIPInputStream` does.

use std::io::Write;

use flate2::write::GzEncoder;

use super::{read_bounded, Failure};

pub(super) fn compress(input: &[u8], level: u32, out: &mut Vec<u8>) {
    let mut encoder = GzEncoder::new(out, flate2::Compression::new(level));
    // Writing into a Vec cannot fail.
    encoder.write_all(input).expect("gzip into a Vec");
    encoder.finish().expect("gzip into a Vec");
}

pub(super) fn decompress(input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), Failure> {
    if input.len() < 18 || input[..2] != [0x1f, 0x8b] {
        return Err(Failure::corrupt("not a gzip member (bad magic or shorter than 18 bytes)"));
    }
    read_bounded(flate2::read::MultiGzDecoder::new(input), out, limit)
}
