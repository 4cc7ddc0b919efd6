//! Kafka's record format, pure: bytes in, values out, no I/O. Records and headers
//! (`record`), zigzag varints (`varint`), the RecordBatch v2 header, encoding and decoding
//! (`batch`), the codecs (`codec`), and the legacy message sets of magic 0 and 1, read only (`legacy`).

pub mod batch;
pub(crate) mod builder;
pub(crate) mod codec;
pub(crate) mod crc;
pub(crate) mod legacy;
pub(crate) mod record;
pub(crate) mod varint;

/// Asks the CPU to start loading `bytes` into its caches, a line every 64 bytes, so that a walk
/// over them that must read each part before it knows where the next starts (the record
/// lengths of a batch) waits for memory once instead of once per line. A hint: nothing is
/// read, and nothing happens where the CPU has no prefetch instruction.
#[inline]
pub(crate) fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in (0..bytes.len()).step_by(64) {
        // SAFETY: `line` < `bytes.len()`, so the pointer lies inside the slice; a prefetch reads
        // nothing architecturally and cannot fault, and `sse` (which the intrinsic requires) is
        // part of every x86-64 target.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(bytes.as_ptr().add(line).cast())
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}
