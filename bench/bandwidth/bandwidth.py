#!/usr/bin/env python3
"""Bandwidth benchmark: two non-stop jobs sharing one GPU at 75/25 and 50/50.

    python3 bench/bandwidth/bandwidth.py [--quick] [--xsched build/release/xsched] [--out DIR]
                                         [--seconds S] [--rounds N] [--level 2] [--timeslice-us T]
    python3 bench/bandwidth/bandwidth.py --replot DIR/raw.json
    (--append --first-round N adds rounds to an earlier run's raw.json in --out)

Each job is a process running ResNet-50 at batch 32 back to back (bench/priority/workload.py's
low role), so a job's throughput measures its share of the GPU. Runs, every round, in a rotated
order:

    alone        one job alone, natively: the standalone throughput
    native       two jobs natively (the GPU's own time slicing)
    xsched_75_25 two jobs under `xsched run --level L` registered with one xschedd
                 (--policy bandwidth --timeslice-us T), with --share 3 and --share 1
    xsched_50_50 the same with --share 1 and --share 1

Both jobs start, warm up and say READY; the window of --seconds starts 2 s later. A job's achieved
share is its throughput over the sum of both; total throughput is that sum over the standalone
throughput. Targets: shares within 2 points of those asked for, total >= 0.985.

Outputs in --out (default bench/results/bandwidth): raw.json, table.md (also printed),
bandwidth.png (achieved shares and total throughput per variant), summary.json (flat:
share_error_points_75_25, total_throughput_ratio_75_25, and the same for 50_50 and native).
Exit code: 0 all runs ok, 1 some failed, 2 bad arguments, 77 no GPU.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
import benchlib  # noqa: E402

WORKLOAD = Path(__file__).resolve().parents[1] / "priority" / "workload.py"
EXIT_NO_GPU = 77
SETTLE_S = 2.0
#: run key -> the shares asked for (None: no xsched).
VARIANTS: dict[str, Optional[tuple[int, int]]] = {"native": None, "xsched_75_25": (3, 1), "xsched_50_50": (1, 1)}
#: Runs of the breakdown (not in --quick): one job alone under xsched (what the interposer and
#: the daemon cost without a peer), and 50/50 with a quarter of the timeslice (four times the
#: turn switches: the difference prices one switch).
BREAKDOWN: dict[str, tuple[int, ...]] = {"alone_xsched": (1,), "xsched_50_50_short": (1, 1)}
SHORT_TIMESLICE_DIVISOR = 4
TARGET_ERROR_POINTS = 2.0
TARGET_TOTAL = 0.985


class RunFailed(RuntimeError):
    """A job failed; the message says which and why."""


def run_jobs(a: argparse.Namespace, shares: Optional[tuple[int, ...]], jobs: int, workdir: Path,
             key: str) -> dict[str, Any]:
    """Start `jobs` jobs, measure their throughput over one window, stop them."""
    env = dict(os.environ)
    daemon: Optional[benchlib.XschedDaemon] = None
    metrics_url = None
    if shares is not None:
        timeslice = a.timeslice_us // (SHORT_TIMESLICE_DIVISOR if key.endswith("_short") else 1)
        port = benchlib.free_tcp_port()
        metrics_url = f"http://127.0.0.1:{port}/metrics"
        daemon = benchlib.XschedDaemon(a.xschedd, workdir, ["--policy", "bandwidth", "--timeslice-us", str(timeslice),
                                                            "--metrics", f"127.0.0.1:{port}"]).__enter__()
        env.update(daemon.env())
    procs: list[subprocess.Popen[bytes]] = []
    logs = []
    try:
        for j in range(jobs):
            cmd = [sys.executable, str(WORKLOAD), "--roles", "low", "--until-stdin-closes"]
            if shares is not None:
                cmd = benchlib.xsched_run_prefix(a.xsched, a.level, ["--share", str(shares[j])]) + cmd
            logs.append(open(workdir / f"{key}_job{j}.log", "wb"))
            procs.append(subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=logs[-1], env=env))
        for j, p in enumerate(procs):
            assert p.stdout is not None
            if p.stdout.readline().decode(errors="replace").strip() != "READY":
                p.wait(timeout=60)
                if p.returncode == EXIT_NO_GPU:
                    raise RunFailed("no GPU")
                raise RunFailed(f"job {j} did not start (exit {p.returncode}): "
                                f"{(workdir / f'{key}_job{j}.log').read_text(errors='replace')[-1500:]}")
        time.sleep(SETTLE_S)
        registered = None
        if daemon is not None:
            out = subprocess.run([str(a.xsched), "list", "--json", "--socket", daemon.socket], capture_output=True,
                                 text=True, timeout=10, check=False).stdout
            registered = len(json.loads(out).get("processes", [])) if out.strip() else 0
            if registered < jobs:
                raise RunFailed(f"only {registered} of {jobs} jobs registered with xschedd")
        counters0 = switch_counters(metrics_url)
        t0 = time.monotonic()
        time.sleep(a.seconds)
        t1 = time.monotonic()
        counters1 = switch_counters(metrics_url)
        done = []
        for j, p in enumerate(procs):
            assert p.stdin is not None and p.stdout is not None
            p.stdin.close()
            lines = p.stdout.read().decode(errors="replace").strip().splitlines()
            p.wait(timeout=120)
            if p.returncode != 0 or not lines:
                raise RunFailed(f"job {j} exit {p.returncode}")
            res = json.loads(lines[-1])
            done.append(res["low"]["done"])
            gpu = res.get("gpu", "?"), res.get("cuda")
        rates = [sum(1 for t in d if t0 <= t <= t1) / (t1 - t0) for d in done]
        result = {"rates": rates, "window": [t0, t1], "registered": registered, "gpu": gpu[0], "cuda": gpu[1]}
        if counters0 is not None and counters1 is not None:
            result["switches_per_s"] = (counters1["preemptions"] - counters0["preemptions"]) / (t1 - t0)
            result["decisions_per_s"] = (counters1["decisions"] - counters0["decisions"]) / (t1 - t0)
        return result
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for f in logs:
            f.close()
        if daemon is not None:
            daemon.__exit__(None, None, None)


def switch_counters(url: Optional[str]) -> Optional[dict[str, float]]:
    """xschedd's counters of holds (every queue's preemptions: one per switch away from a queue that
    still had work) and decisions, from its Prometheus endpoint; None without one or on failure."""
    if url is None:
        return None
    try:
        text = benchlib.http_get(url, timeout=5.0)
    except OSError as exc:
        print(f"note: cannot read {url}: {exc}", file=sys.stderr)
        return None
    return {"preemptions": benchlib.prometheus_sum(text, "xsched_queue_preemptions_total"),
            "decisions": benchlib.prometheus_sum(text, "xsched_device_decisions_total")}


def breakdown(totals: dict[str, float], switches: dict[str, float]) -> Optional[dict[str, Any]]:
    """Where the lost throughput of each xsched run goes, from the runs of one call.

    interposer: what one job alone loses under xsched (alone_xsched), which every job pays;
    switches:   the price of one switch, from 50/50 at the timeslice and at a quarter of it
                (loss difference over switch-rate difference), times the run's switch rate;
    other:      the rest (the jobs' contexts time-sliced against each other while a switch drains,
                work the gates hold back, noise)."""
    need = ("alone_xsched", "xsched_50_50", "xsched_50_50_short")
    if any(k not in totals for k in need) or any(k not in switches for k in need[1:]):
        return None
    extra = switches["xsched_50_50_short"] - switches["xsched_50_50"]
    per_switch_s = (totals["xsched_50_50"] - totals["xsched_50_50_short"]) / extra if extra > 0 else float("nan")
    interposer = 1.0 - totals["alone_xsched"]
    rows = {}
    for key in ("xsched_75_25", "xsched_50_50", "xsched_50_50_short"):
        if key not in totals or key not in switches:
            continue
        lost = 1.0 - totals[key]
        by_switches = per_switch_s * switches[key]
        rows[key] = {"lost": lost, "interposer": interposer, "switches": by_switches,
                     "other": lost - interposer - by_switches, "switches_per_s": switches[key]}
    return {"per_switch_us": per_switch_s * 1e6, "runs": rows}


def report(raw: dict[str, Any], out: Path) -> dict[str, Any]:
    """Table, plot and summary.json from raw; returns the summary."""
    by_key: dict[str, list[list[float]]] = {}
    for r in raw["runs"]:
        if r.get("ok"):
            by_key.setdefault(r["key"], []).append(r["result"]["rates"])
    alone = benchlib.median([rates[0] for rates in by_key.get("alone", [])])
    summary: dict[str, Any] = {"device": raw["device"], "command": raw["command"], "date": raw["date"],
                               "throughput_alone": round(alone, 2) if alone == alone else None}
    rows = [["alone", "-", f"{alone:.1f}", "-", "-", "1.000", str(len(by_key.get("alone", [])))]]
    labels, shares_plot, totals = [], [], []
    for key, asked in VARIANTS.items():
        runs = by_key.get(key)
        if not runs:
            continue
        share0 = benchlib.median([r[0] / sum(r) for r in runs if sum(r) > 0])
        total = benchlib.median([sum(r) / alone for r in runs])
        want = asked[0] / sum(asked) if asked else 0.5
        err = abs(share0 - want) * 100
        name = key.replace("xsched_", "")
        summary[f"share_error_points_{name}"] = round(err, 2)
        summary[f"total_throughput_ratio_{name}"] = round(total, 4)
        summary[f"achieved_share_first_{name}"] = round(share0, 4)
        rows.append([key, f"{want * 100:.0f}/{(1 - want) * 100:.0f}",
                     " + ".join(f"{benchlib.median([r[i] for r in runs]):.1f}" for i in range(2)),
                     f"{share0 * 100:.1f}/{(1 - share0) * 100:.1f}", f"{err:.2f}", f"{total:.3f}", str(len(runs))])
        labels.append(key)
        shares_plot.append(share0)
        totals.append(total)
    run_totals: dict[str, float] = {}
    run_switches: dict[str, float] = {}
    for key in list(VARIANTS) + list(BREAKDOWN):
        runs_of = [r["result"] for r in raw["runs"] if r.get("ok") and r["key"] == key]
        if runs_of:
            run_totals[key] = benchlib.median([sum(r["rates"]) / alone for r in runs_of])
            sw = [r["switches_per_s"] for r in runs_of if "switches_per_s" in r]
            if sw:
                run_switches[key] = benchlib.median(sw)
    for key in BREAKDOWN:
        if key in run_totals:
            rows.append([key, "-" if key == "alone_xsched" else "50/50", "-", "-", "-", f"{run_totals[key]:.3f}",
                         str(sum(1 for r in raw["runs"] if r.get("ok") and r["key"] == key))])
            summary[f"total_throughput_ratio_{key.replace('xsched_', '')}"] = round(run_totals[key], 4)
    for key, rate in run_switches.items():
        summary[f"switches_per_s_{key.replace('xsched_', '')}"] = round(rate, 1)
    table = benchlib.format_table(["run", "asked", "it/s", "achieved", "error (points)", "total / alone", "runs"],
                                  rows)
    parts = breakdown(run_totals, run_switches)
    if parts is not None:
        summary["switch_cost_us"] = round(parts["per_switch_us"], 1)
        brows = []
        for key, b in parts["runs"].items():
            name = key.replace("xsched_", "")
            for part in ("interposer", "switches", "other"):
                summary[f"lost_{part}_{name}"] = round(b[part], 4)
            brows.append([key, f"{b['switches_per_s']:.0f}", f"{b['lost'] * 100:.1f}",
                          f"{b['interposer'] * 100:.1f}", f"{b['switches'] * 100:.1f}", f"{b['other'] * 100:.1f}"])
        table += ("\n\nWhere the lost throughput goes (points of one job alone; one switch costs "
                  f"{parts['per_switch_us']:.0f} us of device time):\n\n"
                  + benchlib.format_table(["run", "switches/s", "lost", "interposer alone", "switches", "other"],
                                          brows))
    (out / "table.md").write_text(f"# Bandwidth benchmark\n\n{raw['device']}; {raw['date']}\n\n`{raw['command']}`\n\n"
                                  f"Targets: error <= {TARGET_ERROR_POINTS} points, total >= {TARGET_TOTAL}.\n\n"
                                  "```\n" + table + "\n```\n")
    print(table)
    plot(out / "bandwidth.png", labels, shares_plot, totals, [VARIANTS[k] for k in labels], raw["device"])
    benchlib.write_summary(out, summary)
    return summary


def plot(path: Path, labels: list[str], shares: list[float], totals: list[float],
         asked: list[Optional[tuple[int, int]]], device: str) -> None:
    """Achieved share of the first job (with the share asked for) and total throughput, per variant."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as exc:
        print(f"note: matplotlib unavailable ({exc}); no plot written to {path}", file=sys.stderr)
        return
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    xs = list(range(len(labels)))
    ax1.bar(xs, [s * 100 for s in shares], color="#4C72B0", label="achieved")
    ax1.scatter(xs, [(a[0] / sum(a) * 100) if a else 50 for a in asked], color="#C44E52", marker="_", s=600,
                label="asked", zorder=3)
    ax1.set_ylabel("first job's share of the GPU (%)")
    ax1.set_ylim(0, 100)
    ax1.legend(fontsize=8)
    ax2.bar(xs, totals, color="#55A868")
    ax2.axhline(TARGET_TOTAL, linestyle="--", color="#C44E52", label=f"target {TARGET_TOTAL}")
    ax2.set_ylabel("total throughput / one job alone")
    ax2.set_ylim(min(totals + [TARGET_TOTAL]) - 0.05, max(totals + [1.0]) + 0.03)
    ax2.legend(fontsize=8)
    for ax in (ax1, ax2):
        ax.set_xticks(xs)
        ax.set_xticklabels(labels, rotation=20)
    fig.suptitle(f"Two ResNet-50 bs32 jobs\n{device}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--xsched", type=Path, default=benchlib.default_xsched())
    ap.add_argument("--xschedd", type=Path, default=None, help="default: beside --xsched")
    ap.add_argument("--out", type=Path, default=benchlib.repo_root() / "bench" / "results" / "bandwidth")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--level", type=int, choices=(1, 2), default=2)
    ap.add_argument("--timeslice-us", type=int, default=10000)
    ap.add_argument("--quick", action="store_true", help="one round of 5 s windows: alone and 75/25 only")
    ap.add_argument("--variants", default=None,
                    help="comma-separated runs (default: alone and every other run; --quick: alone,xsched_75_25): "
                         + ", ".join(["alone", *VARIANTS, *BREAKDOWN]))
    ap.add_argument("--replot", type=Path)
    ap.add_argument("--append", action="store_true", help="add this call's rounds to --out's raw.json")
    ap.add_argument("--first-round", type=int, default=0, help="number of the first round (with --append)")
    a = ap.parse_args()
    if a.replot:
        report(json.loads(a.replot.read_text()), a.replot.parent)
        return 0
    if a.quick:
        a.seconds, a.rounds = 5.0, 1
    tools = benchlib.find_xsched_tools(a.xsched, a.xschedd)
    if tools is None:
        return 2
    a.xsched, a.xschedd = tools
    a.out.mkdir(parents=True, exist_ok=True)
    keys = ["alone"] + (["xsched_75_25"] if a.quick else list(VARIANTS) + list(BREAKDOWN))
    if a.variants:
        keys = [k for k in a.variants.split(",") if k]
        unknown = [k for k in keys if k != "alone" and k not in VARIANTS and k not in BREAKDOWN]
        if unknown:
            print(f"bandwidth: unknown runs: {', '.join(unknown)}", file=sys.stderr)
            return 2
    raw: dict[str, Any] = {"device": "", "command": benchlib.command_line(), "date": benchlib.now_iso(),
                           "seconds": a.seconds, "level": a.level, "timeslice_us": a.timeslice_us, "runs": []}
    if a.append and (a.out / "raw.json").exists():
        raw = json.loads((a.out / "raw.json").read_text())
        raw["command"] += " ; " + benchlib.command_line()
    failed = 0
    with tempfile.TemporaryDirectory(prefix="xsched-bandwidth-") as tmp:
        for rnd in range(a.first_round, a.first_round + a.rounds):
            order = keys[rnd % len(keys):] + keys[:rnd % len(keys)]
            for key in order:
                t = time.monotonic()
                entry: dict[str, Any] = {"key": key, "round": rnd}
                try:
                    shares = None if key == "alone" else VARIANTS.get(key) or BREAKDOWN[key]
                    res = run_jobs(a, shares, 1 if key.startswith("alone") else 2, Path(tmp), key)
                    entry.update(ok=True, result=res)
                    raw["device"] = raw["device"] or benchlib.device_string(res["gpu"], res["cuda"])
                except (RunFailed, benchlib.WorkerError, subprocess.TimeoutExpired, ValueError, KeyError) as exc:
                    failed += 1
                    entry.update(ok=False, error=str(exc))
                    print(f"{key}: FAILED: {exc}", file=sys.stderr)
                    if "no GPU" in str(exc) and failed == len(raw["runs"]) + 1:
                        return EXIT_NO_GPU
                raw["runs"].append(entry)
                print(f"round {rnd} {key}: {'ok' if entry['ok'] else 'failed'} ({time.monotonic() - t:.0f} s)",
                      file=sys.stderr, flush=True)
    benchlib.write_json(a.out / "raw.json", raw, indent=None)
    report(raw, a.out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
