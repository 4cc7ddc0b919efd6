//! The compression codecs of a batch's records section, as Kafka writes and reads them.
//!
//! Only the records section (byte 61 to the end of the batch) is compressed, as one stream
//! holding every record with its length prefix. Codec ids live in bits 0..2 of the batch
//! attributes: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd; 5..7 are invalid.
//!
//! Decompression is always bounded: output grows as it is produced and stops with
//! [`FormatError::DecompressedTooLarge`] at the limit, whatever sizes the compressed stream claims.

mod gzip;
mod lz4;
mod snappy;
#[cfg(feature = "zstd")]
mod zstd;

use std::fmt;

use crate::error::{Error, FormatError};

/// A batch compression codec (Kafka's `CompressionType`).
///
/// # Example
/// ```
/// use partlog::Compression;
/// assert_eq!(Compression::from_id(3), Some(Compression::Lz4));
/// assert_eq!(Compression::Lz4.id(), 3);
/// assert_eq!(Compression::Lz4.to_string(), "lz4");
/// assert_eq!("snappy".parse::<Compression>().unwrap(), Compression::Snappy);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// Records stored as they are (id 0).
    #[default]
    None,
    /// An RFC 1952 gzip member (id 1).
    Gzip,
    /// snappy-java's "xerial" framing around raw Snappy blocks (id 2).
    Snappy,
    /// An LZ4 frame with independent 64 KiB blocks, as Kafka's Java client writes it (id 3).
    Lz4,
    /// A zstd frame (id 4); needs the `zstd` cargo feature to read or write.
    Zstd,
}

impl Compression {
    /// All codecs, in id order.
    pub const ALL: [Compression; 5] =
        [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];

    /// The codec for the attribute bits 0..2, or `None` for the undefined ids 5..7.
    ///
    /// # Example
    /// ```
    /// use partlog::Compression;
    /// assert_eq!(Compression::from_id(1), Some(Compression::Gzip));
    /// assert_eq!(Compression::from_id(5), None);
    /// for codec in Compression::ALL {
    ///     assert_eq!(Compression::from_id(codec.id()), Some(codec));
    /// }
    /// ```
    pub fn from_id(id: u8) -> Option<Compression> {
        match id {
            0 => Some(Compression::None),
            1 => Some(Compression::Gzip),
            2 => Some(Compression::Snappy),
            3 => Some(Compression::Lz4),
            4 => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// The codec id stored in the batch attributes.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{BatchHeader, Compression, CompressionType, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let mut config = TopicConfig::default();
    /// config.compression_type = CompressionType::Codec(Compression::Lz4);
    /// let p = log.create_topic("t", 1, config)?.partition(0)?;
    /// p.append(&[Record::new(b"a")])?;
    /// let mut raw = Vec::new();
    /// p.read_raw(0, 1 << 20, &mut raw)?;
    /// let header = BatchHeader::parse(&raw).unwrap();
    /// assert_eq!(header.attributes & 0x07, Compression::Lz4.id() as i16); // attribute bits 0..2
    /// assert_eq!(Compression::Lz4.id(), 3); // Kafka's id
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn id(self) -> u8 {
        self as u8
    }

    /// Kafka's name for the codec (`none`, `gzip`, `snappy`, `lz4`, `zstd`).
    ///
    /// # Example
    /// ```
    /// use partlog::Compression;
    /// assert_eq!(Compression::None.name(), "none");
    /// assert_eq!(Compression::Snappy.name(), "snappy");
    /// for codec in Compression::ALL {
    ///     assert_eq!(codec.name().parse::<Compression>()?, codec);
    ///     assert_eq!(codec.to_string(), codec.name()); // what `Display` writes
    /// }
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// Whether this build can compress and decompress the codec.
    ///
    /// # Example
    /// ```
    /// use partlog::{Compression, CompressionType, TopicConfig};
    /// assert!(Compression::ALL.iter().filter(|&&c| c != Compression::Zstd).all(|c| c.is_available()));
    /// assert_eq!(Compression::Zstd.is_available(), cfg!(feature = "zstd"));
    /// let mut config = TopicConfig::default();
    /// config.compression_type = CompressionType::Codec(Compression::Zstd);
    /// assert_eq!(config.validate().is_ok(), Compression::Zstd.is_available()); // topics refuse a codec not built in
    /// ```
    pub fn is_available(self) -> bool {
        self != Compression::Zstd || cfg!(feature = "zstd")
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Compression {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "none" | "uncompressed" => Ok(Compression::None),
            "gzip" => Ok(Compression::Gzip),
            "snappy" => Ok(Compression::Snappy),
            "lz4" => Ok(Compression::Lz4),
            "zstd" => Ok(Compression::Zstd),
            _ => Err(Error::InvalidConfig {
                key: "compression.type".into(),
                value: s.into(),
                reason: "expected one of none, gzip, snappy, lz4, zstd".into(),
            }),
        }
    }
}

/// Codec levels, as Kafka's `compression.gzip.level` and `compression.zstd.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Levels {
    pub gzip: u32,
    pub zstd: i32,
}

impl Default for Levels {
    fn default() -> Self {
        Levels { gzip: 6, zstd: 3 }
    }
}

/// Appends `input` compressed with `codec` to `out`.
pub(crate) fn compress(codec: Compression, levels: Levels, input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
    match codec {
        Compression::None => out.extend_from_slice(input),
        Compression::Gzip => gzip::compress(input, levels.gzip, out),
        Compression::Snappy => snappy::compress(input, out),
        Compression::Lz4 => lz4::compress(input, out),
        #[cfg(feature = "zstd")]
        Compression::Zstd => zstd::compress(input, levels.zstd, out),
        #[cfg(not(feature = "zstd"))]
        Compression::Zstd => return Err(Error::UnsupportedCodec { codec }),
    }
    Ok(())
}

/// Why decompression stopped.
#[derive(Debug)]
pub(crate) enum DecompressError {
    /// The codec is not compiled in.
    #[cfg_attr(feature = "zstd", allow(dead_code))]
    Unsupported(Compression),
    /// The stream is malformed or expands past the limit.
    Format(FormatError),
}

/// Appends the decompression of `input` to `out`, adding at most `limit` bytes.
pub(crate) fn decompress(
    codec: Compression,
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), DecompressError> {
    decompress_any(codec, input, out, limit, lz4::HeaderChecksum::Verify)
}

/// [`decompress`] for the value of a legacy wrapper message of magic `magic`: magic-0 lz4 is
/// Kafka 0.8's framing, whose header checksum is not checked.
pub(crate) fn decompress_legacy(
    codec: Compression,
    magic: u8,
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), DecompressError> {
    let hc = if magic == 0 { lz4::HeaderChecksum::Ignore } else { lz4::HeaderChecksum::Verify };
    decompress_any(codec, input, out, limit, hc)
}

fn decompress_any(
    codec: Compression,
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
    lz4_header_checksum: lz4::HeaderChecksum,
) -> Result<(), DecompressError> {
    let start = out.len();
    let result = match codec {
        Compression::None => {
            if input.len() > limit {
                Err(Failure::TooLarge)
            } else {
                out.extend_from_slice(input);
                Ok(())
            }
        }
        Compression::Gzip => gzip::decompress(input, out, limit),
        Compression::Snappy => snappy::decompress(input, out, limit),
        Compression::Lz4 => lz4::decompress_frame(input, out, limit, lz4_header_checksum),
        #[cfg(feature = "zstd")]
        Compression::Zstd => zstd::decompress(input, out, limit),
        #[cfg(not(feature = "zstd"))]
        Compression::Zstd => return Err(DecompressError::Unsupported(codec)),
    };
    result.map_err(|failure| {
        out.truncate(start);
        DecompressError::Format(match failure {
            Failure::TooLarge => FormatError::DecompressedTooLarge { codec, limit: limit as u64 },
            Failure::Corrupt(reason) => FormatError::Decompress { codec, reason },
        })
    })
}

/// A codec module's failure, before the codec name is attached.
#[derive(Debug)]
enum Failure {
    TooLarge,
    Corrupt(String),
}

impl Failure {
    fn corrupt(reason: impl Into<String>) -> Failure {
        Failure::Corrupt(reason.into())
    }
}

/// Reads `reader` to its end into `out`, failing once more than `limit` bytes were produced.
/// Used by the streaming decoders (gzip, zstd); grows `out` in steps, never by a claimed size.
fn read_bounded(mut reader: impl std::io::Read, out: &mut Vec<u8>, limit: usize) -> Result<(), Failure> {
    const STEP: usize = 32 * 1024;
    let start = out.len();
    loop {
        let produced = out.len() - start;
        if produced > limit {
            return Err(Failure::TooLarge);
        }
        // One byte past the limit is enough to tell "too large" from "exactly at the limit".
        let want = STEP.min(limit + 1 - produced);
        let len = out.len();
        out.resize(len + want, 0);
        match reader.read(&mut out[len..]) {
            Ok(0) => {
                out.truncate(len);
                return Ok(());
            }
            Ok(n) => out.truncate(len + n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => out.truncate(len),
            Err(e) => {
                out.truncate(len);
                return Err(Failure::corrupt(e.to_string()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(len: usize) -> Vec<u8> {
        // Compressible but not trivial: event-like text with a counter.
        let mut v = Vec::with_capacity(len);
        let mut i = 0u32;
        while v.len() < len {
            v.extend_from_slice(format!("{{\"user\":{},\"event\":\"click\",\"n\":{}}}", i % 97, i).as_bytes());
            i += 1;
        }
        v.truncate(len);
        v
    }

    fn available() -> impl Iterator<Item = Compression> {
        Compression::ALL.into_iter().filter(|c| c.is_available())
    }

    #[test]
    fn every_codec_round_trips_empty_small_and_multi_block_inputs() {
        for codec in available() {
            for len in [0, 1, 100, 65_536, 65_537, 300_000] {
                let input = sample(len);
                let mut packed = Vec::new();
                compress(codec, Levels::default(), &input, &mut packed).unwrap();
                let mut out = vec![7u8]; // decompress appends
                decompress(codec, &packed, &mut out, len).unwrap();
                assert_eq!(&out[1..], &input[..], "{codec} len {len}");
            }
        }
    }

    #[test]
    fn output_past_the_limit_is_an_error_not_an_allocation() {
        for codec in available() {
            let input = vec![0u8; 1 << 20];
            let mut packed = Vec::new();
            compress(codec, Levels::default(), &input, &mut packed).unwrap();
            let mut out = Vec::new();
            match decompress(codec, &packed, &mut out, 4096) {
                Err(DecompressError::Format(FormatError::DecompressedTooLarge { limit: 4096, .. })) => {}
                other => panic!("{codec}: expected DecompressedTooLarge, got {other:?}"),
            }
            assert!(out.is_empty(), "{codec}: partial output must be dropped");
        }
    }

    #[test]
    fn garbage_is_a_decompress_error() {
        for codec in available().filter(|c| *c != Compression::None) {
            for garbage in [&b""[..], b"\x00", b"not compressed at all, just text", &[0xff; 40]] {
                let mut out = Vec::new();
                let result = decompress(codec, garbage, &mut out, 1 << 20);
                // Raw snappy accepts some short inputs as valid blocks; everything else must fail.
                if codec == Compression::Snappy && result.is_ok() {
                    continue;
                }
                assert!(
                    matches!(result, Err(DecompressError::Format(FormatError::Decompress { .. }))),
                    "{codec} on {garbage:?}: {result:?}"
                );
            }
        }
    }

    #[test]
    fn names_and_ids_round_trip() {
        for codec in Compression::ALL {
            assert_eq!(Compression::from_id(codec.id()), Some(codec));
            assert_eq!(codec.name().parse::<Compression>().unwrap(), codec);
        }
        for id in 5..=7 {
            assert_eq!(Compression::from_id(id), None);
        }
        assert!("brotli".parse::<Compression>().is_err());
    }
}
