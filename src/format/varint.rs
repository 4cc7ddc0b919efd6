//! Kafka's zigzag varints (`ByteUtils.java`): zigzag, then unsigned LEB128, low group first.
//!
//! | value | bytes |
//! |---|---|
//! | 0 | `00` |
//! | -1 | `01` |
//! | 1 | `02` |
//! | 64 | `80 01` |
//! | -64 | `7F` |
//! | 300 | `D8 04` |
//!
//! An int varint is at most 5 bytes, a long varint at most 10; longer ones are rejected, as Kafka
//! does. Decoding never reads past the slice it is given.

/// Longest encoding of a 32-bit varint.
pub(crate) const MAX_VARINT_BYTES: usize = 5;
/// Longest encoding of a 64-bit varint.
pub(crate) const MAX_VARLONG_BYTES: usize = 10;

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VarintError {
    /// The slice ended inside the varint.
    Truncated,
    /// More continuation bytes than the type allows.
    TooLong,
}

#[inline]
fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
fn unzigzag64(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Bytes the zigzag encoding of `v` takes.
#[inline]
pub(crate) fn varlong_len(v: i64) -> usize {
    let z = zigzag64(v);
    // Each byte carries 7 bits; a zero still takes one byte. ⌈bits / 7⌉ = (9 bits + 64) / 64 for
    // bits in 1..=64, without a division (this is on the append path, once per field).
    let bits = 64 - (z | 1).leading_zeros() as usize;
    (bits * 9 + 64) / 64
}

/// Bytes the zigzag encoding of `v` takes.
#[inline]
pub(crate) fn varint_len(v: i32) -> usize {
    varlong_len(v as i64)
}

/// Appends the zigzag varint encodings of `values`, written straight into `out`'s spare
/// capacity: the append path's record prefix, without a capacity check per byte.
#[inline]
pub(crate) fn put_varlongs<const N: usize>(out: &mut Vec<u8>, values: [i64; N]) {
    out.reserve(N * MAX_VARLONG_BYTES);
    let spare = &mut out.spare_capacity_mut()[..N * MAX_VARLONG_BYTES];
    let mut n = 0;
    for v in values {
        let mut z = zigzag64(v);
        while z >= 0x80 {
            spare[n].write((z as u8) | 0x80);
            n += 1;
            z >>= 7;
        }
        spare[n].write(z as u8);
        n += 1;
    }
    // SAFETY: the first `n` spare bytes were just written.
    unsafe { out.set_len(out.len() + n) };
}

/// Appends the zigzag varint encoding of `v`.
#[inline]
pub(crate) fn put_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = zigzag64(v);
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Appends the zigzag varint encoding of `v`.
#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, v: i32) {
    put_varlong(out, v as i64)
}

#[inline(always)]
fn read_unsigned(bytes: &[u8], pos: &mut usize, max_bytes: usize) -> Result<u64, VarintError> {
    // Most varints of a record take one or two bytes (lengths under 8 KiB, small deltas); those
    // cost one comparison against the length each.
    let p = *pos;
    if p < bytes.len() {
        let b0 = bytes[p];
        if b0 < 0x80 {
            *pos = p + 1;
            return Ok(b0 as u64);
        }
        if p + 1 < bytes.len() {
            let b1 = bytes[p + 1];
            if b1 < 0x80 {
                *pos = p + 2;
                return Ok((b0 & 0x7f) as u64 | (b1 as u64) << 7);
            }
        }
    }
    read_unsigned_slow(bytes, pos, max_bytes)
}

fn read_unsigned_slow(bytes: &[u8], pos: &mut usize, max_bytes: usize) -> Result<u64, VarintError> {
    let mut value: u64 = 0;
    for i in 0..max_bytes {
        let Some(&b) = bytes.get(*pos + i) else {
            return Err(VarintError::Truncated);
        };
        value |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            *pos += i + 1;
            return Ok(value);
        }
    }
    Err(VarintError::TooLong)
}

/// Reads a 64-bit zigzag varint at `*pos`, advancing `*pos` past it.
#[inline]
pub(crate) fn read_varlong(bytes: &[u8], pos: &mut usize) -> Result<i64, VarintError> {
    read_unsigned(bytes, pos, MAX_VARLONG_BYTES).map(unzigzag64)
}

/// Reads a 32-bit zigzag varint at `*pos`, advancing `*pos` past it.
#[inline]
pub(crate) fn read_varint(bytes: &[u8], pos: &mut usize) -> Result<i32, VarintError> {
    // Five groups carry 35 bits; Kafka keeps the low 32 (the zigzag of an int fits in 32 bits).
    let z = read_unsigned(bytes, pos, MAX_VARINT_BYTES)? as u32;
    Ok(((z >> 1) as i32) ^ -((z & 1) as i32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_reference_examples() {
        let cases: [(i64, &[u8]); 6] =
            [(0, &[0x00]), (-1, &[0x01]), (1, &[0x02]), (64, &[0x80, 0x01]), (-64, &[0x7f]), (300, &[0xd8, 0x04])];
        for (v, want) in cases {
            let mut out = Vec::new();
            put_varlong(&mut out, v);
            assert_eq!(out, want, "encoding {v}");
            assert_eq!(varlong_len(v), want.len());
            let mut pos = 0;
            assert_eq!(read_varlong(&out, &mut pos), Ok(v));
            assert_eq!(pos, want.len());
        }
    }

    #[test]
    fn extremes_round_trip_within_the_length_limits() {
        for v in [i64::MIN, i64::MAX, i32::MIN as i64, i32::MAX as i64] {
            let mut out = Vec::new();
            put_varlong(&mut out, v);
            assert!(out.len() <= MAX_VARLONG_BYTES);
            assert_eq!(read_varlong(&out, &mut 0), Ok(v));
        }
        for v in [i32::MIN, i32::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), MAX_VARINT_BYTES);
            assert_eq!(varint_len(v), MAX_VARINT_BYTES);
            assert_eq!(read_varint(&out, &mut 0), Ok(v));
        }
    }

    #[test]
    fn rejects_truncated_and_overlong_varints() {
        assert_eq!(read_varint(&[0x80], &mut 0), Err(VarintError::Truncated));
        assert_eq!(read_varint(&[], &mut 0), Err(VarintError::Truncated));
        assert_eq!(read_varint(&[0x80; 6], &mut 0), Err(VarintError::TooLong));
        assert_eq!(read_varlong(&[0xff; 11], &mut 0), Err(VarintError::TooLong));
    }

    #[test]
    fn lengths_match_the_encoding_at_every_bit_length() {
        for bits in 0..64 {
            let p = 1i64 << bits;
            for v in [p, p.wrapping_sub(1), p.wrapping_neg(), p.wrapping_neg().wrapping_add(1)] {
                let mut out = Vec::new();
                put_varlong(&mut out, v);
                assert_eq!(varlong_len(v), out.len(), "{v}");
            }
        }
    }

    #[test]
    fn put_varlongs_writes_what_put_varlong_writes() {
        let values = [
            0i64,
            -1,
            1,
            63,
            -64,
            64,
            300,
            -300,
            8191,
            -8192,
            8192,
            -8193,
            i32::MAX as i64,
            i32::MIN as i64,
            i64::MAX,
            i64::MIN,
        ];
        for w in values.windows(3) {
            let (mut one_by_one, mut together) = (vec![7u8], vec![7u8]);
            for &v in w {
                put_varlong(&mut one_by_one, v);
            }
            put_varlongs(&mut together, [w[0], w[1], w[2]]);
            assert_eq!(together, one_by_one);
        }
    }
}
