"""The CUDA interposer's control API (include/xsched/xsched_cuda.h), found in this process.

Under ``xsched run`` the program's CUDA streams are XQueues inside the
interposer, which the dynamic linker loaded as ``libcuda.so.1``. This module
asks the linker for the already-loaded ``libcuda.so.1`` (``RTLD_NOLOAD``:
nothing new is loaded), checks that it is the interposer (it exports
``xsched_interposer_abi``; the NVIDIA driver does not) and that its control
API is recent enough, and calls it through ctypes.
"""
from __future__ import annotations

import ctypes
import os
import threading
from typing import List, Optional

from . import _native as n
from ._errors import InterposerNotLoadedError, error_for, result_sentence

SONAME = "libcuda.so.1"
#: The control API revision this package needs (XS_CUDA_CONTROL_ABI).
REQUIRED_ABI = 1
#: The revision that names policies (xs_cuda_policy_name); an older
#: interposer's names come from libxsched.so instead.
POLICY_NAMES_ABI = 2

HOW_TO_RUN = ("run the program under the interposer: `xsched run -- python your_program.py` "
              "or `python -m xsched run -- python your_program.py`")


class Control:
    """The interposer's xs_cuda_* calls, with their prototypes."""

    def __init__(self, cdll: ctypes.CDLL, abi: int) -> None:
        self.cdll = cdll
        self.abi = abi
        vp, i32, u32, i64, u64 = ctypes.c_void_p, ctypes.c_int32, ctypes.c_uint32, ctypes.c_int64, ctypes.c_uint64
        res = ctypes.c_int
        protos = {
            "xs_cuda_last_error": (ctypes.c_char_p, []),
            "xs_cuda_stream_queue": (res, [vp, i32, ctypes.POINTER(u64)]),
            "xs_cuda_queue_describe": (res, [u64, ctypes.POINTER(n.CudaQueueDesc)]),
            "xs_cuda_queue_device": (res, [u64, ctypes.POINTER(ctypes.c_uint8 * 16), ctypes.POINTER(ctypes.c_int32)]),
            "xs_cuda_queue_query": (res, [u64, ctypes.POINTER(n.QueueInfoStruct)]),
            "xs_cuda_queue_set_hints": (res, [u64, ctypes.POINTER(n.Hints)]),
            "xs_cuda_queue_set_priority": (res, [u64, i32]),
            "xs_cuda_queue_set_share": (res, [u64, u32]),
            "xs_cuda_queue_suspend": (res, [u64, u32]),
            "xs_cuda_queue_resume": (res, [u64]),
            "xs_cuda_queue_wait_all": (res, [u64, i64]),
            "xs_cuda_list_queues": (res, [ctypes.POINTER(u64), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]),
            "xs_cuda_set_policy": (res, [ctypes.c_int]),
            "xs_cuda_get_policy": (res, [ctypes.POINTER(ctypes.c_int)]),
            "xs_cuda_set_process_hints": (res, [u32, ctypes.POINTER(n.Hints)]),
            "xs_cuda_thread_priority_push": (res, [i32]),
            "xs_cuda_thread_priority_pop": (res, []),
            "xs_cuda_thread_priority_get": (res, [ctypes.POINTER(i32)]),
        }
        self.missing = n.declare(cdll, protos)
        self.names_policies = abi >= POLICY_NAMES_ABI and not n.declare(
            cdll, {"xs_cuda_policy_name": (res, [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)])})

    def call(self, name: str, *args: object) -> None:
        """Calls xs_cuda_<name>(*args); raises the XschedError, with the interposer's reason, on failure."""
        rc = getattr(self.cdll, name)(*args)
        if rc != 0:
            raise self.error(rc, name)

    def error(self, rc: int, function: str) -> Exception:
        """The exception for result rc of `function`, with the reason the interposer gave this thread."""
        detail = self.cdll.xs_cuda_last_error()
        return error_for(rc, function, result_sentence(rc), detail.decode(errors="replace") if detail else "")

    def policy_name(self, value: int) -> Optional[str]:
        """The name of policy `value` (xs_cuda_policy_name); None for a value that names none."""
        out = ctypes.c_char_p()
        if self.cdll.xs_cuda_policy_name(value, ctypes.byref(out)) != 0 or out.value is None:
            return None
        return out.value.decode()

    def list_queues(self) -> List[int]:
        """The ids of every queue of the process."""
        count = ctypes.c_size_t(0)
        self.call("xs_cuda_list_queues", None, 0, ctypes.byref(count))
        while True:
            ids = (ctypes.c_uint64 * (count.value + 8))()
            capacity = len(ids)
            self.call("xs_cuda_list_queues", ids, capacity, ctypes.byref(count))
            if count.value <= capacity:  # queues made meanwhile: ask again with room for them
                return [int(ids[i]) for i in range(count.value)]


_lock = threading.Lock()
_control: Optional[Control] = None


def _open() -> "tuple[Optional[Control], str]":
    """The control API of the loaded libcuda.so.1, or None and why not."""
    try:
        cdll = ctypes.CDLL(SONAME, mode=os.RTLD_NOLOAD | os.RTLD_NOW)
    except OSError:
        return None, f"no {SONAME} is loaded in this process (neither the interposer nor the NVIDIA driver)"
    try:
        ctypes.c_int.in_dll(cdll, "xsched_interposer_abi")
    except ValueError:
        return None, f"the {SONAME} loaded in this process is the NVIDIA driver, not the xsched interposer"
    try:
        abi_fn = cdll.xs_cuda_control_abi
    except AttributeError:
        return None, "the xsched interposer loaded in this process has no control API (an older build: rebuild xsched)"
    abi_fn.restype = ctypes.c_uint32
    abi_fn.argtypes = []
    abi = int(abi_fn())
    if abi < REQUIRED_ABI:
        return None, (f"the xsched interposer loaded in this process has control API revision {abi}; "
                      f"this package needs {REQUIRED_ABI} (rebuild xsched)")
    control = Control(cdll, abi)
    if control.missing:
        return None, (f"the xsched interposer loaded in this process lacks {', '.join(control.missing)} "
                      "(a mismatched build: rebuild xsched)")
    return control, ""


def _find() -> "tuple[Optional[Control], str]":
    global _control
    if _control is not None:
        return _control, ""
    with _lock:
        if _control is not None:
            return _control, ""
        ctl, why = _open()  # not found: asked again next time (libcuda.so.1 may load later)
        _control = ctl
        return ctl, why


def control() -> Optional[Control]:
    """The control API if the interposer is loaded, else None. Cheap once found."""
    return _find()[0]


def require(what: str) -> Control:
    """The control API, or InterposerNotLoadedError saying why it is missing and how to run."""
    ctl, why = _find()
    if ctl is not None:
        return ctl
    raise InterposerNotLoadedError(f"{what}: CUDA streams are scheduled by the xsched CUDA interposer, "
                                   f"but {why}: {HOW_TO_RUN}")


def loaded() -> bool:
    """True when this process runs under the xsched CUDA interposer."""
    return control() is not None
