"""``python -m xsched ...``: the ``xsched`` command line, found for pip users.

``python -m xsched run [options] -- program args`` is ``xsched run``: the
same options, checks, messages and exit codes, because it runs that program.
It is looked for next to libxsched.so (the build tree keeps both in one
folder; an install keeps it in ``../bin``), then on ``PATH``.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import List, Optional, Sequence

from . import _library

PROGRAM = "xsched"


def find_program() -> Optional[str]:
    """The path of the xsched program; None if there is none."""
    candidates: List[Path] = []
    lib = _library.find_library()
    if lib is not None:
        lib = lib.resolve()
        candidates += [lib.parent / PROGRAM, lib.parent.parent / "bin" / PROGRAM]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    return shutil.which(PROGRAM)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs ``xsched <argv>`` in this process's place; returns only if it cannot."""
    args = list(sys.argv[1:] if argv is None else argv)
    program = find_program()
    if program is None:
        print("python -m xsched: the xsched program was not found next to libxsched.so "
              f"(set {_library.ENV_VAR}) or on PATH; build or install xsched first", file=sys.stderr)
        return 127
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(program, [program, *args])
    except OSError as exc:
        print(f"python -m xsched: cannot run {program}: {exc}", file=sys.stderr)
        return 126
    return 0  # not reached: execv replaced this process
