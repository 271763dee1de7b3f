#!/usr/bin/env python3
"""The bandwidth benchmark's figures, on synthetic runs (no GPU, no torch).

- benchlib.prometheus_sum adds every series of one metric and no other metric's.
- bandwidth.breakdown prices one switch from 50/50 at the timeslice and at a quarter of it, and
  splits each run's lost throughput into the interposer alone, switches and the rest, which add
  up to the loss; without the runs it needs it gives nothing.
- bandwidth.report writes the breakdown's names into summary.json.

    bench_bandwidth_test.py        (exit 0: all passed)
"""
from __future__ import annotations

import json
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench" / "common"))
sys.path.insert(0, str(ROOT / "bench" / "bandwidth"))
import bandwidth  # noqa: E402
import benchlib  # noqa: E402

METRICS = """# HELP xsched_queue_preemptions_total holds
# TYPE xsched_queue_preemptions_total counter
xsched_queue_preemptions_total{pid="1",queue="1"} 5
xsched_queue_preemptions_total{pid="2",queue="7"} 7
xsched_queue_preemptions_totals 100
xsched_device_decisions_total{device="GPU-1"} 42
"""


class PrometheusSum(unittest.TestCase):
    def test_sums_every_series_of_the_metric_only(self) -> None:
        self.assertEqual(benchlib.prometheus_sum(METRICS, "xsched_queue_preemptions_total"), 12)
        self.assertEqual(benchlib.prometheus_sum(METRICS, "xsched_device_decisions_total"), 42)
        self.assertEqual(benchlib.prometheus_sum(METRICS, "xsched_absent"), 0)


class Breakdown(unittest.TestCase):
    TOTALS = {"alone_xsched": 0.99, "xsched_50_50": 0.95, "xsched_50_50_short": 0.89, "xsched_75_25": 0.96}
    SWITCHES = {"xsched_50_50": 100.0, "xsched_50_50_short": 400.0, "xsched_75_25": 50.0}

    def test_prices_a_switch_from_the_two_timeslices(self) -> None:
        b = bandwidth.breakdown(self.TOTALS, self.SWITCHES)
        assert b is not None
        self.assertAlmostEqual(b["per_switch_us"], 0.06 / 300 * 1e6)  # 200 us

    def test_the_parts_add_up_to_the_loss(self) -> None:
        b = bandwidth.breakdown(self.TOTALS, self.SWITCHES)
        assert b is not None
        for key, part in b["runs"].items():
            self.assertAlmostEqual(part["interposer"] + part["switches"] + part["other"], part["lost"], msg=key)
            self.assertAlmostEqual(part["interposer"], 0.01, msg=key)
        self.assertAlmostEqual(b["runs"]["xsched_50_50"]["switches"], 0.02)
        self.assertAlmostEqual(b["runs"]["xsched_75_25"]["switches"], 0.01)

    def test_nothing_without_the_runs_it_needs(self) -> None:
        for missing in ("alone_xsched", "xsched_50_50", "xsched_50_50_short"):
            totals = {k: v for k, v in self.TOTALS.items() if k != missing}
            self.assertIsNone(bandwidth.breakdown(totals, self.SWITCHES), missing)


class Report(unittest.TestCase):
    def test_summary_has_the_breakdown(self) -> None:
        def run(key: str, rates: list[float], switches: float | None = None) -> dict:
            result: dict = {"rates": rates}
            if switches is not None:
                result["switches_per_s"] = switches
            return {"key": key, "round": 0, "ok": True, "result": result}

        raw = {"device": "test", "command": "test", "date": "now", "runs": [
            run("alone", [100.0]), run("native", [48.0, 48.0]), run("alone_xsched", [99.0], 0.0),
            run("xsched_75_25", [72.0, 24.0], 50.0), run("xsched_50_50", [47.5, 47.5], 100.0),
            run("xsched_50_50_short", [44.5, 44.5], 400.0)]}
        with tempfile.TemporaryDirectory() as tmp:
            bandwidth.report(raw, Path(tmp))
            summary = json.loads((Path(tmp) / "summary.json").read_text())
        self.assertAlmostEqual(summary["switch_cost_us"], 200.0, places=0)
        self.assertAlmostEqual(summary["total_throughput_ratio_50_50"], 0.95)
        self.assertAlmostEqual(summary["lost_switches_50_50"], 0.02, places=3)
        self.assertAlmostEqual(summary["lost_interposer_75_25"], 0.01, places=3)
        self.assertIn("switches_per_s_75_25", summary)


if __name__ == "__main__":
    unittest.main()
