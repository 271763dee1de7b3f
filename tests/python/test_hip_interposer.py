"""The package in a process that runs under the HIP interposer, in front of the fake HIP runtime
(tests/fake_hip): Queue() of a stand-in for a ROCm build's torch.cuda.Stream and of raw handles,
torch's current stream when torch is a ROCm build, null streams, hints, suspension, a failed
command's HIP error, priority scopes, the policy and process hints, checked against what the fake
runtime ran; and which interposer the package talks to when both are loaded. ctest runs this file
with libxsched_hip.so preloaded (python_hip_interposer_test); elsewhere it is skipped."""
from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import threading
import types

import pytest

import xsched
from xsched import _interposer

if _interposer.control(_interposer.HIP) is None or not os.environ.get("XS_TEST_FAKE_HIP"):
    pytest.skip("needs the HIP interposer preloaded in front of the fake HIP runtime "
                "(ctest python_hip_interposer_test)", allow_module_level=True)

NON_BLOCKING = 0x1
_LAUNCH_PARAM_BUFFER_POINTER, _LAUNCH_PARAM_BUFFER_SIZE, _LAUNCH_PARAM_END = 1, 2, 3


class FakeHip:
    """The HIP calls the interposer wraps, through it (ctypes), and the fake runtime's own."""

    def __init__(self) -> None:
        self.hip = ctypes.CDLL("libxsched_hip.so", mode=os.RTLD_NOLOAD | os.RTLD_NOW)  # the interposer
        self.fake = ctypes.CDLL(os.environ["XS_TEST_FAKE_HIP"])  # the runtime it forwards to: the same object
        kernels = ctypes.CDLL(os.environ["XS_TEST_FAKE_HIP_KERNELS"])
        kernels.xs_test_fake_hip_sleep_kernel.restype = ctypes.c_void_p
        self.sleep_kernel = kernels.xs_test_fake_hip_sleep_kernel()
        self.fake.fake_hip_launches.restype = ctypes.c_ulonglong
        self.hip.hipModuleLaunchKernel.argtypes = [ctypes.c_void_p] + [ctypes.c_uint] * 7 + [
            ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
        for name in ("hipStreamSynchronize", "hipStreamDestroy"):
            getattr(self.hip, name).argtypes = [ctypes.c_void_p]
        self.hip.hipStreamCreateWithPriority.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_uint,
                                                         ctypes.c_int]

    @staticmethod
    def check(rc: int, what: str) -> None:
        assert rc == 0, f"{what} returned hipError_t {rc}"

    def set_device(self, device: int) -> None:
        self.check(self.fake.hipSetDevice(device), "hipSetDevice")  # not wrapped: the runtime's own

    def stream(self, hip_priority: int = 0) -> int:
        s = ctypes.c_void_p()
        self.check(self.hip.hipStreamCreateWithPriority(ctypes.byref(s), NON_BLOCKING, hip_priority),
                   "hipStreamCreateWithPriority")
        return int(s.value)

    def launch(self, stream: int, microseconds: int, grid: int = 1) -> int:
        """hipModuleLaunchKernel of the fake's sleep kernel, its argument as one packed buffer."""
        us = ctypes.c_uint(microseconds)
        size = ctypes.c_size_t(ctypes.sizeof(us))
        extra = (ctypes.c_void_p * 5)(_LAUNCH_PARAM_BUFFER_POINTER, ctypes.addressof(us),
                                      _LAUNCH_PARAM_BUFFER_SIZE, ctypes.addressof(size), _LAUNCH_PARAM_END)
        return self.hip.hipModuleLaunchKernel(self.sleep_kernel, grid, 1, 1, 1, 1, 1, 0, stream, None, extra)

    def sleep(self, stream: int, microseconds: int) -> None:
        self.check(self.launch(stream, microseconds), "hipModuleLaunchKernel")

    def synchronize(self, stream: int) -> int:
        return self.hip.hipStreamSynchronize(stream)

    def destroy(self, stream: int) -> int:
        return self.hip.hipStreamDestroy(stream)

    def launches(self) -> int:
        """Kernels the fake runtime has run so far."""
        return int(self.fake.fake_hip_launches())


class TorchLikeStream:
    """What xsched reads of a torch.cuda.Stream of a ROCm build: its hipStream_t and its device."""

    def __init__(self, handle: int, device: "int | None" = None) -> None:
        self.cuda_stream = handle
        self.device = types.SimpleNamespace(index=device)


@pytest.fixture(scope="module")
def hip() -> FakeHip:
    return FakeHip()


@pytest.fixture()
def streams(hip):
    """Makes streams for the test and destroys them after it."""
    made = []

    def make(hip_priority: int = 0) -> int:
        made.append(hip.stream(hip_priority))
        return made[-1]

    yield make
    for s in made:
        hip.synchronize(s)
        hip.destroy(s)


@pytest.fixture()
def rocm_torch(monkeypatch):
    """A stand-in for an imported ROCm build of torch (torch.version.hip set); its current stream is settable."""
    torch = types.ModuleType("torch")
    torch.version = types.SimpleNamespace(hip="5.2.21153", cuda=None)
    current = {}
    torch.cuda = types.SimpleNamespace(current_stream=lambda: current["stream"])
    monkeypatch.setitem(sys.modules, "torch", torch)
    return current


def in_thread(fn):
    """Runs fn in a new thread and returns its result or raises its error."""
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


def test_queue_of_a_torch_like_stream(hip, streams):
    s = streams(-1)
    q = xsched.Queue(TorchLikeStream(s))
    assert isinstance(q, xsched.HipQueue)
    assert q == xsched.Queue(s) and q.id > 0
    assert (q.stream, q.kind, q.device, q.hip_priority) == (s, xsched.StreamKind.EXPLICIT, 0, -1)
    assert q.priority == 1, "HIP priority -1 is xsched priority +1"
    assert q.device_uuid.startswith("hip-")
    hip.sleep(s, 10)
    assert q.wait_all(timeout=5)
    info = q.query()
    assert (info.submitted, info.completed, info.level) == (1, 1, xsched.Level.BLOCK)
    assert q in xsched.queues()
    assert "HipQueue" in repr(q)


def test_rocm_torch_current_stream(hip, streams, rocm_torch):
    s = streams()
    rocm_torch["stream"] = TorchLikeStream(s)
    assert _interposer.torch_is_rocm()
    q = xsched.Queue()  # torch's current stream
    assert isinstance(q, xsched.HipQueue) and q.stream == s
    q.priority = 4
    assert in_thread(lambda: xsched.Queue(s).priority) == 4, "another thread found another queue"


def test_null_streams(hip):
    null0 = xsched.Queue(0)
    assert (null0.kind, null0.stream, null0.device) == (xsched.StreamKind.LEGACY, 0, 0)
    assert xsched.Queue(0, device=0) == null0
    null1 = xsched.Queue(TorchLikeStream(0, device=1))  # the stream object's device
    assert null1 != null0 and null1.device == 1
    with pytest.raises(xsched.InvalidArgumentError, match="device 9"):
        xsched.Queue(0, device=9)


def test_unknown_and_destroyed_streams(hip):
    with pytest.raises(xsched.InvalidHandleError, match="does not know it") as err:
        xsched.Queue(0xDEAD0)
    assert err.value.function == "xs_hip_stream_queue"
    s = hip.stream()
    q = xsched.Queue(s)
    assert hip.destroy(s) == 0
    with pytest.raises(xsched.InvalidHandleError, match="no queue"):
        q.query()
    assert q not in xsched.queues()


def test_suspend_holds_launches_until_resume(hip, streams):
    s = streams()
    q = xsched.Queue(s)
    q.suspend(sync=True)
    before = hip.launches()
    for _ in range(5):
        hip.sleep(s, 100)
    assert hip.launches() == before, "launches on a suspended stream reached the runtime"
    info = q.query()
    assert info.suspended and info.pending == 5
    assert q.wait_all(timeout=0.02) is False
    q.resume()
    assert q.wait_all(timeout=5)
    assert hip.launches() == before + 5
    assert not q.suspended


def test_failed_command_raises_with_the_hip_error(hip, streams):
    s = streams()
    q = xsched.Queue(s)
    q.suspend()
    assert hip.launch(s, 10, grid=0) == 0, "a held launch is checked when it is launched"
    q.resume()
    with pytest.raises(xsched.PlatformError, match="hipErrorInvalidValue") as err:
        q.wait_all()
    assert err.value.function == "xs_hip_queue_wait_all"
    assert q.query().error == xsched.Result.PLATFORM


def test_queue_priority_holds_a_lower_stream(hip, streams):
    low, urgent = streams(), streams()
    hip.sleep(low, 10)  # both have had work, so both count
    assert hip.synchronize(low) == 0
    ql, qu = xsched.Queue(low), xsched.Queue(urgent)
    qu.priority = 5
    hip.sleep(urgent, 300_000)  # 300 ms: low is held from this launch on
    before = hip.launches()
    for _ in range(3):
        hip.sleep(low, 10)
    assert hip.launches() == before, "the lower stream launched beside the urgent one"
    assert ql.suspended
    assert qu.wait_all(timeout=5) and ql.wait_all(timeout=5)
    assert hip.launches() == before + 4
    with pytest.raises(xsched.InvalidArgumentError, match="share 2000000"):
        qu.share = 2_000_000


def test_priority_scope(hip, streams):
    s, other = streams(), streams()
    q, q_other = xsched.Queue(s), xsched.Queue(other)
    with xsched.priority(7):
        assert xsched.current_priority() == 7
        assert q.priority == 0, "a scope changes only what the thread launches on"
        hip.sleep(s, 10)
        assert q.priority == 7
        in_thread(lambda: hip.sleep(other, 10))
        assert q_other.priority == 0, "another thread's launches were covered"
    assert q.priority == 0 and xsched.current_priority() is None
    assert q.wait_all(5) and q_other.wait_all(5)


def test_policy_and_process_hints(hip, streams):
    assert xsched.get_policy() == xsched.Policy.PRIORITY
    xsched.set_policy("bandwidth")
    assert xsched.get_policy() == xsched.Policy.BANDWIDTH
    xsched.set_policy(xsched.Policy.PRIORITY)
    q = xsched.Queue(streams(-1))
    try:
        xsched.set_process_hints(priority=3, share=2)
        assert (q.priority, q.share) == (4, 2), "the stream keeps its +1 over the process's base"
    finally:
        xsched.set_process_hints(priority=0, share=1, deadline=0)
    assert q.priority == 1
    from xsched import _library
    assert _library.loaded() is None, "the policy, hints and scopes went to libxsched.so"


def test_rocm_torch_prefers_the_hip_interposer_when_both_are_loaded():
    cuda_interposer = os.environ.get("XS_TEST_INTERPOSER")
    if not cuda_interposer:
        pytest.skip("no CUDA interposer in this build")
    code = ("import sys, types\n"
            "from xsched import _interposer as i\n"
            "print(i.control().platform.name)\n"
            "sys.modules['torch'] = types.SimpleNamespace(version=types.SimpleNamespace(hip='5.2'))\n"
            "print(i.control().platform.name)\n")
    env = dict(os.environ, LD_PRELOAD=f"{cuda_interposer}:{os.environ['LD_PRELOAD']}")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["CUDA", "HIP"]
