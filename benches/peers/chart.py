#!/usr/bin/env python3
"""Draws the README's performance chart from the peers bench's own results.

    cd benches/peers && cargo bench --bench peers && python3 chart.py

Reads criterion's estimates (target/criterion/<group>/<peer>/new/estimates.json: the median
time of one iteration, which appends or reads all RECORDS records) and writes
../../docs/performance.svg: records per second for each peer, appends and full reads, with the
physical bounds the bench measures beside them. Standard library only.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CRITERION = os.path.join(HERE, "target", "criterion")
OUT = os.path.join(HERE, "..", "..", "docs", "performance.svg")
RECORDS = 1_000_000  # benches/peers/benches/common: RECORDS

GROUPS = [
    ("append_1M_batches_of_100", "Append 1M records (~90 B) in batches of 100"),
    ("read_1M", "Read the 1M records back in full"),
]
LABELS = {
    "partlog": "partlog",
    "partlog-no-prefill-thread": "partlog, no prefill thread",
    "commitlog": "commitlog 0.2",
    "ironwal": "ironwal 0.6",
    "sqlite": "SQLite (rusqlite)",
    "file-bound": "bound: buffered write / mmap scan",
}
ORDER = list(LABELS)
COLORS = {"partlog": "#1f6feb", "partlog-no-prefill-thread": "#6ea8fe", "file-bound": "#8b949e"}
PEER_COLOR = "#d29922"


def rates(group):
    """Peer name -> records/s from the median iteration time, for the peers measured."""
    out = {}
    for peer in ORDER:
        path = os.path.join(CRITERION, group, peer, "new", "estimates.json")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            median_ns = json.load(f)["median"]["point_estimate"]
        out[peer] = RECORDS / (median_ns / 1e9)
    return out


def escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def main():
    panels = [(title, rates(group)) for group, title in GROUPS]
    if not any(r for _, r in panels):
        sys.exit(f"no results under {CRITERION}: run `cargo bench --bench peers` first")
    width, label_w, bar_w, row_h, gap = 760, 230, 420, 22, 6
    y = 40
    parts = []
    for title, r in panels:
        parts.append(f'<text x="10" y="{y}" font-weight="bold">{escape(title)}</text>')
        y += 12
        top = max(r.values()) if r else 1
        base = r.get("partlog")
        for peer in [p for p in ORDER if p in r]:
            value = r[peer]
            w = max(1, round(bar_w * value / top))
            color = COLORS.get(peer, PEER_COLOR)
            ratio = f" (partlog {base / value:.2f}×)" if base and peer not in ("partlog",) else ""
            parts.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{escape(LABELS[peer])}</text>')
            parts.append(f'<rect x="{label_w}" y="{y + 2}" width="{w}" height="{row_h - 4}" fill="{color}"/>')
            parts.append(
                f'<text x="{label_w + w + 6}" y="{y + 15}">{value / 1e6:.1f} M/s{escape(ratio)}</text>'
            )
            y += row_h + gap
        y += 24
    height = y
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="13">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        '<text x="10" y="20" font-size="15" font-weight="bold">partlog beside its peers: records per second, '
        "median of one run (higher is better)</text>",
        *parts,
        "</svg>",
    ]
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("\n".join(svg) + "\n")
    for title, r in panels:
        print(title + ": " + ", ".join(f"{p} {v / 1e6:.2f} M/s" for p, v in r.items()))
    print(f"wrote {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
