//! Storage below the format: the mapped-memory rules (and later, the `Io` seam and file names).

pub(crate) mod mapped;
