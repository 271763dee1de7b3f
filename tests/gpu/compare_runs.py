#!/usr/bin/env python3
"""Run a program natively and under the xsched interposer, and compare its results bit for bit.

    compare_runs.py --xsched build/release/xsched [options] -- cmd args...

The program must accept ``--out DIR`` (appended by this script) and write its results there as
.npy, .pt, .json or any other files. This script runs

    cmd args... --out WORK/native                      (natively)
    xsched run [XSCHED_ARGS] -- cmd args... --out WORK/xsched   (under the interposer)

and compares every result file: arrays by dtype, shape and bytes (exact equality), JSON by value,
anything else by bytes. It prints one row per result and exits 0 only if both runs exited 0 and
every result is equal (and every trace check passed).

Trace checks (--trace-check, --trace-min-count, --trace-min-from-native) run the xsched pass with
XSCHED_TRACE=1 and XSCHED_TRACE_FILE=WORK/trace.txt and count the trace lines that match a regular
expression: they prove that the calls really went through the interposer.

Exit codes: 0 pass, 1 fail, 2 usage error, 77 skip (no GPU here, or the program itself skipped).
"""
from __future__ import annotations

import argparse
import ast
import ctypes
import fnmatch
import json
import math
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

SKIP = 77
DEFAULT_IGNORE = ["summary.json", "*.log", "trace.txt"]


# ---------------------------------------------------------------------------------------------
# GPU presence
# ---------------------------------------------------------------------------------------------
def gpu_present() -> tuple[bool, str]:
    """Return (True, "") when an NVIDIA GPU and a working driver are present, else (False, why)."""
    if not list(Path("/dev").glob("nvidia[0-9]*")):
        return False, "no /dev/nvidia* device node"
    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError as exc:
        return False, f"libcuda.so.1 cannot be loaded ({exc})"
    rc = lib.cuInit(0)
    if rc != 0:
        return False, f"cuInit(0) returned {rc}"
    count = ctypes.c_int(0)
    rc = lib.cuDeviceGetCount(ctypes.byref(count))
    if rc != 0 or count.value == 0:
        return False, f"cuDeviceGetCount returned {rc} with {count.value} devices"
    return True, ""


# ---------------------------------------------------------------------------------------------
# Running the program
# ---------------------------------------------------------------------------------------------
@dataclass
class RunResult:
    """Outcome of one run of the program."""

    label: str
    argv: list[str]
    rc: Optional[int]  # None when killed for running past the timeout
    seconds: float
    log: Path

    @property
    def timed_out(self) -> bool:
        """True when the run was killed for exceeding the timeout."""
        return self.rc is None


def _kill_group(proc: subprocess.Popen) -> None:
    """Terminate the process group started for `proc` (TERM, then KILL after 10 s)."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_program(label: str, argv: list[str], env: dict[str, str], log: Path, timeout: float) -> RunResult:
    """Run argv with stdout+stderr into `log`; kill the whole process group after `timeout` s."""
    print(f"[{label}] $ {' '.join(_quote(a) for a in argv)}", flush=True)
    start = time.monotonic()
    with open(log, "wb") as out:
        try:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                    start_new_session=True)
        except OSError as exc:
            out.write(f"cannot start {argv[0]}: {exc}\n".encode())
            print(f"[{label}] cannot start {argv[0]}: {exc}", flush=True)
            return RunResult(label, argv, 127, 0.0, log)
        try:
            rc: Optional[int] = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            rc = None
        except BaseException:
            _kill_group(proc)
            raise
    result = RunResult(label, argv, rc, time.monotonic() - start, log)
    status = f"timed out after {timeout:.0f} s (killed)" if rc is None else f"exit code {rc}"
    print(f"[{label}] {status} in {result.seconds:.1f} s; log: {log}", flush=True)
    return result


def _quote(arg: str) -> str:
    """Quote an argument for display the way a shell would need it."""
    return arg if re.fullmatch(r"[\w@%+=:,./-]+", arg) else "'" + arg.replace("'", "'\\''") + "'"


def print_tail(path: Path, lines: int, label: str) -> None:
    """Print the last `lines` lines of a log file."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return
    if not text or lines <= 0:
        return
    shown = text[-lines:]
    print(f"----- {label}: last {len(shown)} of {len(text)} lines of {path.name} -----")
    for line in shown:
        print(f"  {line}")
    print(f"----- end of {label} -----", flush=True)


# ---------------------------------------------------------------------------------------------
# Comparing results
# ---------------------------------------------------------------------------------------------
@dataclass
class Row:
    """One compared result."""

    name: str
    equal: bool
    max_abs_diff: str = ""
    note: str = ""


def list_results(root: Path, ignore: list[str]) -> dict[str, Path]:
    """Map relative path -> file for every result file under root, minus ignored patterns."""
    found: dict[str, Path] = {}
    if not root.is_dir():
        return found
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(root).as_posix()
        if any(fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(path.name, pat) for pat in ignore):
            continue
        found[rel] = path
    return found


@dataclass
class Npy:
    """A parsed .npy file: header fields and raw data bytes."""

    descr: str
    shape: tuple[int, ...]
    fortran: bool
    data: bytes


def read_npy(path: Path) -> Npy:
    """Parse a .npy file without numpy (format versions 1, 2 and 3)."""
    raw = path.read_bytes()
    if raw[:6] != b"\x93NUMPY":
        raise ValueError(f"{path.name}: not a .npy file")
    major = raw[6]
    if major == 1:
        (hlen,) = struct.unpack_from("<H", raw, 8)
        start = 10
    else:
        (hlen,) = struct.unpack_from("<I", raw, 8)
        start = 12
    header = ast.literal_eval(raw[start:start + hlen].decode("latin1"))
    return Npy(str(header["descr"]), tuple(int(x) for x in header["shape"]), bool(header["fortran_order"]),
               raw[start + hlen:])


_STRUCT_CODES = {"f2": "e", "f4": "f", "f8": "d", "i1": "b", "u1": "B", "i2": "h", "u2": "H", "i4": "i",
                 "u4": "I", "i8": "q", "u8": "Q", "b1": "?"}


def npy_diff(a: Npy, b: Npy) -> tuple[str, str]:
    """Return (max abs diff, note) for two same-shape, same-dtype arrays whose bytes differ."""
    try:
        import numpy as np  # optional: only for the size of the difference

        dt = np.dtype(a.descr)
        x = np.frombuffer(a.data, dtype=dt)
        y = np.frombuffer(b.data, dtype=dt)
        if dt.kind in "fc":
            xf = x.astype(np.complex128 if dt.kind == "c" else np.float64)
            yf = y.astype(np.complex128 if dt.kind == "c" else np.float64)
            nan_mismatch = int(np.count_nonzero(np.isnan(xf) != np.isnan(yf)))
            both = ~(np.isnan(xf) | np.isnan(yf))
            d = np.abs(xf[both] - yf[both])
            differing = int(np.count_nonzero(x.view(f"u{dt.itemsize}") != y.view(f"u{dt.itemsize}")))
            mx = float(d.max()) if d.size else 0.0
            rel = float((d / np.maximum(np.abs(yf[both]), 1e-30)).max()) if d.size else 0.0
            note = f"{differing}/{x.size} elements differ, max rel {rel:.3g}"
            if nan_mismatch:
                note += f", {nan_mismatch} NaN mismatches"
            return f"{mx:.6g}", note
        if dt.kind in "iub":
            d = np.abs(x.astype(np.float64) - y.astype(np.float64))
            return f"{float(d.max()):.6g}", f"{int(np.count_nonzero(x != y))}/{x.size} elements differ"
        return "n/a", "bytes differ"
    except ImportError:
        pass
    except Exception as exc:  # an unusual dtype: fall back to the pure-Python path
        print(f"warning: numpy diff failed ({exc})", file=sys.stderr)
    code = _STRUCT_CODES.get(a.descr.lstrip("<>|="))
    if code is None or len(a.data) != len(b.data):
        return "n/a", "bytes differ"
    size = struct.calcsize(code)
    n = len(a.data) // size
    xs = struct.unpack(f"<{n}{code}", a.data[: n * size])
    ys = struct.unpack(f"<{n}{code}", b.data[: n * size])
    mx = 0.0
    differing = 0
    for x, y in zip(xs, ys):
        if x != y and not (isinstance(x, float) and math.isnan(x) and math.isnan(y)):
            differing += 1
            if not (isinstance(x, float) and (math.isnan(x) or math.isnan(y))):
                mx = max(mx, abs(float(x) - float(y)))
    return f"{mx:.6g}", f"{differing}/{n} elements differ"


def compare_npy(name: str, pa: Path, pb: Path) -> Row:
    """Arrays: equal when dtype, shape, memory order and every byte agree."""
    a, b = read_npy(pa), read_npy(pb)
    if (a.descr, a.shape, a.fortran) != (b.descr, b.shape, b.fortran):
        return Row(name, False, "", f"dtype/shape differ: {a.descr}{list(a.shape)} vs {b.descr}{list(b.shape)}")
    if a.data == b.data:
        return Row(name, True, "", f"{a.descr}{list(a.shape)}")
    mx, note = npy_diff(a, b)
    return Row(name, False, mx, note)


def _first_json_difference(a: Any, b: Any, path: str = "$") -> Optional[str]:
    """The path of the first difference between two JSON values, or None when equal."""
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                return f"{path}.{k}: present only in {'xsched' if k not in a else 'native'}"
            d = _first_json_difference(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: length {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = _first_json_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    if a != b and not (isinstance(a, float) and math.isnan(a) and math.isnan(b)):
        return f"{path}: {a!r} vs {b!r}"
    return None


def compare_json(name: str, pa: Path, pb: Path) -> Row:
    """JSON files: equal when the parsed values are equal."""
    a = json.loads(pa.read_text())
    b = json.loads(pb.read_text())
    diff = _first_json_difference(a, b)
    if diff is None:
        return Row(name, True)
    return Row(name, False, "", f"first difference at {diff}")


def compare_pt(name: str, pa: Path, pb: Path) -> Row:
    """torch.save files: tensors compared byte for byte, containers recursively."""
    try:
        import torch
    except ImportError:
        same = pa.read_bytes() == pb.read_bytes()
        return Row(name, same, "", "compared as bytes (torch not importable)")

    def load(p: Path) -> Any:
        """torch.load on the CPU, tensors and containers only where supported."""
        try:
            return torch.load(p, map_location="cpu", weights_only=True)
        except TypeError:  # old torch without weights_only
            return torch.load(p, map_location="cpu")

    def walk(x: Any, y: Any, path: str) -> Optional[tuple[str, str]]:
        """(max abs diff, note) of the first difference, or None when equal."""
        if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor):
            if x.dtype != y.dtype or x.shape != y.shape:
                return "", f"{path}: {x.dtype}{list(x.shape)} vs {y.dtype}{list(y.shape)}"
            xb = x.detach().contiguous().reshape(-1).view(torch.uint8)
            yb = y.detach().contiguous().reshape(-1).view(torch.uint8)
            if torch.equal(xb, yb):
                return None
            if x.is_floating_point() or x.is_complex():
                d = (x.double() - y.double()).abs() if not x.is_complex() else (x - y).abs().double()
                return f"{float(d.nan_to_num(nan=float('inf')).max()):.6g}", f"{path}: values differ"
            return f"{float((x.double() - y.double()).abs().max()):.6g}", f"{path}: values differ"
        if isinstance(x, dict) and isinstance(y, dict):
            if set(x) != set(y):
                return "", f"{path}: keys differ"
            for k in x:
                r = walk(x[k], y[k], f"{path}.{k}")
                if r:
                    return r
            return None
        if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
            if len(x) != len(y):
                return "", f"{path}: length {len(x)} vs {len(y)}"
            for i, (u, v) in enumerate(zip(x, y)):
                r = walk(u, v, f"{path}[{i}]")
                if r:
                    return r
            return None
        return None if x == y else ("", f"{path}: {x!r} vs {y!r}")

    r = walk(load(pa), load(pb), "$")
    return Row(name, True) if r is None else Row(name, False, r[0], r[1])


def compare_file(name: str, pa: Path, pb: Path) -> Row:
    """Compare one result file of the native run (pa) with the xsched run's (pb)."""
    try:
        suffix = pa.suffix.lower()
        if suffix == ".npy":
            return compare_npy(name, pa, pb)
        if suffix == ".json":
            return compare_json(name, pa, pb)
        if suffix in (".pt", ".pth"):
            return compare_pt(name, pa, pb)
        same = pa.read_bytes() == pb.read_bytes()
        return Row(name, same, "", "" if same else "bytes differ")
    except Exception as exc:  # unreadable or corrupt result
        return Row(name, False, "", f"cannot compare: {type(exc).__name__}: {exc}")


def compare_dirs(native: Path, other: Path, ignore: list[str], other_label: str) -> list[Row]:
    """Compare every result in `native` with `other`; files present on one side only fail."""
    a = list_results(native, ignore)
    b = list_results(other, ignore)
    rows: list[Row] = []
    for name in sorted(set(a) | set(b)):
        if name not in b:
            rows.append(Row(name, False, "", f"missing from the {other_label} run"))
        elif name not in a:
            rows.append(Row(name, False, "", "missing from the native run"))
        else:
            rows.append(compare_file(name, a[name], b[name]))
    return rows


def print_table(title: str, rows: list[Row]) -> None:
    """Print one row per result: name, equal, max abs diff, note."""
    headers = ("result", "equal", "max abs diff", "note")
    body = [(r.name, "yes" if r.equal else "NO", r.max_abs_diff or ("-" if r.equal else ""), r.note) for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(headers)]
    widths[3] = len(headers[3])  # the note column is not padded
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print("  ".join("-" * w for w in widths))
    for row in body:
        print("  ".join(c.ljust(w) for c, w in zip(row[:3], widths[:3])) + "  " + row[3])
    print(flush=True)


# ---------------------------------------------------------------------------------------------
# Trace checks
# ---------------------------------------------------------------------------------------------
@dataclass
class TraceCheck:
    """At least `minimum` trace lines must match `regex`; `source` says where the minimum came from."""

    regex: str
    minimum: int
    source: str


def json_lookup(obj: Any, dotted: str) -> Any:
    """Return obj[k1][k2]... for a dotted key path ("a.b.c"); KeyError when absent."""
    for part in dotted.split("."):
        if isinstance(obj, list):
            obj = obj[int(part)]
        else:
            obj = obj[part]
    return obj


def run_trace_checks(trace: Path, checks: list[TraceCheck]) -> bool:
    """Count matching lines for every check; print a summary of the trace; True when all pass."""
    if not trace.is_file():
        print(f"TRACE FAIL: {trace} was not written: the interposer was not loaded, or it ignores "
              "XSCHED_TRACE / XSCHED_TRACE_FILE")
        return False
    patterns = [re.compile(c.regex) for c in checks]
    counts = [0] * len(checks)
    calls: Counter[str] = Counter()
    failed_calls: Counter[str] = Counter()
    lines = 0
    summary_lines: list[str] = []
    with open(trace, errors="replace") as f:
        for line in f:
            if line.startswith("xsched-trace summary "):
                summary_lines.append(line.rstrip())
            elif line.startswith("xsched-trace "):
                lines += 1
                parts = line.split(None, 2)
                name = parts[1] if len(parts) > 1 else "?"
                calls[name] += 1
                m = re.search(r"->\s*(-?\d+)", line)
                if m and m.group(1) != "0":
                    failed_calls[name] += 1
            for i, p in enumerate(patterns):
                if p.search(line):
                    counts[i] += 1
    print(f"\ntrace: {lines} call lines in {trace}")
    for name, n in calls.most_common(25):
        bad = f"  ({failed_calls[name]} returned non-zero)" if failed_calls[name] else ""
        print(f"  {n:10d}  {name}{bad}")
    if len(calls) > 25:
        print(f"  ... and {len(calls) - 25} more call names")
    totals = [x for x in summary_lines if x.startswith("xsched-trace summary total ")]
    print(f"  interposer's own summary: {totals[-1][len('xsched-trace summary '):] if totals else 'not written'}")
    ok = True
    print()
    for c, n in zip(checks, counts):
        passed = n >= c.minimum
        ok &= passed
        print(f"  trace check {'ok  ' if passed else 'FAIL'}: {n} lines match /{c.regex}/ "
              f"(need >= {c.minimum}{', ' + c.source if c.source else ''})")
    print(flush=True)
    return ok


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------
def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Split "options -- cmd args..." and parse the options."""
    parser = _parser()
    if "--" in argv:
        i = argv.index("--")
        opts, cmd = argv[:i], argv[i + 1:]
    else:
        opts, cmd = argv, []
    ns = parser.parse_args(opts)
    if not cmd:
        parser.error("missing '-- cmd args...'")
    return ns, cmd


def _parser() -> argparse.ArgumentParser:
    """The command-line options (everything before '--')."""
    p = argparse.ArgumentParser(
        description="Run a program natively and under `xsched run`; compare its --out results bit for bit.",
        usage="%(prog)s --xsched PATH [options] -- cmd args...")
    p.add_argument("--xsched", required=True, help="path of the xsched binary")
    p.add_argument("--xsched-arg", action="append", default=[], metavar="ARG",
                   help="extra argument for `xsched run` before '--' (repeatable; write --xsched-arg=--level)")
    p.add_argument("--env", action="append", default=[], metavar="K=V",
                   help="environment variable for the xsched run only (repeatable)")
    p.add_argument("--native-arg", action="append", default=[], metavar="ARG",
                   help="extra program argument for the native run only (write --native-arg=--flag)")
    p.add_argument("--workdir", type=Path, help="where to put outputs and logs (default: a temporary folder, "
                   "removed on success unless --keep)")
    p.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per run (default 900)")
    p.add_argument("--ignore", action="append", default=[], metavar="GLOB",
                   help=f"result files not compared (repeatable; always ignored: {', '.join(DEFAULT_IGNORE)})")
    p.add_argument("--trace-check", action="append", default=[], metavar="REGEX",
                   help="the xsched run's trace must have at least one line matching REGEX (repeatable)")
    p.add_argument("--trace-min-count", action="append", default=[], nargs=2, metavar=("N", "REGEX"),
                   help="at least N trace lines must match REGEX (repeatable)")
    p.add_argument("--trace-min-from-native", action="append", default=[], nargs=3,
                   metavar=("FILE", "KEY", "REGEX"),
                   help="at least as many trace lines must match REGEX as the number at KEY (dotted) in the "
                        "native run's JSON result FILE (e.g. a kernel count from a profiler); skipped with a "
                        "warning if that value is null")
    p.add_argument("--native-twice", action="store_true",
                   help="run natively twice and report results that differ between native runs")
    p.add_argument("--extra-untraced-run", action="store_true",
                   help="with trace checks: also run under xsched without tracing and compare that run too")
    p.add_argument("--no-gpu-check", action="store_true", help="do not skip when no GPU is found")
    p.add_argument("--tail", type=int, default=40, help="log lines shown per run (default 40; all on failure: -1)")
    return p


def main(argv: list[str]) -> int:
    """Run both passes, compare, check the trace; return the exit code."""
    args, cmd = parse_args(argv)
    if not args.no_gpu_check:
        ok, why = gpu_present()
        if not ok:
            print(f"SKIP: {why}")
            return SKIP
    found = shutil.which(args.xsched) if "/" not in args.xsched else args.xsched
    xsched = Path(found).resolve() if found else Path(args.xsched)
    if not (xsched.is_file() and os.access(xsched, os.X_OK)):
        print(f"FAIL: xsched binary not found or not executable: {args.xsched}")
        return 1

    xsched_env: dict[str, str] = dict(os.environ)
    for kv in args.env:
        if "=" not in kv:
            print(f"FAIL: --env expects K=V, got {kv!r}")
            return 2
        k, v = kv.split("=", 1)
        xsched_env[k] = v

    native_env = dict(os.environ)
    preload = native_env.get("LD_PRELOAD", "")
    if "xsched" in preload:
        kept = " ".join(p for p in re.split(r"[\s:]+", preload) if p and "xsched" not in p)
        print(f"note: removing xsched from LD_PRELOAD for the native run ({preload!r})")
        if kept:
            native_env["LD_PRELOAD"] = kept
        else:
            native_env.pop("LD_PRELOAD", None)
    for k in list(native_env):
        if k.startswith("XSCHED_TRACE"):
            native_env.pop(k)

    checks: list[TraceCheck] = [TraceCheck(r, 1, "") for r in args.trace_check]
    for n, r in args.trace_min_count:
        checks.append(TraceCheck(r, int(n), ""))
    tracing = bool(checks or args.trace_min_from_native)

    temp = args.workdir is None
    work = Path(tempfile.mkdtemp(prefix="xsched-compare-")) if temp else args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    for sub in ("native", "native2", "xsched", "xsched_untraced"):
        shutil.rmtree(work / sub, ignore_errors=True)
    for f in ("trace.txt",):
        (work / f).unlink(missing_ok=True)
    ignore = DEFAULT_IGNORE + args.ignore
    print(f"work folder: {work}")

    failures: list[str] = []
    runs: list[RunResult] = []

    def do_run(label: str, argv_: list[str], env: dict[str, str]) -> RunResult:
        """Run one pass, remember it, show the end of its log."""
        r = run_program(label, argv_, env, work / f"{label}.log", args.timeout)
        runs.append(r)
        shown = args.tail if args.tail >= 0 else 10 ** 9
        print_tail(r.log, shown if r.rc == 0 else max(shown, 200), label)
        return r

    native = do_run("native", cmd + args.native_arg + ["--out", str(work / "native")], native_env)
    if native.rc == SKIP:
        print("SKIP: the program skipped natively (see its log)")
        return SKIP
    if native.rc != 0:
        failures.append("native run " + ("timed out" if native.timed_out else f"exited {native.rc}"))

    native2 = None
    if args.native_twice:
        native2 = do_run("native2", cmd + ["--out", str(work / "native2")], native_env)
        if native2.rc != 0:
            failures.append("second native run " + ("timed out" if native2.timed_out else f"exited {native2.rc}"))

    def xsched_argv(out: str) -> list[str]:
        """The command line of a pass under `xsched run`."""
        return [str(xsched), "run", *args.xsched_arg, "--", *cmd, "--out", out]

    env = dict(xsched_env)
    trace = work / "trace.txt"
    if tracing:
        env["XSCHED_TRACE"] = "1"
        env["XSCHED_TRACE_FILE"] = str(trace)
    under = do_run("xsched", xsched_argv(str(work / "xsched")), env)
    if under.rc != 0:
        failures.append("xsched run " + ("timed out" if under.timed_out else f"exited {under.rc}"
                                         + (" (it skipped, the native run did not)" if under.rc == SKIP else "")))

    untraced = None
    if tracing and args.extra_untraced_run:
        env2 = {k: v for k, v in xsched_env.items() if not k.startswith("XSCHED_TRACE")}
        untraced = do_run("xsched_untraced", xsched_argv(str(work / "xsched_untraced")), env2)
        if untraced.rc != 0:
            failures.append("untraced xsched run " + ("timed out" if untraced.timed_out else f"exited {untraced.rc}"))

    # Results.
    rows = compare_dirs(work / "native", work / "xsched", ignore, "xsched")
    if native2 is not None:
        nrows = {r.name: r for r in compare_dirs(work / "native", work / "native2", ignore, "second native")}
        for r in rows:
            n = nrows.get(r.name)
            if n is not None and not n.equal:
                r.note = (r.note + "; " if r.note else "") + "NONDETERMINISTIC natively (" + n.note + ")"
                r.equal = False
    print_table("native vs xsched", rows)
    if not rows:
        failures.append("no result files were written")
    bad = [r.name for r in rows if not r.equal]
    if bad:
        failures.append(f"{len(bad)} of {len(rows)} results differ: {', '.join(bad[:10])}"
                        + (" ..." if len(bad) > 10 else ""))
    if untraced is not None:
        urows = compare_dirs(work / "native", work / "xsched_untraced", ignore, "untraced xsched")
        print_table("native vs xsched (untraced)", urows)
        ubad = [r.name for r in urows if not r.equal]
        if ubad or not urows:
            failures.append(f"untraced xsched run: {len(ubad)} of {len(urows)} results differ")

    # Trace.
    if tracing:
        for fname, key, regex in args.trace_min_from_native:
            src = work / "native" / fname
            try:
                value = json_lookup(json.loads(src.read_text()), key)
            except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
                failures.append(f"cannot read {key} from native {fname}: {exc}")
                continue
            if value is None:
                print(f"warning: {fname}:{key} is null in the native run: trace check /{regex}/ against it skipped")
                continue
            checks.append(TraceCheck(regex, int(value), f"{key} in native {fname}"))
        if not run_trace_checks(trace, checks):
            failures.append("trace checks failed")

    total = sum(r.seconds for r in runs)
    if failures:
        print("FAIL:")
        for f in failures:
            print(f"  - {f}")
        print(f"(work folder kept: {work}; {total:.0f} s of runs)")
        return 1
    print(f"PASS: {len(rows)} results identical natively and under xsched ({total:.0f} s of runs)")
    if temp and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"work folder: {work}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
