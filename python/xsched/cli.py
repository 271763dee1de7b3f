"""``python -m xsched ...``: the ``xsched`` command line, found for pip users.

``python -m xsched run [options] -- program args`` is ``xsched run``: the
same options, checks, messages and exit codes, because it runs that program.
It is looked for beside libxsched.so as the package finds it (the build tree
keeps both in one folder; an install keeps the program in ``<prefix>/bin``
and the library in ``<prefix>/lib`` or ``<prefix>/lib/<multiarch>``), then on
``PATH``.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional, Sequence

from . import _library

PROGRAM = _library.PROGRAM


def _beside(lib: Path) -> List[Path]:
    """Where the program sits for a library at lib: the same folder (a build tree),
    <prefix>/bin for <prefix>/lib/ and for <prefix>/lib/<multiarch>/."""
    folder = lib.parent
    out = [folder / PROGRAM, folder.parent / "bin" / PROGRAM]
    if folder.parent.name in ("lib", "lib64"):
        out.append(folder.parent.parent / "bin" / PROGRAM)
    return out


def candidates() -> List[Path]:
    """The places find_program looks, in order, before PATH."""
    out: List[Path] = []
    loaded = _library.loaded()
    for lib in ([Path(loaded.path)] if loaded is not None and os.path.isabs(loaded.path) else []) + \
            [p for p in [_library.find_library()] if p is not None]:
        out += _beside(lib.resolve())
    return list(dict.fromkeys(out))


def find_program() -> Optional[str]:
    """The path of the xsched program; None if there is none."""
    for c in candidates():
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    on_path = _library.program_on_path()
    return str(on_path) if on_path is not None else None


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs ``xsched <argv>`` in this process's place; returns only if it cannot."""
    args = list(sys.argv[1:] if argv is None else argv)
    program = find_program()
    if program is None:
        looked = [str(c) for c in candidates()]
        where = f" (looked at {', '.join(looked)})" if looked else " (libxsched.so was not found either)"
        print(f"python -m xsched: the xsched program was not found beside libxsched.so{where} or on PATH; "
              f"install xsched, put its bin folder on PATH, or set {_library.ENV_VAR} to the library of an "
              "install (the program is in its ../bin)", file=sys.stderr)
        return 127
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(program, [program, *args])
    except OSError as exc:
        print(f"python -m xsched: cannot run {program}: {exc}", file=sys.stderr)
        return 126
    return 0  # not reached: execv replaced this process
