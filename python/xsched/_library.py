"""Finding and loading libxsched.so, the project's C library (the xs_* API).

Searched, first match wins:

1. ``XSCHED_LIBRARY``: the library's path, or a folder holding it. When it is
   set, nothing else is tried: a wrong setting is reported, never silently
   replaced by another copy.
2. Next to this package: ``xsched/libxsched.so``, or in the folder above it.
3. Next to the CUDA interposer named by an absolute path in ``LD_PRELOAD``
   (what ``xsched run`` sets): the same folder, or, when it sits in a build
   tree (``<root>/src/interpose/cuda``), that tree's root.
4. The install prefixes: ``<sys.prefix>/lib``, ``<sys.base_prefix>/lib``
   (and ``lib64``), ``/usr/local/lib``, ``/usr/local/lib64``.
5. The dynamic linker's own search (``LD_LIBRARY_PATH``, the ld.so cache).
"""
from __future__ import annotations

import ctypes
import os
import sys
import threading
from pathlib import Path
from typing import List, Optional, Tuple

from . import _native as n
from ._errors import LibraryNotFoundError, error_for

ENV_VAR = "XSCHED_LIBRARY"
LIB_NAME = "libxsched.so"
_INTERPOSER_NAME = "libxsched_cuda.so"


def _preloaded_interposer_dirs() -> List[Path]:
    """Folders where libxsched.so would sit beside the interposer that LD_PRELOAD names."""
    out: List[Path] = []
    for entry in os.environ.get("LD_PRELOAD", "").replace(" ", ":").split(":"):
        path = Path(entry)
        # Only absolute entries: a bare name or a relative path (the dynamic
        # linker searches for those itself) would make the current folder a
        # candidate, where anyone could plant a libxsched.so (or an xsched).
        if not entry or not path.is_absolute() or path.name != _INTERPOSER_NAME:
            continue
        folder = path.parent
        out.append(folder)  # installed: lib/
        # The build tree's root, only where the interposer sits in one
        # (<root>/src/interpose/cuda): three levels above an installed one
        # is "/" or a folder above the install prefix, nothing of ours.
        root = folder.parent.parent.parent
        if folder.parts[-3:] == ("src", "interpose", "cuda") and root != Path(root.anchor):
            out.append(root)
    return out


def candidates() -> Tuple[List[Path], bool]:
    """The paths to try, in order, and whether they come from XSCHED_LIBRARY (then only it counts)."""
    value = os.environ.get(ENV_VAR, "")
    if value:
        p = Path(value)
        return [p / LIB_NAME if p.is_dir() else p], True
    here = Path(__file__).resolve().parent
    dirs = [here, here.parent]
    dirs += _preloaded_interposer_dirs()
    for prefix in dict.fromkeys([sys.prefix, sys.base_prefix, "/usr/local"]):
        dirs += [Path(prefix) / "lib", Path(prefix) / "lib64"]
    return [d / LIB_NAME for d in dict.fromkeys(dirs)], False


def find_library() -> Optional[Path]:
    """The first existing candidate path (without loading it); None if there is none."""
    paths, _ = candidates()
    for p in paths:
        if p.is_file():
            return p
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
            tried.append(f"{p} (absent)")
            continue
        try:
            return Library(ctypes.CDLL(str(p)), str(p))
        except OSError as exc:
            tried.append(f"{p} ({exc})")
            if from_env:
                break
    if not from_env:
        try:  # the dynamic linker's own search: LD_LIBRARY_PATH, the ld.so cache
            return Library(ctypes.CDLL(LIB_NAME), LIB_NAME)
        except OSError:
            tried.append(f"{LIB_NAME} through the dynamic linker's search (not found)")
    how = (f"{ENV_VAR} is set: point it at {LIB_NAME} or unset it" if from_env else
           f"build xsched (cmake --build) and set {ENV_VAR} to the path of {LIB_NAME}, or install it")
    raise LibraryNotFoundError(f"the xsched C library ({LIB_NAME}) could not be loaded; tried: "
                               + "; ".join(tried) + f". {how}")
