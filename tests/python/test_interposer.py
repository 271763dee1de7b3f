"""The package in a process that runs under the CUDA interposer, in front of the fake CUDA
driver (tests/fake_cuda): Queue() of raw stream handles from any thread, default streams,
hints, suspension, priority scopes, the policy and process hints, checked against what
the fake driver saw. ctest runs this file with the interposer preloaded
(python_interposer_test); elsewhere it is skipped."""
from __future__ import annotations

import ctypes
import os
import threading
import time

import pytest

import xsched

if not xsched.interposer_loaded() or not os.environ.get("XS_TEST_FAKE_CUDA"):
    pytest.skip("needs the interposer preloaded in front of the fake CUDA driver (ctest python_interposer_test)",
                allow_module_level=True)

NON_BLOCKING = 0x1
_FLAGS = os.RTLD_NOLOAD | os.RTLD_NOW


class FakeCuda:
    """The driver API through the interposer (ctypes), and the fake driver's test API."""

    def __init__(self) -> None:
        self.cu = ctypes.CDLL("libcuda.so.1", mode=_FLAGS)  # the interposer, by its soname
        self.check(self.cu.cuInit(0), "cuInit")  # the interposer loads the (fake) driver now
        self.fake = ctypes.CDLL(os.environ["XS_TEST_FAKE_CUDA"], mode=_FLAGS)  # the interposer's driver
        kernels = ctypes.CDLL(os.environ["XS_TEST_FAKE_KERNELS"])
        kernels.xs_test_fake_sleep_kernel.restype = ctypes.c_void_p
        self.sleep_kernel = kernels.xs_test_fake_sleep_kernel()
        self.fake.fake_cuda_launch_count.restype = ctypes.c_ulonglong
        self.fake.fake_cuda_inject_error.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint]
        self.cu.cuLaunchKernel.argtypes = [ctypes.c_void_p] + [ctypes.c_uint] * 7 + [
            ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]
        for name in ("cuStreamSynchronize", "cuStreamDestroy_v2", "cuCtxSetCurrent"):
            getattr(self.cu, name).argtypes = [ctypes.c_void_p]
        dev = ctypes.c_int(0)
        self.check(self.cu.cuDeviceGet(ctypes.byref(dev), 0), "cuDeviceGet")
        self.ctx = ctypes.c_void_p()
        self.check(self.cu.cuDevicePrimaryCtxRetain(ctypes.byref(self.ctx), dev), "cuDevicePrimaryCtxRetain")
        self.make_current()

    @staticmethod
    def check(rc: int, what: str) -> None:
        assert rc == 0, f"{what} returned CUresult {rc}"

    def make_current(self) -> None:
        """Makes the primary context current in the calling thread."""
        self.check(self.cu.cuCtxSetCurrent(self.ctx), "cuCtxSetCurrent")

    def stream(self, cuda_priority: int = 0) -> int:
        s = ctypes.c_void_p()
        self.check(self.cu.cuStreamCreateWithPriority(ctypes.byref(s), NON_BLOCKING, cuda_priority),
                   "cuStreamCreateWithPriority")
        return int(s.value)

    def sleep(self, stream: int, microseconds: int) -> None:
        """Launches the fake's sleep kernel on stream (through the interposer)."""
        us = ctypes.c_uint(microseconds)
        params = (ctypes.c_void_p * 1)(ctypes.cast(ctypes.pointer(us), ctypes.c_void_p))
        self.check(self.cu.cuLaunchKernel(self.sleep_kernel, 1, 1, 1, 1, 1, 1, 0, stream, params, None),
                   "cuLaunchKernel")

    def synchronize(self, stream: int) -> int:
        return self.cu.cuStreamSynchronize(stream)

    def destroy(self, stream: int) -> int:
        return self.cu.cuStreamDestroy_v2(stream)

    def launches(self) -> int:
        """Kernel launches that reached the (fake) driver so far."""
        return int(self.fake.fake_cuda_launch_count())


@pytest.fixture(scope="module")
def cuda() -> FakeCuda:
    return FakeCuda()


@pytest.fixture()
def streams(cuda):
    """Makes streams for the test and destroys them after it."""
    made = []

    def make(cuda_priority: int = 0) -> int:
        made.append(cuda.stream(cuda_priority))
        return made[-1]

    yield make
    for s in made:
        cuda.synchronize(s)
        cuda.destroy(s)  # a test's sticky error may come back here: not its concern


def in_thread(fn):
    """Runs fn in a new thread (without a current CUDA context) and returns its result or raises its error."""
    out = {}

    def body() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            out["error"] = exc

    t = threading.Thread(target=body)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out.get("value")


def eventually(pred, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            return False
        time.sleep(0.001)
    return True


def test_queue_of_a_raw_stream(cuda, streams):
    s = streams(-1)
    q = xsched.Queue(s)
    assert isinstance(q, xsched.CudaQueue)
    assert q == xsched.Queue(s) and q.id > 0
    assert (q.stream, q.kind, q.device, q.cuda_priority) == (s, xsched.StreamKind.EXPLICIT, 0, -1)
    assert q.context == cuda.ctx.value
    assert q.priority == 1, "CUDA priority -1 is xsched priority +1"
    cuda.sleep(s, 10)
    assert q.wait_all(timeout=5)
    info = q.query()
    assert (info.submitted, info.completed, info.level) == (1, 1, xsched.Level.BLOCK)
    assert q in xsched.queues()
    assert "CudaQueue" in repr(q)


def test_stream_made_on_one_thread_is_wrapped_on_another(cuda, streams):
    s = streams()
    q = in_thread(lambda: xsched.Queue(s))  # a thread with no current context: the field report's crash
    assert q == xsched.Queue(s)
    in_thread(lambda: setattr(q, "priority", 4))
    cuda.sleep(s, 10)
    assert in_thread(lambda: q.wait_all(timeout=5))
    assert (q.query().submitted, q.priority) == (1, 4)


def test_default_streams(cuda):
    legacy = xsched.Queue(0)
    assert legacy.kind == xsched.StreamKind.LEGACY and legacy.stream == 1
    assert xsched.Queue(1) == legacy and xsched.Queue(0, device=0) == legacy
    per_thread = xsched.Queue(2)
    assert per_thread.kind == xsched.StreamKind.PER_THREAD and per_thread != legacy
    with pytest.raises(xsched.StateError, match="no current CUDA context"):
        in_thread(lambda: xsched.Queue(0))
    assert in_thread(lambda: xsched.Queue(0, device=0)) == legacy
    with pytest.raises(xsched.InvalidArgumentError, match="device 9"):
        xsched.Queue(0, device=9)


def test_unknown_and_destroyed_streams(cuda):
    with pytest.raises(xsched.InvalidHandleError, match="does not know it") as err:
        xsched.Queue(0xDEAD0)
    assert err.value.code == xsched.Result.INVALID_HANDLE
    assert err.value.function == "xs_cuda_stream_queue"
    s = cuda.stream()
    q = xsched.Queue(s)
    assert cuda.destroy(s) == 0
    with pytest.raises(xsched.InvalidHandleError, match="no queue"):
        q.query()
    assert q not in xsched.queues()


def test_suspend_holds_launches_until_resume(cuda, streams):
    s = streams()
    q = xsched.Queue(s)
    q.suspend(sync=True)
    before = cuda.launches()
    for _ in range(5):
        cuda.sleep(s, 100)
    assert cuda.launches() == before, "launches on a suspended stream reached the driver"
    info = q.query()
    assert info.suspended and info.pending == 5
    assert q.wait_all(timeout=0.02) is False
    q.resume()
    assert q.wait_all(timeout=5)
    assert cuda.launches() == before + 5
    assert not q.suspended


def test_failed_command_raises_with_the_cuda_error(cuda, streams):
    s = streams()
    q = xsched.Queue(s)
    q.suspend()
    cuda.sleep(s, 10)
    cuda.fake.fake_cuda_inject_error(b"cuLaunchKernel", 1, 1)  # CUDA_ERROR_INVALID_VALUE
    q.resume()
    with pytest.raises(xsched.PlatformError, match="CUDA_ERROR_INVALID_VALUE"):
        q.wait_all()
    assert q.query().error == xsched.Result.PLATFORM
    assert cuda.synchronize(s) == 1  # the application sees it too


def test_queue_priority_holds_a_lower_stream(cuda, streams):
    low, urgent = streams(), streams()
    cuda.sleep(low, 10)  # both have had work, so both count
    assert cuda.synchronize(low) == 0
    ql, qu = xsched.Queue(low), xsched.Queue(urgent)
    qu.priority = 5
    cuda.sleep(urgent, 300_000)  # 300 ms: low is held from this launch on
    before = cuda.launches()
    for _ in range(3):
        cuda.sleep(low, 10)
    assert cuda.launches() == before, "the lower stream launched beside the urgent one"
    assert ql.suspended
    assert qu.wait_all(timeout=5)
    assert ql.wait_all(timeout=5)
    assert cuda.launches() == before + 3
    qu.share = 3
    assert qu.share == 3
    with pytest.raises(xsched.InvalidArgumentError, match="share 2000000"):
        qu.share = 2_000_000


def test_priority_scope(cuda, streams):
    s, other = streams(), streams()
    q, q_other = xsched.Queue(s), xsched.Queue(other)
    with xsched.priority(7):
        assert xsched.current_priority() == 7
        assert q.priority == 0, "a scope changes only what the thread launches on"
        cuda.sleep(s, 10)
        assert q.priority == 7
        with xsched.priority(9):
            cuda.sleep(s, 10)
            assert q.priority == 9

            def launch_elsewhere() -> None:
                cuda.make_current()
                cuda.sleep(other, 10)

            in_thread(launch_elsewhere)
            assert q_other.priority == 0, "another thread's launches were covered"
        assert q.priority == 7
    assert q.priority == 0 and xsched.current_priority() is None
    assert q.wait_all(5) and q_other.wait_all(5)


def test_scope_in_a_worker_thread_holds_the_lower_stream(cuda, streams):
    low, urgent = streams(), streams()
    cuda.sleep(low, 10)
    assert cuda.synchronize(low) == 0
    ql, qu = xsched.Queue(low), xsched.Queue(urgent)
    launched = threading.Event()
    synchronized = []  # the worker's result: an assert there would only warn

    def serve() -> None:
        cuda.make_current()
        with xsched.priority(9):
            cuda.sleep(urgent, 300_000)
            launched.set()
            synchronized.append(cuda.synchronize(urgent))

    t = threading.Thread(target=serve)
    t.start()
    assert launched.wait(5)
    assert qu.priority == 9 and qu.ready
    before = cuda.launches()
    for _ in range(3):
        cuda.sleep(low, 10)
    held = cuda.launches() == before
    t.join()
    assert synchronized == [0], "the scope's stream did not synchronise"
    assert held, "the lower stream launched beside the scope's work"
    assert ql.wait_all(timeout=5)
    assert qu.priority == 0


def test_policy_and_process_hints(cuda, streams):
    assert xsched.get_policy() == xsched.Policy.PRIORITY
    xsched.set_policy("bandwidth")
    assert xsched.get_policy() == xsched.Policy.BANDWIDTH
    xsched.set_policy(xsched.Policy.PRIORITY)
    s = streams(-1)
    q = xsched.Queue(s)
    try:
        xsched.set_process_hints(priority=3, share=2)
        assert (q.priority, q.share) == (4, 2), "the stream keeps its +1 over the process's base"
        later = xsched.Queue(streams())
        assert (later.priority, later.share) == (3, 2)
    finally:
        xsched.set_process_hints(priority=0, share=1, deadline=0)
    assert q.priority == 1


def test_the_library_is_not_needed_under_the_interposer(cuda, streams):
    # The policy, hints and scopes went to the interposer: libxsched.so stays unloaded.
    from xsched import _library
    with xsched.priority(2):
        cuda.sleep(streams(), 10)
    assert _library.loaded() is None
