//! Kafka's client half, in-process, built on the public `Log` / `Topic` / `Partition` API: the
//! producer (`producer`). Consumers, consumer groups and committed offsets come next.

pub(crate) mod producer;
