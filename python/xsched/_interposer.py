"""The control API of the xsched interposer loaded in this process, CUDA's or HIP's.

Under ``xsched run`` the program's GPU streams are XQueues inside an
interposer: the CUDA one, which the dynamic linker loaded as
``libcuda.so.1`` (include/xsched/xsched_cuda.h), or under ``xsched run
--platform hip`` the HIP one, ``libxsched_hip.so``, loaded ahead of AMD's
runtime (include/xsched/xsched_hip.h). This module asks the linker for the
already-loaded library (``RTLD_NOLOAD``: nothing new is loaded), checks that
it is the interposer (it exports the interposer's marker; NVIDIA's driver
does not) and that its control API is recent enough, and calls it through
ctypes. Both APIs have the same calls under their own prefix.
"""
from __future__ import annotations

import ctypes
import os
import sys
import threading
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple, Type

from . import _native as n
from ._errors import InterposerNotLoadedError, error_for, result_sentence


@dataclass(frozen=True)
class Platform:
    """One interposer: how it is found and how its calls are named."""

    name: str  #: "CUDA", "HIP"
    soname: str  #: the name the dynamic linker knows it by
    marker: str  #: a symbol only the interposer exports
    prefix: str  #: its control calls' prefix
    required_abi: int  #: the control API revision this package needs
    policy_names_abi: int  #: the revision that names policies (older ones: libxsched.so names them)
    desc: Type[ctypes.Structure]  #: its xs_*_queue_desc_t
    how_to_run: str


CUDA = Platform("CUDA", "libcuda.so.1", "xsched_interposer_abi", "xs_cuda_", 1, 2, n.CudaQueueDesc,
                "run the program under the interposer: `xsched run -- python your_program.py` "
                "or `python -m xsched run -- python your_program.py` (on AMD GPUs: `run --platform hip`)")
HIP = Platform("HIP", "libxsched_hip.so", "xsched_hip_interposer_abi", "xs_hip_", 1, 1, n.HipQueueDesc,
               "run the program under the HIP interposer: `xsched run --platform hip -- python your_program.py` "
               "or `python -m xsched run --platform hip -- python your_program.py`")

#: How to run a program under an interposer, for messages that name none in particular.
HOW_TO_RUN = CUDA.how_to_run


class Control:
    """An interposer's control calls, with their prototypes."""

    def __init__(self, cdll: ctypes.CDLL, abi: int, platform: Platform) -> None:
        self.cdll = cdll
        self.abi = abi
        self.platform = platform
        vp, i32, u32, i64, u64 = ctypes.c_void_p, ctypes.c_int32, ctypes.c_uint32, ctypes.c_int64, ctypes.c_uint64
        res = ctypes.c_int
        protos = {
            "last_error": (ctypes.c_char_p, []),
            "stream_queue": (res, [vp, i32, ctypes.POINTER(u64)]),
            "queue_describe": (res, [u64, ctypes.POINTER(platform.desc)]),
            "queue_device": (res, [u64, ctypes.POINTER(ctypes.c_uint8 * 16), ctypes.POINTER(ctypes.c_int32)]),
            "queue_query": (res, [u64, ctypes.POINTER(n.QueueInfoStruct)]),
            "queue_set_hints": (res, [u64, ctypes.POINTER(n.Hints)]),
            "queue_set_priority": (res, [u64, i32]),
            "queue_set_share": (res, [u64, u32]),
            "queue_suspend": (res, [u64, u32]),
            "queue_resume": (res, [u64]),
            "queue_wait_all": (res, [u64, i64]),
            "list_queues": (res, [ctypes.POINTER(u64), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]),
            "set_policy": (res, [ctypes.c_int]),
            "get_policy": (res, [ctypes.POINTER(ctypes.c_int)]),
            "set_process_hints": (res, [u32, ctypes.POINTER(n.Hints)]),
            "thread_priority_push": (res, [i32]),
            "thread_priority_pop": (res, []),
            "thread_priority_get": (res, [ctypes.POINTER(i32)]),
        }
        self.missing = n.declare(cdll, {self.fn(k): v for k, v in protos.items()})
        self.names_policies = abi >= platform.policy_names_abi and not n.declare(
            cdll, {self.fn("policy_name"): (res, [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)])})

    def fn(self, call: str) -> str:
        """The exported name of a call of both APIs ("queue_query" -> "xs_cuda_queue_query")."""
        return self.platform.prefix + call

    def raw(self, call: str) -> Any:
        """The C function of a call, for callers that read its result themselves."""
        return getattr(self.cdll, self.fn(call))

    def call(self, name: str, *args: object) -> None:
        """Calls the exported function `name` (its full name); raises the XschedError, with the
        interposer's reason, on failure."""
        rc = getattr(self.cdll, name)(*args)
        if rc != 0:
            raise self.error(rc, name)

    def call_api(self, call: str, *args: object) -> None:
        """call() of a call of both APIs, by its name without the prefix."""
        self.call(self.fn(call), *args)

    def error(self, rc: int, function: str) -> Exception:
        """The exception for result rc of `function`, with the reason the interposer gave this thread."""
        detail = self.raw("last_error")()
        return error_for(rc, function, result_sentence(rc), detail.decode(errors="replace") if detail else "")

    def policy_name(self, value: int) -> Optional[str]:
        """The name of policy `value` (xs_*_policy_name); None for a value that names none."""
        out = ctypes.c_char_p()
        if self.raw("policy_name")(value, ctypes.byref(out)) != 0 or out.value is None:
            return None
        return out.value.decode()

    def list_queues(self) -> List[int]:
        """The ids of every queue of the process."""
        count = ctypes.c_size_t(0)
        self.call_api("list_queues", None, 0, ctypes.byref(count))
        while True:
            ids = (ctypes.c_uint64 * (count.value + 8))()
            capacity = len(ids)
            self.call_api("list_queues", ids, capacity, ctypes.byref(count))
            if count.value <= capacity:  # queues made meanwhile: ask again with room for them
                return [int(ids[i]) for i in range(count.value)]


_lock = threading.Lock()
_controls: Dict[str, Control] = {}


def _open(p: Platform) -> "Tuple[Optional[Control], str]":
    """The control API of the loaded interposer of platform p, or None and why not."""
    try:
        cdll = ctypes.CDLL(p.soname, mode=os.RTLD_NOLOAD | os.RTLD_NOW)
    except OSError:
        if p is CUDA:
            return None, f"no {p.soname} is loaded in this process (neither the interposer nor the NVIDIA driver)"
        return None, f"no {p.soname} (the xsched {p.name} interposer) is loaded in this process"
    try:
        ctypes.c_int.in_dll(cdll, p.marker)
    except ValueError:
        what = "the NVIDIA driver" if p is CUDA else "another library"
        return None, f"the {p.soname} loaded in this process is {what}, not the xsched interposer"
    try:
        abi_fn = getattr(cdll, p.prefix + "control_abi")
    except AttributeError:
        return None, "the xsched interposer loaded in this process has no control API (an older build: rebuild xsched)"
    abi_fn.restype = ctypes.c_uint32
    abi_fn.argtypes = []
    abi = int(abi_fn())
    if abi < p.required_abi:
        return None, (f"the xsched interposer loaded in this process has control API revision {abi}; "
                      f"this package needs {p.required_abi} (rebuild xsched)")
    control = Control(cdll, abi, p)
    if control.missing:
        return None, (f"the xsched interposer loaded in this process lacks {', '.join(control.missing)} "
                      "(a mismatched build: rebuild xsched)")
    return control, ""


def torch_is_rocm() -> bool:
    """True when the torch this process imported is a ROCm build (torch.version.hip). torch is
    not imported here: a process that has not imported it is not asked."""
    torch = sys.modules.get("torch")
    return bool(getattr(getattr(torch, "version", None), "hip", None))


def preferred() -> List[Platform]:
    """The platforms in the order they are looked for: HIP first for a ROCm build of torch."""
    return [HIP, CUDA] if torch_is_rocm() else [CUDA, HIP]


def _find(p: Platform) -> "Tuple[Optional[Control], str]":
    ctl = _controls.get(p.name)
    if ctl is not None:
        return ctl, ""
    with _lock:
        ctl = _controls.get(p.name)
        if ctl is not None:
            return ctl, ""
        ctl, why = _open(p)  # not found: asked again next time (the library may load later)
        if ctl is not None:
            _controls[p.name] = ctl
        return ctl, why


def control(platform: Optional[Platform] = None) -> Optional[Control]:
    """The control API of the interposer of `platform` (None: of whichever is loaded, in the
    preferred order) if it is loaded, else None. Cheap once found."""
    for p in [platform] if platform is not None else preferred():
        ctl = _find(p)[0]
        if ctl is not None:
            return ctl
    return None


def require(what: str, platform: Optional[Platform] = None) -> Control:
    """The control API (as control()), or InterposerNotLoadedError saying why it is missing and how to run."""
    tried = [platform] if platform is not None else preferred()
    whys = []
    for p in tried:
        ctl, why = _find(p)
        if ctl is not None:
            return ctl
        whys.append(why)
    first = tried[0]
    others = "".join(f"; nor the {p.name} interposer: {why}" for p, why in zip(tried[1:], whys[1:]))
    raise InterposerNotLoadedError(f"{what}: {first.name} streams are scheduled by the xsched {first.name} "
                                   f"interposer, but {whys[0]}{others}: {first.how_to_run}")


def loaded() -> bool:
    """True when this process runs under an xsched interposer (CUDA's or HIP's)."""
    return control() is not None
