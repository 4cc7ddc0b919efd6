#!/usr/bin/env python3
"""Validate partlog's data directory with kafka-python, an independent Kafka implementation.

    python validate.py DATA_DIR

For every partition directory (`<topic>-<n>`) with segments (records are compared only where the
directory holds an `expected.json`):

- every `.log` is parsed batch by batch with kafka-python's `DefaultRecordBatch`: framing, magic 2,
  CRC-32C (which kafka-python only checks when asked), codec, record decoding, record count, offsets
  increasing within and across batches and segments, maxTimestamp equal to the largest record
  timestamp (CreateTime), LZ4 frames in the form Java's `Lz4BlockInputStream` accepts;
- the records of all segments together must equal `expected.json`, field by field;
- `.index` and `.timeindex` must follow Kafka's layouts and rules: trimmed to whole entries, keys
  strictly increasing, every offset entry pointing at the start of a batch whose last offset is the
  entry's offset, entries only after more than `index.interval.bytes`, every time entry carrying
  the running maximum timestamp, and the last time entry carrying the segment's largest timestamp.

Exits 1 and names the file and position of the first problem in each segment.
"""
import json
import os
import struct
import sys

from kafka.record.default_records import DefaultRecordBatch

HEADER = 61
LOG_OVERHEAD = 12
CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


class Invalid(Exception):
    pass


def hexa(b):
    return None if b is None else bytes(b).hex()


def check_lz4_frame(payload, where):
    p = bytes(payload)
    if len(p) < 7 or p[:4] != b"\x04\x22\x4d\x18":
        raise Invalid(f"{where}: lz4 payload is not an LZ4 frame")
    flg, bd = p[4], p[5]
    if flg >> 6 != 1 or not flg >> 5 & 1 or flg & 0x03 or bd & 0x8F or not 4 <= (bd >> 4 & 7) <= 7:
        raise Invalid(f"{where}: LZ4 frame FLG={flg:#04x} BD={bd:#04x} is not one Kafka's Java reader accepts")


def read_segment(path, expected_base, previous_last):
    data = open(path, "rb").read()
    batches, records = [], []
    pos = 0
    while pos < len(data):
        where = f"{path} position {pos}"
        if len(data) - pos < HEADER:
            raise Invalid(f"{where}: {len(data) - pos} trailing bytes, less than a batch header")
        base, length = struct.unpack_from(">qi", data, pos)
        end = pos + LOG_OVERHEAD + length
        if length < HEADER - LOG_OVERHEAD or end > len(data):
            raise Invalid(f"{where}: batch length {length} does not fit the file")
        if data[pos + 16] != 2:
            raise Invalid(f"{where}: magic {data[pos + 16]}")
        batch = DefaultRecordBatch(data[pos:end])
        if not batch.validate_crc():
            raise Invalid(f"{where}: CRC-32C mismatch")
        codec = batch.compression_type
        if codec not in CODECS:
            raise Invalid(f"{where}: codec id {codec}")
        if codec == 3:
            check_lz4_frame(memoryview(data)[pos + HEADER:end], where)
        if previous_last is not None and batch.base_offset <= previous_last:
            raise Invalid(f"{where}: base offset {batch.base_offset} after last offset {previous_last}")
        if not batches and batch.base_offset < expected_base:
            raise Invalid(f"{where}: first base offset {batch.base_offset} below the file's base {expected_base}")
        recs = list(batch)  # decompresses, checks count and leftover bytes
        if len(recs) != batch.records_count:
            raise Invalid(f"{where}: {len(recs)} records, header says {batch.records_count}")
        last = batch.base_offset - 1
        for r in recs:
            if not last < r.offset <= batch.last_offset:
                raise Invalid(f"{where}: record offset {r.offset} out of order")
            last = r.offset
            records.append({"offset": r.offset, "timestamp": r.timestamp, "key": hexa(r.key),
                            "value": hexa(r.value), "headers": [[k, hexa(v)] for k, v in r.headers]})
        if batch.timestamp_type == 0 and recs and batch.max_timestamp != max(r.timestamp for r in recs):
            raise Invalid(f"{where}: maxTimestamp {batch.max_timestamp} is not the largest record timestamp")
        batches.append((pos, end - pos, batch.last_offset, batch.max_timestamp))
        previous_last = batch.last_offset
        pos = end
    return batches, records, previous_last


def entries(path, size, fmt):
    data = open(path, "rb").read()
    if len(data) % size:
        raise Invalid(f"{path}: length {len(data)} is not a multiple of {size} (not trimmed)")
    return [struct.unpack_from(fmt, data, i) for i in range(0, len(data), size)]


def check_indexes(log_path, base, batches, interval):
    stem = log_path[: -len(".log")]
    starts = {pos: (last, max_ts) for pos, _, last, max_ts in batches}
    offset_entries = entries(stem + ".index", 8, ">ii")
    prev = None
    for i, (rel, position) in enumerate(offset_entries):
        where = f"{stem}.index entry {i}"
        if position not in starts:
            raise Invalid(f"{where}: position {position} is not the start of a batch")
        if base + rel != starts[position][0]:
            raise Invalid(f"{where}: offset {base + rel} is not the last offset {starts[position][0]} of its batch")
        gap = position - (prev[1] if prev else 0)
        if gap <= interval:
            raise Invalid(f"{where}: only {gap} bytes after the previous entry (index.interval.bytes {interval})")
        if prev and rel <= prev[0]:
            raise Invalid(f"{where}: relative offsets not increasing")
        prev = (rel, position)

    time_entries = entries(stem + ".timeindex", 12, ">qi")
    running, running_at = -1, {}
    for pos, _, last, max_ts in batches:
        running = max(running, max_ts)
        running_at[last] = running
    prev = None
    for i, (ts, rel) in enumerate(time_entries):
        where = f"{stem}.timeindex entry {i}"
        if base + rel not in running_at:
            raise Invalid(f"{where}: offset {base + rel} is not the last offset of a batch")
        if ts > running_at[base + rel]:
            raise Invalid(f"{where}: timestamp {ts} above the running maximum {running_at[base + rel]}")
        if prev and (ts <= prev[0] or rel < prev[1]):
            raise Invalid(f"{where}: not increasing")
        prev = (ts, rel)
    if batches and time_entries and time_entries[-1][0] != max(b[3] for b in batches):
        raise Invalid(f"{stem}.timeindex: last entry {time_entries[-1][0]} is not the segment's largest timestamp")
    if batches and not time_entries:
        raise Invalid(f"{stem}.timeindex: empty for a segment with batches")
    return len(offset_entries), len(time_entries)


def index_interval(pdir):
    """index.interval.bytes from the topic's config file, else Kafka's default."""
    root, name = os.path.split(pdir.rstrip("/"))
    props = os.path.join(root, name.rsplit("-", 1)[0] + ".conf")
    if os.path.isfile(props):
        for line in open(props):
            if line.startswith("index.interval.bytes="):
                return int(line.split("=", 1)[1])
    return 4096


def validate_partition(pdir):
    """Checks every segment; compares records with expected.json when the directory has one."""
    path = os.path.join(pdir, "expected.json")
    expected = json.load(open(path)) if os.path.isfile(path) else None
    interval = expected["index_interval_bytes"] if expected else index_interval(pdir)
    logs = sorted(f for f in os.listdir(pdir) if f.endswith(".log"))
    if not logs:
        raise Invalid(f"{pdir}: no segments")
    records, last, counts = [], None, [0, 0, 0]
    for name in logs:
        path = os.path.join(pdir, name)
        base = int(name[:-4])
        batches, recs, last = read_segment(path, base, last)
        o, t = check_indexes(path, base, batches, interval)
        counts[0] += len(batches)
        counts[1] += o
        counts[2] += t
        records.extend(recs)
    if expected is None:
        return len(logs), counts, len(records)
    want = expected["records"]
    # Records below the log start offset (delete_records inside a segment) are still in the
    # file but no longer readable.
    start = expected.get("log_start_offset", 0)
    records = [r for r in records if r["offset"] >= start]
    if len(records) != len(want):
        raise Invalid(f"{pdir}: {len(records)} records, expected {len(want)}")
    for got, exp in zip(records, want):
        if got != exp:
            diff = {k: (exp.get(k), got.get(k)) for k in exp if exp.get(k) != got.get(k)}
            raise Invalid(f"{pdir}: record at offset {exp['offset']} differs: {str(diff)[:300]}")
    return len(logs), counts, len(records)


def main(root):
    failed = 0
    checked = 0
    for name in sorted(os.listdir(root)):
        pdir = os.path.join(root, name)
        if not os.path.isdir(pdir) or not any(f.endswith(".log") for f in os.listdir(pdir)):
            continue
        checked += 1
        try:
            segments, (batches, oentries, tentries), n = validate_partition(pdir)
            what = "match expected.json" if os.path.isfile(os.path.join(pdir, "expected.json")) else "decoded"
            print(f"OK {name}: {segments} segments, {batches} batches, {n} records {what}, "
                  f"{oentries} offset and {tentries} time index entries valid")
        except Invalid as e:
            failed += 1
            print(f"INVALID {e}")
        except Exception as e:  # a codec library's own exception is a rejection too
            failed += 1
            print(f"INVALID {name}: kafka-python raised {type(e).__name__}: {e}")
    if checked == 0:
        print(f"no partition directory with segments under {root}")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
