"""The preemption runner's child processes: the tail of their output, killing a run's process group,
and one program of a two-process run with its line exchange on stdin and stdout (Side)."""
from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from pathlib import Path
from typing import Optional


def tail(text: str, lines: int = 15) -> str:
    """The last lines of a process's output."""
    return "\n".join(text.splitlines()[-lines:])


def kill_group(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL, the run's process group."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


class Side:
    """One program of a two-process run, in its own session (a kill takes `xsched run` and the program
    together): stdin and stdout piped for the IDLE-DONE / READY / go exchange, stderr into a file."""

    def __init__(self, who: str, argv: list[str], env: dict[str, str], rundir: Path) -> None:
        self.who, self.argv, self.env = who, argv, env
        self.err_path = rundir / f"{who}.stderr"
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.out = b""  # stdout past the lines expected so far
        self.error: Optional[str] = None
        self.timed_out = False
        self.done = False  # finished: exited and its output collected

    def start(self) -> Optional[str]:
        """Start it; an error message if it cannot be started."""
        try:
            with open(self.err_path, "wb") as err:
                self.proc = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                             stderr=err, bufsize=0, start_new_session=True)
        except OSError as exc:
            self.error = f"cannot start the {self.who} program: {exc}"
        return self.error

    def expect(self, word: str, timeout: float) -> Optional[str]:
        """Wait up to timeout s for the line `word` on its stdout; an error message if it exits first, says
        something else or stays silent."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self.out:
            left = deadline - time.monotonic()
            if left <= 0:
                self.timed_out = True
                self.error = f"the {self.who} program did not say {word} within {timeout:.0f} s; killed"
                return self.error
            if select.select([fd], [], [], left)[0]:
                chunk = os.read(fd, 4096)
                if not chunk:
                    self.error = f"the {self.who} program ended its output before saying {word}"
                    return self.error
                self.out += chunk
        line, self.out = self.out.split(b"\n", 1)
        if line.decode(errors="replace").strip() != word:
            self.error = f"the {self.who} program said {line.decode(errors='replace')!r}, not {word}"
        return self.error

    def send(self, text: bytes) -> None:
        """Write to its stdin (nothing if it has exited: its exit code tells why)."""
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(text)
        except OSError:
            pass

    def finish(self, timeout: float) -> None:
        """Close its stdin and wait for its exit, killing its session after timeout s."""
        if self.proc is None or self.done:
            return
        try:
            out, _ = self.proc.communicate(timeout=max(timeout, 1.0))
        except subprocess.TimeoutExpired:
            self.timed_out = True
            self.error = self.error or f"the {self.who} program did not exit within {max(timeout, 1.0):.0f} s; killed"
            kill_group(self.proc)
            out, _ = self.proc.communicate()
        self.out += out or b""
        self.done = True

    def stop(self) -> None:
        """Kill its session if it still runs, and collect what it wrote."""
        if self.proc is not None and not self.done and self.proc.poll() is None:
            kill_group(self.proc)
        self.finish(10.0)

    def stderr(self) -> str:
        """Everything it wrote to stderr."""
        return self.err_path.read_text(errors="replace") if self.err_path.is_file() else ""
