#!/usr/bin/env python3
"""Markdown table of two decision_compute --json outputs (before, after): per scale and event,
each phase's p50 / p99 / max in microseconds.

    python3 bench/daemon/decision_compute_table.py BEFORE.json AFTER.json > table.md
"""
import json
import sys

COLUMNS = ("scan", "engine", "windows", "publish", "ring", "other", "total", "to_last_store")


def cell(d: dict) -> str:
    return f"{d['p50'] / 1000:.2f} / {d['p99'] / 1000:.2f} / {d['max'] / 1000:.0f}"


def main() -> int:
    before, after = (json.load(open(p)) for p in sys.argv[1:3])
    for event in ("hold", "mid_ring", "report", "release"):
        print(f"\n### {event}\n")
        print("| scale | phase | before p50 / p99 / max µs | after p50 / p99 / max µs |")
        print("|---|---|---|---|")
        for scale in after:
            for col in COLUMNS:
                if col == "to_last_store" and event not in ("hold", "mid_ring"):
                    continue
                b, a = before.get(scale, {}).get(event, {}).get(col), after[scale][event][col]
                print(f"| {scale} | {col} | {cell(b) if b else '-'} | {cell(a)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
