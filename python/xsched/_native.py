"""The C structs and enums the package exchanges with the C libraries (ctypes).

Layouts follow include/xsched/xsched.h, include/xsched/xsched_cuda.h and
include/xsched/xsched_hip.h on x86-64 Linux; the structs that carry ``struct_size`` are checked by the C
side, so a layout mismatch is an error, not silent corruption.
"""
from __future__ import annotations

import ctypes
import enum

NS_PER_S = 1_000_000_000
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
WAIT_FOREVER = -1


# Scheduling policies (xs_policy_t) are not spelled out here: the C library
# names them (xs_policy_name), and scheduling.policy_type() builds
# xsched.Policy from those names on first use.


class Level(enum.IntEnum):
    """Preemption levels of the hardware model (``xs_level_t``)."""

    AUTO = 0  #: the highest the hardware queue supports
    BLOCK = 1  #: stop launching; in-flight commands finish
    DEACTIVATE = 2  #: also hold launched commands that have not started
    INTERRUPT = 3  #: also stop the running command


class Platform(enum.IntEnum):
    """Platforms of native queues (``xs_platform_t``)."""

    HOST = 1
    CUDA = 2


class StreamKind(enum.IntEnum):
    """What kind of GPU stream a queue schedules (``xs_cuda_stream_kind_t``, ``xs_hip_stream_kind_t``:
    the same values)."""

    EXPLICIT = 0  #: a stream the program made (torch.cuda.Stream, cuStreamCreate, hipStreamCreate)
    LEGACY = 1  #: a context's legacy default stream (PyTorch's default stream); with HIP, a device's null stream
    PER_THREAD = 2  #: a thread's per-thread default stream


# Fields of xs_set_process_hints.
HINT_PRIORITY = 1
HINT_SHARE = 2
HINT_DEADLINE = 4
SUSPEND_SYNC = 1
CMD_KERNEL = 1


class Hints(ctypes.Structure):
    """``xs_hints_t``."""

    _fields_ = [
        ("priority", ctypes.c_int32),
        ("share", ctypes.c_uint32),
        ("timeslice_ns", ctypes.c_int64),
        ("deadline_ns", ctypes.c_int64),
    ]


class QueueInfoStruct(ctypes.Structure):
    """``xs_queue_info_t``."""

    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("ready", ctypes.c_int),
        ("suspended", ctypes.c_int),
        ("level", ctypes.c_int),
        ("window", ctypes.c_uint32),
        ("pending", ctypes.c_uint64),
        ("in_flight", ctypes.c_uint64),
        ("submitted", ctypes.c_uint64),
        ("completed", ctypes.c_uint64),
        ("suspensions", ctypes.c_uint64),
        ("error", ctypes.c_int),
        ("hints", Hints),
    ]

    @classmethod
    def empty(cls) -> "QueueInfoStruct":
        """A zeroed struct with struct_size set, ready for a query."""
        info = cls()
        info.struct_size = ctypes.sizeof(cls)
        return info


class CudaQueueDesc(ctypes.Structure):
    """``xs_cuda_queue_desc_t``."""

    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("kind", ctypes.c_int),
        ("queue", ctypes.c_uint64),
        ("stream", ctypes.c_void_p),
        ("context", ctypes.c_void_p),
        ("device", ctypes.c_int32),
        ("cuda_priority", ctypes.c_int32),
        ("blocking", ctypes.c_int32),
    ]

    @classmethod
    def empty(cls) -> "CudaQueueDesc":
        """A zeroed struct with struct_size set."""
        desc = cls()
        desc.struct_size = ctypes.sizeof(cls)
        return desc


class HipQueueDesc(ctypes.Structure):
    """``xs_hip_queue_desc_t``."""

    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("kind", ctypes.c_int),
        ("queue", ctypes.c_uint64),
        ("stream", ctypes.c_void_p),
        ("device", ctypes.c_int32),
        ("hip_priority", ctypes.c_int32),
        ("blocking", ctypes.c_int32),
    ]

    @classmethod
    def empty(cls) -> "HipQueueDesc":
        """A zeroed struct with struct_size set."""
        desc = cls()
        desc.struct_size = ctypes.sizeof(cls)
        return desc


class HostKernel(ctypes.Structure):
    """``xs_host_kernel_t``: keeps a unit of the CPU reference device busy for duration_ns."""

    _fields_ = [
        ("duration_ns", ctypes.c_uint64),
        ("fn", ctypes.c_void_p),
        ("arg", ctypes.c_void_p),
    ]


class _KernelOperands(ctypes.Structure):
    _fields_ = [("desc", ctypes.c_void_p), ("desc_size", ctypes.c_size_t)]


class _CopyOperands(ctypes.Structure):
    _fields_ = [("dst", ctypes.c_void_p), ("src", ctypes.c_void_p), ("bytes", ctypes.c_size_t)]


class _Operands(ctypes.Union):
    # The copy variant is the largest member: it gives the union its size.
    _fields_ = [("kernel", _KernelOperands), ("copy", _CopyOperands)]


class Command(ctypes.Structure):
    """``xs_command_t`` (only the kinds the package submits are spelled out)."""

    _fields_ = [("kind", ctypes.c_int), ("est_ns", ctypes.c_int64), ("u", _Operands)]


def seconds_to_ns(seconds: float, what: str) -> int:
    """A non-negative duration in seconds as whole nanoseconds (ValueError otherwise)."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(seconds).__name__}")
    if not seconds >= 0:  # also rejects NaN
        raise ValueError(f"{what} must be >= 0 seconds, not {seconds!r}")
    return int(round(seconds * NS_PER_S))


def timeout_to_ns(timeout: "float | None") -> int:
    """A wait's timeout: None waits forever."""
    return WAIT_FOREVER if timeout is None else seconds_to_ns(timeout, "timeout")


def check_int32(value: int, what: str) -> int:
    """value as an int32 (TypeError / ValueError otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not INT32_MIN <= value <= INT32_MAX:
        raise ValueError(f"{what} {value} does not fit in 32 bits")
    return value


def declare(cdll: ctypes.CDLL, protos: "dict[str, tuple[object, list]]") -> "list[str]":
    """Gives each function of cdll named in protos its (restype, argtypes); returns the names cdll lacks."""
    missing = []
    for name, (restype, argtypes) in protos.items():
        try:
            fn = getattr(cdll, name)
        except AttributeError:
            missing.append(name)
            continue
        fn.restype = restype
        fn.argtypes = argtypes
    return missing
