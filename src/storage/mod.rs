//! Storage below the segments: the `Io` seam every durability-relevant write and fsync goes
//! through (`io`), file names, suffixes and atomic writes (`files`), all mapped memory and the
//! rules that keep it sound (`mapped`), and the thread that zero-fills ahead of appends
//! (`prefill`). Nothing here knows about segments, partitions or Kafka's record format.

pub(crate) mod files;
pub(crate) mod handles;
pub(crate) mod io;
pub(crate) mod mapped;
pub(crate) mod prefill;
