"""xsched: preemptive scheduling of GPU work from Python.

Under ``xsched run`` (or ``python -m xsched run``) every CUDA stream of the
program is an XQueue of the xsched CUDA interposer (under ``xsched run
--platform hip``, every HIP stream one of the HIP interposer: a ROCm build of
PyTorch); this package reaches them:

    import torch, xsched

    urgent = torch.cuda.Stream()
    q = xsched.Queue(urgent)          # from any thread, whichever made the stream
    q.priority = 10                   # preempts every stream below it
    with xsched.priority(5):          # what this thread launches here runs at 5
        y = model(x)
        torch.cuda.current_stream().synchronize()  # stay until it ran: launches return at once
    xsched.set_policy("bandwidth")

Without an interposer, GPU streams cannot be scheduled (``xsched.Queue``
of one raises :class:`InterposerNotLoadedError`); the CPU reference device
(:class:`HostDevice`) of the C library libxsched.so works anywhere.
docs/python.md in the xsched repository is the guide.
"""
from __future__ import annotations

from typing import Tuple

from . import _interposer, _library
from ._errors import (
    InternalError,
    InterposerNotLoadedError,
    InvalidArgumentError,
    InvalidHandleError,
    LibraryNotFoundError,
    OutOfMemoryError,
    PlatformError,
    Result,
    StateError,
    UnsupportedError,
    WaitTimeoutError,
    XschedError,
)
from ._native import Level, StreamKind
from .host import HostDevice, HostStream
from .queue import CudaQueue, HipQueue, HostQueue, Queue, QueueInfo, queues
from .scheduling import current_priority, get_policy, priority, set_policy, set_process_hints
from .scheduling import policy_type as _policy_type

__version__ = "0.2.0"

__all__ = [
    "CudaQueue", "HipQueue", "HostDevice", "HostQueue", "HostStream", "InternalError", "InterposerNotLoadedError",
    "InvalidArgumentError", "InvalidHandleError", "Level", "LibraryNotFoundError", "OutOfMemoryError",
    "PlatformError", "Policy", "Queue", "QueueInfo", "Result", "StateError", "StreamKind", "UnsupportedError",
    "WaitTimeoutError", "XschedError", "current_priority", "get_policy", "interposer_loaded", "library_path",
    "library_version", "priority", "queues", "set_policy", "set_process_hints",
]


def __getattr__(name: str) -> object:
    # xsched.Policy is made from the C library's names on first use, so that
    # importing the package still needs no library.
    if name == "Policy":
        return _policy_type()
    raise AttributeError(f"module 'xsched' has no attribute {name!r}")


def interposer_loaded() -> bool:
    """True when this process runs under an xsched interposer (``xsched run``: CUDA's, or HIP's)."""
    return _interposer.loaded()


def library_path() -> str:
    """The path of the libxsched.so the package uses, loading it if needed (LibraryNotFoundError if none)."""
    return _library.library().path


def library_version() -> Tuple[int, int, int]:
    """The version of libxsched.so as (major, minor, patch), loading it if needed."""
    return _library.library().version()
