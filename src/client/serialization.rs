//! Typed keys and values (Kafka's `org.apache.kafka.common.serialization`): a [`Serde`] turns a
//! value into bytes and back, with Kafka's encodings, so that data written here reads in a Java
//! or Python Kafka client with the matching serde, and back. [`TypedProducer`] and
//! [`TypedConsumer`] wrap the byte-level clients.

#[cfg(feature = "json")]
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::consumer::{Consumer, ConsumerRecord};
use super::producer::{DeliveryFuture, Producer, ProducerRecord};
use crate::error::{Error, Result};
use crate::format::record::OwnedHeader;

/// Serializes and deserializes values of `T` (Kafka's `Serde<T>`). `topic` is passed as Kafka
/// passes it, for serdes that depend on it (schema registries).
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Error, Log, Producer, ProducerConfig, Serde, StringSerde, TopicConfig, TypedProducer};
/// /// Numbers as decimal text.
/// struct Decimal;
/// impl Serde<u64> for Decimal {
///     fn serialize(&self, _topic: &str, data: &u64) -> partlog::Result<Vec<u8>> {
///         Ok(data.to_string().into_bytes())
///     }
///     fn deserialize(&self, _topic: &str, data: &[u8]) -> partlog::Result<u64> {
///         let number = std::str::from_utf8(data).ok().and_then(|text| text.parse().ok());
///         number.ok_or_else(|| Error::Serialization {
///             what: "decimal",
///             reason: format!("not a number: {data:?}"),
///             topic: None,
///             partition: None,
///             offset: None,
///         })
///     }
/// }
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("stock", 1, TopicConfig::default())?.partition(0)?;
/// let producer = TypedProducer::new(Producer::new(&log, ProducerConfig::default())?, StringSerde, Decimal);
/// producer.send("stock", Some(&"pizza".to_string()), Some(&42))?.wait().expect("delivered");
/// assert_eq!(p.read(0, 1 << 20)?[0].value.as_deref(), Some(&b"42"[..]));
/// assert_eq!(Decimal.deserialize("stock", b"42")?, 42);
/// assert!(matches!(Decimal.deserialize("stock", b"many"), Err(Error::Serialization { .. })));
/// # Ok::<(), partlog::Error>(())
/// ```
pub trait Serde<T>: Send + Sync {
    /// `data` as bytes.
    ///
    /// # Example
    /// ```
    /// use partlog::{IntegerSerde, Serde, StringSerde};
    /// assert_eq!(IntegerSerde.serialize("orders", &-2)?, [0xff, 0xff, 0xff, 0xfe]); // Kafka's encoding
    /// assert_eq!(StringSerde.serialize("orders", &"é".to_string())?, "é".as_bytes());
    /// # Ok::<(), partlog::Error>(())
    /// ```
    fn serialize(&self, topic: &str, data: &T) -> Result<Vec<u8>>;
    /// Bytes back to a value.
    ///
    /// # Example
    /// ```
    /// use partlog::{Error, LongSerde, Serde};
    /// assert_eq!(LongSerde.deserialize("orders", &[0, 0, 0, 0, 0, 0, 1, 2])?, 258);
    /// // Bytes that are not a value of the type: an error, not a guess.
    /// assert!(matches!(LongSerde.deserialize("orders", &[1, 2]), Err(Error::Serialization { .. })));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    fn deserialize(&self, topic: &str, data: &[u8]) -> Result<T>;
}

fn bad(what: &'static str, reason: impl Into<String>) -> Error {
    Error::Serialization { what, reason: reason.into(), topic: None, partition: None, offset: None }
}

/// Bytes as they are (`ByteArraySerializer`).
///
/// # Example
/// ```
/// use partlog::{ByteArraySerde, Serde};
/// let bytes = ByteArraySerde.serialize("t", &vec![0, 159, 146, 150])?;
/// assert_eq!(bytes, [0, 159, 146, 150]); // unchanged, whatever they are
/// assert_eq!(ByteArraySerde.deserialize("t", &bytes)?, bytes);
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ByteArraySerde;

impl Serde<Vec<u8>> for ByteArraySerde {
    fn serialize(&self, _: &str, data: &Vec<u8>) -> Result<Vec<u8>> {
        Ok(data.clone())
    }
    fn deserialize(&self, _: &str, data: &[u8]) -> Result<Vec<u8>> {
        Ok(data.to_vec())
    }
}

/// UTF-8 strings (`StringSerializer`, Kafka's default encoding).
///
/// # Example
/// ```
/// use partlog::{Error, Serde, StringSerde};
/// assert_eq!(StringSerde.serialize("t", &"crème".to_string())?, "crème".as_bytes());
/// assert_eq!(StringSerde.deserialize("t", b"pizza")?, "pizza");
/// assert!(matches!(StringSerde.deserialize("t", &[0xff]), Err(Error::Serialization { .. }))); // not UTF-8
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct StringSerde;

impl Serde<String> for StringSerde {
    fn serialize(&self, _: &str, data: &String) -> Result<Vec<u8>> {
        Ok(data.as_bytes().to_vec())
    }
    fn deserialize(&self, _: &str, data: &[u8]) -> Result<String> {
        String::from_utf8(data.to_vec()).map_err(|e| bad("string", format!("not UTF-8: {e}")))
    }
}

macro_rules! big_endian_serde {
    ($(#[$doc:meta])* $name:ident, $t:ty, $kafka:literal) => {
        #[doc = concat!("`", stringify!($t), "` as Kafka's `", $kafka, "` writes it: ", stringify!($t), "'s big-endian bytes.")]
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name;

        impl Serde<$t> for $name {
            fn serialize(&self, _: &str, data: &$t) -> Result<Vec<u8>> {
                Ok(data.to_be_bytes().to_vec())
            }
            fn deserialize(&self, _: &str, data: &[u8]) -> Result<$t> {
                let bytes: [u8; std::mem::size_of::<$t>()] = data.try_into().map_err(|_| {
                    bad(
                        $kafka,
                        format!("{} bytes, expected {}", data.len(), std::mem::size_of::<$t>()),
                    )
                })?;
                Ok(<$t>::from_be_bytes(bytes))
            }
        }
    };
}

big_endian_serde!(
    ///
    /// # Example
    /// ```
    /// use partlog::{Error, Serde, ShortSerde};
    /// assert_eq!(ShortSerde.serialize("t", &258)?, [1, 2]);
    /// assert_eq!(ShortSerde.deserialize("t", &[0xff, 0xfe])?, -2);
    /// assert!(matches!(ShortSerde.deserialize("t", &[1, 2, 3]), Err(Error::Serialization { .. }))); // not 2 bytes
    /// # Ok::<(), partlog::Error>(())
    /// ```
    ShortSerde, i16, "ShortSerializer"
);
big_endian_serde!(
    ///
    /// # Example
    /// ```
    /// use partlog::{Error, IntegerSerde, Serde};
    /// assert_eq!(IntegerSerde.serialize("t", &-2)?, [0xff, 0xff, 0xff, 0xfe]);
    /// assert_eq!(IntegerSerde.deserialize("t", &[0, 0, 1, 2])?, 258);
    /// assert!(matches!(IntegerSerde.deserialize("t", &[1, 2]), Err(Error::Serialization { .. }))); // not 4 bytes
    /// # Ok::<(), partlog::Error>(())
    /// ```
    IntegerSerde, i32, "IntegerSerializer"
);
big_endian_serde!(
    ///
    /// # Example
    /// ```
    /// use partlog::{Error, LongSerde, Serde};
    /// assert_eq!(LongSerde.serialize("t", &1250)?, 1250i64.to_be_bytes());
    /// assert_eq!(LongSerde.deserialize("t", &[0, 0, 0, 0, 0, 0, 1, 2])?, 258);
    /// assert!(matches!(LongSerde.deserialize("t", &[1, 2, 3, 4]), Err(Error::Serialization { .. }))); // not 8 bytes
    /// # Ok::<(), partlog::Error>(())
    /// ```
    LongSerde, i64, "LongSerializer"
);
big_endian_serde!(
    ///
    /// # Example
    /// ```
    /// use partlog::{FloatSerde, Serde};
    /// assert_eq!(FloatSerde.serialize("t", &1.0)?, [0x3f, 0x80, 0, 0]); // IEEE 754, big-endian
    /// assert_eq!(FloatSerde.deserialize("t", &[0xc0, 0x20, 0, 0])?, -2.5);
    /// assert!(FloatSerde.deserialize("t", &[0x3f, 0x80]).is_err()); // not 4 bytes
    /// # Ok::<(), partlog::Error>(())
    /// ```
    FloatSerde, f32, "FloatSerializer"
);
big_endian_serde!(
    ///
    /// # Example
    /// ```
    /// use partlog::{DoubleSerde, Serde};
    /// assert_eq!(DoubleSerde.serialize("t", &1.0)?, [0x3f, 0xf0, 0, 0, 0, 0, 0, 0]); // IEEE 754, big-endian
    /// assert_eq!(DoubleSerde.deserialize("t", &(-2.5f64).to_be_bytes())?, -2.5);
    /// assert!(DoubleSerde.deserialize("t", &[0x3f, 0xf0]).is_err()); // not 8 bytes
    /// # Ok::<(), partlog::Error>(())
    /// ```
    DoubleSerde, f64, "DoubleSerializer"
);

/// Values as JSON with serde (the `json` feature); Kafka's `JsonSerializer` of Kafka Connect
/// and the common Java practice write the same bytes.
///
/// # Example
/// ```
/// use partlog::{Error, JsonSerde, Serde};
/// #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
/// struct Order {
///     id: u32,
///     item: String,
/// }
/// let serde = JsonSerde::<Order>::default();
/// let bytes = serde.serialize("orders", &Order { id: 7, item: "pizza".into() })?;
/// assert_eq!(bytes, br#"{"id":7,"item":"pizza"}"#);
/// assert_eq!(serde.deserialize("orders", &bytes)?, Order { id: 7, item: "pizza".into() });
/// assert!(matches!(serde.deserialize("orders", b"{\"id\":7}"), Err(Error::Serialization { .. }))); // no item
/// # Ok::<(), partlog::Error>(())
/// ```
#[cfg(feature = "json")]
#[derive(Debug)]
pub struct JsonSerde<T>(PhantomData<fn() -> T>);

#[cfg(feature = "json")]
impl<T> Default for JsonSerde<T> {
    fn default() -> Self {
        JsonSerde(PhantomData)
    }
}

#[cfg(feature = "json")]
impl<T> Clone for JsonSerde<T> {
    fn clone(&self) -> Self {
        JsonSerde(PhantomData)
    }
}

#[cfg(feature = "json")]
impl<T: serde::Serialize + serde::de::DeserializeOwned> Serde<T> for JsonSerde<T> {
    fn serialize(&self, _: &str, data: &T) -> Result<Vec<u8>> {
        serde_json::to_vec(data).map_err(|e| bad("json", e.to_string()))
    }
    fn deserialize(&self, _: &str, data: &[u8]) -> Result<T> {
        serde_json::from_slice(data).map_err(|e| bad("json", e.to_string()))
    }
}

/// A record with typed key and value, as [`TypedConsumer::poll`] returns it.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::time::Duration;
/// use partlog::{Consumer, ConsumerConfig, IntegerSerde, Log, Record, StringSerde, TopicConfig, TopicPartition};
/// use partlog::TypedConsumer;
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("stock", 1, TopicConfig::default())?.partition(0)?;
/// let pizzas = 12i32.to_be_bytes();
/// p.append(&[Record::new(&pizzas).with_key(b"pizza").with_timestamp(1_000), Record::tombstone(b"soup")])?;
/// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("auto.offset.reset", "earliest")?)?;
/// consumer.assign(&[TopicPartition::new("stock", 0)])?;
/// let records = TypedConsumer::new(consumer, StringSerde, IntegerSerde).poll(Duration::from_millis(100))?;
/// let r = &records[0];
/// assert_eq!((&*r.topic, r.partition, r.offset, r.timestamp), ("stock", 0, 0, 1_000));
/// assert_eq!((r.key.as_deref(), r.value, r.headers.len()), (Some("pizza"), Some(12), 0));
/// assert_eq!((records[1].key.as_deref(), records[1].value), (Some("soup"), None)); // a tombstone
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TypedRecord<K, V> {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: u32,
    /// The offset.
    pub offset: u64,
    /// The timestamp, in milliseconds.
    pub timestamp: i64,
    /// The key; `None` is null.
    pub key: Option<K>,
    /// The value; `None` is null (a tombstone).
    pub value: Option<V>,
    /// Headers, in order.
    pub headers: Vec<OwnedHeader>,
}

/// A [`Producer`] of typed keys and values (Kafka's `KafkaProducer<K, V>` with its
/// serializers). Cheap to clone.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Log, LongSerde, Producer, ProducerConfig, StringSerde, TopicConfig, TypedProducer};
/// let log = Log::open(dir.path())?;
/// log.create_topic("balances", 1, TopicConfig::default())?;
/// let producer = TypedProducer::new(Producer::new(&log, ProducerConfig::default())?, StringSerde, LongSerde);
/// let meta = producer.send("balances", Some(&"alice".to_string()), Some(&1250))?.wait().expect("delivered");
/// let record = &log.partition("balances", 0)?.read(meta.offset, 1 << 20)?[0];
/// assert_eq!(record.key.as_deref(), Some(&b"alice"[..]));
/// assert_eq!(record.value.as_deref(), Some(&1250i64.to_be_bytes()[..])); // Kafka's LongSerializer
/// # Ok::<(), partlog::Error>(())
/// ```
pub struct TypedProducer<K, V> {
    producer: Producer,
    key: Arc<dyn Serde<K>>,
    value: Arc<dyn Serde<V>>,
}

impl<K, V> Clone for TypedProducer<K, V> {
    fn clone(&self) -> Self {
        TypedProducer { producer: self.producer.clone(), key: self.key.clone(), value: self.value.clone() }
    }
}

impl<K, V> std::fmt::Debug for TypedProducer<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedProducer").field("producer", &self.producer).finish_non_exhaustive()
    }
}

impl<K, V> TypedProducer<K, V> {
    /// `producer` with serdes for keys and values.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{IntegerSerde, Log, Producer, ProducerConfig, StringSerde, TopicConfig, TypedProducer};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("stock", 1, TopicConfig::default())?.partition(0)?;
    /// let producer = TypedProducer::new(Producer::new(&log, ProducerConfig::default())?, StringSerde, IntegerSerde);
    /// let meta = producer.send("stock", None, Some(&12))?.wait().expect("delivered");
    /// let record = &p.read(meta.offset, 1 << 20)?[0];
    /// assert_eq!((record.key.as_deref(), record.value.as_deref()), (None, Some(&12i32.to_be_bytes()[..])));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn new(producer: Producer, key: impl Serde<K> + 'static, value: impl Serde<V> + 'static) -> Self {
        TypedProducer { producer, key: Arc::new(key), value: Arc::new(value) }
    }

    /// Serializes and sends a record (`None`: a null key or value). A serialization error is
    /// returned at once ([`Error::Serialization`], Kafka's `SerializationException`); nothing
    /// is sent.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{LongSerde, Log, Producer, ProducerConfig, StringSerde, TopicConfig, TypedProducer};
    /// let log = Log::open(dir.path())?;
    /// let topic = log.create_topic("balances", 4, TopicConfig::default())?;
    /// let producer = TypedProducer::new(Producer::new(&log, ProducerConfig::default())?, StringSerde, LongSerde);
    /// let alice = "alice".to_string();
    /// let meta = producer.send("balances", Some(&alice), Some(&1250))?.wait().expect("delivered");
    /// assert_eq!(meta.partition, topic.partition_for_key(b"alice").id()); // placed by the serialized key
    /// let deleted = producer.send("balances", Some(&alice), None)?.wait().expect("delivered"); // a tombstone
    /// assert_eq!(topic.partition(deleted.partition)?.read(deleted.offset, 1 << 20)?[0].value, None);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn send(&self, topic: &str, key: Option<&K>, value: Option<&V>) -> Result<DeliveryFuture> {
        Ok(self.producer.send(self.record(topic, key, value)?))
    }

    /// Serializes a record for [`Producer::send`] or [`Producer::send_with_callback`], to set a
    /// partition, a timestamp or headers on it first.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{LongSerde, Log, Producer, ProducerConfig, StringSerde, TopicConfig, TypedProducer};
    /// let log = Log::open(dir.path())?;
    /// log.create_topic("balances", 2, TopicConfig::default())?;
    /// let producer = TypedProducer::new(Producer::new(&log, ProducerConfig::default())?, StringSerde, LongSerde);
    /// let record = producer.record("balances", Some(&"alice".to_string()), Some(&1250))?;
    /// assert_eq!(record.key.as_deref(), Some(&b"alice"[..]));
    /// assert_eq!(record.value.as_deref(), Some(&1250i64.to_be_bytes()[..])); // serialized
    /// let record = record.partition(1).timestamp(1_000).header("source", Some(b"web".to_vec()));
    /// let meta = producer.producer().send(record).wait().expect("delivered");
    /// assert_eq!((meta.partition, meta.timestamp), (1, 1_000));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn record(&self, topic: &str, key: Option<&K>, value: Option<&V>) -> Result<ProducerRecord> {
        let key = key.map(|k| self.key.serialize(topic, k)).transpose().map_err(|e| e.at("key", None))?;
        let value = value.map(|v| self.value.serialize(topic, v)).transpose().map_err(|e| e.at("value", None))?;
        Ok(ProducerRecord { topic: topic.to_owned(), key, value, ..ProducerRecord::default() })
    }

    /// The byte-level producer (flush, close, sends of bytes).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Log, Producer, ProducerConfig, StringSerde, TopicConfig, TypedProducer};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("notes", 1, TopicConfig::default())?.partition(0)?;
    /// let config = ProducerConfig::default().set("linger.ms", "60000")?;
    /// let producer = TypedProducer::new(Producer::new(&log, config)?, StringSerde, StringSerde);
    /// let future = producer.send("notes", None, Some(&"hello".to_string()))?;
    /// producer.producer().flush()?; // appends what lingers
    /// assert!(future.is_done() && p.log_end_offset() == 1);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn producer(&self) -> &Producer {
        &self.producer
    }
}

/// A [`Consumer`] of typed keys and values (Kafka's `KafkaConsumer<K, V>` with its
/// deserializers).
///
/// A record that does not deserialize fails the `poll` that meets it first with
/// [`Error::Serialization`] naming its partition and offset (Kafka's
/// `RecordDeserializationException`); good records before it are returned by the poll before,
/// and nothing after it is skipped: polls fail until the application seeks past it
/// (`offset + 1`).
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::time::Duration;
/// use partlog::{Consumer, ConsumerConfig, IntegerSerde, Log, Record, StringSerde, TopicConfig, TopicPartition, TypedConsumer};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
/// p.append(&[Record::new(&7i32.to_be_bytes()).with_key(b"seven")])?;
///
/// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("auto.offset.reset", "earliest")?)?;
/// consumer.assign(&[TopicPartition::new("t", 0)])?;
/// let mut typed = TypedConsumer::new(consumer, StringSerde, IntegerSerde);
/// let records = typed.poll(Duration::from_secs(1))?;
/// assert_eq!((records[0].key.as_deref(), records[0].value), (Some("seven"), Some(7)));
/// # Ok::<(), partlog::Error>(())
/// ```
pub struct TypedConsumer<K, V> {
    consumer: Consumer,
    key: Box<dyn Serde<K>>,
    value: Box<dyn Serde<V>>,
}

impl<K, V> std::fmt::Debug for TypedConsumer<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedConsumer").field("consumer", &self.consumer).finish_non_exhaustive()
    }
}

impl<K, V> TypedConsumer<K, V> {
    /// `consumer` with serdes for keys and values.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{Consumer, ConsumerConfig, Log, LongSerde, Record, StringSerde, TopicConfig, TopicPartition};
    /// use partlog::TypedConsumer;
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("balances", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(&1250i64.to_be_bytes()).with_key(b"alice")])?;
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("auto.offset.reset", "earliest")?)?;
    /// consumer.assign(&[TopicPartition::new("balances", 0)])?;
    /// let mut typed = TypedConsumer::new(consumer, StringSerde, LongSerde);
    /// let records = typed.poll(Duration::from_millis(100))?;
    /// assert_eq!((records[0].key.as_deref(), records[0].value), (Some("alice"), Some(1250)));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn new(consumer: Consumer, key: impl Serde<K> + 'static, value: impl Serde<V> + 'static) -> Self {
        TypedConsumer { consumer, key: Box::new(key), value: Box::new(value) }
    }

    /// [`Consumer::poll`], deserialized. Records before a bad one are returned, and the
    /// positions are put back to the first record not returned (the bad one, for its
    /// partition); the `poll` that meets the bad record first fails with
    /// [`Error::Serialization`], as Kafka's does.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{Consumer, ConsumerConfig, Error, IntegerSerde, Log, Record, StringSerde, TopicConfig};
    /// use partlog::{TopicPartition, TypedConsumer};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(&1i32.to_be_bytes()), Record::new(b"bad"), Record::new(&3i32.to_be_bytes())])?;
    /// let tp = TopicPartition::new("t", 0);
    /// let mut consumer = Consumer::new(&log, ConsumerConfig::default().set("auto.offset.reset", "earliest")?)?;
    /// consumer.assign(&[tp.clone()])?;
    /// let mut typed = TypedConsumer::new(consumer, StringSerde, IntegerSerde);
    /// let wait = Duration::from_millis(100);
    /// assert_eq!(typed.poll(wait)?.iter().map(|r| r.value).collect::<Vec<_>>(), [Some(1)]); // up to the bad one
    /// assert!(matches!(typed.poll(wait), Err(Error::Serialization { offset: Some(1), .. })));
    /// assert!(typed.poll(wait).is_err()); // nothing is skipped...
    /// typed.consumer().seek(&tp, 2)?; // ...until the application seeks past it
    /// assert_eq!(typed.poll(wait)?[0].value, Some(3));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn poll(&mut self, timeout: Duration) -> Result<Vec<TypedRecord<K, V>>> {
        let records = self.consumer.poll(timeout)?;
        let mut out = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            match self.convert(r) {
                Ok(t) => out.push(t),
                Err(e) => {
                    self.rewind(&records[i..])?;
                    return if out.is_empty() { Err(e) } else { Ok(out) };
                }
            }
        }
        Ok(out)
    }

    fn convert(&self, r: &ConsumerRecord) -> Result<TypedRecord<K, V>> {
        let at = Some((r.topic_partition(), r.offset));
        let key = r
            .key
            .as_deref()
            .map(|k| self.key.deserialize(&r.topic, k))
            .transpose()
            .map_err(|e| e.at("key", at.clone()))?;
        let value = r
            .value
            .as_deref()
            .map(|v| self.value.deserialize(&r.topic, v))
            .transpose()
            .map_err(|e| e.at("value", at))?;
        Ok(TypedRecord {
            topic: r.topic.clone(),
            partition: r.partition,
            offset: r.offset,
            timestamp: r.timestamp,
            key,
            value,
            headers: r.headers.clone(),
        })
    }

    /// Puts each partition of `records` (those not returned) back to its first record in them.
    fn rewind(&mut self, records: &[ConsumerRecord]) -> Result<()> {
        let mut firsts: Vec<(crate::coordinator::types::TopicPartition, u64)> = Vec::new();
        for r in records {
            let tp = r.topic_partition();
            if !firsts.iter().any(|(t, _)| *t == tp) {
                firsts.push((tp, r.offset));
            }
        }
        for (tp, offset) in firsts {
            self.consumer.seek(&tp, offset)?;
        }
        Ok(())
    }

    /// The byte-level consumer: subscribe, commit, seek, close.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{Consumer, ConsumerConfig, Log, Record, StringSerde, TopicConfig, TopicPartition, TypedConsumer};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("notes", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"first"), Record::new(b"second")])?;
    /// let mut typed = TypedConsumer::new(Consumer::new(&log, ConsumerConfig::default())?, StringSerde, StringSerde);
    /// let tp = TopicPartition::new("notes", 0);
    /// typed.consumer().assign(&[tp.clone()])?;
    /// typed.consumer().seek(&tp, 1)?;
    /// assert_eq!(typed.poll(Duration::from_millis(100))?[0].value.as_deref(), Some("second"));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn consumer(&mut self) -> &mut Consumer {
        &mut self.consumer
    }

    /// The byte-level consumer, unwrapped.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use partlog::{Consumer, ConsumerConfig, Log, Record, StringSerde, TopicConfig, TopicPartition, TypedConsumer};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("notes", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"first"), Record::new(b"second")])?;
    /// let config = ConsumerConfig::default().set("auto.offset.reset", "earliest")?.set("max.poll.records", "1")?;
    /// let mut consumer = Consumer::new(&log, config)?;
    /// consumer.assign(&[TopicPartition::new("notes", 0)])?;
    /// let mut typed = TypedConsumer::new(consumer, StringSerde, StringSerde);
    /// assert_eq!(typed.poll(Duration::from_millis(100))?[0].value.as_deref(), Some("first"));
    /// let mut consumer = typed.into_inner(); // bytes from here, from the same position
    /// assert_eq!(consumer.poll(Duration::from_millis(100))?[0].value.as_deref(), Some(&b"second"[..]));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn into_inner(self) -> Consumer {
        self.consumer
    }
}

impl Error {
    /// Names what failed to (de)serialize, and where.
    fn at(self, part: &'static str, location: Option<(crate::coordinator::types::TopicPartition, u64)>) -> Error {
        match self {
            Error::Serialization { reason, what, .. } => {
                let (topic, partition, offset) = match location {
                    Some((tp, offset)) => (Some(tp.topic), Some(tp.partition), Some(offset)),
                    None => (None, None, None),
                };
                Error::Serialization { what, reason: format!("{part}: {reason}"), topic, partition, offset }
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafkas_encodings() {
        assert_eq!(IntegerSerde.serialize("t", &-2).unwrap(), [0xff, 0xff, 0xff, 0xfe]);
        assert_eq!(LongSerde.serialize("t", &258).unwrap(), [0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(ShortSerde.deserialize("t", &[1, 0]).unwrap(), 256);
        assert_eq!(DoubleSerde.serialize("t", &1.0).unwrap(), [0x3f, 0xf0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(FloatSerde.deserialize("t", &[0x3f, 0x80, 0, 0]).unwrap(), 1.0);
        assert!(matches!(IntegerSerde.deserialize("t", &[1, 2, 3]), Err(Error::Serialization { .. })));
        assert!(StringSerde.deserialize("t", &[0xff]).is_err());
        assert_eq!(StringSerde.deserialize("t", "é".as_bytes()).unwrap(), "é");
    }
}
