#!/usr/bin/env python3
"""Overhead benchmark: each suite model alone, natively and under the xsched interposer.

    python3 bench/overhead/overhead.py [--quick] [--xsched build/release/xsched] [--out DIR]
                                       [--models a,b] [--rounds N] [--iters K] [--env K=V]...

Two long-lived worker processes run this same script in --worker mode: one natively, one under
`xsched run`. Both build every model once and stay warm. For each round and each model the parent
asks the native worker, then the xsched worker (the order flips every round), for K timed
iterations (inference: forward + torch.cuda.synchronize(); training: one SGD step + synchronize),
and gets back the per-iteration wall latencies and the process CPU time spent (all threads).
After the rounds, the native worker counts the kernel launches per iteration of every model with
torch.profiler (or --launches FILE supplies them).

Per model: median latency native/xsched, the ratio of medians (slowdown), the throughput ratio,
and the CPU time added per launch = (CPU per iteration under xsched - natively) / launches.
Summary: geomean slowdown over the models, worst slowdown, median CPU us per launch
(targets, docs/benchmarks.md: <= 1% slower geomean, <= 0.5 us CPU per launch).

Outputs in --out (default bench/results/overhead): raw.json (every sample), table.txt (the table,
also printed), overhead.png (slowdown per model with the 1% and 3% lines; needs matplotlib),
summary.json (flat: device, command, date, geomean_slowdown, worst_slowdown, cpu_us_per_launch),
worker_native.log and worker_xsched.log (the workers' stderr).
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
import benchlib  # noqa: E402
import suite  # noqa: E402

#: Untimed iterations before each timed request (the other worker and model ran in between).
WARMUP_PER_REQUEST = 2


# =============================================================================================
# Worker side
# =============================================================================================
def worker_main() -> int:
    """Serve requests on stdin (see benchlib.serve); one workload per model, built on demand."""
    try:
        import torch
        import torchvision  # noqa: F401
    except ImportError as exc:
        print(f"overhead worker: torch/torchvision not importable: {exc}", file=sys.stderr)
        return 3
    if not torch.cuda.is_available():
        print("overhead worker: torch.cuda.is_available() is False", file=sys.stderr)
        return 3
    torch.backends.cudnn.benchmark = False  # same algorithms in both workers
    workloads: dict[str, suite.Workload] = {}

    def get(name: str) -> suite.Workload:
        """The workload of a model, built on first use."""
        if name not in workloads:
            workloads[name] = suite.Workload(suite.spec_by_name(name), "cuda")
            torch.cuda.synchronize()
        return workloads[name]

    def mapped_libraries() -> list[str]:
        """Paths of the shared libraries mapped into this process."""
        libs = set()
        try:
            for line in Path("/proc/self/maps").read_text().splitlines():
                parts = line.split()
                if len(parts) >= 6 and ".so" in parts[-1]:
                    libs.add(parts[-1])
        except OSError:
            pass
        return sorted(libs)

    def info(_req: dict[str, Any]) -> dict[str, Any]:
        """Device, versions, and whether an xsched library is mapped here."""
        torch.zeros(1, device="cuda")  # initialise CUDA (and load the driver) before looking
        torch.cuda.synchronize()
        libs = mapped_libraries()
        return {
            "device": torch.cuda.get_device_name(0),
            "cuda": torch.version.cuda,
            "torch": torch.__version__,
            "cudnn": torch.backends.cudnn.version(),
            "pid": os.getpid(),
            "interposed": any("xsched" in Path(p).name for p in libs),
            "xsched_libs": [p for p in libs if "xsched" in Path(p).name],
            "cuda_libs": [p for p in libs if Path(p).name.startswith("libcuda.so")],
            "ld_preload": os.environ.get("LD_PRELOAD", ""),
        }

    def prepare(req: dict[str, Any]) -> dict[str, Any]:
        """Build a model and run its warm-up iterations."""
        t0 = time.perf_counter()
        wl = get(req["model"])
        build_s = time.perf_counter() - t0
        for _ in range(int(req.get("warmup", 10))):
            wl.step()
            torch.cuda.synchronize()
        return {"build_s": build_s, "prepare_s": time.perf_counter() - t0}

    def run(req: dict[str, Any]) -> dict[str, Any]:
        """Timed iterations: per-iteration wall latencies (us), process CPU and wall seconds."""
        wl = get(req["model"])
        for _ in range(int(req.get("warmup", WARMUP_PER_REQUEST))):
            wl.step()
            torch.cuda.synchronize()
        iters = int(req["iters"])
        lat: list[float] = []
        gc.collect()
        gc.disable()
        try:
            c0 = time.process_time()
            w0 = time.perf_counter()
            for _ in range(iters):
                t0 = time.perf_counter()
                wl.step()
                torch.cuda.synchronize()
                lat.append((time.perf_counter() - t0) * 1e6)
            wall = time.perf_counter() - w0
            cpu = time.process_time() - c0
        finally:
            gc.enable()
        return {"lat_us": lat, "cpu_s": cpu, "wall_s": wall}

    def count(req: dict[str, Any]) -> dict[str, Any]:
        """Kernels launched per iteration, counted with torch.profiler."""
        from torch.profiler import ProfilerActivity, profile

        wl = get(req["model"])
        n = int(req.get("iters", 3))
        wl.step()
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for _ in range(n):
                wl.step()
            torch.cuda.synchronize()
        kernels = sum(1 for ev in prof.events()
                      if ev.device_type == torch.autograd.DeviceType.CUDA
                      and not ev.name.startswith(("Memcpy", "Memset")))
        return {"launches": kernels / n, "kernels_total": kernels, "iters": n}

    return benchlib.serve({"info": info, "prepare": prepare, "run": run, "count": count})


# =============================================================================================
# Parent side
# =============================================================================================
def parse_args(argv: list[str]) -> argparse.Namespace:
    """Options of the parent; defaults depend on --quick."""
    root = benchlib.repo_root()
    p = argparse.ArgumentParser(
        description="Interposer overhead: each suite model alone, natively and under `xsched run`, alternated.")
    p.add_argument("--xsched", type=Path, default=benchlib.default_xsched(),
                   help="the xsched binary (default: build/release/xsched)")
    p.add_argument("--out", type=Path, default=root / "bench" / "results" / "overhead",
                   help="output folder (default: bench/results/overhead)")
    p.add_argument("--quick", action="store_true", help="5 models, 3 rounds of 10 iterations (< 3 minutes)")
    p.add_argument("--models", help=f"comma-separated models (default all 14): {', '.join(s.name for s in suite.SUITE)}")
    p.add_argument("--rounds", type=int, help="rounds (default 20; --quick 3)")
    p.add_argument("--iters", type=int, help="timed iterations per request (default 20; --quick 10)")
    p.add_argument("--warmup", type=int, help="untimed iterations per model at start (default 10; --quick 3)")
    p.add_argument("--env", action="append", default=[], metavar="K=V",
                   help="environment variable for the xsched worker only (repeatable), e.g. XSCHED_LEVEL=2")
    p.add_argument("--xsched-arg", action="append", default=[], metavar="ARG",
                   help="argument for `xsched run` before '--' (repeatable; write --xsched-arg=--level)")
    p.add_argument("--launches", type=Path, metavar="FILE",
                   help="JSON {model: kernel launches per iteration}; skips counting with torch.profiler")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per worker request (default 900)")
    p.add_argument("--allow-no-interposer", action="store_true",
                   help="go on even if no xsched library is mapped in the xsched worker")
    args = p.parse_args(argv)
    args.rounds = args.rounds or (3 if args.quick else 20)
    args.iters = args.iters or (10 if args.quick else 20)
    args.warmup = args.warmup if args.warmup is not None else (3 if args.quick else 10)
    if args.rounds < 1 or args.iters < 1:
        p.error("--rounds and --iters must be >= 1")
    return args


def native_environment() -> dict[str, str]:
    """This process's environment without any xsched preload."""
    env = dict(os.environ)
    preload = env.get("LD_PRELOAD", "")
    if "xsched" in preload:
        kept = " ".join(x for x in preload.replace(":", " ").split() if "xsched" not in x)
        if kept:
            env["LD_PRELOAD"] = kept
        else:
            env.pop("LD_PRELOAD")
    return env


def model_stats(native: list[dict[str, Any]], xsched: list[dict[str, Any]], launches: Optional[float]) -> dict[str, Any]:
    """Figures for one model from its native and xsched requests (one per round)."""
    n_lat = [v for r in native for v in r["lat_us"]]
    x_lat = [v for r in xsched for v in r["lat_us"]]
    med_n = benchlib.median(n_lat)
    med_x = benchlib.median(x_lat)
    thr_n = sum(len(r["lat_us"]) for r in native) / sum(r["wall_s"] for r in native)
    thr_x = sum(len(r["lat_us"]) for r in xsched) / sum(r["wall_s"] for r in xsched)
    cpu_n = benchlib.median([r["cpu_s"] / len(r["lat_us"]) for r in native])
    cpu_x = benchlib.median([r["cpu_s"] / len(r["lat_us"]) for r in xsched])
    round_ratios = [benchlib.median(x["lat_us"]) / benchlib.median(n["lat_us"]) for n, x in zip(native, xsched)]
    return {
        "launches_per_iter": launches,
        "native_p50_us": med_n,
        "xsched_p50_us": med_x,
        "native_p99_us": benchlib.percentile(n_lat, 99),
        "xsched_p99_us": benchlib.percentile(x_lat, 99),
        "slowdown": med_x / med_n,
        "round_ratio_p10": benchlib.percentile(round_ratios, 10),
        "round_ratio_p90": benchlib.percentile(round_ratios, 90),
        "throughput_ratio": thr_x / thr_n,
        "native_cpu_us_per_iter": cpu_n * 1e6,
        "xsched_cpu_us_per_iter": cpu_x * 1e6,
        "cpu_us_per_launch": (cpu_x - cpu_n) * 1e6 / launches if launches else None,
    }


def fmt(v: Optional[float], spec: str) -> str:
    """Format a number, or 'n/a' for None and non-finite values."""
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def main(argv: list[str]) -> int:
    """Run the benchmark (or, with --worker first, be a worker); return the exit code."""
    if argv[:1] == ["--worker"]:
        return worker_main()
    args = parse_args(argv)
    benchlib.install_signal_handlers()
    try:
        specs = suite.select(args.models, args.quick)
    except KeyError as exc:
        print(f"overhead: {exc}", file=sys.stderr)
        return 2
    xsched = args.xsched.resolve()
    if not (xsched.is_file() and os.access(xsched, os.X_OK)):
        print(f"overhead: xsched binary not found: {xsched} (build it, or pass --xsched)", file=sys.stderr)
        return 2
    given_launches: dict[str, float] = {}
    if args.launches:
        given_launches = {k: float(v) for k, v in json.loads(args.launches.read_text()).items()}
    xs_env = dict(os.environ)
    for kv in args.env:
        if "=" not in kv:
            print(f"overhead: --env expects K=V, got {kv!r}", file=sys.stderr)
            return 2
        k, v = kv.split("=", 1)
        xs_env[k] = v
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    command = benchlib.command_line()
    date = benchlib.now_iso()
    script = str(Path(__file__).resolve())
    t_start = time.monotonic()

    print(f"overhead: {len(specs)} models, {args.rounds} rounds x {args.iters} iterations; xsched: {xsched} "
          f"{' '.join(args.xsched_arg)} {' '.join(args.env)}".rstrip(), flush=True)
    native = benchlib.JsonWorker("native", [sys.executable, script, "--worker"], env=native_environment(),
                                 log=out / "worker_native.log")
    xs = benchlib.JsonWorker("xsched", [str(xsched), "run", *args.xsched_arg, "--", sys.executable, script,
                                        "--worker"], env=xs_env, log=out / "worker_xsched.log")
    workers = {"native": native, "xsched": xs}
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {s.name: {"native": [], "xsched": []} for s in specs}
    prepare_info: dict[str, dict[str, Any]] = {s.name: {} for s in specs}
    launches: dict[str, Optional[float]] = {}
    try:
        info = {k: w.request({"cmd": "info"}, args.timeout) for k, w in workers.items()}
        print(f"device: {info['native']['device']}; torch {info['native']['torch']} "
              f"(CUDA {info['native']['cuda']}); native pid {info['native']['pid']}, "
              f"xsched pid {info['xsched']['pid']}", flush=True)
        if info["native"]["interposed"]:
            raise benchlib.WorkerError(f"the native worker has xsched mapped: {info['native']['xsched_libs']}")
        if not info["xsched"]["interposed"]:
            msg = (f"no xsched library is mapped in the xsched worker (LD_PRELOAD={info['xsched']['ld_preload']!r}, "
                   f"libcuda: {info['xsched']['cuda_libs']})")
            if not args.allow_no_interposer:
                raise benchlib.WorkerError(msg + "; pass --allow-no-interposer to measure anyway")
            print(f"warning: {msg}", file=sys.stderr)
        else:
            print(f"xsched worker maps: {', '.join(info['xsched']['xsched_libs'])}", flush=True)

        for spec in specs:
            for label, w in workers.items():
                ans = w.request({"cmd": "prepare", "model": spec.name, "warmup": args.warmup}, args.timeout)
                prepare_info[spec.name][label] = {"build_s": ans["build_s"], "prepare_s": ans["prepare_s"]}
            print(f"  prepared {spec.name:22s} native {prepare_info[spec.name]['native']['prepare_s']:6.1f} s, "
                  f"xsched {prepare_info[spec.name]['xsched']['prepare_s']:6.1f} s", flush=True)

        for r in range(args.rounds):
            order = ["native", "xsched"] if r % 2 == 0 else ["xsched", "native"]
            for spec in specs:
                for label in order:
                    ans = workers[label].request({"cmd": "run", "model": spec.name, "iters": args.iters,
                                                  "warmup": WARMUP_PER_REQUEST}, args.timeout)
                    samples[spec.name][label].append({"round": r, "first": label == order[0], "lat_us": ans["lat_us"],
                                                      "cpu_s": ans["cpu_s"], "wall_s": ans["wall_s"]})
            ratios = [benchlib.median([v for q in samples[s.name]["xsched"] for v in q["lat_us"]])
                      / benchlib.median([v for q in samples[s.name]["native"] for v in q["lat_us"]]) for s in specs]
            print(f"  round {r + 1:3d}/{args.rounds}: {time.monotonic() - t_start:6.0f} s, "
                  f"geomean slowdown so far {benchlib.geomean(ratios):.4f}", flush=True)

        for spec in specs:
            if spec.name in given_launches:
                launches[spec.name] = given_launches[spec.name]
                continue
            try:
                ans = native.request({"cmd": "count", "model": spec.name, "iters": 3}, args.timeout)
                launches[spec.name] = ans["launches"] if ans["launches"] > 0 else None
            except benchlib.WorkerError as exc:
                print(f"warning: cannot count launches of {spec.name}: {str(exc).splitlines()[0]}", file=sys.stderr)
                launches[spec.name] = None
    except benchlib.WorkerError as exc:
        print(f"overhead: FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        for w in workers.values():
            w.close()

    # ---- figures ----
    stats = {s.name: model_stats(samples[s.name]["native"], samples[s.name]["xsched"], launches.get(s.name))
             for s in specs}
    slowdowns = {n: st["slowdown"] for n, st in stats.items()}
    geo = benchlib.geomean(slowdowns.values())
    worst_model = max(slowdowns, key=lambda n: slowdowns[n])
    worst = slowdowns[worst_model]
    per_launch = [st["cpu_us_per_launch"] for st in stats.values() if st["cpu_us_per_launch"] is not None]
    cpu_per_launch = benchlib.median(per_launch) if per_launch else None
    thr_geo = benchlib.geomean(st["throughput_ratio"] for st in stats.values())
    device = benchlib.device_string(info["native"]["device"], info["native"]["cuda"])

    headers = ["model", "launches/it", "native p50 ms", "xsched p50 ms", "slowdown", "round p10..p90",
               "throughput", "CPU ms/it nat", "CPU ms/it xs", "CPU us/launch"]
    rows = []
    for s in specs:
        st = stats[s.name]
        rows.append([s.name, fmt(st["launches_per_iter"], ".0f"), fmt(st["native_p50_us"] / 1e3, ".3f"),
                     fmt(st["xsched_p50_us"] / 1e3, ".3f"), fmt(st["slowdown"], ".4f"),
                     f"{fmt(st['round_ratio_p10'], '.3f')}..{fmt(st['round_ratio_p90'], '.3f')}",
                     fmt(st["throughput_ratio"], ".4f"), fmt(st["native_cpu_us_per_iter"] / 1e3, ".3f"),
                     fmt(st["xsched_cpu_us_per_iter"] / 1e3, ".3f"), fmt(st["cpu_us_per_launch"], ".3f")])
    table = benchlib.format_table(headers, rows)
    text = (f"xsched interposer overhead: {device}\n{command}\n{date}; {args.rounds} rounds x {args.iters} "
            f"iterations per model and side, order alternated every round\n\n{table}\n\n"
            f"geomean slowdown     {fmt(geo, '.4f')}   (target <= 1.01)\n"
            f"worst slowdown       {fmt(worst, '.4f')}   ({worst_model})\n"
            f"geomean throughput   {fmt(thr_geo, '.4f')}   (xsched / native)\n"
            f"CPU us per launch    {fmt(cpu_per_launch, '.3f')}   (median over models; target <= 0.5)\n")
    print("\n" + text, flush=True)
    (out / "table.txt").write_text(text)

    benchlib.write_json(out / "raw.json", {
        "device": device, "command": command, "date": date,
        "config": {"rounds": args.rounds, "iters": args.iters, "warmup": args.warmup,
                   "warmup_per_request": WARMUP_PER_REQUEST, "quick": args.quick,
                   "xsched": str(xsched), "xsched_args": args.xsched_arg, "xsched_env": args.env},
        "workers": info,
        "models": {s.name: {"batch": s.batch, "train": s.train, "launches_per_iter": launches.get(s.name),
                            "prepare": prepare_info[s.name], "stats": stats[s.name],
                            "native": samples[s.name]["native"], "xsched": samples[s.name]["xsched"]}
                   for s in specs},
    })
    plotted = benchlib.bar_chart(out / "overhead.png", [s.name for s in specs], [slowdowns[s.name] for s in specs],
                       title=f"xsched interposer overhead, {device}\ngeomean {geo:.4f}, worst {worst:.4f} "
                             f"({worst_model}); bars: median latency ratio, whiskers: per-round p10..p90",
                       ylabel="latency xsched / native",
                       hlines=[(1.01, "1% (geomean target)"), (1.03, "3%")],
                       errors=[(stats[s.name]["round_ratio_p10"], stats[s.name]["round_ratio_p90"]) for s in specs])
    benchlib.write_summary(out, {
        "device": device, "command": command, "date": date,
        "geomean_slowdown": geo, "worst_slowdown": worst, "cpu_us_per_launch": cpu_per_launch,
        "worst_model": worst_model, "throughput_ratio_geomean": thr_geo, "models": len(specs),
        "rounds": args.rounds, "iters": args.iters, "quick": args.quick,
        "xsched_args": " ".join(args.xsched_arg), "xsched_env": " ".join(args.env),
    })
    print(f"wrote {out}/raw.json, table.txt, summary.json" + (", overhead.png" if plotted else " (no plot)")
          + f" in {time.monotonic() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
