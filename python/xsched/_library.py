"""Finding and loading libxsched.so, the project's C library (the xs_* API).

Searched, first match wins (in each folder ``libxsched.so``, then the SONAME
``libxsched.so.0``):

1. ``XSCHED_LIBRARY``: the library's path, or a folder holding it. When it is
   set, nothing else is tried: a wrong setting is reported, never silently
   replaced by another copy.
2. Next to this package: ``xsched/libxsched.so``, or in the folder above it;
   for a package installed in ``<prefix>/lib/python3*/{dist,site}-packages``
   (``cmake --install``, the Debian package), that prefix's library folders.
3. Next to the CUDA interposer named by an absolute path in ``LD_PRELOAD``
   (what ``xsched run`` sets): the same folder, the folder above an installed
   one (``<libdir>/xsched/libxsched_cuda.so``), or, when it sits in a build
   tree (``<root>/src/interpose/cuda``), that tree's root.
4. The absolute folders of ``LD_LIBRARY_PATH``.
5. Python's prefixes, ``<sys.prefix>`` and ``<sys.base_prefix>``.
6. The prefix of the ``xsched`` program found on ``PATH`` (``<prefix>/bin/xsched``).
7. ``/usr/local``.
8. The dynamic linker's own search (the ld.so cache).

In a prefix the folders are ``lib``, ``lib64`` and ``lib/<multiarch>``.

Only absolute folders are ever candidates: a relative one would make the
current folder one, where anyone could plant a library.
"""
from __future__ import annotations

import ctypes
import os
import platform
import sys
import sysconfig
import threading
from pathlib import Path
from typing import List, Optional, Tuple

from . import _native as n
from ._errors import LibraryNotFoundError, error_for

ENV_VAR = "XSCHED_LIBRARY"
LIB_NAME = "libxsched.so"
# In each folder: the development link, then the SONAME (all a runtime install may have).
LIB_NAMES = (LIB_NAME, "libxsched.so.0")
PROGRAM = "xsched"
# The interposers, and the folder of each in a build tree (src/interpose/<platform>).
_INTERPOSERS = {"libxsched_cuda.so": "cuda", "libxsched_hip.so": "hip"}


def _multiarch() -> str:
    """Debian's multiarch triplet of this Python (x86_64-linux-gnu), for lib/<multiarch>."""
    triplet = getattr(sys.implementation, "_multiarch", None) or sysconfig.get_config_var("MULTIARCH")
    return triplet or f"{platform.machine()}-linux-gnu"


def _prefix_lib_dirs(prefix: Path) -> List[Path]:
    """A prefix's library folders: lib, lib64, lib/<multiarch>."""
    return [prefix / "lib", prefix / "lib64", prefix / "lib" / _multiarch()]


def _absolute_dirs(value: str) -> List[Path]:
    """The absolute entries of a PATH-like value (relative ones would name the current folder)."""
    return [Path(e) for e in value.split(":") if e and Path(e).is_absolute()]


def _package_prefix_dirs(here: Path) -> List[Path]:
    """The library folders of the prefix this package is installed in, when it is in one:
    <prefix>/lib/python3*/{dist,site}-packages/xsched (cmake --install, the Debian package)."""
    parts = here.parts
    if (len(parts) >= 5 and parts[-2] in ("dist-packages", "site-packages") and parts[-3].startswith("python3")
            and parts[-4] in ("lib", "lib64")):
        return _prefix_lib_dirs(here.parents[3])
    return []


def _preloaded_interposer_dirs() -> List[Path]:
    """Folders where libxsched.so would sit beside the interposer that LD_PRELOAD names."""
    out: List[Path] = []
    for entry in os.environ.get("LD_PRELOAD", "").replace(" ", ":").split(":"):
        path = Path(entry)
        # Only absolute entries: a bare name or a relative path (the dynamic
        # linker searches for those itself) would make the current folder a
        # candidate, where anyone could plant a libxsched.so (or an xsched).
        if not entry or not path.is_absolute() or path.name not in _INTERPOSERS:
            continue
        folder = path.parent
        out.append(folder)  # beside it
        # Installed: <libdir>/xsched/libxsched_cuda.so (or _hip), the library in <libdir>.
        if folder.name == "xsched" and folder.parent != Path(folder.anchor):
            out.append(folder.parent)
        # The build tree's root, only where the interposer sits in one
        # (<root>/src/interpose/cuda or hip): three levels above an installed
        # one is "/" or a folder above the install prefix, nothing of ours.
        root = folder.parent.parent.parent
        if folder.parts[-3:] == ("src", "interpose", _INTERPOSERS[path.name]) and root != Path(root.anchor):
            out.append(root)
    return out


def program_on_path() -> Optional[Path]:
    """The xsched program in an absolute folder of PATH (symbolic links resolved); None if none."""
    for folder in _absolute_dirs(os.environ.get("PATH", "")):
        candidate = folder / PROGRAM
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate.resolve()
    return None


def _program_prefix_dirs() -> List[Path]:
    """The library folders of the prefix of the xsched program on PATH (<prefix>/bin/xsched)."""
    program = program_on_path()
    if program is None or program.parent.name != "bin" or program.parent.parent == Path(program.anchor):
        return []
    return _prefix_lib_dirs(program.parent.parent)


def candidates() -> Tuple[List[Path], bool]:
    """The paths to try, in order, and whether they come from XSCHED_LIBRARY (then only it counts)."""
    value = os.environ.get(ENV_VAR, "")
    if value:
        p = Path(value)
        if p.is_dir():
            found = [p / name for name in LIB_NAMES if (p / name).exists()]
            return (found or [p / LIB_NAME]), True
        return [p], True
    here = Path(__file__).resolve().parent
    dirs = [here, here.parent]
    dirs += _package_prefix_dirs(here)
    dirs += _preloaded_interposer_dirs()
    dirs += _absolute_dirs(os.environ.get("LD_LIBRARY_PATH", ""))
    for prefix in dict.fromkeys([sys.prefix, sys.base_prefix]):
        dirs += _prefix_lib_dirs(Path(prefix))
    dirs += _program_prefix_dirs()
    dirs += _prefix_lib_dirs(Path("/usr/local"))
    return [d / name for d in dict.fromkeys(dirs) for name in LIB_NAMES], False


def find_library() -> Optional[Path]:
    """The first existing candidate path (without loading it); None if there is none."""
    paths, _ = candidates()
    for p in paths:
        if p.is_file():
            return p
    return None


def _mapped_path(prefix: str) -> Optional[str]:
    """The path of a library this process has mapped whose name starts with prefix (/proc/self/maps)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                fields = line.split(None, 5)
                if len(fields) == 6 and os.path.basename(fields[5].strip()).startswith(prefix):
                    return fields[5].strip()
    except OSError:
        pass
    return None


class Library:
    """libxsched.so, loaded, with the prototypes of the calls the package makes."""

    def __init__(self, cdll: ctypes.CDLL, path: str) -> None:
        self.cdll = cdll
        self.path = path
        vp, i32, u32, i64, u64 = ctypes.c_void_p, ctypes.c_int32, ctypes.c_uint32, ctypes.c_int64, ctypes.c_uint64
        res = ctypes.c_int
        protos = {
            "xs_version": (u32, []),
            "xs_result_string": (ctypes.c_char_p, [res]),
            "xs_queue_create": (res, [ctypes.c_int, vp, vp, ctypes.POINTER(vp)]),
            "xs_queue_destroy": (res, [vp]),
            "xs_queue_submit": (res, [vp, ctypes.POINTER(n.Command), ctypes.POINTER(u64)]),
            "xs_queue_wait": (res, [vp, u64, i64]),
            "xs_queue_wait_all": (res, [vp, i64]),
            "xs_queue_suspend": (res, [vp, u32]),
            "xs_queue_resume": (res, [vp]),
            "xs_queue_query": (res, [vp, ctypes.POINTER(n.QueueInfoStruct)]),
            "xs_queue_set_hints": (res, [vp, ctypes.POINTER(n.Hints)]),
            "xs_queue_device": (res, [vp, ctypes.POINTER(ctypes.c_uint8 * 16), ctypes.POINTER(i32)]),
            "xs_queue_set_priority": (res, [vp, i32]),
            "xs_queue_set_share": (res, [vp, u32]),
            "xs_set_policy": (res, [ctypes.c_int]),
            "xs_get_policy": (res, [ctypes.POINTER(ctypes.c_int)]),
            "xs_policy_name": (ctypes.c_char_p, [ctypes.c_int]),
            "xs_set_process_hints": (res, [u32, ctypes.POINTER(n.Hints)]),
            "xs_thread_priority_push": (res, [i32]),
            "xs_thread_priority_pop": (res, []),
            "xs_thread_priority_get": (res, [ctypes.POINTER(i32)]),
            "xs_host_device_create": (res, [u32, ctypes.POINTER(vp)]),
            "xs_host_device_destroy": (res, [vp]),
            "xs_host_device_reserve": (res, [vp, u32]),
            "xs_host_stream_create": (res, [vp, ctypes.POINTER(vp)]),
            "xs_host_stream_destroy": (res, [vp]),
        }
        missing = n.declare(cdll, protos)
        if missing:
            raise LibraryNotFoundError(
                f"{path} is not a libxsched.so this package can use: it lacks {', '.join(missing)} "
                "(an older build? rebuild xsched)")

    def call(self, name: str, *args: object) -> None:
        """Calls xs_<name>(*args); raises the XschedError for a result other than XS_OK."""
        rc = getattr(self.cdll, name)(*args)
        if rc != 0:
            raise self.error(rc, name)

    def error(self, rc: int, function: str) -> Exception:
        """The exception for result rc of `function`, with the library's own sentence."""
        sentence = self.cdll.xs_result_string(rc)
        return error_for(rc, function, sentence.decode() if sentence else "unknown result code")

    def policy_name(self, value: int) -> Optional[str]:
        """The name of policy `value` (xs_policy_name); None for a value that names none."""
        name = self.cdll.xs_policy_name(value)
        return None if name is None or name == b"unknown" else name.decode()

    def version(self) -> Tuple[int, int, int]:
        """The library's version as (major, minor, patch)."""
        v = int(self.cdll.xs_version())
        return v // 10000, v // 100 % 100, v % 100


_lock = threading.Lock()
_loaded: Optional[Library] = None


def loaded() -> Optional[Library]:
    """The library if this process has loaded it already, else None (never loads)."""
    return _loaded


def library() -> Library:
    """The library, loaded on first use; LibraryNotFoundError says where it was looked for."""
    global _loaded
    if _loaded is not None:
        return _loaded
    with _lock:
        if _loaded is None:
            _loaded = _load()
        return _loaded


def _load() -> Library:
    paths, from_env = candidates()
    tried: List[str] = []
    for p in paths:
        if not p.is_file():
            if from_env or p.name == LIB_NAME:  # one line per folder, not per name
                tried.append(f"{p} (absent)")
            continue
        try:
            return Library(ctypes.CDLL(str(p)), str(p))
        except OSError as exc:
            tried.append(f"{p} ({exc})")
            if from_env:
                break
    if not from_env:
        for name in reversed(LIB_NAMES):  # the dynamic linker's own search: the ld.so cache
            try:
                cdll = ctypes.CDLL(name)
            except OSError:
                tried.append(f"{name} through the dynamic linker's search (not found)")
                continue
            return Library(cdll, _mapped_path(LIB_NAME) or name)
    how = (f"{ENV_VAR} is set: point it at {LIB_NAME} or unset it" if from_env else
           f"build xsched (cmake --build) and set {ENV_VAR} to the path of {LIB_NAME}, or install it")
    raise LibraryNotFoundError(f"the xsched C library ({LIB_NAME}) could not be loaded; tried: "
                               + "; ".join(tried) + f". {how}")
