#!/usr/bin/env python3
"""Preemption-latency benchmark: how long a high-priority kernel waits while low kernels of T us fill the GPU.

    python3 bench/preempt/preempt.py --build [--xsched build/release/xsched] [--t-us 50,500,2000]
                                     [--samples 200] [--rounds 2] [--variants native,streamprio,...]
                                     [--deployments inprocess,crossprocess]
    python3 bench/preempt/preempt.py --replot bench/results/preempt/raw.json

The program is bench/preempt/preempt.cu (built with --build, or given with --bin): a low side keeps
every SM busy with kernels of T us; a high side launches a one-warp kernel at random times
(exponential gaps) and the program reports, per launch, the time from the host's submit to the
kernel's first instruction (device clock mapped onto the host clock). Variants:

    native      the program alone, high stream at CUDA priority 0 (no priority at all)
    streamprio  alone, high stream at CUDA priority -1 (hardware stream priorities only)
    level1_w4   xsched run --level 1 --window 4, high at -1 (xsched: the more urgent queue)
    level1_w16  xsched run --level 1 --window 16, high at -1
    level2      xsched run --level 2, high at -1
    reserve     xsched run --level 2 --reserve-sms 8, high at -1
    mps         crossprocess only: both programs clients of a private CUDA MPS server (one shared
                context instead of time-sliced ones), high at -1, no xsched
    mps_reserve the same, the low program limited to 93% of the SMs
                (CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=93: 8 or more of 132 SMs left to the high one)
    mps_level2  mps_reserve, both programs under xsched Level 2 with xschedd

Deployments: inprocess, one process with a low and a high thread (--role both); crossprocess, two
processes (--role low, --role high), whose CUDA contexts the GPU time-slices. Across processes the
high program takes its idle probes and says IDLE-DONE, the low program is started and says READY,
the high one is told to go; when it is done the low one's stdin is closed. The xsched variants run
both under `xsched run <args> --scheduler daemon --socket S` with a private `xschedd --policy
priority` on S, the high one with --priority 10; the runner checks with `xsched list` that the
daemon saw both. native and streamprio run without xsched.

Each round runs every (T, deployment, variant) once, those of one T back to back with the same seed
(same arrival times), their order rotated and flipped from round to round so that slow drifts of
the machine fall on all of them; samples are pooled per (variant, deployment, T) over the rounds.

Outputs in --out (default bench/results/preempt): raw.json (every run: command, round, exit code,
stderr tail and the program's JSON), table.md (a table per deployment, also printed), preempt.png
(p50/p99 per variant and T, and the latency CDFs, per deployment; needs matplotlib), summary.json
(flat: device, command, date, p50_us_<variant>_<T>, p99_us_<variant>_<T>, across processes
p99_us_<variant>_xproc_<T> and p50_..., target_met_level2_<T> and target_met_level2_xproc_<T> for
the target of docs/benchmarks.md, "Level 2 p99 <= T + 20 us"). --replot RAW rebuilds table, plot and summary from a
raw.json (preempt_report.py). Exit code: 0 all runs ok, 1 some run failed (the others are still
reported), 2 bad arguments, 77 no GPU (every run said so).
"""
from __future__ import annotations

import argparse
import atexit
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402
import preempt_report  # noqa: E402
from preempt_procs import Side, kill_group, tail  # noqa: E402
from preempt_report import DEPLOYMENTS, TARGET_SLACK_US  # noqa: E402

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "preempt.cu"

#: preempt's exit code when there is no GPU.
EXIT_NO_GPU = 77
#: The interposer's warning when a CUDA queue cannot have the level asked for (src/interpose/cuda/state.cpp),
#: in either wording it has had: "CUDA queues support level 1 at most; XSCHED_LEVEL=2 is lowered" and
#: "XSCHED_LEVEL=2: this device's CUDA queues support level 1 at most; using it".
LOWERED_RE = re.compile(r"XSCHED_LEVEL=\d+.*(?:is lowered|at most)")
#: Across processes: the high program's xsched priority (the low one's is 0).
XPROC_HIGH_PRIORITY = 10
#: Seconds a program of a two-process run may take to say IDLE-DONE or READY, and the low one to
#: stop once its stdin is closed.
READY_TIMEOUT_S = 60.0
#: The mps_ variants' limit on the low program: 93% of an H100's 132 SMs leaves 8 or more to the high one.
MPS_LOW_PERCENT = 93
LOW_STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Variant:
    """One way of running the program: under xsched (with these `xsched run` options) or not."""

    name: str
    xsched_args: Optional[tuple[str, ...]]  # None: the program alone
    high_priority: int
    what: str
    mps: bool = False  # crossprocess only: both programs clients of a private MPS server
    low_sm_percent: Optional[int] = None  # the low program's CUDA_MPS_ACTIVE_THREAD_PERCENTAGE


VARIANTS = {v.name: v for v in (
    Variant("native", None, 0, "alone, high at CUDA priority 0"),
    Variant("streamprio", None, -1, "alone, high at CUDA priority -1"),
    Variant("level1_w4", ("--level", "1", "--window", "4"), -1, "xsched Level 1, window 4"),
    Variant("level1_w16", ("--level", "1", "--window", "16"), -1, "xsched Level 1, window 16"),
    Variant("level2", ("--level", "2"), -1, "xsched Level 2"),
    Variant("reserve", ("--level", "2", "--reserve-sms", "8"), -1, "xsched Level 2, 8 SMs reserved"),
    Variant("mps", None, -1, "alone, both clients of one MPS server", mps=True),
    Variant("mps_reserve", None, -1, "alone, MPS, low limited to 93% of SMs", mps=True,
            low_sm_percent=MPS_LOW_PERCENT),
    Variant("mps_level2", ("--level", "2"), -1, "xsched Level 2, MPS, low limited to 93% of SMs", mps=True,
            low_sm_percent=MPS_LOW_PERCENT),
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


def deployment_list(text: str) -> list[str]:
    """'inprocess,crossprocess' -> the same list, checked against DEPLOYMENTS."""
    names = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [n for n in names if n not in DEPLOYMENTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown deployment(s) {unknown}; known: {', '.join(DEPLOYMENTS)}")
    return [d for d in DEPLOYMENTS if d in names]


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
    p.add_argument("--xschedd", type=Path, default=None,
                   help="the daemon for the cross-process xsched variants (default: xschedd beside --xsched)")
    p.add_argument("--t-us", type=int_list, default=[50, 500, 2000], help="low kernel lengths, µs (default 50,500,2000)")
    p.add_argument("--samples", type=int, default=200, help="timed high kernels per run (default 200)")
    p.add_argument("--rounds", type=int, default=2, help="rounds; samples are pooled over them (default 2)")
    p.add_argument("--variants", type=variant_list, default=list(VARIANTS),
                   help=f"comma-separated subset of {','.join(VARIANTS)} (default all)")
    p.add_argument("--deployments", type=deployment_list, default=list(DEPLOYMENTS),
                   help="inprocess (low and high threads of one program), crossprocess (two programs), or both "
                        "(default inprocess,crossprocess)")
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


def read_result(path: Path, rec: dict[str, Any], key: str) -> Optional[dict[str, Any]]:
    """A program's JSON (removed once read), or None; an unreadable one is noted in rec['error']."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        rec.setdefault("error", f"unreadable {key}: {exc}")
        return None
    finally:
        path.unlink()


def note_lowered(rec: dict[str, Any], stderr: str) -> None:
    """Whether the interposer said it lowered the level asked for."""
    lowered = [line for line in stderr.splitlines() if LOWERED_RE.search(line)]
    rec["level_lowered"] = bool(lowered)
    if lowered:
        rec["level_warning"] = lowered[0].strip()


def run_inprocess(args: argparse.Namespace, binary: Path, xsched: Optional[Path], variant: Variant, t_us: int,
                  rnd: int, seed: int, work: Path) -> dict[str, Any]:
    """One run of the program with both threads; never raises for the program's failures (they are recorded)."""
    timeout = args.timeout or 60.0 + 3.0 * expected_seconds(t_us, args.samples, args)
    out_json = work / f"r{rnd}_{variant.name}_{t_us}.json"
    prog = [str(binary), "--t-us", str(t_us), "--samples", str(args.samples), "--mean-gap-us", f"{args.mean_gap_us:g}",
            "--high-priority", str(variant.high_priority), "--out", str(out_json), "--seed", str(seed),
            "--low-depth", str(args.low_depth), "--watchdog-s", str(max(5, int(timeout) - 10))]
    if variant.xsched_args is None:
        argv, env = prog, native_environment()
    else:
        argv, env = [str(xsched), "run", *variant.xsched_args, "--", *prog], dict(os.environ)
    rec: dict[str, Any] = {"variant": variant.name, "deployment": "inprocess", "t_us": t_us, "round": rnd,
                           "seed": seed, "command": shlex.join(argv), "timeout_s": timeout}
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
    note_lowered(rec, stderr)
    rec["result"] = read_result(out_json, rec, "output")
    rec["status"] = classify(rec, timed_out, variant)
    return rec


def interposed_error(result: dict[str, Any], variant: Variant, who: str = "the process") -> Optional[str]:
    """Why a program's xsched library (or its absence) does not fit the variant, or None."""
    if result.get("interposed") == (variant.xsched_args is not None):
        return None
    return (f"no xsched library in {who} under `xsched run`" if variant.xsched_args is not None
            else f"an xsched library is mapped in {who}, meant to be native (LD_PRELOAD?)")


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
    error = interposed_error(result, variant)
    if error:
        rec["error"] = error
        return "not-interposed"
    return "ok"


# =============================================================================================
# Two processes
# =============================================================================================
def daemon_processes(xsched: Path, socket: str) -> Optional[int]:
    """How many processes xschedd has registered now (`xsched list --json`), or None if it did not answer."""
    try:
        out = subprocess.run([str(xsched), "list", "--json", "--socket", socket], capture_output=True, text=True,
                             timeout=10, check=False).stdout
        return len(json.loads(out).get("processes", []))
    except (ValueError, AttributeError, subprocess.SubprocessError, OSError):
        return None


def run_crossprocess(args: argparse.Namespace, binary: Path, xsched: Optional[Path], xschedd: Optional[Path],
                     variant: Variant, t_us: int, rnd: int, seed: int, work: Path) -> dict[str, Any]:
    """One run with the low and the high side in two programs: the high one takes its idle probes (IDLE-DONE),
    the low one starts filling the GPU (READY), the high one probes (go), the low one stops (stdin closed).
    Under xsched both register with a private xschedd. Never raises for the programs' failures."""
    timeout = (args.timeout or 60.0 + 3.0 * expected_seconds(t_us, args.samples, args)) + 2 * READY_TIMEOUT_S
    rundir = work / f"x{rnd}_{variant.name}_{t_us}"
    rundir.mkdir()
    high_json, low_json = rundir / "high.json", rundir / "low.json"
    common = [str(binary), "--t-us", str(t_us), "--low-depth", str(args.low_depth)]
    # The low program's own limits: it never outlives the run, and its watchdog covers its start and its stop.
    low_prog = [*common, "--role", "low", "--out", str(low_json), "--seconds", f"{timeout + 60:.0f}",
                "--watchdog-s", "60"]
    high_prog = [*common, "--role", "high", "--wait-go", "--samples", str(args.samples), "--mean-gap-us",
                 f"{args.mean_gap_us:g}", "--high-priority", str(variant.high_priority), "--out", str(high_json),
                 "--seed", str(seed), "--watchdog-s", str(max(5, int(timeout) - 10))]
    daemon: Optional[benchlib.XschedDaemon] = None
    mps = benchlib.MpsServer(rundir) if variant.mps else None
    env = native_environment()
    if variant.xsched_args is not None:
        assert xsched is not None and xschedd is not None
        env = dict(os.environ)
        daemon = benchlib.XschedDaemon(xschedd, rundir, ["--policy", "priority"])

        def under(priority: int) -> list[str]:
            return [str(xsched), "run", *variant.xsched_args, "--scheduler", "daemon", "--socket", daemon.socket,
                    "--priority", str(priority), "--"]

        low_prog, high_prog = under(0) + low_prog, under(XPROC_HIGH_PRIORITY) + high_prog
    rec: dict[str, Any] = {"variant": variant.name, "deployment": "crossprocess", "t_us": t_us, "round": rnd,
                           "seed": seed, "command": shlex.join(high_prog), "low_command": shlex.join(low_prog),
                           "timeout_s": timeout}
    low_env = dict(env)
    if mps is not None:
        env = dict(env, **mps.env())
        low_env = dict(env)
        if variant.low_sm_percent is not None:
            low_env["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] = str(variant.low_sm_percent)
    high, low = Side("high", high_prog, env, rundir), Side("low", low_prog, low_env, rundir)
    t0 = time.monotonic()
    daemon_up = mps_up = False
    try:
        if mps is not None:
            try:
                mps.__enter__()
                mps_up = True
            except benchlib.WorkerError as exc:
                rec["error"] = str(exc)
        if daemon is not None and "error" not in rec:
            try:
                daemon.__enter__()
                daemon_up = True
            except benchlib.WorkerError as exc:
                rec["error"] = str(exc)
        if "error" not in rec:
            error = (high.start() or high.expect("IDLE-DONE", READY_TIMEOUT_S) or low.start()
                     or low.expect("READY", READY_TIMEOUT_S))
            if error is None:
                if daemon is not None:  # both have run kernels by now, so both have registered
                    rec["daemon_processes"] = daemon_processes(xsched, daemon.socket)
                high.send(b"go\n")
                high.finish(timeout - (time.monotonic() - t0))
            low.finish(LOW_STOP_TIMEOUT_S)
    finally:
        high.stop()
        low.stop()
        if daemon_up:
            daemon.__exit__(None, None, None)
        if mps_up:
            mps.__exit__(None, None, None)
    high_err, low_err = high.stderr(), low.stderr()
    rec.update(rc=high.proc.returncode if high.proc else None, low_rc=low.proc.returncode if low.proc else None,
               wall_s=time.monotonic() - t0, stdout_tail=tail(high.out.decode(errors="replace")),
               stderr_tail=tail(high_err), low_stdout_tail=tail(low.out.decode(errors="replace")),
               low_stderr_tail=tail(low_err))
    note_lowered(rec, high_err + low_err)
    rec["result"] = read_result(high_json, rec, "output of the high program")
    rec["low_result"] = read_result(low_json, rec, "output of the low program")
    if daemon is not None:
        rec.setdefault("daemon_processes", None)
    rec["status"] = classify_crossprocess(rec, high, low, variant)
    if daemon is not None and rec["status"] != "ok" and daemon.log_path.is_file():
        rec["daemon_log_tail"] = tail(daemon.log_path.read_text(errors="replace"))
    if mps is not None and rec["status"] != "ok":
        rec["mps_log_tail"] = tail(mps.log_tail())
    return rec


def classify_crossprocess(rec: dict[str, Any], high: Side, low: Side, variant: Variant) -> str:
    """ok, no-gpu, timeout, failed, not-interposed or not-registered (the daemon did not see both)."""
    if EXIT_NO_GPU in (rec["rc"], rec["low_rc"]):
        rec["error"] = "no GPU"
        return "no-gpu"
    for side in (high, low):
        if side.timed_out:
            rec["error"] = side.error
            return "timeout"
    error = rec.get("error") or high.error or low.error
    for who, rc, result in (("high", rec["rc"], rec["result"]), ("low", rec["low_rc"], rec["low_result"])):
        if error is None and (rc != 0 or result is None):
            error = f"the {who} program: exit code {rc}" + ("" if result is not None else ", no output")
    if error is not None:
        rec["error"] = error
        return "failed"
    for who, result in (("high", rec["result"]), ("low", rec["low_result"])):
        error = interposed_error(result, variant, f"the {who} program")
        if error:
            rec["error"] = error
            return "not-interposed"
    if variant.xsched_args is not None and (rec.get("daemon_processes") or 0) < 2:
        rec["error"] = f"xschedd saw {rec.get('daemon_processes')} processes registered, not both programs"
        return "not-registered"
    return "ok"


# =============================================================================================
# Rounds
# =============================================================================================
def round_order(units: Sequence[Any], rnd: int) -> list[Any]:
    """The runs' order in a round: reversed every other round (a linear drift then falls evenly on all),
    and rotated by one every two rounds (no run keeps a place): abcde, edcba, bcdea, aedcb, ..."""
    k = (rnd // 2) % len(units)
    order = list(units[k:]) + list(units[:k])
    return order[::-1] if rnd % 2 else order


def run_all(args: argparse.Namespace, binary: Path, xsched: Optional[Path],
            xschedd: Optional[Path]) -> list[dict[str, Any]]:
    """Every (round, T, deployment, variant) once; prints one line per run."""
    runs: list[dict[str, Any]] = []
    # MPS shares one server between processes: nothing for the one-process deployment.
    units = [(d, v) for d in args.deployments for v in args.variants if d == "crossprocess" or not VARIANTS[v].mps]
    total = args.rounds * len(args.t_us) * len(units)
    with tempfile.TemporaryDirectory(prefix="xsched-preempt-runs-") as work:
        for rnd in range(args.rounds):
            order = round_order(units, rnd)
            for ti, t_us in enumerate(args.t_us):
                seed = args.seed + 1000 * rnd + ti  # the same arrivals for every run of this (round, T)
                for d, name in order:
                    if d == "inprocess":
                        rec = run_inprocess(args, binary, xsched, VARIANTS[name], t_us, rnd, seed, Path(work))
                    else:
                        rec = run_crossprocess(args, binary, xsched, xschedd, VARIANTS[name], t_us, rnd, seed,
                                               Path(work))
                    runs.append(rec)
                    print(f"  [{len(runs):3d}/{total}] round {rnd + 1} T={t_us:5d} us "
                          f"{preempt_report.label(name, d):17s} {run_line(rec)}", flush=True)
                    if rec["status"] == "no-gpu" and len(runs) == 1:
                        return runs  # nothing else can run either
    return runs


def run_line(rec: dict[str, Any]) -> str:
    """A one-line account of a run."""
    if rec["status"] != "ok":
        low = "the low program" in str(rec.get("error"))
        first = (rec.get("low_stderr_tail" if low else "stderr_tail") or "").strip().splitlines()
        return f"{rec['status'].upper()}: {rec.get('error')}" + (f" ({first[-1]})" if first else "")
    res = rec["result"]
    xs = res["samples"]
    note = " (level lowered)" if rec.get("level_lowered") else ""
    if rec.get("daemon_processes") is not None:
        note += f" (xschedd saw {rec['daemon_processes']} processes)"
    return (f"p50 {benchlib.percentile(xs, 50):8.1f}  p99 {benchlib.percentile(xs, 99):8.1f}  max {max(xs):8.1f} us"
            f"  rtt {res['calib']['rtt_ns_before']}/{res['calib']['rtt_ns_after']} ns  {rec['wall_s']:.1f} s{note}")


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
        preempt_report.report(raw, args.out)
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
    xschedd: Optional[Path] = None
    if xsched is not None and "crossprocess" in args.deployments:
        tools = benchlib.find_xsched_tools(xsched, args.xschedd)
        if tools is None:
            return 2
        xschedd = tools[1]
    xs_env = {k: v for k, v in os.environ.items() if k.startswith("XSCHED_")}
    if xs_env:
        print(f"note: XSCHED_* variables set for the xsched variants: {xs_env}", file=sys.stderr)

    command = benchlib.command_line()
    date = benchlib.now_iso()
    t_start = time.monotonic()
    print(f"preempt: T = {args.t_us} us, variants {','.join(args.variants)}, {','.join(args.deployments)}, "
          f"{args.rounds} round(s) x {args.samples} samples, mean gap {args.mean_gap_us:g} us; program {binary}"
          + (f"; xsched {xsched}" if xsched else "") + (f"; xschedd {xschedd}" if xschedd else ""), flush=True)
    runs = run_all(args, binary, xsched, xschedd)
    if all(r["status"] == "no-gpu" for r in runs):
        print("preempt: no GPU; skipped (nothing written)", file=sys.stderr)
        return EXIT_NO_GPU

    raw = {
        "device": device_of(runs), "command": command, "date": date,
        "config": {"t_us": args.t_us, "variants": args.variants, "deployments": args.deployments,
                   "samples": args.samples, "rounds": args.rounds,
                   "mean_gap_us": args.mean_gap_us, "low_depth": args.low_depth, "seed": args.seed,
                   "binary": str(binary), "built": args.build, "xsched": str(xsched) if xsched else None,
                   "xschedd": str(xschedd) if xschedd else None, "xproc_high_priority": XPROC_HIGH_PRIORITY,
                   "xsched_env": xs_env, "target_slack_us": TARGET_SLACK_US,
                   "variant_defs": {n: {"xsched_args": list(VARIANTS[n].xsched_args or []) or None,
                                        "high_priority": VARIANTS[n].high_priority, "what": VARIANTS[n].what}
                                    for n in args.variants}},
        "runs": runs,
    }
    benchlib.write_json(args.out / "raw.json", raw)
    preempt_report.report(raw, args.out)
    failed = sum(1 for r in runs if r["status"] != "ok")
    print(f"{len(runs)} runs, {failed} failed, {time.monotonic() - t_start:.0f} s; raw samples in {args.out}/raw.json",
          flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
