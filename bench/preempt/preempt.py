#!/usr/bin/env python3
"""Preemption-latency benchmark: how long a high-priority kernel waits while low kernels of T us fill the GPU.

    python3 bench/preempt/preempt.py --build [--xsched build/release/xsched] [--t-us 50,500,2000]
                                     [--samples 200] [--rounds 2] [--variants native,streamprio,...]
    python3 bench/preempt/preempt.py --replot bench/results/preempt/raw.json

Each run is one process of bench/preempt/preempt.cu (built with --build, or given with --bin): a low
thread keeps every SM busy with kernels of T us; a high thread launches a one-warp kernel at random
times (exponential gaps) and the program reports, per launch, the time from the host's submit to
the kernel's first instruction (device clock mapped onto the host clock). Variants:

    native      the program alone, high stream at CUDA priority 0 (no priority at all)
    streamprio  alone, high stream at CUDA priority -1 (hardware stream priorities only)
    level1_w4   xsched run --level 1 --window 4, high at -1 (xsched: the more urgent queue)
    level1_w16  xsched run --level 1 --window 16, high at -1
    level2      xsched run --level 2, high at -1
    reserve     xsched run --level 2 --reserve-sms 8, high at -1

Each round runs every (T, variant) once, the variants of one T back to back with the same seed
(same arrival times), their order rotated and flipped from round to round so that slow drifts of
the machine fall on all of them; samples are pooled per (variant, T) over the rounds.

Outputs in --out (default bench/results/preempt): raw.json (every run: command, round, exit code,
stderr tail and the program's JSON), table.md (the summary table, also printed), preempt.png
(p50/p99 per variant and T, and the latency CDFs; needs matplotlib), summary.json (flat: device,
command, date, p50_us_<variant>_<T>, p99_us_<variant>_<T>, target_met_level2_<T> for DESIGN.md's
target "Level 2 p99 <= T + 20 us"). --replot RAW rebuilds table, plot and summary from a raw.json.
Exit code: 0 all runs ok, 1 some run failed (the others are still reported), 2 bad arguments,
77 no GPU (every run said so).
"""
from __future__ import annotations

import argparse
import atexit
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
import benchlib  # noqa: E402

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "preempt.cu"

#: DESIGN.md: "p99 from high's submit to its first kernel start <= T + 20 us at Level 2".
TARGET_SLACK_US = 20.0
#: preempt's exit code when there is no GPU.
EXIT_NO_GPU = 77
#: The interposer's warning when a CUDA queue cannot have the level asked for (src/interpose/cuda/state.cpp),
#: in either wording it has had: "CUDA queues support level 1 at most; XSCHED_LEVEL=2 is lowered" and
#: "XSCHED_LEVEL=2: this device's CUDA queues support level 1 at most; using it".
LOWERED_RE = re.compile(r"XSCHED_LEVEL=\d+.*(?:is lowered|at most)")


@dataclass(frozen=True)
class Variant:
    """One way of running the program: under xsched (with these `xsched run` options) or not."""

    name: str
    xsched_args: Optional[tuple[str, ...]]  # None: the program alone
    high_priority: int
    what: str


VARIANTS = {v.name: v for v in (
    Variant("native", None, 0, "alone, high at CUDA priority 0"),
    Variant("streamprio", None, -1, "alone, high at CUDA priority -1"),
    Variant("level1_w4", ("--level", "1", "--window", "4"), -1, "xsched Level 1, window 4"),
    Variant("level1_w16", ("--level", "1", "--window", "16"), -1, "xsched Level 1, window 16"),
    Variant("level2", ("--level", "2"), -1, "xsched Level 2"),
    Variant("reserve", ("--level", "2", "--reserve-sms", "8"), -1, "xsched Level 2, 8 SMs reserved"),
)}


# =============================================================================================
# Options
# =============================================================================================
def int_list(text: str) -> list[int]:
    """'50,500,2000' -> [50, 500, 2000] (positive integers, in µs)."""
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"need positive integers: {text!r}")
    return values


def variant_list(text: str) -> list[str]:
    """'native,level2' -> ['native', 'level2'], checked against VARIANTS."""
    names = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}")
    return names


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The runner's options."""
    root = benchlib.repo_root()
    p = argparse.ArgumentParser(
        description="Preemption latency: a high kernel's submit-to-start time while low kernels of T us fill the GPU.")
    p.add_argument("--bin", type=Path, help="the compiled preempt program")
    p.add_argument("--build", action="store_true", help="build preempt.cu with nvcc into a temporary folder")
    p.add_argument("--nvcc", default=None, help="nvcc for --build (default: $CUDA_HOME/bin/nvcc, "
                                                "/usr/local/cuda/bin/nvcc, or nvcc on PATH)")
    p.add_argument("--arch", default="sm_90", help="GPU architecture for --build (default sm_90)")
    p.add_argument("--xsched", type=Path, default=benchlib.default_xsched(),
                   help="the xsched CLI (default build/release/xsched)")
    p.add_argument("--t-us", type=int_list, default=[50, 500, 2000], help="low kernel lengths, µs (default 50,500,2000)")
    p.add_argument("--samples", type=int, default=200, help="timed high kernels per run (default 200)")
    p.add_argument("--rounds", type=int, default=2, help="rounds; samples are pooled over them (default 2)")
    p.add_argument("--variants", type=variant_list, default=list(VARIANTS),
                   help=f"comma-separated subset of {','.join(VARIANTS)} (default all)")
    p.add_argument("--mean-gap-us", type=float, default=5000.0, help="mean gap between high kernels, µs (default 5000)")
    p.add_argument("--low-depth", type=int, default=8, help="low kernels in flight before the low thread waits (default 8)")
    p.add_argument("--seed", type=int, default=1, help="base seed of the arrival times (default 1)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds allowed per run (default: 60 + 3x the expected run time)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default bench/results/preempt; with --replot: the raw file's folder)")
    p.add_argument("--replot", type=Path, metavar="RAW",
                   help="rebuild table.md, preempt.png and summary.json from an existing raw.json; runs nothing")
    args = p.parse_args(argv)
    if args.out is None:
        args.out = args.replot.resolve().parent if args.replot is not None else root / "bench" / "results" / "preempt"
    if args.replot is not None:
        return args
    if args.samples < 1 or args.rounds < 1 or args.low_depth < 1 or args.mean_gap_us <= 0:
        p.error("--samples, --rounds, --low-depth and --mean-gap-us must be positive")
    if args.bin is not None and args.build:
        p.error("give --bin or --build, not both")
    if args.bin is None and not args.build:
        p.error("no program: give --bin PATH (a compiled preempt.cu) or --build")
    return args


# =============================================================================================
# Building and running
# =============================================================================================
def find_nvcc(given: Optional[str]) -> Optional[str]:
    """The nvcc to build with, or None."""
    if given:
        return given
    candidates = [Path(os.environ["CUDA_HOME"]) / "bin" / "nvcc"] if os.environ.get("CUDA_HOME") else []
    candidates.append(Path("/usr/local/cuda/bin/nvcc"))
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    return shutil.which("nvcc")


def build_command(nvcc: str, arch: str, out: Path) -> list[str]:
    """The exact nvcc command that builds preempt (also given in the README)."""
    return [nvcc, "-O2", "-std=c++20", f"-arch={arch}", "-Xcompiler", "-Wall,-Wextra", "-o", str(out), str(SOURCE)]


def build(nvcc_given: Optional[str], arch: str) -> Path:
    """Compile preempt.cu into a temporary folder (removed at exit); exit 2 when that fails."""
    nvcc = find_nvcc(nvcc_given)
    if nvcc is None:
        sys.exit("preempt: nvcc not found (pass --nvcc or --bin)")
    tmp = Path(tempfile.mkdtemp(prefix="xsched-preempt-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    cmd = build_command(nvcc, arch, tmp / "preempt")
    print(f"building: {shlex.join(cmd)}", flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(done.stdout + done.stderr, file=sys.stderr)
        print("preempt: build failed", file=sys.stderr)
        sys.exit(2)
    return tmp / "preempt"


def native_environment() -> dict[str, str]:
    """This process's environment without any xsched preload (for the variants that run alone)."""
    env = dict(os.environ)
    kept = [x for x in env.get("LD_PRELOAD", "").replace(":", " ").split() if "xsched" not in x]
    if kept:
        env["LD_PRELOAD"] = " ".join(kept)
    else:
        env.pop("LD_PRELOAD", None)
    return env


def expected_seconds(t_us: int, samples: int, args: argparse.Namespace) -> float:
    """A generous estimate of one run's length: probes at gap + T each, plus set-up and calibration."""
    probes = samples + 5 + 20  # + warm-up and idle probes
    return 2.0 + probes * (args.mean_gap_us + 2 * t_us) / 1e6


def tail(text: str, lines: int = 15) -> str:
    """The last lines of a process's output."""
    return "\n".join(text.splitlines()[-lines:])


def run_one(args: argparse.Namespace, binary: Path, xsched: Optional[Path], variant: Variant, t_us: int,
            rnd: int, seed: int, work: Path) -> dict[str, Any]:
    """One run of the program; never raises for the program's failures (they are recorded)."""
    timeout = args.timeout or 60.0 + 3.0 * expected_seconds(t_us, args.samples, args)
    out_json = work / f"r{rnd}_{variant.name}_{t_us}.json"
    prog = [str(binary), "--t-us", str(t_us), "--samples", str(args.samples), "--mean-gap-us", f"{args.mean_gap_us:g}",
            "--high-priority", str(variant.high_priority), "--out", str(out_json), "--seed", str(seed),
            "--low-depth", str(args.low_depth), "--watchdog-s", str(max(5, int(timeout) - 10))]
    if variant.xsched_args is None:
        argv, env = prog, native_environment()
    else:
        argv, env = [str(xsched), "run", *variant.xsched_args, "--", *prog], dict(os.environ)
    rec: dict[str, Any] = {"variant": variant.name, "t_us": t_us, "round": rnd, "seed": seed,
                           "command": shlex.join(argv), "timeout_s": timeout}
    t0 = time.monotonic()
    try:
        # Own process group: on a timeout, `xsched run` and the program under it go together.
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
    except OSError as exc:
        rec.update(status="failed", rc=None, error=f"cannot start: {exc}", wall_s=0.0)
        return rec
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        kill_group(proc)
        stdout, stderr = proc.communicate()
        timed_out = True
    rec.update(rc=proc.returncode, wall_s=time.monotonic() - t0, stdout_tail=tail(stdout), stderr_tail=tail(stderr))
    lowered = [line for line in stderr.splitlines() if LOWERED_RE.search(line)]
    rec["level_lowered"] = bool(lowered)
    if lowered:
        rec["level_warning"] = lowered[0].strip()
    result = None
    if out_json.is_file():
        try:
            result = json.loads(out_json.read_text())
        except ValueError as exc:
            rec["error"] = f"unreadable output: {exc}"
        out_json.unlink()
    rec["result"] = result
    rec["status"] = classify(rec, timed_out, variant)
    return rec


def classify(rec: dict[str, Any], timed_out: bool, variant: Variant) -> str:
    """ok, no-gpu, timeout, failed or not-interposed; sets rec['error'] for the bad ones."""
    if timed_out:
        rec["error"] = f"no exit within {rec['timeout_s']:.0f} s; killed"
        return "timeout"
    if rec["rc"] == EXIT_NO_GPU:
        rec["error"] = "no GPU"
        return "no-gpu"
    result = rec["result"]
    if rec["rc"] != 0 or result is None:
        rec.setdefault("error", f"exit code {rec['rc']}" + ("" if result is not None else ", no output"))
        return "failed"
    if result.get("interposed") != (variant.xsched_args is not None):
        rec["error"] = ("no xsched library in the process under `xsched run`" if variant.xsched_args is not None
                        else "an xsched library is mapped in a run meant to be native (LD_PRELOAD?)")
        return "not-interposed"
    return "ok"


def kill_group(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL, the run's process group."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


def round_order(variants: Sequence[str], rnd: int) -> list[str]:
    """The variants' order in a round: reversed every other round (a linear drift then falls evenly on
    all), and rotated by one every two rounds (no variant keeps a place): abcde, edcba, bcdea, aedcb, ..."""
    k = (rnd // 2) % len(variants)
    order = list(variants[k:]) + list(variants[:k])
    return order[::-1] if rnd % 2 else order


def run_all(args: argparse.Namespace, binary: Path, xsched: Optional[Path]) -> list[dict[str, Any]]:
    """Every (round, T, variant) once; prints one line per run."""
    runs: list[dict[str, Any]] = []
    total = args.rounds * len(args.t_us) * len(args.variants)
    with tempfile.TemporaryDirectory(prefix="xsched-preempt-runs-") as work:
        for rnd in range(args.rounds):
            order = round_order(args.variants, rnd)
            for ti, t_us in enumerate(args.t_us):
                seed = args.seed + 1000 * rnd + ti  # the same arrivals for every variant of this (round, T)
                for name in order:
                    rec = run_one(args, binary, xsched, VARIANTS[name], t_us, rnd, seed, Path(work))
                    runs.append(rec)
                    print(f"  [{len(runs):3d}/{total}] round {rnd + 1} T={t_us:5d} us {name:11s} "
                          f"{run_line(rec)}", flush=True)
                    if rec["status"] == "no-gpu" and len(runs) == 1:
                        return runs  # nothing else can run either
    return runs


def run_line(rec: dict[str, Any]) -> str:
    """A one-line account of a run."""
    if rec["status"] != "ok":
        first = (rec.get("stderr_tail") or "").strip().splitlines()
        return f"{rec['status'].upper()}: {rec.get('error')}" + (f" ({first[-1]})" if first else "")
    res = rec["result"]
    xs = res["samples"]
    note = " (level lowered)" if rec.get("level_lowered") else ""
    return (f"p50 {benchlib.percentile(xs, 50):8.1f}  p99 {benchlib.percentile(xs, 99):8.1f}  max {max(xs):8.1f} us"
            f"  rtt {res['calib']['rtt_ns_before']}/{res['calib']['rtt_ns_after']} ns  {rec['wall_s']:.1f} s{note}")


# =============================================================================================
# Figures: table, plot, summary (also used by --replot)
# =============================================================================================
def t_key(t_us: Any) -> str:
    """The T part of a summary key: 50, 500, 2000."""
    return f"{float(t_us):g}"


def pooled(runs: list[dict[str, Any]], variants: Sequence[str], ts: Sequence[int]) -> dict[tuple[str, int], dict[str, Any]]:
    """Per (variant, T): the ok runs' samples pooled, and the run counts."""
    cells: dict[tuple[str, int], dict[str, Any]] = {}
    for v in variants:
        for t in ts:
            mine = [r for r in runs if r["variant"] == v and r["t_us"] == t]
            ok = [r for r in mine if r["status"] == "ok"]
            cells[(v, t)] = {
                "samples": [x for r in ok for x in r["result"]["samples"]],
                "seen": [x for r in ok for x in r["result"]["host_seen_us"]],
                "idle": [x for r in ok for x in r["result"].get("idle_us", [])],
                "runs": len(mine), "ok": len(ok),
                "lowered": any(r.get("level_lowered") for r in mine),
                "rtt_max_ns": max((max(r["result"]["calib"]["rtt_ns_before"], r["result"]["calib"]["rtt_ns_after"])
                                   for r in ok), default=None),
            }
    return cells


def cell_stats(cell: dict[str, Any]) -> dict[str, float]:
    """p50, p99, max of the start latency; p50 of host-seen and idle latency (NaN where empty)."""
    xs = cell["samples"]
    return {"n": len(xs), "p50": benchlib.percentile(xs, 50), "p99": benchlib.percentile(xs, 99),
            "max": max(xs) if xs else math.nan, "seen_p50": benchlib.percentile(cell["seen"], 50),
            "idle_p50": benchlib.percentile(cell["idle"], 50)}


def fmt(v: Optional[float], spec: str = ".1f") -> str:
    """A number, or n/a."""
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def target_met(variant: str, t_us: int, cell: dict[str, Any]) -> Optional[bool]:
    """Level 2's target, p99 <= T + 20 µs. None for other variants, where there are no samples, and
    where the interposer lowered the level (then what ran was not Level 2)."""
    st = cell_stats(cell)
    if variant != "level2" or cell["lowered"] or not math.isfinite(st["p99"]):
        return None
    return st["p99"] <= t_us + TARGET_SLACK_US


def table_rows(cells: dict[tuple[str, int], dict[str, Any]], variants: Sequence[str],
               ts: Sequence[int]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the summary table: one row per (T, variant)."""
    headers = ["T us", "variant", "n", "p50 us", "p99 us", "max us", "p99-T us", "seen p50", "idle p50", "runs ok",
               "target"]
    rows = []
    for t in ts:
        for v in variants:
            cell = cells[(v, t)]
            st = cell_stats(cell)
            met = target_met(v, t, cell)
            target = "" if met is None else ("met" if met else "MISSED")
            if cell["lowered"]:
                target = "ran as Level 1"
            rows.append([str(t), v, str(st["n"]), fmt(st["p50"]), fmt(st["p99"]), fmt(st["max"]),
                         fmt(st["p99"] - t), fmt(st["seen_p50"]), fmt(st["idle_p50"]), f"{cell['ok']}/{cell['runs']}",
                         target.strip()])
    return headers, rows


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table, numbers right-aligned."""
    align = ["---" if i < 2 else "---:" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def notes(raw: dict[str, Any], cells: dict[tuple[str, int], dict[str, Any]]) -> list[str]:
    """Lines under the table: what the columns are, and anything that went wrong."""
    cfg = raw["config"]
    out = [f"Start latency: host submit -> the high kernel's first instruction (device clock mapped onto the host "
           f"clock), pooled over {cfg['rounds']} round(s) of {cfg['samples']} samples; high arrivals every "
           f"{cfg['mean_gap_us']:g} us on average (exponential). 'seen p50': submit -> the host saw the start stamp. "
           f"'idle p50': the same kernel with the GPU idle. Target (DESIGN.md): Level 2 p99 <= T + "
           f"{TARGET_SLACK_US:g} us."]
    if any(c["lowered"] for c in cells.values()):
        out.append("The interposer lowered the level asked for (it warned that its CUDA queues support a lower level): "
                   "those runs measured Level 1 with the default window, not Level 2; Level 2's target is not judged.")
    rtts = [c["rtt_max_ns"] for c in cells.values() if c["rtt_max_ns"] is not None]
    if rtts:
        out.append(f"Clock calibration: worst best-round-trip {max(rtts)} ns, so each start time is known to within "
                   f"+-{max(rtts) / 2000:.1f} us.")
    bad = [r for r in raw["runs"] if r["status"] != "ok"]
    for r in bad:
        out.append(f"Run round {r['round'] + 1} T={r['t_us']} {r['variant']}: {r['status']}: {r.get('error')}")
    return out


def plot(path: Path, cells: dict[tuple[str, int], dict[str, Any]], variants: Sequence[str], ts: Sequence[int],
         title: str) -> bool:
    """p50/p99/max bars per variant for each T (log scale, target line), and the CDFs below them."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib import ticker
    except Exception as exc:  # ImportError, or a broken backend
        print(f"note: matplotlib unavailable ({exc}); no plot written to {path}", file=sys.stderr)
        return False
    colors = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B2", "#937860", "#DA8BC3"]
    floor = 1.0  # µs: the log axes start here (0 and calibration-error negatives cannot be shown)

    def plain_log(axis: Any) -> None:
        """Log ticks at 1, 2, 5 x 10^k, written as plain numbers."""
        axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos: f"{v:g}"))
        axis.set_minor_formatter(ticker.NullFormatter())

    fig, axes = plt.subplots(2, len(ts), figsize=(max(6.0, 4.4 * len(ts)), 8.5), squeeze=False,
                             constrained_layout=True)
    for col, t in enumerate(ts):
        ax = axes[0][col]
        stats = [cell_stats(cells[(v, t)]) for v in variants]
        top = max([t + TARGET_SLACK_US] + [st["max"] for st in stats if st["n"]])
        for i, st in enumerate(stats):
            c = colors[i % len(colors)]
            if not st["n"]:
                ax.text(i, 0.03, "no data", rotation=90, ha="center", va="bottom", fontsize=8,
                        transform=ax.get_xaxis_transform())
                continue
            ax.bar(i, max(st["p99"], floor) - floor, bottom=floor, color=c, alpha=0.35, width=0.7)
            ax.bar(i, max(st["p50"], floor) - floor, bottom=floor, color=c, width=0.7)
            ax.plot([i], [max(st["max"], floor)], marker="_", markersize=14, color="black")
        ax.axhline(t + TARGET_SLACK_US, linestyle="--", linewidth=1, color="#C44E52",
                   label=f"T + {TARGET_SLACK_US:g} us (Level 2 target)")
        ax.axhline(t, linestyle=":", linewidth=1, color="gray", label="T")
        ax.set_yscale("log")
        ax.set_ylim(floor, top * 4)  # headroom for the legend
        plain_log(ax.yaxis)
        ax.set_xticks(list(range(len(variants))))
        ax.set_xticklabels(variants, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"T = {t} us: p50 (solid), p99 (light), max (-)", fontsize=9)
        if col == 0:
            ax.set_ylabel("submit -> start, us")
        ax.legend(fontsize=7, loc="upper left")

        ax = axes[1][col]
        for i, v in enumerate(variants):
            data = sorted(max(x, floor) for x in cells[(v, t)]["samples"])
            if data:
                ys = [(k + 1) / len(data) for k in range(len(data))]
                ax.step(data, ys, where="post", color=colors[i % len(colors)], label=v, linewidth=1.2)
        ax.axvline(t + TARGET_SLACK_US, linestyle="--", linewidth=1, color="#C44E52")
        ax.set_xscale("log")
        plain_log(ax.xaxis)
        ax.set_ylim(0, 1.01)
        ax.set_xlabel("submit -> start, us")
        if col == 0:
            ax.set_ylabel("fraction of samples")
        ax.set_title(f"T = {t} us: CDF (dashed: T + {TARGET_SLACK_US:g} us)", fontsize=9)
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(title, fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return True


def summary_fields(raw: dict[str, Any], cells: dict[tuple[str, int], dict[str, Any]], variants: Sequence[str],
                   ts: Sequence[int]) -> dict[str, Any]:
    """summary.json: DESIGN.md's names (p99_us_<variant>_<T>), p50 beside them, Level 2's target per T."""
    cfg = raw["config"]
    fields: dict[str, Any] = {"device": raw["device"], "command": raw["command"], "date": raw["date"]}
    for v in variants:
        for t in ts:
            st = cell_stats(cells[(v, t)])
            fields[f"p99_us_{v}_{t_key(t)}"] = st["p99"]
            fields[f"p50_us_{v}_{t_key(t)}"] = st["p50"]
    for t in ts:
        if "level2" in variants:
            fields[f"target_met_level2_{t_key(t)}"] = target_met("level2", t, cells[("level2", t)])
    fields.update({
        "target_slack_us": TARGET_SLACK_US,
        "level2_lowered_to_level1": any(cells[("level2", t)]["lowered"] for t in ts) if "level2" in variants else None,
        "failed_runs": sum(1 for r in raw["runs"] if r["status"] != "ok"),
        "runs": len(raw["runs"]),
        "rounds": cfg["rounds"], "samples_per_run": cfg["samples"], "mean_gap_us": cfg["mean_gap_us"],
        "low_depth": cfg["low_depth"], "variants": ",".join(variants), "t_us": ",".join(t_key(t) for t in ts),
    })
    return fields


def report(raw: dict[str, Any], out: Path) -> None:
    """Print the table and write table.md, preempt.png and summary.json into out."""
    cfg = raw["config"]
    variants, ts = cfg["variants"], cfg["t_us"]
    cells = pooled(raw["runs"], variants, ts)
    headers, rows = table_rows(cells, variants, ts)
    head = f"xsched preemption latency: {raw['device']}\n{raw['command']}\n{raw['date']}"
    lines = notes(raw, cells)
    print("\n" + head + "\n\n" + benchlib.format_table(headers, rows) + "\n\n" + "\n".join(lines) + "\n", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    md = (f"# Preemption latency\n\n- Device: {raw['device']}\n- Command: `{raw['command']}`\n- Date: {raw['date']}\n\n"
          + markdown_table(headers, rows) + "\n\n" + "\n".join(f"- {line}" for line in lines) + "\n")
    (out / "table.md").write_text(md)
    plotted = plot(out / "preempt.png", cells, variants, ts,
                   f"Preemption latency, {raw['device']}: high kernel submit -> start, low kernels of T us on every SM")
    benchlib.write_summary(out, summary_fields(raw, cells, variants, ts))
    print(f"wrote {out}/table.md, summary.json" + (", preempt.png" if plotted else " (no plot)"), flush=True)


# =============================================================================================
# Main
# =============================================================================================
def device_of(runs: list[dict[str, Any]]) -> str:
    """The device line (GPU name, driver, CUDA runtime) from the first run that got that far."""
    for r in runs:
        res = r.get("result")
        if res and res.get("device"):
            rt = res.get("cuda_runtime")
            cuda = f"{rt // 1000}.{rt % 1000 // 10}" if isinstance(rt, int) and rt > 0 else None
            return benchlib.device_string(res["device"], cuda)
    return "unknown (no run reported a device)"


def main(argv: list[str]) -> int:
    """Run the benchmark, or (--replot) only rebuild its figures; return the exit code."""
    args = parse_args(argv)
    if args.replot is not None:
        try:
            raw = json.loads(args.replot.read_text())
        except (OSError, ValueError) as exc:
            print(f"preempt: cannot read {args.replot}: {exc}", file=sys.stderr)
            return 2
        report(raw, args.out)
        return 0

    benchlib.install_signal_handlers()
    binary = build(args.nvcc, args.arch) if args.build else args.bin.resolve()
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        print(f"preempt: program not found or not executable: {binary}", file=sys.stderr)
        return 2
    xsched: Optional[Path] = None
    if any(VARIANTS[v].xsched_args is not None for v in args.variants):
        xsched = args.xsched.resolve()
        if not (xsched.is_file() and os.access(xsched, os.X_OK)):
            print(f"preempt: xsched not found: {xsched} (build it, or pass --xsched)", file=sys.stderr)
            return 2
    xs_env = {k: v for k, v in os.environ.items() if k.startswith("XSCHED_")}
    if xs_env:
        print(f"note: XSCHED_* variables set for the xsched variants: {xs_env}", file=sys.stderr)

    command = benchlib.command_line()
    date = benchlib.now_iso()
    t_start = time.monotonic()
    print(f"preempt: T = {args.t_us} us, variants {','.join(args.variants)}, {args.rounds} round(s) x "
          f"{args.samples} samples, mean gap {args.mean_gap_us:g} us; program {binary}"
          + (f"; xsched {xsched}" if xsched else ""), flush=True)
    runs = run_all(args, binary, xsched)
    if all(r["status"] == "no-gpu" for r in runs):
        print("preempt: no GPU; skipped (nothing written)", file=sys.stderr)
        return EXIT_NO_GPU

    raw = {
        "device": device_of(runs), "command": command, "date": date,
        "config": {"t_us": args.t_us, "variants": args.variants, "samples": args.samples, "rounds": args.rounds,
                   "mean_gap_us": args.mean_gap_us, "low_depth": args.low_depth, "seed": args.seed,
                   "binary": str(binary), "built": args.build, "xsched": str(xsched) if xsched else None,
                   "xsched_env": xs_env, "target_slack_us": TARGET_SLACK_US,
                   "variant_defs": {n: {"xsched_args": list(VARIANTS[n].xsched_args or []) or None,
                                        "high_priority": VARIANTS[n].high_priority, "what": VARIANTS[n].what}
                                    for n in args.variants}},
        "runs": runs,
    }
    benchlib.write_json(args.out / "raw.json", raw)
    report(raw, args.out)
    failed = sum(1 for r in runs if r["status"] != "ok")
    print(f"{len(runs)} runs, {failed} failed, {time.monotonic() - t_start:.0f} s; raw samples in {args.out}/raw.json",
          flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
