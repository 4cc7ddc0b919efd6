#!/usr/bin/env python3
"""Writes the legacy-format golden segments in tests/data/kafka-python-legacy/.

Old brokers stored message sets of magic 0 (Kafka 0.8–0.9) and magic 1 (0.10): one message per
entry, or a compressed "wrapper" message whose value holds a message set. kafka-python's
LegacyRecordBatchBuilder writes them as a producer would; this script then does what the broker
did on append: magic-0 inner messages carry absolute offsets, magic-1 inner offsets are relative
(0..n-1) and the wrapper carries the absolute offset of the last one, and a magic-1 wrapper's
timestamp is the largest inner timestamp (CreateTime) or the append time (LogAppendTime,
attribute bit 3). The expected records (`X.log.json`) come from kafka-python's own reader
(MemoryRecords), not from this script's bookkeeping.

    python write_legacy.py OUT_DIR      # needs kafka-python 3.0.12, lz4, python-snappy, xxhash
"""
import json
import struct
import sys
import zlib
from pathlib import Path

from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.legacy_records import LegacyRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords

NONE, GZIP, SNAPPY, LZ4 = 0, 1, 2, 3
LOG_APPEND_TIME = 0x08


def message(magic, offset, timestamp, key, value, attributes=0):
    """One uncompressed entry, as the builder writes it, at an absolute offset."""
    b = LegacyRecordBatchBuilder(magic=magic, compression_type=NONE, batch_size=1 << 30)
    b.append(0, timestamp=timestamp, key=key, value=value)
    out = bytearray(b.build())
    struct.pack_into(">q", out, 0, offset)
    if attributes:
        out[17] |= attributes
        fix_crc(out)
    return bytes(out)


def fix_crc(entry):
    struct.pack_into(">I", entry, 12, zlib.crc32(bytes(entry[16:])) & 0xFFFFFFFF)


def wrapper(magic, codec, first_offset, records, log_append_time=None):
    """A compressed wrapper holding `records` [(timestamp, key, value)] from `first_offset`."""
    b = LegacyRecordBatchBuilder(magic=magic, compression_type=codec, batch_size=1 << 30)
    for i, (ts, key, value) in enumerate(records):
        # Magic 0: the broker rewrote inner offsets to absolute ones; magic 1: relative.
        inner = first_offset + i if magic == 0 else i
        assert b.append(inner, timestamp=ts, key=key, value=value) is not None
    out = bytearray(b.build())
    struct.pack_into(">q", out, 0, first_offset + len(records) - 1)
    if magic == 1:
        if log_append_time is None:
            struct.pack_into(">q", out, 18, max(ts for ts, _, _ in records))
        else:
            struct.pack_into(">q", out, 18, log_append_time)
            out[17] |= LOG_APPEND_TIME
        fix_crc(out)
    return bytes(out)


def v2_batch(base_offset, records):
    b = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False,
                                  producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                  batch_size=1 << 30)
    for i, (ts, key, value) in enumerate(records):
        b.append(i, timestamp=ts, key=key, value=value, headers=[])
    out = bytearray(b.build())
    struct.pack_into(">q", out, 0, base_offset)
    return bytes(out)


def recs(n, start_ts=1_500_000_000_000, tag=b"r"):
    """n records with distinct keys and values, a null key every third, timestamps stepping
    back once."""
    out = []
    for i in range(n):
        key = None if i % 3 == 2 else tag + b"-key-%d" % i
        value = tag + b"-value-%d-" % i + bytes(range(i % 7))
        ts = start_ts + 1000 * i - (1500 if i == 2 else 0)
        out.append((ts, key, value))
    return out


def expected(data):
    """Every record kafka-python reads from `data`, in its own words."""
    records, batches = [], []
    mr = MemoryRecords(data)
    while True:
        batch = mr.next_batch()
        if batch is None:
            break
        batches.append({"magic": batch.magic, "codec": batch.compression_type})
        for r in batch:
            records.append({
                "offset": r.offset,
                "timestamp": -1 if r.timestamp is None else r.timestamp,
                "key": None if r.key is None else bytes(r.key).hex(),
                "value": None if r.value is None else bytes(r.value).hex(),
            })
    return {"batches": batches, "records": records}


def segments():
    s = {}
    # Six magic-0 messages, uncompressed (the wiped segment).
    s["v0-none"] = b"".join(message(0, i, None, *r[1:]) for i, r in enumerate(recs(6)))
    # Six magic-1 messages with CreateTime, one with LogAppendTime, and a gap (compacted).
    rs = recs(7)
    s["v1-none"] = b"".join(
        message(1, o, ts, k, v, LOG_APPEND_TIME if o == 4 else 0)
        for o, (ts, k, v) in zip([0, 1, 2, 3, 4, 6, 7], rs))
    for magic in (0, 1):
        for name, codec in (("gzip", GZIP), ("snappy", SNAPPY), ("lz4", LZ4)):
            # Three wrappers of 1, 3 and 5 messages; with magic 1 the last is LogAppendTime.
            parts, offset = [], 0
            for i, n in enumerate((1, 3, 5)):
                lat = 1_600_000_000_000 if magic == 1 and i == 2 else None
                parts.append(wrapper(magic, codec, offset, recs(n, tag=b"%s%d" % (name.encode(), i)), lat))
                offset += n
            s["v%d-%s" % (magic, name)] = b"".join(parts)
    # A segment as a broker upgraded twice leaves it: magic 0, then magic 1, then v2.
    s["mixed"] = b"".join([
        message(0, 0, None, b"k0", b"zero"),
        wrapper(0, GZIP, 1, recs(2, tag=b"a")),
        message(1, 3, 1_500_000_000_000, b"k3", b"three"),
        wrapper(1, SNAPPY, 4, recs(3, tag=b"b")),
        v2_batch(7, recs(2, tag=b"c")),
    ])
    return s


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name, data in segments().items():
        (out / (name + ".log")).write_bytes(data)
        (out / (name + ".log.json")).write_text(json.dumps(expected(data), indent=1) + "\n")
        print(name, len(data), "bytes")


if __name__ == "__main__":
    main()
