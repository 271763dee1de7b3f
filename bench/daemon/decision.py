#!/usr/bin/env python3
"""Decision latency of xschedd: from a high-priority queue turning ready in one process to a
low-priority queue in another process being held.

    python3 bench/daemon/decision.py [--build-dir build/release] [--platforms cpu,gpu] [--modes sleep,busy]
                                     [--scales 2x1,64x4] [--gpu-scales 2x1,16x4] [--seconds 5]
                                     [--rounds 1] [--gpu-bin PATH] [--out bench/results/daemon]
    python3 bench/daemon/decision.py --replot bench/results/daemon/raw.json

A scale PxQ runs P processes with Q queues each under one xschedd (priority policy): one high
process (priority 10) makes a request every 5 ms on average (a 200 us kernel on each of its
queues), the P-1 others keep their queues busy with 1 ms kernels non-stop. Each request makes
the daemon hold the (P-1)*Q low queues and, when it is done, let them go. Each decision is measured
from its cause (the high process saw its queue change, stamped in the shared board) to its taking
effect, on one clock (CLOCK_MONOTONIC): the daemon's store in the low queue's gate word (Level 2:
the GPU stream's gate, or the CPU device stream's word, closes), or, for a queue whose word the
daemon may not hold, its agent having applied it. `xsched samples` collects them, with the part
from the cause to the daemon's decision and which of the two applied it (the table's "by store"). The daemon sleeps in epoll (mode sleep, the default) or spins on one core (mode busy,
`xschedd --busy-poll`), or spins on a core of its own (mode busy-cpu: `--cpu`, the processes kept to
the other cores), or spins at nice -10 (mode busy-nice: its core is not taken by the
processes' threads; needs the privilege to raise priority). Platforms:

    cpu   tests/daemon_client_prog (the CPU reference device, C API)
    gpu   bench/daemon/decision_gpu.cu under `xsched run --level 2` (CUDA, stream-ordered gates)

Outputs in --out: raw.json (every sample, per run), table.md (also printed), decision.png (CDFs),
The table also gives, for the worst round of each cell, how busy the host's CPUs were and what share
of their time the hypervisor took (steal), over the measured window.

summary.json (device, command, date, decision_p50_us_<platform>[_busypoll]_<scale>, decision_p99_us_<...>,
decision_p99_us_cpu and decision_p99_us_gpu at the largest scale with the daemon sleeping,
the same with _busypoll, target_met_*: p99 <= 50 us).
Exit code: 0 done, 1 a run failed, 2 bad arguments.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
import benchlib  # noqa: E402

HERE = Path(__file__).resolve().parent
TARGET_P99_US = 50.0
MODES = ("sleep", "busy", "busy-nice", "busy-cpu")
MODE_TAGS = {"sleep": "", "busy": "_busypoll", "busy-nice": "_busypoll_nice", "busy-cpu": "_busypoll_cpu"}


def parse_scales(text: str) -> list[tuple[int, int]]:
    """'2x1,64x4' -> [(2, 1), (64, 4)]."""
    out = []
    for part in text.split(","):
        p, q = part.lower().split("x")
        if int(p) < 2 or int(q) < 1:
            raise ValueError(f"scale {part}: at least 2 processes and 1 queue")
        out.append((int(p), int(q)))
    return out


def xsched_json(cli: Path, socket: str, *args: str) -> Any:
    """Runs `xsched <args> --json --socket S` and parses its output."""
    out = subprocess.run([str(cli), *args, "--json", "--socket", socket], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    return json.loads(out)


def one_run(a: argparse.Namespace, platform: str, mode: str, procs: int, queues: int, workdir: Path) -> dict[str, Any]:
    """One daemon (mode: sleep or busy), procs processes of queues queues each, a.seconds of samples."""
    build = Path(a.build_dir)
    socket = str(workdir / "xschedd.sock")
    # Level 2 on both platforms: a hold is the hardware queue held (a gate closed), not the running
    # kernel stopped (Level 3 of the CPU device).
    env = dict(os.environ, XSCHED_SCHEDULER="daemon", XSCHED_SOCKET=socket, XSCHED_LOG_LEVEL="warn", XSCHED_LEVEL=str(a.level))
    # Each context's hardware connections are GPU channels, and many processes run out of
    # them (cudaStreamCreate: out of memory); 8 still lets all of a process's 4 streams wait
    # at gates (a context gates at most half its connections).
    env.setdefault("CUDA_DEVICE_MAX_CONNECTIONS", "8")
    # busy-nice: busy-polling at nice -10 (as root, or a unit with Nice=-10), so that the
    # processes' threads do not take its core away (needs the privilege to raise priority).
    nice = ["nice", "-n", "-10"] if mode.endswith("-nice") else []
    # busy-cpu: busy-polling on a core of its own (xschedd --cpu, the last CPU this benchmark may
    # use), the processes kept to the others, so that nothing takes the daemon's core.
    cpus = sorted(os.sched_getaffinity(0))
    own_cpu = ["--cpu", str(cpus[-1])] if mode == "busy-cpu" and len(cpus) > 1 else []
    others = set(cpus[:-1]) if own_cpu else None
    daemon = subprocess.Popen(nice + [str(build / "xschedd"), "--socket", socket, "--log-level", "warn"]
                              + (["--busy-poll"] if mode.startswith("busy") else []) + own_cpu,
                              stderr=open(workdir / "xschedd.log", "w"))
    keep_off = (lambda: os.sched_setaffinity(0, others)) if others else None
    children: list[subprocess.Popen] = []
    run_s = a.seconds + (60 if platform == "gpu" else 20)

    def program(role: str, priority: int) -> list[str]:
        if platform == "cpu":
            return [str(build / "tests" / "daemon_client_prog"), "--role", role, "--queues", str(queues),
                    "--kernel-us", "200" if role == "high" else "1000", "--period-us", "5000",
                    "--seconds", str(run_s)]
        return [str(build / "xsched"), "run", "--level", str(a.level), "--quiet", "--priority", str(priority), "--",
                a.gpu_bin, "--role", role, "--streams", str(queues), "--kernel-us", "200" if role == "high" else "1000",
                "--period-us", "5000", "--seconds", str(run_s)]

    try:
        benchlib_wait(lambda: Path(socket).exists(), 5)
        for i in range(procs - 1):
            e = dict(env, XSCHED_PRIORITY="0")
            children.append(subprocess.Popen(program("low", 0), env=e, stdout=subprocess.DEVNULL,
                                             stderr=open(workdir / f"low{i}.log", "w"), preexec_fn=keep_off))
        e = dict(env, XSCHED_PRIORITY="10")
        children.append(subprocess.Popen(program("high", 10), env=e, stdout=subprocess.DEVNULL,
                                         stderr=open(workdir / "high.log", "w"), preexec_fn=keep_off))
        want = procs * queues

        def registered() -> bool:
            snap = xsched_json(build / "xsched", socket, "list")
            return len(snap["queues"]) >= want and sum(1 for q in snap["queues"] if q["state"] != "idle") >= want - queues
        if not benchlib_wait(registered, 90 if platform == "gpu" else 30):
            snap = xsched_json(build / "xsched", socket, "list")
            states: dict[str, int] = {}
            for q in snap["queues"]:
                states[q["state"]] = states.get(q["state"], 0) + 1
            exits = [c.poll() for c in children]
            tails = [(workdir / f).read_text()[-300:] for f in sorted(os.listdir(workdir)) if f.endswith(".log")]
            raise RuntimeError(f"{len(snap['processes'])} processes, {len(snap['queues'])} of {want} queues "
                               f"registered, states {states}; exit codes {exits}; log tails {[t for t in tails if t]}")
        time.sleep(0.5)
        xsched_json(build / "xsched", socket, "samples", "--clear")
        before = cpu_times()
        time.sleep(a.seconds)
        host = host_load(before, cpu_times())
        samples = compact(xsched_json(build / "xsched", socket, "samples")["samples"])
        snap = xsched_json(build / "xsched", socket, "list")
        failed = [c.args for c in children if c.poll() not in (None, 0)]
        return {"platform": platform, "mode": mode, "procs": procs, "queues": queues, "ok": not failed, "failed": failed,
                "samples": samples, "list": snap, **host}
    finally:
        for c in children:
            c.send_signal(signal.SIGKILL)
            c.wait()
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(5)
        except subprocess.TimeoutExpired:
            daemon.kill()


def cpu_times() -> list[int]:
    """The host's CPU time counters (/proc/stat: user nice system idle iowait irq softirq steal), or []."""
    try:
        with open("/proc/stat") as f:
            return [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return []


def host_load(before: list[int], after: list[int]) -> dict[str, float]:
    """Over the window: busy_pct, the share of all CPU time the host's CPUs were busy, and
    steal_pct, the share the hypervisor took (time a vCPU wanted to run and could not)."""
    if len(before) < 8 or len(after) < 8:
        return {}
    d = [b - a for a, b in zip(before, after)]
    total = sum(d)
    if total <= 0:
        return {}
    idle = d[3] + d[4]
    return {"busy_pct": round(100.0 * (total - idle - d[7]) / total, 1), "steal_pct": round(100.0 * d[7] / total, 2)}


def compact(samples: list[dict[str, Any]]) -> dict[str, list[float]]:
    """The samples as columns in us: suspend (holds), suspend_daemon (their part up to the daemon's
    decision), suspend_store (1: the daemon's store applied it, 0: the agent), resume (releases),
    each in the order the daemon collected them."""
    out: dict[str, list[float]] = {"suspend": [], "suspend_daemon": [], "suspend_store": [], "resume": []}
    for x in samples:
        out[x["kind"]].append(round(x["latency_ns"] / 1000.0, 2))
        if x["kind"] == "suspend":
            out["suspend_daemon"].append(round(x.get("daemon_ns", 0) / 1000.0, 2))
            out["suspend_store"].append(1 if x.get("by") == "store" else 0)
    return out


def benchlib_wait(pred, seconds: float) -> bool:
    """Polls pred until true or seconds pass."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if pred():
                return True
        except (subprocess.SubprocessError, json.JSONDecodeError, OSError):
            pass
        time.sleep(0.1)
    return False


def cell_stats(runs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (platform, scale): suspend and resume latencies in us, pooled over rounds."""
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for r in runs:
        key = (r["platform"], r.get("mode", "sleep"), f"{r['procs']}x{r['queues']}")
        c = cells.setdefault(key, {"suspend": [], "resume": [], "suspend_daemon": [], "suspend_store": [], "ok": True,
                                   "busy_pct": [], "steal_pct": []})
        c["ok"] = c["ok"] and r["ok"]
        for k in ("busy_pct", "steal_pct"):
            if k in r:
                c[k].append(r[k])
        samples = r["samples"] if isinstance(r["samples"], dict) else compact(r["samples"])
        for kind in ("suspend", "suspend_daemon", "suspend_store", "resume"):
            c[kind].extend(samples.get(kind, []))
    for c in cells.values():
        for kind in ("suspend", "resume"):
            xs = c[kind]
            c[f"{kind}_n"] = len(xs)
            c[f"{kind}_p50"] = benchlib.percentile(xs, 50)
            c[f"{kind}_p99"] = benchlib.percentile(xs, 99)
            c[f"{kind}_max"] = max(xs) if xs else float("nan")
        c["suspend_daemon_p50"] = benchlib.percentile(c["suspend_daemon"], 50)
        stores = c["suspend_store"]
        c["suspend_store_share"] = sum(stores) / len(stores) if stores else float("nan")
        for k in ("busy_pct", "steal_pct"):
            c[k] = max(c[k]) if c[k] else float("nan")  # the worst round
    return cells


def report(raw: dict[str, Any], out: Path) -> None:
    """table.md, decision.png and summary.json from raw."""
    cells = cell_stats(raw["runs"])
    headers = ["platform", "daemon", "processes x queues", "holds", "by store", "hold p50 us", "of which to daemon",
               "hold p99 us", "hold max us", "releases", "release p50 us", "release p99 us", "p99 <= 50 us",
               "host busy %", "steal %"]
    rows = []
    order = sorted(cells.items(), key=lambda kv: (kv[0][0], int(kv[0][2].split("x")[0]) * int(kv[0][2].split("x")[1]),
                                                  kv[0][1]))
    for (platform, mode, scale), c in order:
        rows.append([platform, mode, scale, c["suspend_n"], "-" if c["suspend_store_share"] != c["suspend_store_share"] else f"{100 * c['suspend_store_share']:.0f}%",
                     f"{c['suspend_p50']:.1f}", f"{c['suspend_daemon_p50']:.1f}",
                     f"{c['suspend_p99']:.1f}", f"{c['suspend_max']:.1f}", c["resume_n"], f"{c['resume_p50']:.1f}",
                     f"{c['resume_p99']:.1f}", "yes" if c["suspend_p99"] <= TARGET_P99_US else "no",
                     f"{c['busy_pct']:.0f}", f"{c['steal_pct']:.2f}"])
    table = benchlib.format_table(headers, rows, right=[False, False, False] + [True] * 12)
    print(table)
    (out / "table.md").write_text(f"device: {raw['device']}\n\ncommand: `{raw['command']}`\n\n```\n{table}\n```\n")
    summary: dict[str, Any] = {"device": raw["device"], "command": raw["command"], "date": raw["date"]}
    for platform in ("cpu", "gpu"):
        for mode in MODES:
            mine = [(int(s.split("x")[0]) * int(s.split("x")[1]), s) for (p, m, s) in cells
                    if p == platform and m == mode and cells[(p, m, s)]["suspend"]]
            tag = MODE_TAGS[mode]
            for _, scale in mine:
                c = cells[(platform, mode, scale)]
                summary[f"decision_p50_us_{platform}{tag}_{scale}"] = round(c["suspend_p50"], 2)
                summary[f"decision_p99_us_{platform}{tag}_{scale}"] = round(c["suspend_p99"], 2)
                summary[f"decision_by_store_{platform}{tag}_{scale}"] = round(c["suspend_store_share"], 4)
            if mine:
                largest = max(mine)[1]
                summary[f"decision_p99_us_{platform}{tag}"] = round(cells[(platform, mode, largest)]["suspend_p99"], 2)
                summary[f"decision_scale_{platform}{tag}"] = largest
                summary[f"target_met_{platform}{tag}"] = cells[(platform, mode, largest)]["suspend_p99"] <= TARGET_P99_US
    benchlib.write_summary(out, summary)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no decision.png")
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (platform, mode, scale), c in order:
        xs = sorted(c["suspend"])
        if not xs:
            continue
        ys = [(i + 1) / len(xs) for i in range(len(xs))]
        ax.plot(xs, ys, label=f"{platform} {scale}, daemon {mode} (p99 {c['suspend_p99']:.0f} us)",
                linestyle="-" if mode == "sleep" else "--" if mode == "busy" else ":")
    ax.axvline(TARGET_P99_US, color="grey", linestyle="--", label="target p99 50 us")
    ax.set_xscale("log")
    ax.set_xlabel("decision latency: high queue ready -> low queue held (us)")
    ax.set_ylabel("fraction of holds")
    ax.set_title(f"xschedd decision latency\n{raw['device']}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "decision.png", dpi=120)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=str(benchlib.repo_root() / "build" / "release"))
    ap.add_argument("--platforms", default="cpu")
    ap.add_argument("--scales", default="2x1,64x4", help="cpu scales, processes x queues")
    ap.add_argument("--gpu-scales", default="2x1,16x4")
    ap.add_argument("--modes", default="sleep",
                    help="daemon modes: sleep (default), busy (--busy-poll), busy-nice (--busy-poll at nice -10), busy-cpu (--busy-poll --cpu on a core of its own)")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--level", type=int, choices=(1, 2), default=2, help="preemption level of every queue (default 2)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--gpu-bin", default=None, help="decision_gpu (built from decision_gpu.cu if not given)")
    ap.add_argument("--device", default=None, help="what ran it, for summary.json (default: the GPU's name or the CPU)")
    ap.add_argument("--out", default=str(benchlib.repo_root() / "bench" / "results" / "daemon"))
    ap.add_argument("--replot", default=None)
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.replot:
        report(json.loads(Path(a.replot).read_text()), out)
        return 0
    platforms = a.platforms.split(",")
    if any(p not in ("cpu", "gpu") for p in platforms):
        print("--platforms: cpu and/or gpu", file=sys.stderr)
        return 2
    workroot = Path(tempfile.mkdtemp(prefix="xsched-decision-"))
    if "gpu" in platforms and a.gpu_bin is None:
        a.gpu_bin = str(workroot / "decision_gpu")
        subprocess.run(["nvcc", "-O2", "-std=c++17", "-arch=sm_90", "-o", a.gpu_bin, str(HERE / "decision_gpu.cu")],
                       check=True)
    device = a.device
    if device is None:
        gpu = shutil.which("nvidia-smi") and subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
        cpus = os.cpu_count()
        device = benchlib.device_string(gpu.splitlines()[0]) + f", {cpus} CPUs" if gpu else f"CPU only, {cpus} CPUs"
    raw: dict[str, Any] = {"device": device, "command": benchlib.command_line(), "date": benchlib.now_iso(), "runs": []}
    modes = a.modes.split(",")
    if any(m not in MODES for m in modes):
        print("--modes: any of " + ",".join(MODES), file=sys.stderr)
        return 2
    # The modes of one (platform, scale) back to back, their order flipped each round.
    plan = [(p, s) for p in platforms for s in parse_scales(a.scales if p == "cpu" else a.gpu_scales)]
    rc = 0
    for rnd in range(a.rounds):
        for platform, (procs, queues) in plan:
            for mode in (modes if rnd % 2 == 0 else modes[::-1]):
                wd = workroot / f"r{rnd}-{platform}-{mode}-{procs}x{queues}"
                wd.mkdir()
                print(f"round {rnd}: {platform} {procs}x{queues}, daemon {mode}", flush=True)
                try:
                    r = one_run(a, platform, mode, procs, queues, wd)
                except (RuntimeError, subprocess.SubprocessError, OSError) as e:
                    print(f"  failed: {e}", flush=True)
                    r = {"platform": platform, "mode": mode, "procs": procs, "queues": queues, "ok": False,
                         "error": str(e), "samples": compact([])}
                r["round"] = rnd
                if not r["ok"]:
                    rc = 1
                raw["runs"].append(r)
    benchlib.write_json(out / "raw.json", raw, indent=None)
    report(raw, out)
    shutil.rmtree(workroot, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
