#!/usr/bin/env python3
"""One program of the GPU fault scenarios (fault_scenarios.py): an urgent or a training task.

    fault_worker.py --role high [--period-ms P]   ResNet-18 batch 1 inference requests
    fault_worker.py --role low  [--steps N]        ResNet-18 training (SGD, batch 8)

Both build their model with fixed seeds and deterministic settings, warm up, print READY, and
start at the first line on stdin. high then serves a request every P ms (0: back to back), each a
forward pass whose output is copied to the host; low runs SGD steps back to back, each ending
with the loss copied to the host. Both stop when stdin closes (low also after N steps) and print
one JSON object: for every request or step, its start and end (time.monotonic(), CLOCK_MONOTONIC,
comparable across processes) and its result (high: the CRC-32 of the output's bytes; low: the
loss as a hexadecimal float). Any lost, repeated or reordered GPU work changes these results, so
comparing them with a native run proves the work was done exactly.

Exit code 77: no GPU or no torch.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "common"))
import suite  # noqa: E402

SKIP = 77
WARMUP_STEPS = 5


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--role", choices=("high", "low"), required=True)
    ap.add_argument("--period-ms", type=float, default=20.0, help="high: request period (0: back to back)")
    ap.add_argument("--steps", type=int, default=0, help="low: stop after this many steps (0: when stdin closes)")
    a = ap.parse_args()

    torch = suite.import_torch_for_gpu()
    if torch is None:
        return SKIP
    name = "resnet18" if a.role == "high" else "resnet18_train"
    wl = suite.Workload(suite.spec_by_name(name))
    for _ in range(WARMUP_STEPS):
        wl.step()
    torch.cuda.synchronize()
    # Warm-up changed the training state: start the measured steps from a fresh, seeded model,
    # so that every run's losses are comparable from the first one.
    if a.role == "low":
        wl = suite.Workload(suite.spec_by_name(name))
    wl.reseed()

    print("READY", flush=True)
    if not sys.stdin.readline():
        return 0
    stop = threading.Event()

    def wait_for_eof() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=wait_for_eof, daemon=True).start()

    start: list[float] = []
    end: list[float] = []
    result: list[object] = []
    period = a.period_ms / 1e3
    nxt = time.monotonic()
    while not stop.is_set() and (a.steps == 0 or len(result) < a.steps):
        if a.role == "high" and period > 0:
            now = time.monotonic()
            if now < nxt:
                stop.wait(nxt - now)
                if stop.is_set():
                    break
        t0 = time.monotonic()
        out = wl.step()
        host = out.float().cpu()  # waits for this request's or step's GPU work
        t1 = time.monotonic()
        if a.role == "high":
            result.append(zlib.crc32(host.numpy().tobytes()))
            nxt = max(nxt + period, t1)
        else:
            result.append(float(host).hex())
        start.append(t0)
        end.append(t1)
    json.dump({"role": a.role, "start": start, "end": end, "result": result}, sys.stdout)
    print(flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
