"""Result codes of the C API and the exceptions they become."""
from __future__ import annotations

import enum
from typing import Dict, Optional, Type


class Result(enum.IntEnum):
    """An ``xs_result_t`` of the C API (include/xsched/xsched.h)."""

    OK = 0
    INVALID_ARG = 1
    INVALID_HANDLE = 2
    UNSUPPORTED = 3
    NO_MEMORY = 4
    TIMEOUT = 5
    PLATFORM = 6
    STATE = 7
    INTERNAL = 8


# The sentences of xs_result_string (src/core/result.cpp), for results that
# come from the interposer, which does not export it.
_SENTENCES: Dict[int, str] = {
    Result.OK: "success",
    Result.INVALID_ARG: "invalid argument",
    Result.INVALID_HANDLE: "invalid or destroyed handle",
    Result.UNSUPPORTED: "not supported by this platform or level",
    Result.NO_MEMORY: "out of host memory",
    Result.TIMEOUT: "timed out",
    Result.PLATFORM: "the platform reported an error",
    Result.STATE: "not allowed in the current state",
    Result.INTERNAL: "internal error in xsched",
}


def result_sentence(code: int) -> str:
    """The English sentence for a result code, as xs_result_string gives it."""
    return _SENTENCES.get(code, "unknown result code")


class XschedError(Exception):
    """An error from xsched. ``code`` is the C API's result (None for errors of the package itself)."""

    def __init__(self, message: str, code: Optional[Result] = None, function: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.function = function


class InvalidArgumentError(XschedError, ValueError):
    """An argument is out of range (``XS_ERR_INVALID_ARG``)."""


class InvalidHandleError(XschedError):
    """The queue, stream or device is gone, or was never known (``XS_ERR_INVALID_HANDLE``)."""


class UnsupportedError(XschedError):
    """The platform or level cannot do this (``XS_ERR_UNSUPPORTED``)."""


class OutOfMemoryError(XschedError, MemoryError):
    """Host memory ran out (``XS_ERR_NO_MEMORY``)."""


class WaitTimeoutError(XschedError, TimeoutError):
    """A wait with a timeout expired (``XS_ERR_TIMEOUT``)."""


class PlatformError(XschedError):
    """The device reported an error, e.g. a CUDA error of a queued command (``XS_ERR_PLATFORM``)."""


class StateError(XschedError, RuntimeError):
    """Not allowed in the object's current state (``XS_ERR_STATE``)."""


class InternalError(XschedError):
    """A bug in xsched (``XS_ERR_INTERNAL``): please report it."""


class LibraryNotFoundError(XschedError, OSError):
    """The C library libxsched.so could not be found or loaded."""


class InterposerNotLoadedError(XschedError, RuntimeError):
    """A GPU stream was named, but the program does not run under the xsched interposer of its platform."""


_BY_CODE: Dict[int, Type[XschedError]] = {
    Result.INVALID_ARG: InvalidArgumentError,
    Result.INVALID_HANDLE: InvalidHandleError,
    Result.UNSUPPORTED: UnsupportedError,
    Result.NO_MEMORY: OutOfMemoryError,
    Result.TIMEOUT: WaitTimeoutError,
    Result.PLATFORM: PlatformError,
    Result.STATE: StateError,
    Result.INTERNAL: InternalError,
}


def error_for(code: int, function: str, sentence: str, detail: str = "") -> XschedError:
    """The exception for a failed C call: "<function>: <sentence>[: <detail>]"."""
    message = f"{function}: {sentence}"
    if detail:
        message += f": {detail}"
    try:
        result: Optional[Result] = Result(code)
    except ValueError:
        result = None
    cls = _BY_CODE.get(code, XschedError)
    return cls(message, result, function)
