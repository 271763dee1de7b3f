#!/usr/bin/env python3
"""The overhead benchmark's statistics and parent, on synthetic samples (no GPU, no torch).

- roundstats: the weighted median equals the plain median of the repeated samples; the bootstrap
  interval of the geomean covers a known slowdown (in most of 40 synthetic runs), excludes a wrong
  one, narrows with more rounds, and keeps the sides paired within a round; the stopping rule.
- overhead.run_rounds with fake workers and a fake clock: the order rotates, the run stops on the
  interval, on the time, or after a fixed count; report.write_outputs and --from-raw give the
  summary's names, and the same figures twice.
- builds: where the interposer of a build is expected, the check of what a worker maps, and the
  workers' environments.

    bench_overhead_test.py        (exit 0: all passed)
"""
from __future__ import annotations

import json
import math
import os
import random
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench" / "common"))
sys.path.insert(0, str(ROOT / "bench" / "overhead"))
import benchlib  # noqa: E402
import builds  # noqa: E402
import overhead  # noqa: E402
import report  # noqa: E402
import roundstats  # noqa: E402


def synthetic(rng: random.Random, n_rounds: int, slowdowns: dict[str, float], models: int = 3, iters: int = 5,
              noise: float = 0.02, drift: float = 0.05) -> dict[str, dict[str, list[list[float]]]]:
    """models[m][side]: per round, iters samples of base x slowdown x the round's drift x noise.

    The drift is shared by every side and model of a round (a machine's state of the moment); the
    noise is each sample's own.
    """
    data: dict[str, dict[str, list[list[float]]]] = {f"m{i}": {s: [] for s in slowdowns} for i in range(models)}
    base = {m: 1000.0 * (i + 1) for i, m in enumerate(data)}
    for _ in range(n_rounds):
        d = rng.lognormvariate(0.0, drift)
        for m in data:
            for side, s in slowdowns.items():
                data[m][side].append([base[m] * s * d * rng.lognormvariate(0.0, noise) for _ in range(iters)])
    return data


class RoundStatsTest(unittest.TestCase):
    def test_weighted_median_is_the_median_of_the_repeated_samples(self) -> None:
        rng = random.Random(3)
        for n_rounds in (1, 2, 7, 20):
            per_round = [[rng.random() for _ in range(rng.randint(1, 6))] for _ in range(n_rounds)]
            pooled = roundstats.Pooled(per_round)
            self.assertEqual(pooled.median(), benchlib.median([v for r in per_round for v in r]))
            for _ in range(50):
                counts = [rng.randint(0, 3) for _ in range(n_rounds)]
                values = [v for r, c in zip(per_round, counts) for v in r * c]
                want = benchlib.median(values) if values else math.nan
                got = pooled.median(counts)
                self.assertTrue(got == want or (math.isnan(got) and math.isnan(want)), (counts, got, want))

    def test_interval_covers_a_known_slowdown(self) -> None:
        true = 1.03
        covered = 0
        for seed in range(40):
            data = synthetic(random.Random(seed), 12, {"native": 1.0, "xsched": true})
            iv = roundstats.bootstrap(data, [("xsched", "native")], resamples=300, seed=seed)[("xsched", "native")]
            covered += iv.geomean.covers(true)
            for m_iv in iv.per_model.values():
                self.assertLess(m_iv.low, m_iv.high)
                self.assertTrue(m_iv.low <= m_iv.point <= m_iv.high)
        # A 95% interval; a percentile bootstrap over 12 rounds runs a little narrow.
        self.assertGreaterEqual(covered, 32, f"covered the true slowdown in {covered} of 40 runs")

    def test_interval_excludes_a_wrong_slowdown(self) -> None:
        data = synthetic(random.Random(7), 30, {"native": 1.0, "xsched": 1.03})
        iv = roundstats.bootstrap(data, [("xsched", "native")], resamples=400, seed=1)[("xsched", "native")].geomean
        self.assertFalse(iv.covers(1.0), iv)
        self.assertFalse(iv.covers(1.06), iv)
        self.assertAlmostEqual(iv.point, 1.03, delta=0.01)

    def test_interval_narrows_with_more_rounds(self) -> None:
        rng = random.Random(11)
        full = synthetic(rng, 160, {"native": 1.0, "xsched": 1.02}, noise=0.05)
        widths = {}
        for n in (10, 160):
            data = {m: {s: rounds[:n] for s, rounds in sides.items()} for m, sides in full.items()}
            widths[n] = roundstats.bootstrap(data, [("xsched", "native")], resamples=300,
                                             seed=2)[("xsched", "native")].geomean.half_width()
        # 16 times the rounds: about 4 times narrower; half as wide at the least.
        self.assertLess(widths[160], 0.5 * widths[10], widths)

    def test_sides_stay_paired_within_a_round(self) -> None:
        # Rounds drift by 20% while a round's sides differ by their slowdown and 0.5% of noise:
        # resampling the sides' rounds independently would give an interval of several percent.
        data = synthetic(random.Random(5), 30, {"native": 1.0, "xsched": 1.01, "other": 1.0}, noise=0.005, drift=0.2)
        ivs = roundstats.bootstrap(data, [("xsched", "native"), ("xsched", "other")], resamples=400, seed=1)
        for pair, res in ivs.items():
            self.assertLess(res.geomean.half_width(), 0.01, (pair, res.geomean))
            self.assertTrue(res.geomean.covers(1.01), (pair, res.geomean))

    def test_same_seed_same_interval(self) -> None:
        data = synthetic(random.Random(9), 15, {"native": 1.0, "xsched": 1.01})
        a = roundstats.bootstrap(data, [("xsched", "native")], resamples=200, seed=4)
        b = roundstats.bootstrap(data, [("xsched", "native")], resamples=200, seed=4)
        self.assertEqual(a[("xsched", "native")].geomean, b[("xsched", "native")].geomean)

    def test_unequal_rounds_are_refused(self) -> None:
        with self.assertRaises(ValueError):
            roundstats.bootstrap({"m": {"native": [[1.0]], "xsched": [[1.0], [1.0]]}}, [("xsched", "native")])

    def test_should_stop(self) -> None:
        stop = roundstats.should_stop
        kw = dict(min_rounds=5, elapsed_s=10.0, round_s=1.0, max_seconds=100.0, ci_target=0.005)
        self.assertIsNone(stop(2, fixed_rounds=3, half_widths=[0.0], **kw))
        self.assertEqual(stop(3, fixed_rounds=3, half_widths=None, **kw), "rounds")
        self.assertIsNone(stop(4, fixed_rounds=None, half_widths=[0.001], **kw))  # below min_rounds
        self.assertEqual(stop(5, fixed_rounds=None, half_widths=[0.001, 0.004], **kw), "ci")
        self.assertIsNone(stop(5, fixed_rounds=None, half_widths=[0.001, 0.006], **kw))
        self.assertIsNone(stop(5, fixed_rounds=None, half_widths=None, **kw))
        kw["elapsed_s"] = 99.5
        self.assertEqual(stop(5, fixed_rounds=None, half_widths=[0.006], **kw), "time")


class FakeClock:
    """Time that moves only when a fake worker runs."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class FakeWorld:
    """The workers' shared state: the clock, the round's drift, the known slowdowns."""

    def __init__(self, slowdowns: dict[str, float], gpu_slowdowns: dict[str, float], models: list[str],
                 noise: float, seed: int = 1) -> None:
        self.clock = FakeClock()
        self.rng = random.Random(seed)
        self.slowdowns, self.gpu_slowdowns, self.models, self.noise = slowdowns, gpu_slowdowns, models, noise
        self.requests = 0
        self.drift = 1.0
        self.log: list[str] = []

    def run(self, label: str, req: dict) -> dict:
        """One request's answer: iters samples, and the clock moves by their time."""
        if self.requests % (len(self.models) * len(self.slowdowns)) == 0:
            self.drift = self.rng.lognormvariate(0.0, 0.05)
        self.requests += 1
        self.log.append(label)
        base = 1000.0 * (1 + self.models.index(req["model"]))
        lat = [base * self.slowdowns[label] * self.drift * self.rng.lognormvariate(0.0, self.noise)
               for _ in range(req["iters"])]
        gpu = [0.8 * v * self.gpu_slowdowns[label] / self.slowdowns[label] for v in lat]
        self.clock.t += sum(lat) / 1e6 * (1 + req["warmup"] / req["iters"])
        return {"lat_us": lat, "gpu_us": gpu, "cpu_s": 1e-4 * req["iters"] * self.slowdowns[label],
                "wall_s": sum(lat) / 1e6}


class FakeWorker:
    def __init__(self, world: FakeWorld, label: str) -> None:
        self.world, self.label = world, label

    def request(self, req: dict, timeout: float = 0.0) -> dict:
        assert req["cmd"] == "run"
        return self.world.run(self.label, req)


class RunRoundsTest(unittest.TestCase):
    MODELS = ["m0", "m1", "m2"]

    def rounds(self, world: FakeWorld, cfg: overhead.RoundConfig) -> tuple[str, dict, list]:
        labels = list(world.slowdowns)
        workers = {label: FakeWorker(world, label) for label in labels}
        samples = {m: {label: [] for label in labels} for m in self.MODELS}
        rounds: list = []
        reason = overhead.run_rounds(workers, self.MODELS, cfg, samples, rounds, t_start=0.0, clock=world.clock,
                                     log=lambda _line: None)
        return reason, samples, rounds

    def setUp(self) -> None:
        self._resamples = overhead.STOP_RESAMPLES
        overhead.STOP_RESAMPLES = 200  # the test's time, not its outcome

    def tearDown(self) -> None:
        overhead.STOP_RESAMPLES = self._resamples

    def test_stops_once_the_interval_is_narrow(self) -> None:
        world = FakeWorld({"native": 1.0, "xsched": 1.02}, {"native": 1.0, "xsched": 1.0}, self.MODELS, noise=0.01)
        # A round takes about 0.1 s of the fake clock: the time would stop it after some 200 rounds.
        reason, samples, rounds = self.rounds(world, overhead.RoundConfig(min_rounds=5, max_seconds=20.0,
                                                                          ci_target=0.005))
        self.assertEqual(reason, "ci")
        self.assertGreaterEqual(len(rounds), 5)
        self.assertLess(len(rounds), 200)
        self.assertTrue(all(len(reqs) == len(rounds) for sides in samples.values() for reqs in sides.values()))

    def test_stops_when_the_time_is_up(self) -> None:
        world = FakeWorld({"native": 1.0, "xsched": 1.02}, {"native": 1.0, "xsched": 1.0}, self.MODELS, noise=0.5)
        reason, _, rounds = self.rounds(world, overhead.RoundConfig(min_rounds=3, max_seconds=2.0, ci_target=0.001))
        self.assertEqual(reason, "time")
        self.assertGreaterEqual(len(rounds), 3)
        self.assertLessEqual(rounds[-1]["end_s"], 2.0 + (rounds[-1]["end_s"] - rounds[-1]["start_s"]))

    def test_fixed_rounds_and_rotation(self) -> None:
        sides = {"native": 1.0, "xsched": 1.01, "old": 1.02}
        world = FakeWorld(sides, dict(sides), self.MODELS, noise=0.01)
        reason, samples, rounds = self.rounds(world, overhead.RoundConfig(fixed_rounds=6, min_rounds=1))
        self.assertEqual((reason, len(rounds)), ("rounds", 6))
        self.assertEqual([r["order"][0] for r in rounds], ["native", "xsched", "old"] * 2)
        for label in sides:  # each side took each place equally often
            places = [req["position"] for m in self.MODELS for req in samples[m][label]]
            self.assertEqual(sorted(places.count(p) for p in range(3)), [6, 6, 6])
        # Within a round a model's sides run back to back, in that round's order.
        per_round = len(self.MODELS) * len(sides)
        self.assertEqual(world.log[:3], ["native", "xsched", "old"])
        self.assertEqual(world.log[per_round:per_round + 3], ["xsched", "old", "native"])

    def test_interrupted_keeps_complete_rounds(self) -> None:
        sides = {"native": 1.0, "xsched": 1.01}
        world = FakeWorld(sides, dict(sides), self.MODELS, noise=0.01)
        run = world.run

        def stop_in_round_4(label: str, req: dict) -> dict:
            if world.requests == 3 * len(self.MODELS) * len(sides) + 2:
                raise KeyboardInterrupt
            return run(label, req)

        world.run = stop_in_round_4
        reason, samples, rounds = self.rounds(world, overhead.RoundConfig(fixed_rounds=10))
        self.assertEqual((reason, len(rounds)), ("interrupted", 3))
        self.assertTrue(all(len(reqs) == 3 for s in samples.values() for reqs in s.values()))

    def test_outputs_and_from_raw(self) -> None:
        sides = {"native": 1.0, "xsched": 1.02, "old": 1.04}
        world = FakeWorld(sides, {"native": 1.0, "xsched": 1.005, "old": 1.01}, self.MODELS, noise=0.01)
        reason, samples, rounds = self.rounds(world, overhead.RoundConfig(fixed_rounds=25))
        raw = {"device": "fake", "command": "test", "date": "today", "labels": list(sides),
               "config": {"rounds": len(rounds), "iters": 5, "request_warmup": 2, "quick": False, "ci_target": 0.005,
                          "stop_reason": reason, "seconds": world.clock.t, "xsched_args": "", "xsched_env": "",
                          "builds": {"xsched": {"xsched": "/a/xsched"}, "old": {"xsched": "/b/xsched"}}},
               "rounds": rounds,
               "models": {m: {"launches_per_iter": 100.0, "samples": samples[m]} for m in self.MODELS}}
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run"
            text = report.write_outputs(out, json.loads(json.dumps(raw)), resamples=300, seed=1)
            summary = json.loads((out / "summary.json").read_text())
            for key in ("geomean_slowdown", "worst_slowdown", "cpu_us_per_launch", "geomean_slowdown_ci95_low",
                        "geomean_slowdown_ci95_high", "geomean_slowdown_gpu_clock", "compare_old_geomean_slowdown",
                        "vs_old_geomean_ratio", "vs_old_geomean_ratio_ci95_low", "vs_old_geomean_ratio_ci95_high",
                        "vs_old_geomean_ratio_gpu_clock"):
                self.assertIsInstance(summary.get(key), float, key)
            self.assertLessEqual(summary["geomean_slowdown_ci95_low"], 1.02)
            self.assertGreaterEqual(summary["geomean_slowdown_ci95_high"], 1.02)
            self.assertAlmostEqual(summary["geomean_slowdown_gpu_clock"], 1.005, delta=0.004)
            self.assertLessEqual(summary["vs_old_geomean_ratio_ci95_low"], 1.02 / 1.04)
            self.assertGreaterEqual(summary["vs_old_geomean_ratio_ci95_high"], 1.02 / 1.04)
            # 1e-4 s of CPU per iteration x 2% over 100 launches: 0.02 us per launch.
            self.assertAlmostEqual(summary["cpu_us_per_launch"], 0.02, places=6)
            self.assertIn("host clock", text)
            self.assertIn("GPU clock", text)
            saved = json.loads((out / "raw.json").read_text())
            first = saved["models"]["m0"]["samples"]["xsched"][0]
            self.assertEqual((len(first["lat_us"]), len(first["gpu_us"])), (5, 5))
            # The same samples, analysed again from raw.json, give the same figures.
            again = Path(tmp) / "again"
            self.assertEqual(overhead.main(["--from-raw", str(out / "raw.json"), "--out", str(again),
                                            "--bootstrap", "300"]), 0)
            summary2 = json.loads((again / "summary.json").read_text())
            for key in ("geomean_slowdown", "geomean_slowdown_ci95_low", "vs_old_geomean_ratio_ci95_high"):
                self.assertEqual(summary[key], summary2[key], key)


class FakeJsonWorker:
    """Stands in for benchlib.JsonWorker: answers as a worker of the suite would, from a FakeWorld.

    An xsched worker reports the interposer its `xsched run` would preload (builds.expected_interposer),
    or, for the label in MAPS_OTHER, the main build's: a worker that measures the wrong build.
    """

    world: FakeWorld
    MAPS_OTHER: str = ""
    started: dict = {}

    def __init__(self, name: str, argv: list, env: dict = None, log: Path = None) -> None:
        self.name, self.argv, self.env = name, list(argv), dict(env or {})
        FakeJsonWorker.started[name] = self

    def request(self, req: dict, timeout: float = 0.0) -> dict:
        if req["cmd"] == "info":
            libs = []
            if self.name != "native":
                xs = Path(FakeJsonWorker.started["xsched"].argv[0] if self.name == self.MAPS_OTHER else self.argv[0])
                libs = [builds.expected_interposer(xs, self.env)]
            return {"device": "Fake GPU", "cuda": "13.0", "torch": "0", "pid": 1, "interposed": bool(libs),
                    "xsched_libs": libs, "cuda_libs": [], "ld_preload": "", "ld_library_path": ""}
        if req["cmd"] == "prepare":
            return {"build_s": 0.0, "prepare_s": 0.0}
        if req["cmd"] == "count":
            return {"launches": 100.0}
        return self.world.run(self.name, req)

    def close(self) -> None:
        pass


class MainTest(unittest.TestCase):
    """overhead.main with fake workers: two builds side by side, from the options to the outputs."""

    def run_main(self, tmp: Path, maps_other: str = "") -> tuple[int, Path]:
        for name in ("a", "b"):
            (tmp / name).mkdir()
            (tmp / name / "xsched").write_text("#!/bin/sh\n")
            (tmp / name / "xsched").chmod(0o755)
            (tmp / name / "libxsched_cuda.so").write_text("")
        sides = {"native": 1.0, "xsched": 1.01, "old": 1.03}
        FakeJsonWorker.world = FakeWorld(sides, sides, ["resnet18", "alexnet"], noise=0.01)
        FakeJsonWorker.MAPS_OTHER = maps_other
        FakeJsonWorker.started = {}
        real, benchlib.JsonWorker = benchlib.JsonWorker, FakeJsonWorker
        try:
            out = tmp / "out"
            rc = overhead.main(["--xsched", str(tmp / "a" / "xsched"), "--compare", f"old={tmp / 'b'}",
                                "--models", "resnet18,alexnet", "--rounds", "4", "--bootstrap", "200", "--out", str(out)])
        finally:
            benchlib.JsonWorker = real
        return rc, out

    def test_two_builds(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            rc, out = self.run_main(Path(tmp))
            self.assertEqual(rc, 0)
            env = FakeJsonWorker.started["old"].env
            self.assertTrue(env["LD_LIBRARY_PATH"].startswith(str((Path(tmp) / "b").resolve())), env["LD_LIBRARY_PATH"])
            self.assertEqual(FakeJsonWorker.started["old"].argv[:2], [str((Path(tmp) / "b" / "xsched").resolve()), "run"])
            raw = json.loads((out / "raw.json").read_text())
            self.assertEqual(raw["labels"], ["native", "xsched", "old"])
            self.assertEqual(len(raw["rounds"]), 4)
            self.assertEqual(raw["config"]["builds"]["old"]["interposer"],
                             os.path.realpath(Path(tmp) / "b" / "libxsched_cuda.so"))
            self.assertEqual(len(raw["models"]["alexnet"]["samples"]["old"]), 4)
            summary = json.loads((out / "summary.json").read_text())
            self.assertEqual((summary["rounds"], summary["stop_reason"], summary["compared"]), (4, "rounds", "old"))
            self.assertIsInstance(summary["vs_old_geomean_ratio"], float)

    def test_a_worker_with_another_builds_interposer_is_refused(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            rc, out = self.run_main(Path(tmp), maps_other="old")
            self.assertEqual(rc, 1)
            self.assertFalse((out / "summary.json").exists())


    def test_from_raw_reads_the_earlier_layout(self) -> None:
        # Before the intervals: models.<m>.native/.xsched, host clock only, xsched_args a list.
        rng = random.Random(2)
        reqs = {s: [{"round": r, "lat_us": [1000.0 * k * rng.uniform(0.99, 1.01) for _ in range(4)], "cpu_s": 0.01,
                     "wall_s": 0.004} for r in range(6)] for s, k in (("native", 1.0), ("xsched", 1.02))}
        raw = {"device": "Fake GPU", "command": "old", "date": "then",
               "config": {"rounds": 6, "iters": 4, "warmup": 10, "warmup_per_request": 2, "quick": False,
                          "xsched": "/a/xsched", "xsched_args": ["--level", "2"], "xsched_env": []},
               "models": {"m0": {"launches_per_iter": 50.0, **reqs}}}
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "raw.json").write_text(json.dumps(raw))
            self.assertEqual(overhead.main(["--from-raw", str(Path(tmp) / "raw.json"), "--bootstrap", "100"]), 0)
            summary = json.loads((Path(tmp) / "summary.json").read_text())
            self.assertAlmostEqual(summary["geomean_slowdown"], 1.02, delta=0.01)
            self.assertIsNone(summary["geomean_slowdown_gpu_clock"])
            self.assertEqual(summary["xsched_args"], "--level 2")
            self.assertEqual(json.loads((Path(tmp) / "raw.json").read_text()), raw)  # left as it was


class BuildsTest(unittest.TestCase):
    def test_expected_interposer(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            t = Path(tmp)
            tree = t / "build"
            (tree / "src" / "interpose" / "cuda").mkdir(parents=True)
            (tree / "xsched").write_text("")
            (tree / "src" / "interpose" / "cuda" / "libxsched_cuda.so").write_text("")
            flat = t / "flat"
            flat.mkdir()
            (flat / "xsched").write_text("")
            (flat / "libxsched_cuda.so").write_text("")
            inst = t / "prefix"
            (inst / "bin").mkdir(parents=True)
            (inst / "lib" / "xsched").mkdir(parents=True)
            (inst / "bin" / "xsched").write_text("")
            (inst / "lib" / "xsched" / "libxsched_cuda.so").write_text("")
            real = os.path.realpath
            self.assertEqual(builds.expected_interposer(tree / "xsched", {}),
                             real(tree / "src" / "interpose" / "cuda" / "libxsched_cuda.so"))
            self.assertEqual(builds.expected_interposer(flat / "xsched", {}), real(flat / "libxsched_cuda.so"))
            self.assertEqual(builds.expected_interposer(inst / "bin" / "xsched", {}),
                             real(inst / "lib" / "xsched" / "libxsched_cuda.so"))
            self.assertIsNone(builds.expected_interposer(flat / "xsched", {}, "hip"))
            self.assertEqual(builds.expected_interposer(tree / "xsched", {"XSCHED_INTERPOSER": str(flat / "libxsched_cuda.so")}),
                             real(flat / "libxsched_cuda.so"))
            link = t / "link-to-flat"  # a link to the binary: its real folder counts, as for run.cpp
            link.symlink_to(flat / "xsched")
            self.assertEqual(builds.expected_interposer(link, {}), real(flat / "libxsched_cuda.so"))

            bs = builds.parse_builds(tree / "xsched", [f"old={flat}"], [])
            self.assertEqual(bs["old"].xsched, (flat / "xsched").resolve())
            self.assertEqual(bs["old"].ld_path, str(flat.resolve()))
            for b in bs.values():
                b.interposer = builds.expected_interposer(b.xsched, {})
            own = {"xsched_libs": [bs["xsched"].interposer]}
            theirs = {"xsched_libs": [bs["old"].interposer]}
            self.assertIsNone(builds.check_mapping("xsched", own, bs["xsched"]))
            self.assertIsNone(builds.check_mapping("old", theirs, bs["old"]))
            self.assertIn("not its build's interposer", builds.check_mapping("old", own, bs["old"]))
            both = {"xsched_libs": [bs["old"].interposer, bs["xsched"].interposer]}
            self.assertIn("another build", builds.check_mapping("old", both, bs["old"]))
            self.assertIn("native", builds.check_mapping("native", own, None))
            self.assertIsNone(builds.check_mapping("native", {"xsched_libs": []}, None))
            self.assertIsNone(builds.check_mapping("old", {"xsched_libs": []}, bs["old"]))  # caller decides

    def test_parse_builds_refuses(self) -> None:
        for bad in (["xsched=/x"], ["native=/x"], ["a-b=/x"], ["a=/x", "a=/y"], ["noequals"], ["a="]):
            with self.assertRaises(ValueError, msg=bad):
                builds.parse_builds(Path("/x/xsched"), bad, [])
        with self.assertRaises(ValueError):
            builds.parse_builds(Path("/x/xsched"), [], ["nobuild=/d"])

    def test_environment(self) -> None:
        b = builds.Build("old", Path("/b/xsched"), "/b")
        base = {"LD_PRELOAD": "/x/libxsched_cuda.so:/y/libother.so", "XSCHED_INTERPOSER": "/x/libxsched_cuda.so",
                "LD_LIBRARY_PATH": "/usr/lib", "PATH": "/bin"}
        env = builds.build_environment(base, ["XSCHED_LEVEL=2"], b)
        self.assertEqual(env["LD_PRELOAD"], "/y/libother.so")
        self.assertNotIn("XSCHED_INTERPOSER", env)
        self.assertEqual(env["LD_LIBRARY_PATH"], "/b:/usr/lib")
        self.assertEqual(env["XSCHED_LEVEL"], "2")
        self.assertEqual(builds.build_environment({}, [], builds.Build("n", Path("/b/xsched"), ""))
                         .get("LD_LIBRARY_PATH"), None)
        with self.assertRaises(ValueError):
            builds.build_environment({}, ["NOVALUE"], b)
        self.assertEqual(builds.run_platform(["--level", "2", "--platform=hip"]), "hip")
        self.assertEqual(builds.run_platform(["--platform", "hip"]), "hip")
        self.assertEqual(builds.run_platform([]), "cuda")


if __name__ == "__main__":
    unittest.main(verbosity=2)
