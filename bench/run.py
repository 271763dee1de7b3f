#!/usr/bin/env python3
"""Runs xsched's GPU benchmarks, all or some, and prints one summary table.

    python3 bench/run.py [--quick] [--only priority,bandwidth,preempt,overhead,daemon]
                         [--build-dir build/release] [--out-root bench/results]

Each benchmark is its own script (bench/<name>/<name>.py) writing raw.json, its plots, table and
summary.json into <out-root>/<name>/; this runs them one after another with the same binaries and
then reads every summary.json back into one table: each headline figure beside its target (from
docs/benchmarks.md, "Targets") and whether it is met. --quick makes every benchmark short (all of them together in
under five minutes on an H100); without it each runs at its full length (about 35 minutes at most
together). The daemon benchmark is not in the default set (it measures the control plane, not
the GPU); name it with --only.

Exit code: 0 every benchmark ran, 1 one failed (the others still ran), 2 bad arguments, 77 no GPU
(every benchmark said so).
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent / "common"))
import benchlib  # noqa: E402

ROOT = benchlib.repo_root()
EXIT_NO_GPU = 77
DEFAULT = ("priority", "bandwidth", "preempt", "overhead")
ALL = DEFAULT + ("daemon",)


def commands(name: str, a: argparse.Namespace, out: Path) -> list[str]:
    """The command line of one benchmark."""
    py = sys.executable
    xsched = str(a.build_dir / "xsched")
    if name == "priority":
        return [py, str(ROOT / "bench/priority/priority.py"), "--xsched", xsched, "--out", str(out)] + \
            (["--quick"] if a.quick else [])
    if name == "bandwidth":
        return [py, str(ROOT / "bench/bandwidth/bandwidth.py"), "--xsched", xsched, "--out", str(out)] + \
            (["--quick"] if a.quick else [])
    if name == "preempt":
        return [py, str(ROOT / "bench/preempt/preempt.py"), "--build", "--xsched", xsched, "--out", str(out)] + \
            (["--t-us", "500", "--samples", "60", "--rounds", "1", "--deployments", "inprocess"] if a.quick else [])
    if name == "overhead":
        # A minute of rounds keeps the four quick runs within five minutes; the interval says what it bought.
        return [py, str(ROOT / "bench/overhead/overhead.py"), "--xsched", xsched, "--out", str(out)] + \
            (["--quick", "--max-seconds", "60"] if a.quick else [])
    if name == "daemon":
        return [py, str(ROOT / "bench/daemon/decision.py"), "--build-dir", str(a.build_dir), "--out", str(out),
                "--platforms", "cpu,gpu", "--modes", "sleep,busy"] + \
            (["--scales", "2x1", "--gpu-scales", "2x1", "--seconds", "3"] if a.quick else ["--rounds", "2"])
    raise ValueError(name)


def at_most(limit: float) -> Callable[[float], bool]:
    """A target met by values <= limit."""
    return lambda v: v <= limit


def at_least(limit: float) -> Callable[[float], bool]:
    """A target met by values >= limit."""
    return lambda v: v >= limit


def targets(name: str, summary: dict[str, Any]) -> list[tuple[str, Any, str, Optional[bool]]]:
    """(figure, value, target, met) for a benchmark's headline figures."""
    rows: list[tuple[str, Any, str, Optional[bool]]] = []

    def add(key: str, text: str, test: Callable[[float], bool]) -> None:
        if key not in summary:
            return  # not measured in this run (--quick runs fewer)
        v = summary[key]
        ok = None if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) else test(v)
        rows.append((key, v, text, ok))

    if name == "priority":
        for d in ("inprocess", "crossprocess"):
            for v in ("native", "streamprio", "level1", "level2", "level1_bp", "level2_bp", "default", "reserve"):
                if f"high_p50_ratio_{d}_{v}" not in summary:
                    continue
                # Targets apply to xsched's variants; the baselines are shown against the same bar.
                add(f"high_p50_ratio_{d}_{v}", "<= 1.02", at_most(1.02))
                add(f"high_p99_ratio_{d}_{v}", "<= 1.05", at_most(1.05))
                add(f"low_idle_use_{d}_{v}", ">= 0.90", at_least(0.90))
    elif name == "bandwidth":
        for s in ("75_25", "50_50"):
            add(f"share_error_points_{s}", "<= 2", at_most(2.0))
            add(f"total_throughput_ratio_{s}", ">= 0.985", at_least(0.985))
    elif name == "preempt":
        for t in (50, 500, 2000):
            add(f"p99_us_level2_{t}", f"<= {t + 20}", at_most(t + 20.0))
            add(f"p99_us_reserve_{t}", "<= 30", at_most(30.0))
            add(f"p99_us_level2_xproc_{t}", f"<= {t + 50}", at_most(t + 50.0))
    elif name == "overhead":
        add("geomean_slowdown", "<= 1.01", at_most(1.01))
        add("cpu_us_per_launch", "<= 0.5", at_most(0.5))
    elif name == "daemon":
        for tag in ("", "_busypoll"):
            add(f"decision_p99_us_cpu{tag}", "<= 50", at_most(50.0))
            add(f"decision_p99_us_gpu{tag}", "<= 50", at_most(50.0))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short runs: all of them in under five minutes")
    ap.add_argument("--only", default=",".join(DEFAULT), help=f"comma-separated, of {', '.join(ALL)}")
    ap.add_argument("--build-dir", type=Path, default=ROOT / "build" / "release",
                    help="where xsched, xschedd and the libraries are (default build/release)")
    ap.add_argument("--out-root", type=Path, default=ROOT / "bench" / "results")
    a = ap.parse_args()
    names = [n.strip() for n in a.only.split(",") if n.strip()]
    bad = [n for n in names if n not in ALL]
    if bad or not names:
        print(f"unknown benchmark(s) {bad}; choose from {', '.join(ALL)}", file=sys.stderr)
        return 2
    a.build_dir = a.build_dir.resolve()
    if not (a.build_dir / "xsched").exists():
        print(f"{a.build_dir / 'xsched'} not found: build first (cmake --preset release && "
              "cmake --build --preset release)", file=sys.stderr)
        return 2
    results: dict[str, int] = {}
    for name in names:
        out = a.out_root / name
        cmd = commands(name, a, out)
        print(f"=== {name}: {' '.join(cmd)}", file=sys.stderr, flush=True)
        t = time.monotonic()
        results[name] = subprocess.run(cmd, check=False).returncode
        print(f"=== {name}: exit {results[name]} after {time.monotonic() - t:.0f} s", file=sys.stderr, flush=True)
    if all(rc == EXIT_NO_GPU for rc in results.values()):
        print("no GPU: every benchmark skipped", file=sys.stderr)
        return EXIT_NO_GPU
    rows = []
    for name in names:
        path = a.out_root / name / "summary.json"
        summary = json.loads(path.read_text()) if path.exists() and results[name] != EXIT_NO_GPU else {}
        if not summary:
            rows.append([name, "(no summary)", "", "", f"exit {results[name]}"])
            continue
        for key, value, target, ok in targets(name, summary):
            shown = f"{value:.3f}" if isinstance(value, float) else str(value)
            rows.append([name, key, shown, target, {True: "met", False: "MISSED", None: "-"}[ok]])
    print()
    print(benchlib.format_table(["benchmark", "figure", "value", "target", ""], rows,
                                right=[False, False, True, False, False]))
    return 0 if all(rc == 0 for rc in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
