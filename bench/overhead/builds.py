"""The xsched builds of the overhead benchmark: their binaries, environments and interposers.

Each build's worker must measure that build: its `xsched run` finds the interposer beside its own
binary (src/cli/run.cpp, find_interposer), unless XSCHED_INTERPOSER or an LD_PRELOAD inherited from
this process says otherwise, so those are removed; after the workers start, check_mapping() compares
the xsched libraries each one has mapped with the interposer its build should have preloaded.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

NATIVE = "native"
MAIN = "xsched"


@dataclass
class Build:
    """One xsched build: its binary, the folder put first on LD_LIBRARY_PATH, the interposer it preloads."""

    label: str
    xsched: Path
    ld_path: str
    interposer: Optional[str] = None


def parse_builds(main_xsched: Path, compare: Sequence[str], ld_paths: Sequence[str]) -> dict[str, Build]:
    """The main build and the compared ones, by label; ValueError for a malformed or duplicate entry."""
    entries = [(MAIN, str(main_xsched))]
    for item in compare:
        name, sep, path = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z0-9_]+", name) or not path:
            raise ValueError(f"--compare expects NAME=PATH with NAME of letters, digits and _, got {item!r}")
        if name in (NATIVE, MAIN) or name in dict(entries):
            raise ValueError(f"--compare name {name!r} is taken (native, xsched and each name once)")
        entries.append((name, path))
    builds: dict[str, Build] = {}
    for name, path in entries:
        xs = Path(path).expanduser()
        xs = (xs / "xsched" if xs.is_dir() else xs).resolve()
        builds[name] = Build(name, xs, str(xs.parent))
    for item in ld_paths:
        name, sep, d = item.partition("=")
        if not sep or name not in builds:
            raise ValueError(f"--ld-path expects NAME=DIR with NAME one of {', '.join(builds)}, got {item!r}")
        builds[name].ld_path = str(Path(d).expanduser().resolve()) if d else ""
    return builds


def without_xsched_preload(env: Mapping[str, str]) -> dict[str, str]:
    """env without xsched in LD_PRELOAD and without XSCHED_INTERPOSER.

    Each worker must map its own build's interposer: one preloaded or named by this process's
    environment would take its place in every worker alike.
    """
    env = dict(env)
    env.pop("XSCHED_INTERPOSER", None)
    preload = env.get("LD_PRELOAD", "")
    if "xsched" in preload:
        kept = " ".join(x for x in preload.replace(":", " ").split() if "xsched" not in x)
        if kept:
            env["LD_PRELOAD"] = kept
        else:
            env.pop("LD_PRELOAD")
    return env


def build_environment(base: Mapping[str, str], extra: Sequence[str], build: Build) -> dict[str, str]:
    """A build's worker environment: base without xsched preloads, its LD_LIBRARY_PATH folder first, --env."""
    env = without_xsched_preload(base)
    if build.ld_path:
        old = env.get("LD_LIBRARY_PATH", "")
        env["LD_LIBRARY_PATH"] = build.ld_path + (":" + old if old else "")
    for kv in extra:
        k, sep, v = kv.partition("=")
        if not sep or not k:
            raise ValueError(f"--env expects K=V, got {kv!r}")
        env[k] = v
    return env


def run_platform(xsched_args: Sequence[str]) -> str:
    """The platform `xsched run` is asked for (--platform P or --platform=P; default cuda)."""
    platform = "cuda"
    for i, a in enumerate(xsched_args):
        if a == "--platform" and i + 1 < len(xsched_args):
            platform = xsched_args[i + 1]
        elif a.startswith("--platform="):
            platform = a.split("=", 1)[1]
    return platform


def expected_interposer(xsched: Path, env: Mapping[str, str], platform: str = "cuda") -> Optional[str]:
    """The real path of the interposer `xsched run` preloads, as src/cli/run.cpp finds it; None if none.

    XSCHED_INTERPOSER in the worker's environment, else libxsched_<platform>.so beside the binary
    (a folder of binaries), in src/interpose/<platform>/ under it (a build tree), or in
    ../lib/xsched/ from it (an install). The binary's folder is that of its real path, as run.cpp
    reads /proc/self/exe.
    """
    named = env.get("XSCHED_INTERPOSER")
    if named:
        return os.path.realpath(named) if os.access(named, os.R_OK) else None
    folder = Path(os.path.realpath(xsched)).parent
    file = f"libxsched_{platform}.so"
    for p in (folder / file, folder / "src" / "interpose" / platform / file, folder / ".." / "lib" / "xsched" / file):
        if os.access(p, os.R_OK):
            return os.path.realpath(p)
    return None


def check_mapping(label: str, info: Mapping[str, Any], build: Optional[Build]) -> Optional[str]:
    """What is wrong with the xsched libraries a worker maps, or None.

    Native (build None): none may be mapped. A build: its own interposer must be, and every xsched
    library mapped must be that interposer or lie in the build's own folders (its binary's, its
    interposer's, its LD_LIBRARY_PATH folder); anything else means it measures another build.
    """
    mapped = set(info.get("xsched_libs_real") or [os.path.realpath(p) for p in info.get("xsched_libs", [])])
    if build is None:
        return f"the native worker maps xsched libraries: {sorted(mapped)}" if mapped else None
    if build.interposer is None:
        return f"{label}: no interposer found for {build.xsched} (see expected_interposer)"
    if not mapped:
        return None  # no interposer at all: the caller decides (--allow-no-interposer)
    if build.interposer not in mapped:
        return f"{label}: maps {sorted(mapped)}, not its build's interposer {build.interposer}"
    own = {str(Path(build.interposer).parent), str(build.xsched.parent)} | ({build.ld_path} if build.ld_path else set())
    foreign = sorted(p for p in mapped if str(Path(p).parent) not in own)
    return f"{label}: maps xsched libraries of another build: {foreign}" if foreign else None
