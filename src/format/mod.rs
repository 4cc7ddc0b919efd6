//! Kafka's record format, pure: bytes in, values out, no I/O. Records and headers
//! (`record`), zigzag varints (`varint`), the RecordBatch v2 header, encoding and decoding
//! (`batch`), and the codecs (`codec`).

pub mod batch;
pub(crate) mod codec;
pub(crate) mod record;
pub(crate) mod varint;
