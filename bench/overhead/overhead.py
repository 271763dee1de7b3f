#!/usr/bin/env python3
"""Overhead benchmark: each suite model alone, natively and under the xsched interposer.

    python3 bench/overhead/overhead.py [--quick] [--xsched build/release/xsched] [--out DIR]
                                       [--compare NAME=PATH]... [--models a,b] [--rounds N] ...

Long-lived worker processes run this same script in --worker mode: one natively, one under
`xsched run`, and one under each build given with --compare. Each builds every model once and
stays warm. Every round, for each model, the parent asks each worker in turn (the order rotates
every round) for a few timed iterations (inference: forward + torch.cuda.synchronize(); training:
one SGD step + synchronize) and gets back each iteration's wall time (host clock), its time between
CUDA events recorded before and after the step (GPU clock), and the process CPU time.

By default rounds go on until the 95% confidence interval of the geomean slowdown (and of every
compared build's ratio) is within --ci-target, bounded by --max-seconds; --rounds N fixes the
count. The intervals are a bootstrap over rounds (bench/common/roundstats.py); the figures, table,
summary and plot are written by report.py. `--from-raw raw.json` writes them again from a run's
samples, without a GPU.

Outputs in --out (default bench/results/overhead): raw.json (every sample), table.txt,
summary.json, overhead.png, worker_<side>.log. See bench/overhead/README.md.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402
from builds import (build_environment, check_mapping, expected_interposer, parse_builds,  # noqa: E402
                    run_platform, without_xsched_preload)
import report  # noqa: E402
import roundstats  # noqa: E402
import suite  # noqa: E402

#: Resamples of the interval checked between rounds (the final figures use --bootstrap).
STOP_RESAMPLES = 400
#: Largest share of the elapsed time spent on those checks; rounds in between go unchecked.
CHECK_TIME_SHARE = 0.05


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
    torch.backends.cudnn.benchmark = False  # same algorithms in every worker
    workloads: dict[str, suite.Workload] = {}
    events: list[Any] = []  # (start, end) pairs, reused by every request

    def get(name: str) -> suite.Workload:
        """The workload of a model, built on first use."""
        if name not in workloads:
            workloads[name] = suite.Workload(suite.spec_by_name(name), "cuda")
            torch.cuda.synchronize()
        return workloads[name]

    def event_pairs(n: int) -> list[Any]:
        """n pairs of timing events, each recorded once already.

        torch creates an event's CUDA event at its first record(): doing that here keeps the
        creation (a call the interposer sees too) out of the timed iterations.
        """
        while len(events) < n:
            pair = (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
            for ev in pair:
                ev.record()
            events.append(pair)
        torch.cuda.synchronize()
        return events[:n]

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
        """Device, versions, and which xsched libraries are mapped here (real paths)."""
        torch.zeros(1, device="cuda")  # initialise CUDA (and load the driver) before looking
        torch.cuda.synchronize()
        libs = mapped_libraries()
        xs = [p for p in libs if "xsched" in Path(p).name]
        return {
            "device": torch.cuda.get_device_name(0),
            "cuda": torch.version.cuda,
            "torch": torch.__version__,
            "cudnn": torch.backends.cudnn.version(),
            "pid": os.getpid(),
            "interposed": bool(xs),
            "xsched_libs": xs,
            "xsched_libs_real": sorted({os.path.realpath(p) for p in xs}),
            "cuda_libs": [p for p in libs if Path(p).name.startswith("libcuda.so")],
            "ld_preload": os.environ.get("LD_PRELOAD", ""),
            "ld_library_path": os.environ.get("LD_LIBRARY_PATH", ""),
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
        """Timed iterations: per iteration the wall and GPU-event times (us); process CPU and wall s."""
        wl = get(req["model"])
        iters = int(req["iters"])
        pairs = event_pairs(iters)
        for _ in range(int(req.get("warmup", 2))):
            wl.step()
            torch.cuda.synchronize()
        lat: list[float] = []
        gc.collect()
        gc.disable()
        try:
            c0 = time.process_time()
            w0 = time.perf_counter()
            for start, end in pairs:
                t0 = time.perf_counter()
                start.record()  # on the current stream, as the step's work
                wl.step()
                end.record()
                torch.cuda.synchronize()
                lat.append((time.perf_counter() - t0) * 1e6)
            wall = time.perf_counter() - w0
            cpu = time.process_time() - c0
        finally:
            gc.enable()
        gpu = [start.elapsed_time(end) * 1e3 for start, end in pairs]  # ms -> us
        return {"lat_us": lat, "gpu_us": gpu, "cpu_s": cpu, "wall_s": wall}

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
# Parent side: options (the builds and their environments: builds.py)
# =============================================================================================
def parse_args(argv: list[str]) -> argparse.Namespace:
    """Options of the parent; defaults depend on --quick."""
    root = benchlib.repo_root()
    p = argparse.ArgumentParser(
        description="Interposer overhead: each suite model alone, natively, under `xsched run` and under each "
                    "--compare build, alternated in rounds until the 95% CI of the geomean slowdown is narrow "
                    "enough. Headline figures use the host clock; GPU-clock (CUDA event) figures come beside them.")
    p.add_argument("--xsched", type=Path, default=benchlib.default_xsched(),
                   help="the xsched binary of the build under test (default: build/release/xsched)")
    p.add_argument("--compare", action="append", default=[], metavar="NAME=PATH",
                   help="another build to run side by side: NAME (letters, digits, _) and its xsched binary or the "
                        "folder holding it (repeatable); reported as its slowdown and as the ratio xsched/NAME")
    p.add_argument("--ld-path", action="append", default=[], metavar="NAME=DIR",
                   help="LD_LIBRARY_PATH folder put first for a build (NAME: xsched or a --compare name; default: "
                        "the folder of that build's xsched binary; an empty DIR adds none)")
    p.add_argument("--out", type=Path, default=root / "bench" / "results" / "overhead",
                   help="output folder (default: bench/results/overhead)")
    p.add_argument("--quick", action="store_true",
                   help="5 models, --max-seconds 100, --min-rounds 3, --warmup 3: under 3 minutes on an H100")
    p.add_argument("--models", help=f"comma-separated models (default all 14): {', '.join(s.name for s in suite.SUITE)}")
    p.add_argument("--rounds", type=int,
                   help="run exactly N rounds instead of stopping on --ci-target / --max-seconds")
    p.add_argument("--ci-target", type=float, default=0.005,
                   help="stop once every 95%% CI (geomean slowdown of each build, geomean ratio xsched/NAME) is "
                        "within this relative half-width of its figure (default 0.005: +-0.5%%)")
    p.add_argument("--max-seconds", type=float,
                   help="start no round that would end later than this many seconds after the start, model "
                        "building included (default 600; --quick 100)")
    p.add_argument("--min-rounds", type=int,
                   help="rounds before the CI may stop the run (default 10; --quick 3)")
    p.add_argument("--iters", type=int, default=5, help="timed iterations per request (default 5)")
    p.add_argument("--request-warmup", type=int, default=2,
                   help="untimed iterations before each request's timed ones (default 2)")
    p.add_argument("--warmup", type=int, help="untimed iterations per model and worker at the start (default 10; "
                                              "--quick 3)")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples of the final CIs (default 2000)")
    p.add_argument("--seed", type=int, default=1, help="seed of the bootstrap's random draws (default 1)")
    p.add_argument("--env", action="append", default=[], metavar="K=V",
                   help="environment variable for every xsched worker, not the native one (repeatable), "
                        "e.g. XSCHED_LEVEL=2")
    p.add_argument("--xsched-arg", action="append", default=[], metavar="ARG",
                   help="argument for `xsched run` before '--', for every build (repeatable; write --xsched-arg=--level)")
    p.add_argument("--launches", type=Path, metavar="FILE",
                   help="JSON {model: kernel launches per iteration}; skips counting with torch.profiler")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per worker request (default 900)")
    p.add_argument("--allow-no-interposer", action="store_true",
                   help="go on even if an xsched worker has no xsched library mapped (a build whose worker maps "
                        "another build's library is refused regardless)")
    p.add_argument("--from-raw", type=Path, metavar="RAW_JSON",
                   help="measure nothing: write table.txt, summary.json and overhead.png again from a run's raw.json "
                        "(into --out if given, else beside it), with --bootstrap and --seed")
    args = p.parse_args(argv)
    args.out_given = any(a == "--out" or a.startswith("--out=") for a in argv)
    args.max_seconds = args.max_seconds if args.max_seconds is not None else (100.0 if args.quick else 600.0)
    args.min_rounds = args.min_rounds if args.min_rounds is not None else (3 if args.quick else 10)
    args.warmup = args.warmup if args.warmup is not None else (3 if args.quick else 10)
    if args.rounds is not None and args.rounds < 1:
        p.error("--rounds must be >= 1")
    if args.iters < 1 or args.min_rounds < 1 or args.bootstrap < 1 or args.request_warmup < 0:
        p.error("--iters, --min-rounds and --bootstrap must be >= 1, --request-warmup >= 0")
    if not args.ci_target > 0:
        p.error("--ci-target must be > 0")
    return args


# =============================================================================================
# Parent side: the rounds
# =============================================================================================
@dataclass
class RoundConfig:
    """How the rounds run and stop (see roundstats.should_stop)."""

    iters: int = 5
    request_warmup: int = 2
    fixed_rounds: Optional[int] = None
    min_rounds: int = 10
    max_seconds: float = 600.0
    ci_target: float = 0.005
    timeout: float = 900.0
    seed: int = 1


def rotation(labels: Sequence[str], r: int) -> list[str]:
    """The order of the sides in round r: rotated by one each round, so each side takes each place."""
    k = r % len(labels)
    return list(labels[k:]) + list(labels[:k])


def stop_half_widths(samples: Mapping[str, Mapping[str, list[dict[str, Any]]]], labels: Sequence[str],
                     seed: int) -> dict[str, float]:
    """The relative half-widths that decide when to stop: every host-clock geomean interval reported."""
    ivs = report.intervals(samples, labels, "host", STOP_RESAMPLES, seed)
    assert ivs is not None
    return {f"{a}/{b}": res.geomean.half_width() for (a, b), res in ivs.items()}


def run_rounds(workers: Mapping[str, Any], models: Sequence[str], cfg: RoundConfig,
               samples: dict[str, dict[str, list[dict[str, Any]]]], rounds: list[dict[str, Any]],
               t_start: float, clock: Callable[[], float] = time.monotonic,
               log: Callable[[str], None] = print) -> str:
    """Run rounds until roundstats.should_stop says why; return that reason ("interrupted" on Ctrl-C).

    workers: by side ("native" first), each with request(dict, timeout) -> dict. samples[model][side]
    and rounds grow by one entry per round; a round cut short by Ctrl-C is removed again.
    """
    labels = list(workers)
    t_rounds = clock()
    check_s = 0.0
    try:
        while True:
            r = len(rounds)
            order = rotation(labels, r)
            t0 = clock()
            for m in models:
                for pos, label in enumerate(order):
                    ans = workers[label].request({"cmd": "run", "model": m, "iters": cfg.iters,
                                                  "warmup": cfg.request_warmup}, cfg.timeout)
                    samples[m][label].append({"round": r, "position": pos, "lat_us": ans["lat_us"],
                                              "gpu_us": ans.get("gpu_us"), "cpu_s": ans["cpu_s"],
                                              "wall_s": ans["wall_s"]})
            now = clock()
            rounds.append({"round": r, "order": order, "start_s": t0 - t_start, "end_s": now - t_start})
            done = r + 1
            widths: Optional[dict[str, float]] = None
            if cfg.fixed_rounds is None and done >= cfg.min_rounds and check_s <= CHECK_TIME_SHARE * (now - t_start):
                c0 = clock()
                widths = stop_half_widths(samples, labels, cfg.seed)
                check_s += clock() - c0
            elapsed = clock() - t_start
            reason = roundstats.should_stop(done, fixed_rounds=cfg.fixed_rounds, min_rounds=cfg.min_rounds,
                                            elapsed_s=elapsed, round_s=(clock() - t_rounds) / done,
                                            max_seconds=cfg.max_seconds,
                                            half_widths=list(widths.values()) if widths else None,
                                            ci_target=cfg.ci_target)
            geo = benchlib.geomean(roundstats.ratio_of_medians(report.per_round(samples[m][report.MAIN], "lat_us"),
                                                               report.per_round(samples[m][report.NATIVE], "lat_us"))
                                   for m in models)
            ci = (" CI half-widths " + ", ".join(f"{k} +-{100 * w:.2f}%" for k, w in widths.items())) if widths else ""
            log(f"  round {done:3d}: {elapsed:6.0f} s, geomean slowdown {geo:.4f} (host clock){ci}")
            if reason:
                return reason
    except KeyboardInterrupt:
        kept = len(rounds)
        for sides in samples.values():
            for reqs in sides.values():
                while reqs and reqs[-1]["round"] >= kept:
                    reqs.pop()
        log(f"  interrupted; keeping the {kept} complete rounds")
        return "interrupted"


# =============================================================================================
# Parent side: main
# =============================================================================================
def upgrade_raw(raw: dict[str, Any]) -> dict[str, Any]:
    """A raw.json of the earlier layout (native and xsched only, host clock only) in today's."""
    if "labels" in raw:
        return raw
    raw["labels"] = [report.NATIVE, report.MAIN]
    for d in raw["models"].values():
        d["samples"] = {label: d.pop(label) for label in raw["labels"]}
    cfg = raw["config"]
    cfg.setdefault("request_warmup", cfg.get("warmup_per_request", 2))
    cfg.setdefault("stop_reason", "rounds")
    cfg.setdefault("ci_target", None)
    cfg.setdefault("builds", {report.MAIN: {"xsched": cfg.get("xsched")}})
    for key in ("xsched_args", "xsched_env"):
        if isinstance(cfg.get(key), list):
            cfg[key] = " ".join(cfg[key])
    return raw


def from_raw(args: argparse.Namespace) -> int:
    """--from-raw: the figures of a finished run, written again."""
    raw = upgrade_raw(json.loads(args.from_raw.read_text()))
    out = args.out if args.out_given else args.from_raw.parent
    text = report.write_outputs(out, raw, args.bootstrap, args.seed, write_raw=out.resolve() != args.from_raw.parent.resolve())
    print(text)
    print(f"wrote {out}/table.txt, summary.json (and overhead.png where matplotlib is installed)")
    return 0


def main(argv: list[str]) -> int:
    """Run the benchmark (or, with --worker first, be a worker); return the exit code."""
    if argv[:1] == ["--worker"]:
        return worker_main()
    args = parse_args(argv)
    if args.from_raw:
        return from_raw(args)
    benchlib.install_signal_handlers()
    try:
        specs = suite.select(args.models, args.quick)
        builds = parse_builds(args.xsched, args.compare, args.ld_path)
        envs = {b.label: build_environment(os.environ, args.env, b) for b in builds.values()}
    except (KeyError, ValueError) as exc:
        print(f"overhead: {exc}", file=sys.stderr)
        return 2
    platform = run_platform(args.xsched_arg)
    for b in builds.values():
        if not (b.xsched.is_file() and os.access(b.xsched, os.X_OK)):
            print(f"overhead: {b.label}: xsched binary not found: {b.xsched} (build it, or pass --xsched/--compare)",
                  file=sys.stderr)
            return 2
        b.interposer = expected_interposer(b.xsched, envs[b.label], platform)
    if "XSCHED_INTERPOSER" in os.environ:
        print("note: XSCHED_INTERPOSER is not passed on: each build's worker uses its own interposer", file=sys.stderr)
    given_launches: dict[str, float] = {}
    if args.launches:
        given_launches = {k: float(v) for k, v in json.loads(args.launches.read_text()).items()}
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    command, date = benchlib.command_line(), benchlib.now_iso()
    script = str(Path(__file__).resolve())
    t_start = time.monotonic()
    cfg = RoundConfig(iters=args.iters, request_warmup=args.request_warmup, fixed_rounds=args.rounds,
                      min_rounds=args.min_rounds, max_seconds=args.max_seconds, ci_target=args.ci_target,
                      timeout=args.timeout, seed=args.seed)
    stop = (f"{args.rounds} rounds" if args.rounds else
            f"until the 95% CIs are within +-{100 * args.ci_target:.2f}% (at least {args.min_rounds} rounds, "
            f"at most {args.max_seconds:.0f} s)")
    print(f"overhead: {len(specs)} models, {args.iters} iterations per request, {stop}; builds: "
          + ", ".join(f"{b.label}={b.xsched}" for b in builds.values())
          + f" {' '.join(args.xsched_arg)} {' '.join(args.env)}".rstrip(), flush=True)

    workers: dict[str, benchlib.JsonWorker] = {}
    labels = [report.NATIVE, *builds]
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {s.name: {lb: [] for lb in labels} for s in specs}
    prepare_info: dict[str, dict[str, Any]] = {s.name: {} for s in specs}
    rounds: list[dict[str, Any]] = []
    launches: dict[str, Optional[float]] = {}
    try:
        workers[report.NATIVE] = benchlib.JsonWorker(
            report.NATIVE, [sys.executable, script, "--worker"], env=without_xsched_preload(os.environ),
            log=out / "worker_native.log")
        for b in builds.values():
            workers[b.label] = benchlib.JsonWorker(
                b.label, [str(b.xsched), "run", *args.xsched_arg, "--", sys.executable, script, "--worker"],
                env=envs[b.label], log=out / f"worker_{b.label}.log")
        info = {k: w.request({"cmd": "info"}, args.timeout) for k, w in workers.items()}
        print(f"device: {info[report.NATIVE]['device']}; torch {info[report.NATIVE]['torch']} "
              f"(CUDA {info[report.NATIVE]['cuda']}); pids "
              + ", ".join(f"{k} {v['pid']}" for k, v in info.items()), flush=True)
        for label in labels:
            build = builds.get(label)
            problem = check_mapping(label, info[label], build)
            if problem:
                raise benchlib.WorkerError(problem)
            if build is None:
                continue
            if not info[label]["interposed"]:
                msg = (f"no xsched library is mapped in the {label} worker (LD_PRELOAD={info[label]['ld_preload']!r}, "
                       f"libcuda: {info[label]['cuda_libs']})")
                if not args.allow_no_interposer:
                    raise benchlib.WorkerError(msg + "; pass --allow-no-interposer to measure anyway")
                print(f"warning: {msg}", file=sys.stderr)
            else:
                print(f"{label} worker maps: {', '.join(info[label]['xsched_libs'])}", flush=True)
        if len({b.interposer for b in builds.values()}) < len(builds):
            print("note: two builds preload the same interposer: their comparison shows the method's noise",
                  file=sys.stderr)

        for spec in specs:
            for label, w in workers.items():
                ans = w.request({"cmd": "prepare", "model": spec.name, "warmup": args.warmup}, args.timeout)
                prepare_info[spec.name][label] = {"build_s": ans["build_s"], "prepare_s": ans["prepare_s"]}
            print(f"  prepared {spec.name:22s} " + ", ".join(f"{k} {v['prepare_s']:5.1f} s"
                                                            for k, v in prepare_info[spec.name].items()), flush=True)

        stop_reason = run_rounds(workers, [s.name for s in specs], cfg, samples, rounds, t_start)
        if not rounds:
            raise benchlib.WorkerError("no complete round")

        for spec in specs:
            if spec.name in given_launches:
                launches[spec.name] = given_launches[spec.name]
            elif stop_reason == "interrupted":
                launches[spec.name] = None  # a worker may still be answering the interrupted request
            else:
                try:
                    ans = workers[report.NATIVE].request({"cmd": "count", "model": spec.name, "iters": 3}, args.timeout)
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

    seconds = time.monotonic() - t_start
    device = benchlib.device_string(info[report.NATIVE]["device"], info[report.NATIVE]["cuda"])
    raw = {
        "device": device, "command": command, "date": date, "labels": labels,
        "config": {"rounds": len(rounds), "iters": args.iters, "warmup": args.warmup,
                   "request_warmup": args.request_warmup, "quick": args.quick, "fixed_rounds": args.rounds,
                   "min_rounds": args.min_rounds, "max_seconds": args.max_seconds, "ci_target": args.ci_target,
                   "stop_reason": stop_reason, "seconds": seconds, "platform": platform,
                   "xsched": str(builds[report.MAIN].xsched), "xsched_args": " ".join(args.xsched_arg),
                   "xsched_env": " ".join(args.env),
                   "builds": {b.label: {"xsched": str(b.xsched), "interposer": b.interposer, "ld_path": b.ld_path}
                              for b in builds.values()}},
        "workers": info,
        "rounds": rounds,
        "models": {s.name: {"batch": s.batch, "train": s.train, "launches_per_iter": launches.get(s.name),
                            "prepare": prepare_info[s.name], "samples": samples[s.name]} for s in specs},
    }
    text = report.write_outputs(out, raw, args.bootstrap, args.seed)
    print("\n" + text, flush=True)
    print(f"wrote {out}/raw.json, table.txt, summary.json, overhead.png (where matplotlib is installed) "
          f"in {time.monotonic() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
