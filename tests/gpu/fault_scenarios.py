#!/usr/bin/env python3
"""Faults under xschedd with real PyTorch programs: nothing lost, both programs finish, times measured.

    fault_scenarios.py --xsched build/release/xsched [--scenarios all] [--out DIR]

An urgent task (ResNet-18 inference, `xsched run --priority 10`, requests back to back so its
queue is almost always ready) and a training task (ResNet-18 SGD, `--priority 0`, held by the
daemon while the urgent task has work) run under a private xschedd (priority policy). Scenarios:

  daemon_restart  xschedd is killed (SIGKILL) while it holds the training task, and started again
                  1 s later on the same socket: the training runs at once (the programs drop a
                  silent daemon's holds), both programs register again, and the daemon holds the
                  training again.
  low_killed      the training process is killed (SIGKILL) while its queues are held: the urgent
                  task goes on, the daemon forgets the dead process.
  high_stopped    the urgent process is stopped (SIGSTOP) for 4 s while it has work, then continued
                  (SIGCONT): the training must not stay held behind a process that cannot run.

Every program must exit 0 (but the one killed) with results bit-identical to a native run of the
same program (the output of every request, the loss of every step), so no work was lost, repeated
or reordered. Measured, from CLOCK_MONOTONIC on the host: how soon the training ran again, how
soon the programs registered again, how soon the daemon dropped the dead process. A poller reads
`xsched list --json` every 20 ms for the daemon's view of each queue.

Writes DIR/faults.json (raw, with the timelines), DIR/faults.md (a table), DIR/summary.json and
DIR/faults.png (requests and steps per 100 ms around each fault). Exit 0: all passed; 1: a check failed;
77: no GPU or no torch.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "bench" / "common"))
import benchlib  # noqa: E402

SKIP = 77
WORKER = HERE / "fault_worker.py"
SCENARIOS = ("daemon_restart", "low_killed", "high_stopped")


class Failed(Exception):
    """A check of a scenario failed."""


class Program:
    """A fault_worker.py process in its own process group (so signals reach xsched run's child too)."""

    def __init__(self, cmd: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "wb") as err:
            self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env,
                                      start_new_session=True)

    def ready(self) -> None:
        assert self.p.stdout is not None
        line = self.p.stdout.readline().decode(errors="replace").strip()
        if line != "READY":
            self.p.wait(timeout=60)
            if self.p.returncode == SKIP:
                raise SystemExit(SKIP)
            raise Failed(f"{self.log.name}: no READY (exit {self.p.returncode}): {self.tail()}")

    def go(self) -> None:
        assert self.p.stdin is not None
        self.p.stdin.write(b"go\n")
        self.p.stdin.flush()

    def signal(self, sig: int) -> None:
        os.killpg(self.p.pid, sig)

    def finish(self, timeout: float = 120) -> dict[str, Any]:
        assert self.p.stdin is not None and self.p.stdout is not None
        self.p.stdin.close()
        out = self.p.stdout.read().decode(errors="replace").strip().splitlines()
        self.p.wait(timeout=timeout)
        if self.p.returncode != 0 or not out:
            raise Failed(f"{self.log.name}: exit {self.p.returncode}: {self.tail()}")
        return json.loads(out[-1])

    def kill(self) -> None:
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.p.wait()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-1500:]


class ListPoller(threading.Thread):
    """`xsched list --json` every 20 ms: (time, {pid: [queue states]}) snapshots; None while no daemon."""

    def __init__(self, xsched: Path, socket: str) -> None:
        super().__init__(daemon=True)
        self.xsched, self.socket = xsched, socket
        self.snaps: list[tuple[float, Optional[dict[int, list[str]]]]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            t = time.monotonic()
            view: Optional[dict[int, list[str]]] = None
            try:
                r = subprocess.run([str(self.xsched), "list", "--json", "--socket", self.socket],
                                   capture_output=True, text=True, timeout=10, check=False)
                if r.returncode == 0:
                    j = json.loads(r.stdout)
                    view = {p["pid"]: [] for p in j["processes"]}
                    for q in j["queues"]:
                        view.setdefault(q["pid"], []).append(q["state"])
            except (ValueError, KeyError, subprocess.SubprocessError, OSError):
                view = None
            self.snaps.append((t, view))
            self.stop.wait(0.02)

    def first(self, after: float, cond: Any) -> Optional[float]:
        """The time of the first snapshot after `after` whose view satisfies cond(view)."""
        for t, view in self.snaps:
            if t >= after and view is not None and cond(view):
                return t
        return None


def held(view: dict[int, list[str]], pid: int) -> bool:
    return any(s.startswith("held") or s == "idle,held" for s in view.get(pid, []))


def wait_until(cond: Any, timeout: float, what: str) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return time.monotonic()
        time.sleep(0.01)
    raise Failed(f"timed out after {timeout:.0f} s waiting for {what}")


def registered(xsched: Path, socket: str) -> set[int]:
    r = subprocess.run([str(xsched), "list", "--json", "--socket", socket], capture_output=True, text=True,
                       timeout=10, check=False)
    if r.returncode != 0:
        return set()
    try:
        return {p["pid"] for p in json.loads(r.stdout)["processes"]}
    except (ValueError, KeyError):
        return set()


def first_end_after(run: dict[str, Any], t: float) -> Optional[float]:
    return next((e for e in run["end"] if e > t), None)


def rate(run: dict[str, Any], t0: float, t1: float) -> float:
    """Steps or requests completed per second in [t0, t1)."""
    return sum(1 for e in run["end"] if t0 <= e < t1) / max(t1 - t0, 1e-9)


def ms(x: Optional[float]) -> Optional[float]:
    return None if x is None else round(x * 1e3, 1)


def check_results(who: str, got: list[Any], ref: list[Any]) -> None:
    """Every result equals the native run's (high: one output for every request; low: the losses in order)."""
    if not got:
        raise Failed(f"{who}: no results")
    if who == "high":
        bad = [i for i, r in enumerate(got) if r != ref[0]]
        if bad:
            raise Failed(f"high: request {bad[0]} of {len(got)} gave output CRC {got[bad[0]]:#x}, native {ref[0]:#x}")
        return
    n = min(len(got), len(ref))
    for i in range(n):
        if got[i] != ref[i]:
            raise Failed(f"low: step {i} loss {got[i]} differs from the native run's {ref[i]}")


class Run:
    """One scenario: a private xschedd and the two programs under xsched run."""

    def __init__(self, a: argparse.Namespace, name: str) -> None:
        self.a, self.name = a, name
        self.dir = a.workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.daemon = benchlib.XschedDaemon(a.xschedd, self.dir, ["--policy", "priority"]).__enter__()
        env = dict(os.environ, **self.daemon.env())
        self.high = Program(prefix(a, 10) + worker(a, "high", "--period-ms", "0"), env, self.dir / "high.log")
        self.low = Program(prefix(a, 0) + worker(a, "low"), env, self.dir / "low.log")
        self.poller = ListPoller(a.xsched, self.daemon.socket)
        self.trace: dict[str, Any] = {}

    def start(self) -> float:
        self.high.ready()
        self.low.ready()
        pids = {self.high.p.pid, self.low.p.pid}
        wait_until(lambda: pids <= registered(self.a.xsched, self.daemon.socket), 30, "both programs to register")
        self.poller.start()
        self.high.go()
        self.low.go()
        t = time.monotonic()
        time.sleep(3.0)
        return t

    def timeline(self, high: dict[str, Any], low: Optional[dict[str, Any]], events: dict[str, float]) -> None:
        """Keeps the completion times and the faults' times, relative to the first request (for the plot)."""
        t0 = high["start"][0] if high["start"] else 0.0
        self.trace = {"high_end_s": [round(e - t0, 4) for e in high["end"]],
                      "low_end_s": [round(e - t0, 4) for e in low["end"]] if low else [],
                      "events_s": {k: round(v - t0, 4) for k, v in events.items()}}

    def close(self) -> None:
        self.poller.stop.set()
        self.high.kill()
        self.low.kill()
        self.daemon.__exit__(None, None, None)


def prefix(a: argparse.Namespace, priority: int) -> list[str]:
    return [str(a.xsched), "run", "--quiet", "--priority", str(priority), "--"]


def worker(a: argparse.Namespace, role: str, *extra: str) -> list[str]:
    return [a.python, str(WORKER), "--role", role, *extra]


def daemon_restart(r: Run, ref: dict[str, Any]) -> dict[str, Any]:
    t_go = r.start()
    hp, lp = r.high.p.pid, r.low.p.pid
    assert r.daemon.proc is not None
    t_kill = time.monotonic()
    r.daemon.proc.kill()
    r.daemon.proc.wait()
    time.sleep(1.0)
    r.daemon = benchlib.XschedDaemon(r.a.xschedd, r.dir, ["--policy", "priority"]).__enter__()
    t_restart = time.monotonic()
    t_rereg = wait_until(lambda: {hp, lp} <= registered(r.a.xsched, r.daemon.socket), 30,
                         "both programs to register with the new daemon")
    time.sleep(3.0)
    high, low = r.high.finish(), r.low.finish()
    r.poller.stop.set()
    check_results("high", high["result"], ref["high"])
    check_results("low", low["result"], ref["low"])
    t_held_again = r.poller.first(t_restart, lambda v: held(v, lp))
    r.timeline(high, low, {"daemon killed": t_kill, "daemon restarted": t_restart, "registered again": t_rereg})
    return {
        "low_first_step_after_kill_ms": ms((first_end_after(low, t_kill) or float("nan")) - t_kill),
        "low_steps_per_s_held_before": round(rate(low, t_go + 1, t_kill), 1),
        "low_steps_per_s_without_daemon": round(rate(low, t_kill + 0.3, t_restart), 1),
        "low_steps_per_s_held_after": round(rate(low, t_rereg + 0.5, t_rereg + 2.5), 1),
        "reregistered_after_restart_ms": ms(t_rereg - t_restart),
        "low_held_again_after_restart_ms": ms(None if t_held_again is None else t_held_again - t_restart),
        "high_requests": len(high["result"]),
        "low_steps": len(low["result"]),
    }


def low_killed(r: Run, ref: dict[str, Any]) -> dict[str, Any]:
    t_go = r.start()
    lp = r.low.p.pid
    t_kill = time.monotonic()
    r.low.kill()
    t_gone = wait_until(lambda: lp not in registered(r.a.xsched, r.daemon.socket), 30,
                        "the daemon to drop the killed process")
    time.sleep(3.0)
    high = r.high.finish()
    r.poller.stop.set()
    check_results("high", high["result"], ref["high"])
    if r.daemon.proc is None or r.daemon.proc.poll() is not None:
        raise Failed("xschedd exited")
    r.timeline(high, None, {"low killed": t_kill, "daemon dropped it": t_gone})
    lat = [e - s for s, e in zip(high["start"], high["end"])]
    before = sorted(x for x, s in zip(lat, high["start"]) if t_go + 1 <= s < t_kill)
    after = sorted(x for x, s in zip(lat, high["start"]) if s >= t_kill + 0.5)
    return {
        "daemon_dropped_process_ms": ms(t_gone - t_kill),
        "high_p50_ms_before_kill": ms(before[len(before) // 2]) if before else None,
        "high_p50_ms_after_kill": ms(after[len(after) // 2]) if after else None,
        "high_requests": len(high["result"]),
    }


def high_stopped(r: Run, ref: dict[str, Any]) -> dict[str, Any]:
    t_go = r.start()
    lp = r.low.p.pid
    t_stop = time.monotonic()
    r.high.signal(signal.SIGSTOP)
    time.sleep(4.0)
    t_cont = time.monotonic()
    r.high.signal(signal.SIGCONT)
    time.sleep(3.0)
    high, low = r.high.finish(), r.low.finish()
    r.poller.stop.set()
    check_results("high", high["result"], ref["high"])
    check_results("low", low["result"], ref["low"])
    t_free = r.poller.first(t_stop, lambda v: not held(v, lp))
    r.timeline(high, low, {"high stopped": t_stop, "high continued": t_cont})
    return {
        "low_first_step_after_stop_ms": ms((first_end_after(low, t_stop) or float("nan")) - t_stop),
        "low_released_by_daemon_after_stop_ms": ms(None if t_free is None or t_free > t_cont else t_free - t_stop),
        "low_steps_per_s_held_before": round(rate(low, t_go + 1, t_stop), 1),
        "low_steps_per_s_while_stopped": round(rate(low, t_stop + 1, t_cont), 1),
        "low_steps_per_s_after_cont": round(rate(low, t_cont + 0.5, t_cont + 2.5), 1),
        "high_requests": len(high["result"]),
        "low_steps": len(low["result"]),
    }


def native_reference(a: argparse.Namespace) -> dict[str, Any]:
    """The two programs natively, side by side: the results every xsched run must reproduce."""
    d = a.workdir / "native"
    d.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    high = Program(worker(a, "high", "--period-ms", "20"), env, d / "high.log")
    low = Program(worker(a, "low", "--steps", "150"), env, d / "low.log")
    try:
        high.ready()
        low.ready()
        high.go()
        low.go()
        time.sleep(2.0)
        out_high = high.finish()
        out_low = low.finish()
    finally:
        high.kill()
        low.kill()
    if len(out_low["result"]) != 150 or len(set(out_high["result"])) != 1:
        raise Failed("the native run is not deterministic: its requests gave different outputs")
    return {"high": out_high["result"][:1], "low": out_low["result"]}


def plot(path: Path, traces: dict[str, Any]) -> None:
    """Per scenario: requests and steps completed per 100 ms, with the faults marked."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as exc:  # ImportError, or a broken backend
        print(f"note: matplotlib unavailable ({exc}); no plot written", file=sys.stderr)
        return
    fig, axes = plt.subplots(len(traces), 1, figsize=(9, 2.6 * max(1, len(traces))), squeeze=False)
    for ax, (name, tr) in zip(axes[:, 0], traces.items()):
        end = max(tr["high_end_s"] + tr["low_end_s"] + [1.0])
        bins = [i * 0.1 for i in range(int(end / 0.1) + 2)]
        for key, label in (("high_end_s", "urgent requests"), ("low_end_s", "training steps")):
            if tr[key]:
                ax.hist(tr[key], bins=bins, histtype="step", label=f"{label} per 100 ms")
        for i, (ev, t) in enumerate(tr["events_s"].items()):
            ax.axvline(t, linestyle="--", linewidth=1, color=f"C{i + 2}", label=ev)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("seconds since the first request (host CLOCK_MONOTONIC)")
        ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(out: Path, results: dict[str, Any], traces: dict[str, Any]) -> None:
    """faults.json (raw), faults.md (table), summary.json (flat figures), faults.png (timelines)."""
    out.mkdir(parents=True, exist_ok=True)
    benchlib.write_json(out / "faults.json", {"scenarios": results, "timelines": traces})
    lines = ["| scenario | passed | figure | value |", "|---|---|---|---|"]
    summary: dict[str, Any] = {"device": gpu_name(), "command": benchlib.command_line(), "date": benchlib.now_iso()}
    for name, res in results.items():
        summary[f"{name}_passed"] = res["passed"]
        for k, v in res.items():
            if k != "passed":
                lines.append(f"| {name} | {res['passed']} | {k} | {v} |")
                summary[f"{name}_{k}"] = v
    (out / "faults.md").write_text("\n".join(lines) + "\n")
    benchlib.write_summary(out, summary)
    if traces:
        plot(out / "faults.png", traces)


def gpu_name() -> str:
    try:
        name = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                              text=True, timeout=20, check=False).stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        name = "unknown GPU"
    return benchlib.device_string(name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--xsched", type=Path, required=True)
    ap.add_argument("--xschedd", type=Path, default=None, help="default: beside --xsched")
    ap.add_argument("--scenarios", default="all", help=f"comma-separated of {', '.join(SCENARIOS)}, or all")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--out", type=Path, default=None, help="write faults.json, faults.md, summary.json and faults.png here")
    ap.add_argument("--workdir", type=Path, default=None, help="logs (default: a temporary folder)")
    a = ap.parse_args()
    names = SCENARIOS if a.scenarios == "all" else tuple(s.strip() for s in a.scenarios.split(","))
    if any(n not in SCENARIOS for n in names):
        print(f"unknown scenario in {a.scenarios!r}", file=sys.stderr)
        return 2
    tools = benchlib.find_xsched_tools(a.xsched, a.xschedd)
    if tools is None:
        return 2
    a.xsched, a.xschedd = tools
    a.workdir = a.workdir or Path(tempfile.mkdtemp(prefix="xsched-faults-"))
    try:
        ref = native_reference(a)
    except SystemExit as e:
        return int(e.code or 0)
    results: dict[str, Any] = {}
    traces: dict[str, Any] = {}
    failed = 0
    for name in names:
        r = Run(a, name)
        try:
            results[name] = {"passed": True, **globals()[name](r, ref)}
            traces[name] = r.trace
        except (Failed, benchlib.WorkerError, subprocess.TimeoutExpired) as e:
            results[name] = {"passed": False, "error": str(e)}
            failed += 1
        finally:
            r.close()
        print(f"{name}: {json.dumps(results[name])}", flush=True)
    if a.out is not None:
        write_outputs(a.out, results, traces)
    print(f"{len(names) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
