"""The process's scheduler: its policy, process-wide hints, and priority scopes.

Two copies of xsched may live in a process: an interposer's (CUDA's or
HIP's: it schedules the GPU streams of a program run under ``xsched run``) and
libxsched.so's (host-device queues, and programs that link the C API). Each
call here goes to the interposer when it is loaded, and to libxsched.so when
the process uses it (it has loaded it, or there is no interposer).
"""
from __future__ import annotations

import contextlib
import ctypes
import enum
import threading
from typing import Any, Callable, List, Optional, Tuple, Type, Union

from . import _interposer, _library
from . import _native as n
from ._errors import LibraryNotFoundError

PolicyLike = Union[enum.IntEnum, str, int]


class _Target:
    """One copy of xsched: how to reach its scheduler calls."""

    def __init__(self, name: str, call: Callable[..., None], cdll: Any, prefix: str) -> None:
        self.name = name
        self.call = call
        self.cdll = cdll
        self.prefix = prefix  # "xs_", "xs_cuda_" or "xs_hip_"

    def fn(self, name: str) -> str:
        return self.prefix + name


def _targets() -> List[_Target]:
    """The copies of xsched the process uses; LibraryNotFoundError if none can be reached."""
    out: List[_Target] = []
    ctl = _interposer.control()
    if ctl is not None:
        out.append(_Target("interposer", ctl.call, ctl.cdll, ctl.platform.prefix))
    lib = _library.loaded()
    if lib is None and ctl is None:
        try:
            lib = _library.library()
        except LibraryNotFoundError as exc:
            raise LibraryNotFoundError(
                f"{exc} (and this process does not run under an xsched interposer either: "
                f"{_interposer.HOW_TO_RUN})") from None
    if lib is not None:
        out.append(_Target("library", lib.call, lib.cdll, "xs_"))
    return out


# Far more than there will be policies: a bound on asking for names, should
# a library answer every value with one.
_MOST_POLICIES = 256
_policy_lock = threading.Lock()
_policy_type: Optional[Type[enum.IntEnum]] = None


def _policy_names() -> List[Tuple[str, int]]:
    """(NAME, value) of every policy, as the C library names them (values from 0 up to the first unnamed)."""
    ctl = _interposer.control()
    if ctl is not None and ctl.names_policies:
        name_of = ctl.policy_name  # the interposer's copy: libxsched.so stays unloaded
    else:
        name_of = _library.library().policy_name
    out = []
    for value in range(_MOST_POLICIES):
        name = name_of(value)
        if name is None:
            break
        out.append((name.upper(), value))
    return out


def policy_type() -> Type[enum.IntEnum]:
    """xsched.Policy: an IntEnum of the scheduling policies (``xs_policy_t``), made on first use.

    Its members are the policies the C library knows, named as it names them
    (``xs_policy_name``: Policy.NONE, Policy.PRIORITY, ...), so a policy added
    to the library needs nothing here.
    """
    global _policy_type
    with _policy_lock:
        if _policy_type is None:
            made = enum.IntEnum("Policy", _policy_names(), module="xsched", qualname="Policy")  # type: ignore[misc]
            made.__doc__ = policy_type.__doc__
            _policy_type = made
        return _policy_type


def policy_from(policy: PolicyLike) -> enum.IntEnum:
    """A Policy from a Policy, its value, or its name ("none", "priority", "bandwidth", ..., any case)."""
    kind = policy_type()
    if isinstance(policy, kind):
        return policy
    if isinstance(policy, str):
        try:
            return kind[policy.strip().upper()]
        except KeyError:
            names = ", ".join(p.name.lower() for p in kind)
            raise ValueError(f"unknown policy {policy!r}; known: {names}") from None
    if isinstance(policy, int) and not isinstance(policy, bool):
        return kind(policy)
    raise TypeError(f"a policy is a name or an xsched.Policy, not {type(policy).__name__}")


def set_policy(policy: PolicyLike) -> None:
    """Switches the in-process scheduler's policy (as XSCHED_POLICY sets it at start).

    Under xschedd the daemon's policy decides; this one takes over when the
    process schedules itself again.
    """
    p = policy_from(policy)
    for t in _targets():
        t.call(t.fn("set_policy"), int(p))


def get_policy() -> enum.IntEnum:
    """The in-process scheduler's policy (the interposer's, when it is loaded)."""
    t = _targets()[0]
    out = ctypes.c_int(0)
    t.call(t.fn("get_policy"), ctypes.byref(out))
    return policy_type()(out.value)


def set_process_hints(*, priority: Optional[int] = None, share: Optional[int] = None,
                      deadline: Optional[float] = None) -> None:
    """Sets hints for every queue of the process and for those it makes later (as ``xsched set --pid``).

    priority: the process's base priority (-1000000..1000000); a queue whose
    stream has its own CUDA priority keeps that offset above it. share:
    bandwidth share (1..1000000). deadline: seconds after a queue turns ready
    that its work is due (deadline policy; 0: none, else 100 us..1 h). Hints
    not given are left as they are.
    """
    h = n.Hints()
    fields = 0
    if priority is not None:
        h.priority = n.check_int32(priority, "priority")
        fields |= n.HINT_PRIORITY
    if share is not None:
        if isinstance(share, bool) or not isinstance(share, int):
            raise TypeError(f"share must be an int, not {type(share).__name__}")
        if not 1 <= share < 2**32:
            raise ValueError(f"share {share} is not in 1..1000000")
        h.share = share
        fields |= n.HINT_SHARE
    if deadline is not None:
        h.deadline_ns = n.seconds_to_ns(deadline, "deadline")
        fields |= n.HINT_DEADLINE
    if fields == 0:
        raise ValueError("set_process_hints() needs at least one of priority, share, deadline")
    for t in _targets():
        t.call(t.fn("set_process_hints"), fields, ctypes.byref(h))


_scopes = threading.local()  # .stack: per entered block, innermost last, a _Scope


class _Scope:
    """One entered priority block: the targets it pushed to, where and how deep it began."""

    __slots__ = ("owner", "pushed", "thread", "depth")

    def __init__(self, owner: "priority", pushed: List[_Target], thread: int, depth: int) -> None:
        self.owner = owner
        self.pushed = pushed
        self.thread = thread
        self.depth = depth


class priority(contextlib.ContextDecorator):
    """Runs the work the current thread submits inside the block at priority `value`.

    ::

        with xsched.priority(10):
            y = model(x)              # the streams these kernels go to run at 10
            torch.cuda.current_stream().synchronize()  # ... until they completed

    From the first launch (or submit) on a stream inside the block, that
    stream's queue takes the priority, before the work reaches the scheduler.
    The priority belongs to the queue: another thread's work on that stream
    runs at it too while the block lasts, and where blocks of several threads
    cover one queue, the newest wins. When the block ends, each such queue
    goes back to its own priority, unless another thread's block still covers
    it. Work still queued when the block ends runs at the queue's own
    priority again: end the block after synchronising if all of it must run
    at `value`.

    Blocks nest, and must end on the thread that began them, innermost
    first: no ``await`` or ``yield`` inside a block (another task or the
    generator's consumer would begin and end blocks in between). A block that
    ends out of order raises RuntimeError and ends nothing. As a decorator it
    covers the call only: a decorated async function or generator function is
    covered while its coroutine or generator is created, not while it runs.
    """

    def __init__(self, value: int) -> None:
        self.value = n.check_int32(value, "priority")
        # The blocks of this object still open, per thread: one object may
        # be entered on several threads at once (a decorated function).
        self._open: List[_Scope] = []
        self._lock = threading.Lock()

    def __enter__(self) -> "priority":
        pushed: List[_Target] = []
        try:
            for t in _targets():
                t.call(t.fn("thread_priority_push"), self.value)
                pushed.append(t)
        except BaseException:
            for t in reversed(pushed):
                t.call(t.fn("thread_priority_pop"))
            raise
        stack = getattr(_scopes, "stack", None)
        if stack is None:
            stack = _scopes.stack = []
        scope = _Scope(self, pushed, threading.get_ident(), len(stack))
        stack.append(scope)
        with self._lock:
            self._open.append(scope)
        return self

    def __exit__(self, *exc: object) -> None:
        here = threading.get_ident()
        stack = getattr(_scopes, "stack", None) or []
        with self._lock:
            mine = [s for s in self._open if s.thread == here]
            if not mine:
                # The C scopes are per thread: popping here would end another block.
                where = "another thread" if self._open else "no thread (it was not entered)"
                raise RuntimeError(
                    f"{self!r}: the block ends on a thread other than the one it began on ({where}); "
                    "its scope stays in place there. A block must not span an await or a yield: "
                    "a generator or coroutine suspended inside it may be finished on another thread")
            scope = mine[-1]
            if scope.depth != len(stack) - 1 or stack[scope.depth] is not scope:
                raise RuntimeError(
                    f"{self!r}: the block ends before a block begun inside it (blocks end innermost first); "
                    "nothing was ended. Interleaved asyncio tasks or generators suspended inside a block "
                    "do this: do not await or yield inside a priority block")
            self._open.remove(scope)
            stack.pop()
        for t in reversed(scope.pushed):
            t.call(t.fn("thread_priority_pop"))

    def __repr__(self) -> str:
        return f"xsched.priority({self.value})"


def current_priority() -> Optional[int]:
    """The priority of the calling thread's innermost :class:`priority` block, None outside any."""
    stack = getattr(_scopes, "stack", None)
    if not stack or not stack[-1].pushed:
        return None
    t = stack[-1].pushed[0]
    out = ctypes.c_int32(0)
    t.call(t.fn("thread_priority_get"), ctypes.byref(out))
    return int(out.value)
