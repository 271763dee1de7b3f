#!/usr/bin/env python3
"""Priority benchmark: the field report's Test 5 on one GPU, in one process and in two.

    python3 bench/priority/priority.py [--quick] [--pair test5|decode] [--xsched build/release/xsched] [--out DIR]
                                       [--seconds S] [--rounds N] [--deployments inprocess,crossprocess]
                                       [--variants native,streamprio,level1,level2] [--env K=V]...
    python3 bench/priority/priority.py --replot DIR/raw.json
    (--append --first-round N adds rounds to an earlier run's raw.json in --out)

A high-priority ResNet-18 (batch 1, one request every 20 ms) beside a low-priority ResNet-50
(batch 32, non-stop); bench/priority/workload.py runs them. `--pair decode` runs a second pair
instead: GPT-2 decoding (12 layers, fp16, KV cache, batch 1, 16 tokens a request, one request every
200 ms; launch-bound, many tiny kernels) as the urgent task beside ResNet-50 training (batch 64,
SGD); its summary names end in `_decode`. Runs, each a fresh process (or pair):

    alone_high   the high task alone, natively (the standalone reference)
    alone_low    the low task alone, natively (its standalone throughput)
  per deployment (inprocess: one process, two threads, the streams made by the main thread;
  crossprocess: two processes):
    native       both natively, no priority anywhere
    streamprio   natively, the high stream at CUDA priority -1 (inprocess: the hardware's stream
                 priorities; crossprocess: the same flag, in the high process)
    level1       under `xsched run --level 1`; inprocess the high stream's CUDA priority (-1) makes
                 its queue the more urgent one; crossprocess both processes register with an
                 xschedd (priority policy) and the high one runs with --priority 10
    level2       the same at --level 2 (gates)
    level1_bp    inprocess only: level1 with XSCHED_BACKPRESSURE=16 (a thread whose queue is held
    level2_bp    stops in its 16th held launch until the queue runs again), and the same at level 2
                 (level1, level2 and the _bp variants turn request-aware holds off, and back-pressure
                 off outside _bp: what they meant before those became defaults)
    default      under `xsched run` with no options: what a new user gets
    reserve      inprocess only: default with XSCHED_RESERVE_SMS=8 (the low queue's kernels leave 8 SMs
                 free while the high queue is around)
    mps          crossprocess only, named only: default with both programs clients of xschedd's MPS
                 server (xschedd --mps), the low one limited to 93% of the SMs (--mps-sm-percent)

Every round runs every variant once, in an order rotated from round to round; samples are pooled
per variant over the rounds. Figures: the high task's p50/p99 latency and their ratio to
alone_high's (target <= 1.02 and <= 1.05); the low task's throughput; and the share of the GPU
time that the high task leaves idle which the low task used (idle use, target >= 0.9):
(low co-run throughput / low alone throughput) / (1 - high busy fraction), the busy fraction being
the share of alone_high's window spent inside requests. inprocess runs also record how late a
sentinel thread wakes from 1 ms sleeps (p99): if a thread blocked by xsched held Python's GIL, the
other threads would wait for it and the sentinel would show it.

Outputs in --out (default bench/results/priority): raw.json (every run's samples), table.md (the
summary table, also printed), priority_cdf.png (the high task's latency CDFs per deployment),
priority_low.png (the low task's idle use per variant), summary.json (flat, the names of docs/benchmarks.md:
high_p99_ratio_<deployment>_<variant>, high_p50_ratio_..., low_idle_use_...). Exit code: 0 all
runs ok, 1 some run failed, 2 bad arguments, 77 no GPU.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
import benchlib  # noqa: E402

HERE = Path(__file__).resolve().parent
WORKLOAD = HERE / "workload.py"
EXIT_NO_GPU = 77
DEPLOYMENTS = ("inprocess", "crossprocess")
#: XSCHED_RESERVE_SMS of the reserve variant; reserve<N> reserves N (the trade-off between the urgent
#: task's latency and the low task's throughput).
RESERVE_SMS = 8
RESERVE_SWEEP = (16, 32, 64)
VARIANTS = ("native", "streamprio", "level1", "level2", "level1_bp", "level2_bp", "default", "reserve", "mps",
            *(f"reserve{n}" for n in RESERVE_SWEEP))
SWEEP_VARIANTS = tuple(f"reserve{n}" for n in RESERVE_SWEEP)
#: Only where threads of one process share the GIL (_bp), or one process's kernels can leave SMs free for
#: another queue of the same process (reserve: contexts of different processes time-slice).
INPROCESS_ONLY = ("level1_bp", "level2_bp", "reserve", *(f"reserve{n}" for n in RESERVE_SWEEP))
#: Only across processes: both programs clients of xschedd's MPS server (xschedd --mps), the low one
#: limited to MPS_LOW_SM_PERCENT of the SMs (xsched run --mps-sm-percent), the default settings besides.
CROSSPROCESS_ONLY = ("mps",)
MPS_LOW_SM_PERCENT = 93
#: XSCHED_BACKPRESSURE of the _bp variants.
BACKPRESSURE = 16
#: --quick runs these only (with the two alone runs).
QUICK_RUNS = ("inprocess_native", "inprocess_level2", "inprocess_default", "inprocess_reserve", "crossprocess_native",
              "crossprocess_level2")
#: The high task's name in the plots, per pair.
HIGH_TASK = {"test5": "ResNet-18 bs1", "decode": "GPT-2 decode"}
#: The targets of docs/benchmarks.md.
TARGET_P50 = 1.02
TARGET_P99 = 1.05
TARGET_IDLE_USE = 0.90
#: The high process's xsched priority in two-process runs (the low one keeps 0).
HIGH_PRIORITY = 10


class RunFailed(RuntimeError):
    """A workload process failed; the message says which and why."""


def workload_cmd(a: argparse.Namespace, roles: str, stream_priority: int = 0, extra: tuple[str, ...] = ()) -> list[str]:
    """The workload's command line."""
    period = ["--period-ms", str(a.period_ms)] if a.period_ms is not None else []
    return [sys.executable, str(WORKLOAD), "--roles", roles, "--pair", a.pair, "--seconds", str(a.seconds), *period,
            "--high-stream-priority", str(stream_priority), *extra]


def run_json(cmd: list[str], env: dict[str, str], timeout: float, log: Path) -> dict[str, Any]:
    """Run one workload process to the end; its stdout's last line is its JSON."""
    with open(log, "wb") as err:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, env=env, timeout=timeout, check=False)
    if p.returncode == EXIT_NO_GPU:
        raise RunFailed("no GPU")
    lines = p.stdout.decode(errors="replace").strip().splitlines()
    if p.returncode != 0 or not lines:
        raise RunFailed(f"exit {p.returncode}: {' '.join(cmd)}\n{log.read_text(errors='replace')[-1500:]}")
    return json.loads(lines[-1])


def level_of(variant: str) -> Optional[int]:
    """1 or 2 for the xsched variants that name a level, None for the native ones and `default`."""
    return {"level1": 1, "level2": 2, "level1_bp": 1, "level2_bp": 2, "reserve": None}.get(variant)


def is_xsched(variant: str) -> bool:
    """Whether the variant runs under `xsched run`."""
    return variant not in ("native", "streamprio")


def variant_env(variant: str) -> dict[str, str]:
    """What a variant sets beyond its level. level1/level2 (and _bp) keep the meaning they had before
    back-pressure and request-aware holds were defaults: both off, back-pressure 16 in the _bp ones;
    `default` sets nothing (what `xsched run` does with no options); `reserve` adds the reservation."""
    if variant in ("level1", "level2"):
        return {"XSCHED_BACKPRESSURE": "0", "XSCHED_REQUEST_GRACE_US": "0"}
    if variant.endswith("_bp"):
        return {"XSCHED_BACKPRESSURE": str(BACKPRESSURE), "XSCHED_REQUEST_GRACE_US": "0"}
    if variant == "reserve":
        return {"XSCHED_RESERVE_SMS": str(RESERVE_SMS)}
    if variant.startswith("reserve"):
        return {"XSCHED_RESERVE_SMS": variant[len("reserve"):]}
    return {}


def xsched_prefix(a: argparse.Namespace, variant: str, extra: tuple[str, ...] = ()) -> list[str]:
    """`xsched run` in front of a workload: with --level for the variants that name one."""
    level = level_of(variant)
    if level is not None:
        return benchlib.xsched_run_prefix(a.xsched, level, list(extra))
    return [str(a.xsched), "run", "--quiet", *extra, "--"]


def run_inprocess(a: argparse.Namespace, variant: str, workdir: Path) -> dict[str, Any]:
    """One process, two threads."""
    env = dict(os.environ, XSCHED_SCHEDULER="local")
    if is_xsched(variant):
        env.update(variant_env(variant))
        env.update(a.xsched_env)
    prio = 0 if variant == "native" else -1
    cmd = workload_cmd(a, "high,low", prio)
    if is_xsched(variant):
        cmd = xsched_prefix(a, variant) + cmd
    return run_json(cmd, env, a.seconds + 300, workdir / f"inprocess_{variant}.log")


def run_alone(a: argparse.Namespace, role: str, workdir: Path) -> dict[str, Any]:
    """One task alone, natively."""
    return run_json(workload_cmd(a, role), dict(os.environ), a.seconds + 300, workdir / f"alone_{role}.log")


def count_processes(a: argparse.Namespace, socket: str, seen: list[int], stop: threading.Event) -> None:
    """While a two-process run lasts: the most processes the daemon had registered at once."""
    while not stop.is_set():
        try:
            out = subprocess.run([str(a.xsched), "list", "--json", "--socket", socket], capture_output=True,
                                 text=True, timeout=10, check=False).stdout
            seen.append(len(json.loads(out).get("processes", [])))
        except (ValueError, subprocess.SubprocessError, OSError):
            pass
        stop.wait(1.0)


def start_ready(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a workload process that says READY once warm (--until-stdin-closes)."""
    with open(log, "wb") as err:
        return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env)


def wait_ready(p: subprocess.Popen[bytes], who: str, log: Path) -> None:
    """Wait for a process's READY line; RunFailed if it exits instead."""
    assert p.stdout is not None
    if p.stdout.readline().decode(errors="replace").strip() == "READY":
        return
    p.wait(timeout=60)
    if p.returncode == EXIT_NO_GPU:
        raise RunFailed("no GPU")
    raise RunFailed(f"{who} process did not start (exit {p.returncode})\n{log.read_text(errors='replace')[-1500:]}")


def finish(p: subprocess.Popen[bytes], who: str, timeout: float) -> dict[str, Any]:
    """Close a READY process's stdin (the low one stops) and read its JSON."""
    assert p.stdin is not None and p.stdout is not None
    p.stdin.close()
    lines = p.stdout.read().decode(errors="replace").strip().splitlines()
    p.wait(timeout=timeout)
    if p.returncode != 0 or not lines:
        raise RunFailed(f"{who} process exit {p.returncode}")
    return json.loads(lines[-1])


def run_crossprocess(a: argparse.Namespace, variant: str, workdir: Path) -> dict[str, Any]:
    """Two processes, started together; the high one's window starts once both are warm."""
    prio = -1 if variant == "streamprio" else 0
    low_cmd = workload_cmd(a, "low", 0, ("--until-stdin-closes",))
    high_cmd = workload_cmd(a, "high", prio, ("--until-stdin-closes",))
    env = dict(os.environ)
    daemon: Optional[benchlib.XschedDaemon] = None
    if is_xsched(variant):
        mps = ["--mps"] if variant == "mps" else []
        daemon = benchlib.XschedDaemon(a.xschedd, workdir, ["--policy", "priority", *mps]).__enter__()
        env.update(daemon.env())
        env.update(variant_env(variant))
        env.update(a.xsched_env)
        low_extra = ("--mps", "on", "--mps-sm-percent", str(MPS_LOW_SM_PERCENT)) if mps else ()
        low_cmd = xsched_prefix(a, variant, ("--priority", "0", *low_extra)) + low_cmd
        high_cmd = xsched_prefix(a, variant, ("--priority", str(HIGH_PRIORITY))) + high_cmd
    seen: list[int] = []
    stop = threading.Event()
    logs = {who: workdir / f"crossprocess_{variant}_{who}.log" for who in ("low", "high")}
    procs = {who: start_ready(cmd, env, logs[who]) for who, cmd in (("low", low_cmd), ("high", high_cmd))}
    watcher = None
    try:
        for who, p in procs.items():
            wait_ready(p, who, logs[who])
        if daemon is not None:
            watcher = threading.Thread(target=count_processes, args=(a, daemon.socket, seen, stop))
            watcher.start()
        time.sleep(1.0)
        hp = procs["high"]
        assert hp.stdin is not None
        hp.stdin.write(b"go\n")
        hp.stdin.flush()
        result = finish(hp, "high", a.seconds + 120)
        stop.set()
        result["low"] = finish(procs["low"], "low", 120)["low"]
        if daemon is not None and max(seen, default=0) < 2:
            raise RunFailed(f"the daemon never saw both processes registered (at most {max(seen, default=0)})")
        result["registered_max"] = max(seen, default=0)
        return result
    finally:
        stop.set()
        if watcher is not None:
            watcher.join()
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        if daemon is not None:
            daemon.__exit__(None, None, None)


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


def in_window(times: list[float], window: list[float]) -> int:
    """How many of the times fall inside the window."""
    t0, t1 = window
    return sum(1 for t in times if t0 <= t <= t1)


def low_rate(run: dict[str, Any]) -> float:
    """The low task's iterations per second over the run's window."""
    t0, t1 = run["window"]
    return in_window(run["low"]["done"], run["window"]) / (t1 - t0) if t1 > t0 else float("nan")


def busy_fraction(run: dict[str, Any]) -> float:
    """The share of the window the high task spent inside requests."""
    t0, t1 = run["window"]
    return sum(run["high"]["lat_ms"]) / 1e3 / (t1 - t0) if t1 > t0 else float("nan")


def sentinel_p99(run: dict[str, Any]) -> Optional[float]:
    """The sentinel's p99 lateness (us) inside the window; None where no sentinel ran beside both tasks."""
    s = run.get("sentinel")
    if not s or len(run.get("roles", [])) < 2:
        return None
    lates = s["late_us"] if "t" not in s else \
        [late for t, late in zip(s["t"], s["late_us"]) if run["window"][0] <= t <= run["window"][1]]
    return benchlib.percentile(lates, 99) if lates else None


def compact(raw: dict[str, Any]) -> None:
    """Keeps raw.json small: the sentinel's samples inside the window only, times to the microsecond."""
    for r in raw["runs"]:
        res = r.get("result")
        if not res:
            continue
        s = res.get("sentinel")
        if s and "t" in s:
            t0, t1 = res["window"]
            s["late_us"] = [round(late, 1) for t, late in zip(s["t"], s["late_us"])
                            if t0 is not None and t0 <= t <= t1]
            del s["t"]
        if "low" in res:
            res["low"]["done"] = [round(t, 6) for t in res["low"]["done"]]
        if "high" in res:
            res["high"]["start"] = [round(t, 6) for t in res["high"]["start"]]
            res["high"]["lat_ms"] = [round(v, 4) for v in res["high"]["lat_ms"]]
            if "gpu_ms" in res["high"]:
                res["high"]["gpu_ms"] = [round(v, 4) for v in res["high"]["gpu_ms"]]


def cells(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per run key (alone_high, alone_low, <deployment>_<variant>): pooled samples and figures."""
    pooled: dict[str, dict[str, Any]] = {}
    for r in raw["runs"]:
        c = pooled.setdefault(r["key"], {"lat_ms": [], "gpu_ms": [], "low_rates": [], "busy": [], "sentinel_p99": [],
                                         "failed": 0})
        if not r.get("ok"):
            c["failed"] += 1
            continue
        res = r["result"]
        if "high" in res:
            c["lat_ms"] += res["high"]["lat_ms"]
            c["gpu_ms"] += res["high"].get("gpu_ms", [])  # absent in runs made before GPU timing
            c["busy"].append(busy_fraction(res))
        if "low" in res:
            c["low_rates"].append(low_rate(res))
        sp = sentinel_p99(res)
        if sp is not None:
            c["sentinel_p99"].append(sp)
    alone = pooled.get("alone_high", {})
    low_alone = benchlib.median(pooled.get("alone_low", {}).get("low_rates", []))
    idle = 1.0 - benchlib.median(alone.get("busy", []))
    a50 = benchlib.percentile(alone.get("lat_ms", []), 50)
    a99 = benchlib.percentile(alone.get("lat_ms", []), 99)
    g50 = benchlib.percentile(alone.get("gpu_ms", []), 50) if alone.get("gpu_ms") else float("nan")
    g99 = benchlib.percentile(alone.get("gpu_ms", []), 99) if alone.get("gpu_ms") else float("nan")
    for c in pooled.values():
        # The same figures on the GPU's clock (CUDA events around each request's work).
        c["gpu_p50_ratio"] = benchlib.percentile(c["gpu_ms"], 50) / g50 if c["gpu_ms"] else float("nan")
        c["gpu_p99_ratio"] = benchlib.percentile(c["gpu_ms"], 99) / g99 if c["gpu_ms"] else float("nan")
        c["p50"] = benchlib.percentile(c["lat_ms"], 50)
        c["p99"] = benchlib.percentile(c["lat_ms"], 99)
        c["p50_ratio"] = c["p50"] / a50 if c["lat_ms"] else float("nan")
        c["p99_ratio"] = c["p99"] / a99 if c["lat_ms"] else float("nan")
        c["low_rate"] = benchlib.median(c["low_rates"])
        c["idle_use"] = c["low_rate"] / low_alone / idle if c["low_rates"] and c["lat_ms"] else float("nan")
        c["sentinel"] = benchlib.median(c["sentinel_p99"])
    return pooled


def fmt(v: Any, digits: int = 2) -> str:
    """A number for the table ('-' for none)."""
    return "-" if v is None or v != v else f"{v:.{digits}f}"


def report(raw: dict[str, Any], out: Path) -> dict[str, Any]:
    """Table, plots and summary.json from raw; returns the summary."""
    c = cells(raw)
    keys = ["alone_high", "alone_low"] + [f"{d}_{v}" for d in DEPLOYMENTS for v in VARIANTS if f"{d}_{v}" in c]
    rows = []
    for k in keys:
        x = c.get(k)
        if x is None:
            continue
        rows.append([k, str(len(x["lat_ms"])), fmt(x["p50"]), fmt(x["p99"]), fmt(x["p50_ratio"], 3),
                     fmt(x["p99_ratio"], 3), fmt(x["gpu_p50_ratio"], 3), fmt(x["gpu_p99_ratio"], 3),
                     fmt(x["low_rate"], 1), fmt(x["idle_use"], 3), fmt(x["sentinel"], 0), str(x["failed"])])
    table = benchlib.format_table(["run", "requests", "high p50 ms", "high p99 ms", "p50 ratio", "p99 ratio",
                                   "GPU p50 ratio", "GPU p99 ratio", "low it/s", "idle use", "sentinel p99 us",
                                   "failed"], rows)
    pair = raw.get("pair", "test5")
    suffix = "" if pair == "test5" else f"_{pair}"
    head = (f"# Priority benchmark, pair {pair}\n\n{raw['device']}; {raw['date']}\n\n`{raw['command']}`\n\n"
            f"Targets: p50 ratio <= {TARGET_P50}, p99 ratio <= {TARGET_P99}, idle use >= {TARGET_IDLE_USE}. "
            "Latencies and ratios on the host's clock (CLOCK_MONOTONIC, request start to the stream's "
            "synchronisation returning); GPU ratios on the GPU's (CUDA events around each request's work). "
            f"High task's busy fraction alone: {fmt(benchlib.median(c.get('alone_high', {}).get('busy', [])), 3)}\n\n")
    (out / "table.md").write_text(head + "```\n" + table + "\n```\n")
    print(table)
    panels = []
    for d in DEPLOYMENTS:
        series = {"alone": c.get("alone_high", {}).get("lat_ms", [])}
        for v in VARIANTS:
            if f"{d}_{v}" in c:
                series[v] = c[f"{d}_{v}"]["lat_ms"]
        if len(series) > 1:
            panels.append((f"{d}: {HIGH_TASK[pair]} request latency", series))
    benchlib.cdf_panels(out / "priority_cdf.png", panels, "latency (ms)", raw["device"])
    bar_keys = [k for k in keys if k.split("_")[0] in DEPLOYMENTS]
    benchlib.bar_chart(out / "priority_low.png", bar_keys, [c[k]["idle_use"] for k in bar_keys],
                       "Share of the high task's idle GPU time used by the low task", "idle use",
                       hlines=[(TARGET_IDLE_USE, "target 0.9")], baseline=0.0)
    summary: dict[str, Any] = {"device": raw["device"], "command": raw["command"], "date": raw["date"]}
    for d in DEPLOYMENTS:
        for v in VARIANTS:
            x = c.get(f"{d}_{v}")
            if x is None:
                continue
            summary[f"high_p99_ratio_{d}_{v}{suffix}"] = round(x["p99_ratio"], 4)
            summary[f"high_p50_ratio_{d}_{v}{suffix}"] = round(x["p50_ratio"], 4)
            summary[f"low_idle_use_{d}_{v}{suffix}"] = round(x["idle_use"], 4)
            summary[f"low_throughput_{d}_{v}{suffix}"] = round(x["low_rate"], 2)
            if x["gpu_ms"]:
                summary[f"high_gpu_p99_ratio_{d}_{v}{suffix}"] = round(x["gpu_p99_ratio"], 4)
                summary[f"high_gpu_p50_ratio_{d}_{v}{suffix}"] = round(x["gpu_p50_ratio"], 4)
    if "alone_low" in c:
        summary[f"low_throughput_alone{suffix}"] = round(c["alone_low"]["low_rate"], 2)
    if "alone_high" in c:
        summary[f"high_p50_ms_alone{suffix}"] = round(c["alone_high"]["p50"], 3)
        summary[f"high_p99_ms_alone{suffix}"] = round(c["alone_high"]["p99"], 3)
    benchlib.write_summary(out, summary)
    return summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--xsched", type=Path, default=benchlib.default_xsched())
    ap.add_argument("--xschedd", type=Path, default=None, help="default: beside --xsched")
    ap.add_argument("--out", type=Path, default=benchlib.repo_root() / "bench" / "results" / "priority")
    ap.add_argument("--seconds", type=float, default=20.0, help="measured window per run")
    ap.add_argument("--pair", choices=("test5", "decode"), default="test5",
                    help="test5: ResNet-18 bs1 beside ResNet-50 bs32 (default); decode: GPT-2 decoding beside "
                         "ResNet-50 training")
    ap.add_argument("--period-ms", type=float, default=None, help="the high task's request period (default: the "
                    "pair's, 20 ms for test5, 200 ms for decode)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--deployments", default=",".join(DEPLOYMENTS))
    ap.add_argument("--variants", default=",".join(v for v in VARIANTS if v not in SWEEP_VARIANTS + CROSSPROCESS_ONLY),
                    help=f"of {','.join(VARIANTS)} (the reserve<N> ones and mps, which needs CUDA MPS, only when "
                         "named)")
    ap.add_argument("--quick", action="store_true", help="one round of 3 s windows, fewer variants")
    ap.add_argument("--env", action="append", default=[], metavar="K=V",
                    help="extra environment of the xsched variants' processes (repeatable)")
    ap.add_argument("--replot", type=Path, help="rebuild table, plots and summary from a raw.json")
    ap.add_argument("--append", action="store_true", help="add this call's rounds to --out's raw.json")
    ap.add_argument("--first-round", type=int, default=0, help="number of the first round (with --append)")
    a = ap.parse_args()
    if a.replot:
        raw = json.loads(a.replot.read_text())
        report(raw, a.replot.parent)
        return 0
    if a.quick:
        a.seconds, a.rounds = 3.0, 1
    deployments = [d for d in a.deployments.split(",") if d]
    variants = [v for v in a.variants.split(",") if v]
    if not set(deployments) <= set(DEPLOYMENTS) or not set(variants) <= set(VARIANTS) or a.rounds < 1:
        print(f"deployments: {DEPLOYMENTS}; variants: {VARIANTS}; rounds >= 1", file=sys.stderr)
        return 2
    a.xsched_env = dict(kv.split("=", 1) for kv in a.env if "=" in kv)
    if len(a.xsched_env) != len(a.env):
        print("--env takes K=V", file=sys.stderr)
        return 2
    tools = benchlib.find_xsched_tools(a.xsched, a.xschedd)
    if tools is None:
        return 2
    a.xsched, a.xschedd = tools
    a.out.mkdir(parents=True, exist_ok=True)
    runs_todo = ["alone_high", "alone_low"] + [f"{d}_{v}" for d in deployments for v in variants
                                               if (d == "inprocess" and v not in CROSSPROCESS_ONLY)
                                               or (d == "crossprocess" and v not in INPROCESS_ONLY)]
    if a.quick:
        runs_todo = [k for k in runs_todo if k.startswith("alone_") or k in QUICK_RUNS]
    raw: dict[str, Any] = {"device": "", "command": benchlib.command_line(), "date": benchlib.now_iso(),
                           "pair": a.pair, "seconds": a.seconds, "period_ms": a.period_ms, "runs": []}
    if a.append and (a.out / "raw.json").exists():
        raw = json.loads((a.out / "raw.json").read_text())
        if raw.get("pair", "test5") != a.pair:
            print(f"--append: {a.out / 'raw.json'} holds pair {raw.get('pair', 'test5')}, not {a.pair}", file=sys.stderr)
            return 2
        raw["command"] += " ; " + benchlib.command_line()
    failed = 0
    no_gpu = 0
    with tempfile.TemporaryDirectory(prefix="xsched-priority-") as tmp:
        workdir = Path(tmp)
        for rnd in range(a.first_round, a.first_round + a.rounds):
            order = runs_todo[rnd % len(runs_todo):] + runs_todo[:rnd % len(runs_todo)]
            if rnd % 2 == 1:
                order.reverse()
            for key in order:
                t = time.monotonic()
                entry: dict[str, Any] = {"key": key, "round": rnd}
                try:
                    if key.startswith("alone_"):
                        res = run_alone(a, key.split("_", 1)[1], workdir)
                    else:
                        d, v = key.split("_", 1)
                        res = run_inprocess(a, v, workdir) if d == "inprocess" else run_crossprocess(a, v, workdir)
                    entry.update(ok=True, result=res)
                    raw["device"] = raw["device"] or benchlib.device_string(res.get("gpu", "?"), res.get("cuda"))
                except (RunFailed, benchlib.WorkerError, subprocess.TimeoutExpired, ValueError, KeyError) as exc:
                    failed += 1
                    no_gpu += "no GPU" in str(exc)
                    entry.update(ok=False, error=str(exc))
                    print(f"{key}: FAILED: {exc}", file=sys.stderr)
                raw["runs"].append(entry)
                print(f"round {rnd} {key}: {'ok' if entry['ok'] else 'failed'} ({time.monotonic() - t:.0f} s)",
                      file=sys.stderr, flush=True)
                if no_gpu and no_gpu == failed == len(raw["runs"]):
                    print("no GPU: skipped", file=sys.stderr)
                    return EXIT_NO_GPU
            # Every round's runs are kept at once: a run cut short by a time limit loses one round at most.
            compact(raw)
            benchlib.write_json(a.out / "raw.json", raw, indent=None)
    compact(raw)
    benchlib.write_json(a.out / "raw.json", raw, indent=None)
    report(raw, a.out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
