#!/usr/bin/env python3
"""Compares what a Kafka consumer read from a broker (Client.java's `dump` JSON) with what
partlog wrote (each partition directory's expected.json):

    compare_dump.py PARTLOG_DATA_DIR DUMP.json

Offsets, timestamps, keys, values and headers must be identical, record for record.
"""
import json
import os
import sys


def main():
    data_dir, dump_path = sys.argv[1:3]
    dump = json.load(open(dump_path))["topics"]
    total = 0
    for topic, partitions in sorted(dump.items()):
        for partition, theirs in sorted(partitions.items()):
            expected = json.load(open(os.path.join(data_dir, f"{topic}-{partition}", "expected.json")))["records"]
            theirs = [{k: v for k, v in r.items() if k != "timestamp_type"} for r in theirs]
            if theirs != expected:
                i = next((i for i, (a, b) in enumerate(zip(theirs, expected)) if a != b),
                         min(len(theirs), len(expected)))
                raise SystemExit(f"{topic}-{partition}: {len(theirs)} records from Kafka, {len(expected)} "
                                 f"written by partlog; record {i} differs:\n kafka:   "
                                 f"{theirs[i] if i < len(theirs) else None}\n partlog: "
                                 f"{expected[i] if i < len(expected) else None}")
            total += len(theirs)
    if total == 0:
        raise SystemExit("nothing compared")
    print(f"{total} records in {sum(len(p) for p in dump.values())} partitions: a Kafka consumer read "
          f"them from the broker exactly as partlog wrote them")


if __name__ == "__main__":
    main()
