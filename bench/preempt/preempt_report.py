"""The preemption benchmark's figures: table.md, preempt.png and summary.json from a raw.json.

Used by preempt.py after a run and by its --replot. A raw.json from before the cross-process
runs (no `deployments` in its config, no `deployment` in its runs) reads as in-process only.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
import benchlib  # noqa: E402

#: docs/benchmarks.md: "p99 from high's submit to its first kernel start <= T + 20 us at Level 2".
TARGET_SLACK_US = 20.0
DEPLOYMENTS = ("inprocess", "crossprocess")
#: Across processes a variant's figures carry this after its name: p99_us_level2_xproc_500.
XPROC = "_xproc"
TITLES = {"inprocess": "In one process (low and high threads)",
          "crossprocess": "Across two processes (a low and a high program)"}
SHORT = {"inprocess": "one process", "crossprocess": "two processes"}

Cells = dict[tuple[str, int], dict[str, Any]]


def t_key(t_us: Any) -> str:
    """The T part of a summary key: 50, 500, 2000."""
    return f"{float(t_us):g}"


def deployment_of(run: dict[str, Any]) -> str:
    """A run's deployment; runs recorded before there were two are in-process."""
    return run.get("deployment", "inprocess")


def label(variant: str, deployment: str) -> str:
    """The name of a (variant, deployment) in the table's cells and the summary: level2, level2_xproc."""
    return variant + (XPROC if deployment == "crossprocess" else "")


def deployments_of(cfg: dict[str, Any]) -> list[str]:
    """The deployments a raw file's configuration ran (in-process only where it does not say)."""
    return list(cfg.get("deployments") or ["inprocess"])


def pooled(runs: list[dict[str, Any]], variants: Sequence[str], deployments: Sequence[str],
           ts: Sequence[int]) -> Cells:
    """Per (label, T): the ok runs' samples pooled, and the run counts."""
    cells: Cells = {}
    for d in deployments:
        for v in variants:
            for t in ts:
                mine = [r for r in runs if r["variant"] == v and deployment_of(r) == d and r["t_us"] == t]
                ok = [r for r in mine if r["status"] == "ok"]
                daemon = [r["daemon_processes"] for r in ok if r.get("daemon_processes") is not None]
                cells[(label(v, d), t)] = {
                    "samples": [x for r in ok for x in r["result"]["samples"]],
                    "seen": [x for r in ok for x in r["result"]["host_seen_us"]],
                    "idle": [x for r in ok for x in r["result"].get("idle_us", [])],
                    "runs": len(mine), "ok": len(ok),
                    "lowered": any(r.get("level_lowered") for r in mine),
                    "rtt_max_ns": max((max(r["result"]["calib"]["rtt_ns_before"], r["result"]["calib"]["rtt_ns_after"])
                                       for r in ok), default=None),
                    "daemon_min": min(daemon, default=None),
                }
    return cells


def cell_stats(cell: dict[str, Any]) -> dict[str, float]:
    """p50, p99, max of the start latency; p50 of host-seen and idle latency (NaN where empty)."""
    xs = cell["samples"]
    return {"n": len(xs), "p50": benchlib.percentile(xs, 50), "p99": benchlib.percentile(xs, 99),
            "max": max(xs) if xs else math.nan, "seen_p50": benchlib.percentile(cell["seen"], 50),
            "idle_p50": benchlib.percentile(cell["idle"], 50)}


def fmt(v: Optional[float], spec: str = ".1f") -> str:
    """A number, or n/a."""
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def target_met(name: str, t_us: int, cell: dict[str, Any]) -> Optional[bool]:
    """Level 2's target, p99 <= T + 20 µs, in either deployment (level2, level2_xproc). None for other
    variants, where there are no samples, and where the interposer lowered the level (then what ran
    was not Level 2)."""
    st = cell_stats(cell)
    if name not in ("level2", "level2" + XPROC) or cell["lowered"] or not math.isfinite(st["p99"]):
        return None
    return st["p99"] <= t_us + TARGET_SLACK_US


def table_rows(cells: Cells, variants: Sequence[str], deployment: str,
               ts: Sequence[int]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of one deployment's table: one row per (T, variant)."""
    headers = ["T us", "variant", "n", "p50 us", "p99 us", "max us", "p99-T us", "seen p50", "idle p50", "runs ok",
               "target"]
    rows = []
    for t in ts:
        for v in variants:
            name = label(v, deployment)
            cell = cells[(name, t)]
            st = cell_stats(cell)
            met = target_met(name, t, cell)
            target = "" if met is None else ("met" if met else "MISSED")
            if cell["lowered"]:
                target = "ran as Level 1"
            rows.append([str(t), v, str(st["n"]), fmt(st["p50"]), fmt(st["p99"]), fmt(st["max"]),
                         fmt(st["p99"] - t), fmt(st["seen_p50"]), fmt(st["idle_p50"]), f"{cell['ok']}/{cell['runs']}",
                         target])
    return headers, rows


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table, numbers right-aligned."""
    align = ["---" if i < 2 else "---:" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def notes(raw: dict[str, Any], cells: Cells) -> list[str]:
    """Lines under the tables: what the columns are, and anything that went wrong."""
    cfg = raw["config"]
    out = [f"Start latency: host submit -> the high kernel's first instruction (device clock mapped onto the host "
           f"clock), pooled over {cfg['rounds']} round(s) of {cfg['samples']} samples; high arrivals every "
           f"{cfg['mean_gap_us']:g} us on average (exponential). 'seen p50': submit -> the host saw the start stamp. "
           f"'idle p50': the same kernel with the GPU idle. Target (docs/benchmarks.md): Level 2 p99 <= T + "
           f"{TARGET_SLACK_US:g} us."]
    if "crossprocess" in deployments_of(cfg):
        daemon = [c["daemon_min"] for c in cells.values() if c["daemon_min"] is not None]
        seen = f"; the daemon saw at least {min(daemon)} processes registered in every such run" if daemon else ""
        out.append("Across processes the low and the high side are two programs with a CUDA context each, which the "
                   "GPU time-slices; the high program takes its idle probes before the low one starts. native and "
                   "streamprio run without xsched (stream priorities do not reach across contexts); the xsched variants "
                   f"run both under `xsched run` with a private xschedd (priority policy), the high one at --priority "
                   f"{cfg.get('xproc_high_priority', 10)}{seen}."
                   + (" reserve keeps SMs free only from a process's own less urgent queues." if "reserve" in cfg["variants"]
                      else ""))
    if any(c["lowered"] for c in cells.values()):
        out.append("The interposer lowered the level asked for (it warned that its CUDA queues support a lower level): "
                   "those runs measured Level 1 with the default window, not Level 2; Level 2's target is not judged.")
    rtts = [c["rtt_max_ns"] for c in cells.values() if c["rtt_max_ns"] is not None]
    if rtts:
        out.append(f"Clock calibration: worst best-round-trip {max(rtts)} ns, so each start time is known to within "
                   f"+-{max(rtts) / 2000:.1f} us.")
    for r in raw["runs"]:
        if r["status"] != "ok":
            out.append(f"Run round {r['round'] + 1} T={r['t_us']} {r['variant']} ({deployment_of(r)}): {r['status']}: "
                       f"{r.get('error')}")
    return out


def plot(path: Path, cells: Cells, variants: Sequence[str], deployments: Sequence[str], ts: Sequence[int],
         title: str) -> bool:
    """Per deployment, two rows: p50/p99/max bars per variant for each T (log scale, target line), and the CDFs."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib import ticker
    except Exception as exc:  # ImportError, or a broken backend
        print(f"note: matplotlib unavailable ({exc}); no plot written to {path}", file=sys.stderr)
        return False
    colors = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B2", "#937860", "#DA8BC3"]
    floor = 1.0  # µs: the log axes start here (0 and calibration-error negatives cannot be shown)

    def plain_log(axis: Any) -> None:
        """Log ticks at 1, 2, 5 x 10^k, written as plain numbers."""
        axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos: f"{v:g}"))
        axis.set_minor_formatter(ticker.NullFormatter())

    fig, axes = plt.subplots(2 * len(deployments), len(ts), figsize=(max(6.0, 4.4 * len(ts)), 4.25 * 2 * len(deployments)),
                             squeeze=False, constrained_layout=True)
    for row, d in enumerate(deployments):
        where = SHORT[d] if len(deployments) > 1 else ""
        for col, t in enumerate(ts):
            ax = axes[2 * row][col]
            stats = [cell_stats(cells[(label(v, d), t)]) for v in variants]
            top = max([t + TARGET_SLACK_US] + [st["max"] for st in stats if st["n"]])
            for i, st in enumerate(stats):
                c = colors[i % len(colors)]
                if not st["n"]:
                    ax.text(i, 0.03, "no data", rotation=90, ha="center", va="bottom", fontsize=8,
                            transform=ax.get_xaxis_transform())
                    continue
                ax.bar(i, max(st["p99"], floor) - floor, bottom=floor, color=c, alpha=0.35, width=0.7)
                ax.bar(i, max(st["p50"], floor) - floor, bottom=floor, color=c, width=0.7)
                ax.plot([i], [max(st["max"], floor)], marker="_", markersize=14, color="black")
            ax.axhline(t + TARGET_SLACK_US, linestyle="--", linewidth=1, color="#C44E52",
                       label=f"T + {TARGET_SLACK_US:g} us (Level 2 target)")
            ax.axhline(t, linestyle=":", linewidth=1, color="gray", label="T")
            ax.set_yscale("log")
            ax.set_ylim(floor, top * 4)  # headroom for the legend
            plain_log(ax.yaxis)
            ax.set_xticks(list(range(len(variants))))
            ax.set_xticklabels(variants, rotation=30, ha="right", fontsize=8)
            ax.set_title(f"{where + ', ' if where else ''}T = {t} us: p50 (solid), p99 (light), max (-)", fontsize=9)
            if col == 0:
                ax.set_ylabel("submit -> start, us")
            ax.legend(fontsize=7, loc="upper left")

            ax = axes[2 * row + 1][col]
            for i, v in enumerate(variants):
                data = sorted(max(x, floor) for x in cells[(label(v, d), t)]["samples"])
                if data:
                    ys = [(k + 1) / len(data) for k in range(len(data))]
                    ax.step(data, ys, where="post", color=colors[i % len(colors)], label=v, linewidth=1.2)
            ax.axvline(t + TARGET_SLACK_US, linestyle="--", linewidth=1, color="#C44E52")
            ax.set_xscale("log")
            plain_log(ax.xaxis)
            ax.set_ylim(0, 1.01)
            ax.set_xlabel("submit -> start, us")
            if col == 0:
                ax.set_ylabel("fraction of samples")
            ax.set_title(f"{where + ', ' if where else ''}T = {t} us: CDF (dashed: T + {TARGET_SLACK_US:g} us)",
                         fontsize=9)
            ax.grid(True, which="both", alpha=0.25)
            ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(title, fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return True


def summary_fields(raw: dict[str, Any], cells: Cells, variants: Sequence[str], deployments: Sequence[str],
                   ts: Sequence[int]) -> dict[str, Any]:
    """summary.json: the names of docs/benchmarks.md (p99_us_<variant>_<T>; across processes p99_us_<variant>_xproc_<T>),
    p50 beside them, Level 2's target per deployment and T."""
    cfg = raw["config"]
    fields: dict[str, Any] = {"device": raw["device"], "command": raw["command"], "date": raw["date"]}
    for d in deployments:
        for v in variants:
            for t in ts:
                st = cell_stats(cells[(label(v, d), t)])
                fields[f"p99_us_{label(v, d)}_{t_key(t)}"] = st["p99"]
                fields[f"p50_us_{label(v, d)}_{t_key(t)}"] = st["p50"]
    if "level2" in variants:
        for d in deployments:
            name = label("level2", d)
            for t in ts:
                fields[f"target_met_{name}_{t_key(t)}"] = target_met(name, t, cells[(name, t)])
    fields["level2_lowered_to_level1"] = None
    for d in deployments:
        name = label("level2", d)
        fields[f"{name}_lowered_to_level1"] = (any(cells[(name, t)]["lowered"] for t in ts) if "level2" in variants
                                               else None)
    if "crossprocess" in deployments:
        daemon = [c["daemon_min"] for c in cells.values() if c["daemon_min"] is not None]
        fields["daemon_processes_min_xproc"] = min(daemon, default=None)
    fields.update({
        "target_slack_us": TARGET_SLACK_US,
        "failed_runs": sum(1 for r in raw["runs"] if r["status"] != "ok"),
        "runs": len(raw["runs"]),
        "rounds": cfg["rounds"], "samples_per_run": cfg["samples"], "mean_gap_us": cfg["mean_gap_us"],
        "low_depth": cfg["low_depth"], "variants": ",".join(variants), "deployments": ",".join(deployments),
        "t_us": ",".join(t_key(t) for t in ts),
    })
    return fields


def report(raw: dict[str, Any], out: Path) -> None:
    """Print the tables and write table.md, preempt.png and summary.json into out."""
    cfg = raw["config"]
    variants, ts, deployments = cfg["variants"], cfg["t_us"], deployments_of(cfg)
    cells = pooled(raw["runs"], variants, deployments, ts)
    head = f"xsched preemption latency: {raw['device']}\n{raw['command']}\n{raw['date']}"
    lines = notes(raw, cells)
    text, md = [], []
    for d in deployments:
        headers, rows = table_rows(cells, variants, d, ts)
        text.append(f"{TITLES[d]}:\n\n" + benchlib.format_table(headers, rows))
        md.append(f"## {TITLES[d]}\n\n" + markdown_table(headers, rows))
    print("\n" + head + "\n\n" + "\n\n".join(text) + "\n\n" + "\n".join(lines) + "\n", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text(
        f"# Preemption latency\n\n- Device: {raw['device']}\n- Command: `{raw['command']}`\n- Date: {raw['date']}\n\n"
        + "\n\n".join(md) + "\n\n" + "\n".join(f"- {line}" for line in lines) + "\n")
    plotted = plot(out / "preempt.png", cells, variants, deployments, ts,
                   f"Preemption latency, {raw['device']}\nhigh kernel submit -> start, low kernels of T us on every SM")
    benchlib.write_summary(out, summary_fields(raw, cells, variants, deployments, ts))
    print(f"wrote {out}/table.md, summary.json" + (", preempt.png" if plotted else " (no plot)"), flush=True)
