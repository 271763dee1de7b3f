#!/usr/bin/env python3
"""Draws a timeline written by `xsched run --timeline` or `xschedd --timeline` as a picture.

    scripts/timeline_png.py TRACE.json OUT.png [--from-ms A] [--to-ms B] [--title T]

The file is Chrome's trace-event JSON, which ui.perfetto.dev and chrome://tracing open
interactively; this draws the same tracks for documents and reports where no browser is at
hand: one row per queue (named as the file names it), its launches as ticks, the spans it was
held as bars coloured by reason, gate and back-pressure events as marks, and an arrow from the
change that caused each hold to the hold. Times are milliseconds from the first event drawn.
Needs matplotlib (exit 77 without it).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

#: Colours of held spans by their reason (args.reason); others get the last one.
REASON_COLOURS = {"policy": "#C44E52", "xschedd": "#8172B2", "user": "#937860", "policy timer": "#DD8452"}
OTHER_COLOUR = "#8C8C8C"


def load(path: Path) -> list[dict[str, Any]]:
    doc = json.loads(path.read_text())
    events = doc["traceEvents"] if isinstance(doc, dict) else doc
    if not isinstance(events, list):
        raise ValueError(f"{path}: no traceEvents array")
    return events


def track_names(events: list[dict[str, Any]]) -> dict[tuple[int, int], str]:
    """(pid, tid) -> the name the file gives the track, with its process's name where there are several."""
    procs = {e["pid"]: e["args"]["name"] for e in events if e.get("ph") == "M" and e.get("name") == "process_name"}
    names = {}
    for e in events:
        if e.get("ph") == "M" and e.get("name") == "thread_name":
            name = e["args"]["name"]
            if len(procs) > 1:
                name = f"{procs.get(e['pid'], e['pid'])}: {name}"
            names[(e["pid"], e["tid"])] = name
    return names


def draw(events: list[dict[str, Any]], out: Path, t_from: float, t_to: float, title: str) -> int:
    """Draws the events between t_from and t_to ms after the first; returns how many were drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timed = [e for e in events if e.get("ph") != "M" and isinstance(e.get("ts"), (int, float))]
    if not timed:
        raise ValueError("the timeline has no timed events")
    t0 = min(e["ts"] for e in timed)
    names = track_names(events)
    keys = sorted({(e["pid"], e["tid"]) for e in timed if e.get("tid", 0) != 0} | set(names))
    row = {k: i for i, k in enumerate(keys)}

    def ms(us: float) -> float:
        return (us - t0) / 1000.0

    def shown(e: dict[str, Any]) -> bool:
        start = ms(e["ts"])
        end = start + e.get("dur", 0) / 1000.0
        return end >= t_from and start <= t_to

    fig, ax = plt.subplots(figsize=(12, 1.2 + 0.55 * len(keys)))
    launches: dict[int, list[float]] = defaultdict(list)
    reasons_seen = set()
    drawn = 0
    for e in timed:
        k = (e["pid"], e["tid"])
        if k not in row or not shown(e):
            continue
        y = row[k]
        drawn += 1
        name = e.get("name", "")
        if e["ph"] == "X" and name == "held":
            reason = e.get("args", {}).get("reason", "")
            reasons_seen.add(reason)
            ax.barh(y, e["dur"] / 1000.0, left=ms(e["ts"]), height=0.5, color=REASON_COLOURS.get(reason, OTHER_COLOUR),
                    alpha=0.55, edgecolor="none")
        elif e["ph"] == "X":
            ax.barh(y + 0.3, max(e["dur"] / 1000.0, 0.002), left=ms(e["ts"]), height=0.12, color="#4C72B0")
        elif e["ph"] == "i" and name.startswith("launch"):
            launches[y].append(ms(e["ts"]))
        elif e["ph"] == "i":
            ax.plot([ms(e["ts"])], [y - 0.32], marker="v", color="#55A868", markersize=4)
    for y, xs in launches.items():
        ax.vlines(xs, y - 0.2, y + 0.2, color="#222222", linewidth=0.4)
    starts = {e["id"]: e for e in timed if e["ph"] == "s"}
    for e in timed:
        if e["ph"] != "f" or e.get("id") not in starts:
            continue
        s = starts[e["id"]]
        ks, kf = (s["pid"], s["tid"]), (e["pid"], e["tid"])
        if ks in row and kf in row and shown(s) and shown(e):
            ax.annotate("", xy=(ms(e["ts"]), row[kf]), xytext=(ms(s["ts"]), row[ks]),
                        arrowprops={"arrowstyle": "->", "color": "#555555", "lw": 0.6})
    ax.set_yticks(range(len(keys)))
    ax.set_yticklabels([names.get(k, f"pid {k[0]} track {k[1]}")[:60] for k in keys], fontsize=7)
    ax.invert_yaxis()
    last = max(ms(e["ts"] + e.get("dur", 0)) for e in timed)
    ax.set_xlim(max(t_from, 0.0), min(t_to, last))
    ax.set_xlabel("ms")
    handles = [plt.Rectangle((0, 0), 1, 1, color=REASON_COLOURS.get(r, OTHER_COLOUR), alpha=0.55)
               for r in sorted(reasons_seen)]
    handles.append(plt.Line2D([], [], color="#222222", linewidth=0.8))
    handles.append(plt.Line2D([], [], color="#55A868", marker="v", linestyle="none"))
    ax.legend(handles, [f"held ({r or 'no reason'})" for r in sorted(reasons_seen)] + ["launch", "gate / wait"],
              fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.35 if len(keys) < 4 else -0.12), ncol=6)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=140)
    plt.close(fig)
    return drawn


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--from-ms", type=float, default=0.0, help="start of the window, ms after the first event")
    ap.add_argument("--to-ms", type=float, default=float("inf"), help="end of the window (default: the last event)")
    ap.add_argument("--title", default=None)
    a = ap.parse_args(argv)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("timeline_png: needs matplotlib (Debian: python3-matplotlib)", file=sys.stderr)
        return 77
    try:
        n = draw(load(a.trace), a.out, a.from_ms, a.to_ms, a.title or a.trace.name)
    except (OSError, ValueError, KeyError) as exc:
        print(f"timeline_png: {exc}", file=sys.stderr)
        return 1
    if n == 0:
        print(f"timeline_png: no event of a queue's track falls in the window", file=sys.stderr)
        return 1
    print(f"timeline_png: {n} events drawn to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
