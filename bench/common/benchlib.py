"""Shared helpers for xsched's benchmarks (overhead, priority, preemption, bandwidth).

Nothing here imports torch or matplotlib at module level, so every helper works in a parent
process that never touches the GPU. Contents:

- where things are: repo_root(), default_xsched()
- what ran where: driver_version(), device_string(), command_line(), now_iso()
- statistics: median(), percentile(), mean(), geomean()
- output: write_json(), write_summary(), format_table(), bar_chart(), cdf_panels()
- xsched around programs: xsched_run_prefix(), XschedDaemon
- long-lived worker processes speaking JSON lines: JsonWorker (parent side), serve() (worker side)
"""
from __future__ import annotations

import atexit
import datetime as _dt
import json
import math
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

# ---------------------------------------------------------------------------------------------
# Places
# ---------------------------------------------------------------------------------------------


def repo_root() -> Path:
    """The repository root (this file lives in <root>/bench/common/)."""
    return Path(__file__).resolve().parents[2]


def default_xsched() -> Path:
    """The xsched binary of the release build: <root>/build/release/xsched."""
    return repo_root() / "build" / "release" / "xsched"


# ---------------------------------------------------------------------------------------------
# Provenance
# ---------------------------------------------------------------------------------------------


def driver_version() -> Optional[str]:
    """The NVIDIA kernel driver version (e.g. "580.65.06"), or None where it cannot be read."""
    try:
        text = Path("/proc/driver/nvidia/version").read_text()
        m = re.search(r"Kernel Module(?:\s+for\s+\S+)?\s+(\d+\.\d+(?:\.\d+)?)", text)
        if m:
            return m.group(1)
    except OSError:
        pass
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=False).stdout.strip()
        if out:
            return out.splitlines()[0].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def device_string(gpu_name: str, cuda_version: Optional[str] = None) -> str:
    """One line naming the GPU and driver, e.g. "NVIDIA H100 80GB HBM3 (driver 580.65.06, CUDA 13.0)"."""
    parts = []
    drv = driver_version()
    if drv:
        parts.append(f"driver {drv}")
    if cuda_version:
        parts.append(f"CUDA {cuda_version}")
    return f"{gpu_name} ({', '.join(parts)})" if parts else gpu_name


def command_line() -> str:
    """The exact command line of this process, shell-quoted."""
    return shlex.join([Path(sys.executable).name] + sys.argv)


def now_iso() -> str:
    """The current time, UTC, ISO 8601 to the second."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


# ---------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation; NaN for an empty sequence."""
    xs = sorted(values)
    if not xs:
        return math.nan
    if len(xs) == 1:
        return float(xs[0])
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return float(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo))


def median(values: Sequence[float]) -> float:
    """The median; NaN for an empty sequence."""
    return percentile(values, 50.0)


def mean(values: Sequence[float]) -> float:
    """The arithmetic mean; NaN for an empty sequence."""
    return float(sum(values) / len(values)) if values else math.nan


def geomean(values: Iterable[float]) -> float:
    """The geometric mean of positive values; NaN when there are none."""
    xs = [float(v) for v in values if v is not None and v > 0 and math.isfinite(v)]
    return math.exp(sum(math.log(v) for v in xs) / len(xs)) if xs else math.nan


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------


def _json_safe(obj: Any) -> Any:
    """Replace NaN/inf by None so the file is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def write_json(path: Path, obj: Any, indent: Optional[int] = 1) -> Path:
    """Write obj as strict JSON (NaN -> null), atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_json_safe(obj), indent=indent, allow_nan=False) + "\n")
    tmp.replace(path)
    return path


def write_summary(out_dir: Path, fields: Mapping[str, Any]) -> Path:
    """Write <out_dir>/summary.json: one flat object with device, command, date and the figures.

    Raises ValueError when a required key is missing or a value is not a scalar (the file must
    stay comparable across runs by a simple script).
    """
    for key in ("device", "command", "date"):
        if key not in fields:
            raise ValueError(f"summary.json needs '{key}'")
    for key, value in fields.items():
        if not (value is None or isinstance(value, (str, int, float, bool))):
            raise ValueError(f"summary.json must be flat: '{key}' is a {type(value).__name__}")
    return write_json(Path(out_dir) / "summary.json", dict(fields))


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Optional[Sequence[bool]] = None) -> str:
    """A plain-text table; numbers right-aligned by default."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    if right is None:
        right = [i > 0 for i in range(len(headers))]

    def fmt(r: list[str]) -> str:
        """One padded line."""
        return "  ".join(c.rjust(w) if right[i] else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()

    lines = [fmt(cells[0]), "  ".join("-" * w for w in widths)]
    lines += [fmt(r) for r in cells[1:]]
    return "\n".join(lines)


def bar_chart(path: Path, labels: Sequence[str], values: Sequence[float], title: str, ylabel: str,
              hlines: Sequence[tuple[float, str]] = (), baseline: Optional[float] = 1.0,
              errors: Optional[Sequence[tuple[float, float]]] = None) -> bool:
    """Save a bar chart (one bar per label) with optional horizontal target lines.

    errors: optional (low, high) per bar, drawn as error bars. Returns False, with a message on
    stderr, when matplotlib is not installed (the rest of the benchmark output is still written).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as exc:  # ImportError, or a broken backend
        print(f"note: matplotlib unavailable ({exc}); no plot written to {path}", file=sys.stderr)
        return False
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(labels) + 2.0), 4.5))
    xs = list(range(len(labels)))
    vals = [v if v is not None and math.isfinite(v) else 0.0 for v in values]
    yerr = None
    if errors:
        yerr = [[max(0.0, v - lo) for v, (lo, _) in zip(vals, errors)],
                [max(0.0, hi - v) for v, (_, hi) in zip(vals, errors)]]
    bottom = baseline if baseline is not None else 0.0
    ax.bar(xs, [v - bottom for v in vals], bottom=bottom, color="#4C72B0", yerr=yerr, capsize=3)
    colors = ["#55A868", "#C44E52", "#8172B2", "#CCB974"]
    for i, (y, label) in enumerate(hlines):
        ax.axhline(y, linestyle="--", linewidth=1, color=colors[i % len(colors)], label=label)
    if baseline is not None:
        ax.axhline(baseline, color="black", linewidth=0.8)
    ax.set_xticks(xs)
    ax.set_xticklabels(labels, rotation=45, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    finite = list(vals) + [y for y, _ in hlines] + ([baseline] if baseline is not None else [])
    if errors:
        finite += [e for pair in errors for e in pair if e is not None and math.isfinite(e)]
    lo, hi = min(finite), max(finite)
    pad = max((hi - lo) * 0.15, 0.002)
    ax.set_ylim(lo - pad, hi + pad)
    if hlines:
        ax.legend(loc="best", fontsize=8)
    return save_figure(fig, path)


def cdf_panels(path: Path, panels: Sequence[tuple[str, Mapping[str, Sequence[float]]]], xlabel: str,
               title: str, log_x: bool = True) -> bool:
    """Save latency CDFs side by side: one panel per (panel title, {label: samples}).

    Returns False, with a message on stderr, when matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as exc:  # ImportError, or a broken backend
        print(f"note: matplotlib unavailable ({exc}); no plot written to {path}", file=sys.stderr)
        return False
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(5.5 * max(1, len(panels)), 4.2), squeeze=False)
    for ax, (panel_title, series) in zip(axes[0], panels):
        for label, values in series.items():
            xs = sorted(v for v in values if v is not None and math.isfinite(v) and (v > 0 or not log_x))
            if not xs:
                continue
            ys = [(i + 1) / len(xs) for i in range(len(xs))]
            ax.step(xs, ys, where="post", label=f"{label} (n={len(xs)})", linewidth=1.2)
        if log_x:
            ax.set_xscale("log")
            # Plain numbers at the decades and a few steps between, no crowded minor labels.
            from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(xlabel)
        ax.set_ylabel("fraction of requests")
        ax.set_title(panel_title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right", fontsize=7)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


# ---------------------------------------------------------------------------------------------
# xsched around a benchmark's programs
# ---------------------------------------------------------------------------------------------


def find_xsched_tools(xsched: Path, xschedd: Optional[Path]) -> Optional[tuple[Path, Path]]:
    """xsched and xschedd (default: beside xsched), resolved; None, with a message, if one is missing."""
    xsched = Path(xsched).resolve()
    xschedd = Path(xschedd or xsched.parent / "xschedd").resolve()
    for tool in (xsched, xschedd):
        if not tool.exists():
            print(f"{tool} not found (build with: cmake --preset release && cmake --build --preset release)",
                  file=sys.stderr)
            return None
    return xsched, xschedd


def xsched_run_prefix(xsched: Path, level: int, extra: Sequence[str] = ()) -> list[str]:
    """`xsched run --quiet --level L <extra> --`: what goes in front of a program's command line."""
    return [str(xsched), "run", "--quiet", "--level", str(level), *extra, "--"]


def save_figure(fig: Any, path: Path) -> bool:
    """Lays out, writes (making its folder) and closes a matplotlib figure; True."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return True


def free_tcp_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a daemon's --metrics)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 5.0) -> str:
    """The body of a GET of url (raises OSError on failure)."""
    import urllib.request

    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read().decode(errors="replace")


def prometheus_sum(text: str, name: str) -> float:
    """The sum over every series of metric `name` in Prometheus text format (0 if none)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name):len(name) + 1] in ("{", " "):
            try:
                total += float(line.rsplit(" ", 1)[1])
            except (IndexError, ValueError):
                pass
    return total


class XschedDaemon:
    """xschedd on a private socket for the length of a `with` block (the socket path is .socket).

    Raises WorkerError if it does not start listening within `timeout` seconds.
    """

    def __init__(self, xschedd: Path, workdir: Path, args: Sequence[str] = (), timeout: float = 10.0) -> None:
        self.socket = str(Path(workdir) / "xschedd.sock")
        self.log_path = Path(workdir) / "xschedd.log"
        self.argv = [str(xschedd), "--socket", self.socket, "--log-level", "info", *args]
        self.timeout = timeout
        self.proc: Optional[subprocess.Popen[bytes]] = None

    def __enter__(self) -> "XschedDaemon":
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.timeout
        while not Path(self.socket).exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise WorkerError(f"xschedd did not start: {shlex.join(self.argv)}\n"
                                  f"{self.log_path.read_text(errors='replace')[-2000:]}")
            time.sleep(0.05)
        return self

    def env(self) -> dict[str, str]:
        """The environment that makes xsched's programs register with this daemon."""
        return {"XSCHED_SCHEDULER": "daemon", "XSCHED_SOCKET": self.socket}

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


class MpsServer:
    """A private CUDA MPS control daemon (nvidia-cuda-mps-control -d) for the length of a `with` block.

    Its pipe and log folders are under `workdir`; env() is what makes a CUDA program a client of it
    (its contexts then share the GPU with the other clients' instead of time-slicing with them).
    Raises WorkerError where the control program is missing or does not start.
    """

    CONTROL = "nvidia-cuda-mps-control"

    def __init__(self, workdir: Path) -> None:
        self.pipe_dir = Path(workdir) / "mps-pipe"
        self.log_dir = Path(workdir) / "mps-log"

    def env(self) -> dict[str, str]:
        return {"CUDA_MPS_PIPE_DIRECTORY": str(self.pipe_dir), "CUDA_MPS_LOG_DIRECTORY": str(self.log_dir)}

    def __enter__(self) -> "MpsServer":
        control = shutil.which(self.CONTROL)
        if control is None:
            raise WorkerError(f"{self.CONTROL} not found: CUDA MPS is not installed here")
        self.pipe_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        p = subprocess.run([control, "-d"], env=dict(os.environ, **self.env()), capture_output=True, text=True,
                           timeout=30, check=False)
        if p.returncode != 0:
            raise WorkerError(f"{self.CONTROL} -d failed (exit {p.returncode}): {p.stderr.strip()}")
        self.control = control
        return self

    def log_tail(self) -> str:
        """The end of the control daemon's and the server's logs."""
        return "".join(f.read_text(errors="replace")[-1000:] for f in sorted(self.log_dir.glob("*.log")))

    def __exit__(self, *exc: Any) -> None:
        """Asks the control daemon to quit (it stops the server); waits for its pipe to go."""
        subprocess.run([self.control], input="quit\n", env=dict(os.environ, **self.env()), capture_output=True,
                       text=True, timeout=30, check=False)
        deadline = time.monotonic() + 10
        while (self.pipe_dir / "control").exists() and time.monotonic() < deadline:
            time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# Long-lived workers: JSON requests on stdin, marked JSON answers on stdout
# ---------------------------------------------------------------------------------------------

#: Answers start with this marker; any other stdout line of a worker is passed on to stderr.
MARK = "@@xsched-bench@@ "


class WorkerError(RuntimeError):
    """A worker died, timed out, or answered with an error."""


class JsonWorker:
    """A child process that answers one JSON line per JSON request (see serve()).

    The child runs in its own process group; close() (also called at interpreter exit) asks it
    to quit and kills the group if it does not. Its stderr goes to `log`.
    """

    _live: "set[JsonWorker]" = set()

    def __init__(self, name: str, argv: Sequence[str], env: Optional[Mapping[str, str]] = None,
                 log: Optional[Path] = None, echo_stdout: bool = True) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = Path(log) if log else None
        self._log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        self._echo = echo_stdout
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                                         env=dict(env) if env is not None else None, text=True, bufsize=1,
                                         start_new_session=True)
        except OSError as exc:
            raise WorkerError(f"{name}: cannot start {self.argv[0]}: {exc}") from exc
        self._lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self._reader = threading.Thread(target=self._read, name=f"{name}-stdout", daemon=True)
        self._reader.start()
        JsonWorker._live.add(self)

    def _read(self) -> None:
        """Reader thread: queue every stdout line; None at end of file."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)  # end of file: the child exited

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the worker's stderr log."""
        if not self.log_path:
            return ""
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(f"    {line}" for line in text[-lines:])

    def request(self, req: Mapping[str, Any], timeout: float = 600.0) -> dict[str, Any]:
        """Send one request and wait for its answer; raise WorkerError on death, timeout or error."""
        if self.proc.poll() is not None:
            raise WorkerError(f"{self.name}: worker has exited with code {self.proc.returncode}\n{self.log_tail()}")
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise WorkerError(f"{self.name}: cannot send request ({exc})\n{self.log_tail()}") from exc
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerError(f"{self.name}: no answer to {req.get('cmd')} within {timeout:.0f} s\n"
                                  f"{self.log_tail()}")
            try:
                line = self._lines.get(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            if line is None:
                self.proc.wait(timeout=10)
                raise WorkerError(f"{self.name}: worker exited (code {self.proc.returncode}) while handling "
                                  f"{req.get('cmd')}\n{self.log_tail()}")
            if line.startswith(MARK):
                answer = json.loads(line[len(MARK):])
                if not answer.get("ok", False):
                    raise WorkerError(f"{self.name}: {req.get('cmd')} failed: {answer.get('error')}\n"
                                      f"{answer.get('traceback', '')}")
                return answer
            if self._echo:
                sys.stderr.write(f"[{self.name}] {line}")

    def close(self, timeout: float = 15.0) -> None:
        """Ask the worker to quit; kill its process group if it does not exit in time."""
        JsonWorker._live.discard(self)
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.stdin.close()
            except (BrokenPipeError, OSError, ValueError):
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                for sig in (signal.SIGTERM, signal.SIGKILL):
                    try:
                        os.killpg(self.proc.pid, sig)
                    except ProcessLookupError:
                        break
                    try:
                        self.proc.wait(timeout=5)
                        break
                    except subprocess.TimeoutExpired:
                        continue
        if self._log is not subprocess.DEVNULL:
            self._log.close()

    @classmethod
    def close_all(cls) -> None:
        """Close every live worker (registered at exit)."""
        for w in list(cls._live):
            try:
                w.close(timeout=5.0)
            except Exception:  # best effort at exit
                pass


atexit.register(JsonWorker.close_all)


def install_signal_handlers() -> None:
    """Turn SIGTERM/SIGHUP into SystemExit so that `finally` blocks and atexit close the workers."""

    def _exit(signum: int, _frame: Any) -> None:
        """Signal handler: exit through the normal path."""
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit)


def serve(handlers: Mapping[str, Callable[[dict[str, Any]], dict[str, Any]]]) -> int:
    """Worker side: answer JSON requests from stdin until {"cmd": "quit"} or end of input.

    Each request's "cmd" selects a handler; its result (a dict) is sent back with "ok": true. An
    exception becomes {"ok": false, "error": ..., "traceback": ...}. Anything else the process
    prints on stdout is moved to stderr, so only answers reach the parent.
    """
    import traceback

    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints (also from C code) go to stderr
    sys.stdout = sys.stderr
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            cmd = req.get("cmd")
            if cmd == "quit":
                answers.write(MARK + json.dumps({"ok": True}) + "\n")
                break
            if cmd not in handlers:
                raise ValueError(f"unknown command {cmd!r}")
            answer = dict(handlers[cmd](req))
            answer["ok"] = True
        except Exception as exc:
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        answers.write(MARK + json.dumps(_json_safe(answer)) + "\n")
        answers.flush()
    answers.flush()
    return 0
