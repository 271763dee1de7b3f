"""The CPU reference device (libxsched.so): a real asynchronous device on CPU threads.

Its streams share `units` execution units the way streams share a GPU, so the
scheduling seen through it is the scheduling a GPU gets. It needs no GPU:
tests and examples use it.
"""
from __future__ import annotations

import ctypes
import weakref
from typing import Optional

from . import _library
from ._errors import InvalidHandleError, Result


def _destroy(lib: "_library.Library", fn: str, handle: int) -> None:
    getattr(lib.cdll, fn)(handle)


class HostDevice:
    """A CPU reference device with `units` execution units (1 to 1024).

    Use it as a context manager, or call :meth:`close`; streams made on it
    must be closed (or collected) first.
    """

    def __init__(self, units: int = 1) -> None:
        if isinstance(units, bool) or not isinstance(units, int):
            raise TypeError(f"units must be an int, not {type(units).__name__}")
        if not 1 <= units <= 1024:
            raise ValueError(f"units {units} is not in 1..1024")
        self._lib = _library.library()
        handle = ctypes.c_void_p()
        self._lib.call("xs_host_device_create", units, ctypes.byref(handle))
        self._h: Optional[int] = handle.value
        self.units = units
        self._finalizer = weakref.finalize(self, _destroy, self._lib, "xs_host_device_destroy", self._h)

    def _handle(self) -> int:
        if self._h is None:
            raise InvalidHandleError("the host device is closed", Result.INVALID_HANDLE)
        return self._h

    def stream(self) -> "HostStream":
        """A new stream (native queue) of this device."""
        return HostStream(self)

    def reserve(self, units: int) -> None:
        """Spatial reservation: while a more urgent queue is around, less urgent queues' kernels leave
        the last `units` units free (0: none; fewer than the device's units). Turns reservation on in
        the process's scheduler."""
        if isinstance(units, bool) or not isinstance(units, int):
            raise TypeError(f"units must be an int, not {type(units).__name__}")
        if not 0 <= units < self.units:
            raise ValueError(f"units {units} is not in 0..{self.units - 1}")
        self._lib.call("xs_host_device_reserve", self._handle(), units)

    def close(self) -> None:
        """Completes the work launched on the device and frees it."""
        if self._h is not None:
            self._h = None
            self._finalizer()

    def __enter__(self) -> "HostDevice":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<xsched.HostDevice units={self.units}{' closed' if self._h is None else ''}>"


class HostStream:
    """A stream of a :class:`HostDevice`: wrap it in ``xsched.Queue(stream)`` to schedule it."""

    def __init__(self, device: HostDevice) -> None:
        self.device = device  # kept alive as long as the stream
        self._lib = device._lib
        handle = ctypes.c_void_p()
        self._lib.call("xs_host_stream_create", device._handle(), ctypes.byref(handle))
        self._h: Optional[int] = handle.value
        self._finalizer = weakref.finalize(self, _destroy, self._lib, "xs_host_stream_destroy", self._h)

    def _handle(self) -> int:
        if self._h is None:
            raise InvalidHandleError("the host stream is closed", Result.INVALID_HANDLE)
        return self._h

    def close(self) -> None:
        """Frees the stream (its queue must be closed first)."""
        if self._h is not None:
            self._h = None
            self._finalizer()

    def __repr__(self) -> str:
        return f"<xsched.HostStream{' closed' if self._h is None else ''}>"
