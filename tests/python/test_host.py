"""The package on the CPU reference device (libxsched.so): queues, hints, suspension,
priority scopes, process hints and policies, with real scheduling behind them."""
from __future__ import annotations

import threading
import time

import pytest

import xsched


def test_library_is_found_and_answers(library):
    assert library.endswith("libxsched.so")
    major, minor, patch = xsched.library_version()
    assert (major, minor) >= (0, 2)
    assert not xsched.interposer_loaded()


def test_queue_runs_kernels_and_reports_state(queue_pair):
    q, _ = queue_pair
    assert isinstance(q, xsched.HostQueue) and isinstance(q, xsched.Queue)
    ids = [q.submit_kernel(0.002) for _ in range(3)]
    assert ids == [1, 2, 3]
    assert q.wait(ids[-1], timeout=5)
    assert q.wait_all(timeout=5)
    info = q.query()
    assert (info.submitted, info.completed, info.pending, info.in_flight) == (3, 3, 0, 0)
    assert info.ready is False and info.suspended is False
    assert info.level == xsched.Level.INTERRUPT  # the host device has every level
    assert info.error == xsched.Result.OK
    assert (info.priority, info.share) == (0, 1)


def test_hints_round_trip_and_are_checked(queue_pair):
    q, _ = queue_pair
    q.priority = -7
    q.share = 5
    assert (q.priority, q.share) == (-7, 5)
    q.set_hints(timeslice=0.003, deadline=0.25)
    info = q.query()
    assert (info.priority, info.share) == (-7, 5)  # not given: unchanged
    assert info.timeslice == pytest.approx(0.003) and info.deadline == pytest.approx(0.25)
    with pytest.raises(xsched.InvalidArgumentError) as err:
        q.share = 2_000_000  # beyond 1..1000000: the C side says no
    assert err.value.code == xsched.Result.INVALID_ARG
    assert "xs_queue_set_share" in str(err.value) and "invalid argument" in str(err.value)
    assert isinstance(err.value, ValueError)
    with pytest.raises(ValueError):
        q.share = 0
    with pytest.raises(ValueError):
        q.priority = 2**31
    with pytest.raises(TypeError):
        q.priority = "high"
    with pytest.raises(ValueError):
        q.set_hints(deadline=-1)
    with pytest.raises(ValueError):
        q.wait_all(timeout=-1)


def test_suspend_holds_work_until_resume(queue_pair):
    q, _ = queue_pair
    q.suspend(sync=True)
    k = q.submit_kernel(0.001)  # never blocks, even suspended
    assert q.wait(k, timeout=0.05) is False
    assert q.wait_all(timeout=0.01) is False
    info = q.query()
    assert info.suspended and info.pending == 1 and info.completed == 0
    q.resume()
    assert q.wait(k, timeout=5)
    assert not q.suspended
    assert q.query().suspensions >= 1


def test_higher_priority_holds_the_lower_queue(queue_pair):
    low, high = queue_pair
    high.priority = 10
    for _ in range(5):
        low.submit_kernel(0.002)
    high.submit_kernel(0.03)  # the scheduler decides in this thread, before submit returns
    assert low.suspended, "the priority policy did not hold the lower queue"
    assert high.wait_all(timeout=5)
    assert low.wait_all(timeout=5)
    assert not low.suspended


def test_policy_none_holds_nothing(queue_pair):
    low, high = queue_pair
    xsched.set_policy("None")
    assert xsched.get_policy() == xsched.Policy.NONE
    high.priority = 10
    low.submit_kernel(0.002)
    high.submit_kernel(0.02)
    assert not low.suspended
    assert high.wait_all(timeout=5) and low.wait_all(timeout=5)
    xsched.set_policy(xsched.Policy.BANDWIDTH)
    assert xsched.get_policy() == xsched.Policy.BANDWIDTH
    with pytest.raises(ValueError, match="unknown policy 'fifo'"):
        xsched.set_policy("fifo")


def test_policies_are_the_ones_the_library_names(library):
    import ctypes
    lib = ctypes.CDLL(library)
    lib.xs_policy_name.restype = ctypes.c_char_p
    lib.xs_policy_name.argtypes = [ctypes.c_int]
    names = []
    while lib.xs_policy_name(len(names)) != b"unknown":
        names.append(lib.xs_policy_name(len(names)).decode())
    assert names[:4] == ["none", "priority", "bandwidth", "deadline"]
    assert [(p.name.lower(), int(p)) for p in xsched.Policy] == [(n, i) for i, n in enumerate(names)]
    for name in names:  # each one switches, by name in any case and by member
        xsched.set_policy(name.upper())
        assert xsched.get_policy() == xsched.Policy[name.upper()]
        assert xsched.get_policy().name.lower() == name
    assert isinstance(xsched.get_policy(), xsched.Policy)
    with pytest.raises(ValueError, match="known: " + ", ".join(names)):
        xsched.set_policy("fifo")


def test_priority_scope_covers_the_threads_submissions(queue_pair):
    a, b = queue_pair
    assert xsched.current_priority() is None
    with xsched.priority(7) as scope:
        assert xsched.current_priority() == 7 and scope.value == 7
        assert a.priority == 0, "nothing changes before the thread submits"
        a.submit_kernel(0)
        assert a.priority == 7
        with xsched.priority(-3):
            a.submit_kernel(0)
            b.submit_kernel(0)
            assert (a.priority, b.priority) == (-3, -3)
        assert xsched.current_priority() == 7
        assert (a.priority, b.priority) == (7, 0)
    assert xsched.current_priority() is None
    assert (a.priority, b.priority) == (0, 0)
    assert a.wait_all(5) and b.wait_all(5)


def test_priority_scope_ends_on_exceptions_and_works_as_a_decorator(queue_pair):
    a, _ = queue_pair

    @xsched.priority(4)
    def submit() -> int:
        a.submit_kernel(0)
        return a.priority

    assert submit() == 4
    assert a.priority == 0
    with pytest.raises(RuntimeError):
        with xsched.priority(9):
            a.submit_kernel(0)
            raise RuntimeError("boom")
    assert a.priority == 0 and xsched.current_priority() is None
    assert a.wait_all(5)


def test_priority_scope_of_another_thread(queue_pair):
    low, urgent = queue_pair
    for _ in range(5):
        low.submit_kernel(0.002)
    seen = {}

    def serve() -> None:
        with xsched.priority(10):
            urgent.submit_kernel(0.03)
            seen["low_suspended"] = low.suspended
            seen["urgent_priority"] = urgent.priority
            urgent.wait_all(5)
        seen["after"] = urgent.priority

    t = threading.Thread(target=serve)
    t.start()
    t.join()
    assert seen == {"low_suspended": True, "urgent_priority": 10, "after": 0}
    assert xsched.current_priority() is None, "another thread's scope leaked into this one"
    assert low.wait_all(5)


def test_priority_blocks_of_interleaved_asyncio_tasks_end_in_order_or_raise(queue_pair):
    import asyncio
    a, _ = queue_pair
    first, second = xsched.priority(3), xsched.priority(8)
    outcome = {}

    async def first_task(entered: asyncio.Event, second_entered: asyncio.Event, done: asyncio.Event) -> None:
        try:
            with first:
                entered.set()
                await second_entered.wait()  # the second task begins its block meanwhile
                a.submit_kernel(0)
        except RuntimeError as exc:
            outcome["first"] = str(exc)
        finally:
            done.set()

    async def second_task(entered: asyncio.Event, second_entered: asyncio.Event, done: asyncio.Event) -> None:
        await entered.wait()
        try:
            with second:
                second_entered.set()
                await done.wait()  # the first task ends its block meanwhile
                outcome["second_priority"] = xsched.current_priority()
        except RuntimeError as exc:
            outcome["second"] = str(exc)

    async def both() -> None:
        events = asyncio.Event(), asyncio.Event(), asyncio.Event()
        await asyncio.gather(first_task(*events), second_task(*events))

    asyncio.run(both())
    # The first block ends while the second (begun inside it) is open: it must
    # not end the second's scope; the second then ends its own.
    assert "innermost first" in outcome.get("first", ""), outcome
    assert "second" not in outcome and outcome["second_priority"] == 8, outcome
    assert xsched.current_priority() == 3, "the refused block's scope was popped, or the wrong one"
    first.__exit__(None, None, None)  # now innermost: it ends
    assert xsched.current_priority() is None
    assert a.priority == 0
    assert a.wait_all(5)


def test_priority_block_of_a_generator_closed_on_another_thread_raises(queue_pair):
    a, _ = queue_pair
    p = xsched.priority(6)

    def gen():
        with p:
            yield 1

    g = gen()
    assert next(g) == 1
    assert xsched.current_priority() == 6
    errors = []

    def close() -> None:
        try:
            g.close()
        except RuntimeError as exc:
            errors.append(str(exc))
        errors.append(xsched.current_priority())

    t = threading.Thread(target=close)
    t.start()
    t.join()
    assert len(errors) == 2 and "another thread" in errors[0], errors
    assert errors[1] is None, "the closing thread was left with a scope"
    assert xsched.current_priority() == 6, "the block's scope was ended on the wrong thread"
    p.__exit__(None, None, None)
    assert xsched.current_priority() is None
    a.submit_kernel(0)
    assert a.priority == 0
    assert a.wait_all(5)


def test_process_hints_apply_to_existing_and_later_queues(device):
    s1, s2 = device.stream(), device.stream()
    q1 = xsched.Queue(s1)
    xsched.set_process_hints(priority=6, share=3, deadline=0.002)
    q2 = xsched.Queue(s2)
    for q in (q1, q2):
        info = q.query()
        assert (info.priority, info.share) == (6, 3)
        assert info.deadline == pytest.approx(0.002)
    xsched.set_process_hints(share=5)
    assert (q1.priority, q1.share) == (6, 5)
    with pytest.raises(ValueError):
        xsched.set_process_hints()
    with pytest.raises(ValueError):
        xsched.set_process_hints(share=0)
    with pytest.raises(ValueError):
        xsched.set_process_hints(deadline=-0.5)
    for q in (q1, q2):
        q.close()
    s1.close()
    s2.close()


def test_queues_lists_the_open_host_queues(device):
    s = device.stream()
    q = xsched.Queue(s)
    assert q in xsched.queues()
    assert q == q and hash(q) == hash(q)
    q.close()
    assert q.closed and q not in xsched.queues()
    with pytest.raises(xsched.InvalidHandleError):
        q.submit_kernel(0)
    q.close()  # twice is harmless
    s.close()
    with pytest.raises(xsched.InvalidHandleError):
        xsched.Queue(s)


def test_closing_a_queue_completes_its_work(device):
    s = device.stream()
    q = xsched.Queue(s)
    q.suspend()
    q.submit_kernel(0.01)
    start = time.monotonic()
    q.close()  # completes what it holds, suspended or not
    assert time.monotonic() - start >= 0.009
    s.close()


def test_bad_constructor_arguments(library):
    with pytest.raises(ValueError):
        xsched.HostDevice(0)
    with pytest.raises(TypeError):
        xsched.HostDevice("2")
    with pytest.raises(TypeError):
        xsched.HostQueue("not a stream")


def test_reserve_is_checked_and_reaches_the_device(library):
    with xsched.HostDevice(2) as dev:
        dev.reserve(1)
        dev.reserve(0)
        with pytest.raises(ValueError):
            dev.reserve(2)
        with pytest.raises(TypeError):
            dev.reserve(True)
    with pytest.raises(xsched.InvalidHandleError):
        dev.reserve(1)


def test_queues_know_their_device(library):
    with xsched.HostDevice(1) as a, xsched.HostDevice(1) as b:
        qa, qb = xsched.Queue(a.stream()), xsched.Queue(b.stream())
        assert qa.device_uuid.startswith("host-")
        assert qa.device_uuid != qb.device_uuid
        assert qb.device == qa.device + 1  # numbered in the order the process made them
        qa.close()
        qb.close()
