#!/usr/bin/env python3
"""Carries a partlog data directory's checkpoint entries into a broker's checkpoint file of the
same name (both are Kafka's format: `0`, a count, then `topic partition offset` lines):

    merge_checkpoints.py FROM TO TOPIC_PREFIX

Entries of topics starting with TOPIC_PREFIX replace or join TO's. Used for
cleaner-offset-checkpoint: it tells the broker's LogCleaner how far partlog compacted.
"""
import os
import sys


def entries(path):
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return {}
    lines = open(path).read().split("\n")
    if lines[0] != "0":
        raise SystemExit(f"{path}: not a version-0 checkpoint")
    return {tuple(line.split()[:2]): line.split()[2] for line in lines[2:2 + int(lines[1])]}


def main():
    src, dst, prefix = sys.argv[1:4]
    merged = entries(dst)
    merged.update({k: v for k, v in entries(src).items() if k[0].startswith(prefix)})
    body = "".join(f"{t} {p} {o}\n" for (t, p), o in sorted(merged.items()))
    tmp = dst + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"0\n{len(merged)}\n{body}")
    os.replace(tmp, dst)


if __name__ == "__main__":
    main()
