//! Encode → store → decode properties for every codec: whatever records go in (null, empty and
//! large keys and values, headers with null values and keys of any bytes, UTF-8 or not), the
//! same records come out,
//! both through a partition and through the pure batch decoder.

use proptest::prelude::*;

use partlog::{batch, Compression, CompressionType, Header, Log, Record, TopicConfig};

type Headers = Vec<(Vec<u8>, Option<Vec<u8>>)>;
type Input = (Option<Vec<u8>>, Option<Vec<u8>>, i64, Headers);

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..max),
        1 => (0usize..max * 40, any::<u8>()).prop_map(|(n, b)| vec![b; n]), // large and compressible
    ]
}

fn records() -> impl Strategy<Value = Vec<Input>> {
    proptest::collection::vec(
        (
            proptest::option::of(bytes(16)),
            proptest::option::of(bytes(2000)),
            0i64..=i64::MAX / 2,
            proptest::collection::vec(
                (
                    prop_oneof![".{0,6}".prop_map(String::into_bytes), proptest::collection::vec(any::<u8>(), 0..6)],
                    proptest::option::of(bytes(8)),
                ),
                0..4,
            ),
        ),
        1..20,
    )
}

fn available_codecs() -> Vec<Compression> {
    Compression::ALL.into_iter().filter(|c| c.is_available()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn records_round_trip_through_every_codec(input in records(), codec_index in 0usize..5) {
        let codecs = available_codecs();
        let codec = codecs[codec_index % codecs.len()];
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path()).unwrap();
        let mut config = TopicConfig::default();
        config.compression_type = CompressionType::Codec(codec);
        config.max_message_bytes = 64 << 20;
        let p = log.create_topic("r", 1, config).unwrap().partition(0).unwrap();

        let headers: Vec<Vec<Header<'_>>> =
            input.iter().map(|r| r.3.iter().map(|(k, v)| Header::from_bytes(k, v.as_deref())).collect()).collect();
        let recs: Vec<Record<'_>> = input
            .iter()
            .zip(&headers)
            .map(|(r, h)| Record { key: r.0.as_deref(), value: r.1.as_deref(), timestamp: Some(r.2), headers: h })
            .collect();
        let info = p.append(&recs).unwrap();
        prop_assert_eq!(info.last_offset, input.len() as u64 - 1);
        prop_assert_eq!(info.max_timestamp, input.iter().map(|r| r.2).max().unwrap());

        let check = |i: usize, offset: u64, ts: i64, key: Option<&[u8]>, value: Option<&[u8]>, hs: Headers| {
            let want = &input[i];
            assert_eq!(offset, i as u64);
            assert_eq!(ts, want.2);
            assert_eq!(key, want.0.as_deref());
            assert_eq!(value, want.1.as_deref());
            assert_eq!(hs, want.3);
        };
        for (i, r) in p.read(0, usize::MAX).unwrap().iter().enumerate() {
            let hs = r.headers.iter().map(|h| (h.key.clone(), h.value.clone())).collect();
            check(i, r.offset, r.timestamp, r.key.as_deref(), r.value.as_deref(), hs);
        }
        let mut raw = Vec::new();
        p.read_raw(0, usize::MAX, &mut raw).unwrap();
        let mut i = 0;
        let batches = batch::for_each_record(&raw, |header, r| {
            assert_eq!(header.compression(), Some(codec));
            let hs = r.headers().map(|h| (h.key.to_vec(), h.value.map(<[u8]>::to_vec))).collect();
            check(i, r.offset(), r.timestamp(), r.key(), r.value(), hs);
            i += 1;
        }).unwrap();
        prop_assert_eq!((batches, i), (1, input.len()));
    }

    /// Arbitrary bytes never panic the decoder; they are either batches or an error.
    #[test]
    fn arbitrary_bytes_decode_or_fail_cleanly(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = batch::for_each_record(&data, |_, _| {});
    }

    /// A valid batch with any single byte changed in its CRC-covered part is rejected.
    #[test]
    fn any_flipped_byte_in_a_batch_is_detected(position in 21usize..200, flip in 1u8..=255) {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path()).unwrap();
        let p = log.create_topic("r", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
        p.append(&[Record::new(&[5u8; 150]).with_key(b"key")]).unwrap();
        let mut raw = Vec::new();
        p.read_raw(0, usize::MAX, &mut raw).unwrap();
        let position = position % raw.len();
        raw[position] ^= flip;
        let decoded = batch::for_each_record(&raw, |_, _| {});
        prop_assert!(decoded.is_err(), "flip at {} decoded: {:?}", position, decoded);
        prop_assert!(p.append_raw(&raw).is_err());
        prop_assert_eq!(p.log_end_offset(), 1);
    }
}

/// Regression: a header key that is not UTF-8 (Go and librdkafka producers write them; Java
/// reads them lossily) made the rest of its batch a `CorruptBatch`. The key's bytes are kept.
#[test]
fn header_keys_that_are_not_utf8_are_read_as_their_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    let p = log.create_topic("h", 1, TopicConfig::default()).unwrap().partition(0).unwrap();
    let headers = [Header::from_bytes(&[0xff, 0xfe, b'k'], Some(b"v")), Header::new("ok", b"w")];
    p.append(&[Record::new(b"first").with_headers(&headers), Record::new(b"second")]).unwrap();
    let records = p.read(0, 1 << 20).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].headers[0].key, [0xff, 0xfe, b'k']);
    let mut fetch = partlog::Fetch::new();
    p.fetch(0, 1 << 20, &mut fetch).unwrap();
    let first = fetch.records().next().unwrap().unwrap();
    let keys: Vec<Option<&str>> = first.headers().map(|h| h.key_str()).collect();
    assert_eq!(keys, [None, Some("ok")]);
}
