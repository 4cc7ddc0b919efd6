//! snappy (codec 2), in snappy-java's "xerial" stream framing, which Kafka's Java client writes:
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `82 53 4E 41 50 50 59 00` ("\x82SNAPPY\0") |
//! | 8 | 4 | version, int32 BE = 1 |
//! | 12 | 4 | minimum compatible version, int32 BE = 1 |
//! | 16 | … | chunks: int32 BE compressed length, then one raw Snappy block of ≤ 32 KiB input |
//!
//! Readers also accept a bare raw Snappy block (what librdkafka writes) and a second xerial
//! header where a chunk length is expected (concatenated streams), as `SnappyInputStream` does.
//! The official Snappy framing format (`FF 06 00 00 sNaPpY`) is not Kafka's and is rejected.

use super::Failure;

const MAGIC: [u8; 8] = *b"\x82SNAPPY\x00";
const HEADER_LEN: usize = 16;
const VERSION: i32 = 1;
const MIN_COMPATIBLE_VERSION: i32 = 1;
/// Uncompressed bytes per chunk: snappy-java's default block size.
const CHUNK_BYTES: usize = 32 * 1024;

pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&MIN_COMPATIBLE_VERSION.to_be_bytes());
    let mut encoder = snap::raw::Encoder::new();
    for chunk in input.chunks(CHUNK_BYTES) {
        let len_at = out.len();
        out.extend_from_slice(&[0; 4]);
        let start = out.len();
        out.resize(start + snap::raw::max_compress_len(chunk.len()), 0);
        // A chunk of ≤ 32 KiB always fits max_compress_len; the encoder cannot fail here.
        let n = encoder.compress(chunk, &mut out[start..]).expect("snappy into max_compress_len");
        out.truncate(start + n);
        out[len_at..start].copy_from_slice(&(n as i32).to_be_bytes());
    }
}

pub(super) fn decompress(input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), Failure> {
    // Java treats a complete header as xerial (kafka-python needs more than 16 bytes; we never
    // write an empty records section).
    if input.len() >= HEADER_LEN && input[..8] == MAGIC {
        decompress_xerial(&input[HEADER_LEN..], out, limit)
    } else {
        decompress_block(input, out, limit)
    }
}

fn decompress_xerial(mut rest: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), Failure> {
    let start = out.len();
    while !rest.is_empty() {
        if rest.len() >= HEADER_LEN && rest[..8] == MAGIC {
            rest = &rest[HEADER_LEN..];
            continue;
        }
        let Some(len_bytes) = rest.get(..4) else {
            return Err(Failure::corrupt(format!("{} stray bytes where a chunk length was expected", rest.len())));
        };
        let len = i32::from_be_bytes(len_bytes.try_into().expect("4 bytes"));
        let block = usize::try_from(len)
            .ok()
            .and_then(|len| rest.get(4..4 + len))
            .ok_or_else(|| Failure::corrupt(format!("chunk length {len} exceeds the {} bytes left", rest.len() - 4)))?;
        decompress_block(block, out, limit - (out.len() - start))?;
        rest = &rest[4 + block.len()..];
    }
    Ok(())
}

fn decompress_block(block: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), Failure> {
    let claimed = snap::raw::decompress_len(block).map_err(|e| Failure::corrupt(e.to_string()))?;
    if claimed > limit {
        return Err(Failure::TooLarge);
    }
    let start = out.len();
    out.resize(start + claimed, 0);
    match snap::raw::Decoder::new().decompress(block, &mut out[start..]) {
        Ok(n) if n == claimed => Ok(()),
        Ok(n) => Err(Failure::corrupt(format!("block claims {claimed} bytes, holds {n}"))),
        Err(e) => Err(Failure::corrupt(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_xerial_header_and_32k_chunks() {
        let input = vec![b'x'; 70_000];
        let mut out = Vec::new();
        compress(&input, &mut out);
        assert_eq!(&out[..16], b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01");
        // Walk the chunks: 70 000 bytes of input make three chunks (32 KiB, 32 KiB, the rest).
        let mut pos = 16;
        let mut chunks = 0;
        while pos < out.len() {
            pos += 4 + i32::from_be_bytes(out[pos..pos + 4].try_into().unwrap()) as usize;
            chunks += 1;
        }
        assert_eq!((pos, chunks), (out.len(), 3));
    }

    #[test]
    fn reads_raw_blocks_and_concatenated_xerial_streams() {
        let raw = snap::raw::Encoder::new().compress_vec(b"raw snappy as librdkafka writes it").unwrap();
        let mut out = Vec::new();
        decompress(&raw, &mut out, 1024).unwrap();
        assert_eq!(out, b"raw snappy as librdkafka writes it");

        let mut two = Vec::new();
        compress(b"first ", &mut two);
        compress(b"second", &mut two);
        out.clear();
        decompress(&two, &mut out, 1024).unwrap();
        assert_eq!(out, b"first second");
    }

    #[test]
    fn rejects_the_official_framing_format_and_bad_chunk_lengths() {
        let mut framed = Vec::new();
        {
            use std::io::Write;
            let mut w = snap::write::FrameEncoder::new(&mut framed);
            w.write_all(b"framing format is not what Kafka reads").unwrap();
        }
        assert!(decompress(&framed, &mut Vec::new(), 1024).is_err());

        let mut bad = Vec::new();
        compress(b"some bytes", &mut bad);
        bad[16..20].copy_from_slice(&1000i32.to_be_bytes());
        assert!(matches!(decompress(&bad, &mut Vec::new(), 1024), Err(Failure::Corrupt(_))));
        bad[16..20].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(matches!(decompress(&bad, &mut Vec::new(), 1024), Err(Failure::Corrupt(_))));
    }
}
