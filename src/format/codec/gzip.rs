//! gzip (codec 1): one RFC 1952 member, as `java.util.zip.GZIPOutputStream` writes it.
//! Readers accept concatenated members and ignore trailing bytes that do not start another
//! member, as `GZIPInputStream` does (its `readTrailer` treats a bad next header as the end).

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
    let start = out.len();
    let mut rest = input;
    loop {
        let produced = out.len() - start;
        read_bounded(flate2::bufread::GzDecoder::new(&mut rest), out, limit.saturating_sub(produced))?;
        if !rest.starts_with(&[0x1f, 0x8b]) {
            // Nothing more, or bytes that are no gzip member (padding, zeros): the end.
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        compress(input, 6, &mut out);
        out
    }

    /// Regression: a member followed by zero bytes failed the whole batch; Java's
    /// `GZIPInputStream` reads the member and ignores them.
    #[test]
    fn trailing_bytes_that_start_no_member_are_ignored_and_members_concatenate() {
        let mut padded = gzip(b"first");
        padded.extend_from_slice(&[0; 9]);
        let mut out = Vec::new();
        decompress(&padded, &mut out, 1 << 20).unwrap();
        assert_eq!(out, b"first");

        let mut two = gzip(b"first ");
        two.extend_from_slice(&gzip(b"second"));
        two.extend_from_slice(b"junk");
        out.clear();
        decompress(&two, &mut out, 1 << 20).unwrap();
        assert_eq!(out, b"first second");

        out.clear();
        assert!(matches!(decompress(&two, &mut out, 8), Err(Failure::TooLarge)), "the limit spans members");
        let mut cut = gzip(b"first");
        cut.truncate(cut.len() - 3);
        assert!(decompress(&cut, &mut Vec::new(), 1 << 20).is_err(), "a cut member is still an error");
    }
}
