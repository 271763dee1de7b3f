"""XQueues: preemptible queues over CUDA and HIP streams (through the interposers) and host streams."""
from __future__ import annotations

import ctypes
import threading
import weakref
from dataclasses import dataclass
from typing import Any, List, Optional, Union

from . import _interposer, _library
from . import _native as n
from ._errors import InvalidHandleError, Result, XschedError
from ._streams import resolve
from .host import HostStream


@dataclass(frozen=True)
class QueueInfo:
    """A snapshot of a queue's state (``xs_queue_info_t``)."""

    ready: bool  #: it has commands pending or in flight
    suspended: bool  #: the scheduler or the user holds it
    level: n.Level  #: the preemption level in use
    window: int  #: most commands in flight at once
    pending: int  #: submitted, not launched yet
    in_flight: int  #: launched, not known complete
    submitted: int  #: id of the latest submitted command (ids start at 1)
    completed: int  #: every command with an id <= this has completed
    suspensions: int  #: times suspended since it was made
    error: Result  #: its sticky error, Result.OK if none
    priority: int  #: priority hint: higher runs first
    share: int  #: bandwidth share, relative to the other queues'
    timeslice: float  #: bandwidth and fair policies' timeslice in seconds (0: the scheduler's default)
    deadline: float  #: deadline and laxity policies: seconds after turning ready that its work is due (0: none)

    @staticmethod
    def _from(s: n.QueueInfoStruct) -> "QueueInfo":
        try:
            error = Result(s.error)
        except ValueError:
            error = Result.INTERNAL
        return QueueInfo(
            ready=bool(s.ready), suspended=bool(s.suspended), level=n.Level(s.level), window=int(s.window),
            pending=int(s.pending), in_flight=int(s.in_flight), submitted=int(s.submitted),
            completed=int(s.completed), suspensions=int(s.suspensions), error=error,
            priority=int(s.hints.priority), share=int(s.hints.share),
            timeslice=s.hints.timeslice_ns / n.NS_PER_S, deadline=s.hints.deadline_ns / n.NS_PER_S)


def _hints_struct(info: QueueInfo, priority: Optional[int], share: Optional[int], timeslice: Optional[float],
                  deadline: Optional[float]) -> n.Hints:
    h = n.Hints()
    h.priority = n.check_int32(priority, "priority") if priority is not None else info.priority
    h.share = int(share) if share is not None else info.share
    h.timeslice_ns = (n.seconds_to_ns(timeslice, "timeslice") if timeslice is not None
                      else int(round(info.timeslice * n.NS_PER_S)))
    h.deadline_ns = (n.seconds_to_ns(deadline, "deadline") if deadline is not None
                     else int(round(info.deadline * n.NS_PER_S)))
    return h


def _uuid_text(raw: bytes, prefix: str) -> str:
    """A device identity as `xsched list` prints it (core/device_id.h's DeviceId::text)."""
    if not any(raw):
        return "unknown"
    h = raw.hex()
    return f"{prefix}-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Queue:
    """A preemptible queue (an XQueue) over one native queue.

    ``xsched.Queue(stream)`` gives the queue of a CUDA stream (a
    :class:`CudaQueue`), or of a HIP stream (a :class:`HipQueue`) on a ROCm
    build of PyTorch or under the HIP interposer: pass a ``torch.cuda.Stream``,
    a raw stream handle, or nothing for torch's current stream. ``xsched.Queue(host_stream)`` makes a
    queue over a stream of the CPU reference device (a :class:`HostQueue`).

    Every method may be called from any thread, whichever thread made the
    stream or the queue. Failures raise :class:`xsched.XschedError`
    subclasses carrying the C error's message.
    """

    def __new__(cls, stream: Any = None, *, device: Optional[int] = None) -> "Queue":
        if cls is Queue:
            cls = HostQueue if isinstance(stream, HostStream) else _gpu_queue_type(_interposer.control())
        return super().__new__(cls)

    # ---- what every queue has; the GPU queues and HostQueue implement it ----
    @property
    def id(self) -> int:
        """A number unique in the process (a GPU queue's XQueue id: the one ``xsched list`` shows)."""
        raise NotImplementedError

    def query(self) -> QueueInfo:
        """The queue's state now."""
        raise NotImplementedError

    @property
    def device_uuid(self) -> str:
        """The identity of the queue's device, the same in every process: ``GPU-...`` as ``nvidia-smi
        -L`` prints it, ``hip-...`` for an AMD GPU (its HIP UUID), ``host-...`` for a CPU reference
        device, ``unknown``. Each device is a
        scheduling domain of its own: a queue is held only for queues of the same device."""
        raise NotImplementedError

    def set_hints(self, *, priority: Optional[int] = None, share: Optional[int] = None,
                  timeslice: Optional[float] = None, deadline: Optional[float] = None) -> None:
        """Changes several hints at once; those not given keep their values.

        priority: higher runs first (-1000000..1000000). share: the bandwidth
        and fair policies' share (1..1000000). timeslice: their slice in
        seconds (0: the scheduler's default, else 100 us..10 s). deadline: the
        deadline and laxity policies' due time in seconds after the queue turns
        ready (0: none, else 100 us..1 h). A value out of range raises
        InvalidArgumentError.
        """
        raise NotImplementedError

    def suspend(self, sync: bool = False) -> None:
        """Holds the queue until :meth:`resume` (the user's hold; the scheduler's is separate).

        Work submitted meanwhile waits on the host; submitting never blocks. With
        ``sync``, returns once the work in flight has drained (Level 1) or is held
        on the device (Levels 2 and 3).
        """
        raise NotImplementedError

    def resume(self) -> None:
        """Releases the hold of :meth:`suspend`."""
        raise NotImplementedError

    def wait_all(self, timeout: Optional[float] = None) -> bool:
        """Waits until every command the queue took so far has completed.

        timeout: seconds, None for no limit. Returns False if it expired. A
        command that failed on the device raises :class:`xsched.PlatformError`.
        """
        raise NotImplementedError

    # ---- derived from the above ----
    @property
    def priority(self) -> int:
        """The queue's priority hint (-1000000..1000000): higher runs first (the priority policy holds lower queues)."""
        return self.query().priority

    @priority.setter
    def priority(self, value: int) -> None:
        self._set_priority(n.check_int32(value, "priority"))

    @property
    def share(self) -> int:
        """The queue's bandwidth share (1..1000000), relative to the other queues' shares."""
        return self.query().share

    @share.setter
    def share(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"share must be an int, not {type(value).__name__}")
        if not 1 <= value < 2**32:
            raise ValueError(f"share {value} is not in 1..1000000")
        self._set_share(value)

    @property
    def ready(self) -> bool:
        """True while the queue has commands pending or in flight."""
        return self.query().ready

    @property
    def suspended(self) -> bool:
        """True while the scheduler or the user holds the queue."""
        return self.query().suspended

    def _set_priority(self, value: int) -> None:
        raise NotImplementedError

    def _set_share(self, value: int) -> None:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Queue) and type(other) is type(self) and other._key() == self._key()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._key()))

    def _key(self) -> int:
        return self.id


class _InterposedQueue(Queue):
    """The XQueue of a GPU stream, kept by an xsched interposer (CUDA's or HIP's): what both have.

    The interposer makes a queue for every stream a program uses; this object
    names one of them. It exists as long as the stream does (after the stream
    is destroyed, calls raise :class:`xsched.InvalidHandleError`). Needs the
    program to run under the interposer (``xsched run``), else
    :class:`xsched.InterposerNotLoadedError`.
    """

    _platform: _interposer.Platform  # the interposer whose queues these are
    _uuid_prefix: str  # how `xsched list` spells the platform's device identities

    def __init__(self, stream: Any = None, *, device: Optional[int] = None) -> None:
        self._ctl = _interposer.require(f"xsched.Queue({stream!r})", self._platform)
        handle, dev = resolve(stream, device)
        out = ctypes.c_uint64(0)
        self._ctl.call_api("stream_queue", ctypes.c_void_p(handle), dev, ctypes.byref(out))
        self._id = int(out.value)
        self._desc = self._describe()

    @classmethod
    def _from_id(cls, ctl: _interposer.Control, queue_id: int) -> "_InterposedQueue":
        q = object.__new__(cls)
        q._ctl = ctl
        q._id = queue_id
        q._desc = q._describe()
        return q

    def _describe(self) -> Any:
        d = self._platform.desc.empty()  # type: ignore[attr-defined]
        self._ctl.call_api("queue_describe", self._id, ctypes.byref(d))
        return d

    @property
    def id(self) -> int:
        return self._id

    @property
    def stream(self) -> int:
        """The raw stream handle (CUDA: 1 for a legacy default stream, 2 for a per-thread one; HIP: 0 for
        a null stream)."""
        return int(self._desc.stream or 0)

    @property
    def kind(self) -> n.StreamKind:
        """Which kind of stream: explicit, legacy default (HIP: a null stream) or per-thread default."""
        return n.StreamKind(self._desc.kind)

    @property
    def device(self) -> int:
        """The ordinal of the stream's device (-1 if unknown)."""
        return int(self._desc.device)

    @property
    def device_uuid(self) -> str:
        raw = (ctypes.c_uint8 * 16)()
        self._ctl.call_api("queue_device", self._id, ctypes.byref(raw), None)
        return _uuid_text(bytes(raw), self._uuid_prefix)

    def query(self) -> QueueInfo:
        info = n.QueueInfoStruct.empty()
        self._ctl.call_api("queue_query", self._id, ctypes.byref(info))
        return QueueInfo._from(info)

    def set_hints(self, *, priority: Optional[int] = None, share: Optional[int] = None,
                  timeslice: Optional[float] = None, deadline: Optional[float] = None) -> None:
        h = _hints_struct(self.query(), priority, share, timeslice, deadline)
        self._ctl.call_api("queue_set_hints", self._id, ctypes.byref(h))

    def _set_priority(self, value: int) -> None:
        self._ctl.call_api("queue_set_priority", self._id, value)

    def _set_share(self, value: int) -> None:
        self._ctl.call_api("queue_set_share", self._id, value)

    def suspend(self, sync: bool = False) -> None:
        self._ctl.call_api("queue_suspend", self._id, n.SUSPEND_SYNC if sync else 0)

    def resume(self) -> None:
        self._ctl.call_api("queue_resume", self._id)

    def wait_all(self, timeout: Optional[float] = None) -> bool:
        rc = self._ctl.raw("queue_wait_all")(self._id, n.timeout_to_ns(timeout))
        if rc == Result.TIMEOUT:
            return False
        if rc != 0:
            raise self._ctl.error(rc, self._ctl.fn("queue_wait_all"))
        return True

    def __repr__(self) -> str:
        return (f"<xsched.{type(self).__name__} {self._id}: {self.kind.name.lower()} stream {self.stream:#x} "
                f"on device {self.device}>")


class CudaQueue(_InterposedQueue):
    """The XQueue of a CUDA stream, kept by the xsched CUDA interposer (``xsched run``)."""

    _platform = _interposer.CUDA
    _uuid_prefix = "GPU"

    def __init__(self, stream: Any = None, *, device: Optional[int] = None) -> None:
        """stream: a torch.cuda.Stream, an object with ``__cuda_stream__``, a raw CUstream handle
        (0 or 1: the legacy default stream, 2: the calling thread's per-thread default stream), or
        None for torch's current stream. device: for the default streams, whose (default: the
        stream object's device, else the calling thread's current CUDA context)."""
        super().__init__(stream, device=device)

    @property
    def context(self) -> int:
        """The stream's CUcontext handle."""
        return int(self._desc.context or 0)

    @property
    def cuda_priority(self) -> int:
        """The stream's own CUDA priority (lower is more urgent); the queue's priority starts from it."""
        return int(self._desc.cuda_priority)


class HipQueue(_InterposedQueue):
    """The XQueue of a HIP stream, kept by the xsched HIP interposer (``xsched run --platform hip``).

    ``xsched.Queue(stream)`` gives one on a ROCm build of PyTorch (``torch.version.hip``), or
    wherever the HIP interposer is the one loaded.
    """

    _platform = _interposer.HIP
    _uuid_prefix = "hip"

    def __init__(self, stream: Any = None, *, device: Optional[int] = None) -> None:
        """stream: a torch.cuda.Stream of a ROCm build of torch, an object with ``cuda_stream``, a raw
        hipStream_t handle (0: a null stream), or None for torch's current stream. device: for the null
        stream, whose (default: the stream object's device, else the calling thread's current device)."""
        super().__init__(stream, device=device)

    @property
    def hip_priority(self) -> int:
        """The stream's own HIP priority (lower is more urgent); the queue's priority starts from it."""
        return int(self._desc.hip_priority)


class HostQueue(Queue):
    """An XQueue over a stream of the CPU reference device (libxsched.so).

    The device runs "kernels" that keep one of its units busy for a given
    time, with the scheduling of a real device: the tests, demos and the
    documentation's examples use it where there is no GPU. The queue joins
    the process's scheduler; :meth:`close` (or garbage collection) completes
    what it holds and removes it.
    """

    def __init__(self, stream: HostStream, *, device: Optional[int] = None) -> None:
        """stream: a :class:`xsched.HostStream` (device is not used here)."""
        if not isinstance(stream, HostStream):
            raise TypeError(f"a HostQueue needs a HostStream, not {type(stream).__name__}")
        self._lib = _library.library()
        self._stream = stream  # the native queue must outlive the XQueue
        handle = ctypes.c_void_p()
        self._lib.call("xs_queue_create", n.Platform.HOST, stream._handle(), None, ctypes.byref(handle))
        self._h: Optional[int] = handle.value
        self._finalizer = weakref.finalize(self, _destroy_host_queue, self._lib, self._h)
        with _host_queues_lock:
            _host_queues.add(self)

    def _handle(self) -> int:
        if self._h is None:
            raise InvalidHandleError("the host queue is closed", Result.INVALID_HANDLE)
        return self._h

    @property
    def device(self) -> int:
        """The ordinal of the queue's CPU device in this process (the n-th one made, from 0)."""
        ordinal = ctypes.c_int32()
        self._lib.call("xs_queue_device", self._handle(), None, ctypes.byref(ordinal))
        return ordinal.value

    @property
    def device_uuid(self) -> str:
        raw = (ctypes.c_uint8 * 16)()
        self._lib.call("xs_queue_device", self._handle(), ctypes.byref(raw), None)
        return _uuid_text(bytes(raw), "host")

    @property
    def id(self) -> int:
        """The number of the queue's C handle (unique in the process, never reused)."""
        return int(self._handle())

    def submit_kernel(self, duration: float) -> int:
        """Submits a kernel that keeps a device unit busy `duration` seconds; returns its command id.

        Never blocks, also while the queue is suspended. A scope of
        :func:`xsched.priority` gives the queue its priority first.
        """
        k = n.HostKernel(n.seconds_to_ns(duration, "duration"), None, None)
        cmd = n.Command()
        cmd.kind = n.CMD_KERNEL
        cmd.est_ns = k.duration_ns
        cmd.u.kernel.desc = ctypes.cast(ctypes.pointer(k), ctypes.c_void_p)
        cmd.u.kernel.desc_size = ctypes.sizeof(k)
        out = ctypes.c_uint64(0)
        self._lib.call("xs_queue_submit", self._handle(), ctypes.byref(cmd), ctypes.byref(out))
        return int(out.value)

    def wait(self, command: int, timeout: Optional[float] = None) -> bool:
        """Waits until command `command` (an id from :meth:`submit_kernel`) has completed.

        Returns False if the timeout (seconds) expired first.
        """
        rc = self._lib.cdll.xs_queue_wait(self._handle(), command, n.timeout_to_ns(timeout))
        if rc == Result.TIMEOUT:
            return False
        if rc != 0:
            raise self._lib.error(rc, "xs_queue_wait")
        return True

    def query(self) -> QueueInfo:
        info = n.QueueInfoStruct.empty()
        self._lib.call("xs_queue_query", self._handle(), ctypes.byref(info))
        return QueueInfo._from(info)

    def set_hints(self, *, priority: Optional[int] = None, share: Optional[int] = None,
                  timeslice: Optional[float] = None, deadline: Optional[float] = None) -> None:
        h = _hints_struct(self.query(), priority, share, timeslice, deadline)
        self._lib.call("xs_queue_set_hints", self._handle(), ctypes.byref(h))

    def _set_priority(self, value: int) -> None:
        self._lib.call("xs_queue_set_priority", self._handle(), value)

    def _set_share(self, value: int) -> None:
        self._lib.call("xs_queue_set_share", self._handle(), value)

    def suspend(self, sync: bool = False) -> None:
        self._lib.call("xs_queue_suspend", self._handle(), n.SUSPEND_SYNC if sync else 0)

    def resume(self) -> None:
        self._lib.call("xs_queue_resume", self._handle())

    def wait_all(self, timeout: Optional[float] = None) -> bool:
        rc = self._lib.cdll.xs_queue_wait_all(self._handle(), n.timeout_to_ns(timeout))
        if rc == Result.TIMEOUT:
            return False
        if rc != 0:
            raise self._lib.error(rc, "xs_queue_wait_all")
        return True

    def close(self) -> None:
        """Completes every submitted command, removes the queue from the scheduler and frees it."""
        if self._h is not None:
            self._h = None
            self._finalizer()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._h is None

    def __enter__(self) -> "HostQueue":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _key(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        state = "closed" if self._h is None else f"{self._h:#x}"
        return f"<xsched.HostQueue {state}>"


def _destroy_host_queue(lib: "_library.Library", handle: int) -> None:
    lib.cdll.xs_queue_destroy(handle)


_host_queues: "weakref.WeakSet[HostQueue]" = weakref.WeakSet()
_host_queues_lock = threading.Lock()


def _gpu_queue_type(ctl: Optional[_interposer.Control]) -> "type[_InterposedQueue]":
    """The class of the loaded interposer's queues; without one, that of the platform looked for first."""
    platform = ctl.platform if ctl is not None else _interposer.preferred()[0]
    return HipQueue if platform is _interposer.HIP else CudaQueue


def queues() -> List[Union[CudaQueue, HipQueue, HostQueue]]:
    """Every queue of this process: the GPU streams' queues (under an interposer) and open host queues."""
    out: List[Union[CudaQueue, HipQueue, HostQueue]] = []
    ctl = _interposer.control()
    if ctl is not None:
        cls = _gpu_queue_type(ctl)
        for queue_id in ctl.list_queues():
            try:
                out.append(cls._from_id(ctl, queue_id))  # type: ignore[arg-type]
            except XschedError:  # its stream was destroyed meanwhile
                continue
    with _host_queues_lock:
        out += [q for q in list(_host_queues) if not q.closed]
    return out
