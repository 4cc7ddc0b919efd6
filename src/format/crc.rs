//! CRC-32C (Castagnoli), the checksum of every RecordBatch v2, computed by folding with
//! carry-less multiplication where the CPU has 512-bit `VPCLMULQDQ` (x86-64 with AVX-512), and
//! by the `crc32c` crate (the SSE 4.2 / ARMv8 `crc32` instruction, or its tables) otherwise and
//! for short inputs.
//!
//! Why: every append computes the checksum of its batch and every read checks it, so its speed
//! bounds appends, scans and point reads (the README's performance section has the numbers). The
//! `crc32` instruction handles 8 bytes per cycle at best; folding handles 64 bytes per
//! instruction pair, and a point read of a batch that is not in the CPU's caches then waits
//! mostly for memory instead of for the checksum.
//!
//! How (Intel's "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ", with the last
//! step done by the `crc32` instruction instead of a Barrett reduction): the message is cut into
//! 16-byte lanes. A lane `A` that lies `D` bits before lane `B` contributes `A·x^D` to the
//! polynomial at `B`'s place, and `A·x^D` is congruent modulo the CRC polynomial to
//! `H·(x^(64+D) mod P) ⊕ L·(x^D mod P)` (`H`, `L` the lane's two halves): two 64×32-bit
//! carry-less products that fit in one lane. Folding every lane forward into the last one
//! leaves 16 bytes with the same remainder as everything before them, and the checksum of those
//! 16 bytes (the `crc32` instruction, starting from zero) is the checksum of the whole prefix.
//! The constants are computed here at compile time from the polynomial, and the tests compare
//! every length from 0 to 4 KiB and random inputs with the `crc32c` crate.

/// CRC-32C of `bytes` (initial value and final XOR `0xFFFF_FFFF`, reflected: what Kafka's
/// `Crc32C` computes).
#[inline]
pub(crate) fn crc32c(bytes: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if bytes.len() >= x86::MIN_LEN && x86::available() {
        // SAFETY: `available` checked that this CPU has every feature the function enables.
        return unsafe { x86::crc32c(bytes) };
    }
    crc32c::crc32c(bytes)
}

/// The CRC-32C polynomial without its `x^32` term, in normal (not reflected) bit order.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const POLY: u64 = 0x1EDC_6F41;

/// `x^e mod P`, a polynomial of degree below 32 (bit `d` is the coefficient of `x^d`).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const fn x_pow_mod(e: u32) -> u64 {
    let mut r: u64 = 1;
    let mut i = 0;
    while i < e {
        r <<= 1;
        if r & (1 << 32) != 0 {
            r ^= (1 << 32) | POLY;
        }
        i += 1;
    }
    r
}

/// The fold constant multiplying a half lane whose top coefficient is `x^63`: `x^(e-1) mod P`
/// stored with bit `j` the coefficient of `x^(63-j)`. The carry-less product of two such
/// reflected 64-bit values has bit `m` the coefficient of `x^(126-m)`, which read as a lane
/// (bit `m` is `x^(127-m)`) is the product times `x`: hence the `e - 1`.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const fn fold_constant(e: u32) -> u64 {
    let q = x_pow_mod(e - 1);
    let mut k = 0u64;
    let mut d = 0;
    while d < 32 {
        if q & (1 << d) != 0 {
            k |= 1 << (63 - d);
        }
        d += 1;
    }
    k
}

/// The two constants that move a lane `distance` bits forward: `(for its first 8 bytes, for
/// its last 8 bytes)`. The first half holds the lane's higher-degree coefficients.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const fn fold_pair(distance: u32) -> (u64, u64) {
    (fold_constant(64 + distance), fold_constant(distance))
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::fold_pair;

    /// Inputs shorter than this go to the `crc32c` crate: below four 512-bit blocks, the folds'
    /// setup costs more than it saves.
    pub(super) const MIN_LEN: usize = 256;

    const FOLD_2048: (u64, u64) = fold_pair(2048);
    const FOLD_1536: (u64, u64) = fold_pair(1536);
    const FOLD_1024: (u64, u64) = fold_pair(1024);
    const FOLD_512: (u64, u64) = fold_pair(512);
    const FOLD_384: (u64, u64) = fold_pair(384);
    const FOLD_256: (u64, u64) = fold_pair(256);
    const FOLD_128: (u64, u64) = fold_pair(128);

    /// Whether this CPU can run [`crc32c`] (the standard library caches the answer).
    #[inline]
    pub(super) fn available() -> bool {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("vpclmulqdq")
            && is_x86_feature_detected!("pclmulqdq")
            && is_x86_feature_detected!("sse4.2")
    }

    /// Four lanes' fold constants, the same in each lane.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn broadcast((high, low): (u64, u64)) -> __m512i {
        _mm512_set_epi64(
            low as i64,
            high as i64,
            low as i64,
            high as i64,
            low as i64,
            high as i64,
            low as i64,
            high as i64,
        )
    }

    /// Each lane of `x` moved forward by the distance of `k`, added to `y`.
    #[inline]
    #[target_feature(enable = "avx512f,vpclmulqdq")]
    fn fold512(x: __m512i, k: __m512i, y: __m512i) -> __m512i {
        let high = _mm512_clmulepi64_epi128(x, k, 0x00);
        let low = _mm512_clmulepi64_epi128(x, k, 0x11);
        _mm512_ternarylogic_epi64(high, low, y, 0x96) // high ^ low ^ y
    }

    /// The lane `x` moved forward by the distance of `(high, low)`, added to `y`.
    #[inline]
    #[target_feature(enable = "pclmulqdq,sse2")]
    fn fold128(x: __m128i, (high, low): (u64, u64), y: __m128i) -> __m128i {
        let k = _mm_set_epi64x(low as i64, high as i64);
        _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11)), y)
    }

    /// 64 bytes as four lanes.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn load(block: &[u8; 64]) -> __m512i {
        // SAFETY: the reference covers the 64 bytes read; the load needs no alignment.
        unsafe { _mm512_loadu_si512(block.as_ptr().cast()) }
    }

    /// CRC-32C of `bytes` (at least [`MIN_LEN`] long).
    ///
    /// # Safety
    /// The CPU must have AVX-512F, VPCLMULQDQ, PCLMULQDQ and SSE 4.2 ([`available`]).
    #[target_feature(enable = "avx512f,vpclmulqdq,pclmulqdq,sse4.1,sse4.2")]
    pub(super) unsafe fn crc32c(bytes: &[u8]) -> u32 {
        debug_assert!(bytes.len() >= MIN_LEN);
        let (blocks, rest) = bytes.as_chunks::<64>();
        // The initial value is XORed into the first four bytes.
        let init = _mm512_set_epi64(0, 0, 0, 0, 0, 0, 0, 0xFFFF_FFFF);
        // Four accumulators, 256 bytes apart, while four blocks are left.
        let mut x = [_mm512_xor_si512(load(&blocks[0]), init), load(&blocks[1]), load(&blocks[2]), load(&blocks[3])];
        let mut next = 4;
        let k2048 = broadcast(FOLD_2048);
        while next + 4 <= blocks.len() {
            for (i, acc) in x.iter_mut().enumerate() {
                *acc = fold512(*acc, k2048, load(&blocks[next + i]));
            }
            next += 4;
        }
        // Into one: each accumulator moved to the last one's place.
        let mut acc = fold512(x[0], broadcast(FOLD_1536), x[3]);
        acc = fold512(x[1], broadcast(FOLD_1024), acc);
        acc = fold512(x[2], broadcast(FOLD_512), acc);
        let k512 = broadcast(FOLD_512);
        for block in &blocks[next..] {
            acc = fold512(acc, k512, load(block));
        }
        // Four lanes into the last.
        let lanes = [
            _mm512_extracti32x4_epi32::<0>(acc),
            _mm512_extracti32x4_epi32::<1>(acc),
            _mm512_extracti32x4_epi32::<2>(acc),
            _mm512_extracti32x4_epi32::<3>(acc),
        ];
        let mut a = fold128(lanes[0], FOLD_384, lanes[3]);
        a = fold128(lanes[1], FOLD_256, a);
        a = fold128(lanes[2], FOLD_128, a);
        // Whole lanes left.
        let (lanes, tail) = rest.as_chunks::<16>();
        for lane in lanes {
            // SAFETY: the reference covers the 16 bytes read; the load needs no alignment.
            let b = unsafe { _mm_loadu_si128(lane.as_ptr().cast()) };
            a = fold128(a, FOLD_128, b);
        }
        // The remainder of everything so far is that of these 16 bytes.
        let mut state = _mm_crc32_u64(0, _mm_cvtsi128_si64(a) as u64);
        state = _mm_crc32_u64(state, _mm_extract_epi64::<1>(a) as u64);
        // The crate continues from a finished checksum (state XOR 0xFFFF_FFFF) and finishes it.
        crc32c::crc32c_append(!(state as u32), tail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic bytes that are not a pattern a fold could get right by accident.
    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn matches_the_crc32c_crate_at_every_length_to_4_kib_and_every_alignment() {
        let data = noise(4096 + 64, 1);
        for len in 0..=4096 {
            assert_eq!(crc32c(&data[..len]), crc32c::crc32c(&data[..len]), "length {len}");
        }
        for start in 0..64 {
            for len in [256, 257, 300, 1000, 4000] {
                let bytes = &data[start..start + len];
                assert_eq!(crc32c(bytes), crc32c::crc32c(bytes), "start {start}, length {len}");
            }
        }
    }

    #[test]
    fn matches_the_crc32c_crate_on_large_and_uniform_inputs() {
        for (len, seed) in [(9_500, 2), (65_536, 3), (1 << 20, 4), (1_000_003, 5)] {
            let data = noise(len, seed);
            assert_eq!(crc32c(&data), crc32c::crc32c(&data), "length {len}");
        }
        for byte in [0x00, 0xFF, 0x80, 0x01] {
            let data = vec![byte; 10_000];
            assert_eq!(crc32c(&data), crc32c::crc32c(&data), "{byte:#x} × 10,000");
        }
    }

    #[test]
    fn known_answers() {
        // RFC 3720 (iSCSI), appendix B.4.
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
        let ascending: Vec<u8> = (0..32).collect();
        assert_eq!(crc32c(&ascending), 0x46DD_794E);
        // The same property past the folding threshold: 4 KiB of zeros, by the crate.
        assert_eq!(crc32c(&[0u8; 4096]), crc32c::crc32c(&[0u8; 4096]));
    }

    /// Where folding runs, the tests above test it; `PARTLOG_REQUIRE_VPCLMUL=1` (CI sets it on
    /// CPUs that have the features) makes a machine where it does not run fail instead of
    /// comparing the `crc32c` crate with itself.
    #[test]
    fn folding_runs_where_required() {
        #[cfg(target_arch = "x86_64")]
        let available = x86::available();
        #[cfg(not(target_arch = "x86_64"))]
        let available = false;
        eprintln!("VPCLMULQDQ folding on this CPU: {available}");
        if std::env::var_os("PARTLOG_REQUIRE_VPCLMUL").is_some_and(|v| v == "1") {
            assert!(available, "PARTLOG_REQUIRE_VPCLMUL=1, and this CPU cannot fold");
        }
    }

    /// Carry-less product of two 64-bit values, by shifts: the reference for the instruction.
    fn clmul(a: u64, b: u64) -> u128 {
        (0..64).filter(|i| (b >> i) & 1 == 1).fold(0u128, |r, i| r ^ ((a as u128) << i))
    }

    /// A 16-byte lane (little-endian) moved forward by the distance of `pair`.
    fn fold_lane(lane: u128, (high, low): (u64, u64)) -> u128 {
        clmul(lane as u64, high) ^ clmul((lane >> 64) as u64, low)
    }

    /// The CRC of the 16 bytes of `lane` and then `tail`, from the raw state 0 (what the `crc32`
    /// instruction does): by the crate, whose states are finished (XORed) ones.
    fn finish(lane: u128, tail: &[u8]) -> u32 {
        crc32c::crc32c_append(crc32c::crc32c_append(0xFFFF_FFFF, &lane.to_le_bytes()), tail)
    }

    /// The folding math without the instructions, on every machine: every lane moved to the
    /// last by the constants for its distance (128 bits to 32 KiB, every distance the x86 code
    /// uses among them), and lane by lane with the 128-bit constants.
    #[test]
    fn the_fold_constants_move_lanes_by_their_distance() {
        for len in [16, 17, 32, 48, 100, 256, 1000, 4096 + 15] {
            let data = noise(len, len as u64);
            let (lanes, tail) = data.as_chunks::<16>();
            let lanes: Vec<u128> = lanes.iter().map(|l| u128::from_le_bytes(*l)).collect();
            let first = lanes[0] ^ 0xFFFF_FFFF;
            // Lane by lane.
            let mut acc = first;
            for &lane in &lanes[1..] {
                acc = fold_lane(acc, fold_pair(128)) ^ lane;
            }
            assert_eq!(finish(acc, tail), crc32c::crc32c(&data), "lane by lane, length {len}");
            // Each lane straight to the last.
            let n = lanes.len();
            let mut direct = lanes[n - 1] ^ if n == 1 { 0xFFFF_FFFF } else { 0 };
            for (i, &lane) in lanes[..n - 1].iter().enumerate() {
                let lane = if i == 0 { first } else { lane };
                direct ^= fold_lane(lane, fold_pair(128 * (n - 1 - i) as u32));
            }
            assert_eq!(finish(direct, tail), crc32c::crc32c(&data), "each lane to the last, length {len}");
        }
    }

    #[test]
    fn constants_are_powers_of_x() {
        assert_eq!(x_pow_mod(0), 1);
        assert_eq!(x_pow_mod(31), 1 << 31);
        assert_eq!(x_pow_mod(32), POLY);
    }
}
