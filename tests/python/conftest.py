"""pytest setup for the Python package's tests.

ctest (tests/python_tests.cmake) runs them with PYTHONPATH pointing at
python/, XSCHED_LIBRARY at the build's libxsched.so and, for
test_interposer.py, the interposer preloaded in front of the fake CUDA
driver. By hand, from the repository root:

    XSCHED_LIBRARY=build/release/libxsched.so PYTHONPATH=python python3 -m pytest tests/python
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "python") not in sys.path:
    sys.path.insert(0, str(REPO / "python"))

import xsched  # noqa: E402


@pytest.fixture(scope="session")
def library() -> str:
    """The path of libxsched.so; skips the test where there is none, unless XSCHED_LIBRARY names one."""
    try:
        return xsched.library_path()
    except xsched.LibraryNotFoundError as exc:
        if os.environ.get("XSCHED_LIBRARY"):
            raise  # ctest named it: not finding it is a failure, not a reason to skip
        pytest.skip(f"libxsched.so not built or not found: {exc}")


@pytest.fixture()
def device(library: str):
    """A one-unit CPU reference device, closed after the test."""
    with xsched.HostDevice(1) as dev:
        yield dev


@pytest.fixture()
def queue_pair(device):
    """Two queues over two streams of the device: (a, b)."""
    streams = [device.stream(), device.stream()]
    queues = [xsched.Queue(s) for s in streams]
    yield queues[0], queues[1]
    for q in queues:
        q.close()
    for s in streams:
        s.close()


@pytest.fixture(autouse=True)
def _defaults_after_each_test(request):
    """Tests that change the policy or process hints leave the process as they found it."""
    yield
    if "library" in request.fixturenames and not xsched.interposer_loaded():
        xsched.set_policy("priority")
        xsched.set_process_hints(priority=0, share=1, deadline=0)
