//! Kafka's client half, in-process, built on the public `Log` / `Topic` / `Partition` API: the
//! producer (`producer`), the consumer (`consumer`), consumer groups with their assignors and
//! in-process coordinator (`group`, `assignor`), and the records of `__consumer_offsets` in
//! Kafka's schemas (`schema`).

pub(crate) mod admin;
pub(crate) mod assignor;
#[cfg(feature = "async")]
pub(crate) mod asynchronous;
pub(crate) mod consumer;
pub(crate) mod group;
pub(crate) mod producer;
pub(crate) mod schema;
pub(crate) mod serialization;
#[cfg(feature = "async")]
pub(crate) mod timer;
