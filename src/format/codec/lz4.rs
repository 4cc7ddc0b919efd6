//! lz4 (codec 3): the LZ4 frame format subset of KIP-57, as Kafka's `Lz4BlockOutputStream` writes it.
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `04 22 4D 18` (0x184D2204, little-endian) |
//! | 4 | 1 | FLG: bits 7..6 version = 01, bit 5 block independence, bit 4 block checksum, bit 3 content size, bit 2 content checksum, bit 1 reserved, bit 0 dictionary id |
//! | 5 | 1 | BD: bits 6..4 block max size id (4 = 64 KiB .. 7 = 4 MiB), other bits 0 |
//! | 6 | 0 or 8 | content size, u64 LE, when FLG bit 3 |
//! | … | 1 | HC = (xxHash32(FLG..end of descriptor, seed 0) >> 8) & 0xFF |
//! | … | … | blocks: u32 LE size (high bit = stored uncompressed), data, then a u32 xxHash32 when FLG bit 4 |
//! | … | 4 | end mark 0 |
//! | … | 0 or 4 | content checksum (xxHash32 of all content) when FLG bit 2 |
//!
//! We write FLG `0x60`, BD `0x40`: independent 64 KiB blocks, no checksums, no content size —
//! byte for byte the header Java writes (`04 22 4D 18 60 40 82`). A block that does not shrink
//! is stored uncompressed, as Java does. Readers accept content sizes and checksums (verifying
//! them) and, like Java, reject linked blocks, reserved or dictionary bits, and block sizes
//! outside 64 KiB..4 MiB.

use super::Failure;

const MAGIC: [u8; 4] = 0x184D2204u32.to_le_bytes();
const FLG_WRITTEN: u8 = 0x60;
const BD_WRITTEN: u8 = 0x40;
const BLOCK_BYTES_WRITTEN: usize = 64 * 1024;

const FLG_VERSION_MASK: u8 = 0xC0;
const FLG_VERSION_01: u8 = 0x40;
const FLG_BLOCK_INDEPENDENT: u8 = 0x20;
const FLG_BLOCK_CHECKSUM: u8 = 0x10;
const FLG_CONTENT_SIZE: u8 = 0x08;
const FLG_CONTENT_CHECKSUM: u8 = 0x04;
const FLG_RESERVED_AND_DICT: u8 = 0x03;
const BD_RESERVED: u8 = 0x8F;
const BLOCK_UNCOMPRESSED: u32 = 0x8000_0000;

thread_local! {
    /// Where a block is compressed before it is copied to the frame: kept (initialised) between
    /// calls, instead of zeroing the maximum output size in the frame for every block.
    static BLOCK_OUT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&[FLG_WRITTEN, BD_WRITTEN, header_checksum(&[FLG_WRITTEN, BD_WRITTEN])]);
    BLOCK_OUT.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        let max = lz4_flex::block::get_maximum_output_size(BLOCK_BYTES_WRITTEN);
        if buffer.len() < max {
            buffer.resize(max, 0);
        }
        for block in input.chunks(BLOCK_BYTES_WRITTEN) {
            // The buffer has the maximum output size of a block; the compressor cannot fail.
            let n = lz4_flex::block::compress_into(block, &mut buffer).expect("lz4 into maximum output size");
            if n >= block.len() {
                out.extend_from_slice(&(block.len() as u32 | BLOCK_UNCOMPRESSED).to_le_bytes());
                out.extend_from_slice(block);
            } else {
                out.extend_from_slice(&(n as u32).to_le_bytes());
                out.extend_from_slice(&buffer[..n]);
            }
        }
    });
    out.extend_from_slice(&0u32.to_le_bytes());
}

fn header_checksum(descriptor: &[u8]) -> u8 {
    (xxh32(descriptor, 0) >> 8) as u8
}

struct Frame {
    flg: u8,
    block_max: usize,
    /// Position of the first block.
    data_start: usize,
}

fn parse_header(input: &[u8], header_checksum_check: HeaderChecksum) -> Result<Frame, Failure> {
    if input.len() < 7 || input[..4] != MAGIC {
        return Err(Failure::corrupt("not an LZ4 frame (bad magic)"));
    }
    let (flg, bd) = (input[4], input[5]);
    if flg & FLG_VERSION_MASK != FLG_VERSION_01 {
        return Err(Failure::corrupt(format!("unsupported frame version in FLG {flg:#04x}")));
    }
    if flg & FLG_BLOCK_INDEPENDENT == 0 {
        return Err(Failure::corrupt("linked (dependent) blocks, which Kafka rejects"));
    }
    if flg & FLG_RESERVED_AND_DICT != 0 || bd & BD_RESERVED != 0 {
        return Err(Failure::corrupt(format!("reserved or dictionary bits set (FLG {flg:#04x}, BD {bd:#04x})")));
    }
    let block_max_id = (bd >> 4) & 0x07;
    if !(4..=7).contains(&block_max_id) {
        return Err(Failure::corrupt(format!("block size id {block_max_id} outside 4..7")));
    }
    let descriptor_end = if flg & FLG_CONTENT_SIZE != 0 { 14 } else { 6 };
    let Some(&hc) = input.get(descriptor_end) else {
        return Err(Failure::corrupt("frame header truncated"));
    };
    let expected = header_checksum(&input[4..descriptor_end]);
    if hc != expected && header_checksum_check == HeaderChecksum::Verify {
        return Err(Failure::corrupt(format!("header checksum {hc:#04x}, expected {expected:#04x}")));
    }
    Ok(Frame { flg, block_max: 1 << (8 + 2 * block_max_id as usize), data_start: descriptor_end + 1 })
}

/// Whether a frame's header checksum is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HeaderChecksum {
    Verify,
    /// Kafka 0.8's framing (magic-0 messages) computed it over the magic number too; Kafka's
    /// `KafkaLZ4BlockInputStream` skips the check for them.
    Ignore,
}

#[cfg(test)]
fn decompress(input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), Failure> {
    decompress_frame(input, out, limit, HeaderChecksum::Verify)
}

pub(super) fn decompress_frame(
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
    header_checksum_check: HeaderChecksum,
) -> Result<(), Failure> {
    let frame = parse_header(input, header_checksum_check)?;
    let start = out.len();
    let mut pos = frame.data_start;
    loop {
        let size_field = read_u32_le(input, pos).ok_or_else(|| Failure::corrupt("missing end mark"))?;
        pos += 4;
        if size_field == 0 {
            break;
        }
        let len = (size_field & !BLOCK_UNCOMPRESSED) as usize;
        if len > frame.block_max {
            return Err(Failure::corrupt(format!(
                "block of {len} bytes exceeds the frame's {} byte blocks",
                frame.block_max
            )));
        }
        let block = input.get(pos..pos + len).ok_or_else(|| Failure::corrupt("block extends past the frame"))?;
        pos += len;
        if frame.flg & FLG_BLOCK_CHECKSUM != 0 {
            let stored = read_u32_le(input, pos).ok_or_else(|| Failure::corrupt("block checksum truncated"))?;
            pos += 4;
            if stored != xxh32(block, 0) {
                return Err(Failure::corrupt("block checksum mismatch"));
            }
        }
        let room = limit - (out.len() - start);
        if size_field & BLOCK_UNCOMPRESSED != 0 {
            if len > room {
                return Err(Failure::TooLarge);
            }
            out.extend_from_slice(block);
        } else {
            decompress_block(block, out, frame.block_max, room)?;
        }
    }
    if frame.flg & FLG_CONTENT_CHECKSUM != 0 {
        let stored = read_u32_le(input, pos).ok_or_else(|| Failure::corrupt("content checksum truncated"))?;
        pos += 4;
        if stored != xxh32(&out[start..], 0) {
            return Err(Failure::corrupt("content checksum mismatch"));
        }
    }
    if pos != input.len() {
        return Err(Failure::corrupt(format!("{} bytes after the end of the LZ4 frame", input.len() - pos)));
    }
    Ok(())
}

fn decompress_block(block: &[u8], out: &mut Vec<u8>, block_max: usize, room: usize) -> Result<(), Failure> {
    let at = out.len();
    // A block never holds more than block_max bytes; never allocate more than the limit allows.
    let window = block_max.min(room);
    out.resize(at + window, 0);
    match lz4_flex::block::decompress_into(block, &mut out[at..]) {
        Ok(n) => {
            out.truncate(at + n);
            Ok(())
        }
        Err(_) if window < block_max => {
            // Retry with the full block window only to tell "too large" from "corrupt".
            out.resize(at + block_max, 0);
            let result = lz4_flex::block::decompress_into(block, &mut out[at..]);
            out.truncate(at);
            match result {
                Ok(_) => Err(Failure::TooLarge),
                Err(e) => Err(Failure::corrupt(e.to_string())),
            }
        }
        Err(e) => Err(Failure::corrupt(e.to_string())),
    }
}

fn read_u32_le(bytes: &[u8], pos: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(pos..pos + 4)?.try_into().ok()?))
}

/// xxHash32, the checksum of the LZ4 frame format.
fn xxh32(input: &[u8], seed: u32) -> u32 {
    const P1: u32 = 0x9E37_79B1;
    const P2: u32 = 0x85EB_CA77;
    const P3: u32 = 0xC2B2_AE3D;
    const P4: u32 = 0x27D4_EB2F;
    const P5: u32 = 0x1656_67B1;
    fn round(acc: u32, lane: u32) -> u32 {
        acc.wrapping_add(lane.wrapping_mul(P2)).rotate_left(13).wrapping_mul(P1)
    }
    let lane = |chunk: &[u8]| u32::from_le_bytes(chunk.try_into().expect("4-byte lane"));

    let mut stripes = input.chunks_exact(16);
    let mut hash = if input.len() >= 16 {
        let mut v = [seed.wrapping_add(P1).wrapping_add(P2), seed.wrapping_add(P2), seed, seed.wrapping_sub(P1)];
        for stripe in &mut stripes {
            for (i, acc) in v.iter_mut().enumerate() {
                *acc = round(*acc, lane(&stripe[4 * i..4 * i + 4]));
            }
        }
        v[0].rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18))
    } else {
        seed.wrapping_add(P5)
    };
    hash = hash.wrapping_add(input.len() as u32);
    let rest = stripes.remainder();
    let mut words = rest.chunks_exact(4);
    for word in &mut words {
        hash = hash.wrapping_add(lane(word).wrapping_mul(P3)).rotate_left(17).wrapping_mul(P4);
    }
    for &byte in words.remainder() {
        hash = hash.wrapping_add((byte as u32).wrapping_mul(P5)).rotate_left(11).wrapping_mul(P1);
    }
    hash ^= hash >> 15;
    hash = hash.wrapping_mul(P2);
    hash ^= hash >> 13;
    hash = hash.wrapping_mul(P3);
    hash ^ (hash >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xxh32_matches_the_reference_vectors() {
        assert_eq!(xxh32(b"", 0), 0x02CC_5D05);
        assert_eq!(xxh32(b"a", 0), 0x550D_7456);
        assert_eq!(xxh32(b"abc", 0), 0x32D1_53FF);
        assert_eq!(xxh32(b"Nobody inspects the spammish repetition", 0), 0xE229_3B2F);
    }

    #[test]
    fn writes_javas_exact_frame_header() {
        let mut out = Vec::new();
        compress(b"hello", &mut out);
        assert_eq!(&out[..7], &[0x04, 0x22, 0x4D, 0x18, 0x60, 0x40, 0x82]);
        // "hello" does not shrink: stored uncompressed with the high bit set, then the end mark.
        assert_eq!(&out[7..11], &(5u32 | BLOCK_UNCOMPRESSED).to_le_bytes());
        assert_eq!(&out[11..16], b"hello");
        assert_eq!(&out[16..], &[0, 0, 0, 0]);
    }

    #[test]
    fn reads_frames_with_content_size_and_checksums() {
        // FLG 0x7C: independent, block checksum, content size, content checksum.
        let content = b"abcabcabcabcabcabcabcabc".repeat(10);
        let block = lz4_flex::block::compress(&content);
        let mut frame = MAGIC.to_vec();
        let mut descriptor = vec![0x7C, 0x40];
        descriptor.extend_from_slice(&(content.len() as u64).to_le_bytes());
        frame.extend_from_slice(&descriptor);
        frame.push(header_checksum(&descriptor));
        frame.extend_from_slice(&(block.len() as u32).to_le_bytes());
        frame.extend_from_slice(&block);
        frame.extend_from_slice(&xxh32(&block, 0).to_le_bytes());
        frame.extend_from_slice(&[0; 4]);
        frame.extend_from_slice(&xxh32(&content, 0).to_le_bytes());
        let mut out = Vec::new();
        decompress(&frame, &mut out, 1 << 20).unwrap();
        assert_eq!(out, content);

        let last = frame.len() - 1;
        frame[last] ^= 1;
        assert!(matches!(decompress(&frame, &mut Vec::new(), 1 << 20), Err(Failure::Corrupt(_))));
    }

    #[test]
    fn rejects_what_java_rejects() {
        let mut base = Vec::new();
        compress(b"some content", &mut base);
        let with_flg = |flg: u8, bd: u8| {
            let mut f = base.clone();
            f[4] = flg;
            f[5] = bd;
            f[6] = header_checksum(&[flg, bd]);
            f
        };
        for (flg, bd) in [(0x40, 0x40), (0x61, 0x40), (0x62, 0x40), (0x20, 0x40), (0x60, 0x30), (0x60, 0x41)] {
            assert!(decompress(&with_flg(flg, bd), &mut Vec::new(), 1024).is_err(), "FLG {flg:#x} BD {bd:#x}");
        }
        let mut bad_hc = base.clone();
        bad_hc[6] ^= 0xff;
        assert!(decompress(&bad_hc, &mut Vec::new(), 1024).is_err());
        let mut trailing = base.clone();
        trailing.push(0);
        assert!(decompress(&trailing, &mut Vec::new(), 1024).is_err());
    }
}
