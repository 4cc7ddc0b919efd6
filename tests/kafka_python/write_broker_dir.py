#!/usr/bin/env python3
"""Writes tests/data/broker-log-dir/: a KRaft broker's log.dir as the broker leaves it after a
clean shutdown, holding legacy (magic 0 and 1) segments from before an upgrade.

What a broker leaves, and what this script writes the same way:
- partition directories `<topic>-<n>` with their segments; each segment's `.index` and
  `.timeindex` as Kafka's `LogSegment.append` fills them (an offset index entry, and a time
  index entry for the largest timestamp so far, once more than `index.interval.bytes` were
  appended since the last entry) and as `LogSegment.close` / `onBecomeInactiveSegment` end them
  (a last time index entry for the largest timestamp, trimmed files); a magic-1 entry counts
  with its (wrapper's) timestamp, a magic-0 entry has none (-1) and adds no time entry;
  `leader-epoch-checkpoint` and `partition.metadata`;
- `__cluster_metadata-0`, the KRaft metadata log, with its own segment, `quorum-state` and
  `partition.metadata`;
- `meta.properties`, `bootstrap.checkpoint`, `.kafka_cleanshutdown` (with the broker epoch);
- `recovery-point-offset-checkpoint`, `log-start-offset-checkpoint` and
  `replication-offset-checkpoint`, listing `__cluster_metadata 0` with the other partitions.

Segments come from kafka-python 3.0.12's builders (`write_legacy.py`); `OUT_DIR.json` holds
every record as kafka-python's own reader (MemoryRecords) reads each partition, by topic.

    python write_broker_dir.py OUT_DIR   # needs kafka-python 3.0.12, lz4, python-snappy
"""
import json
import shutil
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from write_legacy import GZIP, LOG_APPEND_TIME, SNAPPY, expected, message, recs, v2_batch, wrapper  # noqa: E402

BROKER_EPOCH = 7
CLUSTER_ID = "sxdeXWjuSPqlyyGCLF97Gw"
TOPIC_ID = "AAAAAAAAAAAAAAAAAAAAAA"


def shallow_entries(data):
    """(position, size, last offset, max timestamp) of each entry as the broker sees it."""
    pos, out = 0, []
    while pos < len(data):
        offset, length = struct.unpack_from(">qi", data, pos)
        magic = data[pos + 16]
        if magic == 2:
            last_delta, = struct.unpack_from(">i", data, pos + 23)
            max_ts, = struct.unpack_from(">q", data, pos + 35)
            entry = (pos, 12 + length, offset + last_delta, max_ts)
        elif magic == 1:
            ts, = struct.unpack_from(">q", data, pos + 18)
            entry = (pos, 12 + length, offset, ts)
        else:
            entry = (pos, 12 + length, offset, -1)
        out.append(entry)
        pos += 12 + length
    return out


def indexes(base, data, index_interval_bytes, closing_entry=True):
    """The `.index` and `.timeindex` bytes Kafka leaves for a segment it closed or rolled.
    Without `closing_entry`: as a broker leaves an active segment it did not append to since it
    started (`LogSegment.close` adds the entry only if it knows the largest timestamp)."""
    offset_index, time_index = bytearray(), bytearray()
    last_time = (-1, base)  # TimeIndex.lastEntry of an empty index
    max_ts, offset_of_max = -1, base
    since = 0

    def maybe_append_time(ts, offset):
        nonlocal last_time
        if ts > last_time[0]:
            time_index.extend(struct.pack(">qi", ts, offset - base))
            last_time = (ts, offset)

    for pos, size, last_offset, ts in shallow_entries(data):
        if ts > max_ts:
            max_ts, offset_of_max = ts, last_offset
        if since > index_interval_bytes:
            offset_index.extend(struct.pack(">ii", last_offset - base, pos))
            maybe_append_time(max_ts, offset_of_max)
            since = 0
        since += size
    if closing_entry:
        maybe_append_time(max_ts, offset_of_max)  # close / roll
    return bytes(offset_index), bytes(time_index)


def name(base, suffix):
    return "%020d%s" % (base, suffix)


def write_partition(out, topic, segments, index_interval_bytes=4096, time_index="broker", closing_entry=True):
    """`segments`: [(base offset, bytes)]. `time_index`: "broker", "empty" or "absent" (the
    last two: what an old broker or a copy may leave for a legacy segment). `closing_entry`:
    whether the active segment's time index has its closing entry."""
    d = out / ("%s-0" % topic)
    d.mkdir(parents=True)
    records = bytearray()
    for i, (base, data) in enumerate(segments):
        (d / name(base, ".log")).write_bytes(data)
        oi, ti = indexes(base, data, index_interval_bytes, closing_entry or i + 1 < len(segments))
        (d / name(base, ".index")).write_bytes(oi)
        if time_index == "broker":
            (d / name(base, ".timeindex")).write_bytes(ti)
        elif time_index == "empty":
            (d / name(base, ".timeindex")).write_bytes(b"")
        records += data
    (d / "leader-epoch-checkpoint").write_text("0\n1\n0 0\n")
    (d / "partition.metadata").write_text("version: 0\ntopic_id: %s\n" % TOPIC_ID)
    last = shallow_entries(segments[-1][1])[-1][2]
    return expected(bytes(records))["records"], last + 1


def checkpoint(entries):
    return "0\n%d\n" % len(entries) + "".join("%s %d %d\n" % e for e in entries)


def main():
    out = Path(sys.argv[1])
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    partitions = {}
    ends = {}

    # Magic 1 only, in two segments: messages (one LogAppendTime), a gzip and a snappy wrapper;
    # the active segment's time index lacks its closing entry.
    rs = recs(7, tag=b"m")
    first = b"".join(message(1, o, ts, k, v, LOG_APPEND_TIME if o == 4 else 0) for o, (ts, k, v) in enumerate(rs))
    first += wrapper(1, GZIP, 7, recs(3, start_ts=1_500_000_010_000, tag=b"g"))
    second = wrapper(1, SNAPPY, 10, recs(4, start_ts=1_500_000_020_000, tag=b"s"))
    second += b"".join(message(1, 14 + i, ts, k, v) for i, (ts, k, v) in
                       enumerate(recs(3, start_ts=1_500_000_030_000, tag=b"n")))
    partitions["legacy"], ends["legacy"] = write_partition(out, "legacy", [(0, first), (10, second)], 150,
                                                              closing_entry=False)

    # An upgraded broker: a segment of magic 0 then magic 1, rolled; then v2 batches, in the
    # segment after it and then in the active one, which also starts with magic 1 (a producer
    # still on the old format).
    old = message(0, 0, None, b"k0", b"zero") + wrapper(0, GZIP, 1, recs(2, tag=b"a"))
    old += message(1, 3, 1_500_000_000_000, b"k3", b"three") + wrapper(1, SNAPPY, 4, recs(3, tag=b"b"))
    new = v2_batch(7, recs(3, start_ts=1_600_000_000_000, tag=b"c"))
    active = message(1, 10, 1_650_000_000_000, b"k10", b"ten") + v2_batch(11, recs(2, start_ts=1_700_000_000_000,
                                                                                      tag=b"d"))
    partitions["upgraded"], ends["upgraded"] = write_partition(out, "upgraded", [(0, old), (7, new), (10, active)])

    # Legacy segments, a sealed one and the active one, whose time indexes are empty, or absent.
    for kind in ("empty", "absent"):
        ms = [message(1, o, ts, k, v) for o, (ts, k, v) in enumerate(recs(5, tag=kind.encode()))]
        partitions["notime-" + kind], ends["notime-" + kind] = write_partition(
            out, "notime-" + kind, [(0, b"".join(ms[:3])), (3, b"".join(ms[3:]))], time_index=kind)

    # The KRaft metadata log: one v2 batch of opaque records.
    meta = out / "__cluster_metadata-0"
    meta.mkdir()
    batch = v2_batch(0, [(1_700_000_000_000, None, b"\x01\x03metadata-record-%d" % i) for i in range(3)])
    (meta / name(0, ".log")).write_bytes(batch)
    oi, ti = indexes(0, batch, 4096)
    (meta / name(0, ".index")).write_bytes(oi)
    (meta / name(0, ".timeindex")).write_bytes(ti)
    (meta / "partition.metadata").write_text("version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAQ\n")
    (meta / "quorum-state").write_text(
        '{"leaderId":1,"leaderEpoch":1,"votedId":-1,"appliedOffset":0,"currentVoters":[{"voterId":1}],'
        '"data_version":0}')
    (meta / "leader-epoch-checkpoint").write_text("0\n1\n1 0\n")

    (out / "meta.properties").write_text(
        "#\n#Thu Jan 01 00:00:00 UTC 2026\nnode.id=1\ndirectory.id=AAAAAAAAAAAAAAAAAAAAAg\n"
        "version=1\ncluster.id=%s\n" % CLUSTER_ID)
    # bootstrap.checkpoint is a snapshot file of metadata records; its bytes are the broker's.
    (out / "bootstrap.checkpoint").write_bytes(v2_batch(0, [(1_700_000_000_000, None, b"\x01\x0cbootstrap")]))
    (out / ".kafka_cleanshutdown").write_text('{"version":0,"brokerEpoch":%d}' % BROKER_EPOCH)

    owned = sorted(ends.items())
    rp = [(t, 0, e) for t, e in owned] + [("__cluster_metadata", 0, 3)]
    (out / "recovery-point-offset-checkpoint").write_text(checkpoint(rp))
    (out / "log-start-offset-checkpoint").write_text(checkpoint([(t, 0, 0) for t, _ in owned] +
                                                                [("__cluster_metadata", 0, 0)]))
    (out / "replication-offset-checkpoint").write_text(checkpoint(rp))
    Path(str(out) + ".json").write_text(json.dumps(partitions, indent=1) + "\n")
    for t, e in owned:
        print(t, "log end", e, len(partitions[t]), "records")


if __name__ == "__main__":
    main()
