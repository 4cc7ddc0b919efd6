//! Kafka's client half, in-process, built on the public `Log` / `Topic` / `Partition` API: the
//! producer (`producer/`: Kafka's accumulator, with its queues, completions and its own
//! thread), the consumer (`consumer/`: a facade over its subscription, fetcher,
//! commits and group membership), the typed clients (`serialization`), the async consumer
//! (`asynchronous`, with its `timer`) and group administration (`admin`). Consumer groups are
//! the coordinator's (`crate::coordinator`, the layer below): the consumer reaches it only
//! through the group protocol, `Admin` through the coordinator's methods.

pub(crate) mod admin;
#[cfg(feature = "async")]
pub(crate) mod asynchronous;
pub(crate) mod consumer;
pub(crate) mod producer;
pub(crate) mod serialization;
#[cfg(feature = "async")]
pub(crate) mod timer;
