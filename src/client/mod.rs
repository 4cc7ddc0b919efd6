//! Kafka's client half, in-process, built on the public `Log` / `Topic` / `Partition` API: the
//! producer (`producer`), the consumer (`consumer`) and group administration (`admin`).
//! Consumer groups are the coordinator's (`crate::coordinator`, the layer below).

pub(crate) mod admin;
#[cfg(feature = "async")]
pub(crate) mod asynchronous;
pub(crate) mod consumer;
pub(crate) mod producer;
pub(crate) mod serialization;
#[cfg(feature = "async")]
pub(crate) mod timer;
