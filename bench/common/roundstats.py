"""Statistics of side-by-side runs measured in rounds: ratio of medians, its bootstrap CI, when to stop.

A benchmark measures several sides (native, xsched, another build) of several models. In each round
every side of a model runs back to back, so a round is the unit that shares the machine's state of
the moment (clocks, other tenants, caches). The figures:

- ratio of medians: the median of one side's samples pooled over the rounds, over the median of
  another side's (ratio_of_medians, Pooled.median);
- its 95% confidence interval, per model and for the geometric mean over the models, by a bootstrap
  over rounds (bootstrap): each resample draws the rounds with replacement and keeps each round's
  samples of every side together, so the pairing of the sides within a round survives;
- when to stop measuring (should_stop): a fixed number of rounds, or once every interval of
  interest is within a relative half-width, or when the time is up.

Pure Python and deterministic for a given seed: the same samples give the same intervals.

    ivs = bootstrap({"resnet50": {"native": [[...], ...], "xsched": [[...], ...]}},
                    pairs=[("xsched", "native")], resamples=2000, seed=1)
    ivs[("xsched", "native")].geomean   # Interval(point, low, high)
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

#: Fraction of the resamples left outside each end of the interval (a 95% interval).
TAIL = 0.025


def _percentile(xs: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of xs, linear interpolation (as benchlib.percentile)."""
    s = sorted(xs)
    if not s:
        return math.nan
    pos = (len(s) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return float(s[lo] + (s[hi] - s[lo]) * (pos - lo))


class Pooled:
    """One side's samples of one model, per round, sorted once for medians of any resample.

    A resample is a count per round (how many times the round was drawn); its median is the median
    of the multiset that repeats each round's samples that many times, found by one walk over the
    sorted values instead of a sort per resample.
    """

    def __init__(self, per_round: Sequence[Sequence[float]]) -> None:
        pairs = sorted((float(v), r) for r, vals in enumerate(per_round) for v in vals)
        self.values = [v for v, _ in pairs]
        self.rounds = [r for _, r in pairs]
        self.sizes = [len(vals) for vals in per_round]

    def median(self, counts: Optional[Sequence[int]] = None) -> float:
        """The median of the pooled samples, each round weighted by counts[round] (None: once each).

        Equal to benchlib.median of the repeated samples: the mean of the two middle values when
        their number is even. NaN when nothing is left.
        """
        if counts is None:
            n = len(self.values)
            if n == 0:
                return math.nan
            return (self.values[(n - 1) // 2] + self.values[n // 2]) / 2.0
        n = sum(c * s for c, s in zip(counts, self.sizes))
        if n == 0:
            return math.nan
        lo_pos, hi_pos = (n - 1) // 2, n // 2
        acc = 0
        lo_val = math.nan
        rounds = self.rounds
        for i in range(len(rounds)):
            acc += counts[rounds[i]]
            if acc > lo_pos:
                if lo_val != lo_val:  # NaN: the lower middle value is this one
                    lo_val = self.values[i]
                if acc > hi_pos:
                    return (lo_val + self.values[i]) / 2.0
        return math.nan  # not reached: acc ends at n > hi_pos


def ratio_of_medians(num: Sequence[Sequence[float]], den: Sequence[Sequence[float]]) -> float:
    """Median of num's samples pooled over rounds over the median of den's; NaN when undefined."""
    a, b = Pooled(num).median(), Pooled(den).median()
    return a / b if b > 0 and math.isfinite(a) else math.nan


@dataclass(frozen=True)
class Interval:
    """A figure and its confidence interval."""

    point: float
    low: float
    high: float

    def half_width(self) -> float:
        """The larger distance from the point to an end, relative to the point (0.005: ±0.5%)."""
        if not (self.point > 0 and math.isfinite(self.low) and math.isfinite(self.high)):
            return math.inf
        return max(self.high / self.point - 1.0, 1.0 - self.low / self.point)

    def covers(self, value: float) -> bool:
        """Whether value lies inside the interval."""
        return self.low <= value <= self.high


@dataclass
class PairResult:
    """One comparison (numerator side over denominator side): per model and geomean over the models."""

    per_model: dict[str, Interval] = field(default_factory=dict)
    geomean: Interval = Interval(math.nan, math.nan, math.nan)


def _geomean(xs: Sequence[float]) -> float:
    """Geometric mean of the positive finite values; NaN when there are none."""
    good = [x for x in xs if x > 0 and math.isfinite(x)]
    return math.exp(sum(math.log(x) for x in good) / len(good)) if good else math.nan


def round_count(models: Mapping[str, Mapping[str, Sequence[Sequence[float]]]]) -> int:
    """The number of rounds, which every side of every model must have; ValueError otherwise."""
    lengths = {len(rounds) for sides in models.values() for rounds in sides.values()}
    if len(lengths) != 1:
        raise ValueError(f"every side of every model needs the same number of rounds, got {sorted(lengths)}")
    return lengths.pop()


def bootstrap(models: Mapping[str, Mapping[str, Sequence[Sequence[float]]]], pairs: Sequence[tuple[str, str]],
              resamples: int = 2000, seed: int = 1) -> dict[tuple[str, str], PairResult]:
    """Ratios of medians with 95% percentile-bootstrap intervals, per model and for their geomean.

    models[model][side] holds one list of samples per round (round r of every side and model was
    measured in the same round). pairs names the comparisons: (numerator side, denominator side).

    Each resample draws the round indices with replacement once and applies them to every model:
    a round's disturbance (a clock change, another tenant) reaches all the models measured in it,
    so resampling rounds as a whole keeps that correlation in the geomean's interval instead of
    averaging it away. Within a round, the sides stay paired.
    """
    n_rounds = round_count(models)
    sides = sorted({s for pair in pairs for s in pair})
    pooled = {m: {s: Pooled(models[m][s]) for s in sides} for m in models}
    results: dict[tuple[str, str], PairResult] = {}
    for num, den in pairs:
        res = PairResult()
        for m in models:
            d = pooled[m][den].median()
            res.per_model[m] = Interval(pooled[m][num].median() / d if d > 0 else math.nan, math.nan, math.nan)
        res.geomean = Interval(_geomean([iv.point for iv in res.per_model.values()]), math.nan, math.nan)
        results[(num, den)] = res
    if n_rounds < 1 or resamples < 1:
        return results

    rng = random.Random(seed)
    per_model_reps: dict[tuple[str, str], dict[str, list[float]]] = {p: {m: [] for m in models} for p in pairs}
    geo_reps: dict[tuple[str, str], list[float]] = {p: [] for p in pairs}
    population = range(n_rounds)
    for _ in range(resamples):
        counts = [0] * n_rounds
        for i in rng.choices(population, k=n_rounds):
            counts[i] += 1
        log_sum = {p: 0.0 for p in pairs}
        log_n = {p: 0 for p in pairs}
        for m in models:
            med = {s: pooled[m][s].median(counts) for s in sides}
            for p in pairs:
                r = med[p[0]] / med[p[1]] if med[p[1]] > 0 else math.nan
                per_model_reps[p][m].append(r)
                if r > 0 and math.isfinite(r):
                    log_sum[p] += math.log(r)
                    log_n[p] += 1
        for p in pairs:
            geo_reps[p].append(math.exp(log_sum[p] / log_n[p]) if log_n[p] else math.nan)

    def interval(point: float, reps: list[float]) -> Interval:
        """The point with the resamples' 2.5th and 97.5th percentiles."""
        good = [r for r in reps if math.isfinite(r)]
        return Interval(point, _percentile(good, 100 * TAIL), _percentile(good, 100 * (1 - TAIL)))

    for p, res in results.items():
        for m in models:
            res.per_model[m] = interval(res.per_model[m].point, per_model_reps[p][m])
        res.geomean = interval(res.geomean.point, geo_reps[p])
    return results


def should_stop(rounds_done: int, *, fixed_rounds: Optional[int], min_rounds: int, elapsed_s: float,
                round_s: float, max_seconds: float, half_widths: Optional[Sequence[float]],
                ci_target: float) -> Optional[str]:
    """Why to stop after rounds_done rounds, or None to run another.

    fixed_rounds: stop at exactly that many ("rounds"). Otherwise never before min_rounds (a
    bootstrap over a handful of rounds understates the spread); then "ci" once every interval's
    relative half-width (Interval.half_width) is at most ci_target, or "time" when another round
    of round_s seconds would end past max_seconds (elapsed_s counts from the run's start).
    half_widths None: not computed after this round (only the time can stop it).
    """
    if fixed_rounds:
        return "rounds" if rounds_done >= fixed_rounds else None
    if rounds_done < min_rounds:
        return None
    if half_widths and all(w <= ci_target for w in half_widths):
        return "ci"
    if elapsed_s + round_s > max_seconds:
        return "time"
    return None
