//! Kafka's record format, pure: bytes in, values out, no I/O. Records and headers
//! (`record`), zigzag varints (`varint`), the RecordBatch v2 header, encoding and decoding
//! (`batch`), the codecs (`codec`), and the legacy message sets of magic 0 and 1, read only (`legacy`).

pub mod batch;
pub(crate) mod codec;
pub(crate) mod crc;
pub(crate) mod legacy;
pub(crate) mod record;
pub(crate) mod varint;
