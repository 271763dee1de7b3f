#!/usr/bin/env python3
"""One run of the priority benchmark: the field report's Test 5 workloads, in one or two roles.

    workload.py --roles high,low [--pair test5|decode] [--high-stream-priority P] [--seconds S]
                [--period-ms P]
    workload.py --roles high      (the high task alone; with --until-stdin-closes, the high process
                                   of a two-process run: READY once warm, its window starts at the
                                   first line on stdin)
    workload.py --roles low       (the low task; with --until-stdin-closes, the low process of a
                                   two-process run: READY once warm, stops when stdin closes)

Pairs (--pair): test5, the field report's Test 5: high ResNet-18 batch 1, one request every 20 ms;
low ResNet-50 batch 32 inference. decode: high GPT-2 decoding (bench/common/decoder.py: 12 layers,
fp16, KV cache, batch 1, 16 tokens a request: hundreds of tiny kernels launched from Python), one
request every 200 ms; low ResNet-50 training, batch 64, SGD.

high: one request every --period-ms (the pair's default; a request that ends late starts the next
at once), each request the model's work and a synchronisation of its stream. Its latency is from
the request's start to the synchronisation's return. low: non-stop, its stream synchronised after
every iteration (the completion times give its throughput over any window).

With both roles, the main thread makes both streams (torch.cuda.Stream(priority=P) for the high,
torch.cuda.Stream() for the low) and builds both models, then one thread per role runs them: the
field report's scenario. A third thread, the sentinel, sleeps 1 ms at a time and records how late
it wakes: a thread that blocks while holding the GIL shows up there as lateness.

Prints one JSON object on stdout (times from time.monotonic(), CLOCK_MONOTONIC, comparable across
processes): high {start, lat_ms}, low {done}, sentinel {t, late_us}, window [t0, t1]. Exit code 77:
no GPU or no torch.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
import suite  # noqa: E402

SKIP = 77
#: Per pair: the high task's model, the low task's and the high task's default request period (ms).
PAIRS = {
    "test5": ("resnet18", "resnet50_bs32", 20.0),
    "decode": ("gpt2_decode", "resnet50_train_bs64", 200.0),
}
#: Untimed steps of each model before anything is measured (allocator, cuDNN, lazy loading).
WARMUP_STEPS = 10


#: The cores the high and the low task's threads run on (two each, apart from each other and from
#: core 0, where the system's own work tends to land), where the machine has them.
HIGH_CPUS = {2, 3}
LOW_CPUS = {4, 5}


def pin(cpus: set[int]) -> None:
    """Pins the calling thread (and the threads it starts later) to `cpus`, if they exist."""
    try:
        available = os.sched_getaffinity(0)
        if cpus <= available and len(available) > max(HIGH_CPUS | LOW_CPUS):
            os.sched_setaffinity(0, cpus)
    except (AttributeError, OSError):
        pass


def make_workload(name: str) -> Any:
    """A model of the suite, or the GPT-2 decoder."""
    if name == "gpt2_decode":
        import decoder
        return decoder.Decoder()
    return suite.Workload(suite.spec_by_name(name))


def run_high(wl: Any, stream: Any, torch: Any, seconds: float, period_s: float) -> dict[str, Any]:
    """Requests at a fixed rate for `seconds`; returns their start times and latencies: on the host's
    clock (CLOCK_MONOTONIC, from before the forward pass to after the stream's synchronisation) and on
    the GPU's (CUDA events recorded on the stream before and after the request's work)."""
    pin(HIGH_CPUS)
    starts: list[float] = []
    lat_ms: list[float] = []
    gpu_ms: list[float] = []
    ev_start = torch.cuda.Event(enable_timing=True)
    ev_end = torch.cuda.Event(enable_timing=True)
    with torch.cuda.stream(stream):
        t_end = time.monotonic() + seconds
        nxt = time.monotonic()
        while True:
            now = time.monotonic()
            if now < nxt:
                time.sleep(nxt - now)
            t0 = time.monotonic()
            if t0 >= t_end:
                break
            ev_start.record(stream)
            wl.step()
            ev_end.record(stream)
            stream.synchronize()
            t1 = time.monotonic()
            starts.append(t0)
            lat_ms.append((t1 - t0) * 1e3)
            gpu_ms.append(ev_start.elapsed_time(ev_end))
            nxt = max(nxt + period_s, t1)
    return {"start": starts, "lat_ms": lat_ms, "gpu_ms": gpu_ms}


def run_low(wl: Any, stream: Any, torch: Any, stop: threading.Event, done: list[float]) -> None:
    """Iterations back to back until `stop`; appends each one's completion time to `done`."""
    pin(LOW_CPUS)
    with torch.cuda.stream(stream):
        while not stop.is_set():
            wl.step()
            stream.synchronize()
            done.append(time.monotonic())


def sentinel(stop: threading.Event, wakes: list[float], late_us: list[float]) -> None:
    """Sleeps 1 ms at a time and records when it woke and how late."""
    while not stop.is_set():
        t = time.monotonic()
        time.sleep(0.001)
        now = time.monotonic()
        wakes.append(now)
        late_us.append((now - t - 0.001) * 1e6)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--roles", default="high,low", help="high, low or high,low")
    ap.add_argument("--high-stream-priority", type=int, default=0, help="CUDA priority of the high stream")
    ap.add_argument("--seconds", type=float, default=10.0, help="the measured window")
    ap.add_argument("--pair", choices=sorted(PAIRS), default="test5", help="the two tasks (default test5)")
    ap.add_argument("--period-ms", type=float, default=None, help="the high task's request period "
                    "(default: the pair's, 20 ms for test5, 200 ms for decode)")
    ap.add_argument("--low-lead-s", type=float, default=1.0, help="low runs this long before the window")
    ap.add_argument("--until-stdin-closes", action="store_true",
                    help="READY once warm; high: start the window at the first line on stdin; "
                         "low: run until stdin closes")
    a = ap.parse_args()
    roles = {r.strip() for r in a.roles.split(",") if r.strip()}
    if not roles or not roles <= {"high", "low"}:
        print(f"--roles must be high, low or high,low (got {a.roles!r})", file=sys.stderr)
        return 2

    high_model, low_model, default_period = PAIRS[a.pair]
    period_ms = a.period_ms if a.period_ms is not None else default_period
    try:
        import torch
        import torchvision  # noqa: F401
        if a.pair == "decode" and "high" in roles:
            import transformers  # noqa: F401
    except ImportError as exc:
        print(f"SKIP: torch/torchvision/transformers not importable ({exc})", file=sys.stderr)
        return SKIP
    if not torch.cuda.is_available():
        print("SKIP: no GPU", file=sys.stderr)
        return SKIP
    # PyTorch's defaults, as the field report's users ran it (no deterministic algorithms).
    # Both streams from the main thread: the threads use streams they did not create.
    high_stream = torch.cuda.Stream(priority=a.high_stream_priority) if "high" in roles else None
    low_stream = torch.cuda.Stream() if "low" in roles else None
    high = make_workload(high_model) if "high" in roles else None
    low = make_workload(low_model) if "low" in roles else None
    for wl, s in ((high, high_stream), (low, low_stream)):
        if wl is None:
            continue
        with torch.cuda.stream(s):
            for _ in range(WARMUP_STEPS):
                wl.step()
        s.synchronize()

    stop = threading.Event()
    done: list[float] = []
    wakes: list[float] = []
    late_us: list[float] = []
    threads = [threading.Thread(target=sentinel, args=(stop, wakes, late_us), name="sentinel")]
    if low is not None:
        threads.append(threading.Thread(target=run_low, args=(low, low_stream, torch, stop, done), name="low"))
    for t in threads:
        t.start()
    result: dict[str, Any] = {"roles": sorted(roles), "high_stream_priority": a.high_stream_priority,
                              "pair": a.pair, "models": {"high": high_model, "low": low_model}, "period_ms": period_ms}
    if a.until_stdin_closes and high is None:
        print("READY", flush=True)
        sys.stdin.read()  # until the parent closes it
        result["window"] = [None, None]
    else:
        if a.until_stdin_closes:
            print("READY", flush=True)
            sys.stdin.readline()  # the parent's go
        if low is not None:
            time.sleep(a.low_lead_s)
        t0 = time.monotonic()
        if high is not None:
            result["high"] = run_high(high, high_stream, torch, a.seconds, period_ms / 1e3)
        else:
            time.sleep(a.seconds)
        result["window"] = [t0, time.monotonic()]
    stop.set()
    for t in threads:
        t.join()
    if low is not None:
        result["low"] = {"done": done}
    result["sentinel"] = {"t": wakes, "late_us": late_us}
    result["gpu"] = torch.cuda.get_device_name(0)
    result["cuda"] = torch.version.cuda
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
