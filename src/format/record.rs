//! Records: what callers append ([`Record`]), what reads hand back without copying
//! ([`RecordRef`]), and an owned copy ([`OwnedRecord`]).
//!
//! The record layout inside a batch is in [`crate::format::batch`].

use std::fmt;

use crate::format::batch::TimestampType;
use crate::format::varint;

/// A record header: a key and a nullable value.
///
/// Kafka's Java clients write UTF-8 keys; others (Go, librdkafka) may write any bytes, and Java
/// reads those lossily. The key is kept as the bytes stored, so nothing is lost and a record
/// re-encoded (by compaction, say) keeps them; [`key_str`](Self::key_str) reads it as UTF-8.
///
/// # Example
/// ```
/// use partlog::Header;
/// let h = Header::new("trace-id", b"abc123");
/// assert_eq!(h.key, b"trace-id");
/// assert_eq!(h.key_str(), Some("trace-id"));
/// assert_eq!(h.value, Some(&b"abc123"[..]));
/// assert_eq!(Header::null("gone").value, None);
/// assert_eq!(Header::from_bytes(b"\xff", None).key_str(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// Header key, as stored (UTF-8 from Kafka's Java clients).
    pub key: &'a [u8],
    /// Header value; `None` is a null value.
    pub value: Option<&'a [u8]>,
}

impl<'a> Header<'a> {
    /// A header with a value.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Header, Log, Record, TopicConfig};
    /// let h = Header::new("trace-id", b"abc");
    /// assert_eq!((h.key, h.value), (&b"trace-id"[..], Some(&b"abc"[..])));
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"v").with_headers(&[h])])?;
    /// let stored = &p.read(0, 1 << 20)?[0].headers[0];
    /// assert_eq!((&stored.key[..], stored.value.as_deref()), (&b"trace-id"[..], Some(&b"abc"[..])));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn new(key: &'a str, value: &'a [u8]) -> Self {
        Header { key: key.as_bytes(), value: Some(value) }
    }

    /// A header with a null value.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Header, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"v").with_headers(&[Header::null("gone"), Header::new("empty", b"")])])?;
    /// let headers = &p.read(0, 1 << 20)?[0].headers;
    /// assert_eq!(headers[0].value, None); // null, which is not the same as empty
    /// assert_eq!(headers[1].value, Some(Vec::new()));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn null(key: &'a str) -> Self {
        Header { key: key.as_bytes(), value: None }
    }

    /// A header whose key is any bytes, as non-Java clients may write.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Header, Log, Record, TopicConfig};
    /// let h = Header::from_bytes(b"\xff\xfe", Some(b"v"));
    /// assert_eq!(h.key_str(), None); // not UTF-8
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"x").with_headers(&[h])])?;
    /// assert_eq!(p.read(0, 1 << 20)?[0].headers[0].key, b"\xff\xfe"); // kept byte for byte
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn from_bytes(key: &'a [u8], value: Option<&'a [u8]>) -> Self {
        Header { key, value }
    }

    /// The key as UTF-8, if it is.
    ///
    /// # Example
    /// ```
    /// use partlog::Header;
    /// assert_eq!(Header::new("ключ", b"v").key_str(), Some("ключ"));
    /// assert_eq!(Header::from_bytes(b"caf\xc3\xa9", None).key_str(), Some("café"));
    /// assert_eq!(Header::from_bytes(b"caf\xe9", None).key_str(), None); // Latin-1, not UTF-8
    /// ```
    pub fn key_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.key).ok()
    }
}

/// A record to append: borrowed key, value and headers, so appending copies each byte once,
/// into the batch.
///
/// `timestamp` is milliseconds since the Unix epoch; `None` takes the time of the append. With
/// `message.timestamp.type=LogAppendTime` the append time replaces every timestamp.
///
/// # Example
/// ```
/// use partlog::{Header, Record};
/// let headers = [Header::new("source", b"web")];
/// let r = Record::new(b"clicked")
///     .with_key(b"user-7")
///     .with_timestamp(1_700_000_000_000)
///     .with_headers(&headers);
/// assert_eq!(r.key, Some(&b"user-7"[..]));
/// assert_eq!(r.value, Some(&b"clicked"[..]));
/// assert_eq!(r.headers.len(), 1);
///
/// // A tombstone: a key with a null value, which log compaction reads as "delete this key".
/// let t = Record::tombstone(b"user-7");
/// assert_eq!(t.value, None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Record<'a> {
    /// The key; `None` is a null key.
    pub key: Option<&'a [u8]>,
    /// The value; `None` is a null value (a tombstone).
    pub value: Option<&'a [u8]>,
    /// CreateTime in milliseconds since the epoch; `None` means "now".
    pub timestamp: Option<i64>,
    /// Headers, in order.
    pub headers: &'a [Header<'a>],
}

impl<'a> Record<'a> {
    /// A record with a value, no key, the append time as timestamp and no headers.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::sync::Arc;
    /// use partlog::{Log, LogOptions, ManualClock, Record, TopicConfig};
    /// let r = Record::new(b"hello");
    /// assert_eq!((r.key, r.value, r.timestamp, r.headers.len()), (None, Some(&b"hello"[..]), None, 0));
    /// let log = Log::open_with(dir.path(), LogOptions::default().clock(Arc::new(ManualClock::new(7_000))))?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[r])?;
    /// let stored = &p.read(0, 1 << 20)?[0];
    /// assert_eq!((stored.key.as_deref(), stored.value.as_deref()), (None, Some(&b"hello"[..])));
    /// assert_eq!(stored.timestamp, 7_000); // the append time
    /// # Ok::<(), partlog::Error>(())
    /// ```
    #[inline]
    pub fn new(value: &'a [u8]) -> Self {
        Record { value: Some(value), ..Record::default() }
    }

    /// A tombstone: `key` with a null value.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{CleanupPolicy, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let mut config = TopicConfig::default();
    /// config.cleanup_policy = CleanupPolicy::Compact;
    /// let p = log.create_topic("users", 1, config)?.partition(0)?;
    /// p.append(&[Record::new(b"alice@example.com").with_key(b"alice")])?;
    /// p.append(&[Record::tombstone(b"alice")])?;
    /// p.roll()?;
    /// p.compact()?; // the tombstone replaces the value (and goes itself after delete.retention.ms)
    /// let left = p.read(0, 1 << 20)?;
    /// assert_eq!(left.len(), 1);
    /// assert_eq!((left[0].offset, left[0].key.as_deref(), left[0].value.as_deref()), (1, Some(&b"alice"[..]), None));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    #[inline]
    pub fn tombstone(key: &'a [u8]) -> Self {
        Record { key: Some(key), ..Record::default() }
    }

    /// Sets the key.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{CleanupPolicy, Error, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let mut config = TopicConfig::default();
    /// config.cleanup_policy = CleanupPolicy::Compact;
    /// let p = log.create_topic("t", 1, config)?.partition(0)?;
    /// assert!(matches!(p.append(&[Record::new(b"v")]), Err(Error::InvalidRecord { index: 0, .. }))); // needs a key
    /// p.append(&[Record::new(b"v").with_key(b"k")])?;
    /// assert_eq!(p.read(0, 1 << 20)?[0].key.as_deref(), Some(&b"k"[..]));
    /// # Ok::<(), partlog::Error>(())
    /// ```
    #[inline]
    pub fn with_key(mut self, key: &'a [u8]) -> Self {
        self.key = Some(key);
        self
    }

    /// Sets the timestamp (milliseconds since the epoch).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Error, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a").with_timestamp(1_700_000_000_000)])?;
    /// assert_eq!(p.read(0, 1 << 20)?[0].timestamp, 1_700_000_000_000);
    /// let bad = p.append(&[Record::new(b"b"), Record::new(b"c").with_timestamp(-1)]);
    /// assert!(matches!(bad, Err(Error::InvalidRecord { index: 1, .. }))); // negative: refused, nothing written
    /// assert_eq!(p.log_end_offset(), 1);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    #[inline]
    pub fn with_timestamp(mut self, timestamp_ms: i64) -> Self {
        self.timestamp = Some(timestamp_ms);
        self
    }

    /// Sets the headers.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Header, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// let headers = [Header::new("b", b"2"), Header::new("a", b"1"), Header::new("b", b"3")];
    /// p.append(&[Record::new(b"v").with_headers(&headers)])?;
    /// let stored = &p.read(0, 1 << 20)?[0].headers;
    /// let keys: Vec<&[u8]> = stored.iter().map(|h| &h.key[..]).collect();
    /// assert_eq!(keys, [b"b", b"a", b"b"]); // in order, repeats kept
    /// # Ok::<(), partlog::Error>(())
    /// ```
    #[inline]
    pub fn with_headers(mut self, headers: &'a [Header<'a>]) -> Self {
        self.headers = headers;
        self
    }
}

/// A stored record, borrowed from the buffer of a [`Fetch`](crate::Fetch): no allocation per
/// record.
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Fetch, Header, Log, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("events", 1, TopicConfig::default())?.partition(0)?;
/// let headers = [Header::new("h", b"1")];
/// p.append(&[Record::new(b"v").with_key(b"k").with_timestamp(5).with_headers(&headers)])?;
///
/// let mut fetch = Fetch::new();
/// p.fetch(0, 1 << 20, &mut fetch)?;
/// let r = fetch.records().next().unwrap()?;
/// assert_eq!((r.offset(), r.timestamp()), (0, 5));
/// assert_eq!((r.key(), r.value()), (Some(&b"k"[..]), Some(&b"v"[..])));
/// assert_eq!(r.headers().collect::<Vec<_>>(), vec![Header::new("h", b"1")]);
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub(crate) offset: u64,
    pub(crate) timestamp: i64,
    pub(crate) timestamp_type: TimestampType,
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) value: Option<&'a [u8]>,
    pub(crate) headers: HeaderBytes<'a>,
}

impl<'a> RecordRef<'a> {
    /// The record's offset.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Fetch, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a"), Record::new(b"b")])?;
    /// p.append(&[Record::new(b"c")])?;
    /// let mut fetch = Fetch::new();
    /// p.fetch(1, 1 << 20, &mut fetch)?;
    /// let offsets = fetch.records().map(|r| r.map(|r| r.offset())).collect::<Result<Vec<_>, _>>()?;
    /// assert_eq!(offsets, [1, 2]);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    #[inline]
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The record's timestamp in milliseconds (for LogAppendTime batches, the append time).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::sync::Arc;
    /// use partlog::{Fetch, Log, LogOptions, ManualClock, Record, TimestampType, TopicConfig};
    /// let log = Log::open_with(dir.path(), LogOptions::default().clock(Arc::new(ManualClock::new(9_000))))?;
    /// let p = log.create_topic("create", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"a").with_timestamp(5)])?;
    /// let mut fetch = Fetch::new();
    /// p.fetch(0, 1 << 20, &mut fetch)?;
    /// assert_eq!(fetch.records().next().unwrap()?.timestamp(), 5);
    /// let mut config = TopicConfig::default();
    /// config.message_timestamp_type = TimestampType::LogAppendTime;
    /// let p = log.create_topic("append", 1, config)?.partition(0)?;
    /// p.append(&[Record::new(b"a").with_timestamp(5)])?;
    /// p.fetch(0, 1 << 20, &mut fetch)?;
    /// assert_eq!(fetch.records().next().unwrap()?.timestamp(), 9_000); // the append time
    /// # Ok::<(), partlog::Error>(())
    /// ```
    #[inline]
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// What the timestamp is: the producer's (`CreateTime`) or the log's append time
    /// (`LogAppendTime`), as the record's batch says.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Fetch, Log, Record, TimestampType, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let mut config = TopicConfig::default();
    /// config.message_timestamp_type = TimestampType::LogAppendTime;
    /// let p = log.create_topic("t", 1, config)?.partition(0)?;
    /// p.append(&[Record::new(b"a").with_timestamp(5)])?;
    /// let mut fetch = Fetch::new();
    /// p.fetch(0, 1 << 20, &mut fetch)?;
    /// assert_eq!(fetch.records().next().unwrap()?.timestamp_type(), TimestampType::LogAppendTime);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    #[inline]
    pub fn timestamp_type(&self) -> TimestampType {
        self.timestamp_type
    }

    /// The key, `None` if null.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Fetch, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"v").with_key(b"k"), Record::new(b"v").with_key(b""), Record::new(b"v")])?;
    /// let mut fetch = Fetch::new();
    /// p.fetch(0, 1 << 20, &mut fetch)?;
    /// let keys = fetch.records().map(|r| r.map(|r| r.key())).collect::<Result<Vec<_>, _>>()?;
    /// assert_eq!(keys, [Some(&b"k"[..]), Some(&b""[..]), None]); // an empty key is not a null key
    /// # Ok::<(), partlog::Error>(())
    /// ```
    #[inline]
    pub fn key(&self) -> Option<&'a [u8]> {
        self.key
    }

    /// The value, `None` if null (a tombstone).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Fetch, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"v").with_key(b"k"), Record::new(b"").with_key(b"k"), Record::tombstone(b"k")])?;
    /// let mut fetch = Fetch::new();
    /// p.fetch(0, 1 << 20, &mut fetch)?;
    /// let values = fetch.records().map(|r| r.map(|r| r.value())).collect::<Result<Vec<_>, _>>()?;
    /// assert_eq!(values, [Some(&b"v"[..]), Some(&b""[..]), None]); // the tombstone's is null
    /// # Ok::<(), partlog::Error>(())
    /// ```
    #[inline]
    pub fn value(&self) -> Option<&'a [u8]> {
        self.value
    }

    /// The headers, in order.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Fetch, Header, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("t", 1, TopicConfig::default())?.partition(0)?;
    /// let headers = [Header::new("b", b"2"), Header::null("a")];
    /// p.append(&[Record::new(b"v").with_headers(&headers), Record::new(b"w")])?;
    /// let mut fetch = Fetch::new();
    /// p.fetch(0, 1 << 20, &mut fetch)?;
    /// let mut records = fetch.records();
    /// assert_eq!(records.next().unwrap()?.headers().collect::<Vec<_>>(), headers); // in order
    /// assert_eq!(records.next().unwrap()?.headers().count(), 0);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    #[inline]
    pub fn headers(&self) -> Headers<'a> {
        Headers { bytes: self.headers.bytes, pos: 0, remaining: self.headers.count }
    }

    /// Copies the record out of the fetch buffer.
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use partlog::{Fetch, Log, Record, TopicConfig};
    /// let log = Log::open(dir.path())?;
    /// let p = log.create_topic("events", 1, TopicConfig::default())?.partition(0)?;
    /// p.append(&[Record::new(b"v").with_key(b"k")])?;
    /// let mut fetch = Fetch::new();
    /// p.fetch(0, 1 << 20, &mut fetch)?;
    /// let owned = fetch.records().next().unwrap()?.to_owned();
    /// drop(fetch); // the copy outlives the fetch buffer
    /// assert_eq!((owned.key.as_deref(), owned.value.as_deref()), (Some(&b"k"[..]), Some(&b"v"[..])));
    /// assert_eq!(owned, p.read(0, 1 << 20)?[0]);
    /// # Ok::<(), partlog::Error>(())
    /// ```
    pub fn to_owned(&self) -> OwnedRecord {
        OwnedRecord {
            offset: self.offset,
            timestamp: self.timestamp,
            key: self.key.map(<[u8]>::to_vec),
            value: self.value.map(<[u8]>::to_vec),
            headers: self
                .headers()
                .map(|h| OwnedHeader { key: h.key.to_vec(), value: h.value.map(<[u8]>::to_vec) })
                .collect(),
        }
    }
}

impl fmt::Debug for RecordRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordRef")
            .field("offset", &self.offset)
            .field("timestamp", &self.timestamp)
            .field("key", &self.key)
            .field("value", &self.value)
            .field("headers", &self.headers().collect::<Vec<_>>())
            .finish()
    }
}

/// The encoded headers of one record, already validated when the batch was decoded.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct HeaderBytes<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) count: u32,
}

/// Iterator over the headers of a [`RecordRef`].
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Fetch, Header, Log, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("events", 1, TopicConfig::default())?.partition(0)?;
/// let headers = [Header::new("a", b"1"), Header::null("b")];
/// p.append(&[Record::new(b"v").with_headers(&headers)])?;
/// let mut fetch = Fetch::new();
/// p.fetch(0, 1 << 20, &mut fetch)?;
/// let mut it = fetch.records().next().unwrap()?.headers();
/// assert_eq!(it.size_hint(), (2, Some(2)));
/// assert_eq!(it.next(), Some(Header::new("a", b"1")));
/// assert_eq!(it.next().map(|h| (h.key_str(), h.value)), Some((Some("b"), None)));
/// assert_eq!(it.next(), None);
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Headers<'a> {
    bytes: &'a [u8],
    pos: usize,
    remaining: u32,
}

impl<'a> Iterator for Headers<'a> {
    type Item = Header<'a>;

    fn next(&mut self) -> Option<Header<'a>> {
        if self.remaining == 0 {
            return None;
        }
        // The bytes were validated by the batch decoder; a failure here ends the iteration.
        let header = parse_header(self.bytes, &mut self.pos);
        self.remaining = if header.is_some() { self.remaining - 1 } else { 0 };
        header
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining as usize, Some(self.remaining as usize))
    }
}

/// Parses one header (key length, key, value length, value) at `*pos`.
pub(crate) fn parse_header<'a>(bytes: &'a [u8], pos: &mut usize) -> Option<Header<'a>> {
    let key_len = usize::try_from(varint::read_varint(bytes, pos).ok()?).ok()?;
    let key = bytes.get(*pos..pos.checked_add(key_len)?)?;
    *pos += key_len;
    let value_len = varint::read_varint(bytes, pos).ok()?;
    let value = if value_len < 0 {
        None
    } else {
        let v = bytes.get(*pos..*pos + value_len as usize)?;
        *pos += value_len as usize;
        Some(v)
    };
    Some(Header { key, value })
}

/// A header owned by an [`OwnedRecord`].
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Header, Log, OwnedHeader, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("events", 1, TopicConfig::default())?.partition(0)?;
/// p.append(&[Record::new(b"v").with_headers(&[Header::new("source", b"web"), Header::null("trace")])])?;
/// let headers = &p.read(0, 1 << 20)?[0].headers;
/// assert_eq!(headers[0], OwnedHeader { key: b"source".to_vec(), value: Some(b"web".to_vec()) });
/// assert_eq!(headers[1].value, None);
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OwnedHeader {
    /// Header key, as stored (see [`Header`]).
    pub key: Vec<u8>,
    /// Header value; `None` is null.
    pub value: Option<Vec<u8>>,
}

/// A stored record with its own copies of key, value and headers, as returned by
/// [`Partition::read`](crate::Partition::read).
///
/// # Example
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use partlog::{Log, Record, TopicConfig};
/// let log = Log::open(dir.path())?;
/// let p = log.create_topic("events", 1, TopicConfig::default())?.partition(0)?;
/// p.append(&[Record::new(b"a").with_timestamp(7), Record::tombstone(b"k")])?;
/// let records = p.read(0, 1 << 20)?;
/// assert_eq!((records[0].offset, records[0].timestamp, records[0].value.as_deref()), (0, 7, Some(&b"a"[..])));
/// assert_eq!((records[1].key.as_deref(), records[1].value.as_deref()), (Some(&b"k"[..]), None));
/// # Ok::<(), partlog::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OwnedRecord {
    /// The record's offset.
    pub offset: u64,
    /// Timestamp in milliseconds since the epoch.
    pub timestamp: i64,
    /// The key; `None` is null.
    pub key: Option<Vec<u8>>,
    /// The value; `None` is null (a tombstone).
    pub value: Option<Vec<u8>>,
    /// Headers, in order.
    pub headers: Vec<OwnedHeader>,
}
