#!/usr/bin/env python3
"""Runs Apache Kafka's own DumpLogSegments (`kafka-dump-log`) over every segment of partlog data
directories and checks what it says:

- deep iteration with data printing over every .log, .index and .timeindex: every batch valid,
  no index entry that disagrees with the log, no bytes left over, no exception;
- `--index-sanity-check` over every index: each "passed sanity check" (the broker's startup check);
- the records it prints are the ones partlog wrote: the offsets exactly, and per record the
  timestamp and its type, key and value sizes, sequence, header keys, and key and value text
  where the bytes are UTF-8, compared with each partition's expected.json;
- `__consumer_offsets` partitions also go through `--offsets-decoder`, which parses every
  record with Kafka's coordinator schemas.

    dump_check.py KAFKA_LIB DATA_DIR...

Exits non-zero with the first problem found per directory.
"""
import json
import os
import re
import subprocess
import sys

PARTITION = re.compile(r"^(.+)-(\d+)$")
RECORD = re.compile(r"^\| offset: (\d+) (CreateTime|LogAppendTime|NoTimestampType): (-?\d+) "
                    r"keySize: (-?\d+) valueSize: (-?\d+) sequence: (-?\d+) headerKeys: \[(.*?)\]")
BATCH = re.compile(r"^baseOffset: (\d+) lastOffset: (\d+) count: (\d+) .* isvalid: (\w+)")
# What DumpLogSegments prints when something is wrong (kafka/tools/DumpLogSegments.scala).
ERRORS = ("Mismatches in", "Non-consecutive offsets", "not found in the log", "timestamp mismatch",
          "out of order timestamp", "invalid bytes at the end", "Exception", "Error", "isvalid: false",
          "failed sanity check", "Could not", "corrupt")


def dump(lib, args):
    cmd = ["java", "-Dlog4j2.level=WARN", "-cp", os.path.join(lib, "*"), "kafka.tools.DumpLogSegments"] + args
    out = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    if out.returncode != 0:
        raise SystemExit(f"DumpLogSegments exited {out.returncode}: {out.stderr[-2000:]}")
    return out.stdout + out.stderr


def by_file(output):
    """Splits the output into {path: [lines]} at each `Dumping <path>` line."""
    files, current = {}, None
    for line in output.split("\n"):
        if line.startswith("Dumping "):
            current = line[len("Dumping "):].strip()
            files[current] = []
        elif current is not None:
            files[current].append(line)
    return files


def expected_line_prefix(r, ts_type):
    key = bytes.fromhex(r["key"]) if r["key"] is not None else None
    value = bytes.fromhex(r["value"]) if r["value"] is not None else None
    header_keys = ",".join(h[0] for h in r["headers"])
    return (r["offset"], ts_type, r["timestamp"], -1 if key is None else len(key),
            -1 if value is None else len(value), header_keys, key, value)


def text(b):
    """The text Kafka prints for bytes, when it is unambiguous: UTF-8 without line breaks."""
    try:
        s = b.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if ("\n" in s or "\r" in s) else s


def check_partition(pdir, lines_by_log, ts_type):
    sidecar = json.load(open(os.path.join(pdir, "expected.json")))
    expected = sidecar["records"]
    # Records below the log start offset (delete_records inside a segment) are still in the
    # file, so Kafka prints them; they are no longer readable, so expected.json has none.
    start = sidecar.get("log_start_offset", 0)
    printed = []
    for log in sorted(lines_by_log):
        for line in lines_by_log[log]:
            m = RECORD.match(line)
            if m and int(m.group(1)) >= start:
                printed.append((m, line))
    offsets = [int(m.group(1)) for m, _ in printed]
    want = [r["offset"] for r in expected]
    if offsets != want:
        first = next((i for i, (a, b) in enumerate(zip(offsets, want)) if a != b), min(len(offsets), len(want)))
        raise SystemExit(f"{pdir}: Kafka printed {len(offsets)} records, partlog wrote {len(want)}; "
                         f"first difference at record {first}")
    compared = 0
    for (m, line), r in zip(printed, expected):
        off, tst, ts, ks, vs, hk, key, value = expected_line_prefix(r, ts_type)
        got = (int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4)), int(m.group(5)), m.group(7))
        if got != (off, tst, ts, ks, vs, hk):
            raise SystemExit(f"{pdir}: offset {off}: Kafka printed {got}, partlog wrote {(off, tst, ts, ks, vs, hk)}")
        if int(m.group(6)) != -1:
            raise SystemExit(f"{pdir}: offset {off}: sequence {m.group(6)} for a record without a producer id")
        rest = line[m.end():]
        tail = ""
        if key is not None:
            tail += " key: " + (text(key) or "")
        if value is not None:
            tail += " payload: " + (text(value) or "")
        if (key is None or text(key) is not None) and (value is None or text(value) is not None):
            # Kafka prints a null key or value as nothing at all.
            if rest != tail:
                raise SystemExit(f"{pdir}: offset {off}: Kafka printed {rest[:200]!r}, expected {tail[:200]!r}")
            compared += 1
    return len(printed), compared


def check_dir(lib, data_dir):
    partitions = sorted(d for d in os.listdir(data_dir)
                        if PARTITION.match(d) and os.path.isdir(os.path.join(data_dir, d)))
    files, indexes = [], []
    for p in partitions:
        for f in sorted(os.listdir(os.path.join(data_dir, p))):
            path = os.path.join(data_dir, p, f)
            if f.endswith((".log", ".index", ".timeindex")):
                files.append(path)
            if f.endswith((".index", ".timeindex")):
                indexes.append(path)
    if not files:
        raise SystemExit(f"{data_dir}: no segments")
    output = dump(lib, ["--deep-iteration", "--print-data-log", "--files", ",".join(files)])
    sanity = dump(lib, ["--index-sanity-check", "--files", ",".join(indexes)])
    # Offset gaps are reported for every log that has them; compaction makes them (as in a
    # broker's compacted topics), so each reported gap must be one between consecutive records
    # of the partition's expected.json, and nothing else may be reported.
    gaps, gap_file = {}, None
    for line in (output + sanity).split("\n"):
        if line.startswith("Non-consecutive offsets in "):
            gap_file = line[len("Non-consecutive offsets in "):].strip()
            continue
        m = re.match(r"^  (\d+) is followed by (\d+)$", line)
        if gap_file and m:
            gaps.setdefault(os.path.dirname(gap_file), set()).add((int(m.group(1)), int(m.group(2))))
            continue
        gap_file = None
        if any(e in line for e in ERRORS) and not RECORD.match(line):
            raise SystemExit(f"{data_dir}: DumpLogSegments reports: {line}")
    for pdir, pairs in gaps.items():
        offsets = [r["offset"] for r in json.load(open(os.path.join(pdir, "expected.json")))["records"]]
        real = {(a, b) for a, b in zip(offsets, offsets[1:]) if b != a + 1}
        if not pairs <= real:
            raise SystemExit(f"{pdir}: Kafka reports offset gaps partlog did not write: {sorted(pairs - real)[:5]}")
    sections = by_file(sanity)
    for path in indexes:
        name = os.path.basename(path)
        said = "\n".join(sections.get(path, []))
        if f"{name} passed sanity check." not in said and f"{name} is empty." not in said:
            raise SystemExit(f"{path}: no 'passed sanity check' from --index-sanity-check")
    dumped = by_file(output)
    missing = [f for f in files if f not in dumped]
    if missing:
        raise SystemExit(f"DumpLogSegments did not dump {missing[:3]}")
    batches = sum(1 for lines in dumped.values() for line in lines if BATCH.match(line))
    records = compared = 0
    for p in partitions:
        pdir = os.path.join(data_dir, p)
        logs = {f: dumped[f] for f in files if f.startswith(pdir + "/") and f.endswith(".log")}
        for lines in logs.values():
            for line in lines:
                m = BATCH.match(line)
                if m and m.group(4) != "true":
                    raise SystemExit(f"{pdir}: invalid batch: {line}")
        config = os.path.join(data_dir, PARTITION.match(p).group(1) + ".conf")
        ts_type = "CreateTime"
        if os.path.isfile(config) and "message.timestamp.type=LogAppendTime" in open(config).read():
            ts_type = "LogAppendTime"
        if os.path.isfile(os.path.join(pdir, "expected.json")):
            n, c = check_partition(pdir, logs, ts_type)
            records, compared = records + n, compared + c
        else:
            raise SystemExit(f"{pdir}: no expected.json")
    offsets = [f for f in files if "/__consumer_offsets-" in f and f.endswith(".log")]
    decoded = 0
    if offsets:
        out = dump(lib, ["--deep-iteration", "--offsets-decoder", "--files", ",".join(offsets)])
        for line in out.split("\n"):
            if any(e in line for e in ERRORS):
                raise SystemExit(f"{data_dir}: --offsets-decoder reports: {line}")
            if line.startswith("| offset:"):
                # key: {"type":"1","data":{...}} payload: {...}: both parsed by Kafka's schemas.
                m = re.search(r" key: (\{.*\}) payload: (.*)$", line)
                if not m or "unknown" in line.lower():
                    raise SystemExit(f"{data_dir}: --offsets-decoder could not decode: {line[:300]}")
                json.loads(m.group(1))
                if m.group(2) != "<DELETE>":
                    json.loads(m.group(2))
                decoded += 1
        if decoded == 0:
            raise SystemExit(f"{data_dir}: no __consumer_offsets record decoded")
    print(f"{data_dir}: {len(partitions)} partitions, {len(files)} files, {batches} batches, {records} records "
          f"as partlog wrote them ({compared} with their key and value text), {len(indexes)} indexes passed "
          f"Kafka's sanity check, {decoded} __consumer_offsets records decoded")


def main():
    lib = sys.argv[1]
    for data_dir in sys.argv[2:]:
        check_dir(lib, data_dir)


if __name__ == "__main__":
    main()
