//! Kafka's group coordinator records in `__consumer_offsets` (`CoordinatorRecordSerde`): the
//! key is an int16 record type and a key message, the value an int16 version and a value
//! message, or null (a tombstone). Written as the broker writes them (offset commit key 1 /
//! value 3, group metadata key 2 / value 3); read in every version Kafka defines, flexible
//! (compact) encodings included. Field lists: `OffsetCommitKey.json`, `OffsetCommitValue.json`,
//! `GroupMetadataKey.json`, `GroupMetadataValue.json`, `ConsumerProtocolSubscription.json`,
//! `ConsumerProtocolAssignment.json`.

use std::collections::BTreeMap;

/// The internal topic holding committed offsets and group metadata.
pub(crate) const OFFSETS_TOPIC: &str = crate::log::topic::GROUP_OFFSETS_TOPIC;
/// `offsets.topic.num.partitions`.
pub(crate) const OFFSETS_TOPIC_PARTITIONS: u32 = 50;

/// The `__consumer_offsets` partition of a group: `Utils.abs(groupId.hashCode()) % n`, with
/// Java's `String.hashCode` over UTF-16 code units and `abs(Integer.MIN_VALUE) == 0`.
pub(crate) fn partition_for_group(group: &str, partitions: u32) -> u32 {
    let mut h: i32 = 0;
    for unit in group.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(unit as i32);
    }
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs as u32 % partitions.max(1)
}

/// A decoded coordinator record.
#[derive(Debug, Clone, PartialEq)]
pub enum CoordinatorRecord {
    /// A committed offset (`None`: a tombstone, the offset was deleted).
    Offset {
        /// `OffsetCommitKey.group`.
        group: String,
        /// `OffsetCommitKey.topic`.
        topic: String,
        /// `OffsetCommitKey.partition`.
        partition: u32,
        /// The value; `None` for a tombstone.
        value: Option<OffsetValue>,
    },
    /// A classic group's metadata (`None`: a tombstone, the group was deleted).
    Group {
        /// `GroupMetadataKey.group`.
        group: String,
        /// The value; `None` for a tombstone.
        value: Option<GroupValue>,
    },
    /// A record type partlog does not use (KIP-848 and share groups): skipped, as Kafka's
    /// loader skips unknown types.
    Other,
}

/// `OffsetCommitValue` (fields a version lacks: -1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    /// `offset`: the next offset to read.
    pub offset: i64,
    /// `leaderEpoch` (version 3 on).
    pub leader_epoch: i32,
    /// `metadata`.
    pub metadata: String,
    /// `commitTimestamp`, ms since the epoch.
    pub commit_timestamp: i64,
    /// `expireTimestamp` (version 1 only).
    pub expire_timestamp: i64,
}

/// `GroupMetadataValue` (fields a version lacks: -1 or `None`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupValue {
    /// `protocolType` (`consumer` for consumer groups).
    pub protocol_type: String,
    /// `generation`.
    pub generation: i32,
    /// `protocol`: the assignor.
    pub protocol: Option<String>,
    /// `leader`: the leader's member id.
    pub leader: Option<String>,
    /// `currentStateTimestamp` (version 2 on).
    pub current_state_timestamp: i64,
    /// `members`.
    pub members: Vec<MemberValue>,
}

/// `GroupMetadataValue.MemberMetadata`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberValue {
    /// `memberId`.
    pub member_id: String,
    /// `groupInstanceId` (version 3 on): a static member's.
    pub group_instance_id: Option<String>,
    /// `clientId`.
    pub client_id: String,
    /// `clientHost`.
    pub client_host: String,
    /// `rebalanceTimeout` (version 1 on).
    pub rebalance_timeout: i32,
    /// `sessionTimeout`.
    pub session_timeout: i32,
    /// `subscription`: a `ConsumerProtocolSubscription` for consumer groups
    /// ([`subscription_decode`]).
    pub subscription: Vec<u8>,
    /// `assignment`: a `ConsumerProtocolAssignment` for consumer groups ([`assignment_decode`]).
    pub assignment: Vec<u8>,
}

/// `ConsumerProtocolSubscription`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subscription {
    /// `topics`.
    pub topics: Vec<String>,
    /// `ownedPartitions` (version 1 on), by topic.
    pub owned: BTreeMap<String, Vec<u32>>,
    /// `generationId` (version 2 on; else -1).
    pub generation: i32,
}

// ---- writing (non-flexible, big-endian) ----

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Kafka strings hold at most i16::MAX bytes; longer ones are refused before they get here.
    out.extend_from_slice(&(s.len() as i16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_nullable_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => put_str(out, s),
        None => out.extend_from_slice(&(-1i16).to_be_bytes()),
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as i32).to_be_bytes());
    out.extend_from_slice(b);
}

fn put_partitions(out: &mut Vec<u8>, map: &BTreeMap<String, Vec<u32>>) {
    out.extend_from_slice(&(map.len() as i32).to_be_bytes());
    for (topic, partitions) in map {
        put_str(out, topic);
        out.extend_from_slice(&(partitions.len() as i32).to_be_bytes());
        for p in partitions {
            out.extend_from_slice(&(*p as i32).to_be_bytes());
        }
    }
}

/// The key of an offset commit (record type 1).
pub(crate) fn offset_key(group: &str, topic: &str, partition: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + group.len() + topic.len());
    out.extend_from_slice(&1i16.to_be_bytes());
    put_str(&mut out, group);
    put_str(&mut out, topic);
    out.extend_from_slice(&(partition as i32).to_be_bytes());
    out
}

/// An offset commit's value, version 3 (what the coordinator writes).
pub(crate) fn offset_value(offset: u64, metadata: &str, commit_timestamp: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(26 + metadata.len());
    out.extend_from_slice(&3i16.to_be_bytes());
    out.extend_from_slice(&(offset as i64).to_be_bytes());
    out.extend_from_slice(&(-1i32).to_be_bytes()); // leader epoch: none in-process
    put_str(&mut out, metadata);
    out.extend_from_slice(&commit_timestamp.to_be_bytes());
    out
}

/// The key of a group's metadata (record type 2).
pub(crate) fn group_key(group: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + group.len());
    out.extend_from_slice(&2i16.to_be_bytes());
    put_str(&mut out, group);
    out
}

/// A group's metadata, version 3.
pub(crate) fn group_value(value: &GroupValue) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&3i16.to_be_bytes());
    put_str(&mut out, &value.protocol_type);
    out.extend_from_slice(&value.generation.to_be_bytes());
    put_nullable_str(&mut out, value.protocol.as_deref());
    put_nullable_str(&mut out, value.leader.as_deref());
    out.extend_from_slice(&value.current_state_timestamp.to_be_bytes());
    out.extend_from_slice(&(value.members.len() as i32).to_be_bytes());
    for m in &value.members {
        put_str(&mut out, &m.member_id);
        put_nullable_str(&mut out, m.group_instance_id.as_deref());
        put_str(&mut out, &m.client_id);
        put_str(&mut out, &m.client_host);
        out.extend_from_slice(&m.rebalance_timeout.to_be_bytes());
        out.extend_from_slice(&m.session_timeout.to_be_bytes());
        put_bytes(&mut out, &m.subscription);
        put_bytes(&mut out, &m.assignment);
    }
    out
}

/// A consumer's subscription, `ConsumerProtocolSubscription` version 3 (no user data, no rack).
pub(crate) fn subscription_bytes(s: &Subscription) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&3i16.to_be_bytes());
    out.extend_from_slice(&(s.topics.len() as i32).to_be_bytes());
    for t in &s.topics {
        put_str(&mut out, t);
    }
    out.extend_from_slice(&(-1i32).to_be_bytes()); // user data: null
    put_partitions(&mut out, &s.owned);
    out.extend_from_slice(&s.generation.to_be_bytes());
    put_nullable_str(&mut out, None); // rack
    out
}

/// A member's assignment, `ConsumerProtocolAssignment` version 3 (no user data).
pub(crate) fn assignment_bytes(assigned: &BTreeMap<String, Vec<u32>>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&3i16.to_be_bytes());
    put_partitions(&mut out, assigned);
    out.extend_from_slice(&(-1i32).to_be_bytes());
    out
}

// ---- reading (any version; flexible versions use compact encodings and tagged fields) ----

/// Why a coordinator record could not be read.
pub type DecodeError = &'static str;

struct Reader<'a> {
    buf: &'a [u8],
    flexible: bool,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err("truncated");
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    fn i16(&mut self) -> Result<i16, DecodeError> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into().map_err(|_| "truncated")?))
    }
    fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into().map_err(|_| "truncated")?))
    }
    fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.take(8)?.try_into().map_err(|_| "truncated")?))
    }
    fn uvarint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.take(1)?[0];
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint too long")
    }
    /// A length: `None` for null.
    fn len(&mut self, wide: bool) -> Result<Option<usize>, DecodeError> {
        if self.flexible {
            let n = self.uvarint()?;
            return Ok(if n == 0 { None } else { Some((n - 1) as usize) });
        }
        let n = if wide { self.i32()? as i64 } else { self.i16()? as i64 };
        if n < -1 {
            return Err("negative length");
        }
        Ok(if n == -1 { None } else { Some(n as usize) })
    }
    fn nullable_str(&mut self) -> Result<Option<String>, DecodeError> {
        match self.len(false)? {
            None => Ok(None),
            Some(n) => {
                let bytes = self.take(n)?;
                std::str::from_utf8(bytes).map(|s| Some(s.to_owned())).map_err(|_| "string is not UTF-8")
            }
        }
    }
    fn str(&mut self) -> Result<String, DecodeError> {
        self.nullable_str()?.ok_or("null string")
    }
    fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        Ok(match self.len(true)? {
            None => Vec::new(),
            Some(n) => self.take(n)?.to_vec(),
        })
    }
    fn array_len(&mut self) -> Result<usize, DecodeError> {
        let n = self.len(true)?.unwrap_or(0);
        // Every element takes at least one byte: a count past the buffer is a lie.
        if n > self.buf.len() {
            return Err("array longer than the record");
        }
        Ok(n)
    }
    fn tagged_fields(&mut self) -> Result<(), DecodeError> {
        if self.flexible {
            let count = self.uvarint()?;
            for _ in 0..count {
                self.uvarint()?;
                let size = self.uvarint()?;
                self.take(usize::try_from(size).map_err(|_| "tagged field too large")?)?;
            }
        }
        Ok(())
    }
}

/// Reads a record of `__consumer_offsets`.
///
/// # Example
/// ```
/// use partlog::offsets_topic_records::{decode, CoordinatorRecord};
/// // The key of group g1's commit for partition t-3 (record type 1), with no value: a tombstone.
/// let key = [0, 1, 0, 2, b'g', b'1', 0, 1, b't', 0, 0, 0, 3];
/// let CoordinatorRecord::Offset { group, partition, value, .. } = decode(&key, None).unwrap() else { panic!() };
/// assert_eq!((group.as_str(), partition, value), ("g1", 3, None));
/// assert!(decode(&key[..5], None).is_err()); // cut short
/// ```
pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<CoordinatorRecord, DecodeError> {
    let mut k = Reader { buf: key, flexible: false };
    let record_type = k.i16()?;
    match record_type {
        0 | 1 => {
            let group = k.str()?;
            let topic = k.str()?;
            let partition = k.i32()?;
            let partition = u32::try_from(partition).map_err(|_| "negative partition")?;
            let value = value.map(offset_value_decode).transpose()?;
            Ok(CoordinatorRecord::Offset { group, topic, partition, value })
        }
        2 => {
            let group = k.str()?;
            let value = value.map(group_value_decode).transpose()?;
            Ok(CoordinatorRecord::Group { group, value })
        }
        _ => Ok(CoordinatorRecord::Other),
    }
}

fn offset_value_decode(bytes: &[u8]) -> Result<OffsetValue, DecodeError> {
    let mut r = Reader { buf: bytes, flexible: false };
    let version = r.i16()?;
    if !(0..=4).contains(&version) {
        return Err("unknown OffsetCommitValue version");
    }
    r.flexible = version >= 4;
    let offset = r.i64()?;
    let leader_epoch = if version >= 3 { r.i32()? } else { -1 };
    let metadata = r.str()?;
    let commit_timestamp = r.i64()?;
    let expire_timestamp = if version == 1 { r.i64()? } else { -1 };
    r.tagged_fields()?;
    Ok(OffsetValue { offset, leader_epoch, metadata, commit_timestamp, expire_timestamp })
}

fn group_value_decode(bytes: &[u8]) -> Result<GroupValue, DecodeError> {
    let mut r = Reader { buf: bytes, flexible: false };
    let version = r.i16()?;
    if !(0..=4).contains(&version) {
        return Err("unknown GroupMetadataValue version");
    }
    r.flexible = version >= 4;
    let protocol_type = r.str()?;
    let generation = r.i32()?;
    let protocol = r.nullable_str()?;
    let leader = r.nullable_str()?;
    let current_state_timestamp = if version >= 2 { r.i64()? } else { -1 };
    let count = r.array_len()?;
    let mut members = Vec::with_capacity(count);
    for _ in 0..count {
        let member_id = r.str()?;
        let group_instance_id = if version >= 3 { r.nullable_str()? } else { None };
        let client_id = r.str()?;
        let client_host = r.str()?;
        let rebalance_timeout = if version >= 1 { r.i32()? } else { -1 };
        let session_timeout = r.i32()?;
        let subscription = r.bytes()?;
        let assignment = r.bytes()?;
        r.tagged_fields()?;
        members.push(MemberValue {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout,
            session_timeout,
            subscription,
            assignment,
        });
    }
    r.tagged_fields()?;
    Ok(GroupValue { protocol_type, generation, protocol, leader, current_state_timestamp, members })
}

fn partitions_decode(r: &mut Reader<'_>) -> Result<BTreeMap<String, Vec<u32>>, DecodeError> {
    let mut map = BTreeMap::new();
    for _ in 0..r.array_len()? {
        let topic = r.str()?;
        let mut partitions = Vec::new();
        for _ in 0..r.array_len()? {
            partitions.push(u32::try_from(r.i32()?).map_err(|_| "negative partition")?);
        }
        map.insert(topic, partitions);
    }
    Ok(map)
}

/// Reads a `ConsumerProtocolSubscription` (versions 0 to 3).
pub fn subscription_decode(bytes: &[u8]) -> Result<Subscription, DecodeError> {
    let mut r = Reader { buf: bytes, flexible: false };
    let version = r.i16()?;
    if version < 0 {
        return Err("negative ConsumerProtocolSubscription version");
    }
    let mut topics = Vec::new();
    for _ in 0..r.array_len()? {
        topics.push(r.str()?);
    }
    let _user_data = r.bytes()?;
    let owned = if version >= 1 { partitions_decode(&mut r)? } else { BTreeMap::new() };
    let generation = if version >= 2 { r.i32()? } else { -1 };
    Ok(Subscription { topics, owned, generation })
}

/// Reads a `ConsumerProtocolAssignment` (versions 0 to 3).
pub fn assignment_decode(bytes: &[u8]) -> Result<BTreeMap<String, Vec<u32>>, DecodeError> {
    let mut r = Reader { buf: bytes, flexible: false };
    if r.i16()? < 0 {
        return Err("negative ConsumerProtocolAssignment version");
    }
    partitions_decode(&mut r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_partitions_match_kafkas_examples() {
        // kafka-clients.md §4.1, computed with Java's String.hashCode.
        assert_eq!(partition_for_group("g1", 50), 42);
        assert_eq!(partition_for_group("my-group", 50), 12);
    }

    #[test]
    fn offset_commit_bytes_match_the_worked_example() {
        // kafka-clients.md §4.3: group g1, topic t, partition 3, offset 42, metadata "".
        assert_eq!(offset_key("g1", "t", 3), [0, 1, 0, 2, b'g', b'1', 0, 1, b't', 0, 0, 0, 3]);
        let value = offset_value(42, "", 1_700_000_000_000);
        assert_eq!(
            value,
            [0, 3, 0, 0, 0, 0, 0, 0, 0, 0x2a, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 0x8b, 0xcf, 0xe5, 0x68, 0]
        );
        let record = decode(&offset_key("g1", "t", 3), Some(&value)).unwrap();
        let CoordinatorRecord::Offset { group, topic, partition, value: Some(v) } = record else { panic!() };
        assert_eq!(
            (group.as_str(), topic.as_str(), partition, v.offset, v.commit_timestamp),
            ("g1", "t", 3, 42, 1_700_000_000_000)
        );
    }

    #[test]
    fn every_offset_value_version_reads() {
        // v1 carries an expire timestamp; v4 is flexible (compact string, tagged fields).
        let mut v1 = vec![0, 1];
        v1.extend_from_slice(&7i64.to_be_bytes());
        v1.extend_from_slice(&[0, 2, b'm', b'd']);
        v1.extend_from_slice(&5i64.to_be_bytes());
        v1.extend_from_slice(&9i64.to_be_bytes());
        let v = offset_value_decode(&v1).unwrap();
        assert_eq!((v.offset, v.metadata.as_str(), v.commit_timestamp, v.expire_timestamp), (7, "md", 5, 9));
        let mut v4 = vec![0, 4];
        v4.extend_from_slice(&7i64.to_be_bytes());
        v4.extend_from_slice(&3i32.to_be_bytes());
        v4.extend_from_slice(&[3, b'm', b'd']);
        v4.extend_from_slice(&5i64.to_be_bytes());
        v4.extend_from_slice(&[1, 0, 1, 0xaa]); // one unknown tagged field
        let v = offset_value_decode(&v4).unwrap();
        assert_eq!((v.offset, v.leader_epoch, v.metadata.as_str(), v.commit_timestamp), (7, 3, "md", 5));
        assert!(offset_value_decode(&v4[..v4.len() - 1]).is_err());
    }

    #[test]
    fn group_metadata_round_trips_and_bad_bytes_fail() {
        let mut owned = BTreeMap::new();
        owned.insert("t".to_string(), vec![0, 2]);
        let sub = Subscription { topics: vec!["t".into()], owned: owned.clone(), generation: 4 };
        assert_eq!(subscription_decode(&subscription_bytes(&sub)).unwrap(), sub);
        assert_eq!(assignment_decode(&assignment_bytes(&owned)).unwrap(), owned);
        let value = GroupValue {
            protocol_type: "consumer".into(),
            generation: 4,
            protocol: Some("range".into()),
            leader: Some("m-1".into()),
            current_state_timestamp: 10,
            members: vec![MemberValue {
                member_id: "m-1".into(),
                group_instance_id: Some("i".into()),
                client_id: "c".into(),
                client_host: "/in-process".into(),
                rebalance_timeout: 300000,
                session_timeout: 45000,
                subscription: subscription_bytes(&sub),
                assignment: assignment_bytes(&owned),
            }],
        };
        let bytes = group_value(&value);
        let CoordinatorRecord::Group { group, value: Some(back) } = decode(&group_key("g"), Some(&bytes)).unwrap()
        else {
            panic!()
        };
        assert_eq!((group.as_str(), &back), ("g", &value));
        for cut in 0..bytes.len() {
            assert!(group_value_decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode(&[0, 2, 0xff, 0xf0], None).is_err());
        assert_eq!(decode(&[0, 9, 1, 2], None).unwrap(), CoordinatorRecord::Other);
    }
}
