//! `dump --offsets-decoder`: each record of `__consumer_offsets` as Kafka's `kafka-dump-log
//! --offsets-decoder` prints it (`OffsetsMessageParser`): the key as `{"type":…,"data":{…}}`,
//! the value as `{"version":…,"data":{…}}` with the fields of its schema version, or `<DELETE>`
//! for a tombstone; a consumer group member's subscription and assignment decoded too.

use std::fmt;

use partlog::offsets_topic_records::{
    assignment_decode, decode, subscription_decode, CoordinatorRecord, GroupValue, OffsetValue,
};

/// JSON with its fields in the order given (Kafka's schema order), for text output; turned into
/// a [`serde_json::Value`] for `--json`.
pub enum Json {
    Null,
    Number(i64),
    Text(String),
    Array(Vec<Json>),
    Object(Vec<(&'static str, Json)>),
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Number(n) => write!(f, "{n}"),
            Json::Text(s) => write!(f, "{}", serde_json::Value::String(s.clone())),
            Json::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    write!(f, "{}{item}", if i == 0 { "" } else { "," })?;
                }
                f.write_str("]")
            }
            Json::Object(fields) => {
                f.write_str("{")?;
                for (i, (name, value)) in fields.iter().enumerate() {
                    write!(f, "{}\"{name}\":{value}", if i == 0 { "" } else { "," })?;
                }
                f.write_str("}")
            }
        }
    }
}

impl From<&Json> for serde_json::Value {
    fn from(json: &Json) -> serde_json::Value {
        match json {
            Json::Null => serde_json::Value::Null,
            Json::Number(n) => (*n).into(),
            Json::Text(s) => s.clone().into(),
            Json::Array(items) => items.iter().map(serde_json::Value::from).collect(),
            Json::Object(fields) => {
                fields.iter().map(|(name, value)| ((*name).to_owned(), serde_json::Value::from(value))).collect()
            }
        }
    }
}

/// A decoded record: its key, and its value (`None`: a tombstone, printed `<DELETE>`); or, as
/// Kafka prints it in place of the key, why it could not be decoded.
pub type Decoded = Result<(Json, Option<Json>), String>;

/// Decodes one record of `__consumer_offsets` at `offset`.
pub fn decode_record(offset: i64, key: Option<&[u8]>, value: Option<&[u8]>) -> Decoded {
    let Some(key) = key else {
        return Err(format!("Failed to decode message at offset {offset} (message had a missing key)"));
    };
    let version = |bytes: &[u8]| bytes.get(..2).map_or(-1, |b| i16::from_be_bytes([b[0], b[1]]));
    let record_type = version(key);
    let error = |reason: &str| format!("Error at offset {offset}, skipping. {reason}");
    let typed = |data: Json| Json::Object(vec![("type", Json::Text(record_type.to_string())), ("data", data)]);
    let versioned = |bytes: &[u8], data: Json| {
        Json::Object(vec![("version", Json::Text(version(bytes).to_string())), ("data", data)])
    };
    match decode(key, value).map_err(error)? {
        CoordinatorRecord::Offset { group, topic, partition, value: v } => {
            let key = Json::Object(vec![
                ("group", Json::Text(group)),
                ("topic", Json::Text(topic)),
                ("partition", Json::Number(partition.into())),
            ]);
            let payload = value.zip(v).map(|(bytes, v)| versioned(bytes, offset_value(version(bytes), v)));
            Ok((typed(key), payload))
        }
        CoordinatorRecord::Group { group, value: v } => {
            let key = Json::Object(vec![("group", Json::Text(group))]);
            let payload = value.zip(v).map(|(bytes, v)| versioned(bytes, group_value(version(bytes), v)));
            Ok((typed(key), payload))
        }
        CoordinatorRecord::Other => Err(format!("Unknown record type {record_type} at offset {offset}, skipping.")),
    }
}

/// `OffsetCommitValue`'s fields of `version`.
fn offset_value(version: i16, v: OffsetValue) -> Json {
    let mut fields = vec![("offset", Json::Number(v.offset))];
    if version >= 3 {
        fields.push(("leaderEpoch", Json::Number(v.leader_epoch.into())));
    }
    fields.push(("metadata", Json::Text(v.metadata)));
    fields.push(("commitTimestamp", Json::Number(v.commit_timestamp)));
    if version == 1 {
        fields.push(("expireTimestamp", Json::Number(v.expire_timestamp)));
    }
    Json::Object(fields)
}

/// `GroupMetadataValue`'s fields of `version`; a consumer group's subscriptions and assignments
/// decoded (kept as hex where they do not decode, as Kafka keeps their bytes).
fn group_value(version: i16, v: GroupValue) -> Json {
    let text = |s: Option<String>| s.map_or(Json::Null, Json::Text);
    let consumer = v.protocol_type == "consumer";
    let members = v
        .members
        .into_iter()
        .map(|m| {
            let mut fields = vec![("memberId", Json::Text(m.member_id))];
            if version >= 3 {
                fields.push(("groupInstanceId", text(m.group_instance_id)));
            }
            fields.push(("clientId", Json::Text(m.client_id)));
            fields.push(("clientHost", Json::Text(m.client_host)));
            if version >= 1 {
                fields.push(("rebalanceTimeout", Json::Number(m.rebalance_timeout.into())));
            }
            fields.push(("sessionTimeout", Json::Number(m.session_timeout.into())));
            fields.push(("subscription", subscription(consumer, &m.subscription)));
            fields.push(("assignment", assignment(consumer, &m.assignment)));
            Json::Object(fields)
        })
        .collect();
    let mut fields = vec![
        ("protocolType", Json::Text(v.protocol_type)),
        ("generation", Json::Number(v.generation.into())),
        ("protocol", text(v.protocol)),
        ("leader", text(v.leader)),
    ];
    if version >= 2 {
        fields.push(("currentStateTimestamp", Json::Number(v.current_state_timestamp)));
    }
    fields.push(("members", Json::Array(members)));
    Json::Object(fields)
}

fn hex(bytes: &[u8]) -> Json {
    Json::Text(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Partitions by topic, as `[{"topic":…,"partitions":[…]}]`.
fn topic_partitions(map: std::collections::BTreeMap<String, Vec<u32>>) -> Json {
    Json::Array(
        map.into_iter()
            .map(|(topic, ps)| {
                let partitions = ps.into_iter().map(|p| Json::Number(p.into())).collect();
                Json::Object(vec![("topic", Json::Text(topic)), ("partitions", Json::Array(partitions))])
            })
            .collect(),
    )
}

fn subscription(consumer: bool, bytes: &[u8]) -> Json {
    match subscription_decode(bytes) {
        Ok(s) if consumer => Json::Object(vec![
            ("topics", Json::Array(s.topics.into_iter().map(Json::Text).collect())),
            ("ownedPartitions", topic_partitions(s.owned)),
            ("generationId", Json::Number(s.generation.into())),
        ]),
        _ => hex(bytes),
    }
}

fn assignment(consumer: bool, bytes: &[u8]) -> Json {
    match assignment_decode(bytes) {
        Ok(assigned) if consumer => Json::Object(vec![("assignedPartitions", topic_partitions(assigned))]),
        _ => hex(bytes),
    }
}
