// The CUDA interposer's scheduling, end to end, in front of the fake CUDA
// driver (tests/fake_cuda): priorities from CUDA stream priorities, held-back
// launches and what must reach the driver before what (events, implicit
// synchronisation, frees, attributes, synchronisation, destruction), errors
// and per-thread default streams. Every check reads what the fake saw and
// ran (op log, call log, values written by kernels); gates that the test
// opens replace sleeps, and a watchdog opens them if a call that should
// return does not, so a regression fails instead of hanging.
//
// Suites (tests/CMakeLists.txt runs each as its own ctest entry):
//   InterposeSched        ordering and values only
//   InterposeSchedCold    needs a process where no high-priority queue exists yet
//   InterposeSchedTiming  call latencies (label `timing`)
//
// Run with XSCHED_REAL_LIBCUDA=<libfake_cuda.so> (ctest sets it); the default
// policy (priority), XSCHED_LEVEL=1 (ctest sets it) and window (8) are assumed.
#include <dlfcn.h>

#include <algorithm>
#include <cstring>
#include <numeric>

#include "interpose_sched_fixture.h"
#include "timing_retry.h"

namespace xs_sched_test {
namespace {

[[maybe_unused]] ::testing::Environment* const g_env = ::testing::AddGlobalTestEnvironment(new FakeDriverEnv);

class InterposeSched : public Sched {};
class InterposeSchedCold : public Sched {};
class InterposeSchedTiming : public Sched {};

// ---------------------------------------------------------------------------
// 1. Priorities from CUDA stream priorities.

// low (priority 0): a gate kernel, then 100 kernels of 3 ms; high (priority
// -1) then launches a kernel that runs until the test opens it. While it
// runs, the low stream may run only what was in flight when it was
// suspended (the window), and its launches return at once; afterwards
// everything runs, in order, once.
TEST_F(InterposeSched, HighStreamPriorityPreemptsLowAtTheWindow) {
  const unsigned w = window();
  CUstream low = stream(0);
  CUstream high = stream(-1);
  // A queue that nothing can preempt has no window: let the high stream's
  // queue exist (and be idle) before the low one fills.
  ASSERT_EQ(work(high, 900), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(high), CUDA_SUCCESS);
  const unsigned long long low_id = stream_id(low);

  Gate low_gate, high_gate;
  Watchdog dog({&low_gate, &high_gate});
  const unsigned long long launched = g_fake.launch_count();
  ASSERT_EQ(gate(low, low_gate, 1000), CUDA_SUCCESS);
  // The high queue turns idle in the scheduler's view a little after its
  // stream synchronised: the low stream runs once its first kernel reaches the driver.
  ASSERT_TRUE(eventually([&] { return g_fake.launch_count() > launched; }));
  for (int i = 0; i < 100; ++i) ASSERT_EQ(work(low, i, 3000), CUDA_SUCCESS);
  // Level 1: what goes beyond the window waits on the host (nothing completes behind the gate).
  EXPECT_LE(g_fake.launch_count() - launched, w);

  ASSERT_EQ(gate(high, high_gate, 2000), CUDA_SUCCESS);  // low is suspended when this returns
  low_gate.open();
  // The low stream drains what it had in flight, then nothing more reaches the driver.
  ASSERT_TRUE(eventually([&] { return g_fake.stream_pending(low) == 0; }));
  const size_t ran_while_high = OpLog::read().kernels_on(low_id);
  EXPECT_GE(ran_while_high, 1u);
  EXPECT_LE(ran_while_high, w + 1) << "the low stream kept launching while the high one ran";

  // Launches on the suspended stream return (held on the host), whatever the kernel time.
  const unsigned long long before_suspended = g_fake.launch_count();
  for (int i = 100; i < 120; ++i) ASSERT_EQ(work(low, i, 3000), CUDA_SUCCESS);
  EXPECT_FALSE(dog.fired()) << "cuLaunchKernel blocked on a suspended stream";
  EXPECT_FALSE(high_gate.is_open());
  EXPECT_EQ(g_fake.launch_count(), before_suspended) << "launches on a suspended stream reached the driver";
  EXPECT_EQ(OpLog::read().kernels_on(low_id), ran_while_high);

  high_gate.open();
  ASSERT_EQ(cuStreamSynchronize(low), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(high), CUDA_SUCCESS);
  const OpLog log = OpLog::read();
  std::vector<long long> expected(120);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(log.work_tags_on(low_id), expected) << "low kernels lost, repeated or reordered";
  const FakeCudaLogEntry* h = log.one(2000);
  ASSERT_NE(h, nullptr);
  size_t low_before_high = 0;
  for (const auto& e : log.entries) low_before_high += e.stream_id == low_id && e.op == FAKE_OP_KERNEL && e.seq < h->seq;
  EXPECT_LE(low_before_high, w + 1);
  EXPECT_FALSE(dog.fired());
}

// A high stream that was created but not used does not bound the low one:
// programs make many streams they never use (PyTorch makes 32 of each
// priority at once), and each used queue below them would pay for a window
// (and, at Level 2, gates) for nothing. Once the high stream has had work,
// the low one's window applies.
TEST_F(InterposeSchedCold, UnusedHighPriorityStreamDoesNotBoundTheLowWindow) {
  if (holder().made()) GTEST_SKIP() << "needs a process without high-priority queues: run this suite alone";
  CUstream high = stream(-1);
  CUstream low = stream(0);
  Gate low_gate, high_gate;
  Watchdog dog({&low_gate, &high_gate});
  const unsigned long long launched = g_fake.launch_count();
  ASSERT_EQ(gate(low, low_gate, 1000), CUDA_SUCCESS);
  for (int i = 0; i < 20; ++i) ASSERT_EQ(work(low, i, 0), CUDA_SUCCESS);
  EXPECT_EQ(g_fake.launch_count() - launched, 21u) << "an unused high stream bounded the low window";
  low_gate.open();
  ASSERT_EQ(cuStreamSynchronize(low), CUDA_SUCCESS);

  ASSERT_EQ(gate(high, high_gate, 2000), CUDA_SUCCESS);  // the high stream has work: low is held and bounded
  const unsigned long long before = g_fake.launch_count();
  for (int i = 20; i < 40; ++i) ASSERT_EQ(work(low, i, 0), CUDA_SUCCESS);
  EXPECT_EQ(g_fake.launch_count(), before) << "the held low stream launched";
  high_gate.open();
  ASSERT_EQ(cuStreamSynchronize(high), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(low), CUDA_SUCCESS);
  EXPECT_EQ(OpLog::read().work_tags_on(stream_id(low)).size(), 40u);
  EXPECT_FALSE(dog.fired());
}

// ---------------------------------------------------------------------------
// 2. Arguments of held-back launches are copied at the call.

TEST_F(InterposeSched, HeldLaunchCopiesKernelParams) {
  CUstream low = stream(0);
  int* out = dalloc_ints(10 + 2);
  int* decoy = dalloc_ints(10 + 2);
  holder().hold();
  const unsigned long long launched = g_fake.launch_count();

  FakeStruct40 s{0x1122334455667788LL, {1, 2, 3, 4, 5, 6, 7, 8}};
  const FakeStruct40 original = s;
  int* dst = out;
  void* struct_args[] = {&s, &dst};
  ASSERT_EQ(launch(fake_kernel_struct(), low, struct_args), CUDA_SUCCESS);
  s.a = -1;
  std::fill(std::begin(s.b), std::end(s.b), 99);
  dst = decoy;

  int v = 42;
  int* p = out + 10;
  void* store_args[] = {&v, &p};
  ASSERT_EQ(launch(fake_kernel_store(), low, store_args), CUDA_SUCCESS);
  v = 7;
  p = decoy + 10;

  EXPECT_EQ(g_fake.launch_count(), launched) << "the launches were not held back: the test proves nothing";
  holder().release();
  ASSERT_EQ(cuStreamSynchronize(low), CUDA_SUCCESS);
  EXPECT_EQ(std::memcmp(out, &original, sizeof original), 0) << "the struct argument was read after the call";
  EXPECT_EQ(out[10], 42);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(decoy[i], 0) << "a pointer argument was read after the call";
  dfree(out);
  dfree(decoy);
}

TEST_F(InterposeSched, HeldLaunchCopiesExtraBuffer) {
  CUstream low = stream(0);
  int* out = dalloc_ints(2);
  int* decoy = dalloc_ints(2);
  holder().hold();
  const unsigned long long launched = g_fake.launch_count();

  // fake_kernel_store(int v, int* p): v at offset 0, p at offset 8.
  alignas(8) unsigned char buf[16] = {};
  const int v = 77;
  std::memcpy(buf, &v, sizeof v);
  std::memcpy(buf + 8, &out, sizeof out);
  size_t size = sizeof buf;
  void* extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, buf, CU_LAUNCH_PARAM_BUFFER_SIZE, &size, CU_LAUNCH_PARAM_END};
  ASSERT_EQ(cuLaunchKernel(fake_kernel_store(), 1, 1, 1, 1, 1, 1, 0, low, nullptr, extra), CUDA_SUCCESS);
  const int other = 5;
  std::memcpy(buf, &other, sizeof other);
  std::memcpy(buf + 8, &decoy, sizeof decoy);
  size = 0;

  EXPECT_EQ(g_fake.launch_count(), launched) << "the launch was not held back: the test proves nothing";
  holder().release();
  ASSERT_EQ(cuStreamSynchronize(low), CUDA_SUCCESS);
  EXPECT_EQ(out[0], 77);
  EXPECT_EQ(decoy[0], 0);
  dfree(out);
  dfree(decoy);
}

// ---------------------------------------------------------------------------
// 3. Events.

// A record held back on the low stream: the event is not ready; a high
// stream that waits for it gets it without waiting for the scheduler (the
// low stream launches through the record) and runs after what came before
// it, not after what came after it.
TEST_F(InterposeSched, WaitOnEventHeldInLowStream) {
  CUstream low = stream(0);
  CUstream high = stream(-1);
  CUevent e = nullptr;
  ASSERT_EQ(cuEventCreate(&e, CU_EVENT_DISABLE_TIMING), CUDA_SUCCESS);
  holder().hold();
  Watchdog dog({});
  ASSERT_EQ(work(low, 1, 5000), CUDA_SUCCESS);
  ASSERT_EQ(work(low, 2, 1000), CUDA_SUCCESS);
  ASSERT_EQ(work(low, 3, 1000), CUDA_SUCCESS);
  ASSERT_EQ(cuEventRecord(e, low), CUDA_SUCCESS);
  ASSERT_EQ(work(low, 4, 1000), CUDA_SUCCESS);
  ASSERT_EQ(work(low, 5, 1000), CUDA_SUCCESS);
  EXPECT_EQ(g_fake.launch_count(), holder().launches_at_hold()) << "the low stream was not held: the test proves nothing";
  EXPECT_EQ(cuEventQuery(e), CUDA_ERROR_NOT_READY);

  ASSERT_EQ(cuStreamWaitEvent(high, e, 0), CUDA_SUCCESS);
  ASSERT_EQ(work(high, 100), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(high), CUDA_SUCCESS);
  EXPECT_FALSE(dog.fired()) << "the wait needed the scheduler to resume the low stream";
  EXPECT_TRUE(holder().held());
  {
    const OpLog log = OpLog::read();
    const FakeCudaLogEntry* k = log.one(100);
    EXPECT_TRUE(ran_before(log.one(1), k));
    EXPECT_TRUE(ran_before(log.one(2), k));
    EXPECT_TRUE(ran_before(log.one(3), k));
    EXPECT_FALSE(log.has(4)) << "the low stream ran past the record while suspended";
    EXPECT_FALSE(log.has(5));
  }
  EXPECT_EQ(cuEventQuery(e), CUDA_SUCCESS);
  EXPECT_EQ(cuEventSynchronize(e), CUDA_SUCCESS);

  holder().release();
  ASSERT_EQ(cuStreamSynchronize(low), CUDA_SUCCESS);
  const OpLog log = OpLog::read();
  EXPECT_EQ(log.work_tags_on(stream_id(low)), (std::vector<long long>{1, 2, 3, 4, 5}));
  EXPECT_EQ(cuEventDestroy_v2(e), CUDA_SUCCESS);
}

// cuEventSynchronize on a record held back waits for it (and for what came
// before it), not for the stream's later commands.
TEST_F(InterposeSched, EventSynchronizeOnHeldRecord) {
  CUstream low = stream(0);
  CUevent e = nullptr;
  ASSERT_EQ(cuEventCreate(&e, CU_EVENT_DISABLE_TIMING), CUDA_SUCCESS);
  holder().hold();
  ASSERT_EQ(work(low, 1, 2000), CUDA_SUCCESS);
  ASSERT_EQ(cuEventRecord(e, low), CUDA_SUCCESS);
  ASSERT_EQ(work(low, 2), CUDA_SUCCESS);
  EXPECT_EQ(cuEventQuery(e), CUDA_ERROR_NOT_READY);
  std::atomic<bool> returned{false};
  std::thread waiter([&] {
    EXPECT_EQ(cuEventSynchronize(e), CUDA_SUCCESS);
    const OpLog log = OpLog::read();
    EXPECT_TRUE(log.has(1) && log.one(1)->end_ns != 0) << "cuEventSynchronize returned before the work recorded before it";
    returned = true;
  });
  std::this_thread::sleep_for(20ms);  // lets the waiter block (not needed for correctness)
  EXPECT_FALSE(returned.load()) << "cuEventSynchronize returned while its record was held back";
  holder().release();
  waiter.join();
  ASSERT_EQ(cuStreamSynchronize(low), CUDA_SUCCESS);
  EXPECT_EQ(cuEventDestroy_v2(e), CUDA_SUCCESS);
}

// Record E on A, wait for E on held B, record E again on A behind a kernel
// that runs until the test opens it: B's next kernel waits for the first
// record only.
TEST_F(InterposeSched, ReRecordAfterHeldWaitDoesNotMoveTheWait) {
  CUstream a = stream(0);
  CUstream b = stream(0);
  CUevent e = nullptr;
  ASSERT_EQ(cuEventCreate(&e, CU_EVENT_DISABLE_TIMING), CUDA_SUCCESS);
  Gate long_kernel;
  Watchdog dog({&long_kernel});
  holder().hold();
  ASSERT_EQ(work(a, 1, 1000), CUDA_SUCCESS);
  ASSERT_EQ(cuEventRecord(e, a), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamWaitEvent(b, e, 0), CUDA_SUCCESS);
  ASSERT_EQ(gate(a, long_kernel, 2), CUDA_SUCCESS);
  ASSERT_EQ(cuEventRecord(e, a), CUDA_SUCCESS);
  ASSERT_EQ(work(b, 3), CUDA_SUCCESS);
  // a's first kernel went to the driver for b's wait (its record had to); nothing else did.
  EXPECT_EQ(g_fake.launch_count(), holder().launches_at_hold() + 1) << "a or b was not held: the test proves nothing";
  holder().release();

  // b's kernel runs while the kernel before the second record still runs.
  EXPECT_TRUE(eventually([&] {
    const OpLog log = OpLog::read();
    const auto k = log.all(3);
    return !k.empty() && k[0]->end_ns != 0;
  })) << "b's held wait waited for the second record";
  EXPECT_FALSE(dog.fired());
  long_kernel.open();
  ASSERT_EQ(cuStreamSynchronize(a), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(b), CUDA_SUCCESS);
  const OpLog log = OpLog::read();
  EXPECT_TRUE(ran_before(log.one(1), log.one(3))) << "b's wait did not wait for the first record";
  EXPECT_EQ(cuEventDestroy_v2(e), CUDA_SUCCESS);
}

// E recorded on the held low stream, then recorded again on a running high
// stream: the application's latest record is the high one, so a wait or a
// query made after it must not see the low record when it is launched later.
TEST_F(InterposeSched, RecordOverHeldRecordStaysTheLatest) {
  CUstream low = stream(0);
  CUstream high = stream(-1);
  CUstream waiter = stream(-1);
  CUevent e = nullptr;
  ASSERT_EQ(cuEventCreate(&e, CU_EVENT_DISABLE_TIMING), CUDA_SUCCESS);
  Gate low_gate;
  Watchdog dog({&low_gate});
  holder().hold();
  ASSERT_EQ(gate(low, low_gate, 1), CUDA_SUCCESS);
  ASSERT_EQ(cuEventRecord(e, low), CUDA_SUCCESS);  // held back
  ASSERT_EQ(work(high, 2, 1000), CUDA_SUCCESS);
  ASSERT_EQ(cuEventRecord(e, high), CUDA_SUCCESS);  // the latest record
  ASSERT_EQ(cuStreamSynchronize(high), CUDA_SUCCESS);
  holder().release();  // the low stream now launches its gate and its (older) record
  ASSERT_TRUE(eventually([&] { return OpLog::read().has(1); }));
  EXPECT_EQ(cuEventQuery(e), CUDA_SUCCESS) << "the event reports the older record, held back and launched later";
  ASSERT_EQ(cuStreamWaitEvent(waiter, e, 0), CUDA_SUCCESS);
  ASSERT_EQ(work(waiter, 3), CUDA_SUCCESS);
  EXPECT_TRUE(eventually([] { return finished(3); })) << "a wait made after the latest record waited for an older one";
  EXPECT_FALSE(dog.fired());
  low_gate.open();
  ASSERT_EQ(cuStreamSynchronize(low), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(waiter), CUDA_SUCCESS);
  const OpLog log = OpLog::read();
  EXPECT_TRUE(ran_before(log.one(2), log.one(3)));
  EXPECT_EQ(cuEventDestroy_v2(e), CUDA_SUCCESS);
}

// ---------------------------------------------------------------------------
// 4. Implicit synchronisation with the legacy default stream.

// Work held on a blocking stream, then a kernel on the legacy stream: the
// legacy kernel runs after it.
TEST_F(InterposeSched, LegacyKernelRunsAfterHeldBlockingWork) {
  CUstream blocking = stream(0);
  holder().hold();
  ASSERT_EQ(work(blocking, 1, 10000), CUDA_SUCCESS);
  ASSERT_EQ(work(blocking, 2, 1000), CUDA_SUCCESS);
  ASSERT_EQ(work(blocking, 3, 1000), CUDA_SUCCESS);
  EXPECT_EQ(g_fake.launch_count(), holder().launches_at_hold()) << "the blocking stream was not held: the test proves nothing";
  const unsigned long long launched = g_fake.launch_count();
  ASSERT_EQ(work(nullptr, 10, 0), CUDA_SUCCESS);
  // The blocking stream's work reached the driver; the legacy kernel (suspended too) did not.
  EXPECT_EQ(g_fake.launch_count(), launched + 3);
  holder().release();
  ASSERT_EQ(cuStreamSynchronize(nullptr), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(blocking), CUDA_SUCCESS);
  const OpLog log = OpLog::read();
  const FakeCudaLogEntry* legacy = log.one(10);
  ASSERT_NE(legacy, nullptr);
  EXPECT_EQ(legacy->stream_kind, FAKE_STREAM_LEGACY);
  EXPECT_TRUE(ran_before(log.one(1), legacy));
  EXPECT_TRUE(ran_before(log.one(2), legacy));
  EXPECT_TRUE(ran_before(log.one(3), legacy));
}

// Work held on the legacy stream, then a kernel on a blocking stream: the
// blocking stream's kernel runs after it.
TEST_F(InterposeSched, BlockingKernelRunsAfterHeldLegacyWork) {
  CUstream blocking = stream(0);
  ASSERT_EQ(work(nullptr, 0), CUDA_SUCCESS);  // the legacy stream's queue exists
  ASSERT_EQ(cuStreamSynchronize(nullptr), CUDA_SUCCESS);
  holder().hold();
  ASSERT_EQ(work(nullptr, 20, 10000), CUDA_SUCCESS);
  ASSERT_EQ(work(nullptr, 21, 1000), CUDA_SUCCESS);
  EXPECT_EQ(g_fake.launch_count(), holder().launches_at_hold()) << "the legacy stream was not held: the test proves nothing";
  const unsigned long long launched = g_fake.launch_count();
  ASSERT_EQ(work(blocking, 30), CUDA_SUCCESS);
  // The legacy stream's work reached the driver; the blocking kernel (suspended too) did not.
  EXPECT_EQ(g_fake.launch_count(), launched + 2);
  holder().release();
  ASSERT_EQ(cuStreamSynchronize(blocking), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(nullptr), CUDA_SUCCESS);
  const OpLog log = OpLog::read();
  EXPECT_TRUE(ran_before(log.one(20), log.one(30)));
  EXPECT_TRUE(ran_before(log.one(21), log.one(30)));
}

// A non-blocking stream is not ordered after the legacy stream: its kernel
// runs while a legacy kernel (launched before it) runs until the test opens it.
TEST_F(InterposeSched, NonBlockingStreamNotOrderedAfterLegacy) {
  CUstream nonblocking = stream(0, CU_STREAM_NON_BLOCKING);
  Gate legacy_gate;
  Watchdog dog({&legacy_gate});
  ASSERT_EQ(gate(nullptr, legacy_gate, 40), CUDA_SUCCESS);
  ASSERT_EQ(work(nonblocking, 41), CUDA_SUCCESS);
  EXPECT_TRUE(eventually([] { return finished(41); })) << "the non-blocking stream waited for the legacy stream";
  EXPECT_FALSE(dog.fired());
  legacy_gate.open();
  ASSERT_EQ(cuStreamSynchronize(nullptr), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(nonblocking), CUDA_SUCCESS);

  // Held on both sides (both suspended), the same.
  Gate legacy_gate2;
  Watchdog dog2({&legacy_gate2});
  holder().hold();
  ASSERT_EQ(gate(nullptr, legacy_gate2, 42), CUDA_SUCCESS);
  ASSERT_EQ(work(nonblocking, 43), CUDA_SUCCESS);
  holder().release();
  EXPECT_TRUE(eventually([] { return finished(43); })) << "the non-blocking stream waited for the legacy stream";
  EXPECT_FALSE(dog2.fired());
  legacy_gate2.open();
  ASSERT_EQ(cuStreamSynchronize(nullptr), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(nonblocking), CUDA_SUCCESS);
}

// ---------------------------------------------------------------------------
// 5. Synchronisation.

TEST_F(InterposeSched, StreamSynchronizeWaitsForHeldWork) {
  CUstream low = stream(0);
  holder().hold();
  for (int i = 1; i <= 5; ++i) ASSERT_EQ(work(low, i, 1000), CUDA_SUCCESS);
  EXPECT_EQ(g_fake.launch_count(), holder().launches_at_hold()) << "the stream was not held: the test proves nothing";
  EXPECT_EQ(cuStreamQuery(low), CUDA_ERROR_NOT_READY);
  std::atomic<bool> returned{false};
  std::thread syncer([&] {
    EXPECT_EQ(cuStreamSynchronize(low), CUDA_SUCCESS);
    const OpLog log = OpLog::read();  // what had run when it returned
    for (int i = 1; i <= 5; ++i) {
      const auto k = log.all(i);
      EXPECT_TRUE(k.size() == 1 && k[0]->end_ns != 0) << "cuStreamSynchronize returned before kernel " << i << " ran";
    }
    returned = true;
  });
  std::this_thread::sleep_for(20ms);  // lets the syncer block (not needed for correctness)
  EXPECT_FALSE(returned.load()) << "cuStreamSynchronize returned while work was held back";
  EXPECT_EQ(cuStreamQuery(low), CUDA_ERROR_NOT_READY);
  holder().release();
  syncer.join();
  // Not at once: see QueryAfterSynchronizeIsReady.
  EXPECT_TRUE(eventually([&] { return cuStreamQuery(low) == CUDA_SUCCESS; }));
}

TEST_F(InterposeSched, CtxSynchronizeWaitsForHeldWork) {
  CUstream low = stream(0);
  CUstream other = stream(0, CU_STREAM_NON_BLOCKING);
  holder().hold();
  for (int i = 1; i <= 3; ++i) ASSERT_EQ(work(low, i, 1000), CUDA_SUCCESS);
  for (int i = 11; i <= 13; ++i) ASSERT_EQ(work(other, i, 1000), CUDA_SUCCESS);
  ASSERT_EQ(work(nullptr, 21, 1000), CUDA_SUCCESS);
  EXPECT_EQ(cuStreamQuery(low), CUDA_ERROR_NOT_READY);
  std::atomic<bool> returned{false};
  std::thread syncer([&] {
    EXPECT_EQ(cuCtxSetCurrent(g_ctx), CUDA_SUCCESS);
    EXPECT_EQ(cuCtxSynchronize(), CUDA_SUCCESS);
    const OpLog log = OpLog::read();
    for (int i : {1, 2, 3, 11, 12, 13, 21}) {
      const auto k = log.all(i);
      EXPECT_TRUE(k.size() == 1 && k[0]->end_ns != 0) << "cuCtxSynchronize returned before kernel " << i << " ran";
    }
    returned = true;
  });
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(returned.load()) << "cuCtxSynchronize returned while work was held back";
  holder().release();
  syncer.join();
  // Not at once: see QueryAfterSynchronizeIsReady.
  EXPECT_TRUE(eventually([&] { return cuStreamQuery(low) == CUDA_SUCCESS && cuStreamQuery(other) == CUDA_SUCCESS; }));
}

// After cuStreamSynchronize or cuCtxSynchronize returned, with no new work,
// cuStreamQuery reports the stream idle (PyTorch's tests assert
// `s.query()` right after `s.synchronize()`).
TEST_F(InterposeSched, QueryAfterSynchronizeIsReady) {
  CUstream s = stream(0);
  int not_ready_stream = 0, not_ready_ctx = 0;
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(work(s, i), CUDA_SUCCESS);
    ASSERT_EQ(cuStreamSynchronize(s), CUDA_SUCCESS);
    not_ready_stream += cuStreamQuery(s) != CUDA_SUCCESS ? 1 : 0;
  }
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(work(s, i), CUDA_SUCCESS);
    ASSERT_EQ(cuCtxSynchronize(), CUDA_SUCCESS);
    not_ready_ctx += cuStreamQuery(s) != CUDA_SUCCESS ? 1 : 0;
  }
  EXPECT_EQ(not_ready_stream, 0) << "times cuStreamQuery was not ready after cuStreamSynchronize (of 100)";
  EXPECT_EQ(not_ready_ctx, 0) << "times cuStreamQuery was not ready after cuCtxSynchronize (of 100)";
}

// ---------------------------------------------------------------------------
// 6. cuMemFree launches everything held first.

TEST_F(InterposeSched, MemFreeLaunchesHeldWorkFirst) {
  CUstream low = stream(0);
  int* target = dalloc_ints(1);
  int* freed = dalloc_ints(1);
  holder().hold();
  ASSERT_EQ(work(low, 1, 2000), CUDA_SUCCESS);
  ASSERT_EQ(store(low, target, 1234), CUDA_SUCCESS);
  EXPECT_EQ(g_fake.launch_count(), holder().launches_at_hold()) << "the stream was not held: the test proves nothing";
  g_fake.reset_counters();
  Watchdog dog({});
  ASSERT_EQ(cuMemFree_v2(reinterpret_cast<CUdeviceptr>(freed)), CUDA_SUCCESS);
  EXPECT_FALSE(dog.fired()) << "cuMemFree waited for the scheduler";
  EXPECT_EQ(*target, 1234) << "the held store had not run when cuMemFree returned";
  const auto c = calls();
  const auto free_at = std::find(c.begin(), c.end(), std::string("cuMemFree_v2"));
  ASSERT_NE(free_at, c.end());
  EXPECT_EQ(std::count(c.begin(), free_at, std::string("cuLaunchKernel")), 2)
      << "the held launches did not reach the driver before cuMemFree";
  holder().release();
  dfree(target);
}

// ---------------------------------------------------------------------------
// 7. cuFuncSetAttribute comes after the held launches of that kernel.

TEST_F(InterposeSched, FuncSetAttributeAfterHeldLaunchesOfTheKernel) {
  CUstream low = stream(0);
  int* sum = dalloc_ints(1);
  holder().hold();
  int one = 1;
  void* add_args[] = {&sum, &one};
  ASSERT_EQ(launch(fake_kernel_add(), low, add_args), CUDA_SUCCESS);
  ASSERT_EQ(launch(fake_kernel_add(), low, add_args), CUDA_SUCCESS);
  ASSERT_EQ(work(low, 5), CUDA_SUCCESS);  // another kernel: may stay held
  g_fake.reset_counters();
  ASSERT_EQ(cuFuncSetAttribute(fake_kernel_add(), CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 1024), CUDA_SUCCESS);
  const auto c = calls();
  const auto attr_at = std::find(c.begin(), c.end(), std::string("cuFuncSetAttribute"));
  ASSERT_NE(attr_at, c.end());
  EXPECT_EQ(std::count(c.begin(), attr_at, std::string("cuLaunchKernel")), 2)
      << "held launches of the kernel reached the driver after its attribute changed";
  holder().release();
  ASSERT_EQ(cuStreamSynchronize(low), CUDA_SUCCESS);
  EXPECT_EQ(*sum, 2);
  EXPECT_TRUE(OpLog::read().has(5));
  dfree(sum);
}

// ---------------------------------------------------------------------------
// 8. Errors.

TEST_F(InterposeSched, InlineLaunchErrorReturnsAtTheCall) {
  CUstream s = stream(0);
  int* out = dalloc_ints(2);
  g_fake.inject_error("cuLaunchKernel", CUDA_ERROR_INVALID_VALUE, 1);
  EXPECT_EQ(store(s, out, 1), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(store(s, out + 1, 2), CUDA_SUCCESS);
  EXPECT_EQ(cuStreamSynchronize(s), CUDA_SUCCESS);
  EXPECT_EQ(out[0], 0);
  EXPECT_EQ(out[1], 2);
  EXPECT_EQ(store(s, out, 3), CUDA_SUCCESS);
  EXPECT_EQ(cuStreamSynchronize(s), CUDA_SUCCESS);
  EXPECT_EQ(out[0], 3);
  dfree(out);
}

// A held-back launch that fails when the queue launches it: the error comes
// back at the stream's next synchronisation, and stays (sticky).
TEST_F(InterposeSched, HeldLaunchErrorIsStickyAtSynchronize) {
  CUstream low = stream(0);
  CUstream bystander = stream(0);
  int* out = dalloc_ints(2);
  holder().hold();
  ASSERT_EQ(store(low, out, 1), CUDA_SUCCESS);
  EXPECT_EQ(g_fake.launch_count(), holder().launches_at_hold()) << "the stream was not held: the test proves nothing";
  g_fake.inject_error("cuLaunchKernel", CUDA_ERROR_INVALID_VALUE, 1);
  holder().release();
  EXPECT_EQ(cuStreamSynchronize(low), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(cuStreamSynchronize(low), CUDA_ERROR_INVALID_VALUE) << "the error is not sticky";
  EXPECT_EQ(store(low, out, 2), CUDA_ERROR_INVALID_VALUE) << "the error is not sticky";
  EXPECT_EQ(out[0], 0) << "the failed launch ran";
  // Other streams are not affected.
  EXPECT_EQ(store(bystander, out + 1, 3), CUDA_SUCCESS);
  EXPECT_EQ(cuStreamSynchronize(bystander), CUDA_SUCCESS);
  EXPECT_EQ(out[1], 3);
  dfree(out);
}

// Commands held behind the failed launch never reach the driver (they may
// depend on it), and the error still comes back at the synchronisation.
TEST_F(InterposeSched, CommandsBehindAFailedHeldLaunchNeverRun) {
  CUstream low = stream(0);
  int* out = dalloc_ints(3);
  holder().hold();
  ASSERT_EQ(store(low, out, 1), CUDA_SUCCESS);
  ASSERT_EQ(store(low, out + 1, 2), CUDA_SUCCESS);
  ASSERT_EQ(store(low, out + 2, 3), CUDA_SUCCESS);
  EXPECT_EQ(g_fake.launch_count(), holder().launches_at_hold()) << "the stream was not held: the test proves nothing";
  g_fake.reset_counters();
  g_fake.inject_error("cuLaunchKernel", CUDA_ERROR_INVALID_VALUE, 1);
  holder().release();
  EXPECT_EQ(cuStreamSynchronize(low), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(out[0], 0) << "the failed launch ran";
  EXPECT_EQ(out[1], 0) << "a launch behind the failed one ran";
  EXPECT_EQ(out[2], 0) << "a launch behind the failed one ran";
  EXPECT_EQ(g_fake.call_count("cuLaunchKernel"), 1u) << "commands behind the failed launch reached the driver";
  dfree(out);
}

// ---------------------------------------------------------------------------
// 9. Per-thread default streams.

TEST_F(InterposeSched, PerThreadDefaultStreams) {
  int* out = dalloc_ints(2);
  Gate second_gate;
  Watchdog dog({&second_gate});
  const unsigned long long legacy_id = stream_id(CU_STREAM_LEGACY);
  std::atomic<bool> first_done{false};
  std::thread first([&] {
    EXPECT_EQ(cuCtxSetCurrent(g_ctx), CUDA_SUCCESS);
    EXPECT_EQ(work(nullptr, 301, 2000, true), CUDA_SUCCESS);
    EXPECT_EQ(store(nullptr, out, 1, true), CUDA_SUCCESS);
    EXPECT_EQ(cuStreamSynchronize_ptsz(nullptr), CUDA_SUCCESS);
    EXPECT_EQ(out[0], 1) << "cuStreamSynchronize_ptsz returned before this thread's work ran";
    EXPECT_TRUE(finished(301));
    first_done = true;
  });
  std::thread second([&] {
    EXPECT_EQ(cuCtxSetCurrent(g_ctx), CUDA_SUCCESS);
    EXPECT_EQ(gate(nullptr, second_gate, 302, true), CUDA_SUCCESS);
    EXPECT_EQ(store(nullptr, out + 1, 2, true), CUDA_SUCCESS);
    EXPECT_EQ(cuStreamSynchronize_ptsz(nullptr), CUDA_SUCCESS);
    EXPECT_TRUE(second_gate.is_open());
    EXPECT_EQ(out[1], 2) << "cuStreamSynchronize_ptsz returned before this thread's work ran";
  });
  first.join();  // it waited for its own work, not for the second thread's gate
  EXPECT_FALSE(dog.fired()) << "one thread's per-thread stream waited for another's";
  EXPECT_TRUE(first_done.load());
  second_gate.open();
  second.join();
  const OpLog log = OpLog::read();
  const FakeCudaLogEntry* a = log.one(301);
  const FakeCudaLogEntry* b = log.one(302);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a->stream_id, b->stream_id);
  EXPECT_NE(a->stream_id, legacy_id);
  EXPECT_NE(b->stream_id, legacy_id);
  dfree(out);
}

// ---------------------------------------------------------------------------
// 10. Destroying a stream with held work.

TEST_F(InterposeSched, StreamDestroyRunsHeldWork) {
  CUstream low = stream(0);
  const unsigned long long id = stream_id(low);
  holder().hold();
  const int live = g_fake.live_streams();
  for (int i = 1; i <= 10; ++i) ASSERT_EQ(work(low, i, 500), CUDA_SUCCESS);
  EXPECT_EQ(g_fake.launch_count(), holder().launches_at_hold()) << "the stream was not held: the test proves nothing";
  g_fake.reset_counters();
  Watchdog dog({});
  EXPECT_EQ(cuStreamDestroy_v2(low), CUDA_SUCCESS);
  destroyed(low);
  EXPECT_FALSE(dog.fired()) << "cuStreamDestroy waited for the scheduler";
  // Every held launch reached the driver before the stream was destroyed there.
  const auto c = calls();
  const auto destroy_at = std::find(c.begin(), c.end(), std::string("cuStreamDestroy_v2"));
  EXPECT_EQ(std::count(c.begin(), destroy_at, std::string("cuLaunchKernel")), 10);
  EXPECT_EQ(std::count(c.begin(), c.end(), std::string("cuLaunchKernel")), 10);
  holder().release();
  ASSERT_EQ(g_fake.wait_idle(5000), 0);
  std::vector<long long> expected(10);
  std::iota(expected.begin(), expected.end(), 1);
  EXPECT_EQ(OpLog::read().work_tags_on(id), expected);
  EXPECT_EQ(g_fake.live_streams(), live - 1);
}

// ---------------------------------------------------------------------------
// Timing: a launch on a suspended stream costs far less than the kernel.

TEST_F(InterposeSchedTiming, SuspendedLaunchReturnsQuickly) {
  constexpr unsigned kKernelUs = 3000;
  const auto v = xsched::testing::measure_with_retry([&]() -> std::string {
    CUstream low = stream(0);
    if (work(low, -1) != CUDA_SUCCESS || cuStreamSynchronize(low) != CUDA_SUCCESS) return "warm-up failed\n";
    holder().hold();
    const unsigned long long launched = g_fake.launch_count();
    double worst_us = 0;
    for (int i = 0; i < 50; ++i) {
      const auto t0 = Clock::now();
      if (work(low, i, kKernelUs) != CUDA_SUCCESS) return "launch failed\n";
      worst_us = std::max(worst_us, std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
    const bool held = g_fake.launch_count() == launched;
    holder().release();
    if (cuStreamSynchronize(low) != CUDA_SUCCESS) return "synchronize failed\n";
    std::string f;
    if (!held) f += "the launches were not held back\n";
    if (worst_us >= kKernelUs / 3.0) f += "a launch on a suspended stream took " + std::to_string(worst_us) + " us\n";
    return f;
  });
  if (v.starved) GTEST_SKIP() << v.why;
  EXPECT_EQ(v.failures, "");
}

}  // namespace
}  // namespace xs_sched_test
