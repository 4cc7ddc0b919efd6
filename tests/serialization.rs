//! Typed producers and consumers: Kafka's encodings on disk, a record that does not
//! deserialize fails the poll at its offset without skipping anything, JSON with serde.

use std::time::Duration;

use partlog::{
    Consumer, ConsumerConfig, Error, IntegerSerde, Log, Producer, ProducerConfig, Record, StringSerde, TopicConfig,
    TopicPartition, TypedConsumer, TypedProducer,
};

#[test]
fn a_bad_record_fails_the_poll_at_its_offset_and_nothing_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let p = log.create_topic("t", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    let producer =
        TypedProducer::new(Producer::new(&log, ProducerConfig::default()).unwrap(), StringSerde, IntegerSerde);
    producer.send("t", Some(&"a".to_string()), Some(&1)).unwrap().wait().unwrap();
    p.append(&[Record::new(b"not an int")]).unwrap(); // offset 1: 10 bytes
    producer.send("t", None, Some(&3)).unwrap().wait().unwrap();

    let consumer =
        Consumer::new(&log, ConsumerConfig::default().set("auto.offset.reset", "earliest").unwrap()).unwrap();
    let mut typed = TypedConsumer::new(consumer, StringSerde, IntegerSerde);
    let tp = TopicPartition::new("t", 0);
    typed.consumer().assign(std::slice::from_ref(&tp)).unwrap();
    // The good record before the bad one is returned; the position stops at the bad one.
    let first = typed.poll(Duration::from_millis(10)).unwrap();
    assert_eq!((first.len(), first[0].value), (1, Some(1)));
    assert_eq!(typed.consumer().position(&tp).unwrap(), 1);
    for _ in 0..2 {
        let err = typed.poll(Duration::from_millis(10)).unwrap_err();
        let message = err.to_string();
        let Error::Serialization { topic, partition, offset, .. } = err else { panic!("{message}") };
        assert_eq!((topic.as_deref(), partition, offset), (Some("t"), Some(0), Some(1)));
        assert!(message.contains("t-0 at offset 1") && message.contains("value"), "{message}");
        assert_eq!(typed.consumer().position(&tp).unwrap(), 1, "nothing skipped");
    }
    typed.consumer().seek(&tp, 2).unwrap(); // past the bad record, as Kafka's docs advise
    let records = typed.poll(Duration::from_millis(10)).unwrap();
    assert_eq!((records[0].offset, records[0].key.clone(), records[0].value), (2, None, Some(3)));
}

#[cfg(feature = "json")]
#[test]
fn json_values_with_serde() {
    use partlog::JsonSerde;
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Payment {
        pos: String,
        cents: i64,
    }
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    log.create_topic("payments", 1, TopicConfig::default()).unwrap();
    let producer = TypedProducer::new(
        Producer::new(&log, ProducerConfig::default()).unwrap(),
        StringSerde,
        JsonSerde::<Payment>::default(),
    );
    let payment = Payment { pos: "pos-7".into(), cents: 1250 };
    producer.send("payments", Some(&"pos-7".to_string()), Some(&payment)).unwrap().wait().unwrap();
    let raw = log.partition("payments", 0).unwrap().read(0, 1 << 20).unwrap();
    assert_eq!(raw[0].value.as_deref().unwrap(), br#"{"pos":"pos-7","cents":1250}"#);
    let consumer =
        Consumer::new(&log, ConsumerConfig::default().set("auto.offset.reset", "earliest").unwrap()).unwrap();
    let mut typed = TypedConsumer::new(consumer, StringSerde, JsonSerde::<Payment>::default());
    typed.consumer().assign(&[TopicPartition::new("payments", 0)]).unwrap();
    assert_eq!(typed.poll(Duration::from_millis(10)).unwrap()[0].value.as_ref(), Some(&payment));
}
