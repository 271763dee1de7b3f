"""Figures, table, summary and plot of the overhead benchmark, from its samples alone (no GPU).

overhead.py measures and calls write_outputs(); `overhead.py --from-raw raw.json` calls it on a
finished run's samples again. The sides are "native", "xsched" (the build under test) and the
compared builds, in that order; every figure is a ratio of medians between sides measured in the
same rounds, with a 95% bootstrap interval over the rounds (bench/common/roundstats.py).

Two clocks: "host" is the wall time of a step and its torch.cuda.synchronize() (what a program
sees; the headline), "gpu" the time between CUDA events recorded before and after the step on
the current stream (the device's view: it leaves out the synchronisation's wake-up and, when the
GPU runs ahead of the launches, shows the gaps the host leaves as time too).
"""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
import benchlib  # noqa: E402
import roundstats  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from builds import MAIN, NATIVE  # noqa: E402
CLOCKS = {"host": "lat_us", "gpu": "gpu_us"}


def builds_of(labels: Sequence[str]) -> list[str]:
    """The xsched builds among the sides: the main one first, then the compared ones."""
    return [label for label in labels if label != NATIVE]


def compared_of(labels: Sequence[str]) -> list[str]:
    """The compared builds (every build but the main one)."""
    return [label for label in labels if label not in (NATIVE, MAIN)]


def pairs_of(labels: Sequence[str]) -> list[tuple[str, str]]:
    """Every comparison reported: each build over native, and the main build over each compared one."""
    return [(b, NATIVE) for b in builds_of(labels)] + [(MAIN, c) for c in compared_of(labels)]


def per_round(requests: Sequence[Mapping[str, Any]], key: str) -> list[list[float]]:
    """One list of samples per round, in round order."""
    return [list(r.get(key) or []) for r in sorted(requests, key=lambda q: q["round"])]


def intervals(samples: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]], labels: Sequence[str], clock: str,
              resamples: int, seed: int) -> Optional[dict[tuple[str, str], roundstats.PairResult]]:
    """Every comparison's intervals on one clock; None when a request lacks that clock's samples."""
    key = CLOCKS[clock]
    data = {m: {label: per_round(sides[label], key) for label in labels} for m, sides in samples.items()}
    if any(not rnd for sides in data.values() for rounds in sides.values() for rnd in rounds):
        return None
    return roundstats.bootstrap(data, pairs_of(labels), resamples=resamples, seed=seed)


def iv_dict(iv: Optional[roundstats.Interval]) -> Optional[dict[str, float]]:
    """An interval as JSON."""
    return None if iv is None else {"point": iv.point, "low": iv.low, "high": iv.high}


def side_stats(requests: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Latency, CPU and throughput figures of one side of one model."""
    lat = [v for r in requests for v in r["lat_us"]]
    gpu = [v for r in requests for v in (r.get("gpu_us") or [])]
    iters = sum(len(r["lat_us"]) for r in requests)
    wall = sum(r["wall_s"] for r in requests)
    return {
        "p50_us": benchlib.median(lat), "p99_us": benchlib.percentile(lat, 99),
        "gpu_p50_us": benchlib.median(gpu) if gpu else None,
        "cpu_us_per_iter": benchlib.median([r["cpu_s"] / len(r["lat_us"]) for r in requests]) * 1e6,
        "iters_per_s": iters / wall if wall > 0 else math.nan,
    }


def analyse(samples: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]], labels: Sequence[str],
            launches: Mapping[str, Optional[float]], resamples: int, seed: int) -> dict[str, Any]:
    """Every figure of a run: per model and side, per comparison, and the geomeans over the models.

    samples[model][side]: that side's requests (round, lat_us, gpu_us, cpu_s, wall_s).
    """
    clocks = {c: intervals(samples, labels, c, resamples, seed) for c in CLOCKS}
    models: dict[str, Any] = {}
    for m, sides in samples.items():
        st: dict[str, Any] = {"launches_per_iter": launches.get(m), NATIVE: side_stats(sides[NATIVE])}
        nat = st[NATIVE]
        for b in builds_of(labels):
            s = side_stats(sides[b])
            # Per-round ratios: their spread shows the noise of one round.
            rr = [benchlib.median(x) / benchlib.median(n)
                  for n, x in zip(per_round(sides[NATIVE], "lat_us"), per_round(sides[b], "lat_us"))]
            lp = launches.get(m)
            s.update({
                "slowdown": iv_dict(clocks["host"][(b, NATIVE)].per_model[m]),
                "slowdown_gpu_clock": iv_dict(clocks["gpu"][(b, NATIVE)].per_model[m]) if clocks["gpu"] else None,
                "round_ratio_p10": benchlib.percentile(rr, 10), "round_ratio_p90": benchlib.percentile(rr, 90),
                "throughput_ratio": s["iters_per_s"] / nat["iters_per_s"],
                "cpu_us_per_launch": (s["cpu_us_per_iter"] - nat["cpu_us_per_iter"]) / lp if lp else None,
            })
            st[b] = s
        for c in compared_of(labels):
            st[f"vs_{c}"] = {
                "ratio": iv_dict(clocks["host"][(MAIN, c)].per_model[m]),
                "ratio_gpu_clock": iv_dict(clocks["gpu"][(MAIN, c)].per_model[m]) if clocks["gpu"] else None,
            }
        models[m] = st

    overall: dict[str, Any] = {}
    for b in builds_of(labels):
        slow = {m: models[m][b]["slowdown"]["point"] for m in models}
        worst = max(slow, key=lambda m: slow[m] if math.isfinite(slow[m]) else -math.inf)
        per_launch = [models[m][b]["cpu_us_per_launch"] for m in models if models[m][b]["cpu_us_per_launch"] is not None]
        overall[b] = {
            "geomean": iv_dict(clocks["host"][(b, NATIVE)].geomean),
            "geomean_gpu_clock": iv_dict(clocks["gpu"][(b, NATIVE)].geomean) if clocks["gpu"] else None,
            "worst_model": worst, "worst": slow[worst],
            "throughput_ratio_geomean": benchlib.geomean(models[m][b]["throughput_ratio"] for m in models),
            "cpu_us_per_launch": benchlib.median(per_launch) if per_launch else None,
        }
    for c in compared_of(labels):
        overall[f"vs_{c}"] = {
            "geomean": iv_dict(clocks["host"][(MAIN, c)].geomean),
            "geomean_gpu_clock": iv_dict(clocks["gpu"][(MAIN, c)].geomean) if clocks["gpu"] else None,
        }
    return {"models": models, "overall": overall, "resamples": resamples, "seed": seed}


def fmt(v: Optional[float], spec: str) -> str:
    """A number, or 'n/a' for None and non-finite values."""
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def fmt_iv(iv: Optional[Mapping[str, float]], spec: str = ".4f") -> tuple[str, str]:
    """(point, 'low..high') of an interval."""
    if iv is None:
        return "n/a", "n/a"
    return fmt(iv["point"], spec), f"{fmt(iv['low'], spec)}..{fmt(iv['high'], spec)}"


def render(an: Mapping[str, Any], labels: Sequence[str], meta: Mapping[str, Any]) -> str:
    """The text of table.txt: a table per build, the geomeans, and which clock each figure uses."""
    models, overall = an["models"], an["overall"]
    headers = ["model", "launches/it", "native p50 ms", "xsched p50 ms", "slowdown host", "95% CI host",
               "slowdown GPU", "95% CI GPU", "throughput", "CPU ms/it nat", "CPU ms/it xs", "CPU us/launch"]
    rows = []
    for m, st in models.items():
        x = st[MAIN]
        rows.append([m, fmt(st["launches_per_iter"], ".0f"), fmt(st[NATIVE]["p50_us"] / 1e3, ".3f"),
                     fmt(x["p50_us"] / 1e3, ".3f"), *fmt_iv(x["slowdown"]), *fmt_iv(x["slowdown_gpu_clock"]),
                     fmt(x["throughput_ratio"], ".4f"), fmt(st[NATIVE]["cpu_us_per_iter"] / 1e3, ".3f"),
                     fmt(x["cpu_us_per_iter"] / 1e3, ".3f"), fmt(x["cpu_us_per_launch"], ".3f")])
    parts = [f"xsched interposer overhead: {meta['device']}", meta["command"],
             f"{meta['date']}; {meta['rounds']} rounds x {meta['iters']} timed iterations per model and side "
             f"({meta['request_warmup']} untimed before each), order rotated every round; stopped by "
             f"{meta['stop_reason']} after {fmt(meta.get('seconds'), '.0f')} s",
             "slowdown: median time under xsched / natively. host clock: wall time of a step + "
             "torch.cuda.synchronize() (what a program sees; the headline); GPU clock: CUDA events before and "
             "after the step on the current stream.",
             f"95% CI: bootstrap over rounds ({an['resamples']} resamples, seed {an['seed']}), sides paired "
             "within each round.", "", benchlib.format_table(headers, rows)]
    for c in compared_of(labels):
        crow = []
        for m, st in models.items():
            s, vs = st[c], st[f"vs_{c}"]
            crow.append([m, fmt(s["p50_us"] / 1e3, ".3f"), *fmt_iv(s["slowdown"]), fmt_iv(s["slowdown_gpu_clock"])[0],
                         *fmt_iv(vs["ratio"]), *fmt_iv(vs["ratio_gpu_clock"]), fmt(s["cpu_us_per_launch"], ".3f")])
        parts += ["", f"compared build {c}: {meta['builds'][c]['xsched']}",
                  benchlib.format_table(["model", f"{c} p50 ms", f"{c} slowdown host", "95% CI host",
                                         f"{c} slowdown GPU", f"xsched/{c} host", "95% CI host",
                                         f"xsched/{c} GPU", "95% CI GPU", f"{c} CPU us/launch"], crow)]
    o = overall[MAIN]
    g, gci = fmt_iv(o["geomean"])
    gg, ggci = fmt_iv(o["geomean_gpu_clock"])
    parts += ["", f"geomean slowdown (host clock)  {g}   95% CI {gci}   (target <= 1.01)",
              f"geomean slowdown (GPU clock)   {gg}   95% CI {ggci}",
              f"worst slowdown (host clock)    {fmt(o['worst'], '.4f')}   ({o['worst_model']})",
              f"geomean throughput             {fmt(o['throughput_ratio_geomean'], '.4f')}   (xsched / native)",
              f"CPU us per launch              {fmt(o['cpu_us_per_launch'], '.3f')}   (median over models; "
              "target <= 0.5)"]
    for c in compared_of(labels):
        oc, vs = overall[c], overall[f"vs_{c}"]
        parts += [f"{c}: geomean slowdown (host clock) {' 95% CI '.join(fmt_iv(oc['geomean']))}, "
                  f"(GPU clock) {' 95% CI '.join(fmt_iv(oc['geomean_gpu_clock']))}; CPU us per launch "
                  f"{fmt(oc['cpu_us_per_launch'], '.3f')}",
                  f"xsched / {c} (host clock)  {' 95% CI '.join(fmt_iv(vs['geomean']))}; (GPU clock) "
                  f"{' 95% CI '.join(fmt_iv(vs['geomean_gpu_clock']))}   (below 1: xsched is faster)"]
    return "\n".join(parts) + "\n"


def summary_fields(an: Mapping[str, Any], labels: Sequence[str], meta: Mapping[str, Any]) -> dict[str, Any]:
    """summary.json: flat; the headline names of docs/benchmarks.md, host clock unless the name says GPU."""
    o = an["overall"][MAIN]

    def put(d: dict[str, Any], name: str, iv: Optional[Mapping[str, float]]) -> None:
        """name, name_ci95_low, name_ci95_high."""
        d[name] = iv["point"] if iv else None
        d[f"{name}_ci95_low"] = iv["low"] if iv else None
        d[f"{name}_ci95_high"] = iv["high"] if iv else None

    f: dict[str, Any] = {"device": meta["device"], "command": meta["command"], "date": meta["date"]}
    put(f, "geomean_slowdown", o["geomean"])
    f.update({"worst_slowdown": o["worst"], "cpu_us_per_launch": o["cpu_us_per_launch"], "clock": "host"})
    put(f, "geomean_slowdown_gpu_clock", o["geomean_gpu_clock"])
    f.update({"worst_model": o["worst_model"], "throughput_ratio_geomean": o["throughput_ratio_geomean"],
              "models": len(an["models"]), "rounds": meta["rounds"], "iters": meta["iters"],
              "stop_reason": meta["stop_reason"], "ci_target": meta["ci_target"], "seconds": meta.get("seconds"),
              "bootstrap_resamples": an["resamples"], "seed": an["seed"], "quick": meta["quick"],
              "xsched_args": meta["xsched_args"], "xsched_env": meta["xsched_env"],
              "compared": ",".join(compared_of(labels))})
    for c in compared_of(labels):
        oc, vs = an["overall"][c], an["overall"][f"vs_{c}"]
        put(f, f"compare_{c}_geomean_slowdown", oc["geomean"])
        put(f, f"compare_{c}_geomean_slowdown_gpu_clock", oc["geomean_gpu_clock"])
        f[f"compare_{c}_cpu_us_per_launch"] = oc["cpu_us_per_launch"]
        put(f, f"vs_{c}_geomean_ratio", vs["geomean"])
        put(f, f"vs_{c}_geomean_ratio_gpu_clock", vs["geomean_gpu_clock"])
    return f


def plot(path: Path, an: Mapping[str, Any], labels: Sequence[str], device: str) -> bool:
    """overhead.png: host-clock slowdown per model and build, 95% CI whiskers, the geomean last.

    Returns False, with a note on stderr, without matplotlib.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as exc:  # ImportError, or a broken backend
        print(f"note: matplotlib unavailable ({exc}); no plot written to {path}", file=sys.stderr)
        return False
    builds = builds_of(labels)
    names = list(an["models"]) + ["geomean"]
    ivs = {b: [an["models"][m][b]["slowdown"] for m in an["models"]] + [an["overall"][b]["geomean"]] for b in builds}
    width = 0.8 / len(builds)
    fig, ax = plt.subplots(figsize=(max(7.0, 0.6 * len(names) * len(builds) + 2.0), 5.2))
    ends: list[float] = [1.0, 1.01, 1.03]
    for k, b in enumerate(builds):
        xs = [i + (k - (len(builds) - 1) / 2) * width for i in range(len(names))]
        pts = [iv["point"] if iv and math.isfinite(iv["point"]) else 1.0 for iv in ivs[b]]
        err = [[max(0.0, p - (iv["low"] if iv and math.isfinite(iv["low"]) else p)) for p, iv in zip(pts, ivs[b])],
               [max(0.0, (iv["high"] if iv and math.isfinite(iv["high"]) else p) - p) for p, iv in zip(pts, ivs[b])]]
        ax.bar(xs, [p - 1.0 for p in pts], width=width, bottom=1.0, yerr=err, capsize=2, label=b)
        ends += [p - e for p, e in zip(pts, err[0])] + [p + e for p, e in zip(pts, err[1])]
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.axhline(1.01, linestyle="--", linewidth=1, color="#55A868", label="1% (geomean target)")
    ax.axhline(1.03, linestyle="--", linewidth=1, color="#C44E52", label="3%")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=45, ha="right")
    pad = max((max(ends) - min(ends)) * 0.1, 0.002)
    ax.set_ylim(min(ends) - pad, max(ends) + pad)
    ax.set_ylabel("median time, build / native (host clock)")
    o = an["overall"][MAIN]
    g, gci = fmt_iv(o["geomean"])
    ax.set_title(f"xsched interposer overhead, {device}\nxsched's geomean {g} (95% CI {gci})\n"
                 "whiskers: 95% bootstrap CI over rounds", fontsize=10)
    ax.legend(loc="best", fontsize=8)
    return benchlib.save_figure(fig, path)


def write_outputs(out: Path, raw: Mapping[str, Any], resamples: int, seed: int, write_raw: bool = True) -> str:
    """Analyse raw (raw.json's content) and write table.txt, summary.json, overhead.png (and raw.json).

    Returns the table's text. The figures go into raw["models"][m]["stats"] too.
    """
    labels = raw["labels"]
    samples = {m: d["samples"] for m, d in raw["models"].items()}
    launches = {m: d.get("launches_per_iter") for m, d in raw["models"].items()}
    an = analyse(samples, labels, launches, resamples, seed)
    for m, d in raw["models"].items():
        d["stats"] = an["models"][m]
    cfg = raw["config"]
    meta = {"device": raw["device"], "command": raw["command"], "date": raw["date"], **cfg}
    text = render(an, labels, meta)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.txt").write_text(text)
    if write_raw:
        benchlib.write_json(out / "raw.json", dict(raw, overall=an["overall"]))
    plot(out / "overhead.png", an, labels, raw["device"])
    benchlib.write_summary(out, summary_fields(an, labels, meta))
    return text
