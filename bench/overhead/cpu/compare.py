#!/usr/bin/env python3
"""CPU ns per kernel launch: natively and through interposer builds, at each level.

    python3 bench/overhead/cpu/compare.py --build new=build/release/src/interpose/cuda/libxsched_cuda.so \
        --build old=/tmp/old/libxsched_cuda.so --rounds 15

Each round runs launch_cost_cpu once per (build, level, stream) and once
natively per stream, in an order that rotates every round, so that drift of
the machine spreads evenly over what is compared. Prints, per case and for
both of launch_cost_cpu's figures (the launching thread's CPU time, and the
whole process's), the median over the rounds of each run's median burst,
its spread (min, max), and the cost beyond native.

--instructions counts instead, under valgrind's callgrind, the instructions
a launch executes (inside cuLaunchKernel, the launching thread): exact and
deaf to other load on the machine, blind to what an instruction costs
(atomics, cache misses, system calls, other threads).
"""
import argparse
import io
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "common"))
import benchlib  # noqa: E402


def default_path(*parts):
    return os.path.normpath(os.path.join(HERE, "..", "..", "..", "build", "release", *parts))


def run_once(bench, lib, stream, driver, level, launches, bursts):
    env = dict(os.environ, XSCHED_REAL_LIBCUDA=driver, XSCHED_LOG_LEVEL="warn")
    if level is not None:
        env["XSCHED_LEVEL"] = str(level)
    out = subprocess.run([bench, lib, stream, str(launches), str(bursts)], env=env, check=True,
                         capture_output=True, text=True, timeout=300)
    thread_ns, process_ns = out.stdout.split()[-2:]
    return float(thread_ns), float(process_ns)


def instructions(bench, lib, stream, driver, level, launches):
    """Instructions executed inside cuLaunchKernel over a whole run."""
    env = dict(os.environ, XSCHED_REAL_LIBCUDA=driver, XSCHED_LOG_LEVEL="warn")
    if level is not None:
        env["XSCHED_LEVEL"] = str(level)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        subprocess.run(["valgrind", "--tool=callgrind", "--toggle-collect=cuLaunchKernel", f"--callgrind-out-file={out}",
                        bench, lib, stream, str(launches), "1"], env=env, check=True, capture_output=True, timeout=600)
        with open(out) as f:
            for line in f:
                if line.startswith("totals:") or line.startswith("summary:"):
                    return int(line.split()[1])
    raise RuntimeError("callgrind wrote no totals")


def instructions_per_launch(bench, lib, stream, driver, level):
    # Two runs that differ only in their launches: the difference is theirs alone.
    few, many = 2000, 12000
    return (instructions(bench, lib, stream, driver, level, many) -
            instructions(bench, lib, stream, driver, level, few)) / (many - few)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", action="append", default=[], metavar="NAME=LIB",
                    help="an interposer build (libxsched_cuda.so), repeatable; default: this tree's release build")
    ap.add_argument("--driver", default=default_path("bench", "overhead", "cpu", "libstub_cuda.so"),
                    help="the driver (default: the stub; tests/fake_cuda's libfake_cuda.so also works)")
    ap.add_argument("--bench", default=default_path("bench", "overhead", "cpu", "launch_cost_cpu"))
    ap.add_argument("--levels", default="1,2")
    ap.add_argument("--streams", default="legacy,own,beside", help="launch_cost_cpu scenarios")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--launches", type=int, default=20000, help="launches per burst")
    ap.add_argument("--bursts", type=int, default=31, help="bursts per run")
    ap.add_argument("--instructions", action="store_true", help="count instructions per launch (valgrind) instead")
    ap.add_argument("--out", type=Path, default=None,
                    help="also write raw.json, table.txt, summary.json and launch_cost.png there")
    args = ap.parse_args()
    builds = [b.split("=", 1) for b in args.build] or [["this", default_path("src", "interpose", "cuda", "libxsched_cuda.so")]]
    levels = [int(x) for x in args.levels.split(",") if x]
    streams = [x for x in args.streams.split(",") if x]
    cases = [("native", "-", s, args.driver, None) for s in streams]
    cases += [(name, f"L{lv}", s, lib, lv) for name, lib in builds for lv in levels for s in streams]
    if args.instructions:
        print(f"driver: {args.driver}; instructions per launch inside cuLaunchKernel (callgrind)")
        print(f"{'build':<12}{'level':<7}{'stream':<8}{'instructions':>13}")
        for name, level_name, stream, lib, level in cases:
            n = instructions_per_launch(args.bench, lib, stream, args.driver, level)
            print(f"{name:<12}{level_name:<7}{stream:<8}{n:>13.1f}")
        return
    samples = {c[:3]: [] for c in cases}
    for r in range(args.rounds):
        shift = r % len(cases)
        for name, level_name, stream, lib, level in cases[shift:] + cases[:shift]:
            ns = run_once(args.bench, lib, stream, args.driver, level, args.launches, args.bursts)
            samples[(name, level_name, stream)].append(ns)
        print(f"round {r + 1}/{args.rounds}", file=sys.stderr)
    table = io.StringIO()
    table.write(f"driver: {args.driver}; {args.rounds} rounds, {args.bursts} bursts of {args.launches} launches\n")
    summary = {"device": host_cpu(), "command": benchlib.command_line(), "date": benchlib.now_iso(),
               "driver": os.path.basename(args.driver), "rounds": args.rounds}
    for i, what in enumerate(["launching thread", "process"]):
        native = {s: statistics.median(x[i] for x in samples[("native", "-", s)]) for s in streams}
        table.write(f"\nCPU ns per launch, {what}\n")
        table.write(f"{'build':<12}{'level':<7}{'stream':<8}{'median':>8}{'min':>8}{'max':>8}{'beyond native':>15}\n")
        for (name, level_name, stream), runs in samples.items():
            xs = [x[i] for x in runs]
            med = statistics.median(xs)
            extra = "" if name == "native" else f"{med - native[stream]:.1f}"
            table.write(f"{name:<12}{level_name:<7}{stream:<8}{med:>8.1f}{min(xs):>8.1f}{max(xs):>8.1f}{extra:>15}\n")
            if name != "native":
                key = f"cpu_ns_per_launch_{name}_{level_name}_{stream}_{'thread' if i == 0 else 'process'}"
                summary[key] = round(med - native[stream], 1)
    print(table.getvalue(), end="")
    if args.out is not None:
        write_outputs(args.out, table.getvalue(), summary, samples, builds, levels, streams)


def host_cpu():
    """The host's CPU model and core count, for the summary."""
    model = platform.processor() or "CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} CPUs"


def write_outputs(out, text, summary, samples, builds, levels, streams):
    """raw.json (every run's two figures), table.txt, summary.json and a bar chart of the thread's cost."""
    out.mkdir(parents=True, exist_ok=True)
    benchlib.write_json(out / "raw.json", {"summary": summary, "runs": [
        {"build": n, "level": lv, "stream": st, "thread_ns": [x[0] for x in xs], "process_ns": [x[1] for x in xs]}
        for (n, lv, st), xs in samples.items()]})
    (out / "table.txt").write_text(f"{summary['command']}\n{summary['date']}; {summary['device']}\n\n{text}")
    benchlib.write_summary(out, summary)
    labels = [f"{n} L{lv} {st}" for n, _ in builds for lv in levels for st in streams]
    values = [summary[f"cpu_ns_per_launch_{n}_L{lv}_{st}_thread"] for n, _ in builds for lv in levels for st in streams]
    benchlib.bar_chart(out / "launch_cost.png", labels, values, title=f"CPU ns per launch beyond native, launching "
                       f"thread\n{summary['device']}, driver {summary['driver']}", ylabel="ns", baseline=0.0)


if __name__ == "__main__":
    main()
