#!/usr/bin/env python3
"""The field report's Test 5 crash scenario: two models, two Python threads, streams from main.

    test5_threads.py --out DIR [--iters N]

The main thread creates the streams (torch.cuda.Stream(priority=-1) for the high-priority
ResNet-18 at batch 1, torch.cuda.Stream() for the low-priority ResNet-50 at batch 8) and builds
both models. Two worker threads then run their model N times inside `with torch.cuda.stream(s)`,
synchronising from the worker thread with s.synchronize() (and once, half-way, through an event).
With the original XSched this failed with "context is destroyed" (error 709) because the queue
took the calling thread's context instead of the stream's.

Writes DIR/high.npy and DIR/low.npy (outputs of the last iteration; compare_runs.py compares them
with a native run) and DIR/summary.json (latencies, not compared). Deterministic settings as in
model_suite.py. Exit codes: 0 both threads finished, 1 an exception in any thread, 77 no GPU or
no torch (skip).
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "common"))
import suite  # noqa: E402

SKIP = 77


class Worker(threading.Thread):
    """Runs one workload `iters` times on its stream; records latencies, output and any exception."""

    def __init__(self, name: str, wl: suite.Workload, stream: Any, iters: int, start_barrier: threading.Barrier,
                 torch: Any) -> None:
        super().__init__(name=name)
        self.wl = wl
        self.stream = stream
        self.iters = iters
        self.barrier = start_barrier
        self.torch = torch
        self.latencies_ms: list[float] = []
        self.output: Optional[Any] = None
        self.error: Optional[str] = None

    def run(self) -> None:
        """Thread body: wait for the other thread, then run on this worker's stream."""
        torch = self.torch
        try:
            self.barrier.wait(timeout=300)
            # The inputs and weights were written on the main thread's (legacy) default stream.
            self.stream.wait_stream(torch.cuda.default_stream())
            with torch.cuda.stream(self.stream):
                out = None
                for i in range(self.iters):
                    t0 = time.perf_counter()
                    out = self.wl.step()
                    if i == self.iters // 2:
                        ev = torch.cuda.Event()
                        ev.record(self.stream)
                        ev.synchronize()
                    else:
                        self.stream.synchronize()
                    self.latencies_ms.append((time.perf_counter() - t0) * 1e3)
                assert out is not None
                self.output = out.float().cpu()  # copies on this stream, then waits for it
        except BaseException:
            self.error = traceback.format_exc()
            self.barrier.abort()


def save_array(out: Path, name: str, tensor: Any, torch: Any) -> None:
    """Save a CPU tensor as <name>.npy, or <name>.pt where numpy is missing."""
    try:
        import numpy as np
    except ImportError:
        torch.save(tensor, out / f"{name}.pt")
        return
    np.save(out / f"{name}.npy", tensor.numpy(), allow_pickle=False)


def main(argv: Optional[list[str]] = None) -> int:
    """Build both models and streams here, run them in two threads; return the exit code."""
    p = argparse.ArgumentParser(description="Test 5: two models in two threads, streams created by the main thread.")
    p.add_argument("--out", type=Path, required=True, help="result folder")
    p.add_argument("--iters", type=int, default=20, help="iterations per thread (default 20)")
    p.add_argument("--low-batch", type=int, default=8, help="batch size of the low-priority ResNet-50 (default 8)")
    args = p.parse_args(argv)
    if args.iters < 1:
        p.error("--iters must be >= 1")

    torch = suite.import_torch_for_gpu()
    if torch is None:
        return SKIP
    args.out.mkdir(parents=True, exist_ok=True)

    # Main thread: streams and models.
    high_stream = torch.cuda.Stream(priority=-1)
    low_stream = torch.cuda.Stream()
    high = suite.Workload(suite.ModelSpec("test5_high_resnet18", "resnet18", batch=1), "cuda")
    low = suite.Workload(suite.ModelSpec("test5_low_resnet50", "resnet50", batch=args.low_batch), "cuda")
    torch.cuda.synchronize()
    print(f"device: {torch.cuda.get_device_name(0)}; high stream priority {high_stream.priority}, "
          f"low stream priority {low_stream.priority}", flush=True)

    barrier = threading.Barrier(2)
    workers = [Worker("high", high, high_stream, args.iters, barrier, torch),
               Worker("low", low, low_stream, args.iters, barrier, torch)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - t0

    failed = [w for w in workers if w.error or w.output is None]
    for w in failed:
        print(f"FAIL: thread '{w.name}' raised:\n{w.error or 'no output'}", file=sys.stderr, flush=True)
    summary: dict[str, Any] = {"device": torch.cuda.get_device_name(0), "iters": args.iters, "wall_s": wall,
                               "threads": {}}
    for w in workers:
        lat = sorted(w.latencies_ms)
        summary["threads"][w.name] = {
            "latencies_ms": w.latencies_ms,
            "p50_ms": lat[len(lat) // 2] if lat else None,
            "max_ms": lat[-1] if lat else None,
            "error": w.error,
        }
        if w.output is not None:
            save_array(args.out, w.name, w.output, torch)
        if lat:
            print(f"{w.name:5s}: {len(lat)} iterations, p50 {lat[len(lat) // 2]:.2f} ms, max {lat[-1]:.2f} ms",
                  flush=True)

    # Informational: the same models once more, sequentially on the default stream. Equal bits
    # are expected but not required (they are not the comparison that matters).
    if not failed:
        for w, wl in zip(workers, (high, low)):
            again = wl.step().float().cpu()
            same = bool(torch.equal(again.view(torch.int32), w.output.view(torch.int32)))
            summary["threads"][w.name]["sequential_equal"] = same
            if not same:
                print(f"warning: {w.name}: threaded output differs from a sequential run on the default stream")

    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    if failed:
        print(f"test5_threads: {len(failed)} thread(s) failed")
        return 1
    print(f"test5_threads: both threads finished ({wall:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
