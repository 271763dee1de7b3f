"""What counts as a CUDA stream for xsched.Queue, and its raw handle.

torch is imported only when no stream is given (the current stream is
torch's); every other form works without it.
"""
from __future__ import annotations

import ctypes
from typing import Any, Optional, Tuple

#: The raw handles of CUDA's default streams (cuda.h).
LEGACY_STREAM = 0x1
PER_THREAD_STREAM = 0x2


def _current_torch_stream() -> Any:
    try:
        import torch  # noqa: PLC0415 (imported only when needed)
    except ImportError as exc:
        raise TypeError("xsched.Queue() without a stream takes torch's current CUDA stream, but torch cannot "
                        f"be imported ({exc}): pass a stream handle instead") from exc
    return torch.cuda.current_stream()


def _device_index(device: Any) -> Optional[int]:
    """A torch.device, an int or None as a device ordinal (None: unknown)."""
    if device is None:
        return None
    index = getattr(device, "index", device)
    return None if index is None else int(index)


def resolve(stream: Any, device: Optional[int]) -> Tuple[int, int]:
    """(raw CUstream handle, device ordinal or -1) for the stream-like `stream`.

    Accepted: None (torch's current stream), a torch.cuda.Stream or anything with
    a ``cuda_stream`` attribute (torch.cuda.ExternalStream too), an object with
    ``__cuda_stream__()`` (the CUDA stream protocol of CuPy, Numba and
    cuda-python), an int handle, or a ctypes.c_void_p. 0 and 1 name the legacy
    default stream, 2 the calling thread's per-thread default stream; for
    those, `device` says whose (default: the object's own device, else the
    calling thread's current context).
    """
    if stream is None:
        stream = _current_torch_stream()
    own_device: Optional[int] = None
    if isinstance(stream, bool):
        raise TypeError("a stream cannot be a bool")
    if isinstance(stream, int):
        handle = stream
    elif isinstance(stream, ctypes.c_void_p):
        handle = stream.value or 0
    elif hasattr(stream, "__cuda_stream__"):
        proto = stream.__cuda_stream__()
        handle = int(proto[1] if isinstance(proto, tuple) else proto)
        own_device = _device_index(getattr(stream, "device", None))
    elif hasattr(stream, "cuda_stream"):
        handle = int(stream.cuda_stream)
        own_device = _device_index(getattr(stream, "device", None))
    else:
        raise TypeError(f"{type(stream).__name__} is not a CUDA stream: pass a torch.cuda.Stream, an object with "
                        "__cuda_stream__, a stream handle (int), or nothing for torch's current stream")
    if handle < 0 or handle >= 2**64:
        raise ValueError(f"{handle} is not a stream handle")
    dev = _device_index(device)
    if dev is None:
        dev = own_device
    return handle, -1 if dev is None else dev
