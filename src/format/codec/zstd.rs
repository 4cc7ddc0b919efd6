//! zstd (codec 4): standard zstd frames; readers accept concatenated frames, as zstd-jni does.

use super::{read_bounded, Failure};

pub(super) fn compress(input: &[u8], level: i32, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail; the level is validated by the topic config.
    zstd::stream::copy_encode(input, out, level).expect("zstd into a Vec");
}

pub(super) fn decompress(input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), Failure> {
    let decoder = zstd::stream::read::Decoder::with_buffer(input).map_err(|e| Failure::corrupt(e.to_string()))?;
    read_bounded(decoder, out, limit)
}
