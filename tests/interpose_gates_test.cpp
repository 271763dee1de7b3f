// Level 2 of the CUDA interposer (stream-ordered gates), end to end in front
// of the fake CUDA driver, whose streams honour cuStreamWaitValue32 on the
// gate words: a held queue's launched commands stay behind its gate, and the
// hazards of docs/interposer.md (Level 2) do not deadlock. Each hazard
// test would wait forever without its handling; the watchdog (or a timed
// join) turns that into a failure.
//
// Run with XSCHED_LEVEL=2 and XSCHED_REAL_LIBCUDA=<libfake_cuda.so> (ctest
// sets both); the default Level 2 window (32 commands) is assumed.
#include <numeric>

#include "interpose_sched_fixture.h"
#include "xsched/xsched_cuda.h"

namespace xs_sched_test {
namespace {

[[maybe_unused]] ::testing::Environment* const g_env = ::testing::AddGlobalTestEnvironment(new FakeDriverEnv);

class InterposeGates : public Sched {
 protected:
  void SetUp() override {
    Sched::SetUp();
    // A queue that nothing can preempt launches without gates: let the
    // holder's priority -1 queue exist before the test's streams work.
    if (!holder().made()) {
      holder().hold();
      holder().release();
      holder().settle();
    }
  }
  // Kernels of stream s that ran (started) so far.
  static size_t ran_on(CUstream s) { return OpLog::read().kernels_on(stream_id(s)); }
};

// A suspended Level 2 queue keeps launching into the driver (up to its
// window), but nothing it launched after its gate closed runs until it is
// resumed; then everything runs, in order, once.
TEST_F(InterposeGates, HeldQueueKeepsLaunchedWorkBehindItsGate) {
  CUstream low = stream(0);
  Gate low_gate;
  Watchdog dog({&low_gate});
  ASSERT_EQ(gate(low, low_gate, 1000), CUDA_SUCCESS);
  const unsigned long long launched = g_fake.launch_count();
  for (int i = 0; i < 20; ++i) ASSERT_EQ(work(low, i, 500), CUDA_SUCCESS);
  EXPECT_EQ(g_fake.launch_count() - launched, 20u) << "Level 2 launches beyond the Level 1 window";

  holder().hold();  // low's gate closes
  low_gate.open();
  std::this_thread::sleep_for(50ms);
  const size_t ran_while_held = ran_on(low);
  EXPECT_LE(ran_while_held, 2u) << "kernels behind the closed gate ran";
  EXPECT_GT(g_fake.stream_pending(low), 0) << "the held work should wait in the driver's stream";
  EXPECT_GT(g_fake.call_count("cuStreamWaitValue32_v2"), 0u);

  holder().release();
  ASSERT_EQ(cuStreamSynchronize(low), CUDA_SUCCESS);
  EXPECT_FALSE(dog.fired());
  std::vector<long long> want(20);
  std::iota(want.begin(), want.end(), 0);
  EXPECT_EQ(OpLog::read().work_tags_on(stream_id(low)), want);
}

// cuMemFree waits for every stream of its context; with a gate the scheduler
// keeps closed, it would wait for the holder, which waits for the test.
TEST_F(InterposeGates, MemFreeWhileAGateIsClosedReturns) {
  CUstream low = stream(0);
  int* buf = dalloc_ints(4);
  holder().hold();
  for (int i = 0; i < 5; ++i) ASSERT_EQ(work(low, i, 1000), CUDA_SUCCESS);
  ASSERT_EQ(store(low, buf, 7), CUDA_SUCCESS);
  {
    Watchdog dog({});
    dfree(buf);
    EXPECT_FALSE(dog.fired()) << "cuMemFree waited for a closed gate";
  }
  EXPECT_EQ(OpLog::read().work_tags_on(stream_id(low)).size(), 5u) << "the free must come after the stream's work";
  holder().release();
}

// A kernel's first launch loads it lazily, which waits for every stream of
// the context: the interposer loads it first, with the gates open.
TEST_F(InterposeGates, LazyKernelLoadWhileAGateIsClosedReturns) {
  static const FakeKernel lazy{&detail::work_fn, 2, {sizeof(int), sizeof(unsigned)}, "xs_lazy", 0, {}};
  CUfunction f = fake_kernel_function(&lazy);
  g_fake.set_unloaded(f);
  CUstream low = stream(0);
  CUstream urgent = stream(-1);  // as urgent as the holder: it runs
  holder().hold();
  for (int i = 0; i < 5; ++i) ASSERT_EQ(work(low, i, 1000), CUDA_SUCCESS);
  {
    Watchdog dog({});
    int tag = 77;
    unsigned us = 0;
    void* args[] = {&tag, &us};
    ASSERT_EQ(launch(f, urgent, args), CUDA_SUCCESS);
    EXPECT_FALSE(dog.fired()) << "the lazy load at launch waited for a closed gate";
  }
  ASSERT_EQ(cuStreamSynchronize(urgent), CUDA_SUCCESS);
  holder().release();
}

// Priority inheritance: an urgent stream waits on an event of a held one.
// The held queue runs until the event's record has completed, then is held
// again; commands it never launched stay on the host.
TEST_F(InterposeGates, WaitOnAnEventOfAHeldQueueLendsItUrgency) {
  CUstream low = stream(0);
  CUstream urgent = stream(-1);
  CUevent e = nullptr;
  ASSERT_EQ(cuEventCreate(&e, CU_EVENT_DISABLE_TIMING), CUDA_SUCCESS);
  int* flag = dalloc_ints(1);
  holder().hold();
  for (int i = 0; i < 4; ++i) ASSERT_EQ(work(low, i, 500), CUDA_SUCCESS);
  ASSERT_EQ(cuEventRecord(e, low), CUDA_SUCCESS);
  for (int i = 4; i < 44; ++i) ASSERT_EQ(work(low, i, 500), CUDA_SUCCESS);  // beyond the window: some stay on the host
  std::this_thread::sleep_for(20ms);
  EXPECT_LE(ran_on(low), 1u) << "the low stream should be held";

  Watchdog dog({});
  ASSERT_EQ(cuStreamWaitEvent(urgent, e, 0), CUDA_SUCCESS);
  ASSERT_EQ(store(urgent, flag, 1), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(urgent), CUDA_SUCCESS);
  EXPECT_FALSE(dog.fired()) << "the urgent stream waited behind the held queue's gate";
  EXPECT_EQ(*flag, 1);
  const OpLog log = OpLog::read();
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(log.has(i)) << "work " << i << " precedes the record";
  // Held again once the record completed: what it never launched did not run.
  std::this_thread::sleep_for(30ms);
  EXPECT_LT(ran_on(low), 44u);
  holder().release();
  ASSERT_EQ(cuStreamSynchronize(low), CUDA_SUCCESS);
  EXPECT_EQ(OpLog::read().work_tags_on(stream_id(low)).size(), 44u);
  EXPECT_EQ(cuEventDestroy_v2(e), CUDA_SUCCESS);
  dfree(flag);
}

// Implicit synchronisation: work on a blocking stream waits for earlier
// legacy-stream work, which sits behind the legacy queue's closed gate.
TEST_F(InterposeGates, BlockingStreamAfterHeldLegacyWorkDoesNotStall) {
  CUstream urgent = stream(-1, CU_STREAM_DEFAULT);  // blocking
  int* flag = dalloc_ints(1);
  holder().hold();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(work(CU_STREAM_LEGACY, i, 500), CUDA_SUCCESS);
  Watchdog dog({});
  ASSERT_EQ(store(urgent, flag, 1), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(urgent), CUDA_SUCCESS);
  EXPECT_FALSE(dog.fired()) << "the blocking stream waited behind the legacy queue's gate";
  EXPECT_EQ(*flag, 1);
  holder().release();
  ASSERT_EQ(cuStreamSynchronize(CU_STREAM_LEGACY), CUDA_SUCCESS);
  dfree(flag);
}

// The same, in the usual order: the legacy stream runs (not held) with work
// in flight; an urgent blocking stream's operation, implicitly ordered after
// that work, makes the urgent queue ready, which makes the scheduler hold
// the legacy queue: its gate must not close in front of what the urgent
// operation waits for.
TEST_F(InterposeGates, UrgentBlockingWorkAfterRunningLegacyWorkDoesNotStall) {
  CUstream urgent = stream(-1, CU_STREAM_DEFAULT);  // blocking
  int* flag = dalloc_ints(1);
  Gate legacy_gate;
  Watchdog dog({&legacy_gate});
  ASSERT_EQ(gate(CU_STREAM_LEGACY, legacy_gate, 500), CUDA_SUCCESS);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(work(CU_STREAM_LEGACY, i, 500), CUDA_SUCCESS);
  ASSERT_EQ(store(urgent, flag, 1), CUDA_SUCCESS);  // ready: the legacy queue is held now
  legacy_gate.open();
  ASSERT_EQ(cuStreamSynchronize(urgent), CUDA_SUCCESS);
  EXPECT_FALSE(dog.fired()) << "the urgent blocking stream waited behind the legacy queue's gate";
  EXPECT_EQ(*flag, 1);
  ASSERT_EQ(cuStreamSynchronize(CU_STREAM_LEGACY), CUDA_SUCCESS);
  dfree(flag);
}

// The other way round: a less urgent blocking stream has work in flight
// (its gate kernel runs, more is launched behind it); a legacy-stream
// operation, implicitly ordered after all of it, makes the legacy queue
// ready, which makes the scheduler hold the blocking stream's queue: its
// gate must not close in front of what the legacy operation waits for.
TEST_F(InterposeGates, UrgentLegacyWorkAfterRunningBlockingWorkDoesNotStall) {
  CUstream low = stream(0, CU_STREAM_DEFAULT);  // blocking
  CUdevice dev = 0;
  ASSERT_EQ(cuCtxGetDevice(&dev), CUDA_SUCCESS);
  uint64_t low_queue = 0;
  ASSERT_EQ(xs_cuda_stream_queue(low, dev, &low_queue), XS_OK) << xs_cuda_last_error();
  ASSERT_EQ(xs_cuda_queue_set_priority(low_queue, -1), XS_OK) << xs_cuda_last_error();  // below the legacy stream's 0
  int* flag = dalloc_ints(1);
  Gate low_gate;
  // Stalled, the legacy stream stays ready and keeps the other queue held:
  // as urgent as the legacy stream, it is let go.
  Watchdog dog({&low_gate}, 5000ms, [&] { xs_cuda_queue_set_priority(low_queue, 0); });
  ASSERT_EQ(gate(low, low_gate, 500), CUDA_SUCCESS);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(work(low, i, 500), CUDA_SUCCESS);
  ASSERT_EQ(store(CU_STREAM_LEGACY, flag, 1), CUDA_SUCCESS);  // ready: the blocking stream's queue is held now
  low_gate.open();
  ASSERT_EQ(cuStreamSynchronize(CU_STREAM_LEGACY), CUDA_SUCCESS);
  EXPECT_FALSE(dog.fired()) << "the legacy stream waited behind the blocking stream's gate";
  EXPECT_EQ(*flag, 1);
  ASSERT_EQ(cuStreamSynchronize(low), CUDA_SUCCESS);
  dfree(flag);
}

// Destroying a stream whose queue is held: its work runs, nothing is lost,
// and the call returns without the scheduler letting it go.
TEST_F(InterposeGates, StreamDestroyWhileHeldRunsItsWork) {
  CUstream low = stream(0);
  holder().hold();
  const unsigned long long id = stream_id(low);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(work(low, i, 300), CUDA_SUCCESS);
  {
    Watchdog dog({});
    EXPECT_EQ(cuStreamDestroy_v2(low), CUDA_SUCCESS);
    destroyed(low);
    EXPECT_FALSE(dog.fired()) << "cuStreamDestroy waited for the scheduler";
  }
  EXPECT_EQ(OpLog::read().work_tags_on(id).size(), 10u);
  holder().release();
}

// Streams with work in flight, held at once: what each has run while held,
// and whether everything ran in order, once, after.
int stored_while_held(int streams) {
  g_fake.log_clear();
  std::vector<CUstream> lows;
  for (int i = 0; i < streams; ++i) {
    CUstream s = nullptr;
    EXPECT_EQ(cuStreamCreateWithPriority(&s, CU_STREAM_NON_BLOCKING, 0), CUDA_SUCCESS);
    lows.push_back(s);
  }
  int* out = dalloc_ints(static_cast<size_t>(streams));
  Gate first;
  Watchdog dog({&first});
  for (int i = 0; i < streams; ++i) {
    EXPECT_EQ(gate(lows[i], first, 2 * i), CUDA_SUCCESS);
    EXPECT_EQ(store(lows[i], out + i, i + 1), CUDA_SUCCESS);
    EXPECT_EQ(work(lows[i], 2 * i + 1, 0), CUDA_SUCCESS);
  }
  holder().hold();  // every low queue has work in flight
  first.open();
  // From the fake's log, not from `out`: its kernels write it concurrently.
  auto stores_done = [] {
    int n = 0;
    for (const auto& e : OpLog::read().entries) {
      n += e.op == FAKE_OP_KERNEL && e.name != nullptr && std::string(e.name) == "fake_kernel_store" && e.end_ns != 0 ? 1 : 0;
    }
    return n;
  };
  int stored = 0;
  eventually(
      [&] {
        stored = stores_done();
        return stored == streams;
      },
      500ms);
  holder().release();
  for (CUstream s : lows) EXPECT_EQ(cuStreamSynchronize(s), CUDA_SUCCESS);
  EXPECT_FALSE(dog.fired());
  const OpLog log = OpLog::read();
  for (int i = 0; i < streams; ++i) {
    EXPECT_EQ(out[i], i + 1);
    EXPECT_EQ(log.all(2 * i).size(), 1u);
    EXPECT_EQ(log.work_tags_on(stream_id(lows[i])), (std::vector<long long>{2 * i + 1}));
  }
  for (CUstream s : lows) EXPECT_EQ(cuStreamDestroy_v2(s), CUDA_SUCCESS);
  dfree(out);
  return stored;
}

// A context gates at most half its hardware connections' worth of streams
// (CUDA_DEVICE_MAX_CONNECTIONS, 8 by default: 4): on a GPU, more streams at
// closed gates, or at work beside gated ones, can stall every other stream
// of the context. A few streams are held behind their gates; with many
// streams at work (like PyTorch's pools) the queues are held as at Level 1:
// what they launched runs.
TEST_F(InterposeGates, FewStreamsAreHeldAtGatesManyAtLevelOne) {
  EXPECT_EQ(stored_while_held(3), 0) << "streams ran past their closed gates";
  EXPECT_EQ(stored_while_held(64), 64) << "too many streams at work for gates: their launched work should run";
  EXPECT_EQ(stored_while_held(3), 0) << "gates again once the streams are gone";
}

class InterposeGatesTiming : public InterposeGates {};

// Gates are grouped by measured duration: short commands share one, long
// ones get one each (so a preemption waits for about one command). Label
// `timing`: "short" assumes the fake runs an empty kernel in well under
// 25 µs, which sanitizer builds do not.
TEST_F(InterposeGatesTiming, GateGroupsFollowMeasuredDurations) {
  CUstream s = stream(0, CU_STREAM_NON_BLOCKING);
  for (int round = 0; round < 3; ++round) {  // let the queue measure its short commands
    for (int i = 0; i < 200; ++i) ASSERT_EQ(work(s, i, 0), CUDA_SUCCESS);
    ASSERT_EQ(cuStreamSynchronize(s), CUDA_SUCCESS);
  }
  g_fake.reset_counters();
  for (int i = 0; i < 200; ++i) ASSERT_EQ(work(s, i, 0), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(s), CUDA_SUCCESS);
  const unsigned long long short_gates = g_fake.call_count("cuStreamWaitValue32_v2");
  EXPECT_LT(short_gates, 100u) << "short commands should share gates";

  for (int i = 0; i < 40; ++i) ASSERT_EQ(work(s, i, 2000), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(s), CUDA_SUCCESS);
  g_fake.reset_counters();
  for (int i = 0; i < 20; ++i) ASSERT_EQ(work(s, i, 2000), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(s), CUDA_SUCCESS);
  EXPECT_GE(g_fake.call_count("cuStreamWaitValue32_v2"), 19u) << "long commands should get a gate each";
}

}  // namespace
}  // namespace xs_sched_test
