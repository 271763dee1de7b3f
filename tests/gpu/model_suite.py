#!/usr/bin/env python3
"""The field report's 14-model suite, with deterministic settings, for bitwise comparison.

    model_suite.py --out DIR [--models a,b,...] [--iters N] [--count-kernels]

Each inference model runs once (or --iters times: every repetition must give the same bits) on
a fixed-seed 224x224 input and writes DIR/<name>.npy (its float32 output). Each training
workload runs three SGD steps and writes DIR/<name>.npy (the three losses) and
DIR/<name>_weights.npy (every parameter and buffer afterwards, flattened). DIR/summary.json holds
per-model times (not compared by compare_runs.py). With --count-kernels, the GPU kernels of each
model are counted with torch.profiler into DIR/kernel_counts.json (compare_runs.py uses it, from
the native run only, to require at least as many traced launches under xsched).

Exit codes: 0 every model ran, 1 a model failed, 2 usage, 77 no GPU or no torch/torchvision (skip).
Run under the interposer with tests/gpu/compare_runs.py (ctest: gpu_model_suite).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "common"))
import suite  # noqa: E402

SKIP = 77
TRAIN_STEPS = 3


def save_array(out: Path, name: str, tensor: Any) -> str:
    """Save a CPU tensor as <name>.npy (or <name>.pt where numpy is missing); return a short digest."""
    t = tensor.detach().cpu().contiguous()
    try:
        import numpy as np
    except ImportError:
        import torch

        path = out / f"{name}.pt"
        torch.save(t, path)
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    arr = t.numpy()
    np.save(out / f"{name}.npy", arr, allow_pickle=False)
    return hashlib.sha256(arr.tobytes()).hexdigest()[:16]


def count_kernels(prof: Any, torch: Any) -> tuple[int, int, int]:
    """Count (all, gemm-like, cudnn-like) GPU kernels in a finished torch.profiler session."""
    total = gemm = dnn = 0
    for ev in prof.events():
        if ev.device_type != torch.autograd.DeviceType.CUDA:
            continue
        name = ev.name
        if name.startswith(("Memcpy", "Memset")):
            continue
        total += 1
        low = name.lower()
        if any(k in low for k in ("gemm", "cublas", "cutlass", "xmma", "gemv", "sm90_")):
            gemm += 1
        if any(k in low for k in ("cudnn", "conv", "implicit_", "winograd", "fft")):
            dnn += 1
    return total, gemm, dnn


def run_model(spec: suite.ModelSpec, out: Path, iters: int, profile: bool, torch: Any) -> dict[str, Any]:
    """Build and run one workload, save its results; return its summary entry."""
    t0 = time.perf_counter()
    wl = suite.Workload(spec, "cuda")
    torch.cuda.synchronize()
    build_s = time.perf_counter() - t0
    wl.reseed()

    prof_ctx = None
    if profile:
        try:
            from torch.profiler import ProfilerActivity, profile as tprofile

            prof_ctx = tprofile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA])
            prof_ctx.__enter__()
        except Exception as exc:  # no CUPTI, or a profiler already running: count nothing
            print(f"warning: {spec.name}: torch.profiler unavailable ({exc}); kernels not counted", flush=True)
            prof_ctx = None
    t1 = time.perf_counter()
    entry: dict[str, Any] = {"batch": spec.batch, "train": spec.train}
    try:
        if spec.train:
            losses = []
            for _ in range(TRAIN_STEPS):
                losses.append(wl.step())
            torch.cuda.synchronize()
            run_s = time.perf_counter() - t1
            loss_t = torch.stack(losses).float().cpu()
            entry["losses"] = [float(v) for v in loss_t]
            entry["digest"] = save_array(out, spec.name, loss_t)
            entry["weights_digest"] = save_array(out, f"{spec.name}_weights", wl.flat_state())
            entry["repeat_equal"] = None
            shape, dtype = list(loss_t.shape), str(loss_t.dtype)
        else:
            first = wl.step()
            torch.cuda.synchronize()
            run_s = time.perf_counter() - t1
            first_cpu = first.float().cpu()
            equal = True
            for _ in range(iters - 1):
                again = wl.step().float().cpu()
                equal &= bool(torch.equal(again.view(torch.int32), first_cpu.view(torch.int32)))
            entry["repeat_equal"] = equal if iters > 1 else None
            entry["digest"] = save_array(out, spec.name, first_cpu)
            shape, dtype = list(first_cpu.shape), str(first_cpu.dtype)
    finally:
        if prof_ctx is not None:
            torch.cuda.synchronize()
            prof_ctx.__exit__(None, None, None)
    if prof_ctx is not None:
        try:
            total, gemm, dnn = count_kernels(prof_ctx, torch)
            entry["kernels"] = {"total": total, "gemm_like": gemm, "cudnn_like": dnn}
        except Exception as exc:
            print(f"warning: {spec.name}: cannot count kernels ({exc})", flush=True)
    entry.update({"build_s": round(build_s, 4), "run_ms": round(run_s * 1e3, 3), "shape": shape, "dtype": dtype})
    del wl
    torch.cuda.empty_cache()
    return entry


def main(argv: Optional[list[str]] = None) -> int:
    """Run the selected models; return the exit code."""
    p = argparse.ArgumentParser(description="Run the 14-model suite deterministically and save every output.")
    p.add_argument("--out", type=Path, required=True, help="result folder")
    p.add_argument("--models", default="all", help=f"comma-separated subset of: {', '.join(s.name for s in suite.SUITE)}")
    p.add_argument("--iters", type=int, default=1, help="inference repetitions; all must give the same bits")
    p.add_argument("--count-kernels", action="store_true", help="count GPU kernels per model with torch.profiler")
    args = p.parse_args(argv)
    try:
        specs = suite.select(args.models)
    except KeyError as exc:
        p.error(str(exc))
    if args.iters < 1:
        p.error("--iters must be >= 1")

    torch = suite.import_torch_for_gpu()
    if torch is None:
        return SKIP

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    print(f"device: {torch.cuda.get_device_name(0)}; torch {torch.__version__} (CUDA {torch.version.cuda}); "
          f"cuDNN {torch.backends.cudnn.version()}; {len(specs)} models", flush=True)

    summary: dict[str, Any] = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "models": {}}
    kernel_counts: dict[str, Any] = {"tool": "torch.profiler", "total": 0, "gemm_like": 0, "cudnn_like": 0,
                                     "per_model": {}}
    failed: list[str] = []
    for spec in specs:
        try:
            entry = run_model(spec, out, args.iters, args.count_kernels, torch)
        except Exception as exc:
            traceback.print_exc()
            print(f"FAIL  {spec.name:22s} {type(exc).__name__}: {exc}", flush=True)
            summary["models"][spec.name] = {"error": f"{type(exc).__name__}: {exc}"}
            failed.append(spec.name)
            continue
        summary["models"][spec.name] = entry
        if entry.get("repeat_equal") is False:
            failed.append(spec.name)
        k = entry.get("kernels")
        if k is not None:
            kernel_counts["per_model"][spec.name] = k
            for key in ("total", "gemm_like", "cudnn_like"):
                kernel_counts[key] += k[key]
        extra = f"  losses {['%.6f' % v for v in entry['losses']]}" if spec.train else ""
        extra += f"  kernels {k['total']} (gemm {k['gemm_like']}, cudnn {k['cudnn_like']})" if k else ""
        extra += "  REPEAT DIFFERS" if entry.get("repeat_equal") is False else ""
        print(f"ok    {spec.name:22s} bs{spec.batch:<3d} out {entry['dtype']}{entry['shape']}  "
              f"sha {entry['digest']}  build {entry['build_s']:.2f} s  run {entry['run_ms']:.1f} ms{extra}",
              flush=True)

    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    if args.count_kernels:
        if not kernel_counts["per_model"]:
            kernel_counts["total"] = None  # nothing counted: consumers skip their check
        (out / "kernel_counts.json").write_text(json.dumps(kernel_counts, indent=1) + "\n")
        print(f"kernels counted by torch.profiler: {kernel_counts['total']} "
              f"(gemm-like {kernel_counts['gemm_like']}, cudnn-like {kernel_counts['cudnn_like']})")
    if failed:
        print(f"model_suite: {len(failed)} of {len(specs)} failed: {', '.join(failed)}")
        return 1
    print(f"model_suite: all {len(specs)} models ran")
    return 0


if __name__ == "__main__":
    sys.exit(main())
